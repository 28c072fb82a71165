package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/citygrid/citygrid/api"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/citygrid/citygrid/internal/httpapi"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/citygrid/citygrid/internal/tally"
	"github.com/citygrid/citygrid/web"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

func cmdServe(ctx context.Context, args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	dataDir := dataDirFlag(fs)
	minCount := 3
	if v := os.Getenv("CITYGRID_MIN_PUBLIC_COUNT"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("CITYGRID_MIN_PUBLIC_COUNT=%q: want a whole number ≥ 1", v)
		}
		minCount = n
	}
	fs.IntVar(&minCount, "min-public-count", minCount, "heatmap cells with fewer incidents are hidden from callers without an API key (default $CITYGRID_MIN_PUBLIC_COUNT, else 3)")
	tileMB, err := tileCacheFlag(fs)
	if err != nil {
		return err
	}
	basemap := fs.String("basemap", os.Getenv("CITYGRID_BASEMAP"), "raster XYZ basemap template for the web map, e.g. Tianditu's with its key (default $CITYGRID_BASEMAP, else none: the map works offline)")
	basemapCRS := fs.String("basemap-crs", cmp.Or(os.Getenv("CITYGRID_BASEMAP_CRS"), "wgs84"), "datum of the basemap's tiles: wgs84 (CGCS2000, Tianditu) or gcj02 (Amap, Tencent: the overlays then show some 500 m off)")
	basemapAttr := fs.String("basemap-attribution", os.Getenv("CITYGRID_BASEMAP_ATTRIBUTION"), "attribution shown for the basemap")
	limits, err := limitFlags(fs) // limits.go
	if err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if minCount < 1 {
		return fmt.Errorf("--min-public-count %d: want 1 or more", minCount)
	}
	if *tileMB < 0 {
		return fmt.Errorf("--tile-cache-mb %d: want 0 (no cache) or more", *tileMB)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	webFiles, err := httpapi.WebFiles(web.Dist(), httpapi.WebConfig{Basemap: *basemap, BasemapCRS: *basemapCRS, BasemapAttribution: *basemapAttr})
	if err != nil {
		ln.Close()
		return err
	}
	return serve(ctx, ln, serveOptions{DataDir: *dataDir, MinPublicCount: minCount, Web: webFiles, TileCacheMB: *tileMB, Limits: *limits}, log)
}

// serveOptions are what serve takes from the command line.
type serveOptions struct {
	DataDir        string
	MinPublicCount int   // 0: the server's default (3)
	Web            fs.FS // the web map with its config; nil: web.Dist() without a basemap
	TileCacheMB    int   // the vector tile cache; 0: none
	// Limits: rate limits, deadlines, expensive queries and the statement
	// timeout; zero: no rate limit or statement timeout, default deadlines.
	Limits limitOptions
}

// serve runs the service on ln until ctx ends, then shuts down in order:
// HTTP first, then the database and the embedded cluster.
func serve(ctx context.Context, ln net.Listener, opts serveOptions, log *slog.Logger) error {
	dataDir := opts.DataDir
	start := time.Now()
	var cat *locate.Catalog
	var cal *grid.Calendar
	db, err := openDatabaseWith(ctx, dataDir, true, postgres.Options{StatementTimeout: opts.Limits.StatementTimeout}, func(d *database) (err error) {
		cat = locate.NewCatalog(d.DB)
		if err := refresh(ctx, cat, log); err != nil {
			return err
		}
		cal, err = d.Calendar(ctx)
		return err
	}, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer db.Close()
	restarts := newRestartsCounter()
	db.supervise(ctx, log, restarts)

	// The listeners and jobs in the background; they end with ctx.
	var bg sync.WaitGroup
	// Every activation anywhere (NOTIFY), and every reconnect after the
	// database was away, refreshes the snapshot.
	bg.Go(func() {
		db.ListenGridVersions(ctx, func() {
			if err := refresh(ctx, cat, log); err != nil {
				log.Error("grid snapshot refresh failed; serving the last one", "err", err)
			}
		}, log)
	})

	var hooks tileHooks
	heat := startHeat(ctx, &bg, db.DB, log, hooks.rollupsApplied)
	cache, incidents, requests := startFeatureCache(ctx, &bg, db.DB, log)
	bg.Go(func() { every(ctx, time.Minute, log, "flagging overdue incidents", flagOverdue(incidents, log)) })
	bg.Go(func() {
		ahead := partitionsAhead(db.DB)
		if err := ahead(ctx); err != nil && ctx.Err() == nil {
			log.Warn("creating incident partitions failed; retrying in 6 h", "err", err)
		}
		every(ctx, 6*time.Hour, log, "creating incident partitions", ahead)
	})

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), restarts)
	webFiles := opts.Web
	if webFiles == nil {
		if webFiles, err = httpapi.WebFiles(web.Dist(), httpapi.WebConfig{}); err != nil {
			return err
		}
	}
	// Statistics and the overview from memory; SQL until it is loaded.
	tl := tally.New(db.DB, db.DB, grid.ChinaTime())
	srv := httpapi.New(httpapi.Config{Store: db.DB, Incidents: incidents, Cache: cache, Stats: tl, Overview: tl, Heatmaps: heat, Keys: db.DB, Audit: db.DB, Requests: requests, Facilities: db.DB,
		Features: db.DB, Calendar: cal, Catalog: cat, Registry: reg, Logger: log, OpenAPI: api.OpenAPI,
		MinPublicCount: opts.MinPublicCount, Web: webFiles, Tiles: db.DB, TileCacheBytes: tileCacheBytes(opts.TileCacheMB), Limits: opts.Limits.Limits})
	startTiles(ctx, &bg, db.DB, srv, tl, &hooks, log)
	bg.Go(func() { settleMemory(ctx, log, gcHeadroom, heat.Wait, tl.Wait) })
	// A key revoked anywhere is forgotten here at once.
	bg.Go(func() { db.ListenKeyRevocations(ctx, srv.ForgetKey, srv.ForgetKeys, log) })
	hs := httpServer(srv.Handler(), defaultServerTimeouts(opts.Limits.RequestTimeout))
	log.Info("citygrid serving", "addr", "http://"+ln.Addr().String(), "ready_in", time.Since(start).Round(time.Millisecond))

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutdown: %w", err)
	}
	bg.Wait() // before the pools close
	return nil
}

