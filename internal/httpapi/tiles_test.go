package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"
	"github.com/uber/h3-go/v4"
)

// The old town's seat, and a point some 40 km away in another town.
var (
	oldTownPoint = orb.Point{121.1312, 28.8517}
	farPoint     = orb.Point{121.45, 28.75}
)

func tilePath(layers string, t maptile.Tile, query string) string {
	p := fmt.Sprintf("/tiles/%s/%d/%d/%d.mvt", layers, t.Z, t.X, t.Y)
	if query != "" {
		p += "?" + query
	}
	return p
}

// getTile fetches a tile without compression (the headers given are sent
// as they are) and decodes it; a 204 decodes to no layers.
func (f *fixture) getTile(t *testing.T, path, key string, header ...string) (*http.Response, []byte, mvt.Layers) {
	t.Helper()
	h := append([]string{"Authorization", bearer(key), "Accept-Encoding", "identity"}, header...)
	resp, b := f.do(t, http.MethodGet, path, nil, h...)
	if resp.StatusCode != http.StatusOK {
		return resp, b, nil
	}
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := mvt.Unmarshal(b)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return resp, b, ls
}

func layerNamed(ls mvt.Layers, name string) *mvt.Layer {
	for _, l := range ls {
		if l.Name == name {
			return l
		}
	}
	return nil
}

// ids lists the feature ids of a layer (orb decodes them as float64).
func ids(l *mvt.Layer) []int64 {
	if l == nil {
		return nil
	}
	var out []int64
	for _, ft := range l.Features {
		if x, ok := ft.ID.(float64); ok {
			out = append(out, int64(x))
		}
	}
	return out
}

