package ogc

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/featcache"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// itemsQuery is a parsed items request.
type itemsQuery struct {
	limit    int
	after    string
	crs      param.OGCCRS
	where    grid.Cond    // everything but the time window; nil: all
	spatial  orb.Geometry // the bbox, in WGS84 (nil: none)
	from, to time.Time
}

// The items parameters every collection takes.
var itemsParams = []string{"limit", "bbox", "bbox-crs", "crs", "datetime", "filter", "filter-lang", "filter-crs", "after"}

func (a *api) parseItems(c echo.Context, col *collection, snap *locate.Snapshot) (itemsQuery, error) {
	q := itemsQuery{limit: a.d.DefaultLimit}
	if err := checkParams(c, func(k string) bool { return slices.Contains(itemsParams, k) || slices.Contains(col.params, k) }); err != nil {
		return q, err
	}
	v := c.QueryParams()
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 {
			return q, param.Invalid("limit", "%q: want a whole number from 1 (at most %d are returned)", l, a.d.MaxLimit)
		}
		// OGC API – Features lets a server clamp: numberReturned tells.
		q.limit = min(n, a.d.MaxLimit)
	}
	var err error
	if q.crs, err = param.CRSURI("crs", v.Get("crs")); err != nil {
		return q, err
	}
	var conds grid.And
	bboxCRS, err := param.CRSURI("bbox-crs", v.Get("bbox-crs"))
	if err != nil {
		return q, err
	}
	bb, err := param.OGCBBox(v.Get("bbox"), bboxCRS)
	if err != nil {
		return q, err
	}
	if bb != nil {
		q.spatial = wgs84Area(bboxCRS, *bb)
		conds = append(conds, grid.Intersects{Geometry: q.spatial})
	}
	if dt := v.Get("datetime"); dt != "" {
		if col.temporal == "" {
			return q, param.Invalid("datetime", "collection %s has no time property", col.id)
		}
		if q.from, q.to, err = param.Interval("datetime", dt); err != nil {
			return q, err
		}
	}
	for _, name := range col.params {
		raw, ok := v[name]
		if !ok {
			continue
		}
		c, err := propertyParam(col, snap, name, strings.Join(raw, ","))
		if err != nil {
			return q, err
		}
		conds = append(conds, c)
	}
	if f := v.Get("filter"); f != "" || v.Has("filter-lang") || v.Has("filter-crs") {
		if f == "" {
			return q, param.Invalid("filter", "required with filter-lang and filter-crs")
		}
		c, err := parseFilter(col, snap, f, v.Get("filter-lang"), v.Get("filter-crs"))
		if err != nil {
			return q, err
		}
		conds = append(conds, c)
	}
	if after := v.Get("after"); after != "" {
		if err := col.checkCursor(after); err != nil {
			return q, err
		}
		q.after = after
	}
	switch len(conds) {
	case 0:
	case 1:
		q.where = conds[0]
	default:
		q.where = conds
	}
	return q, nil
}

// checkCursor validates an after= cursor: an incident id, or a code.
func (col *collection) checkCursor(v string) error {
	if col.src == fromIncidents {
		if id, err := strconv.ParseInt(v, 10, 64); err != nil || id <= 0 {
			return param.Invalid("after", "%q is not an incident id (take the next link)", v)
		}
		return nil
	}
	if len(v) > 64 || strings.ContainsAny(v, "\x00") {
		return param.Invalid("after", "%q is not a code (take the next link)", v)
	}
	return nil
}

// propertyParam turns name=value (or a comma list: any of them) into a
// condition; values of enumerated properties are checked, theme stands
// for its categories.
func propertyParam(col *collection, snap *locate.Snapshot, name, raw string) (grid.Cond, error) {
	var vals []string
	for _, s := range strings.Split(raw, ",") {
		if s = strings.TrimSpace(s); s != "" {
			vals = append(vals, s)
		}
	}
	if len(vals) == 0 {
		return nil, param.Invalid(name, "empty: want a value or a comma list of values")
	}
	if name == "theme" {
		var in []any
		for _, t := range vals {
			cats := snap.ThemeCategories(t)
			if len(cats) == 0 {
				return nil, param.Invalid("theme", "%q: want parking, waterlogging or sanitation", t)
			}
			for _, k := range cats {
				in = append(in, k)
			}
		}
		return grid.In{Prop: grid.IncidentCategory, Values: in}, nil
	}
	q, _ := col.queryable(name)
	in := make([]any, 0, len(vals))
	for _, s := range vals {
		if q.Enum != nil && !slices.Contains(q.Enum, s) {
			return nil, param.Invalid(name, "%q: want one of %s", s, strings.Join(q.Enum, ", "))
		}
		if err := param.Text(name, s); err != nil {
			return nil, err
		}
		in = append(in, s)
	}
	if len(in) == 1 {
		return grid.Compare{Prop: name, Op: grid.Eq, Value: in[0]}, nil
	}
	return grid.In{Prop: name, Values: in}, nil
}

