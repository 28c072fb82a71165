package postgres

import (
	"context"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// RawCopyRate measures the baseline ingest of `citygrid bench`: pgx
// CopyFrom of n incident-shaped rows, H3 and EWKB computed per row, into a
// scratch table with the incident table's columns and indexes.
func (db *DB) RawCopyRate(ctx context.Context, n int) (rate float64, err error) {
	defer wrap(&err, "RawCopyRate(%d)", n)
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `DROP TABLE IF EXISTS bench_incident; CREATE TEMP TABLE bench_incident (LIKE incident INCLUDING DEFAULTS INCLUDING INDEXES)`); err != nil {
		return 0, err
	}
	defer conn.Exec(context.Background(), `DROP TABLE IF EXISTS bench_incident`) //nolint:errcheck
	var dept string
	if err := conn.QueryRow(ctx, `SELECT code FROM department ORDER BY code LIMIT 1`).Scan(&dept); err != nil {
		return 0, err
	}
	var ver int64
	if err := conn.QueryRow(ctx, `SELECT id FROM grid_version WHERE active`).Scan(&ver); err != nil {
		return 0, err
	}
	now := time.Now()
	i := 0
	src := pgx.CopyFromFunc(func() ([]any, error) {
		if i == n {
			return nil, nil
		}
		lon := 121.0 + float64(i%1000)*0.0003
		lat := 28.8 + float64(i/1000%1000)*0.0002
		c, err := h3.LatLngToCell(h3.NewLatLng(lat, lon), 10)
		if err != nil {
			return nil, err
		}
		i++
		t := now.Add(-time.Duration(i) * time.Second)
		return []any{int64(i), t, now, "E0505", pointEWKB(orb.Point{lon, lat}), int64(c), "collector", "",
			"registered", "331082001001001", "331082001001", "331082001", dept, ver, t}, nil
	})
	start := time.Now()
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"bench_incident"}, []string{"id", "occurred_at", "received_at", "category", "geom", "h3",
		"source", "description", "status", "cell_code", "community_code", "town_code", "department_code", "grid_version", "deadline"}, src); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// HeatmapBaselines times the two ways a PostGIS-backed server would answer
// a heatmap, on the same incidents: a GROUP BY over the raw table's stored
// H3 cells (parallel workers allowed), and on-the-fly binning into an
// ST_HexagonGrid of about the same cell size, with the points copied into
// a GiST-indexed scratch table first (not timed).
func (db *DB) HeatmapBaselines(ctx context.Context, cats []string, res int, from, to time.Time) (groupBy, hexGrid time.Duration, err error) {
	defer wrap(&err, "HeatmapBaselines")
	conn, err := db.pool.Acquire(ctx)
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
