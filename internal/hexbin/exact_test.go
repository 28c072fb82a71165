package hexbin

import (
	"context"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/uber/h3-go/v4"
)

// TestParentIsH3s: the parent computed from the index layout is h3's
// cellToParent at every coarser resolution.
func TestParentIsH3s(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		ll := h3.NewLatLng(28.6+r.Float64()*0.5, 120.8+r.Float64()*0.9)
		res := MinRes + r.IntN(BaseRes-MinRes+1)
		c, err := h3.LatLngToCell(ll, res)
		if err != nil {
			t.Fatal(err)
		}
		for p := 0; p <= res; p++ {
			want, err := c.Parent(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := Parent(c, p); got != want {
				t.Fatalf("Parent(%s, %d) = %s, h3 says %s", c, p, got, want)
			}
		}
	}
}

// TestExactIsLatLngToCell: the corrections Exact finds are exactly the
// resolutions where latLngToCell differs from the parent of the point's
// resolution-10 cell — for random points and for points within
// nanometres of edges and at vertices of every resolution — and most
// points need no call into H3.
func TestExactIsLatLngToCell(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var pts []h3.LatLng
	for range 20000 {
		pts = append(pts, h3.NewLatLng(28.66+r.Float64()*0.41, 120.83+r.Float64()*0.88))
	}
	for res := MinRes; res <= BaseRes; res++ {
		for range 40 {
			c, err := h3.LatLngToCell(pts[r.IntN(20000)], res)
			if err != nil {
				t.Fatal(err)
			}
			ctr, _ := c.LatLng()
			b, _ := c.Boundary()
			for i, v := range b { // the vertex, and the edge crossing halfway to the next, by bisection
				pts = append(pts, v)
				w := b[(i+1)%len(b)]
				m := h3.NewLatLng((v.Lat+w.Lat)/2, (v.Lng+w.Lng)/2)
				lo, hi := 0.5, 1.5
				for range 60 {
					mid := (lo + hi) / 2
					p := h3.NewLatLng(ctr.Lat+mid*(m.Lat-ctr.Lat), ctr.Lng+mid*(m.Lng-ctr.Lng))
					if x, _ := h3.LatLngToCell(p, res); x == c {
						lo = mid
					} else {
						hi = mid
					}
				}
				for _, s := range []float64{lo, hi} {
					pts = append(pts, h3.NewLatLng(ctr.Lat+s*(m.Lat-ctr.Lat), ctr.Lng+s*(m.Lng-ctr.Lng)))
				}
			}
		}
	}
	ex := &Exact{}
	inside := 0
	for _, ll := range pts {
		base, err := h3.LatLngToCell(ll, BaseRes)
		if err != nil {
			t.Fatal(err)
		}
		want := map[int][2]h3.Cell{}
		for res := MinRes; res < BaseRes; res++ {
			c, _ := h3.LatLngToCell(ll, res)
			if p, _ := base.Parent(res); c != p {
				want[res] = [2]h3.Cell{c, p}
			}
			if in, _ := ex.interiorOf(Parent(base, res)); in.contains(ll) {
				inside++
			}
		}
		got := map[int][2]h3.Cell{}
		if err := ex.Corrections(ll, base, func(res int, exact, parent h3.Cell) { got[res] = [2]h3.Cell{exact, parent} }); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Fatalf("%v: corrections %v, latLngToCell says %v", ll, got, want)
		}
	}
	if share := float64(inside) / float64(len(pts)*(BaseRes-MinRes)); share < 0.8 {
		t.Errorf("only %.0f %% of the checks were answered without H3", share*100)
	}
	if err := ex.Corrections(pts[0], h3.Cell(0x8a4b3623ffff), func(int, h3.Cell, h3.Cell) {}); err == nil {
		t.Error("an invalid base cell was accepted")
	}
}

func TestCompactSumsSignedCounts(t *testing.T) {
	es := []uint32{pack(3, 5, 63), pack(3, 5, 63), pack(3, 5, 2), pack(1, 0, -1), pack(1, 0, 1), pack(2, 7, -64), pack(2, 7, -10), pack(0, 23, 5)}
	got := compact(es)
	var sums = map[[2]uint32]int32{}
	for _, e := range got {
		if count(e) == 0 {
			t.Errorf("a zero entry is kept: %x", e)
		}
		sums[[2]uint32{e >> 12, uint32(hourOf(e))}] += count(e)
	}
	want := map[[2]uint32]int32{{3, 5}: 128, {2, 7}: -74, {0, 23}: 5}
	if !maps.Equal(sums, want) || len(got) != 6 {
		t.Errorf("compact: %d entries summing to %v, want 6 summing to %v", len(got), sums, want)
	}
}

