package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/jackc/pgx/v5"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func count(t *testing.T, db *postgres.DB, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := db.Pool().QueryRow(ctxT(t), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestDemoCityCounts(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	active := `(SELECT id FROM grid_version WHERE active)`
	for _, c := range []struct {
		what string
		sql  string
		want int
	}{
		{"active versions", `SELECT count(*) FROM grid_version WHERE active`, 1},
		{"cells", `SELECT count(*) FROM cell WHERE version_id = ` + active, 2213},
		{"towns", `SELECT count(*) FROM town WHERE version_id = ` + active, 19},
		{"streets", `SELECT count(*) FROM town WHERE kind = 'street' AND version_id = ` + active, 5},
		{"departments", `SELECT count(*) FROM department WHERE kind = 'department'`, 38},
		{"town offices", `SELECT count(*) FROM department WHERE kind = 'town'`, 19},
		{"rules", `SELECT count(*) FROM responsibility_rule WHERE NOT fallback`, 121},
		{"fallback rules", `SELECT count(*) FROM responsibility_rule WHERE fallback`, 19},
		{"cameras", `SELECT count(*) FROM facility WHERE kind = 'camera'`, 4097},
		{"gas companies", `SELECT count(*) FROM facility WHERE kind = 'gas_company'`, 7},
		{"gas points", `SELECT count(*) FROM facility WHERE kind = 'gas_point'`, 21},
		{"departments without a rule", `SELECT count(*) FROM department d WHERE kind = 'department'
			AND NOT EXISTS (SELECT 1 FROM responsibility_rule r WHERE r.department_code = d.code)`, 0},
		{"towns without a fallback", `SELECT count(*) FROM town t WHERE version_id = ` + active + `
			AND NOT EXISTS (SELECT 1 FROM responsibility_rule r JOIN department d ON d.code = r.department_code
			  WHERE r.fallback AND r.scope_code = t.code AND d.town_code = t.code)`, 0},
		{"facilities outside the city", `SELECT count(*) FROM facility f WHERE NOT EXISTS
			(SELECT 1 FROM city c WHERE c.version_id = ` + active + ` AND ST_Covers(c.geom, f.geom))`, 0},
	} {
		if got := count(t, db, c.sql); got != c.want {
			t.Errorf("%s: got %d, want %d", c.what, got, c.want)
		}
	}
	// The 19 towns carry their real NBS codes and names.
	want := map[string]string{"331082001": "古城街道", "331082005": "邵家渡街道", "331082100": "汛桥镇",
		"331082101": "东塍镇", "331082112": "杜桥镇", "331082114": "桃渚镇"}
	rows, _ := db.Pool().Query(ctxT(t), `SELECT code, name FROM town WHERE version_id = `+active)
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Code, Name string }])
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{}
	for _, r := range got {
		names[r.Code] = r.Name
	}
	for code, name := range want {
		if names[code] != name {
			t.Errorf("town %s: name %q, want %q", code, names[code], name)
		}
	}
	if _, ok := names["331082102"]; ok {
		t.Errorf("town 331082102 does not exist in Linhai")
	}
}

