package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/pgembed"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/jackc/pgx/v5"
)

// TestOpenDatabaseOutlivesTheClustersOwner: a command attached to an
// embedded cluster that another command started, and that one ends (and
// stops its cluster) while this one is still opening the database: this
// one starts the cluster again and finishes opening, the demo city loaded.
func TestOpenDatabaseOutlivesTheClustersOwner(t *testing.T) {
	requireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	dir := traversableDir(t)
	owner, err := pgembed.Start(ctx, pgembed.Options{DataDir: dir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = owner.Stop(context.Background()) })
	db, err := postgres.Open(ctx, owner.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	db.Close()
	// The owner's session holds the grid's table, so the other command
	// waits in its first look at the grid, attached.
	conn, err := pgx.Connect(ctx, owner.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE grid_version IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	type opened struct {
		d   *database
		err error
	}
	done := make(chan opened, 1)
	go func() {
		d, err := openDatabase(ctx, dir, true, quiet)
		done <- opened{d, err}
	}()
	for waiting := 0; waiting == 0; {
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'grid_version'::regclass`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		select {
		case o := <-done:
			t.Fatalf("opened before the owner let go of the grid: %v", o.err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	// The owner ends: its cluster stops, its sessions and the waiting one
	// are terminated.
	if err := owner.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	o := <-done
	if o.err != nil {
		t.Fatalf("open after the owner stopped the cluster: %v", o.err)
	}
	defer o.d.Close()
	if o.d.cluster == nil || !o.d.cluster.Owned() {
		t.Fatalf("the cluster is not this command's now")
	}
	if has, err := o.d.HasGrid(ctx); err != nil || !has {
		t.Errorf("the demo city after the restart: %v %v", has, err)
	}
}
