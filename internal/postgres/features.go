package postgres

import (
	"context"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
)

// MaxFeatures caps one page of IncidentFeatures and FacilityFeatures; a
// caller may ask for one more, to learn whether another page follows.
const MaxFeatures = grid.MaxFeaturePage

// featureIncidentSelect reads what scanFeatureIncident expects: the
// point as two numbers, no WKB to decode.
const featureIncidentSelect = `SELECT id, occurred_at, received_at, category, ST_X(geom), ST_Y(geom), h3, source, description,
	coalesce(external_id, ''), status, cell_code, community_code, town_code, department_code, coalesce(rule_id, 0),
	grid_version, deadline, registered_at, dispatched_at, handled_at, closed_at, reworks, extensions, supervised,
	coalesce(parked_from, '') FROM incident`

func scanFeatureIncident(r pgx.Row, x *grid.Incident) error {
	var h int64
	err := r.Scan(&x.ID, &x.OccurredAt, &x.ReceivedAt, &x.Category, &x.Point[0], &x.Point[1], &h, &x.Source, &x.Description,
		&x.ExternalID, &x.Status, &x.CellCode, &x.CommunityCode, &x.TownCode, &x.Department, &x.RuleID,
		&x.GridVersion, &x.Deadline, &x.RegisteredAt, &x.DispatchedAt, &x.HandledAt, &x.ClosedAt, &x.Reworks, &x.Extensions, &x.Supervised,
		&x.ParkedFrom)
	x.H3 = uint64(h)
	return err
}

func pageLimit(n int) (int, error) {
	if n < 1 || n > MaxFeatures+1 {
		return 0, grid.Errorf(grid.Invalid, "limit %d is outside 1…%d", n, MaxFeatures+1)
	}
	return n, nil
}

// IncidentFeatures lists the incidents matching q, newest (highest id)
// first, at most q.Limit (1…MaxFeatures). q.After is an id: the page
// continues below it. Invalid for a condition naming an unknown property
// or a malformed cursor.
func (db *DB) IncidentFeatures(ctx context.Context, q grid.FeatureQuery) (out []grid.Incident, err error) {
	defer wrap(&err, "IncidentFeatures")
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	var a sqlArgs
	var where, outer []string
	few := false
	if q.Cells != nil {
		if len(q.Cells) == 0 {
			return []grid.Incident{}, nil
		}
		var b *orb.Bound
		if g, ok := grid.Required(q.Where); ok {
			gb := g.Bound()
			b = &gb
		}
		where, outer, few = db.byPlace(b, q.Cells, a.add)
	}
	if q.Town != "" {
		where = append(where, "town_code = "+a.add(q.Town)+"::text")
	}
	if !q.From.IsZero() {
		where = append(where, "occurred_at >= "+a.add(q.From)+"::timestamptz")
	}
	if !q.To.IsZero() {
		where = append(where, "occurred_at <= "+a.add(q.To)+"::timestamptz")
	}
	after := ""
	if q.After != "" {
		id, err := strconv.ParseInt(q.After, 10, 64)
		if err != nil || id <= 0 {
			return nil, grid.Errorf(grid.Invalid, "cursor %q is not an incident id", q.After)
		}
		after = "id < " + a.add(id) + "::bigint"
	}
	if q.Where != nil {
		c, err := compileCond(q.Where, incidentColumnsByProp, "geom", &a)
		if err != nil {
			return nil, err
		}
		where = append(where, c)
	}
	sql := newestFirst(featureIncidentSelect, where, outer, after, few, limit)
	rows, err := db.pool.Query(ctx, sql, a.args...)
	if err != nil {
		return nil, db.classify(err)
	}
	defer rows.Close()
	out = make([]grid.Incident, 0, min(limit, 1024))
	for rows.Next() {
		out = append(out, grid.Incident{})
		if err := scanFeatureIncident(rows, &out[len(out)-1]); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, db.classify(err)
	}
	return out, nil
}

// fewCells is how many cells a selection may name and still be read
// whole before it is ordered: some 450 incidents a cell a year.
const fewCells = 64

