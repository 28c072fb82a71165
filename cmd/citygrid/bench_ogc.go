package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
)

// ogcBox is about 1 km² of the demo city's built-up area (121.18–121.19 E,
// 28.860–28.869 N): some 500 of 1,000,000 seeded incidents.
var ogcBox = [4]float64{121.18, 28.860, 121.19, 28.869}

// benchOGC measures the GIS reads: OGC items of incidents in a 1 km² box
// and GET /v1/incidents of the same box as GeoJSON, both at 32 clients
// against pg_featureserv's query (ST_AsGeoJSON through a GiST index on a
// copy of the same rows) at 32 connections; what one request costs in CPU;
// and the 2,213 cells paged by 1,000.
func benchOGC(ctx context.Context, db *postgres.DB, cat *locate.Catalog, seeded int, sel func(string) bool, progress io.Writer) ([]benchRow, error) {
	if !sel("ogc-items") && !sel("ogc-v1") && !sel("ogc-cells") {
		return nil, nil
	}
	base, rm, stop, err := startBenchServer(ctx, db, cat)
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := rm.loaded(ctx); err != nil {
		return nil, err
	}
	key, err := db.CreateAPIKey(ctx, "planner", "", "bench")
	if err != nil {
		return nil, err
	}
	const clients = 32
	client := &http.Client{Transport: withKey{benchTransport(clients), key}, Timeout: time.Minute}
	box := fmt.Sprintf("%v,%v,%v,%v", ogcBox[0], ogcBox[1], ogcBox[2], ogcBox[3])
	get := func(u string) (int, error) {
		resp, err := client.Get(u)
		if err != nil {
			return 0, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, err
		}
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("%s: %d %.200s", u, resp.StatusCode, b)
		}
		return len(b), nil
	}
	var rows []benchRow
	scale := thousands(float64(seeded)) + " incidents stored"

	if sel("ogc-items") || sel("ogc-v1") {
		fmt.Fprintln(progress, "bench: OGC baseline: copying the incidents into a GiST-indexed table …")
		bl, err := prepareGeoJSONBaseline(ctx, db.Pool())
		if err != nil {
			return nil, err
		}
		defer bl.Drop()
		n, size, err := bl.Query(ctx, ogcBox, 1000)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "bench: OGC baseline: %d features in the box, 32 connections …\n", n)
		bst, err := drive(ctx, clients, time.Second, 5*time.Second, func() error {
			_, _, err := bl.Query(ctx, ogcBox, 1000)
			return err
		})
		if err != nil {
			return nil, err
		}
		// SQL alone, one client: the items query through the H3 cells
		// (what the service runs), the same columns through a GiST index (the
		// copy), and the baseline's ST_AsGeoJSON.
		sqlP50 := func(op func() error) (time.Duration, error) {
			var ds []time.Duration
			for range 41 {
				t := time.Now()
				if err := op(); err != nil {
					return 0, err
				}
				ds = append(ds, time.Since(t))
			}
			return percentile(ds[1:], 0.5), nil
		}
		snap := cat.Current()
		var cells []string
		snap.CellsMeeting(orb.Bound{Min: orb.Point{ogcBox[0], ogcBox[1]}, Max: orb.Point{ogcBox[2], ogcBox[3]}}, func(c *grid.Cell) bool {
			cells = append(cells, c.Code)
			return true
		})
		viaH3, err := sqlP50(func() error {
			_, err := db.IncidentFeatures(ctx, grid.FeatureQuery{Cells: cells, Limit: 1001,
				Where: grid.Intersects{Geometry: orb.Bound{Min: orb.Point{ogcBox[0], ogcBox[1]}, Max: orb.Point{ogcBox[2], ogcBox[3]}}}})
			return err
		})
		if err != nil {
			return nil, err
		}
		viaGiST, err := sqlP50(func() error { _, err := bl.Columns(ctx, ogcBox, 1001); return err })
		if err != nil {
			return nil, err
		}
		asGeoJSON, err := sqlP50(func() error { _, _, err := bl.Query(ctx, ogcBox, 1000); return err })
		if err != nil {
			return nil, err
		}
		cover, _ := hexbin.Meeting(orb.Bound{Min: orb.Point{ogcBox[0], ogcBox[1]}, Max: orb.Point{ogcBox[2], ogcBox[3]}}, 1<<20)
		rows = append(rows, benchRow{fmt.Sprintf("  SQL alone, one client, p50: the items query through the %d H3 cells meeting the box (no GiST index on incident)", len(cover)),
			fmt.Sprintf("%.1f ms", ms(viaH3)), fmt.Sprintf("%.1f ms the same columns through GiST (copy); %.1f ms ST_AsGeoJSON", ms(viaGiST), ms(asGeoJSON)),
			fmt.Sprintf("%.2f×", ms(asGeoJSON)/ms(viaH3)), "—", "—"})
		baseline := fmt.Sprintf("%s req/s, p50 %.1f ms ST_AsGeoJSON (GiST copy, %d features, %s KB)", thousands(bst.rate), ms(bst.p50), n, thousands(float64(size)/1024))
		for _, c := range []struct{ row, what, path string }{
			{"ogc-items", "OGC items, incidents in 1 km², limit=1000", "/ogc/collections/incidents/items?limit=1000&bbox="},
			{"ogc-v1", "GET /v1/incidents?bbox=…&f=geojson&limit=1000, the same box", "/v1/incidents?f=geojson&limit=1000&bbox="},
		} {
			if !sel(c.row) {
				continue
			}
			u := base + c.path + box
			got, err := featureCount(client, u)
			if err != nil {
				return nil, err
			}
			// Uncached: every request a box never asked before (its west
			// edge moved by ten nanometres more each time, which selects the
			// same incidents, and so does a cursor above every id);
			// cached: the same page again, as GIS desks ask for it.
			var seq atomic.Int64
			fresh := func() error {
				i := seq.Add(1)
				b := fmt.Sprintf("%v,%v,%v,%v", ogcBox[0]-float64(i)*1e-13, ogcBox[1], ogcBox[2], ogcBox[3])
				_, err := get(base + c.path + b + "&after=" + strconv.FormatInt(1<<62-i, 10))
				return err
			}
			again := func() error { _, err := get(u); return err }
			for _, m := range []struct {
				name string
				op   func() error
			}{{"uncached (every request a new query)", fresh}, {"cached (the same page again; evicted by writes)", again}} {
				fmt.Fprintf(progress, "bench: %s %s (%d features) at 32 clients …\n", c.row, m.name, got)
				st, err := drive(ctx, clients, time.Second, 5*time.Second, m.op)
				if err != nil {
					return nil, err
				}
				goCPU, pgCPU, one, err := cpuPerRequest(ctx, db, 100, m.op)
				if err != nil {
					return nil, err
				}
				ratio := st.rate / bst.rate
				rows = append(rows,
					benchRow{fmt.Sprintf("%s, %s, 32 clients (%s, %d features)", c.what, m.name, scale, got),
						fmt.Sprintf("%s req/s, p50 %.1f ms", thousands(st.rate), ms(st.p50)), baseline, fmt.Sprintf("%.2f×", ratio),
						"≥ 3× ST_AsGeoJSON; p50 ≤ 10 ms", yesNo(ratio >= 3 && ms(st.p50) <= 10)},
					benchRow{"  one request of it alone: latency; CPU of the service+client process and of PostgreSQL (mean of 100)",
						fmt.Sprintf("%.1f ms; CPU %.2f ms Go + %.2f ms PostgreSQL", ms(one), goCPU, pgCPU), "—", "—",
						"p50 ≤ 10 ms at 32 clients needs ≤ 0.6 ms CPU a request on 2 cores", "—"})
			}
		}
	}

	if sel("ogc-cells") {
		fmt.Fprintln(progress, "bench: OGC cells paged by 1,000 …")
		var pages []time.Duration
		for range 15 {
			u := base + "/ogc/collections/cells/items?limit=1000"
			for u != "" {
				start := time.Now()
				next, err := nextLink(client, u)
				if err != nil {
					return nil, err
				}
				pages = append(pages, time.Since(start))
				u = next
			}
		}
		p50 := percentile(pages, 0.5)
		rows = append(rows, benchRow{fmt.Sprintf("OGC items, the 2,213 cells paged by 1,000 (%d pages, one client)", len(pages)),
			fmt.Sprintf("p50 %.1f ms a page", ms(p50)), "—", "—", "p50 ≤ 20 ms a page", yesNo(ms(p50) <= 20)})
	}
	return rows, nil
}

