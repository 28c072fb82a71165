package main

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
)

// TestBenchSoak runs the soak for a few seconds against the demo city:
// every kind of request is sent, none fails, and every pooled connection
// is back once the server has stopped. RSS and goroutine growth are the
// long run's verdicts and not asserted here.
func TestBenchSoak(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sc := soakScale{Duration: 3 * time.Second, Clients: 4, Sample: 200 * time.Millisecond, Warmup: 0.2, Tail: 0.1}
	r, err := runSoak(ctx, db, sc, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if n := r.errorCount(); n > 0 {
		t.Errorf("%d errors: %v; first: %s", n, r.Errors, strings.Join(r.FirstErrors, " | "))
	}
	// Every client runs at least one whole round of the schedule, which
	// holds every kind.
	for _, k := range soakKinds() {
		if r.Requests[k] == 0 {
			t.Errorf("no %s request was sent: %v", k, r.Requests)
		}
	}
	if r.Flows == 0 || r.Requests[soakCreate] != r.Flows {
		t.Errorf("%d creates, %d with every lifecycle step", r.Requests[soakCreate], r.Flows)
	}
	if len(r.Pools) != 2 {
		t.Errorf("pools %+v: want the request and the batch pool (serve's statement timeout)", r.Pools)
	}
	if a := r.acquired(); a != 0 {
		t.Errorf("%d connections still acquired after the server stopped: %+v", a, r.Pools)
	}
	if r.PoolMax == 0 || r.Backends > r.PoolMax || r.MaxBackends > r.PoolMax {
		t.Errorf("backends %d at the end, %d at most, pools' maximum %d", r.Backends, r.MaxBackends, r.PoolMax)
	}
	// The soak's own server made connections that pg_stat_activity
	// attributes to it: the count is of the right backends.
	if r.MaxBackends == 0 {
		t.Errorf("no backend of the soak's server seen in pg_stat_activity")
	}
	rows := soakRows(r, sc)
	if len(rows) != 3 || rows[0].Met != "yes" || rows[2].Met != "yes" {
		t.Errorf("rows: %+v", rows)
	}
}

// TestSoakFlows: every flow of the soak is a dispatcher's legal sequence
// from a new incident, by the domain's own state machine.
func TestSoakFlows(t *testing.T) {
	cal := grid.DefaultCalendar()
	for _, flow := range soakFlows {
		c := grid.Case{Status: grid.StatusCollected, Deadline: time.Now().Add(time.Hour),
			Category: grid.Category{Code: "E0505", Limit: 4, Unit: grid.WorkingHours}}
		for _, a := range flow {
			if err := grid.Apply(&c, a, time.Now(), cal); err != nil {
				t.Errorf("flow %v: %s: %v", flow, a, err)
				break
			}
		}
	}
}

// TestSoakRowsCountErrors: a failed request, a still-acquired connection
// or growth past 10 % fails its row.
func TestSoakRowsCountErrors(t *testing.T) {
	sc := benchSoakScale(10 * time.Second)
	flat := func() soakResult {
		r := soakResult{Clients: 2, Took: 10 * time.Second, Requests: map[string]int64{soakLocate: 10}, Errors: map[string]int64{},
			PoolMax: 28, Backends: 5, MaxBackends: 6}
		for i := range 100 {
			r.Samples = append(r.Samples, soakSample{At: time.Duration(i) * 100 * time.Millisecond, RSS: 100 << 20, Goroutines: 50})
		}
		return r
	}
	r := flat()
	for i, row := range soakRows(r, sc) {
		if row.Met != "yes" {
			t.Errorf("flat run, row %d: %+v", i, row)
		}
	}
	r = flat()
	r.Errors["stats 503"] = 1
	r.FirstErrors = []string{"stats: 503"}
	if row := soakRows(r, sc)[0]; row.Met != "no" || !strings.Contains(row.Ours, "stats 503: 1") {
		t.Errorf("a 503: %+v", row)
	}
	r = flat()
	for i := range r.Samples[90:] {
		r.Samples[90+i].RSS = 111 << 20
	}
	if row := soakRows(r, sc)[1]; row.Met != "no" {
		t.Errorf("RSS +11 %%: %+v", row)
	}
	r = flat()
	r.Pools = []postgres.PoolStat{{Name: "request", Acquired: 1, Max: 24}}
	if row := soakRows(r, sc)[2]; row.Met != "no" {
		t.Errorf("a connection still acquired: %+v", row)
	}
}
