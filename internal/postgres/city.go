package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/ewkb"
	"github.com/paulmach/orb/encoding/wkb"
)

// NotifyChannel carries the id of a newly activated grid version, so every
// replica swaps its snapshot.
const NotifyChannel = "citygrid_grid_version"

func geomEWKB(g orb.Geometry) ([]byte, error) { return ewkb.Marshal(g, 4326) }

// HasGrid reports whether any grid version is active.
func (db *DB) HasGrid(ctx context.Context) (bool, error) {
	var ok bool
	err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM grid_version WHERE active)`).Scan(&ok)
	return ok, db.classify(err)
}

// LoadCity writes a whole city — reference data and a new grid version of
// its towns, communities, cells and zones — in one transaction, activates the
// version and returns its id. Reference data (departments, categories,
// rules, facilities) is upserted.
func (db *DB) LoadCity(ctx context.Context, c *grid.City, source string) (id int64, err error) {
	defer wrap(&err, "LoadCity(%q)", source)
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if err := upsertReference(ctx, tx, c); err != nil {
			return err
		}
		id, err = insertVersion(ctx, tx, source, "")
		if err != nil {
			return err
		}
		if err := insertModel(ctx, tx, id, c); err != nil {
			return err
		}
		return activate(ctx, tx, id)
	})
	return id, err
}

func insertVersion(ctx context.Context, tx pgx.Tx, source, note string) (int64, error) {
	var id int64
	err := tx.QueryRow(ctx, `INSERT INTO grid_version (source, note) VALUES ($1, $2) RETURNING id`, source, note).Scan(&id)
	return id, err
}

// activate makes version id the active one, records it in the audit log
// and tells every replica.
func activate(ctx context.Context, tx pgx.Tx, id int64) error {
	if _, err := tx.Exec(ctx, `UPDATE grid_version SET active = false WHERE active`); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE grid_version SET active = true, activated_at = clock_timestamp() WHERE id = $1`, id); err != nil {
		return err
	}
	if err := insertAudit(ctx, tx, grid.AuditGridActivate, "grid_version:"+strconv.FormatInt(id, 10), "", nil); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, NotifyChannel, strconv.FormatInt(id, 10))
	return err
}

func insertModel(ctx context.Context, tx pgx.Tx, id int64, c *grid.City) error {
	b := &pgx.Batch{}
	// queue adds one row; its polygon is the statement's last parameter.
	queue := func(level, code string, mp orb.MultiPolygon, sql string, args ...any) error {
		g, err := geomEWKB(mp)
		if err != nil {
			return fmt.Errorf("%s %s: %w", level, code, err)
		}
		b.Queue(sql, append(args, g)...)
		return nil
	}
	for _, t := range c.Towns {
		if err := queue("town", t.Code, t.Geometry, `INSERT INTO town (version_id, code, name, kind, geom, area_m2)
			SELECT $1, $2, $3, $4, g, ST_Area(g::geography) FROM ST_Multi(ST_GeomFromEWKB($5)) g`, id, t.Code, t.Name, t.Kind); err != nil {
			return err
		}
	}
	for _, m := range c.Communities {
		if err := queue("community", m.Code, m.Geometry, `INSERT INTO community (version_id, code, name, town_code, geom, area_m2)
			SELECT $1, $2, $3, $4, g, ST_Area(g::geography) FROM ST_Multi(ST_GeomFromEWKB($5)) g`, id, m.Code, m.Name, m.TownCode); err != nil {
			return err
		}
	}
	for _, x := range c.Cells {
		if err := queue("cell", x.Code, x.Geometry, `INSERT INTO cell (version_id, code, name, community_code, town_code, geom, area_m2)
			SELECT $1, $2, $3, $4, $5, g, ST_Area(g::geography) FROM ST_Multi(ST_GeomFromEWKB($6)) g`, id, x.Code, x.Name, x.CommunityCode, x.TownCode); err != nil {
			return err
		}
	}
	for _, z := range c.Zones {
		if err := queue("zone", z.Code, z.Geometry, `INSERT INTO zone (version_id, code, name, kind, geom) VALUES ($1, $2, $3, $4, ST_Multi(ST_GeomFromEWKB($5)))`,
			id, z.Code, z.Name, z.Kind); err != nil {
			return err
		}
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	code, name := c.Code, c.Name
	if code == "" {
		code = grid.CountyCode
	}
	if len(c.Boundary) > 0 {
		g, err := geomEWKB(c.Boundary)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO city (version_id, code, name, synthetic, geom) VALUES ($1, $2, $3, $4, ST_Multi(ST_GeomFromEWKB($5)))`,
			id, code, name, c.Synthetic, g)
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO city (version_id, code, name, synthetic, geom)
		SELECT $1, $2, $3, $4, ST_Multi(ST_Union(geom)) FROM town WHERE version_id = $1`, id, code, name, c.Synthetic)
	return err
}

func upsertReference(ctx context.Context, tx pgx.Tx, c *grid.City) error {
	b := &pgx.Batch{}
	for _, d := range c.Departments {
		var town *string
		if d.Kind == grid.DeptTown {
			town = &d.TownCode
		}
		b.Queue(`INSERT INTO department (code, name, kind, town_code) VALUES ($1, $2, $3, $4)
			ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind, town_code = excluded.town_code`,
			d.Code, d.Name, d.Kind, town)
	}
	for _, k := range c.Categories {
		b.Queue(`INSERT INTO category (code, name, major_name, time_limit, unit, theme) VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (code) DO UPDATE SET name = excluded.name, major_name = excluded.major_name,
			  time_limit = excluded.time_limit, unit = excluded.unit, theme = excluded.theme`,
			k.Code, k.Name, k.MajorName, k.Limit, k.Unit, k.Theme)
	}
	for _, r := range c.Rules {
		b.Queue(`INSERT INTO responsibility_rule (id, pattern, scope, scope_code, department_code, priority, fallback, note)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
			ON CONFLICT (id) DO UPDATE SET pattern = excluded.pattern, scope = excluded.scope, scope_code = excluded.scope_code,
			  department_code = excluded.department_code, priority = excluded.priority, fallback = excluded.fallback, note = excluded.note`,
			r.ID, r.Pattern, r.Scope, r.ScopeCode, r.Department, r.Priority, r.Fallback, r.Note)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return err
	}
	if len(c.Facilities) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE facility_in (LIKE facility) ON COMMIT DROP`); err != nil {
		return err
	}
	rows := make([][]any, 0, len(c.Facilities))
	for _, f := range c.Facilities {
		g, err := geomEWKB(f.Point)
		if err != nil {
			return err
		}
		attrs := f.Attrs
		if attrs == nil {
			attrs = map[string]string{}
		}
		aj, err := json.Marshal(attrs)
		if err != nil {
			return err
		}
		rows = append(rows, []any{f.Code, f.Kind, f.Name, g, string(aj)})
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"facility_in"}, []string{"code", "kind", "name", "geom", "attrs"}, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO facility SELECT * FROM facility_in
		ON CONFLICT (code) DO UPDATE SET kind = excluded.kind, name = excluded.name, geom = excluded.geom, attrs = excluded.attrs`)
	return err
}

