package postgres_test

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

var chinaTime = time.FixedZone("CST", 8*3600)

// statsIncident is what the recount reads back from the database.
type statsIncident struct {
	keys                          map[string]string // group_by → code
	category, status, parkedFrom  string
	occurred, deadline            time.Time
	dispatched, handled, closedAt *time.Time
	reworks, extensions           int
}

func readStatsIncidents(t *testing.T, db *postgres.DB) []statsIncident {
	t.Helper()
	rows, err := db.Pool().Query(ctxT(t), `SELECT cell_code, community_code, town_code, department_code, category, status,
		coalesce(parked_from, ''), occurred_at, deadline, dispatched_at, handled_at, closed_at, reworks, extensions FROM incident`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (x statsIncident, err error) {
		var cell, comm, town, dept string
		err = r.Scan(&cell, &comm, &town, &dept, &x.category, &x.status, &x.parkedFrom, &x.occurred, &x.deadline,
			&x.dispatched, &x.handled, &x.closedAt, &x.reworks, &x.extensions)
		x.keys = map[string]string{"cell": cell, "community": comm, "town": town, "department": dept}
		return x, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// bucketStart is the local (UTC+8) day, ISO week or month holding t.
func bucketStart(t time.Time, interval string) time.Time {
	l := t.In(chinaTime)
	switch interval {
	case "week":
		d := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, chinaTime)
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	case "month":
		return time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, chinaTime)
	}
	return time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, chinaTime)
}

func nextBucket(t time.Time, interval string) time.Time {
	switch interval {
	case "week":
		return t.AddDate(0, 0, 7)
	case "month":
		return t.AddDate(0, 1, 0)
	}
	return t.AddDate(0, 0, 1)
}

// recount is the oracle: the definitions of DOMAIN.md applied incident by
// incident, with no SQL.
func recount(xs []statsIncident, f grid.StatsFilter) []grid.StatsRow {
	rows := map[string]*grid.StatsRow{}
	for _, x := range xs {
		if x.occurred.Before(f.From) || !x.occurred.Before(f.To) {
			continue
		}
		if f.Categories != nil && !slices.Contains(f.Categories, x.category) {
			continue
		}
		if f.Town != "" && x.keys["town"] != f.Town {
			continue
		}
		k := x.keys[f.GroupBy]
		r := rows[k]
		if r == nil {
			r = &grid.StatsRow{Key: k}
			rows[k] = r
		}
		r.Total++
		r.ByCategory.Codes, r.ByCategory.N = append(r.ByCategory.Codes, x.category), append(r.ByCategory.N, 1)
		if x.status == grid.StatusCancelled {
			continue
		}
		due := x.dispatched != nil
		switch x.status {
		case grid.StatusHandled, grid.StatusClosed, grid.StatusEvaluated:
			due = true
		case grid.StatusParked:
			due = due || x.parkedFrom == grid.StatusDispatched
		}
		if !due {
			continue
		}
		r.DueToHandle++
		r.DueToClose++
		onTime := x.handled != nil && !x.handled.After(x.deadline)
		if x.handled != nil {
			r.Handled++
		}
		if onTime {
			r.HandledOnTime++
		}
		if x.closedAt != nil {
			r.Closed++
			if onTime {
				r.ClosedOnTime++
			}
		}
		if x.reworks > 0 {
			r.Reworked++
		}
		if x.extensions > 0 {
			r.Extended++
		}
	}
	out := make([]grid.StatsRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b grid.StatsRow) int {
		return cmp.Or(cmp.Compare(b.Total, a.Total), strings.Compare(a.Key, b.Key))
	})
	if f.Top > 0 && len(out) > f.Top {
		out = out[:f.Top]
	}
	if f.Interval == "" {
		return out
	}
	for i := range out {
		r := &out[i]
		counts := map[int64]int64{}
		for _, x := range xs {
			if x.keys[f.GroupBy] != r.Key || x.occurred.Before(f.From) || !x.occurred.Before(f.To) ||
				f.Categories != nil && !slices.Contains(f.Categories, x.category) || f.Town != "" && x.keys["town"] != f.Town {
				continue
			}
			counts[bucketStart(x.occurred, f.Interval).Unix()]++
		}
		for b := bucketStart(f.From, f.Interval); b.Before(f.To); b = nextBucket(b, f.Interval) {
			r.Series = append(r.Series, grid.SeriesPoint{Start: b, Count: counts[b.Unix()]})
		}
	}
	return out
}

