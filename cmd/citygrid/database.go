package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/citygrid/citygrid/geodata"
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
	cluster *pgembed.Cluster
}

// Close closes the pool and stops the embedded cluster if this process
// started it.
func (d *database) Close() {
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
	return openDatabaseWith(ctx, dataDir, loadDemo, postgres.Options{}, log)
}

// openDatabaseWith is openDatabase with the pool's options (serve's
// statement timeout).
func openDatabaseWith(ctx context.Context, dataDir string, loadDemo bool, opts postgres.Options, log *slog.Logger) (*database, error) {
	d := &database{}
	url := os.Getenv("DATABASE_URL")
	if url == "" {
		c, err := pgembed.Start(ctx, pgembed.Options{DataDir: dataDir, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("embedded PostGIS under %s: %w", dataDir, err)
		}
		d.cluster = c
		url = c.ConnString()
		if c.Owned() {
			log.Info("embedded PostGIS started", "data_dir", dataDir, "port", c.Port())
		} else {
			log.Info("embedded PostGIS already running; attached", "data_dir", dataDir, "port", c.Port())
		}
	}
	db, err := postgres.OpenWith(ctx, url, opts)
	if err != nil {
		d.stopCluster()
		return nil, err
	}
	d.DB = db
	if err := db.Migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if loadDemo {
		has, err := db.HasGrid(ctx)
		if err != nil {
			d.Close()
			return nil, err
		}
		if !has {
			city, err := geodata.Linhai()
			if err != nil {
				d.Close()
				return nil, err
			}
			start := time.Now()
			id, err := db.LoadCity(ctx, city, "demo: synthetic Linhai (geodata/linhai)")
			if err != nil {
				d.Close()
				return nil, err
			}
			log.Info("demo city loaded", "grid_version", id, "cells", len(city.Cells), "took", time.Since(start).Round(time.Millisecond))
		}
	}
	return d, nil
}

func (d *database) stopCluster() {
	if d.cluster != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = d.cluster.Stop(ctx)
	}
}
