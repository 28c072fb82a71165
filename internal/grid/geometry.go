package grid

import (
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// GeometriesIntersect reports whether two planar geometries (lon/lat
// degrees) share a point, boundaries included, as PostGIS's ST_Intersects
// decides for geometries in SRID 4326. It takes points, line strings,
// polygons, their multi forms, rings, bounds and collections.
func GeometriesIntersect(a, b orb.Geometry) bool {
	if a == nil || b == nil {
		return false
	}
	ab, bb := a.Bound(), b.Bound()
	if !ab.Intersects(bb) {
		return false
	}
	pa, pb := decompose(a), decompose(b)
	for _, p := range pa.points {
		if pb.covers(p) {
			return true
		}
	}
	for _, p := range pb.points {
		if pa.covers(p) {
			return true
		}
	}
	for _, s := range pa.segs {
		sb := segBound(s)
		if !sb.Intersects(bb) {
			continue
		}
		for _, t := range pb.segs {
			if sb.Intersects(segBound(t)) && segmentsIntersect(s[0], s[1], t[0], t[1]) {
				return true
			}
		}
	}
	// No boundaries cross: one may still lie inside the other.
	for _, s := range pa.segs {
		if pb.inPolygon(s[0]) {
			return true
		}
	}
	for _, s := range pb.segs {
		if pa.inPolygon(s[0]) {
			return true
		}
	}
	return false
}

type parts struct {
	points []orb.Point
	segs   [][2]orb.Point
	polys  []orb.Polygon
}

func decompose(g orb.Geometry) *parts {
	p := &parts{}
	p.add(g)
	return p
}

func (p *parts) add(g orb.Geometry) {
	switch g := g.(type) {
	case orb.Point:
		p.points = append(p.points, g)
	case orb.MultiPoint:
		p.points = append(p.points, g...)
	case orb.LineString:
		p.addLine(g)
	case orb.MultiLineString:
		for _, l := range g {
			p.addLine(l)
		}
	case orb.Ring:
		p.add(orb.Polygon{g})
	case orb.Polygon:
		p.polys = append(p.polys, g)
		for _, r := range g {
			p.addLine(orb.LineString(r))
		}
	case orb.MultiPolygon:
		for _, pg := range g {
			p.add(pg)
		}
	case orb.Bound:
		p.add(g.ToPolygon())
	case orb.Collection:
		for _, x := range g {
			p.add(x)
		}
	}
}

func (p *parts) addLine(l orb.LineString) {
	if len(l) == 1 {
		p.points = append(p.points, l[0])
	}
	for i := 1; i < len(l); i++ {
		p.segs = append(p.segs, [2]orb.Point{l[i-1], l[i]})
	}
}

// covers reports whether q is a point of the geometry.
func (p *parts) covers(q orb.Point) bool {
	for _, x := range p.points {
		if x == q {
			return true
		}
	}
	for _, s := range p.segs {
		if onSegment(q, s[0], s[1]) {
			return true
		}
	}
	return p.inPolygon(q)
}

// inPolygon reports whether q lies in one of the polygons, boundary
// included (planar.RingContains counts the boundary in).
func (p *parts) inPolygon(q orb.Point) bool {
	for _, pg := range p.polys {
		if planar.PolygonContains(pg, q) {
			return true
		}
	}
	return false
}

func segBound(s [2]orb.Point) orb.Bound {
	return orb.Bound{Min: orb.Point{min(s[0][0], s[1][0]), min(s[0][1], s[1][1])},
		Max: orb.Point{max(s[0][0], s[1][0]), max(s[0][1], s[1][1])}}
}

func orient(a, b, c orb.Point) float64 {
	return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
}

func onSegment(q, a, b orb.Point) bool {
	return orient(a, b, q) == 0 && q[0] >= min(a[0], b[0]) && q[0] <= max(a[0], b[0]) &&
		q[1] >= min(a[1], b[1]) && q[1] <= max(a[1], b[1])
}

func segmentsIntersect(p1, p2, q1, q2 orb.Point) bool {
	d1, d2 := orient(q1, q2, p1), orient(q1, q2, p2)
	d3, d4 := orient(p1, p2, q1), orient(p1, p2, q2)
	if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
		return true
	}
	return onSegment(p1, q1, q2) || onSegment(p2, q1, q2) || onSegment(q1, p1, p2) || onSegment(q2, p1, p2)
}
