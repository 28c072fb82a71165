package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/pgtest"
)

// TestBulkCreateTrails: the trails written with a batch read back with
// their incidents, in order, every field as given; lines not written
// (duplicate external ids, stored before or repeated in the batch) leave
// no events; a trail the database refuses takes the whole batch with it.
func TestBulkCreateTrails(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := ctxT(t)
	at := time.Date(2026, 5, 17, 9, 0, 0, 123456000, time.UTC)
	mk := func(key string) grid.Incident { x := demoIncident(t, at); x.ExternalID = key; return x }
	trail := func(line int) []grid.Event {
		note := fmt.Sprintf("line %d", line)
		return []grid.Event{
			{At: at.Add(time.Minute), Action: grid.EventCreate, To: grid.StatusCollected, Actor: "seed", Note: note},
			{At: at.Add(20 * time.Minute), Action: grid.ActRegister, From: grid.StatusCollected, To: grid.StatusRegistered, Actor: "dispatcher", Note: note},
			{At: at.Add(50 * time.Minute), Action: grid.ActDispatch, From: grid.StatusRegistered, To: grid.StatusDispatched, Actor: "dispatcher", Note: "派遣 " + note},
		}
	}
	stored, err := db.BulkCreate(ctx, []grid.Incident{mk("t0")})
	if err != nil {
		t.Fatal(err)
	}
	xs := []grid.Incident{mk("t0"), mk("t1"), mk("t1"), mk("")}
	trails := [][]grid.Event{trail(0), trail(1), trail(2), trail(3)}
	res, err := db.BulkCreateTrails(ctx, xs, trails)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.IDs) != 2 || res.Duplicates[0] != stored.IDs[0] || res.Duplicates[2] != res.IDs[0] {
		t.Fatalf("ids %v, duplicates %v", res.IDs, res.Duplicates)
	}
	for i, line := range []int{1, 3} {
		_, evs, err := db.Incident(ctx, res.IDs[i])
		if err != nil {
			t.Fatal(err)
		}
		want := trail(line)
		if len(evs) != len(want) {
			t.Fatalf("line %d: %d events, want %d", line, len(evs), len(want))
		}
		for j, e := range evs {
			w := want[j]
			if e.IncidentID != res.IDs[i] || !e.At.Equal(w.At) || e.Action != w.Action || e.From != w.From || e.To != w.To ||
				e.Actor != w.Actor || e.Note != w.Note || (j > 0 && e.ID <= evs[j-1].ID) {
				t.Errorf("line %d, event %d: got %+v, want %+v", line, j, e, w)
			}
		}
	}
	if n := count(t, db, `SELECT count(*) FROM incident_event`); n != 6 {
		t.Errorf("%d events stored, want the 6 of the two lines written", n)
	}
	if n := count(t, db, `SELECT count(*) FROM incident_event WHERE from_status IS NULL`); n != 2 {
		t.Errorf("%d creation events have a NULL from_status, want 2", n)
	}

	// Refused: a length mismatch, and an event the table's check rejects.
	if _, err := db.BulkCreateTrails(ctx, []grid.Incident{mk("")}, nil); grid.KindOf(err) != grid.Invalid {
		t.Errorf("trails of the wrong length: %v, want %s", err, grid.Invalid)
	}
	bad := trail(9)
	bad[1].Action = "teleport"
	if _, err := db.BulkCreateTrails(ctx, []grid.Incident{mk("t9"), mk("")}, [][]grid.Event{trail(8), bad}); err == nil {
		t.Error("a trail with an unknown action was stored")
	}
	if n, e, k := count(t, db, `SELECT count(*) FROM incident`), count(t, db, `SELECT count(*) FROM incident_event`),
		count(t, db, `SELECT count(*) FROM incident_key`); n != 3 || e != 6 || k != 2 {
		t.Errorf("after the refused batches: %d incidents, %d events, %d keys; want 3, 6, 2", n, e, k)
	}
}
