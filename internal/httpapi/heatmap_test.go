package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citygrid/citygrid/api"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi"
	"github.com/citygrid/citygrid/internal/tiles"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"
	"github.com/uber/h3-go/v4"
)

type heatRow struct {
	at       time.Time
	category string
	point    h3.LatLng
}

// seedHeat posts n incidents at random cells, categories and hours of the
// first half of 2026, and reads them back raw.
func seedHeat(t *testing.T, f *fixture, n int) []heatRow {
	t.Helper()
	ctx := context.Background()
	var xs, ys []float64
	if err := f.db.Pool().QueryRow(ctx, `SELECT array_agg(ST_X(p) ORDER BY c), array_agg(ST_Y(p) ORDER BY c) FROM (SELECT code c, ST_PointOnSurface(geom) p FROM cell
		WHERE version_id = (SELECT id FROM grid_version WHERE active) AND (town_code <= '331082005' OR code LIKE '%001')) s`).Scan(&xs, &ys); err != nil {
		t.Fatal(err)
	}
	pts := make([][2]float64, len(xs))
	for i := range xs {
		pts[i] = [2]float64{xs[i], ys[i]}
	}
	r := rand.New(rand.NewPCG(5, 6))
	cats := []string{"E0505", "E0506", "E0406", "E0102", "E0103", "P0301"}
	var sb strings.Builder
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("CST", 8*3600))
	for range n {
		p := pts[r.IntN(min(len(pts), 40))] // few cells: counts pile up
		if r.IntN(3) == 0 {
			p = pts[r.IntN(len(pts))]
		}
		at := start.Add(time.Duration(r.IntN(180*24*60)) * time.Minute)
		fmt.Fprintf(&sb, `{"category":%q,"lon":%v,"lat":%v,"occurred_at":%q,"source":"camera"}`+"\n",
			cats[r.IntN(len(cats))], p[0]+r.Float64()*1e-5, p[1]+r.Float64()*1e-5, at.Format(time.RFC3339))
	}
	resp, b := f.post(t, "/v1/incidents/bulk", sb.String())
	if resp.StatusCode != 201 {
		t.Fatalf("bulk: %d %s", resp.StatusCode, b[:min(len(b), 300)])
	}
	rows, err := f.db.Pool().Query(ctx, `SELECT occurred_at, category, ST_Y(geom), ST_X(geom) FROM incident`)
	if err != nil {
		t.Fatal(err)
	}
	var out []heatRow
	for rows.Next() {
		var x heatRow
		if err := rows.Scan(&x.at, &x.category, &x.point.Lat, &x.point.Lng); err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	return out
}