// TestDemoCityTiling checks with PostGIS that cells tile their communities,
// communities their towns and towns the city: no gaps, no overlaps.
func TestDemoCityTiling(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	active := `(SELECT id FROM grid_version WHERE active)`
	for _, lvl := range []struct{ child, parent, fk string }{
		{"cell", "community", "community_code"},
		{"community", "town", "town_code"},
	} {
		overlaps := count(t, db, fmt.Sprintf(`SELECT count(*) FROM %[1]s a JOIN %[1]s b
			ON a.version_id = b.version_id AND a.code < b.code AND a.geom && b.geom
			WHERE a.version_id = %[2]s AND ST_Relate(a.geom, b.geom, '2********')`, lvl.child, active))
		if overlaps != 0 {
			t.Errorf("%ss: %d overlapping pairs", lvl.child, overlaps)
		}
		// Symmetric difference of each parent and the union of its children.
		var worst float64
		var worstCode string
		err := db.Pool().QueryRow(ctxT(t), fmt.Sprintf(`
			SELECT p.code, ST_Area(ST_SymDifference(p.geom, ST_Union(c.geom))::geography)
			FROM %[2]s p JOIN %[1]s c ON c.version_id = p.version_id AND c.%[3]s = p.code
			WHERE p.version_id = %[4]s GROUP BY p.code, p.geom ORDER BY 2 DESC LIMIT 1`, lvl.child, lvl.parent, lvl.fk, active)).
			Scan(&worstCode, &worst)
		if err != nil {
			t.Fatal(err)
		}
		if worst > 0.01 {
			t.Errorf("%s %s: its %ss differ from it by %.3f m²", lvl.parent, worstCode, lvl.child, worst)
		}
		childless := count(t, db, fmt.Sprintf(`SELECT count(*) FROM %[2]s p WHERE p.version_id = %[3]s AND NOT EXISTS
			(SELECT 1 FROM %[1]s c WHERE c.version_id = p.version_id AND c.%[4]s = p.code)`, lvl.child, lvl.parent, active, lvl.fk))
		if childless != 0 {
			t.Errorf("%d %ss have no %ss", childless, lvl.parent, lvl.child)
		}
	}
	var diff, cityArea, cellArea float64
	err := db.Pool().QueryRow(ctxT(t), `
		SELECT ST_Area(ST_SymDifference(c.geom, (SELECT ST_Union(geom) FROM cell WHERE version_id = c.version_id))::geography),
		       ST_Area(c.geom::geography), (SELECT sum(area_m2) FROM cell WHERE version_id = c.version_id)
		FROM city c WHERE c.version_id = `+active).Scan(&diff, &cityArea, &cellArea)
	if err != nil {
		t.Fatal(err)
	}
	if diff > 1 {
		t.Errorf("union of cells differs from the city by %.1f m²", diff)
	}
	if rel := (cellArea - cityArea) / cityArea; rel > 1e-6 || rel < -1e-6 {
		t.Errorf("cells sum to %.0f m², city is %.0f m²", cellArea, cityArea)
	}
	if cityArea < 1.0e9 || cityArea > 2.3e9 {
		t.Errorf("city area %.0f km² is not Linhai-sized", cityArea/1e6)
	}
	// Inside Linhai's real extent (DOMAIN.md).
	var xmin, ymin, xmax, ymax float64
	if err := db.Pool().QueryRow(ctxT(t), `SELECT ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM city WHERE version_id = `+active).
		Scan(&xmin, &ymin, &xmax, &ymax); err != nil {
		t.Fatal(err)
	}
	if xmin < 120.83 || xmax > 121.94 || ymin < 28.66 || ymax > 29.07 {
		t.Errorf("city extent %.3f,%.3f–%.3f,%.3f is outside Linhai's", xmin, ymin, xmax, ymax)
	}
	if n := count(t, db, `SELECT count(*) FROM cell WHERE version_id = `+active+` AND NOT ST_IsValid(geom)`); n != 0 {
		t.Errorf("%d invalid cells", n)
	}
}

