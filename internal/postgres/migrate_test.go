package postgres_test

import (
	"io/fs"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/citygrid/citygrid/migrations"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/tern/v2/migrate"
)

// migrateTo moves the schema to version v with tern alone (no rollup
// rebuild).
func migrateTo(t *testing.T, db *postgres.DB, v int32) {
	t.Helper()
	ctx := ctxT(t)
	conn, err := db.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), "schema_version")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.LoadMigrations(migrations.FS); err != nil {
		t.Fatal(err)
	}
	if err := m.MigrateTo(ctx, v); err != nil {
		t.Fatal(err)
	}
}

// latestSchema is the number of the last migration.
func latestSchema(t *testing.T) int32 {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("migrations: %v %v", names, err)
	}
	return int32(len(names))
}

// insertOldFormat writes incidents as the service of migration 006 did:
// the incident rows, and one rollup row per (category, local day) of the
// resolution-9 parents of their cells.
func insertOldFormat(t *testing.T, db *postgres.DB, xs []grid.Incident) {
	t.Helper()
	ctx := ctxT(t)
	err := pgx.BeginFunc(ctx, db.Pool(), func(tx pgx.Tx) error {
		var ids []int64
		for _, x := range xs {
			var id int64
			if err := tx.QueryRow(ctx, `INSERT INTO incident (occurred_at, received_at, category, geom, h3, source, status,
				cell_code, community_code, town_code, department_code, grid_version, deadline)
				VALUES ($1, $2, $3, ST_SetSRID(ST_MakePoint($4, $5), 4326), $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING id`,
				x.OccurredAt, x.ReceivedAt, x.Category, x.Point[0], x.Point[1], int64(x.H3), x.Source, x.Status,
				x.CellCode, x.CommunityCode, x.TownCode, x.Department, x.GridVersion, x.Deadline).Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		_, err := tx.Exec(ctx, `INSERT INTO h3_rollup (category, day, hours, cells, counts)
			SELECT category, day, array_agg(hour), array_agg(h3), array_agg(n) FROM (
				SELECT category, (occurred_at AT TIME ZONE 'Asia/Shanghai')::date AS day,
					extract(hour FROM occurred_at AT TIME ZONE 'Asia/Shanghai')::smallint AS hour, h3_parent(h3, 9) AS h3, count(*)::int AS n
				FROM incident WHERE id = ANY($1)
				GROUP BY 1, 2, 3, 4) e GROUP BY 1, 2`, ids)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestUpgradeRebuildsExactTownRollups: a database at migration 006 with
// incidents in its rollup format — some written by this service before a
// downgrade, some by the service of 006 — is migrated; incidents written
// between the schema change and the rebuild count once; afterwards every
// heatmap, by resolution and town, is latLngToCell's, from memory and from
// SQL. The downgrade itself gives 006's rows: resolution-9 parents of the
// stored cells.
func TestUpgradeRebuildsExactTownRollups(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := ctxT(t)
	r := rand.New(rand.NewPCG(31, 32))
	pts := heatPoints(t, r, 400)
	xs := make([]grid.Incident, len(pts))
	for i, p := range pts {
		xs[i] = heatIncident(t, r, p)
	}
	n := len(xs) / 5
	before, old, after := xs[:n], xs[n:4*n], xs[4*n:]
	if _, err := db.BulkCreate(ctx, before); err != nil {
		t.Fatal(err)
	}

	migrateTo(t, db, 6)
	var mismatched int
	if err := db.Pool().QueryRow(ctx, `
		WITH r AS (
			SELECT r.category, r.day, u.hour, u.h3, sum(u.n) AS n FROM h3_rollup r, unnest(r.hours, r.cells, r.counts) AS u(hour, h3, n) GROUP BY 1, 2, 3, 4
		), i AS (
			SELECT category, (occurred_at AT TIME ZONE 'Asia/Shanghai')::date AS day, extract(hour FROM occurred_at AT TIME ZONE 'Asia/Shanghai')::smallint AS hour,
				h3_parent(h3, 9) AS h3, count(*) AS n FROM incident GROUP BY 1, 2, 3, 4
		)
		SELECT count(*) FROM r FULL JOIN i USING (category, day, hour, h3) WHERE r.n IS DISTINCT FROM i.n`).Scan(&mismatched); err != nil {
		t.Fatal(err)
	}
	if mismatched != 0 {
		t.Fatalf("after the downgrade, %d rollup entries differ from the resolution-9 parents of the incidents", mismatched)
	}
	insertOldFormat(t, db, old)

	// The schema changes alone (007 and those after it, which this
	// service's writes need), then writes of this service, then the
	// rebuild (as the next start's migrate runs it).
	migrateTo(t, db, latestSchema(t))
	var through int64
	if err := db.Pool().QueryRow(ctx, `SELECT through FROM h3_rollup_rebuild`).Scan(&through); err != nil {
		t.Fatalf("no rebuild pending after migration 007: %v", err)
	}
	for i := range after[:20] {
		if _, err := db.CreateIncident(ctx, &after[i], "test"); err != nil {
			t.Fatal(err)
		}
		if after[i].ID <= through {
			t.Fatalf("an incident written after the migration has id %d ≤ %d", after[i].ID, through)
		}
	}
	if _, err := db.BulkCreate(ctx, after[20:]); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Migrate(ctx); err != nil { // nothing left to do
		t.Fatal(err)
	}
	if c := count(t, db, `SELECT count(*) FROM h3_rollup_rebuild`); c != 0 {
		t.Errorf("%d rebuild rows left", c)
	}

	raw := storedIncidents(t, db)
	if len(raw) != len(xs) {
		t.Fatalf("%d incidents stored, want %d", len(raw), len(xs))
	}
	heat := hexbin.NewHeat(db, db, grid.ChinaTime())
	if err := heat.Load(ctx); err != nil {
		t.Fatal(err)
	}
	cst := grid.ChinaTime()
	for res := 5; res <= 10; res++ {
		for _, towns := range [][]string{nil, {heatTowns[1]}, {heatTowns[0], heatTowns[3]}} {
			q := grid.HeatQuery{Categories: heatCats, Res: res, Towns: towns,
				From: time.Date(2026, 3, 1, 0, 0, 0, 0, cst), To: time.Date(2026, 3, 8, 0, 0, 0, 0, cst)}
			want := latLngToCellCounts(t, raw, q)
			mem, err := heat.Heatmap(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(cellCounts(mem), want); d != "" {
				t.Errorf("memory, res %d, towns %v: %s", res, towns, d)
			}
			sq, err := db.Heatmap(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(cellCounts(sq), want); d != "" {
				t.Errorf("SQL, res %d, towns %v: %s", res, towns, d)
			}
		}
	}
}
