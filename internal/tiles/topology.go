package tiles

import (
	"math"
	"slices"

	"github.com/paulmach/orb"
	"github.com/tidwall/rtree"
)

// A topology is a set of polygons cut into arcs: maximal chains of edges
// used by the same rings, split at nodes (vertices where three or more
// edges meet, or where the set of rings using the boundary changes). Every
// ring is a cycle of arcs, each walked forwards or backwards, so two
// polygons sharing a boundary share its arcs, and simplifying an arc once
// simplifies both sides alike.
//
// Coordinates are normalised Web Mercator (see mercator); the source
// lon/lat of every vertex is kept so that output in WGS84 repeats the
// input coordinates exactly.
type topology struct {
	ll     []orb.Point // vertex → source lon/lat
	m      []orb.Point // vertex → normalised Mercator
	arcs   []arc
	rings  []tRing
	polys  []tPoly
	groups []int32 // polygon → group: crossings are repaired only between arcs of one group
}

type arc struct {
	v      []int32   // vertex ids; closed arcs end where they start
	sig    []float64 // Douglas–Peucker significance of each vertex (ends +Inf)
	closed bool      // a whole ring with no node on it
	area   float64   // closed arcs: the area they enclose
	groups []int32   // sorted groups of the polygons using the arc
}

type arcRef struct {
	arc int32
	rev bool
}

type tRing struct {
	arcs []arcRef
	poly int32
	hole bool
	area float64 // signed area of the source ring
}

type tPoly struct {
	parts [][]int32 // ring ids: the shell, then its holes
}

// snapEps is the distance (normalised Mercator, about 9 cm at Linhai's
// latitude) within which two vertices are taken as one and a vertex is
// taken to lie on an edge: the rounding of 6-decimal coordinates, so that
// neighbours digitised with a T-junction or a 1e-6° disagreement still
// share one boundary.
const snapEps = 2.5e-9

// buildTopology builds the topology of the polygons mps; groups[i] is the
// group of mps[i]. Rings are oriented as tiles want them: shells with
// positive area in the y-down Mercator plane (clockwise on screen), holes
// negative. A ring that degenerates (fewer than three distinct vertices or
// no area) is left out, and with a shell its whole polygon part.
func buildTopology(mps []orb.MultiPolygon, groups []int32) *topology {
	t := &topology{groups: groups, polys: make([]tPoly, len(mps))}

	// Vertices, deduplicated exactly, then snapped within snapEps.
	ids := map[orb.Point]int32{}
	vertex := func(pt orb.Point) int32 {
		id, ok := ids[pt]
		if !ok {
			id = int32(len(t.ll))
			ids[pt] = id
			t.ll = append(t.ll, pt)
			t.m = append(t.m, mercator(pt))
		}
		return id
	}
	type rawRing struct {
		v    []int32
		poly int32
		hole bool
	}
	var raw []rawRing
	for pi, mp := range mps {
		for _, p := range mp {
			for ri, r := range p {
				vs := make([]int32, len(r))
				for i, pt := range r {
					vs[i] = vertex(pt)
				}
				raw = append(raw, rawRing{v: vs, poly: int32(pi), hole: ri > 0})
			}
		}
	}
	rep, tree := t.snap()

	// Rings: snapped, T-junctions noded, cleaned, oriented.
	var verts [][]int32
	noded := map[[2]int32][]int32{}
	part := -1 // index of the current part in its polygon, -1 when its shell was dropped
	for _, rr := range raw {
		v := make([]int32, len(rr.v))
		for i, id := range rr.v {
			v[i] = rep[id]
		}
		v = cleanRing(t.node(v, tree, noded))
		a := 0.0
		if len(v) >= 3 {
			a = t.signedArea(v)
		}
		if a == 0 {
			if !rr.hole {
				part = -1
			}
			continue
		}
		if (a < 0) != rr.hole {
			slices.Reverse(v)
			a = -a
		}
		p := &t.polys[rr.poly]
		if !rr.hole {
			p.parts = append(p.parts, nil)
			part = len(p.parts) - 1
		} else if part < 0 {
			continue // a hole of a dropped shell
		}
		rid := int32(len(t.rings))
		t.rings = append(t.rings, tRing{poly: rr.poly, hole: rr.hole, area: a})
		p.parts[part] = append(p.parts[part], rid)
		verts = append(verts, v)
	}
	t.cutArcs(verts)
	for i := range t.arcs {
		a := &t.arcs[i]
		a.sig = t.significance(a.v, a.closed)
		if a.closed {
			a.area = math.Abs(t.signedArea(a.v[:len(a.v)-1]))
		}
	}
	return t
}