// describe renders a row for comparison (times as instants).
func describe(r grid.StatsRow) string {
	m := r.ByCategory.Map()
	cats := make([]string, 0, len(m))
	for k, n := range m {
		cats = append(cats, fmt.Sprintf("%s=%d", k, n))
	}
	slices.Sort(cats)
	var series []string
	for _, p := range r.Series {
		series = append(series, fmt.Sprintf("%s:%d", p.Start.In(chinaTime).Format(time.RFC3339), p.Count))
	}
	return fmt.Sprintf("%s total %d %v due %d/%d handled %d/%d closed %d/%d rework %d ext %d series %v",
		r.Key, r.Total, cats, r.DueToHandle, r.DueToClose, r.Handled, r.HandledOnTime, r.Closed, r.ClosedOnTime,
		r.Reworked, r.Extended, series)
}

// seedStatsIncidents stores n incidents with every combination of state
// and lifecycle columns — including ones the lifecycle cannot reach, so
// each clause of the definitions is tested on its own — spread over
// [start − 10 days, start + 100 days), plus rows on the window's edges.
func seedStatsIncidents(t *testing.T, db *postgres.DB, n int, start time.Time, seed uint64) {
	t.Helper()
	ctx := ctxT(t)
	m, err := db.ActiveModel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	// A few cells in a few towns, so groups hold several incidents.
	var cells []grid.Cell
	for i := 0; i < len(m.City.Cells) && len(cells) < 40; i += 53 {
		cells = append(cells, m.City.Cells[i])
	}
	var depts []string
	for i := 0; i < len(m.City.Departments) && len(depts) < 7; i += 5 {
		depts = append(depts, m.City.Departments[i].Code)
	}
	cats := []string{"E0505", "E0506", "E0406", "E0102", "E0103", "P0101"}
	p := orb.Point{121.13, 28.85}
	h, err := h3.LatLngToCell(h3.NewLatLng(p[1], p[0]), 10)
	if err != nil {
		t.Fatal(err)
	}
	at := func(t time.Time) *time.Time { return &t }
	xs := make([]grid.Incident, 0, n+4)
	for i := range n {
		c := cells[rng.IntN(len(cells))]
		occurred := start.Add(-10*24*time.Hour + time.Duration(rng.Int64N(int64(110*24*time.Hour))))
		x := grid.Incident{Category: cats[rng.IntN(len(cats))], Point: p, H3: uint64(h), OccurredAt: occurred,
			ReceivedAt: occurred.Add(time.Minute), Source: "collector", Status: grid.Statuses()[rng.IntN(len(grid.Statuses()))],
			CellCode: c.Code, CommunityCode: c.CommunityCode, TownCode: c.TownCode, Department: depts[rng.IntN(len(depts))],
			GridVersion: m.Version.ID, Deadline: occurred.Add(4 * time.Hour), Reworks: rng.IntN(3) / 2 * (1 + i%2), Extensions: rng.IntN(4) / 3}
		if x.Status == grid.StatusParked {
			x.ParkedFrom = []string{grid.StatusRegistered, grid.StatusDispatched}[rng.IntN(2)]
		}
		if rng.IntN(2) == 0 {
			x.DispatchedAt = at(occurred.Add(30 * time.Minute))
		}
		if rng.IntN(2) == 0 {
			// Early, exactly on the deadline (on time), a second late, hours late.
			x.HandledAt = at(x.Deadline.Add([]time.Duration{-time.Hour, 0, time.Second, 2 * time.Hour}[rng.IntN(4)]))
		}
		if rng.IntN(2) == 0 {
			x.ClosedAt = at(x.Deadline.Add(3 * time.Hour))
		}
		xs = append(xs, x)
	}
	// On the edges of the window [start, start + 90 days): in, out, in, out.
	for i, occurred := range []time.Time{start, start.Add(-time.Microsecond), start.AddDate(0, 0, 90).Add(-time.Microsecond), start.AddDate(0, 0, 90)} {
		x := xs[i]
		x.OccurredAt, x.ReceivedAt, x.Deadline = occurred, occurred, occurred.Add(time.Hour)
		x.Status, x.ParkedFrom, x.DispatchedAt, x.HandledAt, x.ClosedAt = grid.StatusClosed, "", at(occurred), at(occurred), at(occurred)
		xs = append(xs, x)
	}
	for i := 0; i < len(xs); i += 1000 {
		if _, err := db.BulkCreate(ctx, xs[i:min(i+1000, len(xs))]); err != nil {
			t.Fatal(err)
		}
	}
}

