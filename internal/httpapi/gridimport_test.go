package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/geodata"
	"github.com/paulmach/orb/geojson"
)

// importAs posts an import body with a Content-Type and key ("" for none).
func (f *fixture) importAs(t *testing.T, query string, body []byte, contentType, key string) (*http.Response, []byte) {
	t.Helper()
	return f.do(t, http.MethodPost, "/v1/grid/versions"+query, strings.NewReader(string(body)),
		"Content-Type", contentType, "Authorization", bearer(key))
}

// demoCells is the demo city's cells as an import file, each name followed
// by suffix (as the command line's end-to-end test writes it).
func demoCells(t *testing.T, suffix string) []byte {
	t.Helper()
	city, err := geodata.Linhai()
	if err != nil {
		t.Fatal(err)
	}
	fc := geojson.NewFeatureCollection()
	for _, c := range city.Cells {
		f := geojson.NewFeature(c.Geometry)
		f.Properties["code"], f.Properties["name"] = c.Code, c.Name+suffix
		fc.Append(f)
	}
	b, err := fc.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type versionOut struct {
	ID          int64
	Active      bool
	Source      string
	Note        string
	ActivatedAt *time.Time `json:"activated_at"`
	Cells       int
	Communities int
	Towns       int
	Zones       int
}

// TestGridImportOverHTTP: an admin's import of the demo cells with new
// names is 201 with the new version and its Location; it is active, this
// replica locates from it at once, a second replica on the same database
// does after the activation's NOTIFY, and the audit log names the key.
func TestGridImportOverHTTP(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, other := newReplicas(t)
	first := f.cat.Current().Version.ID
	// The second replica listens as serve does: every activation, and
	// every (re)connect, refreshes its snapshot.
	refreshed := make(chan int64, 16)
	go other.db.ListenGridVersions(ctx, func() {
		if _, err := other.cat.Refresh(ctx); err != nil && ctx.Err() == nil {
			t.Errorf("second replica: refresh: %v", err)
		}
		select {
		case refreshed <- other.cat.Current().Version.ID:
		case <-ctx.Done():
		}
	}, slog.New(slog.DiscardHandler))
	<-refreshed // listening

	code := "331082001001001"
	lon, lat := f.interior(t, code)
	note := "2024 survey 复核"
	resp, b := f.importAs(t, "?crs=EPSG:4326&note="+url.QueryEscape(note), demoCells(t, "（新）"), "application/geo+json", f.key)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("import: %d %s", resp.StatusCode, b)
	}
	v := decode[versionOut](t, b)
	if v.ID == first || !v.Active || v.ActivatedAt == nil || v.Cells != 2213 || v.Communities == 0 || v.Towns != 19 ||
		v.Source != "import: POST /v1/grid/versions" || !strings.HasPrefix(v.Note, note) {
		t.Errorf("new version: %+v", v)
	}
	loc := resp.Header.Get("Location")
	if loc != fmt.Sprintf("/v1/grid/versions/%d", v.ID) {
		t.Errorf("Location %q", loc)
	}
	if got := mustStatus(t, 200)(f.getAs(t, loc, "")); string(got) != string(b) {
		t.Errorf("GET %s: %s, want the import's answer %s", loc, got, b)
	}
	list := decode[struct{ Versions []versionOut }](t, mustStatus(t, 200)(f.get(t, "/v1/grid/versions")))
	if len(list.Versions) != 2 || list.Versions[0].ID != v.ID || !list.Versions[0].Active || list.Versions[1].Active {
		t.Errorf("versions after the import: %+v", list.Versions)
	}

	// This replica answers from the new version as soon as the import is
	// answered; the other once its listener has heard the NOTIFY.
	locate := func(r *fixture) locateResult {
		return decode[locateResult](t, mustStatus(t, 200)(r.get(t, fmt.Sprintf("/v1/locate?lon=%v&lat=%v", lon, lat))))
	}
	if l := locate(f); l.GridVersion != v.ID || l.Cell == nil || l.Cell.Code != code || !strings.HasSuffix(l.Cell.Name, "（新）") {
		t.Errorf("this replica locates %+v, want cell %s of version %d with its new name", l, code, v.ID)
	}
	timeout := time.After(30 * time.Second)
	for id := int64(0); id != v.ID; {
		select {
		case id = <-refreshed:
		case <-timeout:
			t.Fatalf("the second replica still serves version %d 30 s after the import", other.cat.Current().Version.ID)
		}
	}
	if l := locate(other); l.GridVersion != v.ID || l.Cell == nil || !strings.HasSuffix(l.Cell.Name, "（新）") {
		t.Errorf("second replica locates %+v, want version %d with the new name", l, v.ID)
	}

	// The audit log: the key, the version, its counts and source.
	var keyID int64
	if err := f.db.Pool().QueryRow(ctx, `SELECT id FROM api_key WHERE note = 'test fixture' ORDER BY id LIMIT 1`).Scan(&keyID); err != nil {
		t.Fatal(err)
	}
	var actor, object string
	var detail []byte
	if err := f.db.Pool().QueryRow(ctx, `SELECT actor, target, detail FROM audit_log WHERE action = 'grid.import'`).Scan(&actor, &object, &detail); err != nil {
		t.Fatalf("audit row: %v", err)
	}
	var d struct {
		Source, CRS, Note             string
		Features, Cells, Towns, Zones int
		Communities                   int
		Levels                        []string
	}
	if err := json.Unmarshal(detail, &d); err != nil {
		t.Fatal(err)
	}
	if actor != fmt.Sprintf("api_key:%d", keyID) || object != fmt.Sprint("grid_version:", v.ID) || d.Source != v.Source || d.CRS != "EPSG:4326" ||
		d.Note != note || d.Features != 2213 || d.Cells != 2213 || d.Towns != 19 || d.Communities != v.Communities ||
		len(d.Levels) != 1 || d.Levels[0] != "cell" {
		t.Errorf("audit row: actor %q object %q detail %s", actor, object, detail)
	}
	// Both rows of the import, with the key, its role, the client's
	// address and the request id the answer carried.
	rid := resp.Header.Get("X-Request-Id")
	if n := countRows(t, f, `SELECT count(*) FROM audit_log WHERE request_id = $1 AND key_id = $2 AND role = 'admin' AND addr = '127.0.0.1'
		AND ((action = 'grid.import' AND target = $3) OR (action = 'grid.activate' AND target = $3))`, rid, keyID, fmt.Sprint("grid_version:", v.ID)); rid == "" || n != 2 {
		t.Errorf("%d audit rows of request %q, want grid.import and grid.activate", n, rid)
	}
}