// snap maps every vertex to a representative: the lowest-numbered vertex
// within snapEps. It returns the map and an index of the representatives.
func (t *topology) snap() ([]int32, *rtree.RTreeG[int32]) {
	rep := make([]int32, len(t.m))
	var tree rtree.RTreeG[int32]
	for i, p := range t.m {
		rep[i] = int32(i)
		best := int32(-1)
		tree.Search([2]float64{p[0] - snapEps, p[1] - snapEps}, [2]float64{p[0] + snapEps, p[1] + snapEps},
			func(_, _ [2]float64, j int32) bool {
				if (best < 0 || j < best) && dist(p, t.m[j]) <= snapEps {
					best = j
				}
				return true
			})
		if best >= 0 {
			rep[i] = best
			continue
		}
		tree.Insert([2]float64(p), [2]float64(p), int32(i))
	}
	return rep, &tree
}

// node inserts into each edge of the ring the representative vertices
// that lie on it (within snapEps), so a neighbour's vertex in the middle of
// an edge (a T-junction) becomes a vertex of both.
func (t *topology) node(v []int32, tree *rtree.RTreeG[int32], memo map[[2]int32][]int32) []int32 {
	out := make([]int32, 0, len(v))
	for i := 0; i+1 < len(v); i++ {
		a, b := v[i], v[i+1]
		out = append(out, a)
		if a == b {
			continue
		}
		key, fwd := [2]int32{a, b}, true
		if b < a {
			key, fwd = [2]int32{b, a}, false
		}
		on, ok := memo[key]
		if !ok {
			on = t.onEdge(key[0], key[1], tree)
			memo[key] = on
		}
		if fwd {
			out = append(out, on...)
		} else {
			for j := len(on) - 1; j >= 0; j-- {
				out = append(out, on[j])
			}
		}
	}
	if len(v) > 0 {
		out = append(out, v[len(v)-1])
	}
	return out
}

// onEdge lists the vertices strictly inside edge a→b, ordered from a.
func (t *topology) onEdge(a, b int32, tree *rtree.RTreeG[int32]) []int32 {
	pa, pb := t.m[a], t.m[b]
	d := orb.Point{pb[0] - pa[0], pb[1] - pa[1]}
	l2 := d[0]*d[0] + d[1]*d[1]
	if l2 == 0 {
		return nil
	}
	type hit struct {
		id int32
		s  float64
	}
	var hits []hit
	tree.Search([2]float64{math.Min(pa[0], pb[0]) - snapEps, math.Min(pa[1], pb[1]) - snapEps},
		[2]float64{math.Max(pa[0], pb[0]) + snapEps, math.Max(pa[1], pb[1]) + snapEps},
		func(_, _ [2]float64, w int32) bool {
			if w == a || w == b {
				return true
			}
			p := t.m[w]
			s := ((p[0]-pa[0])*d[0] + (p[1]-pa[1])*d[1]) / l2
			if s <= 0 || s >= 1 || dist(p, pa) <= snapEps || dist(p, pb) <= snapEps {
				return true
			}
			if dist(p, orb.Point{pa[0] + s*d[0], pa[1] + s*d[1]}) <= snapEps {
				hits = append(hits, hit{w, s})
			}
			return true
		})
	if len(hits) == 0 {
		return nil
	}
	slices.SortFunc(hits, func(x, y hit) int { return cmpFloat(x.s, y.s) })
	out := make([]int32, len(hits))
	for i, h := range hits {
		out[i] = h.id
	}
	return out
}

// cleanRing drops the closing vertex, repeated vertices and spikes (a, b,
// a) of a ring, cyclically.
func cleanRing(v []int32) []int32 {
	if len(v) > 1 && v[0] == v[len(v)-1] {
		v = v[:len(v)-1]
	}
	out := make([]int32, 0, len(v))
	for _, id := range v {
		if n := len(out); n > 0 && out[n-1] == id {
			continue
		}
		if n := len(out); n > 1 && out[n-2] == id {
			out = out[:n-1] // a spike folds back
			continue
		}
		out = append(out, id)
	}
	// The same across the seam where the ring closes.
	for len(out) > 2 {
		n := len(out)
		switch {
		case out[0] == out[n-1]:
			out = out[:n-1]
		case out[1] == out[n-1]:
			out = out[1 : n-1]
		case out[0] == out[n-2]:
			out = out[:n-2]
		default:
			return out
		}
	}
	return out
}

// signedArea of an open ring (no closing vertex), positive when clockwise
// on screen (y down).
func (t *topology) signedArea(v []int32) float64 {
	var s float64
	for i := range v {
		p, q := t.m[v[i]], t.m[v[(i+1)%len(v)]]
		s += p[0]*q[1] - q[0]*p[1]
	}
	return s / 2
}