// byPlace is how a selection finds its incidents by place: through the
// H3 cells of b (nil: none) when b is small, the grid cells (nil: no
// cell condition) then only filtering what that read finds (outer), so
// that either read selects the same incidents; else through the grid
// cells. few: the selection is small enough to be read whole before it is
// ordered (see newestFirst). arg adds a statement argument.
func (db *DB) byPlace(b *orb.Bound, cells []string, arg func(any) string) (where, outer []string, few bool) {
	var byCell []string
	if cells != nil {
		byCell = []string{"cell_code = ANY(" + arg(cells) + "::text[])"}
	}
	if b != nil {
		if c, ok := db.covers.cover(*b); ok {
			return []string{"h3 = ANY(" + arg(c) + "::bigint[])"}, byCell, true
		}
	}
	return byCell, nil, cells != nil && len(cells) <= fewCells
}

// maxCover is the most H3 cells a spatial filter is read through (some
// 15 km² at resolution 10); a larger one is read through its grid cells,
// which then hold little more than it.
const maxCover = 1000

// h3Cover is the resolution-10 H3 cells (incident.h3, its index
// incident_h3) that hold every point of b, when there are at most
// maxCover. A 1 km² box of the old town meets 9 grid cells holding 7,465
// incidents of 1,000,000, and 101 H3 cells holding 970, for 455 in the
// box: reading through the H3 cells takes 3.5 ms of PostgreSQL's time
// where the grid cells take 10.5.
func h3Cover(b orb.Bound) ([]int64, bool) {
	cells, ok := hexbin.Meeting(b, maxCover)
	if !ok {
		return nil, false
	}
	out := make([]int64, len(cells))
	for i, c := range cells {
		out[i] = int64(c)
	}
	slices.Sort(out)
	return out, true
}

// coverCache keeps the H3 covers of recent boxes, direct-mapped by the
// box: the pages of a box after its first (GIS clients page by next
// links, which keep the box) skip h3's overlap test, some 0.5 ms for
// 1 km². A cover is never changed once stored. Safe for concurrent use.
type coverCache struct {
	mu    sync.Mutex
	slots [256]struct {
		b     orb.Bound
		cells []int64
	}
}

// cover is h3Cover(b), from the cache when b was asked lately.
func (c *coverCache) cover(b orb.Bound) ([]int64, bool) {
	var h uint64
	for _, v := range [4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]} {
		h = (h ^ math.Float64bits(v)) * 0x9e3779b97f4a7c15
	}
	slot := &c.slots[h>>56]
	c.mu.Lock()
	if slot.cells != nil && slot.b == b {
		cells := slot.cells
		c.mu.Unlock()
		return cells, true
	}
	c.mu.Unlock()
	cells, ok := h3Cover(b)
	if ok {
		c.mu.Lock()
		slot.b, slot.cells = b, cells
		c.mu.Unlock()
	}
	return cells, ok
}

// newestFirst selects from sel (a SELECT … FROM incident) what where, the
// conditions outer and the keyset condition after ("" none) hold, newest
// (highest id) first, at most limit. A small selection (few: through a
// few cells, or the H3 cells of a small box) is read whole first through
// where, and then filtered by outer, cut and sorted: left to itself the
// planner walks every partition's primary key — backwards hoping to meet
// limit matches early, or as a bitmap for the cursor — which reads the
// whole table when the cells hold fewer rows (50 ms instead of 4 for a
// 1 km² box of 1,000,000 incidents). Otherwise every condition filters
// the one scan.
func newestFirst(sel string, where, outer []string, after string, few bool, limit int) string {
	tail := " ORDER BY id DESC LIMIT " + strconv.Itoa(limit)
	if after != "" {
		outer = append(outer, after)
	}
	if few {
		sql := "WITH sel AS MATERIALIZED (" + sel
		if len(where) > 0 {
			sql += " WHERE " + strings.Join(where, " AND ")
		}
		sql += ") SELECT * FROM sel"
		if len(outer) > 0 {
			sql += " WHERE " + strings.Join(outer, " AND ")
		}
		return sql + tail
	}
	where = append(where, outer...)
	if len(where) > 0 {
		sel += " WHERE " + strings.Join(where, " AND ")
	}
	return sel + tail
}

