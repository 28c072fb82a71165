package httpapi

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/tiles"
	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"
	"github.com/prometheus/client_golang/prometheus"
)

// TileStore is what the incidents layer reads from the database: the
// points of one tile, and counts per H3 cell where the heatmap read model
// cannot answer (a status filter, a town-scoped key).
type TileStore interface {
	// TileIncidents lists at most f.Limit incidents matching f's Cells,
	// BBox, Categories, Statuses, Town, From and To, newest first.
	TileIncidents(ctx context.Context, f grid.IncidentFilter) ([]grid.Incident, error)
	// TileCounts counts the incidents matching f per H3 cell of
	// resolution res.
	TileCounts(ctx context.Context, f grid.IncidentFilter, res int) ([]grid.HeatCell, error)
}

// TileChange is where committed writes changed incidents: what the tile
// cache must evict.
type TileChange struct {
	Points []orb.Point
	Areas  []orb.Bound // a large write, told by area
	// Counted: incidents were added, so counts per cell (the heatmap, the
	// incidents drawn as counts) changed too; false for a lifecycle
	// action, which changes the attributes of points only.
	Counted bool
	// All: anything may have changed (an unreadable notification).
	All bool
}

// incidentWindow is the window of incident tiles without datetime=.
const incidentWindow = 30 * 24 * time.Hour

// tileService serves vector tiles: grid layers and facilities from memory
// (one tileState per grid version), incidents and the heatmap from the
// stores, all through one cache with precise invalidation.
type tileService struct {
	cache *tiles.Cache // nil: no cache

	mu    sync.Mutex // serialises building a state
	state atomic.Pointer[tileState]

	// pending holds the counted changes heard from other replicas, evicted
	// again once the heatmap read model has taken in their rollups
	// (RollupsApplied): the two notifications travel on different
	// connections, and a tile drawn from the read model between the two
	// would otherwise be cached stale.
	pendingMu sync.Mutex
	pending   []TileChange
}

// tileState is what one grid version's tiles are drawn from.
type tileState struct {
	snap       *locate.Snapshot
	grid       *tiles.Grid
	facilities []grid.Facility // in code order
	facFields  map[string]string
}

func newTileService(cfg Config, reg prometheus.Registerer) *tileService {
	ts := &tileService{}
	if cfg.TileCacheBytes >= 0 {
		ts.cache = tiles.NewCache(cfg.TileCacheBytes)
		reg.MustRegister(cacheCollector{ts.cache})
	}
	return ts
}

func (s *Server) routesTiles(e *echo.Echo) {
	e.GET("/tiles/:layers", s.tileJSON)
	e.GET("/tiles/:layers/:z/:x/:y", s.tile)
}

