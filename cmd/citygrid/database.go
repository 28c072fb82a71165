package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/citygrid/citygrid/geodata"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/pgembed"
	"github.com/citygrid/citygrid/internal/postgres"
)

func defaultDataDir() string {
	if d := os.Getenv("CITYGRID_DATA_DIR"); d != "" {
		return d
	}
	return ".citygrid"
}

func dataDirFlag(fs *flag.FlagSet) *string {
	return fs.String("data-dir", defaultDataDir(), "data directory of the embedded PostGIS cluster (ignored with DATABASE_URL)")
}

// database is an open, migrated database with the demo city loaded when it
// was empty, and the embedded cluster behind it when there is one.
type database struct {
	*postgres.DB
	cluster     *pgembed.Cluster
	unsupervise func() // ends the cluster's supervision (serve); nil if none
}

// Close ends the cluster's supervision, closes the pool and stops the
// embedded cluster if this process started it.
func (d *database) Close() {
	if d.unsupervise != nil {
		d.unsupervise()
	}
	d.DB.Close()
	if d.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = d.cluster.Stop(ctx)
	}
}

// openDatabase connects to DATABASE_URL or to the embedded cluster of
// dataDir (starting it unless a serve runs it already), migrates, and loads
// the demo city into an empty database when loadDemo is set.
func openDatabase(ctx context.Context, dataDir string, loadDemo bool, log *slog.Logger) (*database, error) {
	return openDatabaseWith(ctx, dataDir, loadDemo, postgres.Options{}, nil, log)
}

// openDatabaseWith is openDatabase with the pool's options (serve's
// statement timeout), and first, when not nil, run on the opened database
// as a part of opening it (serve's first reads).
func openDatabaseWith(ctx context.Context, dataDir string, loadDemo bool, opts postgres.Options, first func(*database) error, log *slog.Logger) (*database, error) {
	// An embedded cluster that another command started (say, keys create)
	// stops when that command ends, perhaps while this one migrates or
	// loads the demo city: start it again, as its owner now, and begin
	// again (each step is one transaction, done or not done).
	for attempt := 1; ; attempt++ {
		d, attached, err := openDatabaseOnce(ctx, dataDir, loadDemo, opts, log)
		if err == nil && first != nil {
			if err = first(d); err != nil {
				d.Close()
				d = nil
			}
		}
		if err == nil || !attached || attempt == 3 || grid.KindOf(err) != grid.Unavailable || ctx.Err() != nil {
			return d, err
		}
		log.Warn("the embedded cluster this command attached to went away; starting it again", "err", err)
	}
}

// openDatabaseOnce is one attempt of openDatabaseWith; attached says the
// embedded cluster was another process's.
func openDatabaseOnce(ctx context.Context, dataDir string, loadDemo bool, opts postgres.Options, log *slog.Logger) (_ *database, attached bool, _ error) {
	url, cluster, err := databaseURL(ctx, dataDir, log)
	attached = cluster != nil && !cluster.Owned()
	if err != nil {
		return nil, attached, err
	}
	d := &database{cluster: cluster}
	db, err := postgres.OpenWith(ctx, url, opts)
	if err != nil {
		d.stopCluster()
		return nil, attached, err
	}
	d.DB = db
	if err := db.Migrate(ctx); err != nil {
		d.Close()
		return nil, attached, err
	}
	if loadDemo {
		has, err := db.HasGrid(ctx)
		if err != nil {
			d.Close()
			return nil, attached, err
		}
		if !has {
			city, err := geodata.Linhai()
			if err != nil {
				d.Close()
				return nil, attached, err
			}
			start := time.Now()
			id, err := db.LoadCity(ctx, city, "demo: synthetic Linhai (geodata/linhai)")
			if err != nil {
				d.Close()
				return nil, attached, err
			}
			log.Info("demo city loaded", "grid_version", id, "cells", len(city.Cells), "took", time.Since(start).Round(time.Millisecond))
		}
	}
	return d, attached, nil
}

// databaseURL is DATABASE_URL, or the connection string of the embedded
// cluster of dataDir, which it starts unless a serve runs it already (the
// cluster returned is then an attachment, whose Stop does nothing).
func databaseURL(ctx context.Context, dataDir string, log *slog.Logger) (string, *pgembed.Cluster, error) {
	if url := os.Getenv("DATABASE_URL"); url != "" {
		return url, nil, nil
	}
	c, err := pgembed.Start(ctx, pgembed.Options{DataDir: dataDir, Logger: log})
	if err != nil {
		return "", nil, fmt.Errorf("embedded PostGIS under %s: %w", dataDir, err)
	}
	if c.Owned() {
		log.Info("embedded PostGIS started", "data_dir", dataDir, "port", c.Port())
	} else {
		log.Info("embedded PostGIS already running; attached", "data_dir", dataDir, "port", c.Port())
	}
	return c.ConnString(), c, nil
}

func (d *database) stopCluster() {
	if d.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = d.cluster.Stop(ctx)
	}
}