// TestHeatmapRollupsEqualRawRecount: heatmaps served from the rollups equal
// a recount of the raw incidents, over random windows, resolutions,
// themes, categories, hours and weekdays — both from the service's
// in-memory read model, loaded before half of the writes and kept current
// by their invalidations, and from the SQL rollup query.
func TestHeatmapRollupsEqualRawRecount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	seedHeat(t, f, 1500)
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := f.heat.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	for i := range 30 { // single creates after the load
		resp, b := f.post(t, "/v1/incidents", fmt.Sprintf(`{"category":"E0505","lon":121.13%02d,"lat":28.85,"occurred_at":"2026-03-0%dT0%d:30:00+08:00","source":"app"}`, i, 1+i%9, i%10))
		if resp.StatusCode != 201 {
			t.Fatalf("create: %d %s", resp.StatusCode, b)
		}
	}
	raw := seedHeat(t, f, 1500)
	if ok, err := f.heat.Ready(); !ok || err != nil {
		t.Fatalf("heat read model not ready: %v", err)
	}
	key, err := f.db.CreateAPIKey(ctx, "planner", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	cst := time.FixedZone("CST", 8*3600)
	themes := map[string][]string{"parking": {"E0505", "E0506"}, "waterlogging": {"E0406"}, "sanitation": {"E0102", "E0103", "E0104", "P0301"}}
	r := rand.New(rand.NewPCG(7, 8))
	for i := range 40 {
		q := url.Values{}
		var cats []string
		if i%2 == 0 {
			th := []string{"parking", "waterlogging", "sanitation"}[r.IntN(3)]
			q.Set("theme", th)
			cats = themes[th]
		} else {
			c := []string{"E0505", "E0406", "E0103"}[r.IntN(3)]
			q.Set("category", c)
			cats = []string{c}
		}
		res := 5 + r.IntN(6)
		q.Set("res", fmt.Sprint(res))
		from := time.Date(2026, 1, 1, 0, 0, 0, 0, cst).Add(time.Duration(r.IntN(150*24)) * time.Hour)
		to := from.Add(time.Duration(1+r.IntN(60*24)) * time.Hour)
		if i%3 == 0 { // long windows, some on month boundaries
			from = time.Date(2025, 12, 1, 0, 0, 0, 0, cst).Add(time.Duration(r.IntN(60*24)) * time.Hour)
			to = from.Add(time.Duration(60*24+r.IntN(150*24)) * time.Hour)
			if i%6 == 0 {
				from = time.Date(2026, 2, 1, 0, 0, 0, 0, cst) // on month boundaries exactly
				to = time.Date(2026, 5, 1, 0, 0, 0, 0, cst)
			}
		}
		q.Set("from", from.Format(time.RFC3339))
		q.Set("to", to.Format(time.RFC3339))
		var hours, days []int
		if i%3 != 0 && r.IntN(2) == 0 {
			a := r.IntN(20)
			hours = []int{a, a + 1, a + 2, a + 3}
			q.Set("hours", fmt.Sprintf("%d-%d", a, a+3))
		}
		if i%3 != 0 && r.IntN(2) == 0 {
			days = []int{1, 2, 3, 4, 5}
			q.Set("weekdays", "1-5")
		}
		want := map[string]int64{}
		for _, x := range raw {
			lt := x.at.In(cst)
			wd := int(lt.Weekday())
			if wd == 0 {
				wd = 7
			}
			if !slices.Contains(cats, x.category) || x.at.Before(from) || !x.at.Before(to) ||
				(hours != nil && !slices.Contains(hours, lt.Hour())) || (days != nil && !slices.Contains(days, wd)) {
				continue
			}
			p, err := h3.LatLngToCell(x.point, res) // H3's own answer at res
			if err != nil {
				t.Fatal(err)
			}
			want[p.String()]++
		}
		sq, err := f.db.Heatmap(ctx, grid.HeatQuery{Categories: cats, Res: res, From: from, To: to, Hours: hours, Weekdays: days})
		if err != nil {
			t.Fatal(err)
		}
		sqlMap := map[string]int64{}
		for _, c := range sq {
			sqlMap[h3.Cell(c.H3).String()] = c.Count
		}
		if !maps.Equal(sqlMap, want) {
			t.Errorf("%s: the SQL rollup query differs from the raw recount (%d cells, raw %d)", q.Encode(), len(sqlMap), len(want))
		}
		resp, b := f.getAs(t, "/v1/heatmap?"+q.Encode(), key)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", q.Encode(), resp.StatusCode, b)
		}
		got := decode[struct {
			Res   int
			Total int64
			Cells []struct {
				H3    string
				Count int64
			}
		}](t, b)
		var total int64
		gotMap := map[string]int64{}
		for _, c := range got.Cells {
			gotMap[c.H3] = c.Count
			total += c.Count
		}
		if got.Res != res || total != got.Total || len(gotMap) != len(want) {
			t.Errorf("%s: res %d, %d cells (raw %d), total %d", q.Encode(), got.Res, len(gotMap), len(want), got.Total)
		}
		for k, n := range want {
			if gotMap[k] != n {
				t.Errorf("%s: cell %s has %d, raw recount %d", q.Encode(), k, gotMap[k], n)
				break
			}
		}
	}
}

