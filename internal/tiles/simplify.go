package tiles

import (
	"math"
	"slices"

	"github.com/paulmach/orb"
	"github.com/tidwall/rtree"
)

// SourceZoom is the first zoom drawn at full resolution: from there on one
// tile unit (1/4096 of a tile) is about the precision of the 6-decimal
// source coordinates, and simplifying would remove nothing worth removing.
const SourceZoom = 15

// tolUnits is the simplification tolerance in tile units (1/4096 of a
// tile): well under one unit, so a simplified boundary stays within the
// unit it would be rounded to anyway.
const tolUnits = 0.35

// A level is the topology simplified for one zoom.
type level struct {
	// shapes[p] is polygon p: parts → rings → vertex ids (closed rings,
	// first vertex repeated at the end). Empty when nothing is left.
	shapes [][][][]int32
}

// simplifier carries the state of one zoom's simplification: which vertex
// of each arc is kept.
type simplifier struct {
	t       *topology
	mask    [][]bool // per arc: kept vertices
	kept    []int    // per arc: how many are kept
	dropped []bool   // per arc: a tiny closed arc left out at this zoom
}

// level simplifies the topology for zoom z: every arc once, with the
// Douglas–Peucker tolerance of tolUnits tile units, then
//   - tiny loops (closed arcs enclosing less than one square tile unit)
//     are dropped from every ring using them — a tiny island together
//     with the hole it fills — unless they are the shell of a polygon
//     with holes;
//   - every ring keeps at least three distinct vertices;
//   - no ring turns inside out, no hole leaves its shell, and no two
//     simplified segments of one group cross, touch or overlap: where they
//     would, the most significant dropped vertices of the offending spans
//     come back until they do not.
//
// Every change is made to an arc, never to one ring, so both sides of a
// shared boundary always get the same vertices. From SourceZoom on
// nothing is simplified.
func (t *topology) level(z int) *level {
	s := &simplifier{t: t, mask: make([][]bool, len(t.arcs)), kept: make([]int, len(t.arcs)), dropped: make([]bool, len(t.arcs))}
	if z >= SourceZoom {
		for i, a := range t.arcs {
			s.mask[i] = make([]bool, len(a.v))
			for k := range a.v {
				s.mask[i][k] = true
			}
			s.kept[i] = len(a.v)
		}
		return s.level()
	}
	unit := 1 / (Extent * math.Exp2(float64(z)))
	tol := tolUnits * unit
	droppable := t.droppableArcs()
	for i, a := range t.arcs {
		if droppable[i] && a.area < unit*unit {
			s.dropped[i] = true
			continue
		}
		m := make([]bool, len(a.v))
		for k, g := range a.sig {
			if g > tol {
				m[k] = true
				s.kept[i]++
			}
		}
		s.mask[i] = m
	}
	for ri := range t.rings {
		for {
			if n := s.distinct(ri); n < 0 || n >= 3 || !s.promoteRing(ri) {
				break
			}
		}
	}
	for round := 0; round < 100; round++ {
		changed := s.fixRings()
		if s.uncross() {
			changed = true
		}
		if !changed {
			break
		}
	}
	return s.level()
}

// droppableArcs: closed arcs none of whose rings is the shell of a polygon
// part with holes (dropping such a shell would leave what fills its holes
// lying on its neighbour).
func (t *topology) droppableArcs() []bool {
	ok := make([]bool, len(t.arcs))
	for i, a := range t.arcs {
		ok[i] = a.closed
	}
	for _, p := range t.polys {
		for _, part := range p.parts {
			if len(part) > 1 {
				for _, ref := range t.rings[part[0]].arcs {
					ok[ref.arc] = false
				}
			}
		}
	}
	return ok
}

// distinct counts the distinct vertices of a simplified ring, -1 when the
// ring is dropped.
func (s *simplifier) distinct(ri int) int {
	n := 0
	for _, ref := range s.t.rings[ri].arcs {
		if s.dropped[ref.arc] {
			return -1
		}
		n += s.kept[ref.arc] - 1
	}
	return n
}

