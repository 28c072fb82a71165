package locate

import (
	"math"
	"sort"

	"github.com/paulmach/orb"
)

// polyIndex answers "which of these polygons cover p" without walking
// whole rings. A uniform grid of buckets covers the polygons' extent; a
// bucket that lies inside exactly one polygon and meets no edge answers at
// once, with no polygon test. Other buckets keep a short candidate list;
// each candidate is tested against only the edges in the point's
// horizontal band of that polygon.
type polyIndex struct {
	minX, minY   float64
	invW, invH   float64 // buckets per degree
	nx, ny       int
	bucket       []int32 // ≥0: one polygon covers the bucket; -1: none; ≤ -2: list at -(v+2)
	lists        []candList
	cands        []cand
	polys        []bandedPoly
	bucketW      float64
	bucketH      float64
	maxPolyBound orb.Bound
}

type candList struct{ off, n int32 }

type cand struct {
	poly int32
	full bool // the polygon covers the whole bucket: no test needed
}

// bandedPoly is a polygon's edges sorted into horizontal bands.
type bandedPoly struct {
	minY, invBand float64
	nBands        int
	bandOff       []int32 // edges of band b: edges[bandOff[b]:bandOff[b+1]]
	edges         []edge
}

type edge struct{ ax, ay, bx, by float64 }

// newPolyIndex indexes polygons; bucketDeg is the bucket side in degrees.
func newPolyIndex(polys []orb.MultiPolygon, bucketDeg float64) *polyIndex {
	x := &polyIndex{polys: make([]bandedPoly, len(polys))}
	var all orb.Bound
	for i, mp := range polys {
		b := mp.Bound()
		if i == 0 {
			all = b
		} else {
			all = all.Union(b)
		}
		x.polys[i] = newBandedPoly(mp)
	}
	x.maxPolyBound = all
	if len(polys) == 0 {
		return x
	}
	x.minX, x.minY = all.Min[0], all.Min[1]
	x.nx = max(1, int(math.Ceil((all.Max[0]-all.Min[0])/bucketDeg)))
	x.ny = max(1, int(math.Ceil((all.Max[1]-all.Min[1])/bucketDeg)))
	x.bucketW = (all.Max[0] - all.Min[0]) / float64(x.nx)
	x.bucketH = (all.Max[1] - all.Min[1]) / float64(x.ny)
	if x.bucketW == 0 {
		x.bucketW = bucketDeg
	}
	if x.bucketH == 0 {
		x.bucketH = bucketDeg
	}
	x.invW, x.invH = 1/x.bucketW, 1/x.bucketH

	// Per bucket, the polygons that meet it: through an edge, or whole.
	touch := make([][]cand, x.nx*x.ny)
	mark := make([]int32, x.nx*x.ny) // last polygon whose edge met the bucket, +1
	for pi, mp := range polys {
		for _, poly := range mp {
			for _, ring := range poly {
				for k := 0; k+1 < len(ring); k++ {
					x.rasterEdge(ring[k], ring[k+1], func(bi int) {
						if mark[bi] != int32(pi)+1 {
							mark[bi] = int32(pi) + 1
							touch[bi] = append(touch[bi], cand{poly: int32(pi)})
						}
					})
				}
			}
		}
		// Buckets of the polygon's bound that no edge met lie wholly inside
		// or wholly outside: their centre tells which.
		b := mp.Bound()
		i0, j0 := x.cellOf(b.Min[0], b.Min[1])
		i1, j1 := x.cellOf(b.Max[0], b.Max[1])
		for j := j0; j <= j1; j++ {
			cy := x.minY + (float64(j)+0.5)*x.bucketH
			for i := i0; i <= i1; i++ {
				bi := j*x.nx + i
				if mark[bi] == int32(pi)+1 {
					continue
				}
				cx := x.minX + (float64(i)+0.5)*x.bucketW
				if in, _ := x.polys[pi].contains(cx, cy); in {
					touch[bi] = append(touch[bi], cand{poly: int32(pi), full: true})
				}
			}
		}
	}
	x.bucket = make([]int32, len(touch))
	for bi, cs := range touch {
		switch {
		case len(cs) == 0:
			x.bucket[bi] = -1
		case len(cs) == 1 && cs[0].full:
			x.bucket[bi] = cs[0].poly
		default:
			sort.Slice(cs, func(a, b int) bool { return cs[a].poly < cs[b].poly })
			x.bucket[bi] = -int32(len(x.lists)) - 2
			x.lists = append(x.lists, candList{off: int32(len(x.cands)), n: int32(len(cs))})
			x.cands = append(x.cands, cs...)
		}
	}
	return x
}

