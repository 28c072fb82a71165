package tiles

import (
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/clip"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geo"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/tidwall/rtree"

	"github.com/citygrid/citygrid/internal/grid"
)

// Grid draws the grid layers (towns, communities, cells, zones) of one grid
// version from memory. Build it once per version with NewGrid; it is
// immutable afterwards apart from the per-zoom simplifications it computes
// on first use, and safe for concurrent use.
//
// Towns, communities and cells form one topology: every boundary they
// share is one arc, simplified once per zoom, so neighbouring cells — and
// a community and the cells along its edge, and a town and its
// communities — have identical vertices along their common boundary at
// every zoom: no slivers, no gaps. Zones overlap the cells freely and are
// simplified on their own.
//
// Feature ids: cells, communities and towns carry their numeric code (15,
// 12 and 9 digits, all below 2^53 so JavaScript clients read them
// exactly). Zone codes are not numeric; a zone's id is the FNV-1a 64-bit
// hash of its code keeping the low 53 bits: stable across grid versions
// and exact in JavaScript.
type Grid struct {
	version int64
	layers  map[string]*gridLayer
	planar  *topoSet // towns, communities, cells
	zones   *topoSet
}

type topoSet struct {
	topo   *topology
	levels [SourceZoom + 1]struct {
		once sync.Once
		lv   *level
	}
}

func (s *topoSet) at(z int) *level {
	z = min(z, SourceZoom)
	l := &s.levels[z]
	l.once.Do(func() { l.lv = s.topo.level(z) })
	return l.lv
}

type gridLayer struct {
	name   string
	set    *topoSet
	first  int // index of the layer's first polygon in the topology
	feats  []gridFeature
	tree   rtree.RTreeG[int32] // feature bounds, normalised Mercator
	byCode map[string]int32
	key    string // property naming a feature's code in count layers
}

type gridFeature struct {
	id    uint64
	code  string
	town  string // "" for zones
	props geojson.Properties
	bound orb.Bound // normalised Mercator
}

// GridFilter narrows grid layers. The zero value draws everything.
type GridFilter struct {
	// Town, when set, keeps only that town's cells, communities and the
	// town itself (a town-scoped caller's view). Zones are city-wide and
	// always drawn.
	Town string
}

// NewGrid builds the grid layers of a model. Errors are of kind
// grid.Invalid: a cell, community or town code that is not a number
// (feature ids are the numeric codes), or two zones whose codes hash to the
// same id.
func NewGrid(m *grid.Model) (*Grid, error) {
	if m == nil || m.City == nil {
		return nil, grid.Errorf(grid.Invalid, "tiles: no grid model")
	}
	c := m.City
	g := &Grid{version: m.Version.ID, layers: map[string]*gridLayer{}}

	type src struct {
		code, town string
		props      geojson.Properties
		geom       orb.MultiPolygon
	}
	numeric := func(layer, code string) (uint64, error) {
		id, err := strconv.ParseUint(code, 10, 64)
		if err != nil || id >= 1<<53 {
			return 0, grid.Errorf(grid.Invalid, "tiles: %s code %q is not a number below 2^53", layer, code)
		}
		return id, nil
	}
	area := func(mp orb.MultiPolygon) int64 { return int64(math.Round(geo.Area(mp))) }

	towns := make([]src, 0, len(c.Towns))
	for _, x := range c.Towns {
		towns = append(towns, src{x.Code, x.Code, geojson.Properties{
			"code": x.Code, "name": x.Name, "kind": x.Kind, "area_m2": area(x.Geometry)}, x.Geometry})
	}
	comms := make([]src, 0, len(c.Communities))
	for _, x := range c.Communities {
		comms = append(comms, src{x.Code, x.TownCode, geojson.Properties{
			"code": x.Code, "name": x.Name, "town": x.TownCode, "area_m2": area(x.Geometry)}, x.Geometry})
	}
	cells := make([]src, 0, len(c.Cells))
	for _, x := range c.Cells {
		cells = append(cells, src{x.Code, x.TownCode, geojson.Properties{
			"code": x.Code, "name": x.Name, "community": x.CommunityCode, "town": x.TownCode, "area_m2": area(x.Geometry)}, x.Geometry})
	}
	zones := make([]src, 0, len(c.Zones))
	for _, x := range c.Zones {
		zones = append(zones, src{x.Code, "", geojson.Properties{
			"code": x.Code, "name": x.Name, "kind": x.Kind, "area_m2": area(x.Geometry)}, x.Geometry})
	}
	for _, s := range [][]src{towns, comms, cells, zones} {
		slices.SortFunc(s, func(a, b src) int { return strings.Compare(a.code, b.code) })
	}

	for _, l := range []struct {
		level string
		srcs  []src
	}{{"town", towns}, {"community", comms}, {"cell", cells}} {
		for _, x := range l.srcs {
			if _, err := numeric(l.level, x.code); err != nil {
				return nil, err
			}
		}
	}

	// One topology for the nested levels, one for the zones.
	var planarGeoms []orb.MultiPolygon
	var planarGroups []int32
	for gi, s := range [][]src{towns, comms, cells} {
		for _, x := range s {
			planarGeoms = append(planarGeoms, x.geom)
			planarGroups = append(planarGroups, int32(gi))
		}
	}
	g.planar = &topoSet{topo: buildTopology(planarGeoms, planarGroups)}
	zoneGeoms := make([]orb.MultiPolygon, len(zones))
	zoneGroups := make([]int32, len(zones))
	for i, x := range zones {
		zoneGeoms[i], zoneGroups[i] = x.geom, int32(i)
	}
	g.zones = &topoSet{topo: buildTopology(zoneGeoms, zoneGroups)}

	first := 0
	for _, l := range []struct {
		name, key string
		srcs      []src
	}{{LayerTowns, "town", towns}, {LayerCommunities, "community", comms}, {LayerCells, "cell", cells}} {
		gl := &gridLayer{name: l.name, set: g.planar, first: first, byCode: map[string]int32{}, key: l.key}
		for _, x := range l.srcs {
			id, _ := numeric(l.key, x.code) // checked above
			gl.add(gridFeature{id: id, code: x.code, town: x.town, props: x.props}, x.geom)
		}
		g.layers[l.name] = gl
		first += len(l.srcs)
	}
	gl := &gridLayer{name: LayerZones, set: g.zones, byCode: map[string]int32{}, key: "zone"}
	seen := map[uint64]string{}
	for _, x := range zones {
		id := ZoneID(x.code)
		if other, dup := seen[id]; dup {
			return nil, grid.Errorf(grid.Invalid, "tiles: zones %q and %q hash to the same feature id", other, x.code)
		}
		seen[id] = x.code
		gl.add(gridFeature{id: id, code: x.code, props: x.props}, x.geom)
	}
	g.layers[LayerZones] = gl
	return g, nil
}

