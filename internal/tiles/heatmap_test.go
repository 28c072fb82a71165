package tiles_test

import (
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/clip"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/paulmach/orb/planar"
	"github.com/uber/h3-go/v4"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/tiles"
)

// cityHeat is one heat cell per H3 cell of resolution res covering the
// demo city's bound, with distinct counts.
func cityHeat(t *testing.T, res int) []grid.HeatCell {
	t.Helper()
	city, _ := demoGrid(t)
	b := city.Boundary.Bound()
	poly := h3.GeoPolygon{GeoLoop: h3.GeoLoop{
		{Lat: b.Min[1], Lng: b.Min[0]}, {Lat: b.Min[1], Lng: b.Max[0]},
		{Lat: b.Max[1], Lng: b.Max[0]}, {Lat: b.Max[1], Lng: b.Min[0]}}}
	cs, err := h3.PolygonToCells(poly, res)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]grid.HeatCell, len(cs))
	for i, c := range cs {
		out[i] = grid.HeatCell{H3: uint64(c), Count: int64(i + 1)}
	}
	return out
}

// The heatmap tile holds exactly the input cells whose hexagon (h3-go's
// boundary) meets the tile and its buffer, with their counts.
func TestHeatmapLayerAgainstH3(t *testing.T) {
	for _, z := range []int{9, 12, 14} {
		res := tiles.TileRes(z)
		cells := cityHeat(t, res)
		tile := oldTown(z)
		l, err := tiles.HeatmapLayer(tile, cells)
		if err != nil {
			t.Fatal(err)
		}
		enc, err := tiles.Encode(l)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int64{}
		for _, f := range decode(t, enc)[tiles.LayerHeatmap].Features {
			got[f.Properties["h3"].(string)] = int64(f.Properties["count"].(float64))
		}

		// The oracle: h3-go's boundary of every input cell against the
		// tile's bound.
		tb := tiles.TileBound(tile)
		expect := 0
		for _, hc := range cells {
			c := h3.Cell(hc.H3)
			hex, err := c.Boundary()
			if err != nil {
				t.Fatal(err)
			}
			ring := orb.Ring{}
			for _, v := range hex {
				ring = append(ring, orb.Point{v.Lng, v.Lat})
			}
			ring = append(ring, ring[0])
			n, drawn := got[c.String()]
			if !ring.Bound().Intersects(tb) {
				if drawn {
					t.Errorf("z%d: %s drawn but its hexagon misses the tile", z, c)
				}
				continue
			}
			expect++
			if drawn {
				if n != hc.Count {
					t.Errorf("z%d: %s count %d, want %d", z, c, n, hc.Count)
				}
				continue
			}
			// Left out: only if what meets the tile rounds to nothing.
			ls := mvt.Layers{{Name: "x", Extent: 4096, Features: []*geojson.Feature{geojson.NewFeature(orb.Polygon{ring})}}}
			ls.ProjectToTile(tile)
			p := clip.Polygon(orb.Bound{Min: orb.Point{-64, -64}, Max: orb.Point{4160, 4160}}, ls[0].Features[0].Geometry.(orb.Polygon))
			if p != nil && planar.Area(p) >= 2 {
				t.Errorf("z%d: %s meets the tile over %.1f units² but is not drawn", z, c, planar.Area(p))
			}
		}
		t.Logf("z%d res %d: %d of %d cells drawn, %d meet the tile", z, res, len(got), len(cells), expect)
		if len(got) == 0 || len(got) > expect || expect == len(cells) {
			t.Fatalf("z%d: %d drawn, %d expected of %d input cells", z, len(got), expect, len(cells))
		}
	}
}

func TestHeatmapLayerRejectsBadIndex(t *testing.T) {
	_, err := tiles.HeatmapLayer(maptile.New(0, 0, 0), []grid.HeatCell{{H3: 12345, Count: 1}})
	if grid.KindOf(err) != grid.Invalid {
		t.Fatalf("bad index: %v", err)
	}
}

func TestTileRes(t *testing.T) {
	for z, want := range map[int]int{0: 5, 8: 5, 9: 6, 10: 7, 11: 7, 12: 8, 13: 8, 14: 9, 15: 9, 16: 10, 22: 10} {
		if got := tiles.TileRes(z); got != want {
			t.Errorf("TileRes(%d) = %d, want %d", z, got, want)
		}
	}
}
