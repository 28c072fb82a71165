package ogc_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/api"
	"github.com/citygrid/citygrid/internal/httpapi"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
)

// fixture is one replica of the whole service (the parent's routes,
// authentication and error handler) over a demo database with incidents.
type fixture struct {
	srv    *httptest.Server
	db     *postgres.DB
	cat    *locate.Catalog
	admin  string // an admin key
	town1  string // a dispatcher key of town 331082001
	nIncid int
}

const (
	town1 = "331082001"
	town2 = "331082002"
)

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := pgtest.New(t, pgtest.Demo)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cat := locate.NewCatalog(db)
	if _, err := cat.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	s := httpapi.New(httpapi.Config{Store: db, Incidents: db, Keys: db, Facilities: db, Features: db, Catalog: cat, OpenAPI: api.OpenAPI})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv, db: db, cat: cat}
	var err error
	if f.admin, err = db.CreateAPIKey(ctx, "admin", "", "test"); err != nil {
		t.Fatal(err)
	}
	if f.town1, err = db.CreateAPIKey(ctx, "dispatcher", town1, "test town 1"); err != nil {
		t.Fatal(err)
	}
	// Incidents at random points (a fixed seed) inside the cells of two towns.
	rows, err := db.Pool().Query(ctx, `SELECT ST_X(p), ST_Y(p) FROM (
		SELECT (ST_Dump(ST_GeneratePoints(geom, 2, 7))).geom p FROM cell
		WHERE version_id = (SELECT id FROM grid_version WHERE active) AND (code LIKE $1 OR code LIKE $2) ORDER BY code) s`,
		town1+"%", town2+"%")
	if err != nil {
		t.Fatal(err)
	}
	var body strings.Builder
	cats := []string{"E0505", "E0406", "E0102", "P0101"}
	n := 0
	for rows.Next() {
		var x, y float64
		if err := rows.Scan(&x, &y); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(n) * 7 * time.Hour)
		fmt.Fprintf(&body, `{"category":%q,"lon":%v,"lat":%v,"occurred_at":%q,"source":"collector"}`+"\n", cats[n%len(cats)], x, y, at.Format(time.RFC3339))
		n++
	}
	if rows.Err() != nil || n < 100 {
		t.Fatalf("%d points: %v", n, rows.Err())
	}
	resp, b := f.do(t, http.MethodPost, "/v1/incidents/bulk", strings.NewReader(body.String()), "Authorization", "Bearer "+f.admin, "Content-Type", "application/x-ndjson")
	if resp.StatusCode != 201 {
		t.Fatalf("bulk: %d %s", resp.StatusCode, b)
	}
	// Some incidents move on in their lifecycle, so that status filters select.
	if _, err := db.Pool().Exec(ctx, `UPDATE incident SET status = 'registered', registered_at = occurred_at WHERE id % 3 = 0`); err != nil {
		t.Fatal(err)
	}
	f.nIncid = n
	return f
}

// do sends a request with header pairs and reads the answer.
func (f *fixture) do(t *testing.T, method, path string, body io.Reader, header ...string) (*http.Response, []byte) {
	t.Helper()
	u := path
	if !strings.HasPrefix(u, "http") {
		u = f.srv.URL + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
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

func (f *fixture) get(t *testing.T, path, key string) (*http.Response, []byte) {
	t.Helper()
	if key == "" {
		return f.do(t, http.MethodGet, path, nil)
	}
	return f.do(t, http.MethodGet, path, nil, "Authorization", "Bearer "+key)
}

type featureCollection struct {
	Type           string
	NumberMatched  *int64
	NumberReturned int
	TimeStamp      string
	Features       []feature
	Links          []struct{ Href, Rel, Type string }
}

type feature struct {
	Type     string
	ID       any
	Geometry struct {
		Type        string
		Coordinates json.RawMessage
	}
	Properties map[string]any
}

func (fc featureCollection) next() string {
	for _, l := range fc.Links {
		if l.Rel == "next" {
			return l.Href
		}
	}
	return ""
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %.300s: %v", b, err)
	}
	return v
}

// items reads one page, checking the media type.
func (f *fixture) items(t *testing.T, path, key string) (featureCollection, *http.Response) {
	t.Helper()
	resp, b := f.get(t, path, key)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/geo+json" {
		t.Errorf("%s: Content-Type %q", path, ct)
	}
	fc := decode[featureCollection](t, b)
	if fc.Type != "FeatureCollection" || strings.Contains(path, "/ogc/") && (fc.NumberReturned != len(fc.Features) || fc.TimeStamp == "") {
		t.Errorf("%s: type %q, numberReturned %d of %d features, timeStamp %q", path, fc.Type, fc.NumberReturned, len(fc.Features), fc.TimeStamp)
	}
	return fc, resp
}

// all follows next links from path and returns every feature id.
func (f *fixture) all(t *testing.T, path, key string) []string {
	t.Helper()
	var ids []string
	for pages := 0; path != ""; pages++ {
		if pages > 1000 {
			t.Fatal("more than 1000 pages")
		}
		fc, _ := f.items(t, path, key)
		for _, x := range fc.Features {
			ids = append(ids, fmt.Sprint(x.ID))
		}
		path = fc.next()
		if path != "" && !strings.HasPrefix(path, "http://") {
			t.Fatalf("next link %q is not absolute", path)
		}
	}
	return ids
}

func (f *fixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func wantProblem(t *testing.T, resp *http.Response, b []byte, status int, mention string) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d: %s", resp.StatusCode, status, b)
		return
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json", ct)
	}
	p := decode[struct{ Detail string }](t, b)
	if !strings.Contains(p.Detail, mention) {
		t.Errorf("detail %q does not name %q", p.Detail, mention)
	}
}

func q(s string) string { return url.QueryEscape(s) }

func sortedIDs(ids []string) []string {
	out := slices.Clone(ids)
	sort.Strings(out)
	return out
}

// firstPoint reads the first coordinate pair of a feature's geometry.
func firstPoint(t *testing.T, x feature) [2]float64 {
	t.Helper()
	var raw any
	if err := json.Unmarshal(x.Geometry.Coordinates, &raw); err != nil {
		t.Fatal(err)
	}
	for {
		a, ok := raw.([]any)
		if !ok || len(a) == 0 {
			t.Fatalf("no coordinates in %s", x.Geometry.Coordinates)
		}
		if x, ok := a[0].(float64); ok {
			return [2]float64{x, a[1].(float64)}
		}
		raw = a[0]
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
