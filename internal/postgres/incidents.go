package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/ewkb"
	"github.com/paulmach/orb/encoding/wkb"
)

var incidentColumns = []string{"id", "occurred_at", "received_at", "category", "geom", "h3", "source", "description", "external_id",
	"status", "cell_code", "community_code", "town_code", "department_code", "rule_id", "grid_version", "deadline",
	"registered_at", "dispatched_at", "handled_at", "closed_at", "reworks", "extensions", "supervised", "parked_from"}

// incidentSelect reads the columns scanIncident expects.
const incidentSelect = `SELECT id, occurred_at, received_at, category, ST_AsBinary(geom), h3, source, description, coalesce(external_id, ''),
	status, cell_code, community_code, town_code, department_code, coalesce(rule_id, 0), grid_version, deadline,
	registered_at, dispatched_at, handled_at, closed_at, reworks, extensions, supervised, coalesce(parked_from, '') FROM incident`

func scanIncident(r pgx.Row) (grid.Incident, error) {
	var x grid.Incident
	var g []byte
	var h int64
	err := r.Scan(&x.ID, &x.OccurredAt, &x.ReceivedAt, &x.Category, &g, &h, &x.Source, &x.Description, &x.ExternalID,
		&x.Status, &x.CellCode, &x.CommunityCode, &x.TownCode, &x.Department, &x.RuleID, &x.GridVersion, &x.Deadline,
		&x.RegisteredAt, &x.DispatchedAt, &x.HandledAt, &x.ClosedAt, &x.Reworks, &x.Extensions, &x.Supervised, &x.ParkedFrom)
	if err != nil {
		return x, err
	}
	x.H3 = uint64(h)
	p, err := wkb.Unmarshal(g)
	if err != nil {
		return x, err
	}
	pt, ok := p.(orb.Point)
	if !ok {
		return x, fmt.Errorf("incident %d: geometry is not a point", x.ID)
	}
	x.Point = pt
	return x, nil
}

func incidentRow(x *grid.Incident) []any {
	var rule, ext, parked any
	if x.RuleID != 0 {
		rule = x.RuleID
	}
	if x.ExternalID != "" {
		ext = x.ExternalID
	}
	if x.ParkedFrom != "" {
		parked = x.ParkedFrom
	}
	return []any{x.ID, x.OccurredAt, x.ReceivedAt, x.Category, pointEWKB(x.Point), int64(x.H3), x.Source, x.Description, ext,
		x.Status, x.CellCode, x.CommunityCode, x.TownCode, x.Department, rule, x.GridVersion, x.Deadline,
		x.RegisteredAt, x.DispatchedAt, x.HandledAt, x.ClosedAt, x.Reworks, x.Extensions, x.Supervised, parked}
}

// EnsurePartitions creates the monthly incident partitions covering [from, to).
func (db *DB) EnsurePartitions(ctx context.Context, from, to time.Time) error {
	_, err := db.pool.Exec(ctx, `SELECT citygrid_ensure_partitions($1, $2)`, from, to)
	return err
}

// cst is China Standard Time: rollup days are local days.
var cst = time.FixedZone("CST", 8*3600)

// BulkCreate stores xs in one transaction, as BulkStream does; it sets
// the ids of the incidents written.
func (db *DB) BulkCreate(ctx context.Context, xs []grid.Incident) (grid.BulkResult, error) {
	return db.BulkStream(ctx, each(xs))
}

// keyedRow is a written line that carries an external id.
type keyedRow struct {
	line int
	key  string
	id   int64
	roll rollupInput
}

// BulkStream writes a stream of assigned incidents with COPY, with their
// external ids and H3 rollups, in one transaction: all of it or none. next
// yields the incidents in line order and nil at the end; an error from
// next abandons the batch and is returned, and nothing is written. Rows go
// to the server as next yields them, so whatever produces them (decoding,
// assignment) overlaps with the server's work. A line whose external id is
// already stored, or repeats an earlier line's, is not written: its line
// index maps to the existing id in Duplicates. Ids are set on the
// incidents written.
func (db *DB) BulkStream(ctx context.Context, next func() (*grid.Incident, error)) (grid.BulkResult, error) {
	return db.bulkStream(ctx, next, nil)
}