// tileState returns the drawing state of the grid version in force,
// building it on the first tile of a version: the grid layers from the
// snapshot's model and the facilities from their store. A new version
// evicts every cached grid and facility tile.
func (s *Server) tileState(ctx context.Context) (*tileState, error) {
	snap, err := s.snapshot()
	if err != nil {
		return nil, err
	}
	ts := s.tiles
	if st := ts.state.Load(); st != nil && st.snap.Version.ID == snap.Version.ID {
		return st, nil
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if st := ts.state.Load(); st != nil && st.snap.Version.ID == snap.Version.ID {
		return st, nil
	}
	g, err := tiles.NewGrid(&grid.Model{Version: snap.Version, City: &grid.City{Name: snap.CityName, Synthetic: snap.Synthetic,
		Boundary: snap.Boundary, Towns: snap.Towns, Communities: snap.Communities, Cells: snap.Cells, Zones: snap.Zones}})
	if err != nil {
		return nil, err
	}
	st := &tileState{snap: snap, grid: g}
	if s.cfg.Facilities != nil {
		fs, err := s.cfg.Facilities.Facilities(context.WithoutCancel(ctx), grid.FacilityFilter{})
		if err != nil {
			return nil, err
		}
		st.facilities, st.facFields = fs, tiles.FacilityFields(fs)
	}
	old := ts.state.Swap(st)
	if old != nil && ts.cache != nil {
		for _, l := range append(tiles.GridLayers(), tiles.LayerFacilities) {
			ts.cache.EvictLayer(l)
		}
	}
	return st, nil
}

// WarmTiles builds the tile state of the grid version in force and the
// simplification of every zoom, so that no request pays for them.
func (s *Server) WarmTiles(ctx context.Context) error {
	st, err := s.tileState(ctx)
	if err != nil {
		return err
	}
	st.grid.Warm()
	return nil
}

// tileRequest is a parsed tile request: everything the drawing needs,
// with no reference to the echo context (the cache's load may outlive
// the request).
type tileRequest struct {
	layers []string
	tile   maptile.Tile
	who    grid.Principal
	now    time.Time

	// incidents
	window     tiles.Window
	relative   bool // the window moves with the clock: the tile expires with it
	categories []string
	statuses   []string
	// heatmap
	heat         grid.HeatQuery
	heatRelative bool
	// facilities
	kinds []string // the facility kinds drawn (nil: every kind)
}

// tileParams lists the query parameters each layer takes.
func tileParams(layer string) []string {
	switch layer {
	case tiles.LayerIncidents:
		return []string{"datetime", "status", "theme", "category"}
	case tiles.LayerHeatmap:
		return []string{"theme", "category", "from", "to", "datetime", "res", "hours", "weekdays"}
	case tiles.LayerFacilities:
		return []string{"kind"}
	}
	return nil
}

// parseTileQuery checks the query of a tile (or TileJSON) request for the
// layers and reads it into r; it returns the filter's cache key.
func (s *Server) parseTileQuery(c echo.Context, r *tileRequest, snap *locate.Snapshot) (string, error) {
	q := c.QueryParams()
	var allowed []string
	for _, l := range r.layers {
		allowed = append(allowed, tileParams(l)...)
	}
	names := make([]string, 0, len(q))
	for k := range q {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		if !slices.Contains(allowed, k) {
			if len(allowed) == 0 {
				return "", param.Invalid(k, "unknown parameter: layers %s take no parameters", tiles.LayerKey(r.layers))
			}
			slices.Sort(allowed)
			return "", param.Invalid(k, "unknown parameter for layers %s; they take %s", tiles.LayerKey(r.layers), strings.Join(slices.Compact(allowed), ", "))
		}
		if len(q[k]) > 1 {
			return "", param.Invalid(k, "given %d times", len(q[k]))
		}
	}
	key := url.Values{}
	var err error
	if slices.Contains(r.layers, tiles.LayerIncidents) || slices.Contains(r.layers, tiles.LayerHeatmap) {
		if r.window, r.relative, err = tileWindow(q.Get("datetime"), r.now); err != nil {
			return "", err
		}
	}
	if slices.Contains(r.layers, tiles.LayerIncidents) {
		if r.categories, err = categoryFilter(snap, q.Get("category"), q.Get("theme")); err != nil {
			return "", err
		}
		if r.categories != nil && len(r.categories) == 0 {
			return "", param.Invalid("category", "none of %q is of theme %q", q.Get("category"), q.Get("theme"))
		}
		if r.statuses, err = statusFilter(q.Get("status")); err != nil {
			return "", err
		}
		r.categories, r.statuses = sortedSet(r.categories), sortedSet(r.statuses)
		key.Set("i.window", r.window.Key())
		key.Set("i.category", strings.Join(r.categories, ","))
		key.Set("i.status", strings.Join(r.statuses, ","))
	}
	if slices.Contains(r.layers, tiles.LayerHeatmap) {
		if r.heat, err = s.heatParams(c, tiles.TileRes(int(r.tile.Z))); err != nil {
			return "", err
		}
		r.heatRelative = q.Get("to") == ""
		if q.Get("datetime") != "" {
			if q.Get("from") != "" || q.Get("to") != "" {
				return "", param.Invalid("datetime", "give datetime or from/to, not both")
			}
			r.heat.From, r.heat.To, r.heatRelative = r.window.From, r.window.To, r.relative
		}
		if q.Get("res") == "" {
			r.heat.Res = tiles.TileRes(int(r.tile.Z))
		}
		r.heat.Categories = sortedSet(r.heat.Categories)
		key.Set("h.window", tiles.Window{From: r.heat.From, To: r.heat.To}.Key())
		key.Set("h.category", strings.Join(r.heat.Categories, ","))
		key.Set("h.hours", ints(r.heat.Hours))
		key.Set("h.weekdays", ints(r.heat.Weekdays))
	}
	if slices.Contains(r.layers, tiles.LayerFacilities) {
		kind, err := parseKind(c)
		if err != nil {
			return "", err
		}
		// What the caller may see is part of the key: cameras and gas
		// points are not drawn for the public.
		if r.kinds, err = r.who.FacilityKinds(kind); err != nil {
			return "", err
		}
		key.Set("f.kind", strings.Join(r.kinds, ","))
	}
	return tiles.FilterKey(key), nil
}

// tileWindow reads datetime= (an RFC 3339 instant or interval, open ends
// "..") into whole hours; without it the last 30 days, which moves with
// the clock (relative). An open start is 2000-01-01, an open end the end
// of the current hour.
func tileWindow(v string, now time.Time) (tiles.Window, bool, error) {
	if v == "" {
		return tiles.LastWindow(now, incidentWindow), true, nil
	}
	from, to, err := param.Interval("datetime", v)
	if err != nil {
		return tiles.Window{}, false, err
	}
	relative := false
	if from.IsZero() {
		from = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if to.IsZero() {
		to, relative = tiles.LastWindow(now, time.Hour).To, true
	} else {
		to = to.Add(time.Nanosecond) // the end is inclusive
	}
	w := tiles.HourWindow(from, to)
	if !w.From.Before(w.To) {
		return w, false, param.Invalid("datetime", "%q: the interval is empty", v)
	}
	return w, relative, nil
}

func sortedSet(xs []string) []string {
	if xs == nil {
		return nil
	}
	out := slices.Clone(xs)
	slices.Sort(out)
	return slices.Compact(out)
}

func ints(xs []int) string {
	s := slices.Clone(xs)
	slices.Sort(s)
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ",")
}

// tileScope is whose view a tile is: grid layers are the same for
// everyone (facilities differ by the kinds drawn, which are in the
// filter); incidents differ by town scope; the heatmap by whether small
// counts are hidden and by town scope.
func tileScope(layers []string, p grid.Principal) string {
	if !slices.Contains(layers, tiles.LayerIncidents) && !slices.Contains(layers, tiles.LayerHeatmap) {
		return "public"
	}
	switch {
	case p.Town != "" && p.Can(grid.SeeSensitive):
		return "town:" + p.Town
	case p.Town != "":
		return "town-public:" + p.Town
	case !p.Can(grid.SeeSensitive):
		return "public"
	}
	return "keyed"
}

// heatmapTile: GET /v1/heatmap/tiles/{z}/{x}/{y}.mvt — the heatmap layer
// alone, as GET /tiles/heatmap/{z}/{x}/{y}.mvt.
func (s *Server) heatmapTile(c echo.Context) error {
	return s.serveTile(c, []string{tiles.LayerHeatmap})
}

// tile: GET /tiles/{layers}/{z}/{x}/{y}.mvt.
func (s *Server) tile(c echo.Context) error {
	layers, err := tiles.ParseLayers(c.Param("layers"))
	if err != nil {
		return err
	}
	return s.serveTile(c, layers)
}

func (s *Server) serveTile(c echo.Context, layers []string) error {
	z, x, y, err := tileCoords(c)
	if err != nil {
		return err
	}
	for _, l := range layers {
		if lo, hi := tiles.ZoomRange(l); z < lo || z > hi {
			return param.Invalid("z", "%d: layer %s is served at zooms %d…%d", z, l, lo, hi)
		}
	}
	p := principal(c)
	if slices.Contains(layers, tiles.LayerIncidents) {
		if err := p.Need(grid.ReadIncidents); err != nil { // the permission table's row for this layer
			return err
		}
	}
	ctx := c.Request().Context()
	st, err := s.tileState(ctx)
	if err != nil {
		return err
	}
	r := &tileRequest{layers: layers, tile: maptile.New(uint32(x), uint32(y), maptile.Zoom(z)), who: p, now: time.Now()}
	filter, err := s.parseTileQuery(c, r, st.snap)
	if err != nil {
		return err
	}
	key := tiles.NewKey(layers, r.tile, filter, tileScope(layers, p))
	if slices.Contains(layers, tiles.LayerHeatmap) {
		key.Res = r.heat.Res
	}
	gz := acceptsGzip(c.Request().Header.Get(echo.HeaderAcceptEncoding))
	load := func(ctx context.Context) (tiles.Tile, error) {
		t, err := s.drawTile(ctx, st, r)
		if err != nil || !gz {
			return t, err
		}
		return t.WithGzip()
	}
	var t tiles.Tile
	if s.tiles.cache == nil {
		t, err = load(ctx)
	} else {
		t, _, err = s.tiles.cache.GetOrLoad(ctx, key, load)
	}
	if err != nil {
		return err
	}
	// A tile only a key may see is private: sensitive facilities, or a
	// scope other than the public's.
	sensitive := slices.Contains(layers, tiles.LayerFacilities) && p.Can(grid.SeeSensitive)
	return writeTile(c, t, gz, sensitive || key.Scope != "public")
}

// writeTile sends a tile with its validators: a strong ETag per
// representation, 304 when If-None-Match has it (etagMatches and
// acceptsGzip are the web map's, webapp.go), 204 for an empty tile.
// Browsers may keep public tiles but revalidate each use (no-cache), so a
// change is seen at once and an unchanged tile costs a 304; keyed tiles
// are private to the browser.
func writeTile(c echo.Context, t tiles.Tile, gz, private bool) error {
	h := c.Response().Header()
	h.Set("Vary", "Authorization, X-API-Key, Accept-Encoding")
	if private {
		h.Set("Cache-Control", "private, no-cache")
	} else {
		h.Set("Cache-Control", "public, no-cache")
	}
	body, etag := t.Data, t.ETag
	if gz && !t.Empty() {
		if t.Gzip == nil { // cached by a caller that did not take gzip
			var err error
			if t, err = t.WithGzip(); err != nil {
				return err
			}
		}
		body, etag = t.Gzip, t.GzipETag()
		h.Set(echo.HeaderContentEncoding, "gzip")
	}
	h.Set("ETag", etag)
	if etagMatches(c.Request().Header.Get("If-None-Match"), etag) {
		h.Del(echo.HeaderContentEncoding)
		return c.NoContent(http.StatusNotModified)
	}
	if t.Empty() {
		return c.NoContent(http.StatusNoContent)
	}
	return c.Blob(http.StatusOK, "application/vnd.mapbox-vector-tile", body)
}

// drawTile draws the layers of a tile.
func (s *Server) drawTile(ctx context.Context, st *tileState, r *tileRequest) (tiles.Tile, error) {
	var ls []*mvt.Layer
	var metas []tiles.Meta
	var expires time.Time
	countRes := 0
	expire := func(t time.Time) {
		if !t.IsZero() && (expires.IsZero() || t.Before(expires)) {
			expires = t
		}
	}
	for _, name := range r.layers {
		switch name {
		case tiles.LayerFacilities:
			l, m := tiles.FacilityLayer(r.tile, facilitiesIn(st.facilities, r.tile, r.kinds), 0)
			ls, metas = append(ls, l), append(metas, m)
		case tiles.LayerIncidents:
			l, m, exp, err := s.incidentLayer(ctx, st, r)
			if err != nil {
				return tiles.Tile{}, err
			}
			ls, metas = append(ls, l), append(metas, m)
			expire(exp)
			if m.Aggregated {
				countRes = m.Res
			}
		case tiles.LayerHeatmap:
			cells, _, err := s.heatCellsFor(ctx, r.heat, !r.who.Can(grid.SeeSensitive))
			if err != nil {
				return tiles.Tile{}, err
			}
			l, err := tiles.HeatmapLayer(r.tile, cells)
			if err != nil {
				return tiles.Tile{}, err
			}
			ls = append(ls, l)
			if r.heatRelative {
				expire(r.heat.To)
			}
		default:
			l, err := st.grid.Layer(name, r.tile, tiles.GridFilter{})
			if err != nil {
				return tiles.Tile{}, err
			}
			ls = append(ls, l)
		}
	}
	t, err := tiles.Encode(append(ls, tiles.MetaLayer(metas...))...)
	if err != nil {
		return t, err
	}
	t.Expires, t.CountRes = expires, countRes
	return t, nil
}

// facilitiesIn keeps the facilities of the kinds listed (nil: any) in a
// tile and its buffer: a scan of a few thousand points, cheaper than any
// index here.
func facilitiesIn(fs []grid.Facility, t maptile.Tile, kinds []string) []grid.Facility {
	b := tiles.TileBound(t)
	var out []grid.Facility
	for i := range fs {
		if (kinds == nil || slices.Contains(kinds, fs[i].Kind)) && b.Contains(fs[i].Point) {
			out = append(out, fs[i])
		}
	}
	return out
}

// incidentLayer draws the incidents of a tile: points from the database
// from zoom tiles.IncidentPointsFrom while the tile holds at most
// tiles.DefaultPointLimit of them, counts per H3 cell otherwise.
//
// Where the heatmap read model can count for the caller (no status
// filter) it decides first, so a dense tile costs no query
// at all; otherwise the query stops at the bound plus one. Counts come
// from the read model where it can, else from the database.
func (s *Server) incidentLayer(ctx context.Context, st *tileState, r *tileRequest) (*mvt.Layer, tiles.Meta, time.Time, error) {
	const bound = tiles.DefaultPointLimit
	z := int(r.tile.Z)
	res := tiles.CountRes(z)
	var expires time.Time
	if r.relative {
		expires = r.window.To
	}
	fromHeat := len(r.statuses) == 0 && s.cfg.Heatmaps != nil
	f := grid.IncidentFilter{Categories: r.categories, Statuses: r.statuses, Town: r.who.Town, From: r.window.From, To: r.window.To}
	tb := tiles.TileBound(r.tile)
	f.BBox = &[4]float64{tb.Min[0], tb.Min[1], tb.Max[0], tb.Max[1]}

	st.snap.CellsIn(tb, func(c *grid.Cell) bool {
		if r.who.Town == "" || c.TownCode == r.who.Town {
			f.Cells = append(f.Cells, c.Code)
		}
		return true
	})
	if len(f.Cells) == 0 {
		return nil, tiles.Meta{Layer: tiles.LayerIncidents}, expires, nil
	}

	var heat []grid.HeatCell
	counts := func() (*mvt.Layer, tiles.Meta, time.Time, error) {
		cells := heat
		if cells == nil {
			var err error
			if cells, err = s.incidentCounts(ctx, st, r, f, res, fromHeat); err != nil {
				return nil, tiles.Meta{}, expires, err
			}
		}
		l, total, err := tiles.CountLayer(tiles.LayerIncidents, r.tile, cells)
		if err != nil {
			return nil, tiles.Meta{}, expires, err
		}
		return l, tiles.Meta{Layer: tiles.LayerIncidents, Total: int(total), Aggregated: true, Res: res, Bound: bound}, expires, nil
	}
	if z < tiles.IncidentPointsFrom {
		return counts()
	}
	if fromHeat {
		var err error
		if heat, err = s.incidentCounts(ctx, st, r, f, res, true); err != nil {
			return nil, tiles.Meta{}, expires, err
		}
		if heat, err = tiles.NearTile(r.tile, heat); err != nil { // the city's cells, once
			return nil, tiles.Meta{}, expires, err
		}
		n, err := tiles.CountIn(r.tile, heat)
		if err != nil {
			return nil, tiles.Meta{}, expires, err
		}
		if n > bound {
			return counts()
		}
	}
	if s.cfg.Tiles == nil {
		return nil, tiles.Meta{}, expires, grid.Errorf(grid.Unavailable, "incident tiles are not configured")
	}
	f.Limit = bound + 1
	xs, err := s.cfg.Tiles.TileIncidents(ctx, f)
	if err != nil {
		return nil, tiles.Meta{}, expires, err
	}
	if len(xs) > bound {
		return counts()
	}
	l, m := tiles.IncidentLayer(r.tile, xs, tiles.IncidentOptions{Now: r.now, Limit: bound, Theme: func(cat string) string {
		if c, ok := st.snap.Category(cat); ok {
			return c.Theme
		}
		return ""
	}})
	m.Bound = bound
	if t := tiles.OverdueChanges(xs, r.now); !t.IsZero() && (expires.IsZero() || t.Before(expires)) {
		expires = t
	}
	return l, m, expires, nil
}

// incidentCounts counts a tile's incidents per H3 cell of resolution res:
// from the heatmap read model (the whole city, or a town-scoped key's
// town: it sums in memory) or from the database (a status filter: the
// cells meeting the tile only).
func (s *Server) incidentCounts(ctx context.Context, st *tileState, r *tileRequest, f grid.IncidentFilter, res int, fromHeat bool) ([]grid.HeatCell, error) {
	if fromHeat {
		cats := r.categories
		if cats == nil {
			for _, c := range st.snap.Categories {
				cats = append(cats, c.Code)
			}
		}
		q := grid.HeatQuery{Categories: cats, Res: res, From: r.window.From, To: r.window.To}
		if r.who.Town != "" { // a town's key counts its own town only
			q.Towns = []string{r.who.Town}
		}
		return s.cfg.Heatmaps.Heatmap(ctx, q)
	}
	if s.cfg.Tiles == nil {
		return nil, grid.Errorf(grid.Unavailable, "incident tiles are not configured")
	}
	return s.cfg.Tiles.TileCounts(ctx, f, res)
}

// ---- TileJSON ----

var (
	hostRe  = regexp.MustCompile(`^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$`)
	protoRe = regexp.MustCompile(`^https?$`)
)

// baseURL is the scheme and host the client reached the service at:
// X-Forwarded-Proto and X-Forwarded-Host when a proxy sets them to
// well-formed values (anything else is ignored, never echoed), the
// request's own otherwise.
func baseURL(r *http.Request) (string, error) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if v := strings.ToLower(strings.TrimSpace(firstValue(r.Header.Get("X-Forwarded-Proto")))); protoRe.MatchString(v) {
		scheme = v
	}
	host := r.Host
	if v := strings.TrimSpace(firstValue(r.Header.Get("X-Forwarded-Host"))); v != "" && hostRe.MatchString(v) {
		host = v
	}
	if !hostRe.MatchString(host) {
		return "", param.Invalid("Host", "not a host name")
	}
	return scheme + "://" + host, nil
}