// cellOf returns the bucket column and row of a point, clamped to the grid.
func (x *polyIndex) cellOf(px, py float64) (int, int) {
	i := int((px - x.minX) * x.invW)
	j := int((py - x.minY) * x.invH)
	return min(max(i, 0), x.nx-1), min(max(j, 0), x.ny-1)
}

// rasterEdge calls fn for every bucket the closed segment a–b meets, each
// bucket touched by the segment's closed extent tested exactly, and
// neighbours included where the segment runs along a bucket side.
func (x *polyIndex) rasterEdge(a, b orb.Point, fn func(bi int)) {
	i0, j0 := x.cellOf(math.Min(a[0], b[0]), math.Min(a[1], b[1]))
	i1, j1 := x.cellOf(math.Max(a[0], b[0]), math.Max(a[1], b[1]))
	// Widen by one bucket: a segment on a bucket side, or rounding in
	// cellOf, must not miss the neighbour that shares the side.
	i0, j0 = max(i0-1, 0), max(j0-1, 0)
	i1, j1 = min(i1+1, x.nx-1), min(j1+1, x.ny-1)
	for j := j0; j <= j1; j++ {
		y0 := x.minY + float64(j)*x.bucketH
		for i := i0; i <= i1; i++ {
			x0 := x.minX + float64(i)*x.bucketW
			if segmentMeetsRect(a, b, x0, y0, x0+x.bucketW, y0+x.bucketH) {
				fn(j*x.nx + i)
			}
		}
	}
}

// segmentMeetsRect reports whether the closed segment a–b meets the closed
// rectangle, with a small margin so rounding never hides a contact.
func segmentMeetsRect(a, b orb.Point, x0, y0, x1, y1 float64) bool {
	const eps = 1e-12
	x0, y0, x1, y1 = x0-eps, y0-eps, x1+eps, y1+eps
	t0, t1 := 0.0, 1.0
	dx, dy := b[0]-a[0], b[1]-a[1]
	for _, c := range [4][2]float64{{-dx, a[0] - x0}, {dx, x1 - a[0]}, {-dy, a[1] - y0}, {dy, y1 - a[1]}} {
		p, q := c[0], c[1]
		if p == 0 {
			if q < 0 {
				return false
			}
			continue
		}
		r := q / p
		if p < 0 {
			if r > t1 {
				return false
			}
			t0 = math.Max(t0, r)
		} else {
			if r < t0 {
				return false
			}
			t1 = math.Min(t1, r)
		}
	}
	return t0 <= t1
}

func newBandedPoly(mp orb.MultiPolygon) bandedPoly {
	var es []edge
	for _, poly := range mp {
		for _, ring := range poly {
			for k := 0; k+1 < len(ring); k++ {
				a, b := ring[k], ring[k+1]
				if a == b {
					continue
				}
				es = append(es, edge{a[0], a[1], b[0], b[1]})
			}
			if n := len(ring); n > 1 && ring[0] != ring[n-1] {
				a, b := ring[n-1], ring[0]
				es = append(es, edge{a[0], a[1], b[0], b[1]})
			}
		}
	}
	bp := bandedPoly{}
	if len(es) == 0 {
		return bp
	}
	b := mp.Bound()
	bp.minY = b.Min[1]
	bp.nBands = max(1, len(es)/4)
	h := (b.Max[1] - b.Min[1]) / float64(bp.nBands)
	if h <= 0 {
		bp.nBands, h = 1, 1
	}
	bp.invBand = 1 / h
	lists := make([][]edge, bp.nBands)
	for _, e := range es {
		lo, hi := bp.band(math.Min(e.ay, e.by)), bp.band(math.Max(e.ay, e.by))
		// One band of slack each side: band() rounds, and an edge must be
		// found from any y it spans.
		lo, hi = max(lo-1, 0), min(hi+1, bp.nBands-1)
		for k := lo; k <= hi; k++ {
			lists[k] = append(lists[k], e)
		}
	}
	bp.bandOff = make([]int32, bp.nBands+1)
	for k, l := range lists {
		bp.bandOff[k] = int32(len(bp.edges))
		bp.edges = append(bp.edges, l...)
	}
	bp.bandOff[bp.nBands] = int32(len(bp.edges))
	return bp
}

