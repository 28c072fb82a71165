package postgres_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/paulmach/orb"
)

// TestPoolStats: the pools report what they hold, a statement timeout
// gives the batch pool of its own, and the application name set is the
// one PostgreSQL shows.
func TestPoolStats(t *testing.T) {
	t.Parallel()
	base := pgtest.New(t, pgtest.Empty)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if ps := base.PoolStats(); len(ps) != 1 || ps[0].Name != "request" {
		t.Errorf("without a statement timeout: %+v, want the request pool alone", ps)
	}
	db, err := postgres.OpenWith(ctx, base.Pool().Config().ConnString(),
		postgres.Options{StatementTimeout: 5 * time.Second, ApplicationName: "citygrid-pooltest"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c, err := db.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var app string
	if err := c.QueryRow(ctx, `SELECT current_setting('application_name')`).Scan(&app); err != nil {
		t.Fatal(err)
	}
	if app != "citygrid-pooltest" {
		t.Errorf("application_name %q", app)
	}
	ps := db.PoolStats()
	if len(ps) != 2 || ps[0].Name != "request" || ps[1].Name != "batch" {
		t.Fatalf("with a statement timeout: %+v, want the request and the batch pool", ps)
	}
	if ps[0].Acquired != 1 || ps[0].Total < 1 || ps[0].Max < 1 || ps[1].Acquired != 0 || ps[1].Max < 1 {
		t.Errorf("one connection acquired: %+v", ps)
	}
	var n int
	if err := base.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'citygrid-pooltest'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n < 1 || n > int(ps[0].Total+ps[1].Total) {
		t.Errorf("%d backends named citygrid-pooltest, pools hold %d", n, ps[0].Total+ps[1].Total)
	}
	c.Release()
	if ps := db.PoolStats(); ps[0].Acquired != 0 {
		t.Errorf("after Release: %+v", ps)
	}
}

// TestSettle: a single create leaves notifications queued for the other
// replicas, sent on a pool connection some 20 ms later; Settle returns
// only once they are sent and every connection is back.
func TestSettle(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := ctxT(t)
	r := rand.New(rand.NewPCG(5, 6))
	x := heatIncident(t, r, orb.Point{121.130, 28.850})
	if _, err := db.CreateIncident(ctx, &x, "test"); err != nil {
		t.Fatal(err)
	}
	if !db.NotifyQueued() {
		t.Log("the notifications went out before Settle was called (a slow machine); Settle has nothing to wait for")
	}
	if err := db.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if db.NotifyQueued() {
		t.Error("Settle returned with notifications still queued")
	}
	for _, p := range db.PoolStats() {
		if p.Acquired != 0 {
			t.Errorf("after Settle: %+v", p)
		}
	}
}