// exportCells is the active version's cells as a FeatureCollection to
// mutate, straight from PostGIS.
func (f *fixture) exportCells(t *testing.T) map[string]any {
	t.Helper()
	var doc []byte
	if err := f.db.Pool().QueryRow(context.Background(), `
		SELECT json_build_object('type', 'FeatureCollection', 'features', json_agg(json_build_object(
		  'type', 'Feature', 'properties', json_build_object('code', code, 'name', name),
		  'geometry', ST_AsGeoJSON(geom, 9)::json) ORDER BY code))
		FROM cell WHERE version_id = (SELECT id FROM grid_version WHERE active)`).Scan(&doc); err != nil {
		t.Fatal(err)
	}
	var fc map[string]any
	if err := json.Unmarshal(doc, &fc); err != nil {
		t.Fatal(err)
	}
	return fc
}

// features returns the features of fc and the property map of each.
func features(fc map[string]any) ([]any, []map[string]any) {
	fs := fc["features"].([]any)
	props := make([]map[string]any, len(fs))
	for i, f := range fs {
		props[i] = f.(map[string]any)["properties"].(map[string]any)
	}
	return fs, props
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// square is a closed polygon ring of side d degrees at lon, lat.
func square(lon, lat, d float64) map[string]any {
	return map[string]any{"type": "Polygon", "coordinates": [][][]float64{{{lon, lat}, {lon + d, lat}, {lon + d, lat + d}, {lon, lat + d}, {lon, lat}}}}
}

// TestGridImportRejected: every kind of bad file is 422, its problem
// listing each problem with the codes involved, and writes nothing: no
// version, no cell, no audit row.
func TestGridImportRejected(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	count := func(sql string) int {
		var n int
		if err := f.db.Pool().QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	versions, cells := count(`SELECT count(*) FROM grid_version`), count(`SELECT count(*) FROM cell`)
	lon, lat := f.interior(t, "331082001001001")
	type mutation func(fs []any, props []map[string]any) []any
	for _, c := range []struct {
		name     string
		query    string
		mutate   mutation
		mentions []string // each must appear in one of the problem's errors
	}{
		{name: "self-intersecting polygon", mutate: func(fs []any, props []map[string]any) []any {
			fs[0].(map[string]any)["geometry"] = map[string]any{"type": "Polygon", "coordinates": [][][]float64{{
				{121.10, 28.80}, {121.11, 28.81}, {121.11, 28.80}, {121.10, 28.81}, {121.10, 28.80}}}}
			return fs
		}, mentions: []string{"cell 331082001001001: invalid polygon: Self-intersection"}},
		{name: "duplicate and malformed codes", mutate: func(fs []any, props []map[string]any) []any {
			props[2]["code"] = props[1]["code"]
			props[0]["code"] = "33108200100"
			return fs
		}, mentions: []string{"code 33108200100): malformed code", "duplicate code, first at feature 1"}},
		{name: "no name, a point, a foreign county", mutate: func(fs []any, props []map[string]any) []any {
			delete(props[0], "name")
			fs[1].(map[string]any)["geometry"] = map[string]any{"type": "Point", "coordinates": []float64{121.1, 28.8}}
			props[2]["code"] = "441082001001003"
			return fs
		}, mentions: []string{"(code 331082001001001): no \"name\" property", "geometry is Point", "441082001001003): code does not begin with the county code"}},
		{name: "ring not closed", mutate: func(fs []any, props []map[string]any) []any {
			fs[0].(map[string]any)["geometry"] = map[string]any{"type": "Polygon", "coordinates": [][][]float64{{{121.1, 28.8}, {121.2, 28.8}, {121.2, 28.9}, {121.1, 28.9}}}}
			return fs
		}, mentions: []string{"331082001001001): polygon 1, ring 1 is not closed"}},
		{name: "missing parent and overlap, listed together", mutate: func(fs []any, props []map[string]any) []any {
			// A cell of a community that does not exist, and a cell given
			// its neighbour's polygon as well as its own place.
			extra := map[string]any{"type": "Feature", "properties": map[string]any{"code": "331082001999001", "name": "无主网格"},
				"geometry": fs[0].(map[string]any)["geometry"]}
			fs[1].(map[string]any)["geometry"] = fs[0].(map[string]any)["geometry"]
			return append(fs, extra)
		}, mentions: []string{"cell 331082001999001: its community 331082001999 is not in the grid",
			"cells 331082001001001 and 331082001001002 overlap", "community 331082001001: its cells leave a gap"}},
		{name: "gap", mutate: func(fs []any, props []map[string]any) []any {
			return fs[1:]
		}, mentions: []string{"community 331082001001: its cells leave a gap of"}},
		{name: "cell outside its community", mutate: func(fs []any, props []map[string]any) []any {
			return append(fs, map[string]any{"type": "Feature", "properties": map[string]any{"code": "331082001001999", "name": "越界网格"},
				"geometry": square(lon-0.02, lat-0.02, 0.04)})
		}, mentions: []string{"cell 331082001001999 extends", "overlap"}},
		{name: "outside China", mutate: func(fs []any, props []map[string]any) []any {
			fs[0].(map[string]any)["geometry"] = square(10, 50, 0.01)
			return fs
		}, mentions: []string{"cell 331082001001001: lies outside China"}},
		{name: "EPSG:4549 far outside its zone", query: "?crs=EPSG:4549", mutate: func(fs []any, props []map[string]any) []any {
			fs[0].(map[string]any)["geometry"] = square(1e12, 1e12, 1000)
			return fs[:1]
		}, mentions: []string{"cell 331082001001001: coordinates outside EPSG:4549's zone"}},
		{name: "no features", mutate: func(fs []any, props []map[string]any) []any {
			return []any{}
		}, mentions: nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			fc := f.exportCells(t)
			fs, props := features(fc)
			fc["features"] = c.mutate(fs, props)
			resp, b := f.importAs(t, c.query, marshal(t, fc), "application/geo+json", f.key)
			if resp.StatusCode != http.StatusUnprocessableEntity || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b[:min(len(b), 500)])
			}
			var p struct {
				Type, Title, Detail string
				Status              int
				Errors              []string
			}
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatal(err)
			}
			if p.Status != 422 || p.Type != "/problems/rejected" || p.Title != "Unprocessable Entity" || !strings.Contains(p.Detail, "rejected") {
				t.Errorf("problem %+v", p)
			}
			all := strings.Join(p.Errors, "\n")
			for _, m := range c.mentions {
				if !strings.Contains(all, m) {
					t.Errorf("errors do not mention %q:\n%s", m, all)
				}
			}
			if c.mentions == nil && !strings.Contains(p.Detail, "no features") {
				t.Errorf("detail %q", p.Detail)
			}
		})
	}
	if v, n, a := count(`SELECT count(*) FROM grid_version`), count(`SELECT count(*) FROM cell`), count(`SELECT count(*) FROM audit_log WHERE action = 'grid.import'`); v != versions || n != cells || a != 0 {
		t.Errorf("rejected imports wrote: %d versions (were %d), %d cells (were %d), %d audit rows", v, versions, n, cells, a)
	}
	if got := f.cat.Current().Version.ID; count(`SELECT id FROM grid_version WHERE active`) != int(got) {
		t.Errorf("the snapshot moved to version %d", got)
	}
}

