package main

import (
	"fmt"
	"math"
)

// topo simplifies the cell boundaries consistently. Boundaries between
// cells (and between cells and the outside) are cut into chains at the
// vertices where three regions meet. Each chain is simplified once
// (Douglas–Peucker), and a vertex is written if its chain keeps it; every
// polygon of every level (cell, community, town, city) is traced through the
// lattice and writes exactly the kept vertices along it. Neighbours therefore
// share identical vertex sequences: no gaps, no overlaps, no T-junctions.
type topo struct {
	w        *world
	vn       []uint8
	vl       [][3]int32
	junction []bool
	kept     []bool
	chains   []chain
	lon, lat []int64
}

type chain struct {
	verts []int32 // junction … junction, canonical direction
	raw   bool    // keep every vertex
}

func newTopo(w *world) *topo {
	L := w.L
	nv := L.nverts()
	tp := &topo{w: w, vn: make([]uint8, nv), vl: make([][3]int32, nv), junction: make([]bool, nv),
		kept: make([]bool, nv), lon: make([]int64, nv), lat: make([]int64, nv)}
	for t := int32(0); t < int32(L.ntiles()); t++ {
		lab := w.cellLab[t]
		for c := 0; c < 6; c++ {
			v := L.corner(t, c)
			n := tp.vn[v]
			dup := false
			for k := uint8(0); k < n; k++ {
				if tp.vl[v][k] == lab {
					dup = true
				}
			}
			if !dup {
				tp.vl[v][n] = lab
				tp.vn[v]++
			}
		}
	}
	for v := 0; v < nv; v++ {
		if tp.vn[v] >= 2 {
			tp.lon[v], tp.lat[v] = L.vcoord(int32(v))
		}
		if tp.vn[v] == 3 {
			tp.junction[v] = true
			tp.kept[v] = true
		}
	}
	return tp
}

// buildChains cuts every cell boundary into chains.
func (tp *topo) buildChains() {
	w := tp.w
	seen := map[int64]bool{}
	for ci := range w.cells {
		ls := w.g.loops(w.cells[ci].tiles, w.cellLab, int32(ci))
		if len(ls) != 1 {
			panic("cell with holes")
		}
		loop := ls[0]
		start := -1
		for i, v := range loop {
			if tp.junction[v] {
				start = i
				break
			}
		}
		if start < 0 {
			panic(fmt.Sprintf("cell %d has no junction", ci))
		}
		n := len(loop)
		cur := []int32{loop[start]}
		for k := 1; k <= n; k++ {
			v := loop[(start+k)%n]
			cur = append(cur, v)
			if !tp.junction[v] {
				continue
			}
			c := append([]int32(nil), cur...)
			if c[0] > c[len(c)-1] || (c[0] == c[len(c)-1] && c[1] > c[len(c)-2]) {
				for i, j := 0, len(c)-1; i < j; i, j = i+1, j-1 {
					c[i], c[j] = c[j], c[i]
				}
			}
			key := int64(c[0])<<32 | int64(c[1])
			if !seen[key] {
				seen[key] = true
				tp.chains = append(tp.chains, chain{verts: c})
			}
			cur = []int32{v}
		}
	}
}

// simplify runs Douglas–Peucker (tolerance eps metres, on the unwarped
// lattice) on every chain not marked raw, and sets the kept flags.
func (tp *topo) simplify(eps float64) {
	L := tp.w.L
	for ci := range tp.chains {
		c := &tp.chains[ci]
		vs := c.verts
		for _, v := range vs[1 : len(vs)-1] {
			tp.kept[v] = c.raw
		}
		if c.raw || len(vs) < 3 {
			continue
		}
		type span struct{ a, b int }
		stack := []span{{0, len(vs) - 1}}
		for len(stack) > 0 {
			s := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if s.b-s.a < 2 {
				continue
			}
			ax, ay := L.vxy(vs[s.a])
			bx, by := L.vxy(vs[s.b])
			dx, dy := bx-ax, by-ay
			ln := math.Hypot(dx, dy)
			far, fd := -1, eps
			for i := s.a + 1; i < s.b; i++ {
				px, py := L.vxy(vs[i])
				var d float64
				if ln == 0 {
					d = math.Hypot(px-ax, py-ay)
				} else {
					d = math.Abs((px-ax)*dy-(py-ay)*dx) / ln
				}
				if d > fd {
					far, fd = i, d
				}
			}
			if far >= 0 {
				tp.kept[vs[far]] = true
				stack = append(stack, span{s.a, far}, span{far, s.b})
			}
		}
	}
}

type seg struct {
	a, b  int32 // vertex ids
	chain int32
}