func (bp *bandedPoly) band(y float64) int {
	k := int((y - bp.minY) * bp.invBand)
	return min(max(k, 0), bp.nBands-1)
}

// contains reports whether (px, py) lies in the polygon, boundary
// included, and whether it lies exactly on the boundary. Even-odd rule over
// every ring, so holes and multipolygons need no special case.
func (bp *bandedPoly) contains(px, py float64) (in, onEdge bool) {
	if len(bp.edges) == 0 {
		return false, false
	}
	k := bp.band(py)
	for _, e := range bp.edges[bp.bandOff[k]:bp.bandOff[k+1]] {
		if (e.ay > py) == (e.by > py) {
			// The edge does not straddle the ray's line; it may still hold
			// the point when it is horizontal at py, or ends at it.
			if (e.ay == py || e.by == py) && onSegment(e, px, py) {
				return true, true
			}
			continue
		}
		cross := (e.bx-e.ax)*(py-e.ay) - (e.by-e.ay)*(px-e.ax)
		if cross == 0 {
			return true, true // on the edge
		}
		// Crossing to the right of p: p is left of an upward edge, or right
		// of a downward one.
		if (cross > 0) == (e.by > e.ay) {
			in = !in
		}
	}
	return in, false
}

func onSegment(e edge, px, py float64) bool {
	if (e.bx-e.ax)*(py-e.ay)-(e.by-e.ay)*(px-e.ax) != 0 {
		return false
	}
	return px >= math.Min(e.ax, e.bx) && px <= math.Max(e.ax, e.bx) &&
		py >= math.Min(e.ay, e.by) && py <= math.Max(e.ay, e.by)
}

// first returns the lowest-numbered polygon covering (px, py), or -1.
func (x *polyIndex) first(px, py float64) int {
	if len(x.bucket) == 0 || !(px >= x.maxPolyBound.Min[0] && px <= x.maxPolyBound.Max[0] && py >= x.maxPolyBound.Min[1] && py <= x.maxPolyBound.Max[1]) {
		return -1
	}
	i, j := x.cellOf(px, py)
	v := x.bucket[j*x.nx+i]
	if v >= -1 {
		return int(v)
	}
	l := x.lists[-(v + 2)]
	for _, c := range x.cands[l.off : l.off+l.n] {
		if c.full {
			return int(c.poly)
		}
		if in, _ := x.polys[c.poly].contains(px, py); in {
			return int(c.poly)
		}
	}
	return -1
}

// each calls fn for every polygon covering (px, py), in index order.
func (x *polyIndex) each(px, py float64, fn func(i int)) {
	if len(x.bucket) == 0 || !(px >= x.maxPolyBound.Min[0] && px <= x.maxPolyBound.Max[0] && py >= x.maxPolyBound.Min[1] && py <= x.maxPolyBound.Max[1]) {
		return
	}
	i, j := x.cellOf(px, py)
	v := x.bucket[j*x.nx+i]
	if v >= 0 {
		fn(int(v))
		return
	}
	if v == -1 {
		return
	}
	l := x.lists[-(v + 2)]
	for _, c := range x.cands[l.off : l.off+l.n] {
		if c.full {
			fn(int(c.poly))
		} else if in, _ := x.polys[c.poly].contains(px, py); in {
			fn(int(c.poly))
		}
	}
}