// TestHeatIsLatLngToCell: a read model filled with the rollup entries of
// points — random ones, and points at and around cell vertices of every
// resolution — answers at every resolution 5…10 with latLngToCell's
// counts, by category, town and hour.
func TestHeatIsLatLngToCell(t *testing.T) {
	ctx := context.Background()
	loc := time.FixedZone("CST", 8*3600)
	r := rand.New(rand.NewPCG(3, 4))
	var pts []h3.LatLng
	for range 3000 {
		pts = append(pts, h3.NewLatLng(28.84+r.NormFloat64()*0.01, 121.13+r.NormFloat64()*0.012))
	}
	for res := MinRes; res <= BaseRes; res++ { // vertices, and a few centimetres around them
		c, err := h3.LatLngToCell(h3.NewLatLng(28.85, 121.13), res)
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Boundary()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range b {
			pts = append(pts, v)
			for k := range 6 {
				a := float64(k) * 1.047
				pts = append(pts, h3.NewLatLng(v.Lat+3e-7*math.Sin(a), v.Lng+3e-7*math.Cos(a)))
			}
		}
	}
	type point struct {
		ll         h3.LatLng
		cat, town  string
		day        grid.Date
		hour       int
		base       h3.Cell
		multiplier int64
	}
	cats, towns := []string{"E0505", "E0506", "E0406"}, []string{"331082001", "331082002", "331082003"}
	src := &memRollups{}
	ex := &Exact{}
	var all []point
	for i, ll := range pts {
		base, err := h3.LatLngToCell(ll, BaseRes)
		if err != nil {
			t.Fatal(err)
		}
		p := point{ll, cats[r.IntN(len(cats))], towns[r.IntN(len(towns))], grid.Date{Year: 2026, Month: 3, Day: 1 + r.IntN(3)}, r.IntN(24), base, 1}
		if i%500 == 0 {
			p.multiplier = 200 // counts past one packed entry
		}
		all = append(all, p)
		s := grid.RollupSlice{Category: p.cat, Day: p.day, Town: p.town}
		for range p.multiplier {
			src.add(memRow{s, p.hour, uint64(base), 1})
			if err := ex.Corrections(ll, base, func(res int, exact, parent h3.Cell) {
				src.add(memRow{s, p.hour, uint64(exact), 1})
				src.add(memRow{s, p.hour, uint64(parent), -1})
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	heat := NewHeat(src, noFallback{t}, loc)
	if err := heat.Load(ctx); err != nil {
		t.Fatal(err)
	}
	from, to := time.Date(2026, 3, 1, 0, 0, 0, 0, loc), time.Date(2026, 3, 4, 0, 0, 0, 0, loc)
	for _, c := range []struct {
		cats, towns []string
		hours       []int
	}{
		{cats, nil, nil},
		{[]string{"E0505"}, nil, nil},
		{[]string{"E0505", "E0406"}, []string{"331082002"}, nil},
		{cats, []string{"331082001", "331082003", "331082999"}, []int{0, 1, 2, 9, 10, 23}},
		{cats, []string{"331082999"}, nil},
	} {
		for res := MinRes; res <= BaseRes; res++ {
			want := map[h3.Cell]int64{}
			for _, p := range all {
				if slices.Contains(c.cats, p.cat) && (c.towns == nil || slices.Contains(c.towns, p.town)) && (c.hours == nil || slices.Contains(c.hours, p.hour)) {
					cell, err := h3.LatLngToCell(p.ll, res)
					if err != nil {
						t.Fatal(err)
					}
					want[cell] += p.multiplier
				}
			}
			cs, err := heat.Heatmap(ctx, grid.HeatQuery{Categories: c.cats, Towns: c.towns, Hours: c.hours, Res: res, From: from, To: to})
			if err != nil {
				t.Fatal(err)
			}
			got := map[h3.Cell]int64{}
			for _, x := range cs {
				got[h3.Cell(x.H3)] = x.Count
			}
			if !maps.Equal(got, want) {
				t.Errorf("%v res %d: %d cells, latLngToCell %d (%s)", c, res, len(got), len(want), firstDiff(got, want))
			}
		}
	}
	if _, err := heat.Heatmap(ctx, grid.HeatQuery{Categories: cats, Res: 8, From: from.Add(time.Minute), To: to}); err == nil {
		t.Error("a window not on whole hours was answered")
	}
}

func firstDiff(got, want map[h3.Cell]int64) string {
	for c, n := range want {
		if got[c] != n {
			return fmt.Sprintf("%s: %d, want %d", c, got[c], n)
		}
	}
	for c, n := range got {
		if want[c] != n {
			return fmt.Sprintf("%s: %d, want %d", c, n, want[c])
		}
	}
	return "equal"
}
