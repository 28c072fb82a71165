package tiles

import (
	"math"
	"slices"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"

	"github.com/citygrid/citygrid/internal/grid"
)

// Layer names, as they appear in tile paths and as MVT layer names.
const (
	LayerTowns       = "towns"
	LayerCommunities = "communities"
	LayerCells       = "cells"
	LayerZones       = "zones"
	LayerFacilities  = "facilities"
	LayerIncidents   = "incidents"
	LayerHeatmap     = "heatmap"
	// LayerMeta is not requested by name: it rides along in a tile whose
	// point layers were cut at their bound (see Meta).
	LayerMeta = "meta"
)

// Layers lists every layer a tile can be asked for, in the canonical order
// of composite tiles and cache keys.
func Layers() []string {
	return []string{LayerTowns, LayerCommunities, LayerCells, LayerZones,
		LayerFacilities, LayerIncidents, LayerHeatmap}
}

// GridLayers lists the layers drawn from the grid model (see Grid).
func GridLayers() []string {
	return []string{LayerTowns, LayerCommunities, LayerCells, LayerZones}
}

// IsGridLayer reports whether a layer is drawn from the grid model.
func IsGridLayer(name string) bool { return slices.Contains(GridLayers(), name) }

// ServedMaxZoom is the deepest zoom the service draws: past it a tile of
// the demo city (under 40 m across) shows nothing a zoom-20 tile
// over-zoomed by the map does not.
const ServedMaxZoom = 20

// ZoomRange is the zooms a layer is served at. Facilities start at zoom 8,
// below which a tile spans far more than the city.
func ZoomRange(layer string) (minZoom, maxZoom int) {
	if layer == LayerFacilities {
		return 8, ServedMaxZoom
	}
	return 0, ServedMaxZoom
}

// Tile geometry: every layer is encoded with this extent and clipped to the
// tile plus Buffer units on each side, so lines and fills join across tile
// edges.
const (
	Extent = 4096
	Buffer = 64
	// MaxZoom is the highest zoom a tile path may name.
	MaxZoom = 22
)

// ParseLayers reads the layer part of a tile path: one layer ("cells") or a
// composite ("towns,cells"). The result is deduplicated and in the
// canonical order of Layers, so "cells,towns" and "towns,cells" name the
// same tile. Errors are of kind grid.Invalid and name the bad layer.
func ParseLayers(s string) ([]string, error) {
	if s == "" {
		return nil, grid.Errorf(grid.Invalid, "layers: empty; want one or more of %s, comma-separated", strings.Join(Layers(), ", "))
	}
	seen := map[string]bool{}
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if !slices.Contains(Layers(), p) {
			return nil, grid.Errorf(grid.Invalid, "layers: %q is not a tile layer; want one or more of %s, comma-separated",
				p, strings.Join(Layers(), ", "))
		}
		seen[p] = true
	}
	var out []string
	for _, l := range Layers() {
		if seen[l] {
			out = append(out, l)
		}
	}
	return out, nil
}

// TileBound is the WGS84 bound of a tile with its buffer: what a store must
// return for the tile's point layers to be complete.
func TileBound(t maptile.Tile) orb.Bound {
	return t.Bound(float64(Buffer) / Extent)
}

// Web Mercator, normalised: x and y in [0, 1], y growing southwards as in
// tile coordinates, so that orientation in this plane is orientation in a
// tile. The formula is orb's (maptile.Fraction at zoom 0).
const maxLat = 85.0511

func mercator(ll orb.Point) orb.Point {
	x := ll[0]/360 + 0.5
	lat := math.Max(-maxLat, math.Min(maxLat, ll[1]))
	s := math.Sin(lat * math.Pi / 180)
	y := 0.5 + 0.5*math.Log((1+s)/(1-s))/(-2*math.Pi)
	return orb.Point{x, y}
}

// mercatorBound is the normalised Mercator bound of a tile with its buffer.
func mercatorBound(t maptile.Tile) orb.Bound {
	n := float64(uint64(1) << t.Z)
	b := float64(Buffer) / Extent
	return orb.Bound{
		Min: orb.Point{(float64(t.X) - b) / n, (float64(t.Y) - b) / n},
		Max: orb.Point{(float64(t.X) + 1 + b) / n, (float64(t.Y) + 1 + b) / n},
	}
}

// toTile maps normalised Mercator into a tile's coordinates (not rounded).
type toTile struct{ scale, x0, y0 float64 }

func newToTile(t maptile.Tile) toTile {
	s := float64(uint64(1)<<t.Z) * Extent
	return toTile{scale: s, x0: float64(t.X) * Extent, y0: float64(t.Y) * Extent}
}

func (p toTile) at(m orb.Point) orb.Point {
	return orb.Point{m[0]*p.scale - p.x0, m[1]*p.scale - p.y0}
}

// clipBound is the tile's buffered extent in tile coordinates.
func clipBound() orb.Bound {
	return orb.Bound{Min: orb.Point{-Buffer, -Buffer}, Max: orb.Point{Extent + Buffer, Extent + Buffer}}
}
