package postgres_test

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

func TestCalendarFromDatabase(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Empty)
	ctx := ctxT(t)
	if _, err := db.Pool().Exec(ctx, `INSERT INTO calendar_day (day, kind, note) VALUES
		('2026-10-01', 'holiday', '国庆节'), ('2026-10-02', 'holiday', '国庆节'), ('2026-10-10', 'workday', '调休')`); err != nil {
		t.Fatal(err)
	}
	cal, err := db.Calendar(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 9, 30, 17, 0, 0, 0, cal.Loc) // Wednesday, 30 minutes before the end of work
	// 1 working hour: 30 min on the 30th, then the holidays and the weekend
	// pass, and the rest falls on Monday the 5th.
	if got, want := cal.Deadline(start, 1, grid.WorkingHours), time.Date(2026, 10, 5, 9, 0, 0, 0, cal.Loc); !got.Equal(want) {
		t.Errorf("deadline %s, want %s", got, want)
	}
	if !cal.IsWorkday(time.Date(2026, 10, 10, 12, 0, 0, 0, cal.Loc)) {
		t.Error("the make-up Saturday is not a workday")
	}
	if _, err := db.Pool().Exec(ctx, `INSERT INTO calendar_day (day, kind) VALUES ('2026-10-03', 'party')`); err == nil {
		t.Error("a calendar day of unknown kind was accepted")
	}
}

