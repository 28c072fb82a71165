package tiles

import (
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/uber/h3-go/v4"

	"github.com/citygrid/citygrid/internal/grid"
)

// Hexagons are computed only for cells close to the tile: the prefilter
// keeps every cell whose hexagon meets the tile and nothing farther than a
// few hexagon widths from it, whatever the resolution.
func TestHeatmapPrefilterStaysNearTheTile(t *testing.T) {
	for _, c := range []struct{ z, res int }{{12, 8}, {14, 9}, {8, 5}, {12, 10}, {16, 10}, {10, 9}} {
		tile := maptile.At(orb.Point{121.13, 28.85}, maptile.Zoom(c.z))
		tb := TileBound(tile)
		center, _ := h3.LatLngToCell(h3.NewLatLng(28.85, 121.13), c.res)
		disk, err := center.GridDisk(60) // some 11,000 cells
		if err != nil {
			t.Fatal(err)
		}
		cells := make([]grid.HeatCell, len(disk))
		for i, x := range disk {
			cells[i] = grid.HeatCell{H3: uint64(x), Count: 1}
		}
		near, err := nearTile(tb, cells)
		if err != nil {
			t.Fatal(err)
		}
		kept := map[uint64]bool{}
		for _, hc := range near {
			kept[hc.H3] = true
		}
		km, _ := h3.HexagonEdgeLengthAvgKm(c.res)
		margin := 5 * km / 111 // degrees, generous
		wide := orb.Bound{Min: orb.Point{tb.Min[0] - margin*1.2, tb.Min[1] - margin}, Max: orb.Point{tb.Max[0] + margin*1.2, tb.Max[1] + margin}}
		meets := 0
		for _, x := range disk {
			hex, _ := x.Boundary()
			b := orb.Bound{Min: orb.Point{hex[0].Lng, hex[0].Lat}, Max: orb.Point{hex[0].Lng, hex[0].Lat}}
			for _, v := range hex {
				b = b.Extend(orb.Point{v.Lng, v.Lat})
			}
			if b.Intersects(tb) {
				meets++
				if !kept[uint64(x)] {
					t.Fatalf("z%d res %d: %s meets the tile but was filtered out", c.z, c.res, x)
				}
			}
			if kept[uint64(x)] && !b.Intersects(wide) {
				t.Fatalf("z%d res %d: %s is far from the tile but kept", c.z, c.res, x)
			}
		}
		t.Logf("z%d res %d: %d of %d cells kept, %d meet the tile", c.z, c.res, len(near), len(cells), meets)
		if meets == 0 || (meets < len(cells)/2 && len(near) > 3*meets+100) {
			t.Fatalf("z%d res %d: kept %d for %d meeting the tile", c.z, c.res, len(near), meets)
		}
	}
}

// ancestor agrees with h3-go's Parent.
func TestAncestorIsH3Parent(t *testing.T) {
	for _, p := range []orb.Point{{121.13, 28.85}, {-73.98, 40.75}, {151.2, -33.87}, {0, 0}, {179.99, 85}} {
		for res := 0; res <= 15; res++ {
			c, err := h3.LatLngToCell(h3.NewLatLng(p[1], p[0]), res)
			if err != nil {
				t.Fatal(err)
			}
			for r := 0; r <= res; r++ {
				want, err := c.Parent(r)
				if err != nil {
					t.Fatal(err)
				}
				if got := ancestor(uint64(c), r); got != uint64(want) {
					t.Fatalf("ancestor(%s, %d) = %x, want %s", c, r, got, want)
				}
			}
		}
	}
}
