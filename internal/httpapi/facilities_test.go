package httpapi_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
)

type facilityOut struct {
	Code, Kind, Name string
	Lon, Lat         float64
	Meters           *float64
	Attrs            map[string]string
}

type facilityPage struct {
	Facilities []facilityOut
	Next       *string
}

// stored is a facility as PostGIS holds it.
type stored struct {
	Code, Kind string
	Lon, Lat   float64
}

func storedFacilities(t *testing.T, f *fixture) []stored {
	t.Helper()
	rows, _ := f.db.Pool().Query(context.Background(), `SELECT code, kind, ST_X(geom), ST_Y(geom) FROM facility ORDER BY code`)
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[stored])
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func (f *fixture) getAccept(t *testing.T, path, accept string) (*http.Response, []byte) {
	t.Helper()
	return f.do(t, http.MethodGet, path, nil, "Accept", accept)
}

// walk follows next links from path and returns every facility once seen.
func (f *fixture) walk(t *testing.T, path string) (out []facilityOut, pages int) {
	t.Helper()
	for path != "" {
		resp, b := f.get(t, path)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		p := decode[facilityPage](t, b)
		out = append(out, p.Facilities...)
		path = ""
		if p.Next != nil {
			path = *p.Next
			if resp.Header.Get("Link") != "<"+path+`>; rel="next"` {
				t.Errorf("Link header %q, next %q", resp.Header.Get("Link"), path)
			}
		}
		if pages++; pages > 200 {
			t.Fatal("too many pages")
		}
	}
	return out, pages
}

func codes(fs []facilityOut) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Code
	}
	return out
}

// TestFacilitiesNearestAgreesWithPostGIS: for 200 random points in the city,
// each with a kind, k and max_m, the endpoint answers what ranking every
// facility by ST_Distance on geography answers.
func TestFacilitiesNearestAgreesWithPostGIS(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	rows, _ := f.db.Pool().Query(ctx, `
		SELECT ST_X(d.geom), ST_Y(d.geom)
		FROM city c, ST_Dump(ST_GeneratePoints(c.geom, 200, 42)) d
		WHERE c.version_id = (SELECT id FROM grid_version WHERE active)`)
	points, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]float64, error) {
		var p [2]float64
		err := r.Scan(&p[0], &p[1])
		return p, err
	})
	if err != nil || len(points) != 200 {
		t.Fatalf("%d points: %v", len(points), err)
	}
	type ranked struct {
		Code, Kind string
		Meters     float64
	}
	kinds := append(grid.FacilityKinds(), "")
	const workers = 4
	for w := range workers {
		t.Run(fmt.Sprint("part", w), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(w), 99))
			for i := w; i < len(points); i += workers {
				p := points[i]
				rows, _ := f.db.Pool().Query(ctx, `
					SELECT code, kind, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography) d
					FROM facility ORDER BY d, code`, p[0], p[1])
				all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ranked])
				if err != nil {
					t.Fatal(err)
				}
				for j := range 2 {
					kind := kinds[(2*i+j)%len(kinds)]
					k := []int{1, 3, 10, 100}[rng.IntN(4)]
					maxM := []float64{50_000, 4000, 600}[rng.IntN(3)]
					path := fmt.Sprintf("/v1/facilities/nearest?lon=%v&lat=%v&k=%d&max_m=%v&kind=%s", p[0], p[1], k, maxM, kind)
					resp, b := f.get(t, path)
					if resp.StatusCode != 200 {
						t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
					}
					got := decode[facilityPage](t, b).Facilities
					var want []ranked
					for _, r := range all {
						if len(want) == k || r.Meters > maxM {
							break
						}
						if kind == "" || r.Kind == kind {
							want = append(want, r)
						}
					}
					if len(got) != len(want) {
						t.Fatalf("%s: %d facilities, brute force %d", path, len(got), len(want))
					}
					for n, g := range got {
						if g.Code != want[n].Code || g.Meters == nil || math.Abs(*g.Meters-want[n].Meters) > 1e-6 {
							t.Fatalf("%s [%d]: %+v, brute force %+v", path, n, g, want[n])
						}
						if h := haversine(p, [2]float64{g.Lon, g.Lat}); math.Abs(h-*g.Meters) > 0.005**g.Meters+1e-6 {
							t.Fatalf("%s: %s %v m geodesic, %v m haversine", path, g.Code, *g.Meters, h)
						}
					}
				}
			}
		})
	}
}

