package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
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
