package postgres

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/paulmach/orb"
)

// IncidentsChannel is the feed of committed incident changes: it tells
// every replica which incidents committed writes changed (by id, for the
// statistics read model) and where (for the vector tile caches).
// Payloads: "origin;c;lon,lat;…" (incidents created at these points:
// counts changed), "origin;a;lon,lat;…" (incidents whose attributes
// changed there, e.g. a lifecycle action),
// "origin;C;minlon,minlat,maxlon,maxlat;…" (incidents created somewhere in
// these areas: a large bulk load), "origin;i;first[-last];…" (the ids of
// the incidents changed), or "origin;*" (anything may have changed).
const IncidentsChannel = "citygrid_incidents"

// Beyond maxChangePoints points a change is told as areas: squares of
// changeCell degrees (about 1 km), coarsened until there are at most
// maxChangePoints of them, so a bulk load of 100,000 incidents costs a few
// notifications and a few thousand evictions, not 100,000 of each.
const (
	maxChangePoints = 1000
	changeCell      = 0.01
)

// maxIDRanges bounds the id ranges of one change: past it the ranges
// closest to each other merge (a reader reloads the ids between them too,
// which changes nothing).
const maxIDRanges = 2000

// IncidentChange is what a committed write changed: which incidents, and
// where (for the tiles).
type IncidentChange struct {
	// IDs are the incidents created or changed.
	IDs []grid.IDRange
	// Points are where incidents were created or changed.
	Points []orb.Point
	// Areas cover the changed points of a write too large to list them
	// (WGS84 bounds).
	Areas []orb.Bound
	// Counted says incidents were added (a create, a bulk load): counts per
	// cell changed too. False for a change of attributes (a lifecycle
	// action), which moves nothing and counts nothing.
	Counted bool
	// All says anything may have changed: a notification could not be
	// read.
	All bool
}

// changeFeed reports incident changes: to this process at once after
// commit, to the other replicas in one NOTIFY per short interval.
type changeFeed struct {
	mu        sync.Mutex
	local     func(IncidentChange)
	pending   []IncidentChange
	scheduled bool
	timers    sync.WaitGroup // coalesced NOTIFYs scheduled or being sent, for Settle
}

// OnIncidentsChanged registers f to hear which incidents this process's
// writes changed and where, once they have committed and after the
// heatmap read model has been told (OnRollupChange), before the write
// returns.
func (db *DB) OnIncidentsChanged(f func(IncidentChange)) {
	db.tiles.mu.Lock()
	db.tiles.local = f
	db.tiles.mu.Unlock()
}

// incidentsChanged reports a committed write's change: to this process,
// and queued for the other replicas.
func (db *DB) incidentsChanged(ch IncidentChange) {
	if len(ch.Points) == 0 && len(ch.IDs) == 0 && !ch.All {
		return
	}
	ch = shrink(ch)
	f := db.tiles
	f.mu.Lock()
	f.pending = append(f.pending, ch)
	if !f.scheduled {
		f.scheduled = true
		db.flushTilesAfter(20 * time.Millisecond)
	}
	f.mu.Unlock()
	db.changedHere(ch)
}

// changedHere reports a committed change to this process only (the other
// replicas were told in the write's own transaction).
func (db *DB) changedHere(ch IncidentChange) {
	if len(ch.Points) == 0 && len(ch.Areas) == 0 && len(ch.IDs) == 0 && !ch.All {
		return
	}
	f := db.tiles
	f.mu.Lock()
	local := f.local
	f.mu.Unlock()
	if local != nil {
		local(ch)
	}
}

// shrink coarsens a change's points into areas and its id ranges to at
// most maxIDRanges.
func shrink(ch IncidentChange) IncidentChange {
	ch = coarsen(ch)
	ch.IDs = coarsenIDs(ch.IDs, maxIDRanges)
	return ch
}

// notifyChange sends the notifications of ch on ex: at commit when ex is
// a transaction.
func notifyChange(ctx context.Context, ex interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, origin string, ch IncidentChange) error {
	_, err := ex.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, IncidentsChannel, encodeChange(origin, ch))
	return err
}

