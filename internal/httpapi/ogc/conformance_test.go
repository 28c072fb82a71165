package ogc_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/getkin/kin-openapi/openapi3"
)

// TestConformance checks that every class /ogc/conformance declares is
// honoured by what the endpoints do, and that nothing undeclared is
// claimed: each class has its check here.
func TestConformance(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	snap := f.cat.Current()
	resp, b := f.get(t, "/ogc/conformance", "")
	if resp.StatusCode != 200 {
		t.Fatalf("conformance: %d %s", resp.StatusCode, b)
	}
	declared := decode[struct{ ConformsTo []string }](t, b).ConformsTo
	const f1, f2, f3, cql = "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/", "http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/",
		"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/", "http://www.opengis.net/spec/cql2/1.0/conf/"
	checks := map[string]func(t *testing.T){
		f1 + "core": func(t *testing.T) {
			// Landing page links, collections, paging through every cell by
			// next links, numberMatched, a feature by id, 404s.
			land := decode[struct {
				Links []struct{ Rel, Type, Href string }
			}](t, mustGet(t, f, "/ogc"))
			rels := map[string]string{}
			for _, l := range land.Links {
				rels[l.Rel] = l.Type
			}
			for _, r := range []string{"self", "service-desc", "conformance", "data"} {
				if _, ok := rels[r]; !ok {
					t.Errorf("landing page lacks rel %s", r)
				}
			}
			cs := decode[struct {
				Collections []struct {
					ID     string
					Extent struct{ Spatial struct{ BBox [][]float64 } }
				}
			}](t, mustGet(t, f, "/ogc/collections"))
			var ids []string
			for _, c := range cs.Collections {
				ids = append(ids, c.ID)
				if len(c.Extent.Spatial.BBox) != 1 || len(c.Extent.Spatial.BBox[0]) != 4 {
					t.Errorf("%s: extent.spatial.bbox %v is not an array of one 4-number box", c.ID, c.Extent.Spatial.BBox)
				}
			}
			if want := []string{"towns", "communities", "cells", "zones", "facilities", "incidents"}; !slices.Equal(ids, want) {
				t.Errorf("collections %v, want %v", ids, want)
			}
			got := f.all(t, "/ogc/collections/cells/items?limit=1000", "")
			want := make([]string, len(snap.Cells))
			for i, c := range snap.Cells {
				want[i] = c.Code
			}
			if !slices.Equal(sortedIDs(got), want) {
				t.Errorf("paging gave %d cells (%d distinct), want the snapshot's %d", len(got), len(slices.Compact(sortedIDs(got))), len(want))
			}
			fc, _ := f.items(t, "/ogc/collections/cells/items?limit=5", "")
			if fc.NumberMatched == nil || *fc.NumberMatched != int64(len(snap.Cells)) || fc.NumberReturned != 5 {
				t.Errorf("cells: numberMatched %v, numberReturned %d", fc.NumberMatched, fc.NumberReturned)
			}
			fc, _ = f.items(t, "/ogc/collections/cells/items?limit=20000", "")
			if fc.NumberReturned != len(snap.Cells) {
				t.Errorf("limit above the maximum: %d returned", fc.NumberReturned)
			}
			one := decode[feature](t, mustGet(t, f, "/ogc/collections/cells/items/"+snap.Cells[7].Code))
			if one.ID != snap.Cells[7].Code || one.Properties["town"] != snap.Cells[7].TownCode {
				t.Errorf("feature: %+v", one)
			}
			resp, b := f.get(t, "/ogc/collections/cells/items/331082001999999", "")
			wantProblem(t, resp, b, 404, "331082001999999")
			resp, b = f.get(t, "/ogc/collections/roads/items", "")
			wantProblem(t, resp, b, 404, "roads")
			// datetime selects incidents by occurred_at (open ends included).
			from, to := "2026-03-05T00:00:00Z", "2026-03-09T00:00:00Z"
			n := f.count(t, `SELECT count(*) FROM incident WHERE occurred_at >= $1 AND occurred_at <= $2`, from, to)
			if got := f.all(t, "/ogc/collections/incidents/items?limit=1000&datetime="+from+"/"+to, f.admin); len(got) != n || n == 0 {
				t.Errorf("datetime interval: %d incidents, SQL %d", len(got), n)
			}
			n = f.count(t, `SELECT count(*) FROM incident WHERE occurred_at >= $1`, to)
			if got := f.all(t, "/ogc/collections/incidents/items?limit=1000&datetime="+to+"/..", f.admin); len(got) != n || n == 0 {
				t.Errorf("datetime open end: %d incidents, SQL %d", len(got), n)
			}
		},
		f1 + "geojson": func(t *testing.T) {
			for _, c := range []string{"towns", "communities", "cells", "zones", "facilities", "incidents"} {
				fc, _ := f.items(t, "/ogc/collections/"+c+"/items?limit=3", f.admin)
				if len(fc.Features) == 0 {
					t.Errorf("%s: no features", c)
				}
				for _, x := range fc.Features {
					if x.Type != "Feature" || x.ID == nil || x.Geometry.Type == "" || x.Properties == nil {
						t.Errorf("%s: not a GeoJSON feature: %+v", c, x)
					}
				}
			}
			resp, b := f.do(t, http.MethodGet, "/ogc/collections/cells/items", nil, "Accept", "text/csv")
			wantProblem(t, resp, b, 406, "application/geo+json")
		},
		f1 + "oas30": func(t *testing.T) {
			resp, b := f.get(t, "/ogc/api", "")
			if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.oai.openapi+json;version=3.0" {
				t.Errorf("/ogc/api: Content-Type %q", ct)
			}
			doc, err := openapi3.NewLoader().LoadFromData(b)
			if err != nil {
				t.Fatal(err)
			}
			if err := doc.Validate(context.Background()); err != nil {
				t.Errorf("/ogc/api is not valid OpenAPI 3.0: %v", err)
			}
			for _, p := range []string{"/", "/conformance", "/collections", "/collections/{collectionId}/items", "/collections/cells/items", "/collections/incidents/items"} {
				if doc.Paths.Value(p) == nil {
					t.Errorf("/ogc/api lacks %s", p)
				}
			}
		},
		f2 + "crs": func(t *testing.T) {
			c := decode[struct {
				CRS        []string
				StorageCRS string
			}](t, mustGet(t, f, "/ogc/collections/facilities"))
			for _, want := range []string{crs84, epsg4326, epsg4490, "urn:citygrid:crs:gcj02", "urn:citygrid:crs:bd09"} {
				if !slices.Contains(c.CRS, want) {
					t.Errorf("crs list lacks %s", want)
				}
			}
			if c.StorageCRS != crs84 {
				t.Errorf("storageCrs %q", c.StorageCRS)
			}
			base, resp := f.items(t, "/ogc/collections/facilities/items?limit=5", "")
			if h := resp.Header.Get("Content-Crs"); h != "<"+crs84+">" {
				t.Errorf("Content-Crs %q", h)
			}
			for _, uri := range []string{epsg4326, epsg4490} {
				fc, resp := f.items(t, "/ogc/collections/facilities/items?limit=5&crs="+q(uri), "")
				if h := resp.Header.Get("Content-Crs"); h != "<"+uri+">" {
					t.Errorf("Content-Crs %q, want <%s>", h, uri)
				}
				for i := range fc.Features {
					p, w := firstPoint(t, fc.Features[i]), firstPoint(t, base.Features[i])
					if !near(p[0], w[1]) || !near(p[1], w[0]) {
						t.Errorf("%s: %v is not latitude, longitude of %v", uri, p, w)
					}
				}
			}
			fc, _ := f.items(t, "/ogc/collections/facilities/items?limit=5&crs=urn:citygrid:crs:gcj02", "")
			for i := range fc.Features {
				p, w := firstPoint(t, fc.Features[i]), firstPoint(t, base.Features[i])
				gx, gy := coord.WGS84ToGCJ02(w[0], w[1])
				if !near(p[0], gx) || !near(p[1], gy) {
					t.Errorf("gcj02: %v, want %v, %v", p, gx, gy)
				}
			}
			// bbox-crs: the same box latitude first selects the same cells;
			// a box in GCJ-02 numbers selects the cells under its WGS84 image.
			a := f.all(t, "/ogc/collections/cells/items?limit=1000&bbox=121.10,28.83,121.16,28.87", "")
			b := f.all(t, "/ogc/collections/cells/items?limit=1000&bbox=28.83,121.10,28.87,121.16&bbox-crs="+q(epsg4326), "")
			if len(a) == 0 || !slices.Equal(a, b) {
				t.Errorf("bbox-crs EPSG:4326: %d cells, CRS84: %d", len(b), len(a))
			}
			gx0, gy0 := coord.WGS84ToGCJ02(121.10, 28.83)
			gx1, gy1 := coord.WGS84ToGCJ02(121.16, 28.87)
			g := f.all(t, fmt.Sprintf("/ogc/collections/cells/items?limit=1000&bbox=%v,%v,%v,%v&bbox-crs=urn:citygrid:crs:gcj02", gx0, gy0, gx1, gy1), "")
			if d := len(g) - len(a); d < -3 || d > 3 || len(g) == 0 {
				t.Errorf("bbox-crs gcj02 of the same place: %d cells, CRS84 %d", len(g), len(a))
			}
			n := f.count(t, `SELECT count(*) FROM cell WHERE version_id = (SELECT id FROM grid_version WHERE active)
				AND ST_Intersects(geom, ST_MakeEnvelope(121.10, 28.83, 121.16, 28.87, 4326))`)
			if len(a) != n {
				t.Errorf("bbox: %d cells, PostGIS %d", len(a), n)
			}
		},
		f3 + "filter": func(t *testing.T) {
			// A filter selects what PostGIS selects with the same predicate.
			for _, c := range []struct{ filter, sql string }{
				{"status = 'registered' AND town = '" + town1 + "'", `status = 'registered' AND town_code = '` + town1 + `'`},
				{"category IN ('E0505','E0406') OR NOT (reworks = 0)", `category IN ('E0505','E0406') OR reworks <> 0`},
				{"occurred_at >= TIMESTAMP('2026-03-10T00:00:00Z') AND cell LIKE '33108200200%'", `occurred_at >= '2026-03-10T00:00:00Z' AND cell_code LIKE '33108200200%'`},
				{"S_INTERSECTS(geometry, BBOX(121.10, 28.83, 121.16, 28.87))", `ST_Intersects(geom, ST_MakeEnvelope(121.10, 28.83, 121.16, 28.87, 4326))`},
				{"S_INTERSECTS(geometry, POLYGON((121.1 28.8, 121.2 28.8, 121.15 28.9, 121.1 28.8))) AND closed_at IS NULL", ``},
				{"closed_at IS NULL AND external_id IS NULL", `closed_at IS NULL AND external_id IS NULL`},
			} {
				got := f.all(t, "/ogc/collections/incidents/items?limit=1000&filter-lang=cql2-text&filter="+q(c.filter), f.admin)
				if c.sql == "" {
					c.sql = `ST_Intersects(geom, ST_GeomFromText('POLYGON((121.1 28.8, 121.2 28.8, 121.15 28.9, 121.1 28.8))', 4326)) AND closed_at IS NULL`
				}
				if n := f.count(t, `SELECT count(*) FROM incident WHERE `+c.sql); len(got) != n {
					t.Errorf("filter %s: %d incidents, PostGIS %d", c.filter, len(got), n)
				}
			}
			// In memory, for the grid collections: the same answers as SQL.
			got := f.all(t, "/ogc/collections/cells/items?limit=1000&filter="+q("town = '"+town2+"' AND S_INTERSECTS(geometry, POINT(121.2 28.87)) OR code LIKE '3310820010010%'"), "")
			n := f.count(t, `SELECT count(*) FROM cell WHERE version_id = (SELECT id FROM grid_version WHERE active) AND
				(town_code = $1 AND ST_Intersects(geom, ST_SetSRID(ST_MakePoint(121.2, 28.87), 4326)) OR code LIKE '3310820010010%')`, town2)
			if len(got) != n || n == 0 {
				t.Errorf("cells filter: %d, PostGIS %d", len(got), n)
			}
		},
		f3 + "features-filter": func(t *testing.T) {
			// filter, filter-lang and filter-crs on the items of every collection.
			for _, c := range []string{"towns", "communities", "cells", "zones", "facilities"} {
				fc, _ := f.items(t, "/ogc/collections/"+c+"/items?filter="+q("code IS NOT NULL")+"&filter-lang=cql2-text&filter-crs="+q(crs84), "")
				if fc.NumberMatched == nil || *fc.NumberMatched == 0 {
					t.Errorf("%s: numberMatched %v", c, fc.NumberMatched)
				}
			}
			// A polygon given in GCJ-02 numbers selects what its WGS84 image does.
			gx, gy := coord.WGS84ToGCJ02(121.13, 28.85)
			a := f.all(t, "/ogc/collections/facilities/items?limit=1000&filter="+q("S_INTERSECTS(geometry, BBOX(121.12, 28.84, 121.14, 28.86))"), "")
			b := f.all(t, "/ogc/collections/facilities/items?limit=1000&filter-crs=urn:citygrid:crs:gcj02&filter="+
				q(fmt.Sprintf("S_INTERSECTS(geometry, BBOX(%v, %v, %v, %v))", gx-0.01, gy-0.01, gx+0.01, gy+0.01)), "")
			if len(a) == 0 || math.Abs(float64(len(a)-len(b))) > 2 {
				t.Errorf("filter-crs gcj02: %d facilities, CRS84 %d", len(b), len(a))
			}
		},
		f3 + "queryables": func(t *testing.T) {
			for _, c := range []string{"towns", "cells", "facilities", "incidents"} {
				resp, b := f.get(t, "/ogc/collections/"+c+"/queryables", f.admin)
				if ct := resp.Header.Get("Content-Type"); ct != "application/schema+json" {
					t.Errorf("%s queryables: Content-Type %q", c, ct)
				}
				s := decode[struct {
					Type       string
					Properties map[string]struct{ Type string }
				}](t, b)
				if s.Type != "object" || len(s.Properties) < 3 {
					t.Fatalf("%s queryables: %s", c, b)
				}
				// Every queryable listed is one a filter accepts; others are 400.
				for name := range s.Properties {
					expr := name + " IS NULL OR " + name + " IS NOT NULL"
					if name == "geometry" {
						expr = "S_INTERSECTS(geometry, BBOX(120, 28, 122, 30))"
					}
					resp, b := f.get(t, "/ogc/collections/"+c+"/items?limit=1&filter="+q(expr), f.admin)
					if resp.StatusCode != 200 {
						t.Errorf("%s: queryable %s refused: %s", c, name, b)
					}
				}
				resp, b = f.get(t, "/ogc/collections/"+c+"/items?filter="+q("colour = 'red'"), f.admin)
				wantProblem(t, resp, b, 400, "colour")
			}
		},
		f3 + "queryables-query-parameters": func(t *testing.T) {
			a := f.all(t, "/ogc/collections/incidents/items?limit=1000&status=registered&town="+town2, f.admin)
			b := f.all(t, "/ogc/collections/incidents/items?limit=1000&filter="+q("status = 'registered' AND town = '"+town2+"'"), f.admin)
			if len(a) == 0 || !slices.Equal(a, b) {
				t.Errorf("status=&town=: %d incidents, the filter %d", len(a), len(b))
			}
			n := f.count(t, `SELECT count(*) FROM incident WHERE category = ANY($1)`, snap.ThemeCategories("parking"))
			if got := f.all(t, "/ogc/collections/incidents/items?limit=1000&theme=parking", f.admin); len(got) != n || n == 0 {
				t.Errorf("theme=parking: %d, SQL %d", len(got), n)
			}
			fc, _ := f.items(t, "/ogc/collections/cells/items?town="+town1+","+town2, "")
			want := 0
			for _, c := range snap.Cells {
				if c.TownCode == town1 || c.TownCode == town2 {
					want++
				}
			}
			if fc.NumberMatched == nil || *fc.NumberMatched != int64(want) {
				t.Errorf("town=a,b: numberMatched %v, want %d", fc.NumberMatched, want)
			}
		},
		cql + "cql2-text": func(t *testing.T) {
			resp, b := f.get(t, "/ogc/collections/cells/items?filter-lang=cql2-json&filter="+q("code = 'x'"), "")
			wantProblem(t, resp, b, 400, "filter-lang")
		},
		cql + "basic-spatial-functions": func(t *testing.T) {
			fc, _ := f.items(t, "/ogc/collections/towns/items?filter="+q("S_INTERSECTS(geometry, POINT(121.13 28.85))"), "")
			if fc.NumberMatched == nil || *fc.NumberMatched < 1 || *fc.NumberMatched > 2 {
				t.Errorf("towns at the seat: %v", fc.NumberMatched)
			}
		},
	}
	checks[cql+"basic-cql2"] = func(t *testing.T) {
		fc, _ := f.items(t, "/ogc/collections/towns/items?filter="+q("NOT (code <> '"+town1+"') AND (name = 'x' OR TRUE) AND kind IN ('street','town')"), "")
		if fc.NumberMatched == nil || *fc.NumberMatched != 1 || fc.Features[0].ID != town1 {
			t.Errorf("NOT, <>, OR, TRUE, IN: %v", fc.NumberMatched)
		}
		resp, b := f.get(t, "/ogc/collections/towns/items?filter="+q("name = "), "")
		wantProblem(t, resp, b, 400, "filter")
	}
	for _, c := range declared {
		check, ok := checks[c]
		if !ok {
			t.Errorf("conformance class %s is declared but nothing here checks it", c)
			continue
		}
		t.Run(strings.TrimPrefix(c, "http://www.opengis.net/spec/"), check)
	}
	for c := range checks {
		if !slices.Contains(declared, c) {
			t.Errorf("class %s is checked but not declared", c)
		}
	}
}