// IncidentsSince returns the start of the oldest monthly partition that
// holds an incident (or the earliest incident in the default partition,
// if older), the zero time when none is stored: a lower bound of every
// occurrence time, found without scanning the table.
func (db *DB) IncidentsSince(ctx context.Context) (t time.Time, err error) {
	defer wrap(&err, "IncidentsSince")
	rows, err := db.pool.Query(ctx, `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
		WHERE i.inhparent = 'incident'::regclass AND c.relname ~ '^incident_[0-9]{6}$' ORDER BY c.relname`)
	if err != nil {
		return t, db.classify(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return t, db.classify(err)
	}
	var def *time.Time
	if err := db.pool.QueryRow(ctx, `SELECT min(occurred_at) FROM incident_default`).Scan(&def); err != nil {
		return t, db.classify(err)
	}
	for _, name := range names {
		month, err := time.Parse("200601", strings.TrimPrefix(name, "incident_"))
		if err != nil {
			continue
		}
		if def != nil && def.Before(month) {
			break
		}
		var any bool
		// The name comes from the catalogue and is quoted as an identifier.
		if err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{name}.Sanitize()+`)`).Scan(&any); err != nil {
			return t, db.classify(err)
		}
		if any {
			return month.UTC(), nil
		}
	}
	if def != nil {
		return def.UTC(), nil
	}
	return t, nil
}

// facilityWhere renders the conditions of a facility query.
func facilityWhere(q grid.FeatureQuery, a *sqlArgs, page bool) (string, error) {
	var where []string
	if q.Where != nil {
		c, err := compileCond(q.Where, facilityColumnsByProp, "geom", a)
		if err != nil {
			return "", err
		}
		where = append(where, c)
	}
	if page && q.After != "" {
		where = append(where, "code > "+a.add(q.After)+"::text")
	}
	if len(where) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(where, " AND "), nil
}

const facilityFeatureSelect = `SELECT code, kind, name, ST_X(geom), ST_Y(geom), attrs FROM facility`

func scanFacility(r pgx.Row) (grid.Facility, error) {
	var x grid.Facility
	var attrs []byte
	if err := r.Scan(&x.Code, &x.Kind, &x.Name, &x.Point[0], &x.Point[1], &attrs); err != nil {
		return x, err
	}
	var err error
	x.Attrs, err = decodeAttrs(attrs)
	return x, err
}

// FacilityFeatures lists the facilities matching q in code order, at
// most q.Limit (1…MaxFeatures), after the code q.After.
func (db *DB) FacilityFeatures(ctx context.Context, q grid.FeatureQuery) (out []grid.Facility, err error) {
	defer wrap(&err, "FacilityFeatures")
	limit, err := pageLimit(q.Limit)
	if err != nil {
		return nil, err
	}
	var a sqlArgs
	w, err := facilityWhere(q, &a, true)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, facilityFeatureSelect+w+" ORDER BY code LIMIT "+strconv.Itoa(limit), a.args...)
	if err != nil {
		return nil, db.classify(err)
	}
	out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (grid.Facility, error) { return scanFacility(r) })
	if err != nil {
		return nil, db.classify(err)
	}
	return out, nil
}

// CountFacilities counts the facilities matching q's condition.
func (db *DB) CountFacilities(ctx context.Context, q grid.FeatureQuery) (n int64, err error) {
	defer wrap(&err, "CountFacilities")
	var a sqlArgs
	w, err := facilityWhere(q, &a, false)
	if err != nil {
		return 0, err
	}
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM facility`+w, a.args...).Scan(&n); err != nil {
		return 0, db.classify(err)
	}
	return n, nil
}

// Facility returns one facility by code (NotFound if none).
func (db *DB) Facility(ctx context.Context, code string) (x grid.Facility, err error) {
	defer wrap(&err, "Facility(%q)", code)
	x, err = scanFacility(db.pool.QueryRow(ctx, facilityFeatureSelect+` WHERE code = $1`, code))
	if notFound(err) {
		return x, grid.Errorf(grid.NotFound, "no facility %q", code)
	}
	if err != nil {
		return x, db.classify(err)
	}
	return x, nil
}

var _ grid.FeatureStore = (*DB)(nil)
