package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/api"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/citygrid/citygrid/internal/httpapi"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/citygrid/citygrid/internal/tally"
)

type fixture struct {
	srv   *httptest.Server
	db    *postgres.DB
	api   *httpapi.Server
	cat   *locate.Catalog
	heat  *hexbin.Heat
	tally *tally.Tally
	key   string // an admin key: get and post send it; getAs and postAs choose
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureOn(t, pgtest.New(t, pgtest.Demo))
}

// newReplicas serves two replicas of the service on one fresh demo
// database, each with its own pool.
func newReplicas(t *testing.T) (a, b *fixture) {
	t.Helper()
	url := pgtest.URL(t, pgtest.Demo)
	open := func() *postgres.DB {
		db, err := postgres.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(db.Close)
		return db
	}
	return newFixtureOn(t, open()), newFixtureOn(t, open())
}

// newFixtureOn serves db: one replica of the service.
func newFixtureOn(t *testing.T, db *postgres.DB) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cat := locate.NewCatalog(db)
	if _, err := cat.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	// Heatmaps come from the in-memory read model, as in the service: this
	// process's writes invalidate the slices they touch.
	heat := hexbin.NewHeat(db, db, grid.ChinaTime())
	db.OnRollupChange(heat.Invalidate)
	heat.Start(context.Background())
	// Statistics and the overview from their read model, as in the
	// service: this process's writes invalidate the ids they change.
	tl := tally.New(db, db, grid.ChinaTime())
	tl.Start(context.Background())
	s := httpapi.New(httpapi.Config{Store: db, Incidents: db, Stats: tl, Overview: tl, Heatmaps: heat, Keys: db, Audit: db, Requests: db, Facilities: db, Features: db, Catalog: cat,
		OpenAPI: api.OpenAPI, Tiles: db})
	db.OnIncidentsChanged(func(ch postgres.IncidentChange) { // as cmd wires it
		tl.Invalidate(ch.IDs)
		s.TilesChanged(httpapi.TileChange{Points: ch.Points, Areas: ch.Areas, Counted: ch.Counted, All: ch.All})
	})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	key, err := db.CreateAPIKey(ctx, "admin", "", "test fixture")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, db: db, api: s, cat: cat, heat: heat, tally: tl, key: key}
}

func (f *fixture) get(t *testing.T, path string) (*http.Response, []byte) {
	t.Helper()
	return f.getAs(t, path, f.key)
}