// TestDemoCodes reads the model back and checks every code with the
// domain's validators and the parent-prefix rule.
func TestDemoCodes(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	m, err := db.ActiveModel(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if !m.City.Synthetic {
		t.Errorf("the demo city must say it is synthetic")
	}
	for _, x := range m.City.Cells {
		if len(x.Code) != 15 {
			t.Errorf("cell %s: want a 15-digit code", x.Code)
		}
		if err := grid.CheckCellCode(x.Code, x.CommunityCode); err != nil {
			t.Error(err)
		}
	}
	for _, c := range m.City.Communities {
		if !grid.ValidCommunityCode(c.Code) || c.Code[:9] != c.TownCode {
			t.Errorf("community %s (town %s): bad code", c.Code, c.TownCode)
		}
	}
	for _, c := range m.City.Categories {
		if !grid.ValidCategoryCode(c.Code) {
			t.Errorf("category %s: bad code", c.Code)
		}
	}
	for _, r := range m.City.Rules {
		if !grid.ValidPattern(r.Pattern) {
			t.Errorf("rule %d: bad pattern %q", r.ID, r.Pattern)
		}
	}
	// Cell sequence numbers run west to east, then north to south, in each
	// community: the first cell is not east of and not south of... the
	// precise order is checked on centroids' rows in the generator's tests;
	// here the codes must be dense 001..n.
	seq := map[string]int{}
	for _, x := range m.City.Cells {
		seq[x.CommunityCode]++
	}
	for _, x := range m.City.Cells {
		var n int
		fmt.Sscanf(x.Code[12:], "%d", &n)
		if n < 1 || n > seq[x.CommunityCode] {
			t.Errorf("cell %s: sequence %d outside 1..%d", x.Code, n, seq[x.CommunityCode])
		}
	}
}

// cellsGeoJSON exports the active cells as an import file.
func cellsGeoJSON(t *testing.T, db *postgres.DB, where string) map[string]any {
	t.Helper()
	var doc []byte
	err := db.Pool().QueryRow(ctxT(t), `
		SELECT json_build_object('type', 'FeatureCollection', 'features', json_agg(json_build_object(
		  'type', 'Feature', 'properties', json_build_object('code', code, 'name', name),
		  'geometry', ST_AsGeoJSON(geom, 9)::json) ORDER BY code))
		FROM cell WHERE version_id = (SELECT id FROM grid_version WHERE active) AND `+where).Scan(&doc)
	if err != nil {
		t.Fatal(err)
	}
	var fc map[string]any
	if err := json.Unmarshal(doc, &fc); err != nil {
		t.Fatal(err)
	}
	return fc
}

func importDoc(t *testing.T, db *postgres.DB, fc map[string]any, srid int) (grid.Version, error) {
	t.Helper()
	b, err := json.Marshal(fc)
	if err != nil {
		t.Fatal(err)
	}
	return db.ImportGrid(ctxT(t), grid.ImportFile{Data: b, CRS: fmt.Sprintf("EPSG:%d", srid), Source: "test"})
}

type snapshot struct{ versions, cells int }

func state(t *testing.T, db *postgres.DB) snapshot {
	return snapshot{
		versions: count(t, db, `SELECT count(*) FROM grid_version`),
		cells:    count(t, db, `SELECT count(*) FROM cell`),
	}
}

func wantRejected(t *testing.T, db *postgres.DB, before snapshot, err error, mentions ...string) {
	t.Helper()
	var ge *grid.Error
	if !errors.As(err, &ge) || ge.Kind != grid.Rejected {
		t.Fatalf("want a Rejected error, got %v", err)
	}
	all := ge.Message + "\n" + strings.Join(ge.Details, "\n")
	for _, m := range mentions {
		if !strings.Contains(all, m) {
			t.Errorf("problem report does not mention %q:\n%s", m, all)
		}
	}
	if after := state(t, db); after != before {
		t.Errorf("a rejected import changed the database: %+v → %+v", before, after)
	}
}

func TestImportRejectsBadPolygonAndWritesNothing(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	fc := cellsGeoJSON(t, db, `community_code = (SELECT min(community_code) FROM cell)`)
	feats := fc["features"].([]any)
	bad := feats[0].(map[string]any)
	code := bad["properties"].(map[string]any)["code"].(string)
	// A bow-tie: self-intersecting.
	bad["geometry"] = map[string]any{"type": "Polygon", "coordinates": [][][]float64{{
		{121.10, 28.80}, {121.11, 28.81}, {121.11, 28.80}, {121.10, 28.81}, {121.10, 28.80}}}}
	before := state(t, db)
	_, err := importDoc(t, db, fc, 4326)
	wantRejected(t, db, before, err, code, "Self-intersection")
}

func TestImportRejectsOverlapsAndGaps(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	community := ""
	if err := db.Pool().QueryRow(ctxT(t), `SELECT community_code FROM cell WHERE version_id = (SELECT id FROM grid_version WHERE active)
		GROUP BY community_code HAVING count(*) >= 3 ORDER BY community_code LIMIT 1`).Scan(&community); err != nil {
		t.Fatal(err)
	}
	before := state(t, db)

	// Drop one cell: its community now has a gap.
	fc := cellsGeoJSON(t, db, fmt.Sprintf(`community_code = '%s'`, community))
	feats := fc["features"].([]any)
	fc["features"] = feats[1:]
	full := cellsGeoJSON(t, db, fmt.Sprintf(`community_code <> '%s'`, community))
	fc["features"] = append(fc["features"].([]any), full["features"].([]any)...)
	_, err := importDoc(t, db, fc, 4326)
	wantRejected(t, db, before, err, "community "+community, "gap")

	// Give one cell its neighbour's polygon too: they overlap.
	fc = cellsGeoJSON(t, db, `true`)
	feats = fc["features"].([]any)
	var a, b map[string]any
	for i := range feats {
		f := feats[i].(map[string]any)
		if strings.HasPrefix(f["properties"].(map[string]any)["code"].(string), community) {
			if a == nil {
				a = f
			} else {
				b = f
				break
			}
		}
	}
	b["geometry"] = a["geometry"]
	codeA := a["properties"].(map[string]any)["code"].(string)
	codeB := b["properties"].(map[string]any)["code"].(string)
	_, err = importDoc(t, db, fc, 4326)
	wantRejected(t, db, before, err, codeA, codeB, "overlap")

	// A malformed code and a duplicate are caught before the database.
	fc = cellsGeoJSON(t, db, `true`)
	feats = fc["features"].([]any)
	feats[0].(map[string]any)["properties"].(map[string]any)["code"] = "33108200100"
	feats[2].(map[string]any)["properties"].(map[string]any)["code"] = feats[1].(map[string]any)["properties"].(map[string]any)["code"]
	_, err = importDoc(t, db, fc, 4326)
	wantRejected(t, db, before, err, "33108200100", "malformed code", "duplicate code")
}

func TestImportNewVersion(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	before, err := db.Versions(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	fc := cellsGeoJSON(t, db, `true`)
	v, err := importDoc(t, db, fc, 4326)
	if err != nil {
		t.Fatalf("re-importing the demo cells: %v", err)
	}
	if v.ID == before[0].ID || v.Cells != 2213 || v.Towns != 19 || !v.Active {
		t.Errorf("new version %+v: want a new active version with 2213 cells and 19 towns", v)
	}
	if n := count(t, db, `SELECT count(*) FROM grid_version WHERE active`); n != 1 {
		t.Errorf("%d active versions", n)
	}
	c, err := db.Cell(ctxT(t), 0, "331082001001001")
	if err != nil {
		t.Fatal(err)
	}
	old, err := db.Cell(ctxT(t), before[0].ID, "331082001001001")
	if err != nil {
		t.Fatal(err)
	}
	if c.Code != old.Code || len(c.Geometry) != len(old.Geometry) {
		t.Errorf("cell differs between versions: %v vs %v", c.Code, old.Code)
	}
	if _, err := db.Cell(ctxT(t), 0, "331082001999999"); grid.KindOf(err) != grid.NotFound {
		t.Errorf("unknown cell: want NotFound, got %v", err)
	}
}

// TestImportProjectedCRS imports cells given in CGCS2000 / 3-degree
// Gauss-Krüger CM 120E (EPSG:4549); PostGIS transforms them back.
func TestImportProjectedCRS(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	var doc []byte
	err := db.Pool().QueryRow(ctxT(t), `
		SELECT json_build_object('type', 'FeatureCollection', 'features', json_agg(json_build_object(
		  'type', 'Feature', 'properties', json_build_object('code', code, 'name', name),
		  'geometry', ST_AsGeoJSON(ST_Transform(geom, 4549), 6)::json)))
		FROM cell WHERE version_id = (SELECT id FROM grid_version WHERE active)`).Scan(&doc)
	if err != nil {
		t.Fatal(err)
	}
	v, err := db.ImportGrid(ctxT(t), grid.ImportFile{Data: doc, CRS: "EPSG:4549", Source: "test 4549"})
	if err != nil {
		t.Fatalf("import in EPSG:4549: %v", err)
	}
	var drift float64
	if err := db.Pool().QueryRow(ctxT(t), `
		SELECT max(ST_HausdorffDistance(a.geom::geography::geometry, b.geom::geography::geometry))
		FROM cell a JOIN cell b ON a.code = b.code AND b.version_id = $1
		WHERE a.version_id = (SELECT min(id) FROM grid_version)`, v.ID).Scan(&drift); err != nil {
		t.Fatal(err)
	}
	if drift > 1e-6 {
		t.Errorf("round trip through EPSG:4549 moved a vertex by %.2g°", drift)
	}
	if n := count(t, db, `SELECT count(*) FROM cell WHERE version_id = $1`, v.ID); n != 2213 {
		t.Errorf("%d cells imported", n)
	}
}