// firstValue is the first of a comma-separated header list (the client
// side of a chain of proxies).
func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return first
}

// tileJSON: GET /tiles/{layers}.json — TileJSON 3.0.0 of a layer or a
// composite, its tile URL carrying the filter given.
func (s *Server) tileJSON(c echo.Context) error {
	name, ok := strings.CutSuffix(c.Param("layers"), ".json")
	if !ok {
		return grid.Errorf(grid.NotFound, "no such resource: a tile source is /tiles/{layers}.json, a tile /tiles/{layers}/{z}/{x}/{y}.mvt")
	}
	layers, err := tiles.ParseLayers(name)
	if err != nil {
		return err
	}
	st, err := s.tileState(c.Request().Context())
	if err != nil {
		return err
	}
	r := &tileRequest{layers: layers, tile: maptile.New(0, 0, 0), who: principal(c), now: time.Now()}
	if _, err := s.parseTileQuery(c, r, st.snap); err != nil {
		return err
	}
	base, err := baseURL(c.Request())
	if err != nil {
		return err
	}
	lo, hi := 0, tiles.MaxZoom
	for _, l := range layers {
		a, b := tiles.ZoomRange(l)
		lo, hi = max(lo, a), min(hi, b)
	}
	tj, err := tiles.NewTileJSON(tiles.TileJSONOptions{BaseURL: base, Layers: layers, Query: c.QueryParams().Encode(),
		MinZoom: lo, MaxZoom: hi, CityName: st.snap.CityName, Boundary: st.snap.Boundary, Synthetic: st.snap.Synthetic,
		GridVersion: st.snap.Version.ID, Fields: map[string]map[string]string{tiles.LayerFacilities: st.facFields}})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, no-cache")
	c.Response().Header().Set("Vary", "X-Forwarded-Proto, X-Forwarded-Host")
	return c.JSON(http.StatusOK, tj)
}