// every runs job every interval until ctx ends; a failure is logged and
// the job retried at the next tick.
func every(ctx context.Context, interval time.Duration, log *slog.Logger, what string, job func(context.Context) error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := job(ctx); err != nil && ctx.Err() == nil {
				log.Warn(what+" failed; retrying at the next tick", "err", err)
			}
		}
	}
}

// flagOverdue flags open incidents past their deadline for supervision
// (督办). Replicas may all run it: each incident is flagged once.
func flagOverdue(db grid.IncidentStore, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		ids, err := db.FlagOverdue(ctx, time.Now())
		if len(ids) > 0 {
			log.Info("overdue incidents flagged for supervision", "count", len(ids))
		}
		return err
	}
}

// partitionsAhead creates the monthly incident partitions missing from
// this month to 13 months ahead, as migration 003 made them at first:
// a service running longer would otherwise put every new incident in the
// default partition, which no time window prunes.
func partitionsAhead(db *postgres.DB) func(context.Context) error {
	return func(ctx context.Context) error {
		now := time.Now()
		return db.EnsurePartitions(ctx, now, now.AddDate(0, 13, 0))
	}
}

// startHeat builds the in-memory heatmap read model: this process's writes
// invalidate what they touched as they commit, other replicas' writes
// arrive by NOTIFY, and every (re)connect of the listener reloads it all.
//
// applied, when not nil, is called after each notification has been taken
// in, for the tile cache (tileHooks).
//
// Its background goroutines run in bg and end with ctx.
func startHeat(ctx context.Context, bg *sync.WaitGroup, db *postgres.DB, log *slog.Logger, applied func()) *hexbin.Heat {
	heat := hexbin.NewHeat(db, db, grid.ChinaTime())
	db.OnRollupChange(heat.Invalidate)
	// Single creates add a rollup row each. The store merges the slices its
	// own creates made busy as it goes; this sweep catches the rest (say,
	// of a replica that stopped). Counts do not change, so no one is told.
	bg.Go(func() {
		every(ctx, 5*time.Minute, log, "rollup compaction", func(ctx context.Context) error {
			_, err := db.CompactRollups(ctx, 64)
			return err
		})
	})
	bg.Go(func() {
		db.ListenRollups(ctx, func(ss []grid.RollupSlice, all bool) {
			if all {
				heat.InvalidateAll(ctx)
			} else {
				heat.Invalidate(ss)
			}
			if applied != nil {
				applied()
			}
		}, log)
	})
	return heat
}

// refresh swaps in the snapshot of the active grid version if it changed.
func refresh(ctx context.Context, cat *locate.Catalog, log *slog.Logger) error {
	start := time.Now()
	swapped, err := cat.Refresh(ctx)
	if err != nil {
		return err
	}
	if swapped {
		s := cat.Current()
		log.Info("grid snapshot loaded", "grid_version", s.Version.ID, "cells", len(s.Cells), "took", time.Since(start).Round(time.Millisecond))
	}
	return nil
}