// Versions lists every grid version, newest first, with its counts.
func (db *DB) Versions(ctx context.Context) (vs []grid.Version, err error) {
	defer wrap(&err, "Versions")
	rows, err := db.pool.Query(ctx, `
		SELECT v.id, v.created_at, v.activated_at, v.active, v.source, v.note,
		  (SELECT count(*) FROM cell WHERE version_id = v.id),
		  (SELECT count(*) FROM community WHERE version_id = v.id),
		  (SELECT count(*) FROM town WHERE version_id = v.id),
		  (SELECT count(*) FROM zone WHERE version_id = v.id)
		FROM grid_version v ORDER BY v.id DESC`)
	if err != nil {
		return nil, db.classify(err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (grid.Version, error) {
		var v grid.Version
		err := r.Scan(&v.ID, &v.CreatedAt, &v.ActivatedAt, &v.Active, &v.Source, &v.Note, &v.Cells, &v.Communities, &v.Towns, &v.Zones)
		return v, err
	})
}

// Cell returns one cell of a version (0: the active one). NotFound when the
// code or version does not exist.
func (db *DB) Cell(ctx context.Context, version int64, code string) (c grid.Cell, err error) {
	defer wrap(&err, "Cell(%d, %q)", version, code)
	var g []byte
	err = db.pool.QueryRow(ctx, `
		SELECT c.code, c.name, c.community_code, c.town_code, ST_AsBinary(c.geom)
		FROM cell c JOIN grid_version v ON v.id = c.version_id
		WHERE c.code = $1 AND (v.id = $2 OR ($2 = 0 AND v.active))`, code, version).
		Scan(&c.Code, &c.Name, &c.CommunityCode, &c.TownCode, &g)
	if notFound(err) {
		return c, grid.Errorf(grid.NotFound, "no cell %s in grid version %s", code, versionName(version))
	}
	if err != nil {
		return c, db.classify(err)
	}
	c.Geometry, err = scanMulti(g)
	return c, err
}

func versionName(v int64) string {
	if v == 0 {
		return "active"
	}
	return strconv.FormatInt(v, 10)
}

// classify is the package's classify, for the store methods that call it.
func (db *DB) classify(err error) error { return classify(err) }

func scanMulti(b []byte) (orb.MultiPolygon, error) {
	g, err := wkb.Unmarshal(b)
	if err != nil {
		return nil, err
	}
	switch g := g.(type) {
	case orb.MultiPolygon:
		return g, nil
	case orb.Polygon:
		return orb.MultiPolygon{g}, nil
	}
	return nil, fmt.Errorf("geometry is %s, want a polygon", g.GeoJSONType())
}

// ActiveModel loads the active grid version with every reference table.
func (db *DB) ActiveModel(ctx context.Context) (*grid.Model, error) {
	return db.Model(ctx, 0)
}

// Model loads one grid version (0: the active one) with every reference
// table, in one consistent read.
func (db *DB) Model(ctx context.Context, version int64) (m *grid.Model, err error) {
	defer wrap(&err, "Model(%d)", version)
	// Thousands of polygons, read when a version is activated: batch work.
	tx, err := db.batch.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, db.classify(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	m = &grid.Model{City: &grid.City{}}
	err = tx.QueryRow(ctx, `SELECT id, created_at, activated_at, active, source, note FROM grid_version
		WHERE id = $1 OR ($1 = 0 AND active)`, version).
		Scan(&m.Version.ID, &m.Version.CreatedAt, &m.Version.ActivatedAt, &m.Version.Active, &m.Version.Source, &m.Version.Note)
	if notFound(err) && version == 0 {
		return nil, grid.Errorf(grid.Unavailable, "no active grid version")
	}
	if notFound(err) {
		return nil, grid.Errorf(grid.NotFound, "no grid version %d", version)
	}
	if err != nil {
		return nil, db.classify(err)
	}
	if err := readModel(ctx, tx, m.Version.ID, m.City); err != nil {
		return nil, err
	}
	m.Version.Cells, m.Version.Communities, m.Version.Towns, m.Version.Zones = len(m.City.Cells), len(m.City.Communities), len(m.City.Towns), len(m.City.Zones)
	return m, nil
}

// into collects rows with scan into *dst.
func into[T any](dst *[]T, scan func(r pgx.CollectableRow) (T, error)) func(pgx.Rows) error {
	return func(rows pgx.Rows) (err error) {
		*dst, err = pgx.CollectRows(rows, scan)
		return err
	}
}

// readModel reads one grid version and the reference data into c, one
// query per table, every error returned.
func readModel(ctx context.Context, tx pgx.Tx, id int64, c *grid.City) error {
	var g []byte
	err := tx.QueryRow(ctx, `SELECT code, name, synthetic, ST_AsBinary(geom) FROM city WHERE version_id = $1`, id).Scan(&c.Code, &c.Name, &c.Synthetic, &g)
	if err != nil && !notFound(err) {
		return err
	}
	if g != nil {
		if c.Boundary, err = scanMulti(g); err != nil {
			return err
		}
	}
	// geom scans a polygon column, the last of the row, after the others.
	geom := func(r pgx.CollectableRow, dst *orb.MultiPolygon, cols ...any) error {
		var g []byte
		if err := r.Scan(append(cols, &g)...); err != nil {
			return err
		}
		var err error
		*dst, err = scanMulti(g)
		return err
	}
	version := []any{id}
	for _, q := range []struct {
		sql     string
		args    []any
		collect func(pgx.Rows) error
	}{
		{`SELECT code, name, kind, ST_AsBinary(geom) FROM town WHERE version_id = $1 ORDER BY code`, version,
			into(&c.Towns, func(r pgx.CollectableRow) (t grid.Town, err error) {
				return t, geom(r, &t.Geometry, &t.Code, &t.Name, &t.Kind)
			})},
		{`SELECT code, name, town_code, ST_AsBinary(geom) FROM community WHERE version_id = $1 ORDER BY code`, version,
			into(&c.Communities, func(r pgx.CollectableRow) (m grid.Community, err error) {
				return m, geom(r, &m.Geometry, &m.Code, &m.Name, &m.TownCode)
			})},
		{`SELECT code, name, community_code, town_code, ST_AsBinary(geom) FROM cell WHERE version_id = $1 ORDER BY code`, version,
			into(&c.Cells, func(r pgx.CollectableRow) (x grid.Cell, err error) {
				return x, geom(r, &x.Geometry, &x.Code, &x.Name, &x.CommunityCode, &x.TownCode)
			})},
		{`SELECT code, name, kind, ST_AsBinary(geom) FROM zone WHERE version_id = $1 ORDER BY code`, version,
			into(&c.Zones, func(r pgx.CollectableRow) (z grid.Zone, err error) {
				return z, geom(r, &z.Geometry, &z.Code, &z.Name, &z.Kind)
			})},
		{`SELECT code, name, kind, coalesce(town_code, '') FROM department ORDER BY code`, nil,
			into(&c.Departments, func(r pgx.CollectableRow) (d grid.Department, err error) {
				return d, r.Scan(&d.Code, &d.Name, &d.Kind, &d.TownCode)
			})},
		{`SELECT code, name, major_name, time_limit, unit, theme FROM category ORDER BY code`, nil,
			into(&c.Categories, func(r pgx.CollectableRow) (k grid.Category, err error) {
				return k, r.Scan(&k.Code, &k.Name, &k.MajorName, &k.Limit, &k.Unit, &k.Theme)
			})},
		{`SELECT id, pattern, scope, scope_code, department_code, priority, fallback, note FROM responsibility_rule ORDER BY id`, nil,
			into(&c.Rules, func(r pgx.CollectableRow) (x grid.Rule, err error) {
				return x, r.Scan(&x.ID, &x.Pattern, &x.Scope, &x.ScopeCode, &x.Department, &x.Priority, &x.Fallback, &x.Note)
			})},
	} {
		rows, err := tx.Query(ctx, q.sql, q.args...)
		if err != nil {
			return err
		}
		if err := q.collect(rows); err != nil {
			return err
		}
	}
	return nil
}
