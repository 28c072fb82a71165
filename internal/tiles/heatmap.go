package tiles

import (
	"math"
	"slices"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/uber/h3-go/v4"

	"github.com/citygrid/citygrid/internal/grid"
)

// TileRes picks the H3 resolution of a heatmap tile so hexagons stay some
// 10–30 pixels across on a 512-pixel tile.
func TileRes(z int) int {
	switch {
	case z <= 8:
		return 5
	case z <= 9:
		return 6
	case z <= 11:
		return 7
	case z <= 13:
		return 8
	case z <= 15:
		return 9
	}
	return 10
}

// HeatmapLayer draws heatmap cells as hexagons in tile t, layer
// "heatmap", properties h3 (the index as a string) and count. Only the
// cells whose hexagon's bound meets the tile and its buffer are drawn, and
// only for cells whose centre lies close enough to the tile for that to be
// possible is a hexagon computed at all, so the cost follows the cells
// near the tile, not the city. Cells may be of any resolution. An invalid
// H3 index is grid.Invalid.
func HeatmapLayer(t maptile.Tile, cells []grid.HeatCell) (*mvt.Layer, error) {
	l := &mvt.Layer{Name: LayerHeatmap, Version: 2, Extent: Extent}
	tb := TileBound(t)
	near, err := nearTile(tb, cells)
	if err != nil {
		return nil, err
	}
	tt := newToTile(t)
	cb := clipBound()
	for _, hc := range near {
		c := h3.Cell(hc.H3)
		hex, err := c.Boundary()
		if err != nil {
			return nil, grid.Errorf(grid.Invalid, "tiles: H3 cell %s: %v", c, err)
		}
		hb := orb.Bound{Min: orb.Point{math.Inf(1), math.Inf(1)}, Max: orb.Point{math.Inf(-1), math.Inf(-1)}}
		r := make(orb.Ring, 0, len(hex)+1)
		for _, v := range hex {
			p := orb.Point{v.Lng, v.Lat}
			hb = hb.Extend(p)
			r = append(r, tt.at(mercator(p)))
		}
		if !hb.Intersects(tb) {
			continue
		}
		r = append(r, r[0])
		// H3 boundaries run counter-clockwise on the globe, which is
		// clockwise in y-down tile coordinates: a hole to MVT.
		if ringArea(r) < 0 {
			slices.Reverse(r)
		}
		if r = finishRing(r, cb, true, true); r == nil {
			continue
		}
		l.Features = append(l.Features, &geojson.Feature{Geometry: orb.Polygon{r},
			Properties: geojson.Properties{"h3": c.String(), "count": hc.Count}})
	}
	return l, nil
}

// nearTile keeps the cells whose centre lies within reach of bound tb:
// the only ones that can meet it. With many cells, a cell is first tested
// by its parent — pure bit arithmetic — against
// the ancestors covering the reach (with two rings of margin, since
// children stick out of their parent's hexagon), so the centre of a cell
// far from the tile is never computed.
func nearTile(tb orb.Bound, cells []grid.HeatCell) ([]grid.HeatCell, error) {
	var out []grid.HeatCell
	type byRes struct {
		near   orb.Bound
		coarse int
		cover  map[uint64]bool // nil: test every centre
	}
	plans := map[int]*byRes{}
	for _, hc := range cells {
		if !cellShaped(hc.H3) {
			return nil, grid.Errorf(grid.Invalid, "tiles: %x is not an H3 cell", hc.H3)
		}
		res := int(hc.H3 >> 52 & 0xF)
		pl, ok := plans[res]
		if !ok {
			pl = &byRes{near: reachBound(tb, res), coarse: res - 1}
			if len(cells) >= 256 && pl.coarse >= 0 {
				pl.cover = coverCells(pl.near, pl.coarse)
			}
			plans[res] = pl
		}
		if pl.cover != nil && !pl.cover[ancestor(hc.H3, pl.coarse)] {
			continue
		}
		c := h3.Cell(hc.H3)
		if !c.IsValid() {
			return nil, grid.Errorf(grid.Invalid, "tiles: %x is not an H3 cell", hc.H3)
		}
		ll, err := c.LatLng()
		if err != nil {
			return nil, grid.Errorf(grid.Invalid, "tiles: H3 cell %s: %v", c, err)
		}
		if pl.near.Contains(orb.Point{ll.Lng, ll.Lat}) {
			out = append(out, hc)
		}
	}
	return out, nil
}

// cellShaped checks the fixed fields of an H3 cell index without a C
// call: mode 1, base cell 0–121, the digits below the resolution all 7.
// (h3-go's IsValid, which also rejects deleted pentagon subsequences,
// runs on the cells that pass the prefilter.)
func cellShaped(h uint64) bool {
	res := uint(h >> 52 & 0xF)
	unused := uint64(1)<<((15-res)*3) - 1
	return h>>63 == 0 && h>>59&0xF == 1 && h>>45&0x7F <= 121 && h&unused == unused
}

// ancestor is the H3 index of cell h's ancestor at resolution r ≤ its
// own: the resolution field set to r and the digits below r set to 7, as
// the H3 index format defines (cellToParent without the C call).
func ancestor(h uint64, r int) uint64 {
	h = h&^(0xF<<52) | uint64(r)<<52
	return h | (uint64(1)<<(uint(15-r)*3) - 1)
}

// coverCells lists the resolution-r cells within two rings of the cells
// meeting bound b (those containing its corners and centre, and those
// whose centre lies inside it); nil when b is too large to list (a very
// low zoom), which makes the caller test every centre.
func coverCells(b orb.Bound, r int) map[uint64]bool {
	if b.Max[0]-b.Min[0] > 20 || b.Max[1]-b.Min[1] > 20 {
		return nil
	}
	loop := h3.GeoLoop{{Lat: b.Min[1], Lng: b.Min[0]}, {Lat: b.Min[1], Lng: b.Max[0]},
		{Lat: b.Max[1], Lng: b.Max[0]}, {Lat: b.Max[1], Lng: b.Min[0]}}
	seeds, err := h3.PolygonToCells(h3.GeoPolygon{GeoLoop: loop}, r)
	if err != nil {
		return nil
	}
	for _, ll := range append(loop, h3.LatLng{Lat: (b.Min[1] + b.Max[1]) / 2, Lng: (b.Min[0] + b.Max[0]) / 2}) {
		if c, err := h3.LatLngToCell(ll, r); err == nil {
			seeds = append(seeds, c)
		}
	}
	if len(seeds) > 5000 {
		return nil
	}
	out := make(map[uint64]bool, len(seeds)*4)
	for _, s := range seeds {
		disk, err := s.GridDisk(2)
		if err != nil {
			return nil
		}
		for _, c := range disk {
			out[uint64(c)] = true
		}
	}
	return out
}

// reachBound widens a WGS84 bound by twice the average edge length of an
// H3 cell of resolution res (a cell's centre is never farther than that from
// any point of it), so a cell whose centre lies outside cannot meet b.
func reachBound(b orb.Bound, res int) orb.Bound {
	km, err := h3.HexagonEdgeLengthAvgKm(res)
	if err != nil {
		km = 1300 // resolution 0
	}
	dLat := 2 * km / 111.0
	lat := math.Min(89, math.Max(math.Abs(b.Min[1]), math.Abs(b.Max[1]))+dLat)
	dLon := dLat / math.Cos(lat*math.Pi/180)
	return orb.Bound{Min: orb.Point{b.Min[0] - dLon, b.Min[1] - dLat}, Max: orb.Point{b.Max[0] + dLon, b.Max[1] + dLat}}
}