// ZoneID is the MVT feature id of a zone: the FNV-1a 64-bit hash of its
// code, low 53 bits.
func ZoneID(code string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(code))
	return h.Sum64() & (1<<53 - 1)
}

func (gl *gridLayer) add(f gridFeature, mp orb.MultiPolygon) {
	b := orb.Bound{Min: orb.Point{math.Inf(1), math.Inf(1)}, Max: orb.Point{math.Inf(-1), math.Inf(-1)}}
	for _, p := range mp {
		if len(p) == 0 {
			continue
		}
		for _, pt := range p[0] {
			b = b.Extend(mercator(pt))
		}
	}
	f.bound = b
	i := int32(len(gl.feats))
	gl.feats = append(gl.feats, f)
	gl.byCode[f.code] = i
	if b.Min[0] <= b.Max[0] {
		gl.tree.Insert([2]float64(b.Min), [2]float64(b.Max), i)
	}
}

// Version is the grid version the layers were built from.
func (g *Grid) Version() int64 { return g.version }

// Warm computes the simplification of every zoom up to SourceZoom now
// rather than on the first tile of each zoom.
func (g *Grid) Warm() {
	for z := 0; z <= SourceZoom; z++ {
		g.planar.at(z)
		g.zones.at(z)
	}
}

// Layer draws grid layer name (towns, communities, cells or zones) for
// tile t: simplified for t's zoom, clipped to the tile and its buffer, in
// tile coordinates, features in code order. The features' property maps
// are shared between tiles and must not be modified. An unknown layer is
// grid.Invalid.
func (g *Grid) Layer(name string, t maptile.Tile, f GridFilter) (*mvt.Layer, error) {
	gl, ok := g.layers[name]
	if !ok {
		return nil, grid.Errorf(grid.Invalid, "layers: %q is not a grid layer; want towns, communities, cells or zones", name)
	}
	return gl.draw(t, f, nil), nil
}

// CountsLayer draws cells, communities or towns (of) carrying a count
// each, e.g. the incidents per cell as a choropleth: layer name, properties
// count and the feature's code under its level's name ("cell",
// "community", "town"). Features without a count are left out. An unknown
// level is grid.Invalid.
func (g *Grid) CountsLayer(name, of string, t maptile.Tile, counts map[string]int64, f GridFilter) (*mvt.Layer, error) {
	gl, ok := g.layers[of]
	if !ok || of == LayerZones {
		return nil, grid.Errorf(grid.Invalid, "tiles: counts are drawn on cells, communities or towns, not %q", of)
	}
	l := gl.draw(t, f, func(ft *gridFeature) geojson.Properties {
		n, ok := counts[ft.code]
		if !ok {
			return nil
		}
		return geojson.Properties{gl.key: ft.code, "count": n}
	})
	l.Name = name
	return l, nil
}

