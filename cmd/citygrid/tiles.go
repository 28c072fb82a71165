package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/citygrid/citygrid/internal/httpapi"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/citygrid/citygrid/internal/tally"
)

// tileCacheFlag is serve's --tile-cache-mb, defaulting to
// $CITYGRID_TILE_CACHE_MB, else 64.
func tileCacheFlag(fs *flag.FlagSet) (*int, error) {
	mb := 64
	if v := os.Getenv("CITYGRID_TILE_CACHE_MB"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("CITYGRID_TILE_CACHE_MB=%q: want a whole number of megabytes (0: no cache)", v)
		}
		mb = n
	}
	return fs.Int("tile-cache-mb", mb, "size of the vector tile cache in MB, 0 for none (default $CITYGRID_TILE_CACHE_MB, else 64)"), nil
}

// tileCacheBytes is the server's TileCacheBytes for a size in MB (0: no
// cache).
func tileCacheBytes(mb int) int64 {
	if mb <= 0 {
		return -1
	}
	return int64(mb) << 20
}

// tileHooks lets the heatmap read model's listener, started before the
// server exists, tell the server's tile cache when it has taken in a
// rollup notification.
type tileHooks struct {
	srv atomic.Pointer[httpapi.Server]
}

func (h *tileHooks) rollupsApplied() {
	if s := h.srv.Load(); s != nil {
		s.RollupsApplied()
	}
}

// startTiles wires the feed of committed incident changes: the statistics
// read model reloads the incidents a write changed, and the tile cache
// evicts where it changed them — this process's writes as they commit
// (after the heatmap read model has heard of them), other replicas' by
// NOTIFY. Every (re)connect of that listener reloads the statistics and
// forgets every incident tile (the first connect starts the first load).
// The grid layers are drawn once in the background. The listener and the
// drawing run in bg and end with ctx.
func startTiles(ctx context.Context, bg *sync.WaitGroup, db *postgres.DB, srv *httpapi.Server, tl *tally.Tally, hooks *tileHooks, log *slog.Logger) {
	hooks.srv.Store(srv)
	changed := func(ch postgres.IncidentChange, evict func(httpapi.TileChange)) {
		if ch.All {
			tl.InvalidateAll(ctx)
		} else {
			tl.Invalidate(ch.IDs)
		}
		if ch.All || len(ch.Points) > 0 || len(ch.Areas) > 0 {
			evict(tileChange(ch))
		}
	}
	db.OnIncidentsChanged(func(ch postgres.IncidentChange) { changed(ch, srv.TilesChanged) })
	bg.Go(func() {
		db.ListenIncidentChanges(ctx, func(ch postgres.IncidentChange) { changed(ch, srv.RemoteTilesChanged) },
			func() {
				srv.ForgetIncidentTiles()
				tl.InvalidateAll(ctx)
			}, log)
	})
	bg.Go(func() {
		if err := srv.WarmTiles(ctx); err != nil && ctx.Err() == nil {
			log.Warn("drawing the grid layers ahead failed; the first tile will", "err", err)
		}
	})
}

func tileChange(ch postgres.IncidentChange) httpapi.TileChange {
	return httpapi.TileChange{Points: ch.Points, Areas: ch.Areas, Counted: ch.Counted, All: ch.All}
}