// bulkStream is BulkStream; then, when not nil, writes more rows in the
// same transaction once the incidents are stored and their ids known
// (the trails of BulkCreateTrails).
func (db *DB) bulkStream(ctx context.Context, next func() (*grid.Incident, error),
	then func(context.Context, pgx.Tx, *grid.BulkResult) error) (res grid.BulkResult, err error) {
	defer wrap(&err, "BulkStream")
	next, points := pointsOf(next) // for the tile caches, once committed
	res.Duplicates = map[int]int64{}
	var touched []grid.RollupSlice
	var change IncidentChange
	// A COPY of 250,000 lines lasts seconds, as long as the lines take to
	// assign: batch work, bounded by the caller's deadline.
	err = pgx.BeginFunc(ctx, db.batch, func(tx pgx.Tx) error {
		var (
			ids   []int64 // allocated, not yet used
			block = 256   // the next allocation; doubles up to 16,384
			roll  = map[rollupKey]int{}
			seen  = map[string]int64{} // external id → id, within the batch
			keyed []keyedRow
			line  = -1
			count = func(k rollupKey, n int) { roll[k] += n }
		)
		take := func(x *grid.Incident) (bool, error) {
			line++
			if k := x.ExternalID; k != "" {
				if id, dup := seen[k]; dup {
					res.Duplicates[line] = id
					return false, nil
				}
			}
			if len(ids) == 0 {
				var err error
				if ids, err = db.allocateIDs(ctx, block); err != nil {
					return false, err
				}
				block = min(2*block, 16384)
			}
			x.ID, ids = ids[0], ids[1:]
			db.recent.remember(x.ID, x.OccurredAt) // a hint: a row rolled back is looked for everywhere
			in := inputOf(x)
			if err := rollupOf(db.exact, in, count); err != nil {
				return false, fmt.Errorf("line %d: %w", line+1, err)
			}
			res.IDs = append(res.IDs, x.ID)
			if k := x.ExternalID; k != "" {
				seen[k] = x.ID
				keyed = append(keyed, keyedRow{line, k, x.ID, in})
			}
			return true, nil
		}
		n, err := copyIncidents(ctx, tx, &copyReader{next: next, take: take})
		if err != nil || n == 0 {
			return err
		}
		if len(keyed) > 0 {
			if err := resolveKeys(ctx, tx, db.exact, keyed, roll, &res); err != nil {
				return err
			}
		}
		if then != nil {
			if err := then(ctx, tx, &res); err != nil {
				return err
			}
		}
		if len(res.IDs) > 0 {
			// One row for the load, not one per line: the count and the id
			// ranges (few: ids come in blocks). A town-scoped key loads
			// only its own town's incidents.
			ranges := make([][2]int64, 0, 8)
			for _, r := range idRanges(res.IDs) {
				ranges = append(ranges, [2]int64{r.First, r.Last})
			}
			if err := insertAudit(ctx, tx, grid.AuditIncidentBulk, "", grid.WhoOf(ctx).Town,
				map[string]any{"count": len(res.IDs), "duplicates": len(res.Duplicates), "ids": ranges}); err != nil {
				return err
			}
		}
		if touched, err = copyRollups(ctx, tx, roll); err != nil {
			return err
		}
		// Delivered at commit, with the batch: other replicas reload these
		// slices and incidents.
		if err := notifySlices(ctx, tx, db.feed.origin, touched); err != nil {
			return err
		}
		change = shrink(IncidentChange{IDs: idRanges(res.IDs), Points: *points, Counted: true})
		return notifyChange(ctx, tx, db.feed.origin, change)
	})
	if len(touched) > 0 {
		db.committed(touched)
	}
	// Told even when the commit failed: it may have happened all the same
	// (the connection lost during it), and reloading what did not change
	// changes nothing.
	db.changedHere(change)
	if err != nil {
		return grid.BulkResult{}, db.classify(err)
	}
	return res, nil
}

// allocateIDs takes n incident ids from the sequence, outside the bulk
// transaction (sequences are not transactional; unused ids leave gaps).
func (db *DB) allocateIDs(ctx context.Context, n int) ([]int64, error) {
	rows, err := db.pool.Query(ctx, `SELECT nextval('incident_id_seq') FROM generate_series(1, $1)`, n)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int64])
}

