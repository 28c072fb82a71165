package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
)

// A lifecycle action finds its incident whether or not this replica wrote
// it (a second pool on the same database has no hint of when it
// occurred), writes the plan's state and effect, and a disallowed action
// writes nothing and names the state.
func TestTransitionOnAnotherReplica(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t, pgtest.Demo)
	ctx := context.Background()
	open := func() *postgres.DB {
		db, err := postgres.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		return db
	}
	a, b := open(), open()
	x := demoIncident(t, time.Now().AddDate(0, -3, 0))
	if _, err := a.CreateIncident(ctx, &x, "test"); err != nil {
		t.Fatal(err)
	}
	cal := grid.DefaultCalendar()
	for i, step := range []struct {
		db     *postgres.DB
		action string
		want   string
	}{{b, "register", "registered"}, {a, "dispatch", "dispatched"}, {b, "park", "parked"}, {a, "unpark", "dispatched"}, {b, "extend", "dispatched"}} {
		got, ev, err := step.db.Transition(ctx, x.ID, step.action, "test", "", time.Now(), cal)
		if err != nil || got.Status != step.want || ev.To != step.want || ev.ID == 0 {
			t.Fatalf("step %d %s: %v, status %q, event %+v", i, step.action, err, got.Status, ev)
		}
		if got.ID != x.ID || got.OccurredAt.Sub(x.OccurredAt).Abs() >= time.Microsecond || got.CellCode != x.CellCode {
			t.Fatalf("step %d: the incident came back as %+v", i, got)
		}
	}
	got, _, err := b.Incident(ctx, x.ID)
	if err != nil || got.Extensions != 1 || got.DispatchedAt == nil || got.RegisteredAt == nil || got.ParkedFrom != "" || !got.Deadline.After(x.Deadline) {
		t.Fatalf("after the steps: %v %+v", err, got)
	}
	_, _, err = b.Transition(ctx, x.ID, "verify", "test", "", time.Now(), cal)
	if grid.KindOf(err) != grid.Conflict {
		t.Fatalf("verify from dispatched: %v", err)
	}
	if _, _, err := a.Transition(ctx, x.ID+1000, "register", "test", "", time.Now(), cal); grid.KindOf(err) != grid.NotFound {
		t.Fatalf("an incident that does not exist: %v", err)
	}
	_, evs, err := a.Incident(ctx, x.ID)
	if err != nil || len(evs) != 6 {
		t.Fatalf("trail: %v, %d events", err, len(evs))
	}
}