// createAt posts one incident at p, an hour ago, and returns its id.
func (f *fixture) createAt(t *testing.T, p orb.Point, category string) int64 {
	t.Helper()
	body := fmt.Sprintf(`{"category":%q,"lon":%v,"lat":%v,"occurred_at":%q,"source":"app"}`, category, p[0], p[1],
		time.Now().Add(-time.Hour).Format(time.RFC3339))
	resp, b := f.post(t, "/v1/incidents", body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	return decode[struct{ ID int64 }](t, b).ID
}

func (f *fixture) hits(t *testing.T) uint64 { return f.api.TileCacheStats().Hits }

// GDAL's MVT driver reads a tile of every layer and finds the codes an
// independent oracle expects there: PostGIS for the grid and the
// facilities (what meets the tile), h3-go for the heatmap's cell.
func TestTilesReadByGDAL(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("ogrinfo"); err != nil {
		t.Fatal("ogrinfo (Debian's gdal-bin) is needed: make test installs it")
	}
	f := newFixture(t)
	ctx := context.Background()
	id := f.createAt(t, oldTownPoint, "E0505")
	for range 3 { // the public heatmap hides cells under 3
		f.createAt(t, oldTownPoint, "E0505")
	}
	dir := t.TempDir()
	ogr := func(layers string, tile maptile.Tile, query, key string) string {
		t.Helper()
		resp, b, _ := f.getTile(t, tilePath(layers, tile, query), key)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", layers, resp.StatusCode, b)
		}
		// GDAL georeferences a tile named {z}/{x}/{y}.pbf.
		name := filepath.Join(dir, layers, fmt.Sprint(tile.Z), fmt.Sprint(tile.X), fmt.Sprintf("%d.pbf", tile.Y))
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("ogrinfo", "-ro", "-al", "-q", name).CombinedOutput()
		if err != nil {
			t.Fatalf("ogrinfo %s: %v\n%s", name, err, out)
		}
		return string(out)
	}
	values := func(out, field string) []string {
		re := regexp.MustCompile(`(?m)^\s+` + field + ` \([A-Za-z0-9]+\) = (.*)$`)
		var vs []string
		for _, m := range re.FindAllStringSubmatch(out, -1) {
			vs = append(vs, strings.TrimSpace(m[1]))
		}
		slices.Sort(vs)
		return slices.Compact(vs)
	}
	// Codes PostGIS finds meeting the tile, and meeting it with its buffer.
	meeting := func(table string, tile maptile.Tile, margin float64) []string {
		t.Helper()
		q := `SELECT coalesce(array_agg(code ORDER BY code), '{}') FROM ` + table + ` WHERE ` +
			`ST_Intersects(geom, ST_Transform(ST_TileEnvelope($1, $2, $3, margin => $4), 4326))`
		if table != "facility" {
			q += ` AND version_id = (SELECT id FROM grid_version WHERE active)`
		}
		var codes []string
		if err := f.db.Pool().QueryRow(ctx, q, int(tile.Z), int(tile.X), int(tile.Y), margin).Scan(&codes); err != nil {
			t.Fatal(err)
		}
		return codes
	}
	for _, c := range []struct {
		layer, table string
		z            int
	}{{"towns", "town", 10}, {"communities", "community", 13}, {"cells", "cell", 14}, {"zones", "zone", 12}, {"facilities", "facility", 14}} {
		tile := maptile.At(oldTownPoint, maptile.Zoom(c.z))
		// A staff key: the public's facilities tile leaves out cameras and
		// gas points (TestSensitivePlacesNotPublic).
		got := values(ogr(c.layer, tile, "", f.key), "code")
		inner, outer := meeting(c.table, tile, 0), meeting(c.table, tile, 64.0/4096)
		if len(inner) == 0 {
			t.Fatalf("%s: PostGIS finds nothing in the tile", c.layer)
		}
		for _, code := range inner {
			if !slices.Contains(got, code) {
				t.Errorf("%s: GDAL reads no %s, which PostGIS finds in the tile (GDAL: %d codes)", c.layer, code, len(got))
			}
		}
		for _, code := range got {
			if !slices.Contains(outer, code) {
				t.Errorf("%s: GDAL reads %s, which PostGIS does not find in the tile or its buffer", c.layer, code)
			}
		}
	}

	// Incidents: the one created, with the cell the store assigned.
	tile := maptile.At(oldTownPoint, 16)
	out := ogr("incidents", tile, "", f.key)
	var cell string
	if err := f.db.Pool().QueryRow(ctx, `SELECT cell_code FROM incident WHERE id = $1`, id).Scan(&cell); err != nil {
		t.Fatal(err)
	}
	if got := values(out, "cell"); !slices.Equal(got, []string{cell}) {
		t.Errorf("incidents: cells %v, want [%s]", got, cell)
	}
	if got := values(out, "category"); !slices.Equal(got, []string{"E0505"}) {
		t.Errorf("incidents: categories %v", got)
	}
	if got := values(out, "theme"); !slices.Equal(got, []string{"parking"}) {
		t.Errorf("incidents: themes %v", got)
	}
	if !strings.Contains(out, fmt.Sprintf("mvt_id (Integer64) = %d\n", id)) {
		t.Errorf("incidents: no feature %d in\n%s", id, out)
	}

	// The heatmap: the res-9 cell of the point (zoom 14), as h3-go says.
	tile = maptile.At(oldTownPoint, 14)
	want, err := h3.LatLngToCell(h3.NewLatLng(oldTownPoint[1], oldTownPoint[0]), 9)
	if err != nil {
		t.Fatal(err)
	}
	out = ogr("heatmap", tile, "theme=parking", "")
	if got := values(out, "h3"); !slices.Equal(got, []string{want.String()}) {
		t.Errorf("heatmap: cells %v, want [%s]", got, want)
	}
	if got := values(out, "count"); !slices.Equal(got, []string{"4"}) {
		t.Errorf("heatmap: counts %v, want [4]", got)
	}
	// A composite: one request, several layers.
	out = ogr("cells,incidents,towns", maptile.At(oldTownPoint, 16), "", f.key)
	for _, l := range []string{"OGRFeature(towns)", "OGRFeature(cells)", "OGRFeature(incidents)"} {
		if !strings.Contains(out, l) {
			t.Errorf("composite: no %s", l)
		}
	}
}