// cutArcs finds the nodes and cuts every ring (open vertex lists, one per
// t.rings entry) into arcs.
func (t *topology) cutArcs(verts [][]int32) {
	// The rings using each undirected edge, and the nodes.
	edgeRings := map[[2]int32][]int32{}
	for ri, v := range verts {
		for i := range v {
			a, b := v[i], v[(i+1)%len(v)]
			if b < a {
				a, b = b, a
			}
			k := [2]int32{a, b}
			if rs := edgeRings[k]; len(rs) == 0 || rs[len(rs)-1] != int32(ri) {
				edgeRings[k] = append(rs, int32(ri))
			}
		}
	}
	for k, rs := range edgeRings {
		slices.Sort(rs)
		edgeRings[k] = slices.Compact(rs)
	}
	nv := len(t.m)
	deg := make([]int8, nv)
	first := make([][2]int32, nv)
	isNode := make([]bool, nv)
	for k, rs := range edgeRings {
		for _, v := range k {
			if deg[v] == 0 {
				first[v] = k
			} else if !slices.Equal(edgeRings[first[v]], rs) {
				isNode[v] = true
			}
			if deg[v] < 3 {
				deg[v]++
			}
		}
	}
	for v := range deg {
		if deg[v] != 2 {
			isNode[v] = true
		}
	}

	// Walk each ring from a node (or, for a ring with none, from its
	// lowest vertex, which every ring on the same loop shares) and cut it
	// at nodes. An arc is found again by its first directed edge, from
	// either end.
	byEdge := map[[2]int32]arcRef{}
	for ri, v := range verts {
		n := len(v)
		start, closed := -1, false
		for i, id := range v {
			if isNode[id] {
				start = i
				break
			}
		}
		if start < 0 {
			closed = true
			start = 0
			for i, id := range v {
				if id < v[start] {
					start = i
				}
			}
		}
		r := &t.rings[ri]
		for i := 0; i < n; {
			chain := []int32{v[(start+i)%n]}
			for {
				i++
				id := v[(start+i)%n]
				chain = append(chain, id)
				if i == n || (!closed && isNode[id]) {
					break
				}
			}
			k := [2]int32{chain[0], chain[1]}
			ref, ok := byEdge[k]
			if !ok {
				ref = arcRef{arc: int32(len(t.arcs))}
				t.arcs = append(t.arcs, arc{v: chain, closed: closed})
				byEdge[k] = ref
				byEdge[[2]int32{chain[len(chain)-1], chain[len(chain)-2]}] = arcRef{arc: ref.arc, rev: true}
			}
			r.arcs = append(r.arcs, ref)
			a := &t.arcs[ref.arc]
			if g := t.groups[r.poly]; !slices.Contains(a.groups, g) {
				a.groups = append(a.groups, g)
				slices.Sort(a.groups)
			}
		}
	}
}

// significance ranks the vertices of an arc for Douglas–Peucker: keeping
// the vertices whose significance exceeds a tolerance is exactly the
// Douglas–Peucker simplification at that tolerance (the ranks are made
// monotone from parent to child). The ends of an arc, and the vertex of a
// closed arc farthest from its start, always stay.
func (t *topology) significance(v []int32, closed bool) []float64 {
	sig := make([]float64, len(v))
	sig[0], sig[len(v)-1] = math.Inf(1), math.Inf(1)
	type span struct {
		i, j  int
		bound float64
	}
	var stack []span
	if closed && len(v) > 3 {
		far, fd := 1, -1.0
		for k := 1; k < len(v)-1; k++ {
			if d := dist(t.m[v[0]], t.m[v[k]]); d > fd {
				far, fd = k, d
			}
		}
		sig[far] = math.Inf(1)
		stack = append(stack, span{0, far, math.Inf(1)}, span{far, len(v) - 1, math.Inf(1)})
	} else {
		stack = append(stack, span{0, len(v) - 1, math.Inf(1)})
	}
	for len(stack) > 0 {
		s := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if s.j-s.i < 2 {
			continue
		}
		a, b := t.m[v[s.i]], t.m[v[s.j]]
		k, dk := -1, -1.0
		for x := s.i + 1; x < s.j; x++ {
			if d := segDist(t.m[v[x]], a, b); d > dk {
				k, dk = x, d
			}
		}
		d := math.Min(dk, s.bound)
		sig[k] = d
		stack = append(stack, span{s.i, k, d}, span{k, s.j, d})
	}
	return sig
}

func dist(a, b orb.Point) float64 { return math.Hypot(a[0]-b[0], a[1]-b[1]) }

// segDist is the distance from p to segment a–b.
func segDist(p, a, b orb.Point) float64 {
	dx, dy := b[0]-a[0], b[1]-a[1]
	l2 := dx*dx + dy*dy
	if l2 == 0 {
		return dist(p, a)
	}
	s := ((p[0]-a[0])*dx + (p[1]-a[1])*dy) / l2
	s = math.Max(0, math.Min(1, s))
	return dist(p, orb.Point{a[0] + s*dx, a[1] + s*dy})
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