// promoteRing keeps the most significant dropped vertex of a ring's arcs;
// false when every vertex is kept already.
func (s *simplifier) promoteRing(ri int) bool {
	ba, bk, bs := -1, -1, -1.0
	for _, ref := range s.t.rings[ri].arcs {
		a := int(ref.arc)
		if s.dropped[a] {
			continue
		}
		for k, g := range s.t.arcs[a].sig {
			if !s.mask[a][k] && g > bs {
				ba, bk, bs = a, k, g
			}
		}
	}
	if ba < 0 {
		return false
	}
	s.mask[ba][bk] = true
	s.kept[ba]++
	return true
}

// promoteSpan keeps the most significant dropped vertex strictly between
// positions i and j of arc a; false when there is none.
func (s *simplifier) promoteSpan(a, i, j int) bool {
	bk, bs := -1, -1.0
	for k := i + 1; k < j; k++ {
		if g := s.t.arcs[a].sig[k]; !s.mask[a][k] && g > bs {
			bk, bs = k, g
		}
	}
	if bk < 0 {
		return false
	}
	s.mask[a][bk] = true
	s.kept[a]++
	return true
}

// ringVerts is the simplified ring ri as vertex ids, closed; nil when the
// ring is dropped.
func (s *simplifier) ringVerts(ri int) []int32 {
	r := s.t.rings[ri]
	var out []int32
	for n, ref := range r.arcs {
		a := s.t.arcs[ref.arc]
		if s.dropped[ref.arc] {
			return nil
		}
		seq := make([]int32, 0, s.kept[ref.arc])
		for k, id := range a.v {
			if s.mask[ref.arc][k] {
				seq = append(seq, id)
			}
		}
		if ref.rev {
			slices.Reverse(seq)
		}
		if n > 0 {
			seq = seq[1:] // the previous arc ended here
		}
		out = append(out, seq...)
	}
	return out
}

// fixRings brings back vertices where a simplified ring lost its
// orientation (or area) or a hole left its shell.
func (s *simplifier) fixRings() bool {
	t := s.t
	changed := false
	for ri, r := range t.rings {
		v := s.ringVerts(ri)
		if v == nil {
			continue
		}
		if a := t.signedArea(v[:len(v)-1]); a == 0 || (a > 0) != (r.area > 0) {
			if s.promoteRing(ri) {
				changed = true
			}
		}
	}
	for _, p := range t.polys {
		for _, part := range p.parts {
			if len(part) < 2 {
				continue
			}
			shell := s.ringVerts(int(part[0]))
			if shell == nil {
				continue
			}
			on := map[int32]bool{}
			for _, id := range shell {
				on[id] = true
			}
			ring := make(orb.Ring, len(shell))
			for i, id := range shell {
				ring[i] = t.m[id]
			}
			for _, h := range part[1:] {
				for _, id := range s.ringVerts(int(h)) {
					if on[id] {
						continue // on the shell: says nothing
					}
					if !ringContains(ring, t.m[id]) && s.promoteRing(int(part[0])) {
						changed = true
					}
					break
				}
			}
		}
	}
	return changed
}

// uncross finds simplified segments that cross, touch or overlap another
// segment of their group and brings back vertices in their spans. Only a
// simplified segment (one that skips source vertices) can meet another:
// the source boundaries do not.
func (s *simplifier) uncross() bool {
	t := s.t
	type seg struct {
		arc  int32
		i, j int32 // positions in the arc
	}
	var segs []seg
	var tree rtree.RTreeG[int32]
	for a := range t.arcs {
		if s.dropped[a] {
			continue
		}
		prev := -1
		for k := range t.arcs[a].v {
			if !s.mask[a][k] {
				continue
			}
			if prev >= 0 {
				p, q := t.m[t.arcs[a].v[prev]], t.m[t.arcs[a].v[k]]
				tree.Insert([2]float64{math.Min(p[0], q[0]), math.Min(p[1], q[1])},
					[2]float64{math.Max(p[0], q[0]), math.Max(p[1], q[1])}, int32(len(segs)))
				segs = append(segs, seg{int32(a), int32(prev), int32(k)})
			}
			prev = k
		}
	}
	fix := map[int32]bool{}
	for si, sg := range segs {
		if sg.j-sg.i < 2 {
			continue
		}
		av := t.arcs[sg.arc].v
		a, b := av[sg.i], av[sg.j]
		pa, pb := t.m[a], t.m[b]
		tree.Search([2]float64{math.Min(pa[0], pb[0]), math.Min(pa[1], pb[1])},
			[2]float64{math.Max(pa[0], pb[0]), math.Max(pa[1], pb[1])},
			func(_, _ [2]float64, oi int32) bool {
				if int(oi) == si {
					return true
				}
				o := segs[oi]
				if o.arc != sg.arc && !shareGroup(t.arcs[o.arc].groups, t.arcs[sg.arc].groups) {
					return true
				}
				ov := t.arcs[o.arc].v
				if segsConflict(t.m, a, b, ov[o.i], ov[o.j]) {
					fix[int32(si)] = true
					fix[oi] = true
				}
				return true
			})
	}
	changed := false
	for si := range fix {
		sg := segs[si]
		if s.promoteSpan(int(sg.arc), int(sg.i), int(sg.j)) {
			changed = true
		}
	}
	return changed
}