// A write evicts exactly the cached tiles it changes: the incidents and
// heatmap tiles containing its point change on the next request, at
// every zoom, while a tile elsewhere stays cached (hit count, ETag).
func TestTileCacheEvictsOnWrite(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	here16, here12 := maptile.At(oldTownPoint, 16), maptile.At(oldTownPoint, 12)
	far := maptile.At(farPoint, 16)
	f.createAt(t, farPoint, "E0505")
	paths := []string{tilePath("incidents", here16, ""), tilePath("incidents", here12, "status=collected"),
		tilePath("heatmap", here12, "theme=parking"), tilePath("cells,incidents", far, "")}
	etags := map[string]string{}
	for _, p := range paths {
		resp, b, _ := f.getTile(t, p, f.key)
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, b)
		}
		etags[p] = resp.Header.Get("ETag")
		h := f.hits(t)
		if resp, _, _ := f.getTile(t, p, f.key); resp.Header.Get("ETag") != etags[p] || f.hits(t) != h+1 {
			t.Fatalf("%s: not served from the cache the second time", p)
		}
	}

	id := f.createAt(t, oldTownPoint, "E0505")

	for _, p := range paths[:3] {
		h := f.hits(t)
		resp, _, ls := f.getTile(t, p, f.key)
		if f.hits(t) != h {
			t.Errorf("%s: answered from the cache after a write under it", p)
		}
		if resp.Header.Get("ETag") == etags[p] {
			t.Errorf("%s: same ETag after a write under it", p)
		}
		if p == paths[0] && !slices.Contains(ids(layerNamed(ls, "incidents")), id) {
			t.Errorf("%s: no incident %d", p, id)
		}
	}
	h := f.hits(t)
	if resp, _, _ := f.getTile(t, paths[3], f.key); resp.Header.Get("ETag") != etags[paths[3]] || f.hits(t) != h+1 {
		t.Errorf("the tile 30 km away was evicted too")
	}
	if st := f.api.TileCacheStats(); st.Evictions["write"] != 3 {
		t.Errorf("evictions %v, want 3 by write", st.Evictions)
	}
	_, b := f.get(t, "/metrics")
	for _, m := range []string{"citygrid_tile_cache_hits_total", `citygrid_tile_cache_evictions_total{reason="write"} 3`, "citygrid_tile_cache_bytes"} {
		if !strings.Contains(string(b), m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

// A lifecycle action changes the status attribute of the incident in the
// cached tile.
func TestTileFollowsLifecycle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := f.createAt(t, oldTownPoint, "E0102")
	p := tilePath("incidents", maptile.At(oldTownPoint, 17), "")
	status := func() string {
		t.Helper()
		_, _, ls := f.getTile(t, p, f.key)
		for _, ft := range layerNamed(ls, "incidents").Features {
			if x, _ := ft.ID.(float64); int64(x) == id {
				return ft.Properties["status"].(string)
			}
		}
		t.Fatalf("incident %d not in %s", id, p)
		return ""
	}
	if s := status(); s != "collected" {
		t.Fatalf("status %q", s)
	}
	status() // cached now
	resp, b := f.post(t, fmt.Sprintf("/v1/incidents/%d/events", id), `{"action":"register","actor":"test"}`)
	if resp.StatusCode != 200 {
		t.Fatalf("register: %d %s", resp.StatusCode, b)
	}
	if s := status(); s != "registered" {
		t.Errorf("status after register %q", s)
	}
	// With a status filter the incident leaves the collected tile.
	_, _, ls := f.getTile(t, tilePath("incidents", maptile.At(oldTownPoint, 17), "status=collected"), f.key)
	if slices.Contains(ids(layerNamed(ls, "incidents")), id) {
		t.Errorf("a registered incident in the collected tile")
	}
}

// Two replicas on one database: a write through one evicts the other's
// cached tile by NOTIFY.
func TestTileEvictionAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := newReplicas(t)
	connected, heard := make(chan struct{}, 4), make(chan httpapi.TileChange, 16)
	go b.db.ListenIncidentChanges(ctx, func(ch postgres.IncidentChange) {
		tc := httpapi.TileChange{Points: ch.Points, Areas: ch.Areas, Counted: ch.Counted, All: ch.All}
		b.api.RemoteTilesChanged(tc)
		heard <- tc
	}, func() {
		b.api.ForgetIncidentTiles()
		connected <- struct{}{}
	}, slog.New(slog.DiscardHandler))
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	select {
	case <-connected:
	case <-wctx.Done():
		t.Fatal("replica b's listener did not connect")
	}
	p := tilePath("incidents", maptile.At(oldTownPoint, 16), "")
	resp, _, _ := b.getTile(t, p, b.key)
	etag := resp.Header.Get("ETag")
	if resp, _, _ := b.getTile(t, p, b.key); resp.Header.Get("ETag") != etag || b.hits(t) != 1 {
		t.Fatal("replica b did not cache the tile")
	}
	id := a.createAt(t, oldTownPoint, "E0505")
	select {
	case ch := <-heard:
		if !ch.Counted || len(ch.Points) != 1 || ch.Points[0].Equal(oldTownPoint) == false {
			t.Fatalf("replica b heard %+v", ch)
		}
	case <-wctx.Done():
		t.Fatal("replica b heard nothing of the create")
	}
	resp, _, ls := b.getTile(t, p, b.key)
	if resp.Header.Get("ETag") == etag || !slices.Contains(ids(layerNamed(ls, "incidents")), id) {
		t.Errorf("replica b serves the tile from before the write")
	}
	// A lifecycle action on a changes the status b serves.
	resp2, body := a.post(t, fmt.Sprintf("/v1/incidents/%d/events", id), `{"action":"register","actor":"test"}`)
	if resp2.StatusCode != 200 {
		t.Fatalf("register: %d %s", resp2.StatusCode, body)
	}
	select {
	case ch := <-heard:
		if ch.Counted {
			t.Errorf("a lifecycle action told as counted: %+v", ch)
		}
	case <-wctx.Done():
		t.Fatal("replica b heard nothing of the action")
	}
	_, _, ls = b.getTile(t, p, b.key)
	for _, ft := range layerNamed(ls, "incidents").Features {
		if x, _ := ft.ID.(float64); int64(x) == id && ft.Properties["status"] != "registered" {
			t.Errorf("replica b: status %v after register", ft.Properties["status"])
		}
	}
}