// conflicts finds pairs of written segments that cross, touch or overlap
// (other than consecutive segments meeting at their shared vertex) and
// returns the chains involved.
func (tp *topo) conflicts() map[int32]bool {
	var segs []seg
	for ci, c := range tp.chains {
		prev := c.verts[0]
		for _, v := range c.verts[1:] {
			if !tp.kept[v] {
				continue
			}
			segs = append(segs, seg{prev, v, int32(ci)})
			prev = v
		}
	}
	const bucket = 4000 // micro-degrees
	grid := map[[2]int64][]int32{}
	for i, s := range segs {
		x0, x1 := minmax(tp.lon[s.a], tp.lon[s.b])
		y0, y1 := minmax(tp.lat[s.a], tp.lat[s.b])
		for bx := floorDiv(x0, bucket); bx <= floorDiv(x1, bucket); bx++ {
			for by := floorDiv(y0, bucket); by <= floorDiv(y1, bucket); by++ {
				k := [2]int64{bx, by}
				grid[k] = append(grid[k], int32(i))
			}
		}
	}
	bad := map[int32]bool{}
	for _, ids := range grid {
		for x := 0; x < len(ids); x++ {
			for y := x + 1; y < len(ids); y++ {
				s, t := segs[ids[x]], segs[ids[y]]
				if tp.segConflict(s, t) {
					bad[s.chain] = true
					bad[t.chain] = true
				}
			}
		}
	}
	return bad
}

func minmax(a, b int64) (int64, int64) {
	if a < b {
		return a, b
	}
	return b, a
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func (tp *topo) pt(v int32) [2]int64 { return [2]int64{tp.lon[v], tp.lat[v]} }

func (tp *topo) segConflict(s, t seg) bool {
	shared := 0
	var sv int32
	for _, a := range [2]int32{s.a, s.b} {
		for _, b := range [2]int32{t.a, t.b} {
			if a == b {
				shared++
				sv = a
			}
		}
	}
	switch shared {
	case 2:
		return true
	case 1:
		// collinear and pointing the same way from the shared vertex
		p := tp.pt(sv)
		q := tp.pt(other(s, sv))
		r := tp.pt(other(t, sv))
		if orient(p, q, r) != 0 {
			return false
		}
		return (q[0]-p[0])*(r[0]-p[0])+(q[1]-p[1])*(r[1]-p[1]) > 0
	}
	return segsIntersect(tp.pt(s.a), tp.pt(s.b), tp.pt(t.a), tp.pt(t.b))
}

func other(s seg, v int32) int32 {
	if s.a == v {
		return s.b
	}
	return s.a
}

func orient(a, b, c [2]int64) int {
	v := (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

func onSeg(a, b, p [2]int64) bool {
	return min(a[0], b[0]) <= p[0] && p[0] <= max(a[0], b[0]) && min(a[1], b[1]) <= p[1] && p[1] <= max(a[1], b[1])
}

// segsIntersect reports whether closed segments ab and cd share any point.
func segsIntersect(a, b, c, d [2]int64) bool {
	o1, o2, o3, o4 := orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
	if o1 != o2 && o3 != o4 {
		return true
	}
	return (o1 == 0 && onSeg(a, b, c)) || (o2 == 0 && onSeg(a, b, d)) ||
		(o3 == 0 && onSeg(c, d, a)) || (o4 == 0 && onSeg(c, d, b))
}

// run simplifies, then reverts conflicting chains to their full lattice
// path until no written segments conflict.
func (tp *topo) run(eps float64) {
	tp.buildChains()
	for round := 0; ; round++ {
		tp.simplify(eps)
		bad := tp.conflicts()
		fmt.Printf("topology round %d: %d chains, %d in conflict\n", round, len(tp.chains), len(bad))
		if len(bad) == 0 {
			return
		}
		progress := false
		for ci := range bad {
			if !tp.chains[ci].raw {
				tp.chains[ci].raw = true
				progress = true
			}
		}
		if !progress {
			panic("conflicts among unsimplified chains")
		}
	}
}

// ring returns the written ring of a traced loop: kept vertices only,
// closed, as micro-degrees.
func (tp *topo) ring(loop []int32) [][2]int64 {
	var r [][2]int64
	for _, v := range loop {
		if tp.kept[v] {
			r = append(r, tp.pt(v))
		}
	}
	if len(r) < 3 {
		panic("degenerate ring")
	}
	r = append(r, r[0])
	if ringArea2(r) <= 0 {
		panic("ring not counter-clockwise")
	}
	return r
}

// ringArea2 is twice the signed area of a closed ring (micro-degrees²).
func ringArea2(r [][2]int64) int64 {
	var s int64
	for i := 0; i+1 < len(r); i++ {
		s += (r[i][0]-r[0][0])*(r[i+1][1]-r[0][1]) - (r[i+1][0]-r[0][0])*(r[i][1]-r[0][1])
	}
	return s
}
