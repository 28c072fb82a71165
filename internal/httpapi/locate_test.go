package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
)

type codeName struct{ Code, Name string }

type locateResult struct {
	Cell        *codeName
	Community   *codeName
	Town        *codeName
	GridVersion int64 `json:"grid_version"`
	Department  *codeName
	Rule        *struct {
		ID       int64
		Scope    string
		Fallback bool
		Zone     string
	}
	Error *struct {
		Status int
		Detail string
	}
}

func (f *fixture) post(t *testing.T, path string, body any) (*http.Response, []byte) {
	t.Helper()
	return f.postAs(t, path, body, f.key)
}

// postAs posts body with key ("" for the public).
func (f *fixture) postAs(t *testing.T, path string, body any, key string) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case []byte:
		r = bytes.NewReader(b)
	case string:
		r = strings.NewReader(b)
	default:
		j, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	return f.do(t, http.MethodPost, path, r, "Content-Type", "application/json", "Authorization", bearer(key))
}

// interior returns a point inside the cell, from PostGIS.
func (f *fixture) interior(t *testing.T, code string) (float64, float64) {
	t.Helper()
	var x, y float64
	if err := f.db.Pool().QueryRow(context.Background(), `SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM cell
		WHERE code = $1 AND version_id = (SELECT id FROM grid_version WHERE active)) s`, code).Scan(&x, &y); err != nil {
		t.Fatal(err)
	}
	return x, y
}

func TestLocateSingle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	code := "331082001001001"
	lon, lat := f.interior(t, code)
	for _, c := range []struct {
		crs      string
		lon, lat float64
	}{
		{"", lon, lat},
		{"wgs84", lon, lat},
		{"gcj02", 0, 0},
		{"bd09", 0, 0},
	} {
		switch c.crs {
		case "gcj02":
			c.lon, c.lat = coord.WGS84ToGCJ02(lon, lat)
		case "bd09":
			c.lon, c.lat = coord.WGS84ToBD09(lon, lat)
		}
		q := url.Values{"lon": {fmt.Sprint(c.lon)}, "lat": {fmt.Sprint(c.lat)}, "category": {"E0505"}}
		if c.crs != "" {
			q.Set("crs", c.crs)
		}
		resp, b := f.get(t, "/v1/locate?"+q.Encode())
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", c.crs, resp.StatusCode, b)
		}
		r := decode[locateResult](t, b)
		if r.Cell == nil || r.Cell.Code != code || r.Community.Code != code[:12] || r.Town.Code != code[:9] || r.Town.Name != "古城街道" {
			t.Errorf("%s: %s", c.crs, b)
		}
		if r.Department == nil || r.Department.Name == "" || r.Rule == nil || r.Rule.ID == 0 || r.GridVersion == 0 {
			t.Errorf("%s: no department or rule: %s", c.crs, b)
		}
	}
	// The same point read as WGS84 when it was GCJ-02: some 500 m away, and
	// in the urban core that is another cell.
	g0, g1 := coord.WGS84ToGCJ02(lon, lat)
	_, b := f.get(t, fmt.Sprintf("/v1/locate?lon=%v&lat=%v", g0, g1))
	if r := decode[locateResult](t, b); r.Cell != nil && r.Cell.Code == code {
		t.Errorf("a GCJ-02 point taken as WGS84 landed in the same small cell: the crs is not applied")
	}
	// Without a category: no department, no rule.
	_, b = f.get(t, fmt.Sprintf("/v1/locate?lon=%v&lat=%v", lon, lat))
	if r := decode[locateResult](t, b); r.Department != nil || r.Rule != nil || r.Cell.Code != code {
		t.Errorf("without a category: %s", b)
	}
}

func TestLocateRejectsBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, c := range []struct {
		query   string
		status  int
		mention string
	}{
		{"lat=28.85", 400, "lon"},
		{"lon=121.13", 400, "lat"},
		{"lon=abc&lat=28.85", 400, "lon"},
		{"lon=121.13&lat=", 400, "lat"},
		{"lon=NaN&lat=28.85", 400, "lon"},
		{"lon=121.13&lat=Inf", 400, "lat"},
		{"lon=181&lat=28.85", 400, "lon"},
		{"lon=121.13&lat=-91", 400, "lat"},
		{"lon=121.13&lat=28.85&crs=bd09mc", 400, "crs"},
		{"lon=121.13&lat=28.85&category=parking", 400, "category"},
		{"lon=121.13&lat=28.85&category=E9999", 400, "category"},
		{"lon=121.13&lat=28.85&at=yesterday", 400, "at"},
		{"lon=121.13&lat=28.85&at=2001-01-01T00:00:00Z", 404, "no grid version"},
		{"lon=116.40&lat=39.90", 404, "outside the managed area"},
		{"lon=0&lat=0&crs=gcj02", 404, "outside"},
	} {
		resp, b := f.get(t, "/v1/locate?"+c.query)
		wantProblem(t, resp, b, c.status, c.mention)
	}
	for _, c := range []struct {
		body    string
		mention string
	}{
		{``, "body"},
		{`{`, "body"},
		{`[]`, "body"},
		{`{"points":[[121,28]],"extra":1}`, "extra"},
		{`{"crs":"wgs84"}`, "points"},
		{`{"points":"121,28"}`, "points"},
		{`{"points":[[121,28]],"crs":"utm"}`, "crs"},
		{`{"points":[[121,28]],"category":"E05"}`, "category"},
		{`{"points":[[121,28]]} {}`, "trailing"},
	} {
		resp, b := f.post(t, "/v1/locate", c.body)
		wantProblem(t, resp, b, 400, c.mention)
	}
	big := make([][2]float64, 100_001)
	resp, b := f.post(t, "/v1/locate", map[string]any{"points": big})
	wantProblem(t, resp, b, 400, "points")
	huge := append([]byte(`{"points":[`), bytes.Repeat([]byte(`[121.123456789012,28.123456789012],`), 600_000)...)
	huge = append(huge, "[121,28]]}"...)
	resp, b = f.post(t, "/v1/locate", huge)
	wantProblem(t, resp, b, 400, "body")
}

func TestLocateBatchKeepsOrderAndItemErrors(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a0, a1 := f.interior(t, "331082001001001")
	b0, b1 := f.interior(t, "331082005001001")
	body := fmt.Sprintf(`{"category":"E0406","points":[[%v,%v],[116.4,39.9],[%v,%v],[1e999,0],[121],[%v,%v]]}`, a0, a1, b0, b1, a0, a1)
	body = strings.Replace(body, "1e999", "200", 1)
	resp, b := f.post(t, "/v1/locate", body)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	r := decode[struct{ Results []locateResult }](t, b)
	if len(r.Results) != 6 {
		t.Fatalf("%d results for 6 points", len(r.Results))
	}
	want := []string{"331082001001001", "404", "331082005001001", "400", "400", "331082001001001"}
	for i, w := range want {
		got := ""
		switch x := r.Results[i]; {
		case x.Cell != nil:
			got = x.Cell.Code
			if x.Department == nil {
				t.Errorf("item %d: no department", i)
			}
		case x.Error != nil:
			got = fmt.Sprint(x.Error.Status)
			if !strings.Contains(x.Error.Detail, fmt.Sprintf("points[%d]", i)) {
				t.Errorf("item %d: error does not name its point: %q", i, x.Error.Detail)
			}
		}
		if got != w {
			t.Errorf("item %d: %s, want %s", i, got, w)
		}
	}
}