// ---- invalidation ----

// TilesChanged evicts the cached tiles a committed write of this process
// changed: the incidents tiles containing its points, and for counted
// changes the heatmap tiles and incidents drawn as counts whose cells
// contain them, at every zoom, under every filter and scope. Call it
// after the heatmap read model has been told of the write.
func (s *Server) TilesChanged(ch TileChange) { s.evict(ch) }

// RemoteTilesChanged is TilesChanged for a write of another replica heard
// by NOTIFY. A counted change is evicted again at the next
// RollupsApplied, since its rollup notification may arrive after this
// one and a tile drawn from the read model in between would be stale.
func (s *Server) RemoteTilesChanged(ch TileChange) {
	s.evict(ch)
	if !ch.Counted {
		return
	}
	ts := s.tiles
	ts.pendingMu.Lock()
	ts.pending = append(ts.pending, ch)
	if len(ts.pending) > 4096 { // many writes and no rollup news: one change for all
		ts.pending = []TileChange{{All: true, Counted: true}}
	}
	ts.pendingMu.Unlock()
}

// RollupsApplied tells the tile service that the heatmap read model has
// taken in the rollup notifications heard so far: the counted changes of
// other replicas heard before are evicted once more.
func (s *Server) RollupsApplied() {
	ts := s.tiles
	ts.pendingMu.Lock()
	chs := ts.pending
	ts.pending = nil
	ts.pendingMu.Unlock()
	for _, ch := range chs {
		s.evict(ch)
	}
}

