package postgres_test

import (
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
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