func haversine(a, b [2]float64) float64 {
	const r = 6371008.8
	rad := math.Pi / 180
	dlat, dlon := (b[1]-a[1])*rad, (b[0]-a[0])*rad
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(a[1]*rad)*math.Cos(b[1]*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Sqrt(h))
}

// TestFacilitiesNearestGCJ02: a GCJ-02 query point answers as its WGS84
// equivalent does, with GCJ-02 coordinates out; defaults k=5, max_m 50 km.
func TestFacilitiesNearestGCJ02(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lon, lat := 121.1335, 28.8493
	glon, glat := coord.WGS84ToGCJ02(lon, lat)
	_, b := f.get(t, fmt.Sprintf("/v1/facilities/nearest?lon=%v&lat=%v&kind=toilet", lon, lat))
	w := decode[facilityPage](t, b).Facilities
	_, b = f.get(t, fmt.Sprintf("/v1/facilities/nearest?lon=%v&lat=%v&kind=toilet&crs=gcj02", glon, glat))
	g := decode[facilityPage](t, b).Facilities
	if len(w) != 5 || len(g) != 5 {
		t.Fatalf("default k: %d and %d facilities, want 5", len(w), len(g))
	}
	for i := range w {
		if w[i].Code != g[i].Code || math.Abs(*w[i].Meters-*g[i].Meters) > 1e-3 || w[i].Attrs == nil || w[i].Kind != "toilet" {
			t.Fatalf("[%d] wgs84 %+v, gcj02 %+v", i, w[i], g[i])
		}
		x, y := coord.GCJ02ToWGS84(g[i].Lon, g[i].Lat)
		if math.Abs(x-w[i].Lon) > 1e-7 || math.Abs(y-w[i].Lat) > 1e-7 {
			t.Errorf("%s: gcj02 output (%v, %v) goes back to (%v, %v), stored (%v, %v)", g[i].Code, g[i].Lon, g[i].Lat, x, y, w[i].Lon, w[i].Lat)
		}
	}
	// Nearest-first, and GeoJSON on request.
	resp, b := f.getAccept(t, fmt.Sprintf("/v1/facilities/nearest?lon=%v&lat=%v&k=20", lon, lat), "application/geo+json")
	fc := decode[featureCollection](t, b)
	if ct := resp.Header.Get("Content-Type"); ct != "application/geo+json" || fc.Type != "FeatureCollection" || len(fc.Features) != 20 {
		t.Fatalf("geojson: %s, %s with %d features", ct, fc.Type, len(fc.Features))
	}
	for i := 1; i < len(fc.Features); i++ {
		if *fc.Features[i].Properties.Meters < *fc.Features[i-1].Properties.Meters {
			t.Errorf("feature %d is nearer than feature %d", i, i-1)
		}
	}
}

type featureCollection struct {
	Type     string
	Features []struct {
		Type, ID string
		Geometry struct {
			Type        string
			Coordinates [2]float64
		}
		Properties facilityOut
	}
	Next  string
	Links []struct{ Rel, Href string }
}

