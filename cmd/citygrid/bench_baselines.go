package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// The baselines the bench holds the service's figures against: what the
// database does alone, or what a PostGIS-backed server would do instead.

// rawCopyRate measures the baseline ingest: n incident rows of the active
// grid, assigned beforehand, copied alone into the incident table (see
// postgres.Baselines.RawCopyRate).
func rawCopyRate(ctx context.Context, db *postgres.DB, n int) (float64, error) {
	pool := db.Pool()
	var dept string
	if err := pool.QueryRow(ctx, `SELECT code FROM department ORDER BY code LIMIT 1`).Scan(&dept); err != nil {
		return 0, fmt.Errorf("bench: raw COPY: %w", err)
	}
	var ver int64
	if err := pool.QueryRow(ctx, `SELECT id FROM grid_version WHERE active`).Scan(&ver); err != nil {
		return 0, fmt.Errorf("bench: raw COPY: %w", err)
	}
	rows, err := pool.Query(ctx, `SELECT code FROM cell WHERE version_id = $1 ORDER BY code`, ver)
	if err != nil {
		return 0, fmt.Errorf("bench: raw COPY: %w", err)
	}
	cells, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(cells) == 0 {
		return 0, fmt.Errorf("bench: raw COPY: cells of version %d: %d, %v", ver, len(cells), err)
	}
	now := time.Now()
	xs := make([]grid.Incident, n)
	// Points scattered as reports are, not in a lattice: consecutive rows
	// on a line meet the H3 index (incident_h3) in order, which no stream
	// of reports does (on a 1,200,000 cluster the lattice copied
	// 136–138,000 rows/s, scattered points 99–117,000).
	rng := rand.New(rand.NewPCG(uint64(n), 3))
	for i := range xs {
		lon := 121.0 + rng.Float64()*0.3
		lat := 28.8 + rng.Float64()*0.2
		c, err := h3.LatLngToCell(h3.NewLatLng(lat, lon), 10)
		if err != nil {
			return 0, err
		}
		t := now.Add(-time.Duration(i%(300*24)) * time.Hour)
		cell := cells[(i*7919)%len(cells)]
		xs[i] = grid.Incident{ID: -int64(i + 1), OccurredAt: t, ReceivedAt: now, Category: "E0505", Point: orb.Point{lon, lat}, H3: uint64(c),
			Source: "collector", Status: grid.StatusRegistered, CellCode: cell, CommunityCode: cell[:12], TownCode: cell[:9],
			Department: dept, GridVersion: ver, Deadline: t.Add(4 * time.Hour)}
	}
	return postgres.NewBaselines(db).RawCopyRate(ctx, xs)
}

// heatmapBaselines times the two ways a PostGIS-backed server would answer
// a heatmap, on the same incidents: a GROUP BY over the raw table's stored
// H3 cells (parallel workers allowed), and on-the-fly binning into an
// ST_HexagonGrid of about the same cell size, with the points copied into
// a GiST-indexed scratch table first (not timed).
func heatmapBaselines(ctx context.Context, pool *pgxpool.Pool, cats []string, res int, from, to time.Time) (groupBy, hexGrid time.Duration, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("bench: heatmap baselines: %w", err)
		}
	}()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET max_parallel_workers_per_gather = 2`); err != nil {
		return 0, 0, err
	}
	defer conn.Exec(context.Background(), `RESET max_parallel_workers_per_gather; DROP TABLE IF EXISTS bench_points`) //nolint:errcheck
	var ds []time.Duration
	for range 3 {
		start := time.Now()
		rows, err := conn.Query(ctx, `SELECT h3_parent(h3, $4), count(*) FROM incident
			WHERE category = ANY($1) AND occurred_at >= $2 AND occurred_at < $3 GROUP BY 1`, cats, from, to, res)
		if err != nil {
			return 0, 0, err
		}
		for rows.Next() {
		}
		rows.Close()
		if rows.Err() != nil {
			return 0, 0, rows.Err()
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	groupBy = ds[1]
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS bench_points`); err != nil {
		return 0, 0, err
	}
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE bench_points AS SELECT geom FROM incident
		WHERE category = ANY($1) AND occurred_at >= $2 AND occurred_at < $3`, cats, from, to); err != nil {
		return 0, 0, err
	}
	if _, err := conn.Exec(ctx, `CREATE INDEX ON bench_points USING gist (geom); ANALYZE bench_points`); err != nil {
		return 0, 0, err
	}
	// An H3 res-8 cell is about 0.74 km²; a hexagon of edge 0.0048° (about
	// 480 m by 530 m at 29° N) has about the same area.
	start := time.Now()
	rows, err := conn.Query(ctx, `SELECT h.i, h.j, count(*) FROM
		ST_HexagonGrid(0.0048, (SELECT ST_SetSRID(ST_Extent(geom), 4326) FROM bench_points)) h
		JOIN bench_points p ON ST_Intersects(h.geom, p.geom) GROUP BY 1, 2`)
	if err != nil {
		return 0, 0, err
	}
	for rows.Next() {
	}
	rows.Close()
	return groupBy, time.Since(start), rows.Err()
}