// wgs84Area is the WGS84 area of a box given in crs's numbers: the box
// itself for WGS84 and CGCS2000, else its outline sampled every 0.01°
// (at most 64 points an edge) and taken to WGS84, a polygon within about
// 1e-5° of the true, slightly curved one.
func wgs84Area(crs param.OGCCRS, b [4]float64) orb.Geometry {
	if crs.System == coord.WGS84 {
		return orb.Bound{Min: orb.Point{b[0], b[1]}, Max: orb.Point{b[2], b[3]}}
	}
	w, h := b[2]-b[0], b[3]-b[1]
	n := min(max(int(max(w, h)/0.01)+1, 1), 64)
	var r orb.Ring
	add := func(lon, lat float64) {
		x, y := coord.ToWGS84(crs.System, lon, lat)
		r = append(r, orb.Point{x, y})
	}
	for i := 0; i < n; i++ {
		add(b[0]+w*float64(i)/float64(n), b[1])
	}
	for i := 0; i < n; i++ {
		add(b[2], b[1]+h*float64(i)/float64(n))
	}
	for i := 0; i < n; i++ {
		add(b[2]-w*float64(i)/float64(n), b[3])
	}
	for i := 0; i < n; i++ {
		add(b[0], b[3]-h*float64(i)/float64(n))
	}
	r = append(r, r[0])
	return orb.Polygon{r}
}

// page is one page of features, written by the collection's writer.
type page struct {
	n       int       // features written
	matched int64     // numberMatched; -1: not given
	next    string    // the cursor of the next page, "" on the last
	expires time.Time // when the page goes out of date by itself (zero: never)
}

func (a *api) items(c echo.Context) error {
	if err := wantJSON(c, mimeGeoJSON); err != nil {
		return err
	}
	col, town, err := a.lookup(c)
	if err != nil {
		return err
	}
	snap, err := a.snapshot()
	if err != nil {
		return err
	}
	// Incident pages are cached under the raw query, the caller's town
	// scope, the grid version and the base URL the links are made of: a
	// page stored was a 200 for exactly this.
	var key string
	var ticket featcache.Ticket
	if a.d.Cache != nil && col.src == fromIncidents {
		key = "ogc\x00" + town + "\x00" + strconv.FormatInt(snap.Version.ID, 10) + "\x00" + baseURL(c) + "\x00" + col.id + "\x00" + c.Request().URL.RawQuery
		if ans, ok := a.d.Cache.Get(key); ok {
			c.Response().Header().Set("Content-Crs", ans.ContentCRS)
			return c.Blob(http.StatusOK, ans.ContentType, ans.Body)
		}
		ticket = a.d.Cache.Begin()
	}
	q, err := a.parseItems(c, col, snap)
	if err != nil {
		return err
	}
	// About 800 bytes a feature: one allocation for most pages.
	w := &jw{b: make([]byte, 0, 2048+800*min(q.limit, 1000))}
	w.raw(`{"type":"FeatureCollection","features":[`)
	var pg page
	switch col.src {
	case fromSnapshot:
		pg = a.gridPage(w, col, snap, q)
	case fromFacilities:
		if pg, err = a.facilityPage(c, w, q); err != nil {
			return err
		}
	case fromIncidents:
		if pg, err = a.incidentPage(c, w, snap, q, town); err != nil {
			return err
		}
	}
	w.raw(`],"numberReturned":`)
	w.int(int64(pg.n))
	if pg.matched >= 0 {
		w.raw(`,"numberMatched":`)
		w.int(pg.matched)
	}
	w.raw(`,"timeStamp":`)
	w.str(a.d.Now().UTC().Format(time.RFC3339))
	base := baseURL(c) + "/collections/" + col.id
	self := base + "/items"
	if raw := c.Request().URL.RawQuery; raw != "" {
		self += "?" + raw
	}
	links := []link{{Href: self, Rel: "self", Type: mimeGeoJSON, Title: "this page"}}
	if pg.next != "" {
		nq := c.Request().URL.Query()
		nq.Set("after", pg.next)
		nq.Set("limit", strconv.Itoa(q.limit))
		links = append(links, link{Href: base + "/items?" + nq.Encode(), Rel: "next", Type: mimeGeoJSON, Title: "the next page"})
	}
	links = append(links, link{Href: base, Rel: "collection", Type: mimeJSON, Title: col.title})
	w.raw(`,"links":`)
	w.links(links)
	w.raw("}")
	crsHeader := "<" + q.crs.URI + ">"
	if key != "" {
		var area *orb.Bound
		if g, ok := grid.Required(q.where); ok {
			b := g.Bound()
			area = &b
		}
		a.d.Cache.Put(ticket, key, area, pg.expires, featcache.Answer{Body: w.b, ContentType: mimeGeoJSON, ContentCRS: crsHeader})
	}
	c.Response().Header().Set("Content-Crs", crsHeader)
	return c.Blob(http.StatusOK, mimeGeoJSON, w.b)
}

