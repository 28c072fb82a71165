package postgres

import (
	"context"
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
