package postgres

import (
	"context"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/ewkb"
	"github.com/uber/h3-go/v4"
)

// SeedIncident is an assigned incident with its synthetic lifecycle, as the
// seeder writes it in bulk.
type SeedIncident struct {
	grid.Incident
	RuleID       int64
	RegisteredAt *time.Time
	DispatchedAt *time.Time
	HandledAt    *time.Time
	ClosedAt     *time.Time
	Reworks      int
	Extensions   int
	Supervised   bool
}

var incidentColumns = []string{"occurred_at", "received_at", "category", "geom", "h3", "source", "description",
	"status", "cell_code", "community_code", "town_code", "department_code", "rule_id", "grid_version", "deadline",
	"registered_at", "dispatched_at", "handled_at", "closed_at", "reworks", "extensions", "supervised"}

// EnsurePartitions creates the monthly incident partitions covering [from, to).
func (db *DB) EnsurePartitions(ctx context.Context, from, to time.Time) error {
	_, err := db.pool.Exec(ctx, `SELECT citygrid_ensure_partitions($1, $2)`, from, to)
	return err
}

// CopyIncidents writes a batch of assigned incidents with COPY, and brings
// the H3 rollups up to date, in one transaction: the batch is stored whole
// or not at all. Ids are drawn from the incident sequence.
func (db *DB) CopyIncidents(ctx context.Context, batch []SeedIncident) (err error) {
	defer wrap(&err, "CopyIncidents(%d)", len(batch))
	type key struct {
		day      time.Time
		category string
		h3       int64
	}
	roll := map[key]int{}
	for i := range batch {
		x := &batch[i]
		p, err := h3.Cell(x.H3).Parent(9)
		if err != nil {
			return grid.Errorf(grid.Invalid, "incident %d: h3 %x: %v", i, x.H3, err)
		}
		d := x.OccurredAt.In(cst)
		roll[key{time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, time.UTC), x.Category, int64(p)}]++
	}
	return pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		now := time.Now()
		i := 0
		src := pgx.CopyFromFunc(func() ([]any, error) {
			if i == len(batch) {
				return nil, nil
			}
			x := &batch[i]
			i++
			var rule *int64
			if x.RuleID != 0 {
				rule = &x.RuleID
			}
			return []any{x.OccurredAt, now, x.Category, pointEWKB(x.Point), int64(x.H3), x.Source, x.Description,
				x.Status, x.CellCode, x.CommunityCode, x.TownCode, x.Department, rule, x.GridVersion, x.Deadline,
				x.RegisteredAt, x.DispatchedAt, x.HandledAt, x.ClosedAt, x.Reworks, x.Extensions, x.Supervised}, nil
		})
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"incident"}, incidentColumns, src); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TEMP TABLE rollup_in (day date, category text, h3 bigint, n integer) ON COMMIT DROP`); err != nil {
			return err
		}
		rows := make([][]any, 0, len(roll))
		for k, n := range roll {
			rows = append(rows, []any{k.day, k.category, k.h3, n})
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"rollup_in"}, []string{"day", "category", "h3", "n"}, pgx.CopyFromRows(rows)); err != nil {
			return err
		}
		// In key order, so concurrent batches lock rollup rows in the same
		// order and cannot deadlock.
		_, err := tx.Exec(ctx, `INSERT INTO h3_rollup (day, category, h3, n) SELECT day, category, h3, n FROM rollup_in
			ORDER BY day, category, h3
			ON CONFLICT (day, category, h3) DO UPDATE SET n = h3_rollup.n + excluded.n`)
		return err
	})
}

// cst is China Standard Time: rollup days are local days.
var cst = time.FixedZone("CST", 8*3600)

// pointEWKB encodes a point as little-endian EWKB with SRID 4326: the
// binary COPY format of a PostGIS geometry.
func pointEWKB(p orb.Point) []byte {
	b, _ := ewkb.Marshal(p, 4326)
	return b
}

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
