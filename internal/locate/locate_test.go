package locate_test

import (
	"math/rand/v2"
	"testing"

	"github.com/citygrid/citygrid/geodata"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/paulmach/orb"
)

func demoSnapshot(tb testing.TB) *locate.Snapshot {
	tb.Helper()
	s, err := locate.Build(&grid.Model{Version: grid.Version{ID: 1}, City: geodata.MustLinhai()})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// TestIndexAgreesWithPlainMethod: the bucket index answers exactly what the
// R-tree with orb/planar answers, on random points and on every vertex and
// edge midpoint of every cell, where the tie-break decides.
func TestIndexAgreesWithPlainMethod(t *testing.T) {
	t.Parallel()
	s := demoSnapshot(t)
	var pts []orb.Point
	r := rand.New(rand.NewPCG(1, 2))
	for range 200_000 {
		pts = append(pts, orb.Point{120.80 + r.Float64()*0.95, 28.62 + r.Float64()*0.50})
	}
	for _, c := range s.Cells {
		for _, poly := range c.Geometry {
			for _, ring := range poly {
				for k := 0; k+1 < len(ring); k++ {
					a, b := ring[k], ring[k+1]
					pts = append(pts, a, orb.Point{(a[0] + b[0]) / 2, (a[1] + b[1]) / 2})
				}
			}
		}
	}
	inside, mismatches := 0, 0
	for _, p := range pts {
		got, want := s.CellIndex(p), s.CellIndexBrute(p)
		if got != want {
			mismatches++
			if mismatches <= 5 {
				t.Errorf("point %v: index says %d, plain method %d", p, got, want)
			}
		}
		if got >= 0 {
			inside++
		}
	}
	if mismatches > 0 {
		t.Errorf("%d of %d points disagree", mismatches, len(pts))
	}
	if inside < len(pts)/3 {
		t.Errorf("only %d of %d points inside the city: the test points miss it", inside, len(pts))
	}
	// Far outside, and on the snapshot's edges.
	for _, p := range []orb.Point{{0, 0}, {121, 40}, {-121, -28}} {
		if i := s.CellIndex(p); i != -1 {
			t.Errorf("%v is outside the city but resolved to %d", p, i)
		}
	}
}

func TestLocateAllocatesNothing(t *testing.T) {
	s := demoSnapshot(t)
	p := orb.Point{121.13, 28.85}
	if n := testing.AllocsPerRun(1000, func() { s.CellIndex(p) }); n != 0 {
		t.Errorf("CellIndex allocates %.0f times per lookup", n)
	}
	if n := testing.AllocsPerRun(1000, func() { s.Locate(p) }); n != 0 {
		t.Errorf("Locate allocates %.0f times per lookup", n)
	}
}

func TestIndexSwap(t *testing.T) {
	var x locate.Index
	if x.Current() != nil {
		t.Fatal("a new index has a snapshot")
	}
	a, b := demoSnapshot(t), demoSnapshot(t)
	if old := x.Swap(a); old != nil {
		t.Error("first swap returned a snapshot")
	}
	if old := x.Swap(b); old != a || x.Current() != b {
		t.Error("swap did not replace the snapshot")
	}
}

func BenchmarkLocate(b *testing.B) {
	s := demoSnapshot(b)
	r := rand.New(rand.NewPCG(3, 4))
	var pts []orb.Point
	for len(pts) < 1<<16 {
		p := orb.Point{120.80 + r.Float64()*0.95, 28.62 + r.Float64()*0.50}
		if s.CellIndex(p) >= 0 {
			pts = append(pts, p)
		}
	}
	b.Run("index", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			s.CellIndex(pts[i&(1<<16-1)])
		}
	})
	b.Run("rtree+planar", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			s.CellIndexBrute(pts[i&(1<<16-1)])
		}
	})
}
