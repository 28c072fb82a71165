package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/pgtest"
)

// TestBaselinesLeaveNothing runs the bench's baselines on a small seeded
// history: the raw COPY reports a rate and rolls its rows back, the
// heatmap baselines answer and leave the stored incidents as they were.
// Timings are not asserted.
func TestBaselinesLeaveNothing(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	end := time.Now()
	if _, err := seedIncidents(ctx, db, 3000, 5, end, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	stored := func() (n int) {
		t.Helper()
		if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM incident`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := stored()
	rate, err := rawCopyRate(ctx, db, 2000)
	if err != nil || rate <= 0 {
		t.Fatalf("raw COPY: %v rows/s, %v", rate, err)
	}
	if n := stored(); n != before {
		t.Errorf("the raw COPY left %d incidents behind", n-before)
	}
	groupBy, hexGrid, err := heatmapBaselines(ctx, db.Pool(), []string{"E0505", "E0506"}, 8, end.AddDate(-1, 0, 0), end)
	if err != nil || groupBy <= 0 || hexGrid <= 0 {
		t.Fatalf("heatmap baselines: %s, %s, %v", groupBy, hexGrid, err)
	}
	if n := stored(); n != before {
		t.Errorf("the heatmap baselines changed the incidents: %d, was %d", n, before)
	}
}