// TestFacilitiesPages walks every camera through next links exactly once,
// and every facility at the default page size.
func TestFacilitiesPages(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	all := storedFacilities(t, f)
	cams, pages := f.walk(t, "/v1/facilities?kind=camera&limit=1000")
	got := codes(cams)
	if len(got) != 4097 || pages != 5 || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != 4097 {
		t.Fatalf("walked %d cameras in %d pages, want 4097 once each in 5", len(got), pages)
	}
	for _, c := range cams {
		if c.Kind != "camera" || c.Attrs == nil || c.Meters != nil {
			t.Fatalf("%+v", c)
		}
	}
	every, pages := f.walk(t, "/v1/facilities")
	if len(every) != len(all) || pages != (len(all)+99)/100 {
		t.Errorf("walked %d facilities in %d pages, want %d", len(every), pages, len(all))
	}
	for i, s := range all {
		if every[i].Code != s.Code || every[i].Lon != s.Lon || every[i].Lat != s.Lat {
			t.Fatalf("[%d] %+v, stored %+v", i, every[i], s)
		}
	}
	// The last page of an exact multiple has no next.
	_, b := f.get(t, "/v1/facilities?kind=gas_company&limit=7")
	if p := decode[facilityPage](t, b); len(p.Facilities) != 7 || p.Next != nil {
		t.Errorf("7 gas companies by 7: %d, next %v", len(p.Facilities), p.Next)
	}
	// GeoJSON pages carry the next link too.
	_, b = f.get(t, "/v1/facilities?kind=toilet&limit=100&f=geojson")
	fc := decode[featureCollection](t, b)
	if len(fc.Features) != 100 || fc.Next == "" || len(fc.Links) != 1 || fc.Links[0].Rel != "next" {
		t.Fatalf("geojson page: %d features, next %q, links %+v", len(fc.Features), fc.Next, fc.Links)
	}
	_, b = f.get(t, fc.Next)
	if fc := decode[featureCollection](t, b); len(fc.Features) != 50 || fc.Next != "" || fc.Features[0].Geometry.Type != "Point" {
		t.Errorf("second geojson page: %d features, next %q", len(fc.Features), fc.Next)
	}
}