func TestHeatmapPublicSuppressionAndAuth(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seedHeat(t, f, 800)
	key, err := f.db.CreateAPIKey(context.Background(), "planner", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	q := "/v1/heatmap?theme=parking&res=10&from=2026-01-01T00:00:00Z&to=2026-07-01T00:00:00Z"
	type heat struct {
		Total    int64
		MinCount int `json:"min_count"`
		Cells    []struct{ Count int64 }
	}
	_, b := f.getAs(t, q, "")
	pub := decode[heat](t, b)
	_, b = f.getAs(t, q, key)
	planner := decode[heat](t, b)
	small := 0
	for _, c := range planner.Cells {
		if c.Count < 3 {
			small++
		}
	}
	if small == 0 {
		t.Fatal("the test data has no small cells to hide")
	}
	for _, c := range pub.Cells {
		if c.Count < 3 {
			t.Errorf("the public sees a cell of %d incidents", c.Count)
		}
	}
	if pub.MinCount != 3 || planner.MinCount != 1 || len(pub.Cells) != len(planner.Cells)-small {
		t.Errorf("public %d cells (min %d), planner %d cells (min %d), %d small", len(pub.Cells), pub.MinCount, len(planner.Cells), planner.MinCount, small)
	}
	resp, b := f.getAs(t, q, "cg_nothing_here")
	wantProblem(t, resp, b, 401, "API key")

	// k is the operator's: a server configured with 10 hides cells under 10.
	strict := httptest.NewServer(httpapi.New(httpapi.Config{Store: f.db, Heatmaps: f.db, Keys: f.db, Catalog: f.cat,
		OpenAPI: api.OpenAPI, MinPublicCount: 10}).Handler())
	defer strict.Close()
	hr, err := http.Get(strict.URL + q)
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(hr.Body)
	hr.Body.Close()
	k10 := decode[heat](t, b)
	hidden := 0
	for _, c := range planner.Cells {
		if c.Count < 10 {
			hidden++
		}
	}
	if k10.MinCount != 10 || len(k10.Cells) != len(planner.Cells)-hidden || hidden == small {
		t.Errorf("k = 10: %d cells (min %d), planner %d, %d under 10", len(k10.Cells), k10.MinCount, len(planner.Cells), hidden)
	}
}

func TestHeatmapFormatsAndTiles(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seedHeat(t, f, 600)
	resp, b := f.get(t, "/v1/heatmap?theme=parking&res=8&from=2026-01-01T00:00:00Z&to=2026-07-01T00:00:00Z&f=geojson&crs=gcj02")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/geo+json" || !strings.Contains(string(b), `"Polygon"`) {
		t.Errorf("geojson: %d %s", resp.StatusCode, b[:min(len(b), 200)])
	}
	// A tile over the urban core: hexagons in layer "heatmap".
	tile := maptile.At([2]float64{121.13, 28.85}, 12)
	resp, b = f.getAs(t, fmt.Sprintf("/v1/heatmap/tiles/%d/%d/%d.mvt?theme=parking&from=2026-01-01T00:00:00Z&to=2026-07-01T00:00:00Z", tile.Z, tile.X, tile.Y), "") // public
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.mapbox-vector-tile" {
		t.Fatalf("tile: %d %s", resp.StatusCode, b)
	}
	layers, err := mvt.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 || layers[0].Name != "heatmap" || len(layers[0].Features) == 0 {
		t.Fatalf("tile layers: %+v", layers)
	}
	for _, ft := range layers[0].Features {
		c := h3.CellFromString(ft.Properties["h3"].(string))
		if c.Resolution() != tiles.TileRes(12) || ft.Properties["count"].(float64) < 3 {
			t.Errorf("tile feature %v", ft.Properties)
		}
	}
	for _, c := range []struct {
		path    string
		status  int
		mention string
	}{
		{"/v1/heatmap", 400, "theme"},
		{"/v1/heatmap?theme=noise", 400, "theme"},
		{"/v1/heatmap?theme=parking&category=E0505", 400, "theme"},
		{"/v1/heatmap?category=E9999", 400, "category"},
		{"/v1/heatmap?theme=parking&res=4", 400, "res"},
		{"/v1/heatmap?theme=parking&res=11", 400, "res"},
		{"/v1/heatmap?theme=parking&from=x", 400, "from"},
		{"/v1/heatmap?theme=parking&from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", 400, "from"},
		{"/v1/heatmap?theme=parking&hours=25", 400, "hours"},
		{"/v1/heatmap?theme=parking&hours=5-2", 400, "hours"},
		{"/v1/heatmap?theme=parking&weekdays=0", 400, "weekdays"},
		{"/v1/heatmap?theme=parking&bbox=1,2", 400, "bbox"},
		{"/v1/heatmap?theme=parking&crs=x", 400, "crs"},
		{"/v1/heatmap/tiles/12/99999/1.mvt?theme=parking", 400, "x"},
		{"/v1/heatmap/tiles/x/1/1.mvt?theme=parking", 400, "z"},
		{"/v1/heatmap/tiles/3/1/1.png?theme=parking", 404, "mvt"},
	} {
		resp, b := f.get(t, c.path)
		wantProblem(t, resp, b, c.status, c.mention)
	}
}

