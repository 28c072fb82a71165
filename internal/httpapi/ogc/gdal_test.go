package ogc_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// gdal runs one of GDAL's programs; without GDAL the test fails when the
// database is required (make test installs gdal-bin), else it skips.
func gdal(t *testing.T, prog string, args ...string) string {
	t.Helper()
	path, err := exec.LookPath(prog)
	if err != nil {
		if os.Getenv("CITYGRID_TESTDB") == "required" {
			t.Fatalf("%s not found: install gdal-bin (make test does)", prog)
		}
		t.Skipf("%s not found (gdal-bin)", prog)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), "GDAL_HTTP_TIMEOUT=60", "CPL_VSIL_CURL_CHUNK_SIZE=1048576")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", prog, strings.Join(args, " "), err, out)
	}
	return string(out)
}

var featureCount = regexp.MustCompile(`(?m)^Feature Count: (\d+)$`)

func counted(t *testing.T, out string) int {
	t.Helper()
	m := featureCount.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no feature count in:\n%s", out)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestGDAL reads every collection with GDAL's OAPIF driver, as a GIS desk
// does: the layers and their counts, every cell through paging, a spatial
// and an attribute filter, and the incidents with an API key.
func TestGDAL(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	snap := f.cat.Current()
	root := "OAPIF:" + f.srv.URL + "/ogc"
	auth := []string{"--config", "GDAL_HTTP_HEADERS", "Authorization: Bearer " + f.admin}

	// The layers, read with an admin key (the incident layer needs one).
	out := gdal(t, "ogrinfo", append([]string{"-ro", "-so", root}, auth...)...)
	for _, l := range []string{"towns", "communities", "cells", "zones", "facilities", "incidents"} {
		if !strings.Contains(out, ": "+l+" (") {
			t.Errorf("ogrinfo does not list %s:\n%s", l, out)
		}
	}
	want := map[string]int{
		"towns": len(snap.Towns), "communities": len(snap.Communities), "cells": len(snap.Cells), "zones": len(snap.Zones),
		"facilities": f.count(t, `SELECT count(*) FROM facility`), "incidents": f.nIncid,
	}
	for layer, n := range want {
		out := gdal(t, "ogrinfo", append([]string{"-ro", "-so", "-oo", "PAGE_SIZE=1000", root, layer}, auth...)...)
		if got := counted(t, out); got != n {
			t.Errorf("%s: GDAL counts %d, want %d", layer, got, n)
		}
	}

	// Every cell through paging by 1,000, each code once.
	dst := filepath.Join(t.TempDir(), "cells.geojson")
	gdal(t, "ogr2ogr", "-f", "GeoJSON", "-oo", "PAGE_SIZE=1000", dst, root, "cells")
	b, err := os.ReadFile(dst)
	if err != nil {
		t.Fatal(err)
	}
	var fc struct {
		Features []struct {
			Properties struct{ Code, Town string }
			Geometry   struct{ Type string }
		}
	}
	if err := json.Unmarshal(b, &fc); err != nil {
		t.Fatal(err)
	}
	var codes []string
	for _, x := range fc.Features {
		codes = append(codes, x.Properties.Code)
		if x.Geometry.Type != "MultiPolygon" {
			t.Errorf("cell %s: geometry %s", x.Properties.Code, x.Geometry.Type)
		}
	}
	slices.Sort(codes)
	var wantCodes []string
	for _, c := range snap.Cells {
		wantCodes = append(wantCodes, c.Code)
	}
	if !slices.Equal(codes, wantCodes) {
		t.Errorf("ogr2ogr wrote %d cells, want the snapshot's %d, each once", len(codes), len(wantCodes))
	}

	// A spatial filter (bbox, then GDAL's own test on the geometries) and an
	// attribute filter pushed to the server as status=registered.
	out = gdal(t, "ogrinfo", append([]string{"-ro", "-so", "-spat", "121.10", "28.83", "121.16", "28.87", root, "cells"}, auth...)...)
	n := f.count(t, `SELECT count(*) FROM cell WHERE version_id = (SELECT id FROM grid_version WHERE active)
		AND ST_Intersects(geom, ST_MakeEnvelope(121.10, 28.83, 121.16, 28.87, 4326))`)
	if got := counted(t, out); got != n || n == 0 {
		t.Errorf("cells in the box: GDAL %d, PostGIS %d", got, n)
	}
	out = gdal(t, "ogrinfo", append([]string{"-ro", "-so", "-oo", "PAGE_SIZE=1000", "-where", "status = 'registered'", root, "incidents"}, auth...)...)
	n = f.count(t, `SELECT count(*) FROM incident WHERE status = 'registered'`)
	if got := counted(t, out); got != n || n == 0 {
		t.Errorf("registered incidents: GDAL %d, SQL %d", got, n)
	}
	out = gdal(t, "ogrinfo", append([]string{"-ro", "-so", "-oo", "PAGE_SIZE=1000", "-where", "town = '" + town1 + "'",
		"-spat", "121.0", "28.7", "121.3", "29.0", root, "incidents"}, auth...)...)
	n = f.count(t, `SELECT count(*) FROM incident WHERE town_code = $1 AND ST_Intersects(geom, ST_MakeEnvelope(121.0, 28.7, 121.3, 29.0, 4326))`, town1)
	if got := counted(t, out); got != n || n == 0 {
		t.Errorf("incidents of town 1 in the box: GDAL %d, SQL %d", got, n)
	}
	// A town's key through GDAL sees its own town only.
	out = gdal(t, "ogrinfo", "-ro", "-so", "-oo", "PAGE_SIZE=1000", "--config", "GDAL_HTTP_HEADERS", "Authorization: Bearer "+f.town1, root, "incidents")
	if got, n := counted(t, out), f.count(t, `SELECT count(*) FROM incident WHERE town_code = $1`, town1); got != n {
		t.Errorf("town key: GDAL counts %d incidents, its town has %d", got, n)
	}
}
