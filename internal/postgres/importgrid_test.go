package postgres_test

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/citygrid/citygrid/geodata"
	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/paulmach/orb/geojson"
)

// demoCellsFile is the demo city's cells as an import file, each vertex
// through conv and each name followed by suffix.
func demoCellsFile(t *testing.T, suffix string, conv func(lon, lat float64) (float64, float64)) []byte {
	t.Helper()
	city, err := geodata.Linhai()
	if err != nil {
		t.Fatal(err)
	}
	fc := geojson.NewFeatureCollection()
	for _, c := range city.Cells {
		mp := c.Geometry.Clone()
		for _, p := range mp {
			for _, r := range p {
				for i := range r {
					r[i][0], r[i][1] = conv(r[i][0], r[i][1])
				}
			}
		}
		f := geojson.NewFeature(mp)
		f.Properties["code"], f.Properties["name"] = c.Code, c.Name+suffix
		fc.Append(f)
	}
	b, err := fc.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func identity(lon, lat float64) (float64, float64) { return lon, lat }

// TestImportAuditsAndNotes: the version and its audit row are written by
// the same transaction: the actor, the version, its counts, source, CRS
// and note.
func TestImportAuditsAndNotes(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	v, err := db.ImportGrid(grid.WithWho(ctxT(t), grid.CLIWho("operator")), grid.ImportFile{Data: demoCellsFile(t, "", identity), CRS: "epsg:4326",
		Source: "cells.geojson", Note: "survey 2024"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Source != "import: cells.geojson" || v.Note != "survey 2024; levels: [cell]" || v.Cells != 2213 {
		t.Errorf("version %+v", v)
	}
	var actor, role, object string
	var detail []byte
	if err := db.Pool().QueryRow(ctxT(t), `SELECT actor, role, target, detail FROM audit_log WHERE action = 'grid.import'`).Scan(&actor, &role, &object, &detail); err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := json.Unmarshal(detail, &d); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"source": "import: cells.geojson", "crs": "EPSG:4326", "note": "survey 2024", "features": 2213.0,
		"cells": 2213.0, "towns": 19.0, "communities": float64(v.Communities), "zones": float64(v.Zones), "levels": []any{"cell"}}
	if actor != "operator" || role != "cli" || object != fmt.Sprint("grid_version:", v.ID) || fmt.Sprint(d) != fmt.Sprint(want) {
		t.Errorf("audit row %q %q %q %v, want operator cli %d %v", actor, role, object, d, v.ID, want)
	}
	// The activation is recorded by the same transaction, as the same actor.
	var activations int
	if err := db.Pool().QueryRow(ctxT(t), `SELECT count(*) FROM audit_log WHERE action = 'grid.activate' AND target = $1 AND actor = 'operator' AND role = 'cli'`,
		fmt.Sprint("grid_version:", v.ID)).Scan(&activations); err != nil || activations != 1 {
		t.Errorf("%d activation rows (%v), want 1", activations, err)
	}
}

// TestImportGCJ02: a file in GCJ-02 (the demo cells shifted some 500 m,
// as Amap would give them) lands where the WGS84 cells are; read as WGS84
// it would not.
func TestImportGCJ02(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	v, err := db.ImportGrid(ctxT(t), grid.ImportFile{Data: demoCellsFile(t, "", coord.WGS84ToGCJ02), CRS: "gcj02", Source: "gcj"})
	if err != nil {
		t.Fatal(err)
	}
	var drift float64
	if err := db.Pool().QueryRow(ctxT(t), `
		SELECT max(ST_HausdorffDistance(a.geom, b.geom)) FROM cell a JOIN cell b ON a.code = b.code AND b.version_id = $1
		WHERE a.version_id = (SELECT min(id) FROM grid_version)`, v.ID).Scan(&drift); err != nil {
		t.Fatal(err)
	}
	if drift > 1e-8 {
		t.Errorf("GCJ-02 cells converted back are %.2g° from the originals", drift)
	}
	// Without the conversion the cells would be some 500 m off: the file
	// is shifted that much.
	city, err := geodata.Linhai()
	if err != nil {
		t.Fatal(err)
	}
	p := city.Cells[0].Geometry[0][0][0]
	if lon, lat := coord.WGS84ToGCJ02(p[0], p[1]); math.Abs(lon-p[0])+math.Abs(lat-p[1]) < 1e-3 {
		t.Errorf("the GCJ-02 file is not shifted: %v → %v, %v", p, lon, lat)
	}
}

// TestImportsTakeTurns: imports started together run one after the
// other, each building on what the one before it wrote: a cells file and
// a towns file imported at once both reach the version that ends active.
func TestImportsTakeTurns(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	city, err := geodata.Linhai()
	if err != nil {
		t.Fatal(err)
	}
	towns := geojson.NewFeatureCollection()
	for _, x := range city.Towns {
		f := geojson.NewFeature(x.Geometry)
		f.Properties["code"], f.Properties["name"], f.Properties["kind"] = x.Code, x.Name+"#towns", x.Kind
		towns.Append(f)
	}
	townsFile, err := towns.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	files := [][]byte{demoCellsFile(t, "#cells", identity), townsFile}
	var wg sync.WaitGroup
	vs := make([]grid.Version, len(files))
	errs := make([]error, len(files))
	for i, b := range files {
		wg.Add(1)
		go func() {
			defer wg.Done()
			vs[i], errs[i] = db.ImportGrid(ctxT(t), grid.ImportFile{Data: b, Source: "turn"})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("import %d: %v", i, err)
		}
	}
	last := max(vs[0].ID, vs[1].ID)
	if vs[0].ID == vs[1].ID || count(t, db, `SELECT count(*) FROM grid_version WHERE active AND id = $1`, last) != 1 {
		t.Fatalf("versions %d and %d; want two, the later active", vs[0].ID, vs[1].ID)
	}
	if n := count(t, db, `SELECT count(*) FROM cell WHERE version_id = $1 AND name LIKE '%#cells'`, last); n != 2213 {
		t.Errorf("the active version has %d cells of the cells import, want 2213: one import dropped the other's", n)
	}
	if n := count(t, db, `SELECT count(*) FROM town WHERE version_id = $1 AND name LIKE '%#towns'`, last); n != 19 {
		t.Errorf("the active version has %d towns of the towns import, want 19: one import dropped the other's", n)
	}
	if n := count(t, db, `SELECT count(*) FROM audit_log WHERE action = 'grid.import'`); n != 2 {
		t.Errorf("%d audit rows, want 2", n)
	}
}

// TestImportRejectsWhatPostGISCannotRead: shapes PostGIS would refuse to
// read or transform (short or open rings, EPSG:4549 coordinates far off
// its zone) are problems of the file, not failures of the store.
func TestImportRejectsWhatPostGISCannotRead(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	before := state(t, db)
	cell := func(geom string) []byte {
		return []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":"331082001001001","name":"c"},"geometry":` + geom + `}]}`)
	}
	for _, c := range []struct {
		crs, geom, mentions string
	}{
		{"", `{"type":"Polygon","coordinates":[[[121.1,28.8],[121.2,28.8],[121.1,28.8]]]}`, "3 positions"},
		{"", `{"type":"Polygon","coordinates":[[[121.1,28.8],[121.2,28.8],[121.2,28.9],[121.1,28.9]]]}`, "not closed"},
		{"EPSG:4549", `{"type":"Polygon","coordinates":[[[1e300,0],[1e300,1],[1e301,1],[1e300,0]]]}`, "outside EPSG:4549's zone"},
		{"EPSG:4549", `{"type":"Polygon","coordinates":[[[121.1,28.8],[121.2,28.8],[121.2,28.9],[121.1,28.8]]]}`, "outside China"},
	} {
		_, err := db.ImportGrid(ctxT(t), grid.ImportFile{Data: cell(c.geom), CRS: c.crs, Source: "bad"})
		wantRejected(t, db, before, err, c.mentions)
	}
	if _, err := db.ImportGrid(ctxT(t), grid.ImportFile{Data: []byte(`{"type":"FeatureCollection"`), Source: "bad"}); grid.KindOf(err) != grid.Invalid ||
		!strings.Contains(err.Error(), "not a GeoJSON FeatureCollection") {
		t.Errorf("truncated JSON: want Invalid, got %v", err)
	}
}