// A town-scoped key's incidents tiles hold only its town's incidents, as
// points and as counts; the grid layers stay whole.
func TestTileTownScope(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	snap := f.cat.Current()
	// A zoom-14 tile holding cells of town 001 and of another town, and a
	// point in each.
	var mine, other orb.Point
	var tile maptile.Tile
	for i := range snap.Cells {
		c := &snap.Cells[i]
		if c.TownCode != "331082001" {
			continue
		}
		tile = maptile.At(c.Geometry.Bound().Center(), 14)
		mine, other = orb.Point{}, orb.Point{}
		snap.CellsIn(tile.Bound(), func(o *grid.Cell) bool {
			p := o.Geometry.Bound().Center()
			if pl, ok := snap.Locate(p); ok && pl.Cell.Code == o.Code && tile.Bound().Contains(p) {
				if o.TownCode == "331082001" && mine == (orb.Point{}) {
					mine = p
				}
				if o.TownCode != "331082001" && other == (orb.Point{}) {
					other = p
				}
			}
			return true
		})
		if mine != (orb.Point{}) && other != (orb.Point{}) {
			break
		}
	}
	if mine == (orb.Point{}) || other == (orb.Point{}) {
		t.Fatal("no tile across the old town's boundary")
	}
	a, b := f.createAt(t, mine, "E0505"), f.createAt(t, other, "E0505")
	townKey, err := f.db.CreateAPIKey(context.Background(), "dispatcher", "331082001", "test")
	if err != nil {
		t.Fatal(err)
	}
	p := tilePath("cells,incidents", tile, "")
	_, _, all := f.getTile(t, p, f.key)
	resp, _, scoped := f.getTile(t, p, townKey)
	if got := ids(layerNamed(all, "incidents")); !slices.Contains(got, a) || !slices.Contains(got, b) {
		t.Fatalf("admin: incidents %v, want %d and %d", got, a, b)
	}
	if got := ids(layerNamed(scoped, "incidents")); !slices.Equal(got, []int64{a}) {
		t.Errorf("town key: incidents %v, want only %d", got, a)
	}
	if len(layerNamed(scoped, "cells").Features) != len(layerNamed(all, "cells").Features) {
		t.Errorf("town key: the cells layer is cut")
	}
	if cc := resp.Header.Get("Cache-Control"); !strings.HasPrefix(cc, "private") {
		t.Errorf("a keyed tile is %q", cc)
	}
	// Counts (zoom 9): only the town's one incident.
	_, _, ls := f.getTile(t, tilePath("incidents", maptile.At(mine, 9), ""), townKey)
	var total float64
	for _, ft := range layerNamed(ls, "incidents").Features {
		total += ft.Properties["count"].(float64)
	}
	if total != 1 {
		t.Errorf("town key: counts add up to %v, want 1", total)
	}
	// The heatmap layer: the town's count only.
	heat := func(key string) (sum float64) {
		_, _, ls := f.getTile(t, tilePath("heatmap", tile, "theme=parking"), key)
		for _, ft := range layerNamed(ls, "heatmap").Features {
			sum += ft.Properties["count"].(float64)
		}
		return sum
	}
	if all, mineOnly := heat(f.key), heat(townKey); all != 2 || mineOnly != 1 {
		t.Errorf("heatmap: admin counts %v, town key %v; want 2 and 1", all, mineOnly)
	}
}

