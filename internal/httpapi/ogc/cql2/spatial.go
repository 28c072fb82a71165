package cql2

import "github.com/paulmach/orb"

// intersects reports whether a and b share at least one point, boundaries
// included (the DE-9IM "intersects" of ST_Intersects), in the plane. It
// decides with orientation signs only, so for coordinates whose products
// are exact in float64 (such as small multiples of 0.5) it agrees exactly
// with PostGIS; elsewhere a point within rounding of an edge may differ.
func intersects(a, b orb.Geometry) bool {
	if a == nil || b == nil {
		return false
	}
	if !a.Bound().Intersects(b.Bound()) {
		return false
	}
	pa, pb := decompose(a), decompose(b)
	for _, v := range pa.verts {
		if pb.covers(v) {
			return true
		}
	}
	for _, v := range pb.verts {
		if pa.covers(v) {
			return true
		}
	}
	bb := b.Bound()
	for _, s := range pa.segs {
		if !segBound(s).Intersects(bb) {
			continue
		}
		for _, t := range pb.segs {
			if segmentsIntersect(s[0], s[1], t[0], t[1]) {
				return true
			}
		}
	}
	return false
}

// parts is a geometry taken apart: every vertex, every segment (of lines
// and rings) and every polygon (for containment).
type parts struct {
	verts []orb.Point
	segs  [][2]orb.Point
	polys []orb.Polygon
}

func decompose(g orb.Geometry) *parts {
	p := &parts{}
	p.add(g)
	return p
}

func (p *parts) add(g orb.Geometry) {
	switch g := g.(type) {
	case orb.Point:
		p.verts = append(p.verts, g)
	case orb.MultiPoint:
		p.verts = append(p.verts, g...)
	case orb.LineString:
		p.addLine(g)
	case orb.MultiLineString:
		for _, ls := range g {
			p.addLine(ls)
		}
	case orb.Ring:
		p.add(orb.Polygon{g})
	case orb.Polygon:
		for _, r := range g {
			if len(r) > 0 && r[0] != r[len(r)-1] {
				r = append(r[:len(r):len(r)], r[0])
			}
			p.addLine(orb.LineString(r))
		}
		p.polys = append(p.polys, g)
	case orb.MultiPolygon:
		for _, pg := range g {
			p.add(pg)
		}
	case orb.Collection:
		for _, x := range g {
			p.add(x)
		}
	case orb.Bound:
		p.add(g.ToPolygon())
	}
}

func (p *parts) addLine(ls orb.LineString) {
	p.verts = append(p.verts, ls...)
	for i := 1; i < len(ls); i++ {
		p.segs = append(p.segs, [2]orb.Point{ls[i-1], ls[i]})
	}
	if len(ls) == 1 {
		p.segs = append(p.segs, [2]orb.Point{ls[0], ls[0]})
	}
}

// covers reports whether point q lies on or in any part.
func (p *parts) covers(q orb.Point) bool {
	for _, v := range p.verts {
		if v == q {
			return true
		}
	}
	for _, s := range p.segs {
		if onSegment(q, s[0], s[1]) {
			return true
		}
	}
	for _, pg := range p.polys {
		if polygonContains(pg, q) {
			return true
		}
	}
	return false
}

func segBound(s [2]orb.Point) orb.Bound {
	return orb.Bound{Min: s[0], Max: s[0]}.Extend(s[1])
}

// orient is twice the signed area of the triangle a, b, c: positive when c
// lies left of a→b.
func orient(a, b, c orb.Point) float64 {
	return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
}

func onSegment(q, a, b orb.Point) bool {
	return orient(a, b, q) == 0 &&
		min(a[0], b[0]) <= q[0] && q[0] <= max(a[0], b[0]) &&
		min(a[1], b[1]) <= q[1] && q[1] <= max(a[1], b[1])
}

func segmentsIntersect(p1, p2, q1, q2 orb.Point) bool {
	d1, d2 := orient(q1, q2, p1), orient(q1, q2, p2)
	d3, d4 := orient(p1, p2, q1), orient(p1, p2, q2)
	if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
		return true
	}
	return onSegment(p1, q1, q2) || onSegment(p2, q1, q2) || onSegment(q1, p1, p2) || onSegment(q2, p1, p2)
}

// polygonContains reports whether q is inside pg's outer ring and outside
// its holes; points on a ring were already caught by covers.
func polygonContains(pg orb.Polygon, q orb.Point) bool {
	if len(pg) == 0 || !ringContains(pg[0], q) {
		return false
	}
	for _, h := range pg[1:] {
		if ringContains(h, q) {
			return false
		}
	}
	return true
}

// ringContains is the winding-number test, with orientation signs instead
// of intersections so that it is exact where orient is.
func ringContains(r orb.Ring, q orb.Point) bool {
	wn := 0
	for i := range r {
		a, b := r[i], r[(i+1)%len(r)]
		if a[1] <= q[1] {
			if b[1] > q[1] && orient(a, b, q) > 0 {
				wn++
			}
		} else if b[1] <= q[1] && orient(a, b, q) < 0 {
			wn--
		}
	}
	return wn != 0
}
