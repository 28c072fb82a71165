package postgres

import (
	"context"
	"fmt"
	"slices"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
)

// Tolerances of the topology checks: real data carries slivers from
// digitising, so overlaps and gaps below these areas are accepted.
const (
	overlapToleranceM2 = 1.0
	gapToleranceM2     = 1.0
)

// importLockKey is the advisory lock that makes imports take turns: each
// builds on the active version it reads (the levels it does not replace
// are carried over), so two at once would each drop the other's levels.
const importLockKey = 0x6369_7479_6772_6964 // "citygrid"

// epsg4549Extent bounds the coordinates an EPSG:4549 source may carry,
// in metres: 2,500 km either side of the central meridian 120°E
// (easting 500,000) and from the equator to 63°N, generously more than
// China's part of the zone. PROJ fails on points far outside its domain,
// so they are reported before ST_Transform sees them.
const epsg4549Extent = `ST_MakeEnvelope(-2000000, 0, 3000000, 7000000, 4549)`

// ImportGrid reads an import file (grid.ReadImport), validates it and
// writes it as a new, active grid version in one transaction, with its
// audit_log rows (grid.import and grid.activate, as grid.WhoOf(ctx)), or
// writes nothing. It is the one path of every import, from the command
// line or over HTTP. Levels
// present in the file replace those of the active version; absent levels
// are carried over. Bad options or a body that is not a GeoJSON
// FeatureCollection are Invalid. Problems — malformed or duplicate codes,
// invalid or self-intersecting polygons, missing parents, overlapping
// cells, gaps, cells outside their community, shapes outside China — come
// back as one Rejected *Error whose Details name the codes involved.
// Activation sends NOTIFY on NotifyChannel, so every replica swaps to
// the new version.
func (db *DB) ImportGrid(ctx context.Context, f grid.ImportFile) (v grid.Version, err error) {
	defer wrap(&err, "ImportGrid(%q)", f.Source)
	req, err := grid.ReadImport(f)
	if err != nil {
		return v, err
	}
	if req.GCJ02 {
		for i := range req.Features {
			req.Features[i].Geometry = mapPoints(req.Features[i].Geometry, coord.GCJ02ToWGS84)
		}
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(importLockKey)); err != nil {
			return err
		}
		if err := stageImport(ctx, tx, req); err != nil {
			return err
		}
		if p, err := collect(ctx, tx, `
			SELECT format('%s %s: invalid polygon: %s', level, code, ST_IsValidReason(geom))
			FROM import_in WHERE NOT ST_IsValid(geom) ORDER BY idx`); err != nil || len(p) > 0 {
			return problemsOr(err, p)
		}
		if req.SRID == 4549 {
			if p, err := collect(ctx, tx, `
				SELECT format('%s %s: coordinates outside EPSG:4549''s zone (near %s): is the source CRS right?', level, code, ST_AsText(ST_PointOnSurface(geom), 0))
				FROM import_in WHERE NOT ST_Within(geom, `+epsg4549Extent+`) ORDER BY idx`); err != nil || len(p) > 0 {
				return problemsOr(err, p)
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE import_in SET geom = ST_Multi(ST_Transform(geom, 4326))`); err != nil {
			return err
		}
		if p, err := collect(ctx, tx, `
			SELECT format('%s %s: lies outside China (%s): is the source CRS right?', level, code, ST_AsText(ST_Centroid(geom), 5))
			FROM import_in WHERE NOT ST_Within(geom, ST_MakeEnvelope(73, 3, 136, 54, 4326)) ORDER BY idx`); err != nil || len(p) > 0 {
			return problemsOr(err, p)
		}
		if p, err := collect(ctx, tx, `
			SELECT format('%s %s: invalid polygon once in WGS84: %s', level, code, ST_IsValidReason(geom))
			FROM import_in WHERE NOT ST_IsValid(geom) ORDER BY idx`); err != nil || len(p) > 0 {
			return problemsOr(err, p)
		}
		note := fmt.Sprintf("levels: %v", req.Levels())
		if req.Note != "" {
			note = req.Note + "; " + note
		}
		id, err := insertVersion(ctx, tx, req.Source, note)
		if err != nil {
			return err
		}
		var problems []string
		for _, lvl := range []struct{ level, insert, copy, orphans string }{
			{grid.LevelTown,
				`INSERT INTO town (version_id, code, name, kind, geom, area_m2)
				 SELECT $1, code, name, kind, geom, ST_Area(geom::geography) FROM import_in WHERE level = 'town'`,
				`INSERT INTO town SELECT $1, code, name, kind, geom, area_m2 FROM town
				 WHERE version_id = (SELECT id FROM grid_version WHERE active)`, ``},
			{grid.LevelCommunity,
				`INSERT INTO community (version_id, code, name, town_code, geom, area_m2)
				 SELECT $1, code, name, left(code, 9), geom, ST_Area(geom::geography) FROM import_in WHERE level = 'community'
				   AND left(code, 9) IN (SELECT code FROM town WHERE version_id = $1)`,
				`INSERT INTO community SELECT $1, c.code, c.name, c.town_code, c.geom, c.area_m2 FROM community c
				 WHERE c.version_id = (SELECT id FROM grid_version WHERE active)
				   AND c.town_code IN (SELECT code FROM town WHERE version_id = $1)`,
				`SELECT format('community %s: its town %s is not in the grid', code, left(code, 9)) FROM import_in
				 WHERE level = 'community' AND left(code, 9) NOT IN (SELECT code FROM town WHERE version_id = $1) ORDER BY idx`},
			{grid.LevelCell,
				`INSERT INTO cell (version_id, code, name, community_code, town_code, geom, area_m2)
				 SELECT $1, code, name, left(code, 12), left(code, 9), geom, ST_Area(geom::geography) FROM import_in WHERE level = 'cell'
				   AND left(code, 12) IN (SELECT code FROM community WHERE version_id = $1)`,
				`INSERT INTO cell SELECT $1, c.code, c.name, c.community_code, c.town_code, c.geom, c.area_m2 FROM cell c
				 WHERE c.version_id = (SELECT id FROM grid_version WHERE active)
				   AND c.community_code IN (SELECT code FROM community WHERE version_id = $1)`,
				`SELECT format('cell %s: its community %s is not in the grid', code, left(code, 12)) FROM import_in
				 WHERE level = 'cell' AND left(code, 12) NOT IN (SELECT code FROM community WHERE version_id = $1) ORDER BY idx`},
			{grid.LevelZone,
				`INSERT INTO zone (version_id, code, name, kind, geom) SELECT $1, code, name, kind, geom FROM import_in WHERE level = 'zone'`,
				`INSERT INTO zone SELECT $1, code, name, kind, geom FROM zone WHERE version_id = (SELECT id FROM grid_version WHERE active)`, ``},
		} {
			q := lvl.copy
			if slices.Contains(req.Levels(), lvl.level) {
				q = lvl.insert
				if lvl.orphans != "" {
					p, err := collect(ctx, tx, lvl.orphans, id)
					if err != nil {
						return err
					}
					problems = append(problems, p...)
				}
			}
			if _, err := tx.Exec(ctx, q, id); err != nil {
				return err
			}
		}
		for _, c := range []struct{ child, parent, fk string }{
			{"cell", "community", "community_code"},
			{"community", "town", "town_code"},
		} {
			p, err := topologyProblems(ctx, tx, id, c.child, c.parent, c.fk)
			if err != nil {
				return err
			}
			problems = append(problems, p...)
		}
		var cells int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM cell WHERE version_id = $1`, id).Scan(&cells); err != nil {
			return err
		}
		if cells == 0 {
			problems = append(problems, "the resulting grid has no cells")
		}
		if len(problems) > 0 {
			return problemsOr(nil, problems)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO city (version_id, code, name, synthetic, geom)
			SELECT $1, coalesce(p.code, $2), coalesce(p.name, ''), coalesce(p.synthetic, false),
			  (SELECT ST_Multi(ST_Union(geom)) FROM town WHERE version_id = $1)
			FROM (SELECT 1) one LEFT JOIN city p ON p.version_id = (SELECT id FROM grid_version WHERE active)`, id, grid.CountyCode); err != nil {
			return err
		}
		if err := activate(ctx, tx, id); err != nil {
			return err
		}
		v.ID = id
		return auditImport(ctx, tx, id, req)
	})
	if err != nil {
		return v, db.classify(err)
	}
	vs, err := db.Versions(ctx)
	if err != nil {
		return v, err
	}
	for _, x := range vs {
		if x.ID == v.ID {
			return x, nil
		}
	}
	return v, nil
}

// auditImport records an import in the audit log: who, the version, and
// what it holds.
func auditImport(ctx context.Context, tx pgx.Tx, id int64, req grid.ImportRequest) error {
	args := pgx.NamedArgs{"action": grid.AuditGridImport, "version": id, "source": req.Source, "crs": req.CRS, "note": req.Note,
		"features": len(req.Features), "levels": req.Levels()}
	auditArgs(ctx, args)
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (`+auditColumns+`, action, target, detail)
		SELECT `+auditValues+`, @action, 'grid_version:' || @version::bigint, jsonb_build_object(
		  'source', @source::text, 'crs', @crs::text, 'note', @note::text, 'features', @features::int, 'levels', @levels::text[],
		  'towns', (SELECT count(*) FROM town WHERE version_id = @version),
		  'communities', (SELECT count(*) FROM community WHERE version_id = @version),
		  'cells', (SELECT count(*) FROM cell WHERE version_id = @version),
		  'zones', (SELECT count(*) FROM zone WHERE version_id = @version))`, args)
	return err
}

func stageImport(ctx context.Context, tx pgx.Tx, req grid.ImportRequest) error {
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE import_in (
		idx int, level text, code text, name text, kind text, geom geometry) ON COMMIT DROP`); err != nil {
		return err
	}
	rows := make([][]any, 0, len(req.Features))
	for _, f := range req.Features {
		g, err := wkb.Marshal(f.Geometry)
		if err != nil {
			return grid.ImportRejected([]string{fmt.Sprintf("%s %s: geometry: %v", f.Level, f.Code, err)})
		}
		rows = append(rows, []any{f.Index, f.Level, f.Code, f.Name, f.Kind, g})
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE import_raw (idx int, level text, code text, name text, kind text, wkb bytea) ON COMMIT DROP`); err != nil {
		return err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"import_raw"}, []string{"idx", "level", "code", "name", "kind", "wkb"}, pgx.CopyFromRows(rows)); err != nil {
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO import_in SELECT idx, level, code, name, kind, ST_Multi(ST_GeomFromWKB(wkb, $1)) FROM import_raw`, req.SRID)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `CREATE INDEX ON import_in USING gist (geom)`)
	return err
}

// topologyProblems finds children that overlap each other, stick out of
// their parent, or leave part of their parent uncovered.
func topologyProblems(ctx context.Context, tx pgx.Tx, version int64, child, parent, fk string) ([]string, error) {
	// child, parent and fk come from the fixed list in ImportGrid.
	overlaps := fmt.Sprintf(`
		SELECT format('%[1]ss %%s and %%s overlap by %%s m²', a.code, b.code, round(ST_Area(ST_Intersection(a.geom, b.geom)::geography)::numeric, 1))
		FROM %[1]s a JOIN %[1]s b ON a.version_id = b.version_id AND a.code < b.code AND a.geom && b.geom
		WHERE a.version_id = $1 AND ST_Relate(a.geom, b.geom, '2********')
		  AND ST_Area(ST_Intersection(a.geom, b.geom)::geography) > $2
		ORDER BY a.code, b.code`, child)
	outside := fmt.Sprintf(`
		SELECT format('%[1]s %%s extends %%s m² outside its %[2]s %%s', c.code, round(ST_Area(ST_Difference(c.geom, p.geom)::geography)::numeric, 1), p.code)
		FROM %[1]s c JOIN %[2]s p ON p.version_id = c.version_id AND p.code = c.%[3]s
		WHERE c.version_id = $1 AND NOT ST_CoveredBy(c.geom, p.geom)
		  AND ST_Area(ST_Difference(c.geom, p.geom)::geography) > $2
		ORDER BY c.code`, child, parent, fk)
	gaps := fmt.Sprintf(`
		WITH u AS (
			SELECT p.code, p.geom, ST_Union(c.geom) AS cover, count(c.code) AS n
			FROM %[2]s p LEFT JOIN %[1]s c ON c.version_id = p.version_id AND c.%[3]s = p.code
			WHERE p.version_id = $1 GROUP BY p.code, p.geom
		), d AS (
			SELECT code, n, CASE WHEN n = 0 THEN geom ELSE ST_Difference(geom, cover) END AS gap FROM u
		)
		SELECT CASE WHEN n = 0 THEN format('%[2]s %%s has no %[1]ss', code)
		       ELSE format('%[2]s %%s: its %[1]ss leave a gap of %%s m² near %%s', code,
		                   round(ST_Area(gap::geography)::numeric, 1), ST_AsText(ST_PointOnSurface(gap), 6)) END
		FROM d WHERE n = 0 OR ST_Area(gap::geography) > $2
		ORDER BY code`, child, parent, fk)
	var out []string
	for _, q := range []struct {
		sql string
		tol float64
	}{{overlaps, overlapToleranceM2}, {outside, gapToleranceM2}, {gaps, gapToleranceM2}} {
		p, err := collect(ctx, tx, q.sql, version, q.tol)
		if err != nil {
			return nil, err
		}
		out = append(out, p...)
	}
	return out, nil
}

func collect(ctx context.Context, tx pgx.Tx, sql string, args ...any) ([]string, error) {
	rows, err := tx.Query(ctx, sql+fmt.Sprintf(" LIMIT %d", grid.MaxImportProblems), args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

func problemsOr(err error, problems []string) error {
	if err != nil {
		return err
	}
	return grid.ImportRejected(problems)
}

// mapPoints applies f to every position of a polygon or multipolygon, in
// place.
func mapPoints(g orb.Geometry, f func(lon, lat float64) (float64, float64)) orb.Geometry {
	conv := func(r orb.Ring) {
		for i, p := range r {
			r[i][0], r[i][1] = f(p[0], p[1])
		}
	}
	switch g := g.(type) {
	case orb.Polygon:
		for _, r := range g {
			conv(r)
		}
	case orb.MultiPolygon:
		for _, p := range g {
			for _, r := range p {
				conv(r)
			}
		}
	}
	return g
}