// TestBulkCreateIsAtomic: a batch with one row the database refuses
// leaves no incident, key or rollup behind.
func TestBulkCreateIsAtomic(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := ctxT(t)
	h, _ := h3.LatLngToCell(h3.NewLatLng(28.85, 121.13), 10)
	x := grid.Incident{Category: "E0505", Point: orb.Point{121.13, 28.85}, OccurredAt: time.Now().Add(-time.Hour), ReceivedAt: time.Now(),
		Source: "camera", Status: grid.StatusCollected, CellCode: "331082001001001", CommunityCode: "331082001001", TownCode: "331082001",
		Department: "D01", GridVersion: 1, Deadline: time.Now().Add(4 * time.Hour), H3: uint64(h)}
	batch := make([]grid.Incident, 100)
	for i := range batch {
		batch[i] = x
		batch[i].ExternalID = "atomic-" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	batch[77].Status = "lost" // refused by the status CHECK
	if _, err := db.BulkCreate(ctx, batch); err == nil {
		t.Fatal("a batch with a refused row was stored")
	}
	var incidents, keys, rollups int
	if err := db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM incident), (SELECT count(*) FROM incident_key), (SELECT count(*) FROM h3_rollup)`).
		Scan(&incidents, &keys, &rollups); err != nil {
		t.Fatal(err)
	}
	if incidents+keys+rollups != 0 {
		t.Errorf("left behind: %d incidents, %d keys, %d rollups", incidents, keys, rollups)
	}
	batch[77].Status = grid.StatusCollected
	res, err := db.BulkCreate(ctx, batch)
	if err != nil || len(res.IDs) != 100 {
		t.Fatalf("the corrected batch: %v, %d ids", err, len(res.IDs))
	}
}

func demoIncident(t *testing.T, at time.Time) grid.Incident {
	t.Helper()
	h, err := h3.LatLngToCell(h3.NewLatLng(28.85, 121.13), 10)
	if err != nil {
		t.Fatal(err)
	}
	return grid.Incident{Category: "E0505", Point: orb.Point{121.13, 28.85}, OccurredAt: at, ReceivedAt: at.Add(time.Minute),
		Source: "camera", Status: grid.StatusCollected, CellCode: "331082001001001", CommunityCode: "331082001001", TownCode: "331082001",
		Department: "D01", GridVersion: 1, Deadline: at.Add(4 * time.Hour), H3: uint64(h)}
}

// TestBulkRowsRoundTrip: every column written by the hand-encoded binary
// COPY reads back as it was given, NULLs included.
func TestBulkRowsRoundTrip(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := ctxT(t)
	at := time.Date(2026, 5, 17, 23, 59, 58, 123456000, time.UTC)
	plain := demoIncident(t, at)
	full := demoIncident(t, at.AddDate(-1, 0, 0))
	reg, disp := at.Add(time.Hour), at.Add(2*time.Hour)
	full.ExternalID, full.Description, full.RuleID = "rt-1", "占道经营 \"quoted\" \\ 路口", 42
	full.RegisteredAt, full.DispatchedAt, full.Status = &reg, &disp, grid.StatusParked
	full.Reworks, full.Extensions, full.Supervised, full.ParkedFrom = 2, 1, true, grid.StatusDispatched
	full.Point = orb.Point{121.123456789012, 28.876543210987}
	xs := []grid.Incident{plain, full}
	res, err := db.BulkCreate(ctx, xs)
	if err != nil || len(res.IDs) != 2 {
		t.Fatalf("bulk: %v %v", res, err)
	}
	for i, want := range xs {
		got, _, err := db.Incident(ctx, res.IDs[i])
		if err != nil {
			t.Fatal(err)
		}
		if want.ID != res.IDs[i] {
			t.Errorf("row %d: id %d set on the input, stored as %d", i, want.ID, res.IDs[i])
		}
		if got.Point != want.Point || !got.OccurredAt.Equal(want.OccurredAt) || !got.ReceivedAt.Equal(want.ReceivedAt) ||
			!got.Deadline.Equal(want.Deadline) || got.Category != want.Category || got.H3 != want.H3 || got.Source != want.Source ||
			got.Description != want.Description || got.ExternalID != want.ExternalID || got.Status != want.Status ||
			got.CellCode != want.CellCode || got.CommunityCode != want.CommunityCode || got.TownCode != want.TownCode ||
			got.Department != want.Department || got.RuleID != want.RuleID || got.GridVersion != want.GridVersion ||
			got.Reworks != want.Reworks || got.Extensions != want.Extensions || got.Supervised != want.Supervised ||
			got.ParkedFrom != want.ParkedFrom || !sameTime(got.RegisteredAt, want.RegisteredAt) ||
			!sameTime(got.DispatchedAt, want.DispatchedAt) || got.HandledAt != nil || got.ClosedAt != nil {
			t.Errorf("row %d:\n got %+v\nwant %+v", i, got, want)
		}
	}
}

func sameTime(a, b *time.Time) bool { return (a == nil) == (b == nil) && (a == nil || a.Equal(*b)) }

// TestBulkDuplicateKeys: lines whose external id was stored by an earlier
// batch, or repeats one earlier in the same batch, are not written and map
// to the stored incident; the rollups count exactly the rows written; a
// stream that fails half-way writes nothing.
func TestBulkDuplicateKeys(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := ctxT(t)
	at := time.Date(2026, 5, 17, 9, 0, 0, 0, time.UTC)
	mk := func(key string) grid.Incident { x := demoIncident(t, at); x.ExternalID = key; return x }
	first, err := db.BulkCreate(ctx, []grid.Incident{mk("k1"), mk("k2")})
	if err != nil {
		t.Fatal(err)
	}
	// k2 is stored; the second k3 repeats the first; the repeat of k2 maps
	// to the stored k2 too.
	res, err := db.BulkCreate(ctx, []grid.Incident{mk("k2"), mk("k3"), mk("k3"), mk("k4"), mk("k2")})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IDs) != 2 || res.Duplicates[0] != first.IDs[1] || res.Duplicates[4] != first.IDs[1] || res.Duplicates[2] != res.IDs[0] || len(res.Duplicates) != 3 {
		t.Fatalf("ids %v, duplicates %v (k2 stored as %d)", res.IDs, res.Duplicates, first.IDs[1])
	}
	var incidents, rolled, keys int
	if err := db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM incident), (SELECT coalesce(sum(n), 0) FROM h3_rollup, unnest(counts) AS n),
		(SELECT count(*) FROM incident_key)`).Scan(&incidents, &rolled, &keys); err != nil {
		t.Fatal(err)
	}
	if incidents != 4 || rolled != 4 || keys != 4 {
		t.Errorf("%d incidents, %d in the rollups, %d keys; want 4 each", incidents, rolled, keys)
	}

	n := 0
	_, err = db.BulkStream(ctx, func() (*grid.Incident, error) {
		n++
		if n == 3000 {
			return nil, errStop
		}
		x := mk("")
		return &x, nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("a stream that stopped with an error returned %v", err)
	}
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM incident`).Scan(&incidents); err != nil || incidents != 4 {
		t.Errorf("after the failed stream: %d incidents (%v), want 4", incidents, err)
	}
}

var errStop = errors.New("line 3000: bad")

// TestCompactRollups: merging a slice's rows keeps every count; slices at
// or under the threshold are left alone.
func TestCompactRollups(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := ctxT(t)
	at := time.Date(2026, 5, 17, 1, 0, 0, 0, time.UTC)
	for i := range 40 { // single creates: a row each, two hours, one cell
		x := demoIncident(t, at.Add(time.Duration(i%2)*time.Hour))
		if _, err := db.CreateIncident(ctx, &x, "test"); err != nil {
			t.Fatal(err)
		}
	}
	other := demoIncident(t, at.AddDate(0, 0, 1))
	if _, err := db.BulkCreate(ctx, []grid.Incident{other, other}); err != nil {
		t.Fatal(err)
	}
	sums := func() map[string]int64 {
		m := map[string]int64{}
		if err := db.RollupRows(ctx, nil, func(s grid.RollupSlice, hour int, cell uint64, n int64) error {
			m[fmt.Sprint(s, hour, cell)] += n
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return m
	}
	before := sums()
	merged, err := db.CompactRollups(ctx, 10)
	if err != nil || merged != 1 {
		t.Fatalf("merged %d slices (%v), want 1", merged, err)
	}
	// Two hours of one slice and one hour of another, each with the base
	// entry and the corrections of the demo point.
	perIncident := 1
	if err := (&hexbin.Exact{}).Corrections(h3.NewLatLng(other.Point[1], other.Point[0]), h3.Cell(other.H3), func(int, h3.Cell, h3.Cell) { perIncident += 2 }); err != nil {
		t.Fatal(err)
	}
	if after := sums(); !maps.Equal(before, after) || len(after) != 3*perIncident {
		t.Errorf("counts changed: %v → %v", before, after)
	}
	var rows int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM h3_rollup`).Scan(&rows); err != nil || rows != 2 {
		t.Errorf("%d rollup rows after compaction (%v), want 2", rows, err)
	}
}

