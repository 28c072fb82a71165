package hexbin

import (
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// TestMeetingHoldsEveryPoint: every point of a box, h3's LatLngToCell at
// BaseRes, is in the box's Meeting list; points are drawn at random, on
// the box's edges and corners, and next to the edges of the cells listed
// (a millimetre either side of an edge's midpoint and of its vertices).
func TestMeetingHoldsEveryPoint(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 11))
	for range 300 {
		w, h := 0.0001+r.Float64()*0.02, 0.0001+r.Float64()*0.02
		lon, lat := 120.9+r.Float64()*0.7, 28.6+r.Float64()*0.4
		b := orb.Bound{Min: orb.Point{lon, lat}, Max: orb.Point{lon + w, lat + h}}
		if r.IntN(10) == 0 {
			b.Max = b.Min // a point
		}
		cells, ok := Meeting(b, 100000)
		if !ok {
			t.Fatalf("%v: not listed", b)
		}
		in := make(map[h3.Cell]bool, len(cells))
		for _, c := range cells {
			if c.Resolution() != BaseRes {
				t.Fatalf("%v: cell %v of resolution %d", b, c, c.Resolution())
			}
			in[c] = true
		}
		var pts []orb.Point
		for range 200 {
			pts = append(pts, orb.Point{b.Min[0] + r.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + r.Float64()*(b.Max[1]-b.Min[1])})
		}
		for i := range 50 {
			f := float64(i) / 49
			x, y := b.Min[0]+f*(b.Max[0]-b.Min[0]), b.Min[1]+f*(b.Max[1]-b.Min[1])
			pts = append(pts, orb.Point{x, b.Min[1]}, orb.Point{x, b.Max[1]}, orb.Point{b.Min[0], y}, orb.Point{b.Max[0], y})
		}
		const mm = 1e-8 // degrees
		for _, c := range cells {
			ring, err := c.Boundary()
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range ring {
				u := ring[(i+1)%len(ring)]
				for _, p := range []h3.LatLng{v, {Lat: (v.Lat + u.Lat) / 2, Lng: (v.Lng + u.Lng) / 2}} {
					for _, d := range [][2]float64{{mm, 0}, {-mm, 0}, {0, mm}, {0, -mm}} {
						pts = append(pts, orb.Point{p.Lng + d[0], p.Lat + d[1]})
					}
				}
			}
		}
		for _, p := range pts {
			if !b.Contains(p) {
				continue
			}
			c, err := h3.LatLngToCell(h3.NewLatLng(p[1], p[0]), BaseRes)
			if err != nil {
				t.Fatal(err)
			}
			if !in[c] {
				t.Fatalf("%v: point %v lies in %v, which Meeting does not list (%d cells)", b, p, c, len(cells))
			}
		}
	}
}

// TestMeetingRefusesLargeBoxes: a box needing more than max cells, or
// beyond the poles, is not listed.
func TestMeetingRefusesLargeBoxes(t *testing.T) {
	city := orb.Bound{Min: orb.Point{120.9, 28.6}, Max: orb.Point{121.6, 29.0}}
	if cells, ok := Meeting(city, 2000); ok || cells != nil {
		t.Errorf("the whole city: listed %d cells", len(cells))
	}
	if _, ok := Meeting(orb.Bound{Min: orb.Point{0, 89.5}, Max: orb.Point{0.001, 89.501}}, 2000); ok {
		t.Error("a box near the pole was listed")
	}
	small := orb.Bound{Min: orb.Point{121.18, 28.860}, Max: orb.Point{121.19, 28.869}}
	cells, ok := Meeting(small, 2000)
	if !ok || len(cells) < 66 {
		t.Errorf("1 km²: %d cells, %v; want at least its area in cells", len(cells), ok)
	}
}
