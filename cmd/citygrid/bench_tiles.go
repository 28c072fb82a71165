package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/citygrid/citygrid/internal/httpapi"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/citygrid/citygrid/internal/tiles"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
)

// The tile rows of `citygrid bench`.
var benchTileRows = []string{"tiles-cells", "tiles-incidents", "tiles-cached", "tiles-writes"}

func benchTilesSelected(sel func(string) bool) bool {
	for _, r := range benchTileRows {
		if sel(r) {
			return true
		}
	}
	return false
}

// oldTownTile is the tile over the old town (121.13 E, 28.85 N) at z.
func oldTownTile(z int) maptile.Tile { return maptile.At(orb.Point{121.13, 28.85}, maptile.Zoom(z)) }

// pgTileservCells is the query pg_tileserv runs for a tile of the cell
// table (its default: extent 4096, buffer 256, clipped; the tile envelope
// transformed to the table's SRID for the GiST index).
const pgTileservCells = `
SELECT ST_AsMVT(mvtgeom, 'cells', 4096, 'geom') FROM (
	SELECT ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope($1, $2, $3), 4096, 256, true) AS geom,
		code, name, community_code, town_code
	FROM cell
	WHERE version_id = (SELECT id FROM grid_version WHERE active)
	  AND geom && ST_Transform(ST_TileEnvelope($1, $2, $3, margin => 256.0 / 4096), 4326)
) mvtgeom`

// pgTileservIncidents is the same for the incidents of a window, on a
// GiST-indexed copy of the incident rows, capped at pg_tileserv's default
// of 50,000 features per tile.
const pgTileservIncidents = `
SELECT ST_AsMVT(mvtgeom, 'incidents', 4096, 'geom') FROM (
	SELECT ST_AsMVTGeom(ST_Transform(geom, 3857), ST_TileEnvelope($1, $2, $3), 4096, 256, true) AS geom,
		id, category, status, extract(epoch FROM deadline)::bigint AS deadline, department_code, cell_code, town_code
	FROM bench_incident_gist
	WHERE geom && ST_Transform(ST_TileEnvelope($1, $2, $3, margin => 256.0 / 4096), 4326)
	  AND occurred_at >= $4 AND occurred_at < $5
	LIMIT 50000
) mvtgeom`