// TestBusySliceIsMerged: after compactAfter single creates on one slice the
// store merges its rows in the background, keeping every count.
func TestBusySliceIsMerged(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := ctxT(t)
	at := time.Date(2026, 5, 17, 1, 0, 0, 0, time.UTC)
	const n = 300
	for i := range n {
		x := demoIncident(t, at.Add(time.Duration(i%3)*time.Hour))
		if _, err := db.CreateIncident(ctx, &x, "test"); err != nil {
			t.Fatal(err)
		}
	}
	db.WaitMerges()
	var rows, sum int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*), (SELECT sum(n) FROM h3_rollup, unnest(counts) AS n) FROM h3_rollup`).Scan(&rows, &sum); err != nil {
		t.Fatal(err)
	}
	if sum != n {
		t.Errorf("the rollups count %d, want %d", sum, n)
	}
	if rows >= n-200 { // merged once the 256th create came in
		t.Errorf("%d rollup rows for %d creates: the busy slice was not merged", rows, n)
	}
}

// TestFlagOverdueInBatches: more overdue incidents than one batch holds are
// all flagged, each once, each with its supervise event.
func TestFlagOverdueInBatches(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := ctxT(t)
	const n = 12_000
	xs := make([]grid.Incident, n)
	for i := range xs {
		xs[i] = demoIncident(t, time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Minute))
	}
	xs[7].Status = grid.StatusCancelled // closed cases are never flagged
	if _, err := db.BulkCreate(ctx, xs); err != nil {
		t.Fatal(err)
	}
	ids, err := db.FlagOverdue(ctx, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != n-1 || len(slices.Compact(slices.Clone(ids))) != n-1 {
		t.Fatalf("flagged %d (distinct %d), want %d", len(ids), len(slices.Compact(slices.Clone(ids))), n-1)
	}
	var supervised, events int
	if err := db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM incident WHERE supervised),
		(SELECT count(*) FROM incident_event WHERE action = 'supervise')`).Scan(&supervised, &events); err != nil {
		t.Fatal(err)
	}
	if supervised != n-1 || events != n-1 {
		t.Errorf("%d supervised, %d supervise events; want %d each", supervised, events, n-1)
	}
	if again, err := db.FlagOverdue(ctx, time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)); err != nil || len(again) != 0 {
		t.Errorf("a second run flagged %d (%v)", len(again), err)
	}
}