// TestGridImportRefused: who may import, and what is not an import at
// all — 401, 403, 400, 413, 415 — all before anything is written.
func TestGridImportRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	key := func(role, town string) string {
		k, err := f.db.CreateAPIKey(ctx, role, town, "test "+role)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	good := demoCells(t, "")
	resp, b := f.importAs(t, "", good, "application/geo+json", "")
	wantProblem(t, resp, b, 401, "role admin")
	for _, role := range []string{"dispatcher", "planner", "app"} {
		resp, b := f.importAs(t, "", good, "application/geo+json", key(role, ""))
		wantProblem(t, resp, b, 403, "a key of role "+role)
	}
	resp, b = f.importAs(t, "", good, "application/geo+json", key("admin", "331082001"))
	wantProblem(t, resp, b, 403, "scoped to town 331082001")

	for _, c := range []struct {
		query, contentType, body string
		status                   int
		mentions                 string
	}{
		{"", "application/json", "hello, grid", 400, "not a GeoJSON FeatureCollection"},
		{"", "application/geo+json", `{"type":"Feature","properties":{},"geometry":null}`, 400, "not a GeoJSON FeatureCollection"},
		{"", "application/json", `[1, 2]`, 400, "not a GeoJSON FeatureCollection"},
		{"", "application/geo+json", ``, 400, "body: empty"},
		{"?crs=bd09", "application/geo+json", string(good), 400, `crs "bd09"`},
		{"?code-field=id", "application/geo+json", string(good), 400, "code-field: unknown query parameter"},
		{"?note=" + strings.Repeat("x", 1001), "application/geo+json", string(good), 400, "note"},
		{"", "text/csv", "code,name\n", 415, "application/geo+json or application/json"},
		{"", "multipart/form-data; boundary=x", "--x--", 415, "Content-Type"},
	} {
		resp, b := f.importAs(t, c.query, []byte(c.body), c.contentType, f.key)
		wantProblem(t, resp, b, c.status, c.mentions)
	}

	// Over 32 MiB is 413, whether the length is declared or the body
	// streams past it. Served in process: no socket to close early.
	padded := func(n int64) io.Reader {
		return io.MultiReader(strings.NewReader(`{"type":"FeatureCollection","features":[]`), io.LimitReader(spaces{}, n), strings.NewReader(`}`))
	}
	const limit = 32 << 20
	for _, declared := range []bool{true, false} {
		req := httptest.NewRequest(http.MethodPost, "/v1/grid/versions", padded(limit))
		req.Header.Set("Content-Type", "application/geo+json")
		req.Header.Set("Authorization", bearer(f.key))
		req.ContentLength = -1
		if declared {
			req.ContentLength = limit + 43
		}
		rec := httptest.NewRecorder()
		f.api.Handler().ServeHTTP(rec, req)
		wantProblem(t, rec.Result(), rec.Body.Bytes(), 413, "at most 32 MiB")
	}

	var n int
	if err := f.db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM grid_version) + (SELECT count(*) FROM audit_log WHERE action = 'grid.import')`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d versions and import audit rows (%v), want the demo's one version", n, err)
	}
}

// spaces reads as endless JSON whitespace.
type spaces struct{}

func (spaces) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}