// Geometry is a feature of a grid layer as simplified for zoom z, in WGS84
// (the source coordinates of the vertices kept); false when there is no
// such feature or nothing of it is left at that zoom.
func (g *Grid) Geometry(layer, code string, z int) (orb.MultiPolygon, bool) {
	gl, ok := g.layers[layer]
	if !ok {
		return nil, false
	}
	i, ok := gl.byCode[code]
	if !ok {
		return nil, false
	}
	shape := gl.set.at(max(z, 0)).shapes[gl.first+int(i)]
	if len(shape) == 0 {
		return nil, false
	}
	ll := gl.set.topo.ll
	mp := make(orb.MultiPolygon, len(shape))
	for pi, part := range shape {
		mp[pi] = make(orb.Polygon, len(part))
		for ri, ring := range part {
			r := make(orb.Ring, len(ring))
			for k, id := range ring {
				r[k] = ll[id]
			}
			mp[pi][ri] = r
		}
	}
	return mp, true
}

// draw builds the layer for a tile; props, when not nil, gives each
// feature's properties (nil leaves the feature out).
func (gl *gridLayer) draw(t maptile.Tile, f GridFilter, props func(*gridFeature) geojson.Properties) *mvt.Layer {
	l := &mvt.Layer{Name: gl.name, Version: 2, Extent: Extent}
	mb := mercatorBound(t)
	var ids []int32
	gl.tree.Search([2]float64(mb.Min), [2]float64(mb.Max), func(_, _ [2]float64, i int32) bool {
		ids = append(ids, i)
		return true
	})
	if len(ids) == 0 {
		return l
	}
	slices.Sort(ids)
	lv := gl.set.at(int(t.Z))
	m := gl.set.topo.m
	tt := newToTile(t)
	cb := clipBound()
	for _, i := range ids {
		ft := &gl.feats[i]
		if f.Town != "" && gl.name != LayerZones && ft.town != f.Town {
			continue
		}
		p := ft.props
		if props != nil {
			if p = props(ft); p == nil {
				continue
			}
		}
		fb := orb.Bound{Min: tt.at(ft.bound.Min), Max: tt.at(ft.bound.Max)}
		geom := projectShape(m, lv.shapes[gl.first+int(i)], tt, cb, !cb.Contains(fb.Min) || !cb.Contains(fb.Max))
		if geom == nil {
			continue
		}
		l.Features = append(l.Features, &geojson.Feature{ID: ft.id, Geometry: geom, Properties: p})
	}
	return l
}

// projectShape maps a simplified polygon into tile coordinates, clips it
// to the buffered tile when needed and rounds it to whole units. Rings
// that round to nothing are left out (a part whose shell goes, entirely);
// nil when nothing is left.
func projectShape(m []orb.Point, shape [][][]int32, tt toTile, cb orb.Bound, needClip bool) orb.Geometry {
	var mp orb.MultiPolygon
	for _, part := range shape {
		var poly orb.Polygon
		for ri, ring := range part {
			r := make(orb.Ring, len(ring))
			for k, id := range ring {
				r[k] = tt.at(m[id])
			}
			if r = finishRing(r, cb, needClip, ri == 0); r == nil {
				if ri == 0 {
					break
				}
				continue
			}
			poly = append(poly, r)
		}
		if len(poly) > 0 {
			mp = append(mp, poly)
		}
	}
	switch len(mp) {
	case 0:
		return nil
	case 1:
		return mp[0]
	}
	return mp
}

// finishRing clips (when asked) and rounds a ring in tile coordinates
// (down, as orb's projection does), dropping repeated vertices; nil when it
// no longer encloses area with the orientation of a shell (positive) or a
// hole (negative).
func finishRing(r orb.Ring, cb orb.Bound, needClip, shell bool) orb.Ring {
	if needClip {
		if r = clip.Ring(cb, r); r == nil {
			return nil
		}
	}
	out := r[:0]
	for _, p := range r {
		q := orb.Point{math.Floor(p[0]), math.Floor(p[1])}
		if n := len(out); n > 0 && out[n-1] == q {
			continue
		}
		out = append(out, q)
	}
	if n := len(out); n > 0 && out[0] != out[n-1] {
		out = append(out, out[0])
	}
	if len(out) < 4 {
		return nil
	}
	if a := ringArea(out); a == 0 || (a > 0) != shell {
		return nil
	}
	return out
}

// ringArea is the signed area of a closed ring, positive when clockwise on
// screen (y down): the orientation of a shell in a tile.
func ringArea(r orb.Ring) float64 {
	var a float64
	for i := 0; i+1 < len(r); i++ {
		a += r[i][0]*r[i+1][1] - r[i+1][0]*r[i][1]
	}
	return a / 2
}