// ForgetIncidentTiles evicts every incidents and heatmap tile: the
// notifications that would have told of changes may have been lost (the
// listener reconnected).
func (s *Server) ForgetIncidentTiles() {
	if c := s.tiles.cache; c != nil {
		c.EvictLayer(tiles.LayerIncidents)
		c.EvictLayer(tiles.LayerHeatmap)
	}
}

func (s *Server) evict(ch TileChange) {
	c := s.tiles.cache
	if c == nil {
		return
	}
	if ch.All {
		s.ForgetIncidentTiles()
		return
	}
	layers := []string{tiles.LayerIncidents}
	if ch.Counted {
		layers = append(layers, tiles.LayerHeatmap)
	}
	for _, p := range ch.Points {
		c.EvictPoint(layers, p[0], p[1])
	}
	for _, b := range ch.Areas {
		c.EvictBound(layers, b)
	}
}

// ---- metrics ----

// cacheCollector exports the tile cache's counters.
type cacheCollector struct{ c *tiles.Cache }

var (
	tileHitsDesc      = prometheus.NewDesc("citygrid_tile_cache_hits_total", "Tiles answered from the tile cache.", nil, nil)
	tileMissesDesc    = prometheus.NewDesc("citygrid_tile_cache_misses_total", "Tiles drawn because the cache did not hold them.", nil, nil)
	tileSharedDesc    = prometheus.NewDesc("citygrid_tile_cache_shared_loads_total", "Misses that waited for another request's drawing of the same tile.", nil, nil)
	tileErrorsDesc    = prometheus.NewDesc("citygrid_tile_cache_load_errors_total", "Tile drawings that failed (not cached).", nil, nil)
	tileEvictionsDesc = prometheus.NewDesc("citygrid_tile_cache_evictions_total", "Tiles evicted from the cache, by reason: lru, write, layer, clear, expired.", []string{"reason"}, nil)
	tileBytesDesc     = prometheus.NewDesc("citygrid_tile_cache_bytes", "Bytes the cached tiles take.", nil, nil)
	tileMaxBytesDesc  = prometheus.NewDesc("citygrid_tile_cache_max_bytes", "The tile cache's size.", nil, nil)
	tileEntriesDesc   = prometheus.NewDesc("citygrid_tile_cache_entries", "Tiles in the cache.", nil, nil)
)