func TestStatsAgreesWithRecount(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := ctxT(t)
	n := time.Now().In(chinaTime).AddDate(0, -4, 0)
	start := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, chinaTime)
	seedStatsIncidents(t, db, 4000, start, 1)
	all := readStatsIncidents(t, db)
	if len(all) != 4004 {
		t.Fatalf("stored %d incidents, want 4004", len(all))
	}
	town := all[0].keys["town"]
	type tc struct {
		name string
		f    grid.StatsFilter
	}
	var cases []tc
	for _, g := range []string{"cell", "community", "town", "department"} {
		cases = append(cases,
			tc{"whole window", grid.StatsFilter{GroupBy: g, From: start, To: start.AddDate(0, 0, 90)}},
			tc{"categories, weeks", grid.StatsFilter{GroupBy: g, From: start, To: start.AddDate(0, 0, 90), Categories: []string{"E0505", "E0406"}, Interval: "week"}},
			tc{"unaligned window, days, top 3", grid.StatsFilter{GroupBy: g, From: start.Add(3*time.Hour + 17*time.Minute), To: start.AddDate(0, 0, 41).Add(5 * time.Hour), Interval: "day", Top: 3}},
			tc{"one town, months", grid.StatsFilter{GroupBy: g, From: start.AddDate(0, 0, -20), To: start.AddDate(0, 0, 95), Interval: "month", Town: town}},
			tc{"top 1, days", grid.StatsFilter{GroupBy: g, From: start, To: start.AddDate(0, 0, 10), Interval: "day", Top: 1}},
			tc{"no category", grid.StatsFilter{GroupBy: g, From: start, To: start.AddDate(0, 0, 90), Categories: []string{}, Interval: "week"}},
		)
	}
	for _, c := range cases {
		got, err := db.Stats(ctx, c.f)
		if err != nil {
			t.Fatalf("%s by %s: %v", c.name, c.f.GroupBy, err)
		}
		want := recount(all, c.f)
		if len(got) != len(want) {
			t.Errorf("%s by %s: %d groups, the recount has %d", c.name, c.f.GroupBy, len(got), len(want))
		}
		if c.f.Categories == nil && c.f.Top == 0 && (c.f.Town == "" || c.f.GroupBy != "town") && len(want) < 2 {
			t.Errorf("%s by %s: only %d groups: the test data are too thin", c.name, c.f.GroupBy, len(want))
		}
		for i := range min(len(got), len(want)) {
			if g, w := describe(got[i]), describe(want[i]); g != w {
				t.Errorf("%s by %s, group %d:\n got %s\nwant %s", c.name, c.f.GroupBy, i, g, w)
			}
		}
		// The invariants the API promises, checked on the store's own answer.
		for _, r := range got {
			var byCat, series int64
			for _, n := range r.ByCategory.N {
				byCat += n
			}
			for _, p := range r.Series {
				series += p.Count
			}
			if byCat != r.Total || (c.f.Interval != "" && series != r.Total) {
				t.Errorf("%s by %s, %s: total %d, categories add up to %d, series to %d", c.name, c.f.GroupBy, r.Key, r.Total, byCat, series)
			}
			if r.Handled > r.DueToHandle || r.HandledOnTime > r.Handled || r.ClosedOnTime > r.Closed || r.Closed > r.DueToClose {
				t.Errorf("%s by %s, %s: counters out of order: %s", c.name, c.f.GroupBy, r.Key, describe(r))
			}
		}
	}
	// Edge rows: the one at from is counted, the one just before to too;
	// those before from and at to are not.
	got, err := db.Stats(ctx, grid.StatsFilter{GroupBy: "town", From: start, To: start.AddDate(0, 0, 90)})
	if err != nil {
		t.Fatal(err)
	}
	var total, inWindow int64
	for _, r := range got {
		total += r.Total
	}
	for _, x := range all {
		if !x.occurred.Before(start) && x.occurred.Before(start.AddDate(0, 0, 90)) {
			inWindow++
		}
	}
	if total != inWindow || inWindow == 0 {
		t.Errorf("the window counts %d incidents, %d lie in it", total, inWindow)
	}
}

func TestStatsRejects(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Empty)
	ctx := ctxT(t)
	now := time.Now()
	for _, c := range []struct {
		f       grid.StatsFilter
		mention string
	}{
		{grid.StatsFilter{GroupBy: "street", From: now.Add(-time.Hour), To: now}, "group_by"},
		{grid.StatsFilter{GroupBy: "cell_code; DROP TABLE incident", From: now.Add(-time.Hour), To: now}, "group_by"},
		{grid.StatsFilter{GroupBy: "town", Interval: "year", From: now.Add(-time.Hour), To: now}, "interval"},
		{grid.StatsFilter{GroupBy: "town", From: now, To: now}, "from"},
	} {
		_, err := db.Stats(ctx, c.f)
		var ge *grid.Error
		if !errors.As(err, &ge) || ge.Kind != grid.Invalid || !strings.Contains(ge.Message, c.mention) {
			t.Errorf("%+v: %v, want Invalid naming %s", c.f, err, c.mention)
		}
	}
	// An empty database: no groups, no error.
	rows, err := db.Stats(ctx, grid.StatsFilter{GroupBy: "department", From: now.AddDate(0, -1, 0), To: now, Interval: "day"})
	if err != nil || len(rows) != 0 {
		t.Errorf("empty database: %v, %d groups", err, len(rows))
	}
}