// idRanges turns ids into sorted ranges of consecutive ids.
func idRanges(ids []int64) []grid.IDRange {
	if len(ids) == 0 {
		return nil
	}
	s := slices.Clone(ids)
	slices.Sort(s)
	out := []grid.IDRange{{First: s[0], Last: s[0]}}
	for _, id := range s[1:] {
		last := &out[len(out)-1]
		if id <= last.Last+1 {
			last.Last = max(last.Last, id)
			continue
		}
		out = append(out, grid.IDRange{First: id, Last: id})
	}
	return out
}

// coarsenIDs merges the sorted ranges separated by the smallest gaps until
// at most n are left.
func coarsenIDs(rs []grid.IDRange, n int) []grid.IDRange {
	for gap := int64(2); len(rs) > n; gap *= 2 {
		out := []grid.IDRange{rs[0]}
		for _, r := range rs[1:] {
			if last := &out[len(out)-1]; r.First-last.Last <= gap {
				last.Last = max(last.Last, r.Last)
				continue
			}
			out = append(out, r)
		}
		rs = out
	}
	return rs
}

// pointsOf wraps a stream of incidents to collect their points as they
// pass.
func pointsOf(next func() (*grid.Incident, error)) (func() (*grid.Incident, error), *[]orb.Point) {
	var pts []orb.Point
	return func() (*grid.Incident, error) {
		x, err := next()
		if x != nil {
			pts = append(pts, x.Point)
		}
		return x, err
	}, &pts
}

// coarsen turns a change of many points into areas.
func coarsen(ch IncidentChange) IncidentChange {
	if len(ch.Points) <= maxChangePoints {
		return ch
	}
	for size := changeCell; ; size *= 2 {
		seen := map[[2]int64]bool{}
		for _, p := range ch.Points {
			seen[[2]int64{int64(math.Floor(p[0] / size)), int64(math.Floor(p[1] / size))}] = true
		}
		if len(seen) > maxChangePoints && size < 10 {
			continue
		}
		keys := make([][2]int64, 0, len(seen))
		for k := range seen {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b [2]int64) int {
			if a[0] != b[0] {
				return int(a[0] - b[0])
			}
			return int(a[1] - b[1])
		})
		out := IncidentChange{IDs: ch.IDs, Counted: ch.Counted}
		for _, k := range keys {
			lo := orb.Point{float64(k[0]) * size, float64(k[1]) * size}
			out.Areas = append(out.Areas, orb.Bound{Min: lo, Max: orb.Point{lo[0] + size, lo[1] + size}})
		}
		return out
	}
}

// flushTilesAfter sends the queued changes after d (f.mu held, f.scheduled
// just set).
func (db *DB) flushTilesAfter(d time.Duration) {
	f := db.tiles
	f.timers.Add(1)
	time.AfterFunc(d, func() {
		defer f.timers.Done()
		db.flushTiles()
	})
}

func (db *DB) flushTiles() {
	f := db.tiles
	f.mu.Lock()
	chs := f.pending
	f.pending = nil
	f.scheduled = false
	f.mu.Unlock()
	var payloads []string
	for _, ch := range chs {
		payloads = append(payloads, encodeChange(db.feed.origin, ch)...)
	}
	if len(payloads) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.pool.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, IncidentsChannel, payloads); err != nil {
		// The database is away: try again in a second. (The other
		// replicas' listeners lose their connection too, and clear their
		// caches when it is back.)
		f.mu.Lock()
		f.pending = append(chs, f.pending...)
		if !f.scheduled {
			f.scheduled = true
			db.flushTilesAfter(time.Second)
		}
		f.mu.Unlock()
	}
}

