package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/intake"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/jackc/pgx/v5"
	"github.com/uber/h3-go/v4"
)

// TestSeedAssignsAndRollsUpExactly seeds a small history and checks it
// against PostGIS and a raw recount: every incident lies in the cell it
// was assigned, and the H3 rollups equal a recount of the raw rows.
func TestSeedAssignsAndRollsUpExactly(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	st, err := seedIncidents(ctx, db, 20_000, 3, end, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if st.N != 20_000 {
		t.Errorf("seeded %d, want 20000", st.N)
	}
	var wrong, outside int
	if err := db.Pool().QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE NOT ST_Covers(c.geom, i.geom)),
		       count(*) FILTER (WHERE i.occurred_at < $1::timestamptz - interval '12 months' OR i.occurred_at >= $1)
		FROM incident i JOIN cell c ON c.code = i.cell_code AND c.version_id = i.grid_version`, end).Scan(&wrong, &outside); err != nil {
		t.Fatal(err)
	}
	if wrong != 0 {
		t.Errorf("%d incidents lie outside their assigned cell", wrong)
	}
	if outside != 0 {
		t.Errorf("%d incidents outside the 12 months before %s", outside, end)
	}

	// Rollups against a recount of the raw rows.
	type key struct {
		day      string
		hour     int
		category string
		h3       int64
	}
	raw := map[key]int{}
	rows, _ := db.Pool().Query(ctx, `SELECT to_char(occurred_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'),
		extract(hour FROM occurred_at AT TIME ZONE 'Asia/Shanghai')::int, category, h3 FROM incident`)
	for rows.Next() {
		var k key
		var c int64
		if err := rows.Scan(&k.day, &k.hour, &k.category, &c); err != nil {
			t.Fatal(err)
		}
		if h3.Cell(c).Resolution() != intake.H3Res {
			t.Fatalf("incident h3 %x has resolution %d", c, h3.Cell(c).Resolution())
		}
		k.h3 = c
		raw[k]++
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	// The base entries (resolution 10; the rest are corrections, see
	// internal/postgres).
	rows, _ = db.Pool().Query(ctx, `SELECT to_char(day, 'YYYY-MM-DD'), u.hour, category, u.h3, sum(u.n) FROM h3_rollup CROSS JOIN LATERAL unnest(hours, cells, counts) AS u(hour, h3, n)
		WHERE (u.h3 >> 52) & 15 = 10 GROUP BY 1, 2, 3, 4`)
	rolled := map[key]int{}
	for rows.Next() {
		var k key
		var n int
		if err := rows.Scan(&k.day, &k.hour, &k.category, &k.h3, &n); err != nil {
			t.Fatal(err)
		}
		rolled[k] = n
	}
	if len(raw) != len(rolled) {
		t.Errorf("rollups have %d groups, the raw rows %d", len(rolled), len(raw))
	}
	for k, n := range raw {
		if rolled[k] != n {
			t.Errorf("rollup %+v = %d, raw recount %d", k, rolled[k], n)
			break
		}
	}

	// The SQL h3_parent agrees with h3's own Parent at every coarser resolution.
	rows, _ = db.Pool().Query(ctx, `SELECT h3, h3_parent(h3, 5), h3_parent(h3, 7), h3_parent(h3, 8), h3_parent(h3, 9), h3_parent(h3, 10) FROM incident LIMIT 2000`)
	checked := 0
	for rows.Next() {
		var c int64
		var ps [5]int64
		if err := rows.Scan(&c, &ps[0], &ps[1], &ps[2], &ps[3], &ps[4]); err != nil {
			t.Fatal(err)
		}
		for i, res := range []int{5, 7, 8, 9, 10} {
			want, err := h3.Cell(c).Parent(res)
			if err != nil || int64(want) != ps[i] {
				t.Fatalf("h3_parent(%x, %d) = %x, h3 says %x (%v)", c, res, ps[i], int64(want), err)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Error("no incidents to check h3_parent on")
	}

	// The history has the seasons DOMAIN.md describes.
	var wet, dry int
	if err := db.Pool().QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE extract(month FROM occurred_at AT TIME ZONE 'Asia/Shanghai') IN (6, 8, 9)),
		       count(*) FILTER (WHERE extract(month FROM occurred_at AT TIME ZONE 'Asia/Shanghai') IN (12, 1, 2))
		FROM incident WHERE category = 'E0406'`).Scan(&wet, &dry); err != nil {
		t.Fatal(err)
	}
	if wet <= 2*dry {
		t.Errorf("water-logging: %d in Jun/Aug/Sep vs %d in Dec–Feb: want a wet-season peak", wet, dry)
	}
	var open, late int
	if err := db.Pool().QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE status IN ('dispatched', 'handled')),
		       count(*) FILTER (WHERE handled_at > deadline)
		FROM incident`).Scan(&open, &late); err != nil {
		t.Fatal(err)
	}
	if open == 0 || late == 0 {
		t.Errorf("a history needs open cases (%d) and late ones (%d)", open, late)
	}
}

// TestSeededTrailsReplay seeds a history and replays every incident's
// stored trail through the state machine from its creation: each event
// follows the one before in time, starts from the state the replay stands
// in and ends where grid.Apply goes, and the replay ends exactly at the
// stored state, timestamps, counters and deadline (the first deadline
// computed here from the stored calendar and category). The history has
// the paths a year of cases takes, in the proportions the seeder aims at.
func TestSeededTrailsReplay(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const n = 12_000
	if st, err := seedIncidents(ctx, db, n, 11, end, slog.New(slog.DiscardHandler)); err != nil || st.N != n {
		t.Fatalf("seeded %d of %d: %v", st.N, n, err)
	}
	cal, err := db.Calendar(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cats := map[string]grid.Category{}
	rows, _ := db.Pool().Query(ctx, `SELECT code, time_limit, unit FROM category`)
	var c grid.Category
	if _, err := pgx.ForEachRow(rows, []any{&c.Code, &c.Limit, &c.Unit}, func() error { cats[c.Code] = c; return nil }); err != nil {
		t.Fatal(err)
	}

	type stored struct {
		x         grid.Incident
		trailSeen bool
	}
	incidents := map[int64]*stored{}
	rows, _ = db.Pool().Query(ctx, `SELECT id, status, category, department_code, occurred_at, received_at, deadline,
		registered_at, dispatched_at, handled_at, closed_at, reworks, extensions, supervised, coalesce(parked_from, '') FROM incident`)
	var x grid.Incident
	if _, err := pgx.ForEachRow(rows, []any{&x.ID, &x.Status, &x.Category, &x.Department, &x.OccurredAt, &x.ReceivedAt, &x.Deadline,
		&x.RegisteredAt, &x.DispatchedAt, &x.HandledAt, &x.ClosedAt, &x.Reworks, &x.Extensions, &x.Supervised, &x.ParkedFrom}, func() error {
		incidents[x.ID] = &stored{x: x}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(incidents) != n {
		t.Fatalf("%d incidents stored, want %d", len(incidents), n)
	}

	// Replay, trail by trail (events in id order, as Incident reads them).
	var (
		seen     = map[string]int{} // action or action@state, and final states
		replayed int
		bad      int
		cur      *stored
		cs       grid.Case
		last     time.Time
	)
	fail := func(format string, args ...any) {
		if bad++; bad <= 10 {
			t.Errorf("incident %d: "+format, append([]any{cur.x.ID}, args...)...)
		}
	}
	finish := func() {
		if cur == nil {
			return
		}
		want := grid.Case{Status: cur.x.Status, ParkedFrom: cur.x.ParkedFrom, Deadline: cur.x.Deadline, Category: cs.Category,
			RegisteredAt: cur.x.RegisteredAt, DispatchedAt: cur.x.DispatchedAt, HandledAt: cur.x.HandledAt, ClosedAt: cur.x.ClosedAt,
			Reworks: cur.x.Reworks, Extensions: cur.x.Extensions, Supervised: cur.x.Supervised}
		if d := replayDiff(cs, want); d != "" {
			fail("the replay ends at %s, the stored row differs: %s", cs.Status, d)
		}
		seen["final "+cs.Status]++
		replayed++
	}
	rows, _ = db.Pool().Query(ctx, `SELECT incident_id, at, action, coalesce(from_status, ''), to_status, actor, note
		FROM incident_event ORDER BY incident_id, id`)
	var e grid.Event
	if _, err := pgx.ForEachRow(rows, []any{&e.IncidentID, &e.At, &e.Action, &e.From, &e.To, &e.Actor, &e.Note}, func() error {
		if cur == nil || e.IncidentID != cur.x.ID {
			finish()
			cur = incidents[e.IncidentID]
			if cur == nil {
				return fmt.Errorf("an event of incident %d, which is not stored", e.IncidentID)
			}
			if cur.trailSeen {
				return fmt.Errorf("the events of incident %d are not together", e.IncidentID)
			}
			cur.trailSeen = true
			cat, ok := cats[cur.x.Category]
			if !ok {
				return fmt.Errorf("incident %d: category %s is not stored", cur.x.ID, cur.x.Category)
			}
			cs = grid.Case{Status: grid.StatusCollected, Deadline: cal.Deadline(cur.x.ReceivedAt, cat.Limit, cat.Unit), Category: cat}
			if e.Action != grid.EventCreate || e.From != "" || e.To != grid.StatusCollected || !e.At.Equal(cur.x.ReceivedAt) {
				fail("the trail starts with %s %q→%s at %s, want create →collected at %s", e.Action, e.From, e.To, e.At, cur.x.ReceivedAt)
			}
			last = e.At
			return nil
		}
		if !e.At.After(last) {
			fail("%s at %s does not follow the event at %s", e.Action, e.At, last)
		}
		if !e.At.Before(end) {
			fail("%s at %s is past the history's end", e.Action, e.At)
		}
		last = e.At
		if e.From != cs.Status {
			fail("%s from %s, the replay stands in %s", e.Action, e.From, cs.Status)
		}
		seen[e.Action]++
		seen[e.Action+"@"+cs.Status]++
		if e.Action == grid.ActSupervise && !e.At.After(cs.Deadline) {
			fail("supervised at %s, before its deadline %s", e.At, cs.Deadline)
		}
		if err := grid.Apply(&cs, e.Action, e.At, cal); err != nil {
			fail("replay: %v", err)
		}
		if e.To != cs.Status {
			fail("%s to %s, the replay goes to %s", e.Action, e.To, cs.Status)
		}
		if e.Action == grid.ActUnpark {
			seen["unpark→"+cs.Status]++
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	finish()
	if replayed != n {
		t.Errorf("%d incidents have a trail, want all %d", replayed, n)
	}
	t.Logf("paths: %v", seen)

	// The variety a year of cases has.
	for _, k := range []string{
		"register@collected", "dismiss@collected", "dismiss@registered", "dispatch@registered", "return@dispatched",
		"report@dispatched", "reject@handled", "verify@handled", "evaluate@closed", "extend@dispatched",
		"supervise@dispatched", "park@registered", "park@dispatched", "unpark→registered", "unpark→dispatched",
		"final dispatched", "final handled", "final closed", "final evaluated", "final cancelled", "final parked",
	} {
		if seen[k] == 0 {
			t.Errorf("no %s in the seeded history", k)
		}
	}
	if share := float64(seen["final cancelled"]) / n; share < 0.02 || share > 0.04 {
		t.Errorf("%.1f %% dismissed, want about 3 %%", 100*share)
	}

	// Old cases are mostly evaluated, the last day's mostly open; each
	// department handles on time at its own rate.
	var old, oldEvaluated, recent, recentOpen int
	type tally struct{ handled, onTime int }
	depts := map[string]*tally{}
	var late, lateSupervised int
	for _, s := range incidents {
		x := &s.x
		if x.OccurredAt.Before(end.AddDate(0, -1, 0)) {
			old++
			if x.Status == grid.StatusEvaluated {
				oldEvaluated++
			}
		}
		if !x.OccurredAt.Before(end.Add(-24 * time.Hour)) {
			recent++
			if grid.Open(x.Status) {
				recentOpen++
			}
		}
		if x.HandledAt != nil {
			d := depts[x.Department]
			if d == nil {
				d = &tally{}
				depts[x.Department] = d
			}
			d.handled++
			if !x.HandledAt.After(x.Deadline) {
				d.onTime++
			} else {
				late++
				if x.Supervised {
					lateSupervised++
				}
			}
		}
	}
	if float64(oldEvaluated) < 0.9*float64(old) {
		t.Errorf("%d of %d cases older than a month evaluated, want most", oldEvaluated, old)
	}
	if recent == 0 || float64(recentOpen) < 0.5*float64(recent) {
		t.Errorf("%d of %d cases of the last day open, want most", recentOpen, recent)
	}
	if late == 0 || float64(lateSupervised) < 0.95*float64(late) {
		t.Errorf("%d of %d cases handled late were supervised, want nearly all", lateSupervised, late)
	}
	lo, hi := 1.0, 0.0
	for _, d := range depts {
		if d.handled >= 150 {
			r := float64(d.onTime) / float64(d.handled)
			lo, hi = min(lo, r), max(hi, r)
		}
	}
	t.Logf("%d/%d old cases evaluated, %d/%d of the last day open, %d/%d late ones supervised, on time %.2f–%.2f by department",
		oldEvaluated, old, recentOpen, recent, lateSupervised, late, lo, hi)
	if hi-lo < 0.1 {
		t.Errorf("on-time handling ranges %.2f–%.2f over the departments, want rates that differ", lo, hi)
	}
}

// replayDiff names the fields in which a replayed case differs from the
// stored one.
func replayDiff(got, want grid.Case) string {
	var d []string
	same := func(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }
	for _, f := range []struct {
		name string
		ok   bool
		g, w any
	}{
		{"status", got.Status == want.Status, got.Status, want.Status},
		{"parked_from", got.ParkedFrom == want.ParkedFrom, got.ParkedFrom, want.ParkedFrom},
		{"deadline", got.Deadline.Equal(want.Deadline), got.Deadline, want.Deadline},
		{"registered_at", same(got.RegisteredAt, want.RegisteredAt), got.RegisteredAt, want.RegisteredAt},
		{"dispatched_at", same(got.DispatchedAt, want.DispatchedAt), got.DispatchedAt, want.DispatchedAt},
		{"handled_at", same(got.HandledAt, want.HandledAt), got.HandledAt, want.HandledAt},
		{"closed_at", same(got.ClosedAt, want.ClosedAt), got.ClosedAt, want.ClosedAt},
		{"reworks", got.Reworks == want.Reworks, got.Reworks, want.Reworks},
		{"extensions", got.Extensions == want.Extensions, got.Extensions, want.Extensions},
		{"supervised", got.Supervised == want.Supervised, got.Supervised, want.Supervised},
	} {
		if !f.ok {
			d = append(d, fmt.Sprintf("%s replayed %v, stored %v", f.name, f.g, f.w))
		}
	}
	return strings.Join(d, "; ")
}