// resolveKeys records the external ids of the lines written. A key stored
// before (by an earlier batch, or by a concurrent one that committed first)
// makes its line a duplicate: its row is removed again, uncounted in the
// rollups, and the line maps to the stored incident.
func resolveKeys(ctx context.Context, tx pgx.Tx, ex *hexbin.Exact, keyed []keyedRow, roll map[rollupKey]int, res *grid.BulkResult) error {
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS key_in (external_id text, incident_id bigint, occurred_at timestamptz) ON COMMIT DELETE ROWS`); err != nil {
		return err
	}
	rows := make([][]any, len(keyed))
	for i, k := range keyed {
		rows[i] = []any{k.key, k.id, k.roll.at}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"key_in"}, []string{"external_id", "incident_id", "occurred_at"}, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	// Keys in order, so concurrent batches wait on each other's keys in the
	// same order and cannot deadlock.
	r, err := tx.Query(ctx, `INSERT INTO incident_key SELECT * FROM key_in ORDER BY external_id
		ON CONFLICT (external_id) DO NOTHING RETURNING external_id`)
	if err != nil {
		return err
	}
	inserted, err := pgx.CollectRows(r, pgx.RowTo[string])
	if err != nil || len(inserted) == len(keyed) {
		return err
	}
	ok := make(map[string]bool, len(inserted))
	for _, k := range inserted {
		ok[k] = true
	}
	var missing []string
	for _, k := range keyed {
		if !ok[k.key] {
			missing = append(missing, k.key)
		}
	}
	r, err = tx.Query(ctx, `SELECT external_id, incident_id FROM incident_key WHERE external_id = ANY($1)`, missing)
	if err != nil {
		return err
	}
	existing := map[string]int64{}
	var k string
	var id int64
	if _, err := pgx.ForEachRow(r, []any{&k, &id}, func() error { existing[k] = id; return nil }); err != nil {
		return err
	}
	dropped := map[int64]int64{} // our id → the stored one
	var drop []int64
	uncount := func(k rollupKey, n int) { roll[k] -= n }
	for _, kr := range keyed {
		if stored, dup := existing[kr.key]; dup && !ok[kr.key] {
			dropped[kr.id] = stored
			drop = append(drop, kr.id)
			if err := rollupOf(ex, kr.roll, uncount); err != nil { // counted above, so it cannot fail now
				return err
			}
			res.Duplicates[kr.line] = stored
		}
	}
	if _, err := tx.Exec(ctx, `DELETE FROM incident WHERE id = ANY($1)`, drop); err != nil {
		return err
	}
	res.IDs = slices.DeleteFunc(res.IDs, func(id int64) bool { _, d := dropped[id]; return d })
	for line, id := range res.Duplicates { // repeats within the batch of a dropped line
		if stored, d := dropped[id]; d {
			res.Duplicates[line] = stored
		}
	}
	return nil
}

// createIncidentSQL stores one incident in one statement, so one round
// trip and its own transaction: the key, the incident, its creation event
// (noting the source), its rollup row and its audit row, or nothing (a
// retry that finds its first incident changes nothing and is not audited). A concurrent create
// with the same key waits on the key's index and then inserts nothing.
// Arguments are named: the incident's columns by their names (incidentArgs),
// and actor, the rollup row's day, hours, towns, cells and counts, and the
// audit row's (auditArgs, audit_action, audit_via).
var createIncidentSQL = createStatement("")

// createStatement is createIncidentSQL with one more CTE (a side row, see
// sideRow) written in the same statement.
func createStatement(sideCTE string) string {
	vals := make([]string, len(incidentColumns))
	for i, c := range incidentColumns {
		switch c {
		case "id":
			vals[i] = "go.id"
		case "geom":
			vals[i] = "ST_GeomFromEWKB(@geom)"
		default:
			vals[i] = "@" + c
		}
	}
	return `
		WITH new AS (SELECT nextval('incident_id_seq') AS id),
		k AS (
			INSERT INTO incident_key (external_id, incident_id, occurred_at)
			SELECT @external_id::text, new.id, @occurred_at FROM new WHERE @external_id::text IS NOT NULL
			ON CONFLICT (external_id) DO NOTHING RETURNING incident_id
		),
		go AS (SELECT new.id FROM new WHERE @external_id::text IS NULL OR EXISTS (SELECT 1 FROM k)),
		i AS (
			INSERT INTO incident (` + strings.Join(incidentColumns, ", ") + `)
			SELECT ` + strings.Join(vals, ", ") + ` FROM go RETURNING id
		),
		e AS (
			INSERT INTO incident_event (incident_id, at, action, from_status, to_status, actor, note)
			SELECT id, @received_at, 'create', NULL, @status, @actor, @source FROM i
		),
		r AS (
			INSERT INTO h3_rollup (category, day, hours, towns, cells, counts)
			SELECT @category, @rollup_day::date, @rollup_hours::smallint[], @rollup_towns::integer[], @rollup_cells::bigint[], @rollup_counts::integer[] FROM i
		),
		a AS (
			INSERT INTO audit_log (` + auditColumns + `, action, target, town_code, detail)
			SELECT ` + auditValues + `, @audit_action, 'incident:' || id, @town_code,
				jsonb_build_object('category', @category::text, 'source', @source::text, 'via', @audit_via::text) FROM i
		)` + sideCTE + `
		SELECT (SELECT id FROM i)`
}

// incidentArgs names the values of incidentRow by their columns.
func incidentArgs(x *grid.Incident) pgx.NamedArgs {
	row := incidentRow(x)
	args := make(pgx.NamedArgs, len(row)+5)
	for i, c := range incidentColumns {
		args[c] = row[i]
	}
	return args
}

// CreateIncident stores one incident, its creation event and its rollup in
// one transaction. A repeated external id returns the first incident:
// concurrent retries serialise on the key's unique index.
func (db *DB) CreateIncident(ctx context.Context, x *grid.Incident, actor string) (created bool, err error) {
	return db.createIncident(ctx, x, actor, sideRow{})
}

// createIncident is CreateIncident; a side row (reports.go) is written in
// the same statement.
func (db *DB) createIncident(ctx context.Context, x *grid.Incident, actor string, side sideRow) (created bool, err error) {
	defer wrap(&err, "CreateIncident")
	var slice rollupKey
	var hours []int16
	var towns []int32
	var cells []int64
	var counts []int32
	if err := rollupOf(db.exact, inputOf(x), func(k rollupKey, n int) {
		slice = k
		hours, cells, counts = append(hours, k.hour), append(cells, k.h3), append(counts, int32(n))
	}); err != nil {
		return false, err
	}
	town, _ := townNumber(x.TownCode) // checked by rollupOf
	for range hours {
		towns = append(towns, town)
	}
	args := incidentArgs(x)
	delete(args, "id") // from the sequence, in the statement
	args["actor"] = actor
	args["audit_action"], args["audit_via"] = grid.AuditIncidentCreate, cmp.Or(side.via, "api")
	auditArgs(ctx, args)
	args["rollup_day"] = dateOfDay(slice.day).Time()
	args["rollup_hours"], args["rollup_towns"], args["rollup_cells"], args["rollup_counts"] = hours, towns, cells, counts
	var id *int64
	statement := createIncidentSQL
	if side.statement != "" {
		statement = side.statement
		for k, v := range side.args {
			args[k] = v
		}
	}
	// Once sent, the statement runs to its end whatever becomes of the
	// request: a create that committed unseen would be missing from the
	// read models, which hear of it only from here.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	sql, pos, err := db.named.positional(statement, args)
	if err != nil {
		return false, err
	}
	err = db.pool.QueryRow(wctx, sql, pos...).Scan(&id)
	if err == nil && id == nil {
		err = errDuplicate
	}
	if err == nil {
		x.ID = *id
		db.recent.remember(x.ID, x.OccurredAt)
		db.createdOne(slice.slice())
		db.incidentsChanged(IncidentChange{IDs: []grid.IDRange{{First: x.ID, Last: x.ID}}, Points: []orb.Point{x.Point}, Counted: true})
	}
	if outcomeUnknown(err) {
		// The statement may have committed before the error reached us (the
		// connection lost at the commit): report it as written, here and to
		// the other replicas. A needless reload costs little; a missed one
		// leaves every read model short until its listener reconnects. Its
		// id is unknown, so the statistics reload everything.
		ss := []grid.RollupSlice{slice.slice()}
		db.committed(ss)
		db.notifyLater(ss)
		db.incidentsChanged(IncidentChange{Points: []orb.Point{x.Point}, Counted: true, All: true})
	}
	if err == errDuplicate {
		var id int64
		if err := db.pool.QueryRow(ctx, `SELECT incident_id FROM incident_key WHERE external_id = $1`, x.ExternalID).Scan(&id); err != nil {
			return false, db.classify(err)
		}
		first, _, err := db.Incident(ctx, id)
		if err != nil {
			return false, err
		}
		*x = first
		return false, nil
	}
	if err != nil {
		return false, db.classify(err)
	}
	return true, nil
}

var errDuplicate = fmt.Errorf("external id already stored")

// Incident returns one incident with its trail.
func (db *DB) Incident(ctx context.Context, id int64) (x grid.Incident, evs []grid.Event, err error) {
	defer wrap(&err, "Incident(%d)", id)
	x, err = scanIncident(db.pool.QueryRow(ctx, incidentSelect+` WHERE id = $1`, id))
	if notFound(err) {
		return x, nil, grid.Errorf(grid.NotFound, "no incident %d", id)
	}
	if err != nil {
		return x, nil, db.classify(err)
	}
	rows, err := db.pool.Query(ctx, `SELECT id, incident_id, at, action, coalesce(from_status, ''), to_status, actor, note
		FROM incident_event WHERE incident_id = $1 ORDER BY id`, id)
	if err != nil {
		return x, nil, db.classify(err)
	}
	evs, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (e grid.Event, err error) {
		err = r.Scan(&e.ID, &e.IncidentID, &e.At, &e.Action, &e.From, &e.To, &e.Actor, &e.Note)
		return e, err
	})
	return x, evs, err
}

// FindIncidents lists incidents newest first with keyset pagination.
func (db *DB) FindIncidents(ctx context.Context, f grid.IncidentFilter) (out []grid.Incident, err error) {
	defer wrap(&err, "FindIncidents")
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	add := func(cond string, v any) {
		where = append(where, strings.ReplaceAll(cond, "$?", arg(v)))
	}
	if len(f.Categories) > 0 {
		add("category = ANY($?)", f.Categories)
	}
	if len(f.Statuses) > 0 {
		add("status = ANY($?)", f.Statuses)
	}
	var box *orb.Bound
	if f.BBox != nil {
		b := f.BBox
		// ST_Intersects, not &&: a box's && is rounded out to float4, which
		// takes in points up to a metre outside it here.
		where = append(where, "ST_Intersects(geom, ST_MakeEnvelope("+arg(b[0])+", "+arg(b[1])+", "+arg(b[2])+", "+arg(b[3])+", 4326))")
		box = &orb.Bound{Min: orb.Point{b[0], b[1]}, Max: orb.Point{b[2], b[3]}}
	}
	byPlace, outer, few := db.byPlace(box, f.Cells, arg)
	where = append(where, byPlace...)
	if f.Town != "" {
		add("town_code = $?", f.Town)
	}
	if f.Department != "" {
		add("department_code = $?", f.Department)
	}
	if !f.From.IsZero() {
		add("occurred_at >= $?", f.From)
	}
	if !f.To.IsZero() {
		add("occurred_at < $?", f.To)
	}
	if f.Overdue {
		add("deadline < $?", time.Now())
		where = append(where, openStatusSQL())
	}
	after := ""
	if f.After > 0 {
		after = "id < " + arg(f.After)
	}
	limit := f.Limit
	if limit <= 0 || limit > grid.MaxIncidentPage {
		limit = 100
	}
	q := newestFirst(incidentSelect, where, outer, after, few, limit)
	rows, err := db.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, db.classify(err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (grid.Incident, error) { return scanIncident(r) })
}

// transitionSQL applies a lifecycle action in one round trip, through
// citygrid_transition (migration 010): the row is locked, the action
// checked against its state (the plan's allowed states, grid.PlanOf), the
// new state, times and counters written with the event, in one
// transaction — or, when the action is not allowed, nothing, and the state
// is returned for the Conflict. A concurrent action waits on the lock and
// then sees this one's result. The state machine is passed in (@from, @to
// and the effect), never spelled in SQL. With @deadline_from set (extend:
// the new deadline comes from the working calendar, in Go), the row is
// only changed while its deadline is still that one. The columns after
// the first two are those of incidentSelect. The audit row is written by
// the same statement, only when the action was applied (event_id set).
const transitionSQL = `WITH t AS MATERIALIZED (
		SELECT * FROM citygrid_transition(@id, @now, @action, @actor, @note, @from, @to, @statuses, @unpark_default,
			@unpark, @park, @stamp, @clear, @rework, @extend, @supervise, @deadline_from, @deadline_to, @occurred)
	), a AS (
		INSERT INTO audit_log (` + auditColumns + `, action, target, town_code, detail)
		SELECT ` + auditValues + `, @audit_action, 'incident:' || t.id, t.town_code,
			jsonb_build_object('event', t.event_id, 'from', t.from_status, 'to', t.status, 'actor', @actor::text)
		FROM t WHERE t.event_id IS NOT NULL
	)
	SELECT * FROM t`

// Transition applies a lifecycle action in one round trip (transitionSQL):
// the incident row is locked, the action checked against its state, the
// new state and the event written in one transaction. Of two concurrent
// transitions the second sees the first's result, and gets a Conflict if
// it no longer applies. An extension reads the row first for its
// deadline, which the working calendar moves, and writes only if the
// deadline is still the one it read (else it reads again).
func (db *DB) Transition(ctx context.Context, id int64, action, actor, note string, now time.Time, cal *grid.Calendar) (x grid.Incident, ev grid.Event, err error) {
	defer wrap(&err, "Transition(%d, %q)", id, action)
	plan, err := grid.PlanOf(action)
	if err != nil {
		return x, ev, err
	}
	args := pgx.NamedArgs{"id": id, "now": now, "action": action, "actor": actor, "note": note,
		"from": plan.From, "to": plan.To, "statuses": grid.Statuses(), "unpark_default": grid.UnparkTo(""),
		"unpark": plan.Unpark, "park": plan.Park, "stamp": plan.Stamp, "clear": plan.Clear,
		"rework": plan.Rework, "extend": plan.Extend, "supervise": plan.Supervise,
		"deadline_from": nil, "deadline_to": nil, "occurred": nil, "audit_action": grid.AuditLifecycle(action)}
	auditArgs(ctx, args)
	if at, ok := db.recent.lookup(id); ok {
		args["occurred"] = at
	}
	for attempt := 0; ; attempt++ {
		if plan.Extend {
			var c grid.Case
			err := db.pool.QueryRow(ctx, `SELECT i.status, i.deadline, c.code, c.time_limit, c.unit FROM incident i
				JOIN category c ON c.code = i.category WHERE i.id = $1`, id).Scan(&c.Status, &c.Deadline, &c.Category.Code, &c.Category.Limit, &c.Category.Unit)
			if notFound(err) {
				return x, ev, grid.Errorf(grid.NotFound, "no incident %d", id)
			}
			if err != nil {
				return x, ev, db.classify(err)
			}
			old := c.Deadline
			if err := grid.Apply(&c, action, now, cal); err != nil {
				return x, ev, err
			}
			args["deadline_from"], args["deadline_to"] = old, c.Deadline
		}
		// Once sent, the statement runs to its end whatever becomes of the
		// request (see createIncident); if it fails, the incident is told
		// changed all the same, which changes nothing if it did not.
		sql, pos, err := db.named.positional(transitionSQL, args)
		if err != nil {
			return x, ev, err
		}
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		rows, err := db.pool.Query(wctx, sql, pos...)
		if err != nil {
			cancel()
			db.incidentsChanged(IncidentChange{IDs: []grid.IDRange{{First: id, Last: id}}})
			return x, ev, db.classify(err)
		}
		var from string
		var evID *int64
		found := rows.Next()
		if found {
			if raw := rows.RawValues(); len(raw) > 1 && raw[1] == nil { // not changed: the state only
				from = string(raw[0])
			} else {
				x, err = scanIncident(prefixed{rows, []any{&from, &evID}})
			}
		}
		rows.Close()
		cancel()
		if err == nil {
			err = rows.Err()
		}
		if err != nil {
			db.incidentsChanged(IncidentChange{IDs: []grid.IDRange{{First: id, Last: id}}})
			return x, ev, db.classify(err)
		}
		if !found {
			return x, ev, grid.Errorf(grid.NotFound, "no incident %d", id)
		}
		if evID == nil {
			// Not allowed in the state it is in: Apply says so, with the
			// allowed actions. Allowed there, the deadline moved meanwhile
			// (a concurrent extension): read again.
			c := grid.Case{Status: from}
			if err := grid.Apply(&c, action, now, cal); err != nil {
				return x, ev, err
			}
			if attempt >= 16 {
				return x, ev, grid.Errorf(grid.Conflict, "the incident kept changing under action %s", action)
			}
			continue
		}
		db.recent.remember(id, x.OccurredAt)
		ev = grid.Event{ID: *evID, IncidentID: id, At: now, Action: action, From: from, To: x.Status, Actor: actor, Note: note}
		db.incidentsChanged(IncidentChange{IDs: []grid.IDRange{{First: id, Last: id}}, Points: []orb.Point{x.Point}})
		return x, ev, nil
	}
}

// prefixed scans the leading columns of a row into lead, the rest into
// the targets given.
type prefixed struct {
	pgx.Row
	lead []any
}

func (p prefixed) Scan(dest ...any) error { return p.Row.Scan(append(p.lead, dest...)...) }

// FlagOverdue flags every open incident past its deadline for supervision
// (督办), with a "supervise" event by the system and an audit row (actor
// system) per transaction, and returns their ids. It
// works in transactions of at most 5,000 incidents, skipping rows another
// transaction holds (a concurrent action, or another replica flagging):
// those are flagged on the next run if still overdue.
func (db *DB) FlagOverdue(ctx context.Context, now time.Time) (ids []int64, err error) {
	defer wrap(&err, "FlagOverdue")
	const batch = 5000
	// The sweep is the service's own work, whoever started it.
	args := pgx.NamedArgs{"now": now, "batch": batch, "audit_action": grid.AuditOverdueSweep}
	auditArgs(grid.WithWho(ctx, grid.SystemWho()), args)
	for {
		var got []int64
		err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `
				WITH pick AS (
					SELECT id, occurred_at FROM incident
					WHERE `+openStatusSQL()+`
					  AND deadline < @now AND NOT supervised
					LIMIT @batch FOR UPDATE SKIP LOCKED
				), due AS (
					UPDATE incident i SET supervised = true FROM pick
					WHERE i.id = pick.id AND i.occurred_at = pick.occurred_at
					RETURNING i.id, i.status
				), ev AS (
					INSERT INTO incident_event (incident_id, at, action, from_status, to_status, actor, note)
					SELECT id, @now, 'supervise', status, status, 'system', 'overdue' FROM due
				), runs AS (
					SELECT min(id) AS first, max(id) AS last FROM (SELECT id, id - row_number() OVER (ORDER BY id) AS run FROM due) d GROUP BY run
				), a AS (
					INSERT INTO audit_log (`+auditColumns+`, action, target, detail)
					SELECT `+auditValues+`, @audit_action, '', jsonb_build_object('count', (SELECT count(*) FROM due),
						'ids', (SELECT jsonb_agg(jsonb_build_array(first, last) ORDER BY first) FROM runs))
					WHERE EXISTS (SELECT 1 FROM due)
				)
				SELECT id FROM due ORDER BY id`, args)
			if err != nil {
				return err
			}
			got, err = pgx.CollectRows(rows, pgx.RowTo[int64])
			return err
		})
		if err != nil {
			return ids, db.classify(err)
		}
		ids = append(ids, got...)
		db.incidentsChanged(IncidentChange{IDs: idRanges(got)}) // supervised: the counters changed, not the tiles
		if len(got) < batch {
			slices.Sort(ids)
			return ids, nil
		}
	}
}

// Calendar loads the working calendar with the configured holidays and
// make-up working days (table calendar_day).
func (db *DB) Calendar(ctx context.Context) (*grid.Calendar, error) {
	cal := grid.DefaultCalendar()
	rows, err := db.pool.Query(ctx, `SELECT day, kind FROM calendar_day`)
	if err != nil {
		return nil, db.classify(err)
	}
	var day time.Time
	var kind string
	_, err = pgx.ForEachRow(rows, []any{&day, &kind}, func() error {
		d := grid.Date{Year: day.Year(), Month: day.Month(), Day: day.Day()}
		if kind == "holiday" {
			cal.Holidays[d] = true
		} else {
			cal.Workdays[d] = true
		}
		return nil
	})
	return cal, err
}

// pointEWKB encodes a point as little-endian EWKB with SRID 4326: the
// binary COPY format of a PostGIS geometry.
func pointEWKB(p orb.Point) []byte {
	b, _ := ewkb.Marshal(p, 4326)
	return b
}