// do sends one request with the given headers (an empty value is not
// sent) and reads the whole answer.
func (f *fixture) do(t *testing.T, method, path string, body io.Reader, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		if header[i+1] != "" {
			req.Header.Set(header[i], header[i+1])
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// bearer is the Authorization header value of key ("" for none).
func bearer(key string) string {
	if key == "" {
		return ""
	}
	return "Bearer " + key
}

// getAs gets path with key ("" for the public).
func (f *fixture) getAs(t *testing.T, path, key string) (*http.Response, []byte) {
	t.Helper()
	return f.do(t, http.MethodGet, path, nil, "Authorization", bearer(key))
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

type problem struct {
	Type, Title, Detail string
	Status              int
}

func wantProblem(t *testing.T, resp *http.Response, b []byte, status int, mentions string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type %q, want application/problem+json", ct)
	}
	p := decode[problem](t, b)
	if p.Status != status || p.Type == "" || p.Title == "" {
		t.Errorf("incomplete problem: %+v", p)
	}
	if !strings.Contains(p.Detail, mentions) {
		t.Errorf("problem detail %q does not mention %q", p.Detail, mentions)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resp, _ := f.get(t, "/healthz")
	if resp.StatusCode != 200 {
		t.Errorf("healthz: %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := f.heat.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	resp, b := f.get(t, "/readyz")
	r := decode[struct {
		Status, Database, Heatmaps string
		GridVersion                int64 `json:"grid_version"`
		Cells                      int
	}](t, b)
	if resp.StatusCode != 200 || r.Status != "ready" || r.Cells != 2213 || r.GridVersion == 0 || r.Heatmaps != "memory" {
		t.Errorf("readyz: %d %+v", resp.StatusCode, r)
	}
	_, b = f.get(t, "/metrics")
	for _, m := range []string{"citygrid_http_requests_total", "citygrid_grid_version"} {
		if !strings.Contains(string(b), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

func TestReadinessWithoutSnapshot(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Empty)
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Store: db, Catalog: locate.NewCatalog(db), OpenAPI: api.OpenAPI}).Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("readyz without a snapshot: %d, want 503", resp.StatusCode)
	}
}

func TestGridCell(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resp, b := f.get(t, "/v1/grid/cells/331082001001001")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	type cell struct {
		Code        string
		Community   struct{ Code, Name string }
		Town        struct{ Code, Name string }
		GridVersion int64 `json:"grid_version"`
		Geometry    struct {
			Type        string
			Coordinates [][][][2]float64
		}
	}
	c := decode[cell](t, b)
	if c.Code != "331082001001001" || c.Community.Code != "331082001001" || c.Town.Code != "331082001" || c.Town.Name != "古城街道" || c.GridVersion == 0 {
		t.Errorf("cell: %+v", c)
	}
	if c.Geometry.Type != "MultiPolygon" || len(c.Geometry.Coordinates) == 0 {
		t.Fatalf("geometry: %+v", c.Geometry)
	}
	// The same cell in GCJ-02 is shifted by some 500 m (DOMAIN.md).
	_, b = f.get(t, "/v1/grid/cells/331082001001001?crs=gcj02")
	g := decode[cell](t, b)
	p, q := c.Geometry.Coordinates[0][0][0], g.Geometry.Coordinates[0][0][0]
	dx := (q[0] - p[0]) * 111320 * math.Cos(p[1]*math.Pi/180)
	dy := (q[1] - p[1]) * 110540
	if d := math.Hypot(dx, dy); d < 400 || d > 700 {
		t.Errorf("gcj02 vertex is %.0f m from the WGS84 one, want about 530 m", d)
	}

	for _, c := range []struct {
		path    string
		status  int
		mention string
	}{
		{"/v1/grid/cells/12345", 400, "code"},
		{"/v1/grid/cells/331082001001001?crs=utm", 400, "crs"},
		{"/v1/grid/cells/331082001001001?version=x", 400, "version"},
		{"/v1/grid/cells/331082001999999", 404, "331082001999999"},
		{"/v1/grid/cells/331082001001001?version=999", 404, "999"},
		{"/v1/nowhere", 404, ""},
	} {
		resp, b := f.get(t, c.path)
		wantProblem(t, resp, b, c.status, c.mention)
	}
}

func TestGridVersions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, b := f.get(t, "/v1/grid/versions")
	v := decode[struct {
		Versions []struct {
			ID     int64
			Active bool
			Cells  int
			Towns  int
		}
	}](t, b)
	if len(v.Versions) != 1 || !v.Versions[0].Active || v.Versions[0].Cells != 2213 || v.Versions[0].Towns != 19 {
		t.Errorf("versions: %+v", v)
	}
}

// TestOpenAPIMatchesRoutes keeps api/openapi.yaml and the routes in step.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	resp, b := f.get(t, "/api/openapi.yaml")
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "openapi: 3") {
		t.Fatalf("openapi.yaml: %d", resp.StatusCode)
	}
	// Paths are the two-space-indented keys under "paths:"; methods the
	// four-space-indented keys under each.
	var documented []string
	inPaths, path := false, ""
	pathRe := regexp.MustCompile(`^  (/[^:]*):\s*$`)
	methodRe := regexp.MustCompile(`^    (get|post|put|patch|delete):`)
	for _, line := range strings.Split(string(api.OpenAPI), "\n") {
		switch {
		case line == "paths:":
			inPaths = true
		case inPaths && len(line) > 0 && line[0] != ' ':
			inPaths = false
		case inPaths && pathRe.MatchString(line):
			path = pathRe.FindStringSubmatch(line)[1]
		case inPaths && methodRe.MatchString(line):
			// Tile routes take "{y}.mvt" and "{layers}.json" as one
			// parameter, Open311's "{service_code}.{format}" too.
			documented = append(documented, strings.ToUpper(methodRe.FindStringSubmatch(line)[1])+" "+routeOf(path))
		}
	}
	param := regexp.MustCompile(`:([a-z_]+)`)
	var routed []string
	for _, r := range f.api.Routes() {
		routed = append(routed, param.ReplaceAllString(r, "{$1}"))
	}
	slices.Sort(documented)
	slices.Sort(routed)
	routed = slices.Compact(routed)
	for _, r := range routed {
		if !slices.Contains(documented, r) {
			t.Errorf("route %s is not in api/openapi.yaml", r)
		}
	}
	for _, d := range documented {
		if !slices.Contains(routed, d) {
			t.Errorf("api/openapi.yaml documents %s, which no route serves", d)
		}
	}
	if len(documented) < 6 {
		t.Errorf("only %d operations documented", len(documented))
	}
}

// routeOf is the route of a documented tile path: "{y}.mvt" and
// "/tiles/{layers}.json" are one parameter each.
func routeOf(path string) string {
	if strings.HasPrefix(path, "/tiles/") {
		path = strings.TrimSuffix(path, ".json")
	}
	if strings.HasSuffix(path, "}.{format}") {
		path = strings.TrimSuffix(path, ".{format}")
	}
	return strings.TrimSuffix(path, ".mvt")
}
