package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// lockTable holds an ACCESS EXCLUSIVE lock on table in the database at url
// until unlock: statements on it wait, for real, as long as it is held.
func lockTable(t *testing.T, url, table string) (unlock func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE `+pgx.Identifier{table}.Sanitize()+` IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	return func() {
		_ = tx.Rollback(ctx)
		_ = conn.Close(ctx)
	}
}

// TestStatementTimeout: a store read past the pool's statement_timeout is
// cancelled by PostgreSQL (SQLSTATE 57014) and comes back as a Timeout
// error keeping the driver's error; so does a caller's deadline passing
// while the statement waits, without any statement timeout.
func TestStatementTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t, pgtest.Demo)
	timed, err := postgres.OpenWith(ctx, url, postgres.Options{StatementTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer timed.Close()
	plain, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	unlock := lockTable(t, url, "incident")
	defer unlock()

	_, err = timed.FindIncidents(ctx, grid.IncidentFilter{Limit: 5})
	var pgErr *pgconn.PgError
	if grid.KindOf(err) != grid.Timeout || !errors.As(err, &pgErr) || pgErr.Code != "57014" {
		t.Errorf("past the statement timeout: %v (kind %s), want a Timeout over SQLSTATE 57014", err, grid.KindOf(err))
	}

	dctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err = plain.FindIncidents(dctx, grid.IncidentFilter{Limit: 5})
	if grid.KindOf(err) != grid.Timeout || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("past the caller's deadline: %v (kind %s), want a Timeout over context.DeadlineExceeded", err, grid.KindOf(err))
	}
}

// TestBatchWorkHasNoStatementTimeout: loading every rollup row is batch
// work on its own pool: held up far past the request path's statement
// timeout (as the database's clock says), it still completes, where a
// reload of a few slices — the request path — is cut.
func TestBatchWorkHasNoStatementTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := pgtest.URL(t, pgtest.Demo)
	const limit = 100 * time.Millisecond
	db, err := postgres.OpenWith(ctx, url, postgres.Options{StatementTimeout: limit})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	unlock := lockTable(t, url, "h3_rollup")
	unlocked := false
	defer func() {
		if !unlocked {
			unlock()
		}
	}()

	slice := []grid.RollupSlice{{Category: "E0505", Day: grid.DateOf(time.Now()), Town: "331082001"}}
	err = db.RollupRows(ctx, slice, func(grid.RollupSlice, int, uint64, int64) error { return nil })
	if grid.KindOf(err) != grid.Timeout {
		t.Errorf("a reload of one slice past the statement timeout: %v, want Timeout", err)
	}

	done := make(chan error, 1)
	go func() {
		done <- db.RollupRows(ctx, nil, func(grid.RollupSlice, int, uint64, int64) error { return nil })
	}()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	watch, err := pgx.Connect(wctx, url) // without the statement timeout
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	for {
		var n int
		if err := watch.QueryRow(wctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND now() - query_start > $1 * interval '1 second'`,
			(5 * limit).Seconds()).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("the full load ended while the table was locked: %v", err)
		case <-time.After(20 * time.Millisecond): // polls the database's own view
		}
	}
	unlock()
	unlocked = true
	if err := <-done; err != nil {
		t.Errorf("the full load after waiting 5× the statement timeout: %v", err)
	}
}