// level turns the kept vertices into the polygons of this zoom.
func (s *simplifier) level() *level {
	t := s.t
	lv := &level{shapes: make([][][][]int32, len(t.polys))}
	for pi, p := range t.polys {
		var parts [][][]int32
		for _, part := range p.parts {
			shell := s.ringVerts(int(part[0]))
			if shell == nil {
				continue
			}
			rings := [][]int32{shell}
			for _, h := range part[1:] {
				if v := s.ringVerts(int(h)); v != nil {
					rings = append(rings, v)
				}
			}
			parts = append(parts, rings)
		}
		lv.shapes[pi] = parts
	}
	return lv
}

func shareGroup(a, b []int32) bool {
	for i, j := 0, 0; i < len(a) && j < len(b); {
		switch {
		case a[i] == b[j]:
			return true
		case a[i] < b[j]:
			i++
		default:
			j++
		}
	}
	return false
}

// segsConflict reports whether segments a–b and c–d (vertex ids) meet
// anywhere but at a shared end: a crossing, a touch, a collinear overlap or
// the same segment twice.
func segsConflict(m []orb.Point, a, b, c, d int32) bool {
	if (a == c && b == d) || (a == d && b == c) {
		return true
	}
	switch {
	case a == c:
		return overlapsFrom(m[a], m[b], m[d])
	case a == d:
		return overlapsFrom(m[a], m[b], m[c])
	case b == c:
		return overlapsFrom(m[b], m[a], m[d])
	case b == d:
		return overlapsFrom(m[b], m[a], m[c])
	}
	return segsMeet(m[a], m[b], m[c], m[d])
}

// overlapsFrom: two segments leaving o towards p and q run along each other.
func overlapsFrom(o, p, q orb.Point) bool {
	return orient(o, p, q) == 0 && (p[0]-o[0])*(q[0]-o[0])+(p[1]-o[1])*(q[1]-o[1]) > 0
}

func orient(a, b, c orb.Point) float64 {
	return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
}

// segsMeet reports whether closed segments p1–p2 and q1–q2 share a point.
func segsMeet(p1, p2, q1, q2 orb.Point) bool {
	d1, d2 := orient(q1, q2, p1), orient(q1, q2, p2)
	d3, d4 := orient(p1, p2, q1), orient(p1, p2, q2)
	if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
		return true
	}
	return (d1 == 0 && within(q1, q2, p1)) || (d2 == 0 && within(q1, q2, p2)) ||
		(d3 == 0 && within(p1, p2, q1)) || (d4 == 0 && within(p1, p2, q2))
}

// within: collinear point p lies on segment a–b.
func within(a, b, p orb.Point) bool {
	return math.Min(a[0], b[0]) <= p[0] && p[0] <= math.Max(a[0], b[0]) &&
		math.Min(a[1], b[1]) <= p[1] && p[1] <= math.Max(a[1], b[1])
}

// ringContains is the even–odd rule for a closed ring.
func ringContains(r orb.Ring, p orb.Point) bool {
	in := false
	for i, j := 0, len(r)-1; i < len(r); j, i = i, i+1 {
		a, b := r[i], r[j]
		if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < (b[0]-a[0])*(p[1]-a[1])/(b[1]-a[1])+a[0] {
			in = !in
		}
	}
	return in
}