const (
	crs84    = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
	epsg4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
	epsg4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
)

func mustGet(t *testing.T, f *fixture, path string) []byte {
	t.Helper()
	resp, b := f.get(t, path, "")
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// TestAccess: incidents need a key of any role; a town's key sees its own
// town's incidents only and gets 404 for another town's; the geography is
// public.
func TestAccess(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, p := range []string{"/ogc/collections/incidents/items", "/ogc/collections/incidents", "/ogc/collections/incidents/items/1"} {
		resp, b := f.get(t, p, "")
		wantProblem(t, resp, b, 401, "API key")
	}
	all := f.all(t, "/ogc/collections/incidents/items?limit=500", f.admin)
	if len(all) != f.nIncid {
		t.Errorf("admin: %d incidents, %d stored", len(all), f.nIncid)
	}
	own := f.all(t, "/ogc/collections/incidents/items?limit=500", f.town1)
	if n := f.count(t, `SELECT count(*) FROM incident WHERE town_code = $1`, town1); len(own) != n || n == 0 {
		t.Errorf("town key: %d incidents, %d in its town", len(own), n)
	}
	var other int64
	if err := f.db.Pool().QueryRow(context.Background(), `SELECT id FROM incident WHERE town_code = $1 LIMIT 1`, town2).Scan(&other); err != nil {
		t.Fatal(err)
	}
	resp, b := f.get(t, fmt.Sprintf("/ogc/collections/incidents/items/%d", other), f.town1)
	wantProblem(t, resp, b, 404, "no incident")
	if resp, b := f.get(t, fmt.Sprintf("/ogc/collections/incidents/items/%d", other), f.admin); resp.StatusCode != 200 {
		t.Errorf("admin reads incident %d: %d %s", other, resp.StatusCode, b)
	}
	if got := f.all(t, "/ogc/collections/incidents/items?town="+town2, f.town1); len(got) != 0 {
		t.Errorf("town key asking for another town: %d incidents", len(got))
	}
	resp, b = f.get(t, "/ogc/collections/incidents/items", "not-a-key")
	wantProblem(t, resp, b, 401, "")
	for _, p := range []string{"/ogc", "/ogc/collections", "/ogc/collections/cells/items", "/ogc/collections/facilities/items"} {
		if resp, b := f.get(t, p, ""); resp.StatusCode != 200 {
			t.Errorf("public %s: %d %s", p, resp.StatusCode, b)
		}
	}
	// The incident collection's temporal extent starts no later than the
	// oldest incident.
	c := decode[struct {
		Extent struct {
			Temporal struct{ Interval [][]*string }
		}
	}](t, mustGetKey(t, f, "/ogc/collections/incidents", f.admin))
	var oldest string
	if err := f.db.Pool().QueryRow(context.Background(), `SELECT to_char(min(occurred_at) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') FROM incident`).Scan(&oldest); err != nil {
		t.Fatal(err)
	}
	iv := c.Extent.Temporal.Interval
	if len(iv) != 1 || len(iv[0]) != 2 || iv[0][0] == nil || *iv[0][0] > oldest || iv[0][1] != nil {
		t.Errorf("temporal extent %v, oldest incident %s", iv, oldest)
	}
}

func mustGetKey(t *testing.T, f *fixture, path, key string) []byte {
	t.Helper()
	resp, b := f.get(t, path, key)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
	}
	return b
}