func (cc cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{tileHitsDesc, tileMissesDesc, tileSharedDesc, tileErrorsDesc, tileEvictionsDesc, tileBytesDesc, tileMaxBytesDesc, tileEntriesDesc} {
		ch <- d
	}
}

func (cc cacheCollector) Collect(ch chan<- prometheus.Metric) {
	st := cc.c.Stats()
	ch <- prometheus.MustNewConstMetric(tileHitsDesc, prometheus.CounterValue, float64(st.Hits))
	ch <- prometheus.MustNewConstMetric(tileMissesDesc, prometheus.CounterValue, float64(st.Misses))
	ch <- prometheus.MustNewConstMetric(tileSharedDesc, prometheus.CounterValue, float64(st.Shared))
	ch <- prometheus.MustNewConstMetric(tileErrorsDesc, prometheus.CounterValue, float64(st.LoadErrors))
	reasons := make([]string, 0, len(st.Evictions))
	for r := range st.Evictions {
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	for _, r := range reasons {
		ch <- prometheus.MustNewConstMetric(tileEvictionsDesc, prometheus.CounterValue, float64(st.Evictions[r]), r)
	}
	ch <- prometheus.MustNewConstMetric(tileBytesDesc, prometheus.GaugeValue, float64(st.Bytes))
	ch <- prometheus.MustNewConstMetric(tileMaxBytesDesc, prometheus.GaugeValue, float64(st.MaxBytes))
	ch <- prometheus.MustNewConstMetric(tileEntriesDesc, prometheus.GaugeValue, float64(st.Entries))
}

// TileCacheStats is a snapshot of the tile cache's counters (zero without
// a cache), for tests and benchmarks.
func (s *Server) TileCacheStats() tiles.CacheStats {
	if s.tiles.cache == nil {
		return tiles.CacheStats{}
	}
	return s.tiles.cache.Stats()
}