// Counts below zoom 12 and past the per-tile bound, told by the meta
// layer; points beneath the bound.
func TestTileIncidentsAggregate(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var sb strings.Builder
	at := time.Now().Add(-2 * time.Hour).Format(time.RFC3339)
	const n = 5200
	for i := range n { // a 300 m square: one zoom-14 tile
		fmt.Fprintf(&sb, `{"category":"E0505","lon":%.6f,"lat":%.6f,"occurred_at":%q,"source":"camera"}`+"\n",
			121.130+float64(i%73)*0.00004, 28.850+float64(i/73)*0.00004, at)
	}
	if resp, b := f.post(t, "/v1/incidents/bulk", sb.String()); resp.StatusCode != 201 {
		t.Fatalf("bulk: %d %s", resp.StatusCode, b[:min(len(b), 300)])
	}
	if err := f.heat.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	meta := func(ls mvt.Layers) map[string]any {
		l := layerNamed(ls, "meta")
		if l == nil || len(l.Features) != 1 {
			return nil
		}
		return l.Features[0].Properties
	}
	for _, c := range []struct {
		z     maptile.Zoom
		query string
	}{{10, ""}, {14, ""}, {14, "status=collected"}} {
		tile := maptile.At(orb.Point{121.1315, 28.8515}, c.z)
		_, _, ls := f.getTile(t, tilePath("incidents", tile, c.query), f.key)
		m := meta(ls)
		if m == nil || m["aggregated"] != true || m["total"].(float64) != n || m["bound"].(float64) != 5000 {
			t.Fatalf("z%d %s: meta %v", c.z, c.query, m)
		}
		var sum float64
		for _, ft := range layerNamed(ls, "incidents").Features {
			if _, ok := ft.Geometry.(orb.Point); !ok || ft.Properties["h3"] == nil {
				t.Fatalf("z%d: feature %v", c.z, ft)
			}
			sum += ft.Properties["count"].(float64)
		}
		if sum != n {
			t.Errorf("z%d %s: counts add up to %v, want %d", c.z, c.query, sum, n)
		}
	}
	// Zoom 18 over one corner: a few hundred points, no meta layer.
	_, _, ls := f.getTile(t, tilePath("incidents", maptile.At(orb.Point{121.1301, 28.8501}, 18), ""), f.key)
	if l := layerNamed(ls, "incidents"); l == nil || len(l.Features) == 0 || len(l.Features) >= 5000 || meta(ls) != nil {
		t.Errorf("z18: %d points, meta %v", len(l.Features), meta(ls))
	}
}