// gridFeature is one feature of a snapshot collection.
type gridFeature struct {
	code  string
	geom  orb.MultiPolygon
	props [][2]string // name, value, in output order
}

func (f *gridFeature) get(name string) (any, bool) {
	for _, p := range f.props {
		if p[0] == name {
			return p[1], true
		}
	}
	return nil, false
}

// gridFeatures calls fn for each feature of a snapshot collection in code
// order, until fn returns false.
func gridFeatures(col *collection, s *locate.Snapshot, fn func(*gridFeature) bool) {
	var fs []gridFeature
	switch col.id {
	case "cells": // the snapshot keeps cells in code order
		for i := range s.Cells {
			x := &s.Cells[i]
			if !fn(&gridFeature{x.Code, x.Geometry, [][2]string{{"code", x.Code}, {"name", x.Name}, {"community", x.CommunityCode}, {"town", x.TownCode}}}) {
				return
			}
		}
		return
	case "towns":
		for _, x := range s.Towns {
			fs = append(fs, gridFeature{x.Code, x.Geometry, [][2]string{{"code", x.Code}, {"name", x.Name}, {"kind", x.Kind}}})
		}
	case "communities":
		for _, x := range s.Communities {
			fs = append(fs, gridFeature{x.Code, x.Geometry, [][2]string{{"code", x.Code}, {"name", x.Name}, {"town", x.TownCode}}})
		}
	case "zones":
		for _, x := range s.Zones {
			fs = append(fs, gridFeature{x.Code, x.Geometry, [][2]string{{"code", x.Code}, {"name", x.Name}, {"kind", x.Kind}}})
		}
	}
	slices.SortFunc(fs, func(a, b gridFeature) int { return strings.Compare(a.code, b.code) })
	for i := range fs {
		if !fn(&fs[i]) {
			return
		}
	}
}

// gridPage writes a page of a snapshot collection: every feature is
// tested, so numberMatched is exact.
func (a *api) gridPage(w *jw, col *collection, snap *locate.Snapshot, q itemsQuery) page {
	pg := page{}
	gridFeatures(col, snap, func(f *gridFeature) bool {
		if q.after != "" && f.code <= q.after {
			return true
		}
		if !grid.Eval(q.where, f.get, f.geom) {
			return true
		}
		pg.matched++
		if pg.n < q.limit {
			if pg.n > 0 {
				w.b = append(w.b, ',')
			}
			writeGridFeature(w, q.crs, f)
			pg.n++
			if pg.n == q.limit {
				pg.next = f.code // cleared below if nothing follows
			}
		}
		return true
	})
	if int64(pg.n) == pg.matched {
		pg.next = ""
	}
	if q.after != "" {
		// numberMatched counts the whole selection, not what follows the cursor.
		pg.matched += a.countBefore(col, snap, q)
	}
	return pg
}

// countBefore counts the matching features at or before the cursor.
func (a *api) countBefore(col *collection, snap *locate.Snapshot, q itemsQuery) int64 {
	var n int64
	gridFeatures(col, snap, func(f *gridFeature) bool {
		if f.code > q.after {
			return false
		}
		if grid.Eval(q.where, f.get, f.geom) {
			n++
		}
		return true
	})
	return n
}

func writeGridFeature(w *jw, crs param.OGCCRS, f *gridFeature) {
	w.raw(`{"type":"Feature","id":`)
	w.str(f.code)
	w.raw(`,"geometry":`)
	w.geometry(crs, f.geom)
	w.raw(`,"properties":{`)
	for i, p := range f.props {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.key(p[0])
		w.str(p[1])
	}
	w.raw("}}")
}

func (a *api) features() (grid.FeatureStore, error) {
	if a.d.Features == nil {
		return nil, grid.Errorf(grid.Unavailable, "the feature store is not configured")
	}
	return a.d.Features, nil
}