// encodeChange renders the payloads of a change, each under maxPayload:
// sections of points, areas and ids, each led by its kind, as many in one
// payload as fit (a single create or action is one notification).
func encodeChange(origin string, ch IncidentChange) []string {
	if ch.All {
		return []string{origin + ";*"}
	}
	var out []string
	var b strings.Builder
	kind := "" // of the section being written in b
	b.WriteString(origin)
	emit := func(k string, items []string) {
		for _, it := range items {
			need := 1 + len(it)
			if kind != k {
				need += 1 + len(k)
			}
			if b.Len()+need > maxPayload && b.Len() > len(origin) {
				out = append(out, b.String())
				b.Reset()
				b.WriteString(origin)
				kind = ""
			}
			if kind != k {
				b.WriteString(";" + k)
				kind = k
			}
			b.WriteString(";" + it)
		}
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 7, 64) }
	if len(ch.Points) > 0 {
		items := make([]string, len(ch.Points))
		for i, p := range ch.Points {
			items[i] = f(p[0]) + "," + f(p[1])
		}
		kind := "a"
		if ch.Counted {
			kind = "c"
		}
		emit(kind, items)
	}
	if len(ch.Areas) > 0 {
		items := make([]string, len(ch.Areas))
		for i, b := range ch.Areas {
			items[i] = f(b.Min[0]) + "," + f(b.Min[1]) + "," + f(b.Max[0]) + "," + f(b.Max[1])
		}
		kind := "A"
		if ch.Counted {
			kind = "C"
		}
		emit(kind, items)
	}
	if len(ch.IDs) > 0 {
		items := make([]string, len(ch.IDs))
		for i, r := range ch.IDs {
			items[i] = strconv.FormatInt(r.First, 10)
			if r.Last != r.First {
				items[i] += "-" + strconv.FormatInt(r.Last, 10)
			}
		}
		emit("i", items)
	}
	if b.Len() > len(origin) {
		out = append(out, b.String())
	}
	return out
}

// decodeChange reads a payload: sections, each a kind and its items.
func decodeChange(p string) (origin string, ch IncidentChange, err error) {
	parts := strings.Split(p, ";")
	origin = parts[0]
	if len(parts) < 2 {
		return origin, ch, fmt.Errorf("incident notification %q: no kind", p)
	}
	if parts[1] == "*" {
		ch.All = true
		return origin, ch, nil
	}
	kind := ""
	for _, it := range parts[1:] {
		switch it {
		case "c", "C", "a", "A", "i":
			kind = it
			if it == "c" || it == "C" {
				ch.Counted = true
			}
			continue
		}
		switch kind {
		case "":
			return origin, ch, fmt.Errorf("incident notification %q: unknown kind %q", p, it)
		case "i":
			a, b, rng := strings.Cut(it, "-")
			first, err1 := strconv.ParseInt(a, 10, 64)
			last, err2 := first, error(nil)
			if rng {
				last, err2 = strconv.ParseInt(b, 10, 64)
			}
			if err1 != nil || err2 != nil || first < 1 || last < first {
				return origin, ch, fmt.Errorf("incident notification %q: bad id range %q", p, it)
			}
			ch.IDs = append(ch.IDs, grid.IDRange{First: first, Last: last})
			continue
		}
		fs := strings.Split(it, ",")
		vs := make([]float64, len(fs))
		for i, s := range fs {
			v, err := strconv.ParseFloat(s, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return origin, ch, fmt.Errorf("incident notification %q: bad number %q", p, s)
			}
			vs[i] = v
		}
		switch {
		case (kind == "c" || kind == "a") && len(vs) == 2:
			ch.Points = append(ch.Points, orb.Point{vs[0], vs[1]})
		case (kind == "C" || kind == "A") && len(vs) == 4 && vs[0] <= vs[2] && vs[1] <= vs[3]:
			ch.Areas = append(ch.Areas, orb.Bound{Min: orb.Point{vs[0], vs[1]}, Max: orb.Point{vs[2], vs[3]}})
		default:
			return origin, ch, fmt.Errorf("incident notification %q: bad item %q", p, it)
		}
	}
	if kind == "" {
		return origin, ch, fmt.Errorf("incident notification %q: no kind", p)
	}
	return origin, ch, nil
}

// ListenIncidentChanges calls onChange with what other replicas' writes
// changed, one notification at a time (this process's own come through
// OnIncidentsChanged), and
// onConnect after every (re)connect, since notifications sent while
// disconnected are lost: the caller forgets what it cached then. It
// returns when ctx ends.
func (db *DB) ListenIncidentChanges(ctx context.Context, onChange func(IncidentChange), onConnect func(), log *slog.Logger) {
	db.listen(ctx, IncidentsChannel, func(p string) {
		origin, ch, err := decodeChange(p)
		if err != nil {
			log.Warn("unreadable incident notification; forgetting every incident", "err", err)
			onChange(IncidentChange{All: true, Counted: true})
			return
		}
		if origin != db.feed.origin {
			onChange(ch)
		}
	}, onConnect, log)
}