// Strong validators, 304, gzip with its own ETag, 204 for an empty tile,
// the cache headers.
func TestTileHTTPCaching(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	p := tilePath("cells", maptile.At(oldTownPoint, 14), "")
	resp, raw, _ := f.getTile(t, p, "")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || !regexp.MustCompile(`^"[0-9a-f]+"$`).MatchString(etag) {
		t.Fatalf("%d, ETag %q", resp.StatusCode, etag)
	}
	if cc, v := resp.Header.Get("Cache-Control"), resp.Header.Get("Vary"); cc != "public, no-cache" || v != "Authorization, X-API-Key, Accept-Encoding" {
		t.Errorf("Cache-Control %q, Vary %q", cc, v)
	}
	if resp, b, _ := f.getTile(t, p, "", "If-None-Match", etag); resp.StatusCode != 304 || len(b) != 0 {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	resp, gz, _ := f.getTile(t, p, "", "Accept-Encoding", "gzip")
	if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("ETag") == etag || len(gz) == 0 {
		t.Errorf("gzip: %q, ETag %q", resp.Header.Get("Content-Encoding"), resp.Header.Get("ETag"))
	}
	if b, err := gzipDecode(gz); err == nil {
		t.Errorf("getTile should have decoded: %d bytes", len(b))
	}
	resp2, b2 := f.do(t, http.MethodGet, p, nil, "Accept-Encoding", "gzip")
	if plain, err := gzipDecode(b2); err != nil || !bytes.Equal(plain, raw) || resp2.Header.Get("ETag") != resp.Header.Get("ETag") {
		t.Errorf("gzip body does not decode to the tile: %v", err)
	}
	// The sea east of the city: nothing to draw.
	resp, b, _ := f.getTile(t, tilePath("cells", maptile.At(orb.Point{123.5, 28}, 12), ""), "")
	if resp.StatusCode != 204 || len(b) != 0 || resp.Header.Get("ETag") == "" {
		t.Errorf("empty tile: %d, %d bytes", resp.StatusCode, len(b))
	}
	// The old heatmap path is the heatmap layer.
	tl := maptile.At(oldTownPoint, 12)
	r1, _, _ := f.getTile(t, fmt.Sprintf("/v1/heatmap/tiles/%d/%d/%d.mvt?theme=parking", tl.Z, tl.X, tl.Y), "")
	r2, _, _ := f.getTile(t, tilePath("heatmap", tl, "theme=parking"), "")
	if r1.Header.Get("ETag") != r2.Header.Get("ETag") || r1.StatusCode != r2.StatusCode {
		t.Errorf("/v1/heatmap/tiles and /tiles/heatmap differ: %d %s, %d %s", r1.StatusCode, r1.Header.Get("ETag"), r2.StatusCode, r2.Header.Get("ETag"))
	}
}

func gzipDecode(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

// Bad coordinates, layers and filters are 4xx problems naming them.
func TestTileBadRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, c := range []struct {
		path    string
		key     string
		status  int
		mention string
	}{
		{"/tiles/roads/1/0/0.mvt", "", 400, "roads"},
		{"/tiles/cells,roads/1/0/0.mvt", "", 400, "roads"},
		{"/tiles/cells/21/0/0.mvt", "", 400, "z"},
		{"/tiles/cells/x/0/0.mvt", "", 400, "z"},
		{"/tiles/cells/-1/0/0.mvt", "", 400, "z"},
		{"/tiles/cells/2/4/0.mvt", "", 400, "x"},
		{"/tiles/cells/2/0/4.mvt", "", 400, "y"},
		{"/tiles/cells/2/0/a.mvt", "", 400, "y"},
		{"/tiles/facilities/5/26/13.mvt", "", 400, "z"},
		{"/tiles/cells/1/0/0.png", "", 404, "mvt"},
		{"/tiles/cells.xml", "", 404, "json"},
		{"/tiles/roads.json", "", 400, "roads"},
		{"/tiles/cells/14/13704/6819.mvt?theme=parking", "", 400, "theme"},
		{"/tiles/incidents/14/13704/6819.mvt", "", 401, "key"},
		{"/tiles/cells,incidents/14/13704/6819.mvt", "", 401, "key"},
		{"/tiles/incidents/14/13704/6819.mvt?status=lost", "admin", 400, "status"},
		{"/tiles/incidents/14/13704/6819.mvt?datetime=yesterday", "admin", 400, "datetime"},
		{"/tiles/incidents/14/13704/6819.mvt?datetime=../..", "admin", 400, "datetime"},
		{"/tiles/incidents/14/13704/6819.mvt?theme=noise", "admin", 400, "theme"},
		{"/tiles/incidents/14/13704/6819.mvt?category=E9999", "admin", 400, "category"},
		{"/tiles/incidents/14/13704/6819.mvt?kind=camera", "admin", 400, "kind"},
		{"/tiles/incidents/14/13704/6819.mvt?status=collected&status=closed", "admin", 400, "status"},
		{"/tiles/facilities/14/13704/6819.mvt?kind=statue", "", 400, "kind"},
		{"/tiles/heatmap/12/3426/1704.mvt", "", 400, "theme"},
		{"/tiles/heatmap/12/3426/1704.mvt?theme=parking&res=4", "", 400, "res"},
		{"/tiles/heatmap/12/3426/1704.mvt?theme=parking&datetime=2026-01-01T00:00:00Z&from=2026-01-01T00:00:00Z", "", 400, "datetime"},
		{"/tiles/incidents.json?status=lost", "", 400, "status"},
	} {
		key := ""
		if c.key == "admin" {
			key = f.key
		}
		resp, b := f.getAs(t, c.path, key)
		wantProblem(t, resp, b, c.status, c.mention)
	}
}

// TileJSON 3.0.0: absolute URLs from the request or a proxy's
// well-formed forwarded headers, the city's bounds and centre, every
// layer's fields, a synthetic-data attribution.
func TestTileJSON(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	type doc struct {
		TileJSON     string     `json:"tilejson"`
		Tiles        []string   `json:"tiles"`
		MinZoom      int        `json:"minzoom"`
		MaxZoom      int        `json:"maxzoom"`
		Bounds       [4]float64 `json:"bounds"`
		Center       [3]float64 `json:"center"`
		Attribution  string     `json:"attribution"`
		VectorLayers []struct {
			ID          string            `json:"id"`
			Description string            `json:"description"`
			Fields      map[string]string `json:"fields"`
		} `json:"vector_layers"`
	}
	resp, b := f.do(t, http.MethodGet, "/tiles/cells,towns.json", nil, "X-Forwarded-Proto", "https", "X-Forwarded-Host", "grid.example.cn")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	d := decode[doc](t, b)
	if d.TileJSON != "3.0.0" || len(d.Tiles) != 1 || d.Tiles[0] != "https://grid.example.cn/tiles/towns,cells/{z}/{x}/{y}.mvt" {
		t.Errorf("tilejson %q, tiles %v", d.TileJSON, d.Tiles)
	}
	if d.Bounds[0] > 120.9 || d.Bounds[2] < 121.6 || d.Bounds[1] > 28.7 || d.Bounds[3] < 29 || d.MaxZoom != 20 {
		t.Errorf("bounds %v, zooms %d…%d", d.Bounds, d.MinZoom, d.MaxZoom)
	}
	if !strings.Contains(d.Attribution, "synthetic") {
		t.Errorf("attribution %q", d.Attribution)
	}
	// A forged host is ignored, never echoed.
	for _, h := range []string{`evil.example"><script>`, "a b", "x/y"} {
		_, b := f.do(t, http.MethodGet, "/tiles/cells.json", nil, "X-Forwarded-Host", h, "X-Forwarded-Proto", "javascript")
		d := decode[doc](t, b)
		if !strings.HasPrefix(d.Tiles[0], f.srv.URL+"/tiles/cells/") || strings.Contains(string(b), "<script") {
			t.Errorf("X-Forwarded-Host %q: tiles %v", h, d.Tiles)
		}
	}
	_, b = f.get(t, "/tiles/incidents,facilities.json?theme=parking&status=dispatched")
	d = decode[doc](t, b)
	if !strings.HasSuffix(d.Tiles[0], "/tiles/facilities,incidents/{z}/{x}/{y}.mvt?status=dispatched&theme=parking") || d.MinZoom != 8 {
		t.Errorf("tiles %v, minzoom %d", d.Tiles, d.MinZoom)
	}
	fields := map[string]map[string]string{}
	for _, vl := range d.VectorLayers {
		fields[vl.ID] = vl.Fields
		if vl.ID == "incidents" && !strings.Contains(vl.Description, "zoom 12") {
			t.Errorf("the incidents layer does not say where counts give way to points: %q", vl.Description)
		}
	}
	if fields["incidents"]["overdue"] != "Boolean" || fields["incidents"]["count"] != "Number" || fields["meta"]["aggregated"] != "Boolean" ||
		fields["facilities"]["kind"] != "String" || len(fields["facilities"]) <= 3 {
		t.Errorf("fields %v", fields)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil || raw["scheme"] != "xyz" {
		t.Errorf("scheme: %v", raw["scheme"])
	}
}