func (a *api) facilityPage(c echo.Context, w *jw, q itemsQuery) (page, error) {
	st, err := a.features()
	if err != nil {
		return page{}, err
	}
	fq := grid.FeatureQuery{Where: visibleFacilities(a.d.Principal(c), q.where), Limit: q.limit + 1, After: q.after}
	fs, err := st.FacilityFeatures(c.Request().Context(), fq)
	if err != nil {
		return page{}, err
	}
	pg := page{}
	if len(fs) > q.limit {
		fs = fs[:q.limit]
		pg.next = fs[len(fs)-1].Code
	}
	if pg.matched, err = st.CountFacilities(c.Request().Context(), fq); err != nil {
		return page{}, err
	}
	for i := range fs {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		writeFacility(w, q.crs, &fs[i])
	}
	pg.n = len(fs)
	return pg, nil
}

// visibleFacilities narrows a facility condition to the kinds the caller
// may see (grid.PublicFacilityKinds without SeeSensitive).
func visibleFacilities(p grid.Principal, where grid.Cond) grid.Cond {
	kinds, _ := p.FacilityKinds("")
	if kinds == nil {
		return where
	}
	values := make([]any, len(kinds))
	for i, k := range kinds {
		values[i] = k
	}
	visible := grid.In{Prop: "kind", Values: values}
	if where == nil {
		return visible
	}
	return grid.And{where, visible}
}

func writeFacility(w *jw, crs param.OGCCRS, f *grid.Facility) {
	w.raw(`{"type":"Feature","id":`)
	w.str(f.Code)
	w.raw(`,"geometry":`)
	w.geometry(crs, f.Point)
	w.raw(`,"properties":{"code":`)
	w.str(f.Code)
	w.raw(`,"kind":`)
	w.str(f.Kind)
	w.raw(`,"name":`)
	w.str(f.Name)
	w.raw(`,"attrs":`)
	keys := make([]string, 0, len(f.Attrs))
	for k := range f.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.b = append(w.b, '{')
	for i, k := range keys {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.key(k)
		w.str(f.Attrs[k])
	}
	w.raw("}}}")
}

// incidentQuery is the store query of an incidents page: with a bbox, the
// snapshot's cells meeting it let the store use its cell index.
func incidentQuery(snap *locate.Snapshot, q itemsQuery, town string, limit int) grid.FeatureQuery {
	fq := grid.FeatureQuery{Where: q.where, From: q.from, To: q.to, Town: town, Limit: limit, After: q.after}
	if g, ok := grid.Required(q.where); ok {
		cells := []string{}
		snap.CellsMeeting(g, func(x *grid.Cell) bool {
			if town == "" || x.TownCode == town {
				cells = append(cells, x.Code)
			}
			return true
		})
		fq.Cells = cells
	}
	return fq
}

func (a *api) incidentPage(c echo.Context, w *jw, snap *locate.Snapshot, q itemsQuery, town string) (page, error) {
	st, err := a.features()
	if err != nil {
		return page{}, err
	}
	xs, err := st.IncidentFeatures(c.Request().Context(), incidentQuery(snap, q, town, q.limit+1))
	if err != nil {
		return page{}, err
	}
	pg := page{matched: -1}
	if len(xs) > q.limit {
		xs = xs[:q.limit]
		pg.next = strconv.FormatInt(xs[len(xs)-1].ID, 10)
	} else if q.after == "" {
		// The whole selection is on this page: the count is exact and free.
		pg.matched = int64(len(xs))
	}
	now := a.d.Now()
	for i := range xs {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		writeIncident(w, q.crs, snap, &xs[i], now)
	}
	pg.n = len(xs)
	pg.expires = featcache.Expiry(xs, now)
	return pg, nil
}