// ensureGiSTCopy makes the baseline's copy of the incident table with a
// GiST index on the points, once per data directory (it is kept while
// its row count matches the incident table's).
func ensureGiSTCopy(ctx context.Context, pool *pgxpool.Pool, progress io.Writer) (int64, error) {
	var n, copied int64
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM incident`).Scan(&n); err != nil {
		return 0, err
	}
	err := pool.QueryRow(ctx, `SELECT count(*) FROM bench_incident_gist`).Scan(&copied)
	if err == nil && copied == n {
		return n, nil
	}
	fmt.Fprintf(progress, "bench: copying %s incidents into a GiST-indexed table for the tile baseline …\n", thousands(float64(n)))
	for _, q := range []string{
		`DROP TABLE IF EXISTS bench_incident_gist`,
		`CREATE TABLE bench_incident_gist AS SELECT id, occurred_at, geom, category, status, deadline, department_code, cell_code, town_code FROM incident`,
		`CREATE INDEX ON bench_incident_gist USING gist (geom)`,
		`CREATE INDEX ON bench_incident_gist USING brin (occurred_at)`,
		`ANALYZE bench_incident_gist`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// sqlP50 runs a tile query runs times on one connection and returns the
// median time and the size of the last tile.
func sqlP50(ctx context.Context, pool *pgxpool.Pool, runs int, q string, args ...any) (time.Duration, int, error) {
	var ds []time.Duration
	var size int
	for range runs {
		var b []byte
		t := time.Now()
		if err := pool.QueryRow(ctx, q, args...).Scan(&b); err != nil {
			return 0, 0, err
		}
		ds = append(ds, time.Since(t))
		size = len(b)
	}
	return percentile(ds, 0.5), size, nil
}

// httpP50 fetches a path runs times, one after another, and returns the
// median time and the body size; any status but 200 and 204 fails.
func httpP50(ctx context.Context, client *http.Client, u string, key string, runs int) (time.Duration, int, error) {
	var ds []time.Duration
	var size int
	for range runs {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, 0, err
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		t := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ds = append(ds, time.Since(t))
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
			return 0, 0, fmt.Errorf("bench: %s: %d %s", u, resp.StatusCode, b[:min(len(b), 200)])
		}
		size = len(b)
	}
	return percentile(ds, 0.5), size, nil
}

// benchTiles measures the vector tile rows: uncached tiles against the
// queries pg_tileserv runs for them, cached tiles over HTTP at 32
// clients, and what precise eviction costs the writers.
func benchTiles(ctx context.Context, db *postgres.DB, cat *locate.Catalog, sel func(string) bool, progress io.Writer) ([]benchRow, error) {
	if !benchTilesSelected(sel) {
		return nil, nil
	}
	stored, err := ensureGiSTCopy(ctx, db.Pool(), progress)
	if err != nil {
		return nil, err
	}
	scale := thousands(float64(stored)) + " incidents stored"
	// Two replicas of the service on one database: without a cache (the
	// uncached rows, and the writes baseline) and with one.
	noCache := func(c *httpapi.Config) { c.TileCacheBytes = -1 }
	plainBase, rm, stopPlain, err := startBenchServer(ctx, db, cat, noCache)
	if err != nil {
		return nil, err
	}
	defer stopPlain()
	cachedBase, rmCached, stopCached, err := startBenchServer(ctx, db, cat)
	if err != nil {
		return nil, err
	}
	defer stopCached()
	for _, m := range []*benchModels{rm, rmCached} {
		if err := m.loaded(ctx); err != nil {
			return nil, err
		}
	}
	key, err := db.CreateAPIKey(ctx, "dispatcher", "", "bench tiles")
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: benchTransport(4), Timeout: time.Minute}
	window := tiles.LastWindow(time.Now(), 30*24*time.Hour)
	var rows []benchRow

	if sel("tiles-cells") {
		fmt.Fprintln(progress, "bench: cells tile, uncached …")
		t := oldTownTile(14)
		u := fmt.Sprintf("%s/tiles/cells/%d/%d/%d.mvt", plainBase, t.Z, t.X, t.Y)
		if _, _, err := httpP50(ctx, client, u, "", 5); err != nil { // the zoom's simplification, once
			return nil, err
		}
		ours, size, err := httpP50(ctx, client, u, "", 201)
		if err != nil {
			return nil, err
		}
		base, baseSize, err := sqlP50(ctx, db.Pool(), 201, pgTileservCells, int(t.Z), int(t.X), int(t.Y))
		if err != nil {
			return nil, err
		}
		rows = append(rows, benchRow{fmt.Sprintf("z14 cells tile over the old town, uncached, over HTTP (%d bytes; p50 of 201)", size),
			fmt.Sprintf("%.2f ms", ms(ours)), fmt.Sprintf("%.2f ms ST_AsMVT query of pg_tileserv, GiST (%d bytes)", ms(base), baseSize),
			fmt.Sprintf("%.1f×", ms(base)/ms(ours)), "p50 ≤ 2 ms", yesNo(ms(ours) <= 2)})
	}

	if sel("tiles-incidents") {
		for _, z := range []int{14, 10} {
			fmt.Fprintf(progress, "bench: incidents tile z%d, uncached …\n", z)
			t := oldTownTile(z)
			u := fmt.Sprintf("%s/tiles/incidents/%d/%d/%d.mvt", plainBase, t.Z, t.X, t.Y)
			ours, size, err := httpP50(ctx, client, u, key, 51)
			if err != nil {
				return nil, err
			}
			shape, err := tileShape(ctx, client, u, key)
			if err != nil {
				return nil, err
			}
			base, baseSize, err := sqlP50(ctx, db.Pool(), 7, pgTileservIncidents, int(t.Z), int(t.X), int(t.Y), window.From, window.To)
			if err != nil {
				return nil, err
			}
			rows = append(rows, benchRow{fmt.Sprintf("z%d incidents tile over the old town, last 30 days, uncached, over HTTP (%s; %s, %d bytes; p50 of 51)", z, scale, shape, size),
				fmt.Sprintf("%.2f ms", ms(ours)), fmt.Sprintf("%.1f ms ST_AsMVT on a GiST-indexed copy, ≤ 50,000 features (%d bytes; p50 of 7)", ms(base), baseSize),
				fmt.Sprintf("%.1f×", ms(base)/ms(ours)), "p50 ≤ 15 ms; ≥ 5× (budget stated for 10 M stored)", yesNo(ms(ours) <= 15 && ms(base)/ms(ours) >= 5)})
		}
	}

	if sel("tiles-cached") {
		fmt.Fprintln(progress, "bench: cached tiles over HTTP, 32 clients …")
		for _, c := range []struct {
			layer, key, budget string
			rate               float64
		}{{"cells", "", "≥ 20,000 tiles/s", 20_000}, {"incidents", key, "≥ 10,000 tiles/s", 10_000}} {
			// The 3×3 tiles at zoom 14 around the old town, each drawn once.
			var urls []*url.URL
			t := oldTownTile(14)
			for dx := -1; dx <= 1; dx++ {
				for dy := -1; dy <= 1; dy++ {
					u, _ := url.Parse(fmt.Sprintf("%s/tiles/%s/14/%d/%d.mvt", cachedBase, c.layer, int(t.X)+dx, int(t.Y)+dy))
					if _, _, err := httpP50(ctx, client, u.String(), c.key, 1); err != nil {
						return nil, err
					}
					urls = append(urls, u)
				}
			}
			h := http.Header{}
			if c.key != "" {
				h.Set("Authorization", "Bearer "+c.key)
			}
			st, err := measureHTTPWith(ctx, urls, h, 32, time.Second, 5*time.Second)
			if err != nil {
				return nil, err
			}
			r := benchRow{fmt.Sprintf("cached z14 %s tiles over HTTP, 9 tiles, 32 keep-alive clients, same process", c.layer),
				fmt.Sprintf("%s tiles/s, p50 %.2f ms, p99 %.2f ms, %d errors", thousands(st.Rate), ms(st.P50), ms(st.P99), st.Errors),
				"—", "—", c.budget, yesNo(st.Errors == 0 && st.Rate >= c.rate)}
			if st.Errors > 0 {
				r.Ours += " (first: " + st.FirstError + ")"
			}
			rows = append(rows, r)
		}
	}

	if sel("tiles-writes") {
		fmt.Fprintln(progress, "bench: single creates with and without a warm tile cache …")
		snap := cat.Current()
		rng := rand.New(rand.NewPCG(41, 42))
		pts := randomInside(rng, snap, cityBound(snap), 5000)
		// Warm the cache: incidents and heatmap tiles at zooms 12–16 under
		// the points the writers will use, three filters each.
		warmed := 0
		for i, p := range pts[:300] {
			for z := 12; z <= 16; z++ {
				t := maptile.At(p, maptile.Zoom(z))
				for _, q := range []string{"", "status=collected", "theme=parking"} {
					layer := "incidents"
					if i%3 == 0 && q == "theme=parking" {
						layer = "heatmap"
					}
					u := fmt.Sprintf("%s/tiles/%s/%d/%d/%d.mvt?%s", cachedBase, layer, t.Z, t.X, t.Y, q)
					if _, _, err := httpP50(ctx, client, u, key, 1); err != nil {
						return nil, err
					}
					warmed++
				}
			}
		}
		wclient := &http.Client{Transport: withKey{benchTransport(64), key}, Timeout: time.Minute}
		post := func(base string) (driveStats, error) {
			var next atomic.Int64
			return drive(ctx, 32, time.Second, 5*time.Second, func() error {
				i := int(next.Add(1))
				p := pts[i%300] // under the cached tiles
				var b bytes.Buffer
				fmt.Fprintf(&b, `{"category":"E0505","lon":%.7f,"lat":%.7f,"occurred_at":%q,"source":"camera"}`, p[0], p[1], time.Now().Add(-time.Hour).Format(time.RFC3339))
				resp, err := wclient.Post(base+"/v1/incidents", "application/json", &b)
				if err != nil {
					return err
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					return fmt.Errorf("status %d", resp.StatusCode)
				}
				return nil
			})
		}
		// Each replica evicts for every write (its own directly, the
		// other's by NOTIFY): the cached one pays for its cache either way.
		without, err := post(plainBase)
		if err != nil {
			return nil, err
		}
		with, err := post(cachedBase)
		if err != nil {
			return nil, err
		}
		cost, evicted := evictionCost(pts[:300])
		rows = append(rows, benchRow{fmt.Sprintf("POST /v1/incidents, 32 clients, %d cached tiles under the writes (evicted as they change)", warmed),
			fmt.Sprintf("%s/s, p99 %.1f ms; eviction %s per write in a 50,000-tile cache (%.1f tiles each)", thousands(with.rate), ms(with.p99), cost, evicted),
			fmt.Sprintf("%s/s without a tile cache, same run", thousands(without.rate)), fmt.Sprintf("%.2f×", with.rate/without.rate),
			"within 5 % of no cache", yesNo(with.rate >= 0.95*without.rate)})
	}
	return rows, nil
}

// tileShape says whether a tile holds points or counts (its meta layer).
func tileShape(ctx context.Context, client *http.Client, u, key string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return describeTile(b), nil
}

// evictionCost is the time one write's eviction takes in a warm cache:
// 50,000 entries — incidents and heatmap tiles at zooms 10–18 under the
// points, three filters and two scopes each — then each point evicted as
// a committed create evicts it (both layers, every zoom).
func evictionCost(pts []orb.Point) (string, float64) {
	c := tiles.NewCache(256 << 20)
	body := tiles.Tile{Data: make([]byte, 2000)}
	n := 0
	for i := 0; n < 50_000; i++ {
		p := pts[i%len(pts)]
		for z := 10; z <= 18 && n < 50_000; z++ {
			t := maptile.At(orb.Point{p[0] + float64(i/len(pts))*0.003, p[1]}, maptile.Zoom(z))
			for _, f := range []string{"", "i.status=collected", "i.category=E0505"} {
				for _, scope := range []string{"keyed", "town:331082001"} {
					c.Put(tiles.NewKey([]string{tiles.LayerIncidents}, t, f, scope), body)
					c.Put(tiles.NewKey([]string{tiles.LayerHeatmap}, t, f, scope), body)
					n += 2
				}
			}
		}
	}
	start := time.Now()
	evicted := 0
	for _, p := range pts {
		evicted += c.EvictPoint([]string{tiles.LayerIncidents, tiles.LayerHeatmap}, p[0], p[1])
	}
	per := time.Since(start) / time.Duration(len(pts))
	return fmt.Sprintf("%.1f µs", us(per)), float64(evicted) / float64(len(pts))
}

// describeTile names a tile's shape: points, or counts per H3 cell as its
// meta layer says.
func describeTile(b []byte) string {
	if len(b) == 0 {
		return "empty"
	}
	if bytes.Contains(b, []byte("aggregated")) {
		return "counts per H3 cell (past the 5,000-point bound)"
	}
	return "points"
}