// TestLocateAgreesWithPostGIS is the property test: 100,000 random points
// through the batch API against PostGIS ST_Covers with the smallest-code
// rule, plus every vertex of the cells of a few communities, where the
// tie-break decides.
func TestLocateAgreesWithPostGIS(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r := rand.New(rand.NewPCG(11, 12))
	var xs, ys []float64
	for range 100_000 {
		xs = append(xs, 120.80+r.Float64()*0.95)
		ys = append(ys, 28.62+r.Float64()*0.50)
	}
	var vx, vy []float64
	if err := f.db.Pool().QueryRow(ctx, `SELECT array_agg(ST_X((dp).geom)), array_agg(ST_Y((dp).geom)) FROM (SELECT ST_DumpPoints(geom) dp FROM cell
		WHERE version_id = (SELECT id FROM grid_version WHERE active) AND community_code IN
		  (SELECT DISTINCT community_code FROM cell ORDER BY 1 LIMIT 6)) s`).Scan(&vx, &vy); err != nil {
		t.Fatal(err)
	}
	xs, ys = append(xs, vx...), append(ys, vy...)

	var want []*string
	if err := f.db.Pool().QueryRow(ctx, `
		SELECT array_agg((SELECT min(c.code) FROM cell c WHERE c.version_id = (SELECT id FROM grid_version WHERE active)
		                  AND ST_Covers(c.geom, ST_SetSRID(ST_MakePoint(u.x, u.y), 4326))) ORDER BY u.i)
		FROM unnest($1::float8[], $2::float8[]) WITH ORDINALITY u(x, y, i)`, xs, ys).Scan(&want); err != nil {
		t.Fatal(err)
	}
	check := func(from, to int) {
		pts := make([][2]float64, 0, to-from)
		for i := from; i < to; i++ {
			pts = append(pts, [2]float64{xs[i], ys[i]})
		}
		resp, b := f.post(t, "/v1/locate", map[string]any{"points": pts})
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b[:min(len(b), 300)])
		}
		res := decode[struct{ Results []locateResult }](t, b).Results
		bad, inside := 0, 0
		for k, x := range res {
			i := from + k
			got := ""
			if x.Cell != nil {
				got = x.Cell.Code
				inside++
			} else if x.Error == nil || x.Error.Status != 404 {
				t.Fatalf("point %d: neither a cell nor a 404: %+v", i, x)
			}
			w := ""
			if want[i] != nil {
				w = *want[i]
			}
			if got != w {
				bad++
				if bad <= 5 {
					t.Errorf("point (%v, %v): citygrid %q, PostGIS %q", xs[i], ys[i], got, w)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%d of %d points disagree with PostGIS", bad, to-from)
		}
		if inside < (to-from)/3 {
			t.Errorf("only %d points inside", inside)
		}
	}
	check(0, 100_000)
	check(100_000, len(xs))
	if len(vx) < 500 {
		t.Errorf("only %d vertices tested", len(vx))
	}
}

// TestLocateAsAt: after a new grid version, at= before it answers from the
// old one, and without at= from the new one.
func TestLocateAsAt(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	code := "331082001001001"
	lon, lat := f.interior(t, code)
	before := time.Now()
	var doc []byte
	if err := f.db.Pool().QueryRow(ctx, `
		SELECT json_build_object('type', 'FeatureCollection', 'features', json_agg(json_build_object(
		  'type', 'Feature', 'properties', json_build_object('code', code, 'name', name || '（新）'),
		  'geometry', ST_AsGeoJSON(geom, 9)::json)))
		FROM cell WHERE version_id = (SELECT id FROM grid_version WHERE active)`).Scan(&doc); err != nil {
		t.Fatal(err)
	}
	v, err := f.db.ImportGrid(ctx, grid.ImportFile{Data: doc, Source: "as-at test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cat.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	_, b := f.get(t, fmt.Sprintf("/v1/locate?lon=%v&lat=%v", lon, lat))
	now := decode[locateResult](t, b)
	_, b = f.get(t, fmt.Sprintf("/v1/locate?lon=%v&lat=%v&at=%s", lon, lat, url.QueryEscape(before.Format(time.RFC3339Nano))))
	then := decode[locateResult](t, b)
	if now.GridVersion != v.ID || !strings.HasSuffix(now.Cell.Name, "（新）") {
		t.Errorf("now: %+v, want version %d with the new name", now, v.ID)
	}
	if then.GridVersion == v.ID || then.GridVersion == 0 || strings.HasSuffix(then.Cell.Name, "（新）") || then.Cell.Code != code {
		t.Errorf("as at %s: %+v, want the earlier version", before, then)
	}
}