// writeIncident writes an incident as a flat feature: codes and names
// side by side, as GIS tables want them.
func writeIncident(w *jw, crs param.OGCCRS, snap *locate.Snapshot, x *grid.Incident, now time.Time) {
	w.raw(`{"type":"Feature","id":`)
	w.int(x.ID)
	w.raw(`,"geometry":`)
	w.geometry(crs, x.Point)
	w.raw(`,"properties":{"category":`)
	w.str(x.Category)
	w.raw(`,"category_name":`)
	if k, ok := snap.Category(x.Category); ok {
		w.str(k.Name)
	} else {
		w.raw("null")
	}
	w.raw(`,"status":`)
	w.str(x.Status)
	w.raw(`,"source":`)
	w.str(x.Source)
	w.raw(`,"description":`)
	w.str(x.Description)
	w.raw(`,"occurred_at":`)
	w.time(x.OccurredAt)
	w.raw(`,"received_at":`)
	w.time(x.ReceivedAt)
	w.raw(`,"cell":`)
	w.str(x.CellCode)
	w.raw(`,"community":`)
	w.str(x.CommunityCode)
	w.raw(`,"town":`)
	w.str(x.TownCode)
	w.raw(`,"town_name":`)
	if t := snap.Town(x.TownCode); t != nil && snap.Version.ID == x.GridVersion {
		w.str(t.Name)
	} else {
		w.raw("null")
	}
	w.raw(`,"department":`)
	w.str(x.Department)
	w.raw(`,"department_name":`)
	if d, ok := snap.Department(x.Department); ok {
		w.str(d.Name)
	} else {
		w.raw("null")
	}
	w.raw(`,"grid_version":`)
	w.int(x.GridVersion)
	w.raw(`,"deadline":`)
	w.time(x.Deadline)
	w.raw(`,"overdue":`)
	w.bool(grid.Overdue(x.Status, x.Deadline, now))
	w.raw(`,"supervised":`)
	w.bool(x.Supervised)
	w.raw(`,"reworks":`)
	w.int(int64(x.Reworks))
	w.raw(`,"extensions":`)
	w.int(int64(x.Extensions))
	w.raw(`,"h3":`)
	w.str(h3.Cell(x.H3).String())
	w.raw(`,"registered_at":`)
	w.timePtr(x.RegisteredAt)
	w.raw(`,"dispatched_at":`)
	w.timePtr(x.DispatchedAt)
	w.raw(`,"handled_at":`)
	w.timePtr(x.HandledAt)
	w.raw(`,"closed_at":`)
	w.timePtr(x.ClosedAt)
	w.raw(`,"external_id":`)
	if x.ExternalID != "" {
		w.str(x.ExternalID)
	} else {
		w.raw("null")
	}
	w.raw("}}")
}

// feature: GET /collections/{id}/items/{featureId}.
func (a *api) feature(c echo.Context) error {
	if err := wantJSON(c, mimeGeoJSON); err != nil {
		return err
	}
	col, town, err := a.lookup(c)
	if err != nil {
		return err
	}
	if err := checkParams(c, func(k string) bool { return k == "crs" }); err != nil {
		return err
	}
	crs, err := param.CRSURI("crs", c.QueryParam("crs"))
	if err != nil {
		return err
	}
	snap, err := a.snapshot()
	if err != nil {
		return err
	}
	id := c.Param("feature_id")
	w := &jw{b: make([]byte, 0, 2048)}
	switch col.src {
	case fromSnapshot:
		var found *gridFeature
		gridFeatures(col, snap, func(f *gridFeature) bool {
			if f.code == id {
				found = f
				return false
			}
			return true
		})
		if found == nil {
			return grid.Errorf(grid.NotFound, "no feature %q in collection %s", id, col.id)
		}
		writeGridFeature(w, crs, found)
	case fromFacilities:
		st, err := a.features()
		if err != nil {
			return err
		}
		f, err := st.Facility(c.Request().Context(), id)
		if err != nil {
			return err
		}
		if !a.d.Principal(c).MaySeeFacilityKind(f.Kind) { // as if it were not there
			return grid.Errorf(grid.NotFound, "no feature %q in collection %s", id, col.id)
		}
		writeFacility(w, crs, &f)
	case fromIncidents:
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n <= 0 {
			return grid.Errorf(grid.NotFound, "no incident %q: incident ids are positive numbers", id)
		}
		st, err := a.features()
		if err != nil {
			return err
		}
		xs, err := st.IncidentFeatures(c.Request().Context(), grid.FeatureQuery{
			Where: grid.Compare{Prop: grid.IncidentID, Op: grid.Eq, Value: float64(n)}, Town: town, Limit: 1})
		if err != nil {
			return err
		}
		if len(xs) == 0 { // another town's incident is as absent as a missing one
			return grid.Errorf(grid.NotFound, "no incident %d", n)
		}
		writeIncident(w, crs, snap, &xs[0], a.d.Now())
	}
	// Splice the links into the feature object written above.
	w.b = w.b[:len(w.b)-1]
	base := baseURL(c) + "/collections/" + col.id
	w.raw(`,"links":`)
	w.links([]link{
		{Href: base + "/items/" + url.PathEscape(id), Rel: "self", Type: mimeGeoJSON},
		{Href: base, Rel: "collection", Type: mimeJSON, Title: col.title},
	})
	w.raw("}")
	c.Response().Header().Set("Content-Crs", "<"+crs.URI+">")
	return c.Blob(http.StatusOK, mimeGeoJSON, w.b)
}