// TestHeatmapAcrossReplicas: two replicas on one database. Writes through
// one reach the other's in-memory heatmap by NOTIFY: a bulk load and a
// single create, each visible on the other replica once its notification
// has arrived.
func TestHeatmapAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := newReplicas(t)
	heard := make(chan []grid.RollupSlice, 64)
	go b.db.ListenRollups(ctx, func(ss []grid.RollupSlice, all bool) {
		if all {
			b.heat.InvalidateAll(ctx)
			return
		}
		b.heat.Invalidate(ss)
		heard <- ss
	}, slog.New(slog.DiscardHandler))
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	if err := b.heat.Wait(wctx); err != nil {
		t.Fatal(err)
	}
	key, err := a.db.CreateAPIKey(ctx, "planner", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	path := "/v1/heatmap?theme=parking&res=9&from=2026-01-01T00:00:00Z&to=2026-07-01T00:00:00Z"
	total := func(f *fixture) int64 {
		resp, body := f.getAs(t, path, key)
		if resp.StatusCode != 200 {
			t.Fatalf("heatmap: %d %s", resp.StatusCode, body)
		}
		return decode[struct{ Total int64 }](t, body).Total
	}
	if n := total(b); n != 0 {
		t.Fatalf("replica b before any write: %d", n)
	}

	seedHeat(t, a, 600) // bulk through replica a
	want := total(a)
	if want == 0 {
		t.Fatal("no parking incidents seeded")
	}
	select {
	case <-heard:
	case <-wctx.Done():
		t.Fatal("replica b heard nothing of the bulk load")
	}
	if n := total(b); n != want {
		t.Fatalf("replica b after the bulk load: %d, replica a %d", n, want)
	}

	resp, body := a.post(t, "/v1/incidents", `{"category":"E0505","lon":121.1301,"lat":28.85,"occurred_at":"2026-03-04T09:30:00+08:00","source":"app"}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	select {
	case ss := <-heard:
		if len(ss) != 1 || ss[0].Category != "E0505" || ss[0].Day != (grid.Date{Year: 2026, Month: 3, Day: 4}) {
			t.Fatalf("replica b heard %v", ss)
		}
	case <-wctx.Done():
		t.Fatal("replica b heard nothing of the single create")
	}
	if n := total(b); n != want+1 {
		t.Fatalf("replica b after the create: %d, want %d", n, want+1)
	}
}

// TestHeatmapUnderConcurrentWrites: single creates, bulk loads, rollup
// merges and heatmap queries all at once, under -race; once the writers
// stop, the in-memory heatmap equals the SQL rollups and a raw recount.
func TestHeatmapUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.heat.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	lon, lat := f.interior(t, "331082001001001")
	day := func(i int) string { return fmt.Sprintf("2026-03-%02dT%02d:15:00+08:00", 1+i%3, i%24) }
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 4 { // single creates
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				resp, b := f.post(t, "/v1/incidents", fmt.Sprintf(`{"category":"E0505","lon":%v,"lat":%v,"occurred_at":%q,"source":"app"}`,
					lon+float64(i%7)*1e-4, lat+float64(w)*1e-4, day(i)))
				if resp.StatusCode != 201 {
					errs <- fmt.Errorf("create: %d %s", resp.StatusCode, b)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // bulk loads over the same slices
		defer wg.Done()
		for range 3 {
			var sb strings.Builder
			for i := range 200 {
				fmt.Fprintf(&sb, `{"category":"E0506","lon":%v,"lat":%v,"occurred_at":%q,"source":"camera"}`+"\n", lon+float64(i%11)*1e-4, lat, day(i))
			}
			if resp, b := f.post(t, "/v1/incidents/bulk", sb.String()); resp.StatusCode != 201 {
				errs <- fmt.Errorf("bulk: %d %s", resp.StatusCode, b)
				return
			}
		}
	}()
	wg.Add(1)
	go func() { // merges racing everything else
		defer wg.Done()
		for range 20 {
			if _, err := f.db.CompactRollups(ctx, 2); err != nil {
				errs <- err
				return
			}
		}
	}()
	path := "/v1/heatmap?theme=parking&res=9&from=2026-03-01T00:00:00%2B08:00&to=2026-03-04T00:00:00%2B08:00"
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
reading:
	for { // a reader meanwhile: every answer is well-formed
		select {
		case <-done:
			break reading
		default:
		}
		if resp, b := f.get(t, path); resp.StatusCode != 200 {
			t.Fatalf("heatmap during writes: %d %s", resp.StatusCode, b)
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	resp, b := f.get(t, path)
	if resp.StatusCode != 200 {
		t.Fatalf("heatmap: %d %s", resp.StatusCode, b)
	}
	got := map[string]int64{}
	for _, c := range decode[struct {
		Cells []struct {
			H3    string
			Count int64
		}
	}](t, b).Cells {
		got[c.H3] = c.Count
	}
	from, to := time.Date(2026, 3, 1, 0, 0, 0, 0, grid.ChinaTime()), time.Date(2026, 3, 4, 0, 0, 0, 0, grid.ChinaTime())
	sq, err := f.db.Heatmap(ctx, grid.HeatQuery{Categories: []string{"E0505", "E0506"}, Res: 9, From: from, To: to})
	if err != nil {
		t.Fatal(err)
	}
	fromSQL := map[string]int64{}
	for _, c := range sq {
		fromSQL[h3.Cell(c.H3).String()] = c.Count
	}
	raw := map[string]int64{}
	rows, err := f.db.Pool().Query(ctx, `SELECT ST_Y(geom), ST_X(geom) FROM incident`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p h3.LatLng
		if err := rows.Scan(&p.Lat, &p.Lng); err != nil {
			t.Fatal(err)
		}
		c, err := h3.LatLngToCell(p, 9)
		if err != nil {
			t.Fatal(err)
		}
		raw[c.String()]++
	}
	var total int64
	for _, n := range raw {
		total += n
	}
	if total != 4*60+3*200 || !maps.Equal(got, fromSQL) || !maps.Equal(got, raw) {
		t.Errorf("after the writers: memory %d cells, SQL %d, raw %d (%d incidents)", len(got), len(fromSQL), len(raw), total)
	}
}