// featureCount reads one answer and counts its features.
func featureCount(client *http.Client, u string) (int, error) {
	resp, err := client.Get(u)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var fc struct{ Features []json.RawMessage }
	if err := json.NewDecoder(resp.Body).Decode(&fc); err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %d %v", u, resp.StatusCode, err)
	}
	return len(fc.Features), nil
}

// nextLink reads a page and returns its next link ("" on the last).
func nextLink(client *http.Client, u string) (string, error) {
	resp, err := client.Get(u)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var fc struct{ Links []struct{ Rel, Href string } }
	if err := json.NewDecoder(resp.Body).Decode(&fc); err != nil || resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s: %d %v", u, resp.StatusCode, err)
	}
	for _, l := range fc.Links {
		if l.Rel == "next" {
			return l.Href, nil
		}
	}
	return "", nil
}

// cpuPerRequest runs op n times in a row and returns the mean CPU time
// (ms) this process spent (the service and the client) and the mean the
// PostgreSQL backends of the service's pool spent, with the mean latency.
// The PostgreSQL share is read from /proc (0 where it cannot be read).
func cpuPerRequest(ctx context.Context, db *postgres.DB, n int, op func() error) (goMS, pgMS float64, mean time.Duration, err error) {
	pids := func() []int {
		rows, err := db.Pool().Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = 'citygrid'`)
		if err != nil {
			return nil
		}
		defer rows.Close()
		var out []int
		for rows.Next() {
			var p int
			if rows.Scan(&p) == nil {
				out = append(out, p)
			}
		}
		return out
	}
	for range 10 { // warm the statements and the pool
		if err := op(); err != nil {
			return 0, 0, 0, err
		}
	}
	backends := pids()
	pg0 := procCPU(backends)
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	for range n {
		if err := op(); err != nil {
			return 0, 0, 0, err
		}
	}
	took := time.Since(start)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	pg1 := procCPU(backends)
	cpu := func(r syscall.Rusage) time.Duration {
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	goMS = ms(cpu(ru1)-cpu(ru0)) / float64(n)
	pgMS = ms(pg1-pg0) / float64(n)
	return goMS, pgMS, took / time.Duration(n), nil
}

// procCPU sums the user and system CPU time of processes from /proc.
func procCPU(pids []int) time.Duration {
	const hz = 100 // USER_HZ on Linux
	var ticks int64
	for _, p := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/stat")
		if err != nil {
			continue
		}
		s := string(b)
		// Fields after the command name in parentheses; utime and stime
		// are fields 14 and 15 of the whole line.
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 13 {
			continue
		}
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += u + st
	}
	return time.Duration(ticks) * time.Second / hz
}

// geoJSONBaseline is the baseline of the OGC items rows: the query a
// PostGIS feature server (pg_featureserv) runs for a bbox, ST_AsGeoJSON of
// whole rows through a GiST index, on a copy of the incident table that has
// one (the incident table itself keeps no GiST index, so bulk ingest stays
// fast).
type geoJSONBaseline struct{ pool *pgxpool.Pool }

func prepareGeoJSONBaseline(ctx context.Context, pool *pgxpool.Pool) (*geoJSONBaseline, error) {
	for _, q := range []string{
		`DROP TABLE IF EXISTS bench_incident_gist`,
		`CREATE UNLOGGED TABLE bench_incident_gist AS SELECT * FROM incident`,
		`CREATE INDEX ON bench_incident_gist USING gist (geom)`,
		`VACUUM ANALYZE bench_incident_gist`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("bench: GiST copy: %w", err)
		}
	}
	return &geoJSONBaseline{pool}, nil
}

// Query runs the baseline once: the features of a box (WGS84), at most
// limit, each a GeoJSON Feature built by PostGIS; it returns how many and
// their bytes.
func (b *geoJSONBaseline) Query(ctx context.Context, box [4]float64, limit int) (n, size int, err error) {
	rows, err := b.pool.Query(ctx, `SELECT ST_AsGeoJSON(t.*)::text FROM bench_incident_gist t
		WHERE ST_Intersects(t.geom, ST_MakeEnvelope($1, $2, $3, $4, 4326)) LIMIT $5`, box[0], box[1], box[2], box[3], limit)
	if err != nil {
		return 0, 0, err
	}
	var s string
	_, err = pgx.ForEachRow(rows, []any{&s}, func() error {
		n++
		size += len(s)
		return nil
	})
	return n, size, err
}

// Columns reads the columns the items query reads (undecoded), for the
// same box, through the copy's GiST index: what one on the incident table
// would give that query.
func (b *geoJSONBaseline) Columns(ctx context.Context, box [4]float64, limit int) (int, error) {
	rows, err := b.pool.Query(ctx, `SELECT id, occurred_at, received_at, category, ST_X(geom), ST_Y(geom), h3, source, description,
		external_id, status, cell_code, community_code, town_code, department_code, rule_id, grid_version, deadline,
		registered_at, dispatched_at, handled_at, closed_at, reworks, extensions, supervised, parked_from
		FROM bench_incident_gist WHERE ST_Intersects(geom, ST_MakeEnvelope($1, $2, $3, $4, 4326)) ORDER BY id DESC LIMIT $5`,
		box[0], box[1], box[2], box[3], limit)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		_ = rows.RawValues()
		n++
	}
	return n, rows.Err()
}

// Drop removes the copy.
func (b *geoJSONBaseline) Drop() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = b.pool.Exec(ctx, `DROP TABLE IF EXISTS bench_incident_gist`)
}