// TestFacilitiesBBox: WGS84 boxes agree with ST_Intersects on the envelope;
// GCJ-02 and BD-09 boxes select exactly the facilities whose output
// coordinates lie in them, across pages, edges included.
func TestFacilitiesBBox(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	all := storedFacilities(t, f)
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, s := range all {
		minX, minY, maxX, maxY = min(minX, s.Lon), min(minY, s.Lat), max(maxX, s.Lon), max(maxY, s.Lat)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	box := func(i int) [4]float64 {
		if i%4 == 0 {
			// Edges through two facilities' coordinates, output ones for gcj02.
			a, b := all[rng.IntN(len(all))], all[rng.IntN(len(all))]
			ax, ay, bx, by := a.Lon, a.Lat, b.Lon, b.Lat
			if i%8 == 4 {
				ax, ay = coord.WGS84ToGCJ02(ax, ay)
				bx, by = coord.WGS84ToGCJ02(bx, by)
			}
			return [4]float64{min(ax, bx), min(ay, by), max(ax, bx), max(ay, by)}
		}
		// Anything from a few hundred metres to most of the city.
		w := math.Pow(10, -2.5+2*rng.Float64())
		x, y := minX+rng.Float64()*(maxX-minX), minY+rng.Float64()*(maxY-minY)
		return [4]float64{x - w/2, y - w/3, x + w/2, y + w/3}
	}
	for i := range 40 {
		b := box(i)
		bbox := fmt.Sprintf("%v,%v,%v,%v", b[0], b[1], b[2], b[3])
		kind := []string{"", "camera", "toilet"}[i%3]
		if i%8 == 4 || i%2 == 1 {
			// GCJ-02 or BD-09: the box applies to the output coordinates.
			crs := coord.GCJ02
			if i%4 == 3 {
				crs = coord.BD09
			}
			var want []string
			for _, s := range all {
				x, y := coord.FromWGS84(crs, s.Lon, s.Lat)
				if (kind == "" || s.Kind == kind) && x >= b[0] && x <= b[2] && y >= b[1] && y <= b[3] {
					want = append(want, s.Code)
				}
			}
			got, _ := f.walk(t, "/v1/facilities?limit=50&crs="+crs.String()+"&kind="+kind+"&bbox="+url.QueryEscape(bbox))
			if !slices.Equal(codes(got), want) {
				t.Fatalf("%s box %s kind %q: %d facilities, want %d", crs, bbox, kind, len(got), len(want))
			}
			for _, g := range got {
				x, y := coord.ToWGS84(crs, g.Lon, g.Lat)
				s := all[slices.IndexFunc(all, func(s stored) bool { return s.Code == g.Code })]
				if math.Abs(x-s.Lon) > 1e-7 || math.Abs(y-s.Lat) > 1e-7 {
					t.Fatalf("%s: %s (%v, %v) goes back to (%v, %v), stored (%v, %v)", g.Code, crs, g.Lon, g.Lat, x, y, s.Lon, s.Lat)
				}
			}
			continue
		}
		rows, _ := f.db.Pool().Query(ctx, `SELECT code FROM facility
			WHERE ST_Intersects(geom, ST_MakeEnvelope($1, $2, $3, $4, 4326)) AND ($5 = '' OR kind = $5) ORDER BY code`,
			b[0], b[1], b[2], b[3], kind)
		want, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		got, _ := f.walk(t, "/v1/facilities?limit=1000&kind="+kind+"&bbox="+url.QueryEscape(bbox))
		if !slices.Equal(codes(got), want) {
			t.Fatalf("box %s kind %q: %d facilities, ST_Intersects %d", bbox, kind, len(got), len(want))
		}
	}
}

func TestFacilitiesBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	near := "/v1/facilities/nearest?lon=121.13&lat=28.85"
	for _, c := range []struct{ path, field string }{
		{"/v1/facilities?kind=bench", "kind"},
		{"/v1/facilities?kind=Camera", "kind"},
		{"/v1/facilities?limit=0", "limit"},
		{"/v1/facilities?limit=1001", "limit"},
		{"/v1/facilities?limit=-3", "limit"},
		{"/v1/facilities?limit=ten", "limit"},
		{"/v1/facilities?after=" + url.QueryEscape("x' OR 1=1"), "after"},
		{"/v1/facilities?bbox=121,28,122", "bbox"},
		{"/v1/facilities?bbox=121,28,122,29,30", "bbox"},
		{"/v1/facilities?bbox=122,28,121,29", "bbox"},
		{"/v1/facilities?bbox=121,29,122,28", "bbox"},
		{"/v1/facilities?bbox=121,NaN,122,29", "bbox"},
		{"/v1/facilities?bbox=121,28,Inf,29", "bbox"},
		{"/v1/facilities?bbox=121,28,x,29", "bbox"},
		{"/v1/facilities?bbox=-181,28,122,29", "bbox"},
		{"/v1/facilities?bbox=121,-91,122,29", "bbox"},
		{"/v1/facilities?bbox=", ""}, // empty means none: see below
		{"/v1/facilities?crs=utm", "crs"},
		{"/v1/facilities?f=xml", "f"},
		{"/v1/facilities/nearest?lat=28.85", "lon"},
		{"/v1/facilities/nearest?lon=121.13", "lat"},
		{"/v1/facilities/nearest?lon=east&lat=28.85", "lon"},
		{"/v1/facilities/nearest?lon=121.13&lat=NaN", "lat"},
		{"/v1/facilities/nearest?lon=181&lat=28.85", "lon"},
		{"/v1/facilities/nearest?lon=121.13&lat=-90.5", "lat"},
		{"/v1/facilities/nearest?lon=Inf&lat=28.85", "lon"},
		{near + "&crs=mars", "crs"},
		{near + "&kind=bench", "kind"},
		{near + "&k=0", "k"},
		{near + "&k=101", "k"},
		{near + "&k=2.5", "k"},
		{near + "&max_m=0", "max_m"},
		{near + "&max_m=-10", "max_m"},
		{near + "&max_m=50001", "max_m"},
		{near + "&max_m=NaN", "max_m"},
		{near + "&max_m=Inf", "max_m"},
		{near + "&max_m=far", "max_m"},
		{near + "&f=kml", "f"},
	} {
		resp, b := f.get(t, c.path)
		if c.field == "" {
			if resp.StatusCode != 200 {
				t.Errorf("%s: %d %s", c.path, resp.StatusCode, b)
			}
			continue
		}
		wantProblem(t, resp, b, http.StatusBadRequest, c.field+":")
	}
	// Edge values are accepted.
	for _, p := range []string{near + "&k=100&max_m=50000", near + "&k=1&max_m=0.5", "/v1/facilities?limit=1000&bbox=-180,-90,180,90",
		"/v1/facilities?bbox=121.1,28.8,121.1,28.8&crs=bd09", "/v1/facilities/nearest?lon=-180&lat=90&crs=BD09"} {
		if resp, b := f.get(t, p); resp.StatusCode != 200 || !strings.HasPrefix(string(b), `{"facilities":[`) {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b)
		}
	}
}