// TestBadParameters: every bad parameter is a 400 problem naming it.
func TestBadParameters(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	items := "/ogc/collections/incidents/items?"
	for _, c := range []struct{ query, mention string }{
		{"limit=0", "limit"},
		{"limit=ten", "limit"},
		{"bbox=1,2,3", "bbox"},
		{"bbox=121.2,28.8,121.1,28.9", "bbox"},
		{"bbox=121,28,x,29", "bbox"},
		{"bbox=121,28,5,122,29,9", "bbox"},
		{"bbox=121,28,29,122&bbox-crs=" + q(epsg4326), "bbox"},
		{"bbox=121,28,122,29&bbox-crs=EPSG:3857", "bbox-crs"},
		{"crs=wgs84", "crs"},
		{"datetime=yesterday", "datetime"},
		{"datetime=2026-03-09T00:00:00Z/2026-03-01T00:00:00Z", "datetime"},
		{"datetime=../..", "datetime"},
		{"filter=" + q("status = "), "filter"},
		{"filter=" + q("colour = 'red'"), "colour"},
		{"filter=" + q("status = 3"), "filter"},
		{"filter=x&filter-lang=cql-json", "filter-lang"},
		{"filter=" + q("S_INTERSECTS(geometry, POINT(28.8 121.1))") + "&filter-crs=" + q(epsg4326), "filter-crs"},
		{"filter-lang=cql2-text", "filter"},
		{"status=solved", "status"},
		{"source=pigeon", "source"},
		{"theme=noise", "theme"},
		{"after=abc", "after"},
		{"colour=red", "colour"},
		{"status=", "status"},
	} {
		resp, b := f.get(t, items+c.query, f.admin)
		wantProblem(t, resp, b, 400, c.mention)
	}
	for _, c := range []struct{ path, mention string }{
		{"/ogc/collections/cells/items?datetime=2026-03-01T00:00:00Z", "datetime"},
		{"/ogc/collections/cells/items?kind=x", "kind"},
		{"/ogc/collections/zones/items?kind=forest", "kind"},
		{"/ogc/collections/cells/items/331082001001001?limit=3", "limit"},
		{"/ogc/collections/cells/items/331082001001001?crs=x", "crs"},
		{"/ogc/collections?x=1", "x"},
		{"/ogc?f=html", "f"},
	} {
		resp, b := f.get(t, c.path, f.admin)
		wantProblem(t, resp, b, 400, c.mention)
	}
	resp, b := f.get(t, "/ogc/collections/incidents/items/abc", f.admin)
	wantProblem(t, resp, b, 404, "abc")
}

// TestLinksFollowTheProxy: next and self links are absolute URLs of the
// host and scheme the client used, as a reverse proxy reports them.
func TestLinksFollowTheProxy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resp, b := f.do(t, http.MethodGet, "/ogc/collections/cells/items?limit=2", nil, "X-Forwarded-Proto", "https", "X-Forwarded-Host", "gis.example.org")
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	fc := decode[featureCollection](t, b)
	if n := fc.next(); !strings.HasPrefix(n, "https://gis.example.org/ogc/collections/cells/items?") || !strings.Contains(n, "after=") {
		t.Errorf("next %q", n)
	}
	_, b = f.do(t, http.MethodGet, "/ogc", nil, "X-Forwarded-Host", "evil\"host/x")
	if strings.Contains(string(b), "evil") {
		t.Errorf("a malformed X-Forwarded-Host reached the links: %s", b)
	}
}
