package cql2

import (
	"strings"

	"github.com/paulmach/orb"
)

func isGeometryWord(upper string) bool {
	switch upper {
	case "POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON",
		"GEOMETRYCOLLECTION", "BBOX", "ENVELOPE":
		return true
	}
	return false
}

// parseGeometry parses a 2D WKT literal or BBOX(w, s, e, n) at the current
// token, counting vertices against the limit.
func (p *parser) parseGeometry() (orb.Geometry, error) {
	kw := p.next()
	name := upperASCII(kw.text)
	if t := p.peek(); t.kind == tIdent {
		switch upperASCII(t.text) {
		case "Z", "M", "ZM":
			return nil, errorf(t.pos, "%s %s: only 2D coordinates are supported", name, upperASCII(t.text))
		case "EMPTY":
			return nil, errorf(t.pos, "empty geometries are not supported")
		}
	}
	switch name {
	case "BBOX", "ENVELOPE":
		return p.parseBBox()
	case "POINT":
		return p.parsePointText()
	case "LINESTRING":
		return p.parseLineString()
	case "POLYGON":
		return p.parsePolygon()
	case "MULTIPOINT":
		var mp orb.MultiPoint
		err := p.parseList("MULTIPOINT", func() error {
			// Both MULTIPOINT((1 2), (3 4)) and the common MULTIPOINT(1 2, 3 4).
			var pt orb.Point
			var err error
			if p.peek().kind == tLParen {
				pt, err = p.parsePointText()
			} else {
				pt, err = p.parseCoord()
			}
			mp = append(mp, pt)
			return err
		})
		return mp, err
	case "MULTILINESTRING":
		var ml orb.MultiLineString
		err := p.parseList("MULTILINESTRING", func() error {
			ls, err := p.parseLineString()
			ml = append(ml, ls)
			return err
		})
		return ml, err
	case "MULTIPOLYGON":
		var mp orb.MultiPolygon
		err := p.parseList("MULTIPOLYGON", func() error {
			pg, err := p.parsePolygon()
			mp = append(mp, pg)
			return err
		})
		return mp, err
	}
	// GEOMETRYCOLLECTION
	if err := p.enter(kw.pos); err != nil {
		return nil, err
	}
	defer p.leave()
	var c orb.Collection
	err := p.parseList("GEOMETRYCOLLECTION", func() error {
		t := p.peek()
		if t.kind != tIdent || !isGeometryWord(upperASCII(t.text)) || isWord(t, "BBOX") || isWord(t, "ENVELOPE") {
			return errorf(t.pos, "expected a WKT geometry in GEOMETRYCOLLECTION, found %s", t.describe())
		}
		g, err := p.parseGeometry()
		c = append(c, g)
		return err
	})
	return c, err
}

// parseList parses ( item {, item} ).
func (p *parser) parseList(what string, item func() error) error {
	if _, err := p.expect(tLParen, "'(' after "+what); err != nil {
		return err
	}
	for {
		if err := item(); err != nil {
			return err
		}
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	_, err := p.expect(tRParen, "',' or ')' in "+what)
	return err
}

func (p *parser) parseNumber(what string) (float64, error) {
	t := p.peek()
	signed := t.kind == tArith && (t.text == "-" || t.text == "+") && p.peekAt(1).kind == tNumber
	if t.kind != tNumber && !signed {
		return 0, errorf(t.pos, "expected a number for the %s, found %s", what, t.describe())
	}
	lit, err := p.parseLiteral("")
	return lit.Value.Num(), err
}

// Coordinates are CRS84 longitude and latitude; anything else is a
// mistake (or another CRS, which filter-crs does not offer).
func (p *parser) parseLongitude() (float64, error) { return p.parseOrdinate("longitude", 180) }
func (p *parser) parseLatitude() (float64, error)  { return p.parseOrdinate("latitude", 90) }

func (p *parser) parseOrdinate(what string, limit float64) (float64, error) {
	pos := p.peek().pos
	f, err := p.parseNumber(what)
	if err == nil && (f < -limit || f > limit) {
		err = errorf(pos, "%s %s is outside [-%v, %v]", what, formatNumber(f), limit, limit)
	}
	return f, err
}

// parseCoord parses "x y", rejecting a third ordinate.
func (p *parser) parseCoord() (orb.Point, error) {
	start := p.peek().pos
	p.vertices++
	if p.vertices > p.limits.MaxVertices {
		return orb.Point{}, errorf(start, "geometry literals have more than %d vertices", p.limits.MaxVertices)
	}
	x, err := p.parseLongitude()
	if err != nil {
		return orb.Point{}, err
	}
	y, err := p.parseLatitude()
	if err != nil {
		return orb.Point{}, err
	}
	if t := p.peek(); t.kind == tNumber || t.kind == tArith {
		return orb.Point{}, errorf(t.pos, "only 2D coordinates are supported")
	}
	return orb.Point{x, y}, nil
}

func (p *parser) parsePointText() (orb.Point, error) {
	if _, err := p.expect(tLParen, "'(' before a point's coordinates"); err != nil {
		return orb.Point{}, err
	}
	pt, err := p.parseCoord()
	if err != nil {
		return pt, err
	}
	_, err = p.expect(tRParen, "')' after a point's coordinates")
	return pt, err
}

func (p *parser) parseLineString() (orb.LineString, error) {
	start := p.peek().pos
	var ls orb.LineString
	err := p.parseList("a line string", func() error {
		pt, err := p.parseCoord()
		ls = append(ls, pt)
		return err
	})
	if err == nil && len(ls) < 2 {
		err = errorf(start, "a line string needs at least 2 points")
	}
	return ls, err
}

func (p *parser) parsePolygon() (orb.Polygon, error) {
	var pg orb.Polygon
	err := p.parseList("a polygon", func() error {
		start := p.peek().pos
		ls, err := p.parseLineString()
		if err != nil {
			return err
		}
		if len(ls) < 4 {
			return errorf(start, "a polygon ring needs at least 4 points, the last equal to the first")
		}
		if ls[0] != ls[len(ls)-1] {
			return errorf(start, "polygon ring is not closed: its last point must equal its first")
		}
		if collinear(ls) {
			return errorf(start, "polygon ring has no area: its points lie on one line")
		}
		pg = append(pg, orb.Ring(ls))
		return nil
	})
	return pg, err
}

// parseBBox parses (west, south, east, north).
func (p *parser) parseBBox() (orb.Geometry, error) {
	open, err := p.expect(tLParen, "'(' after BBOX")
	if err != nil {
		return nil, err
	}
	var v [4]float64
	names := [4]string{"west", "south", "east", "north"}
	for i := range v {
		if i > 0 {
			if _, err := p.expect(tComma, "',' in BBOX"); err != nil {
				return nil, err
			}
		}
		if v[i], err = p.parseOrdinate("BBOX "+names[i], [4]float64{180, 90, 180, 90}[i]); err != nil {
			return nil, err
		}
	}
	if t := p.peek(); t.kind == tComma {
		return nil, errorf(t.pos, "only 2D boxes BBOX(west, south, east, north) are supported")
	}
	if _, err := p.expect(tRParen, "')' after BBOX"); err != nil {
		return nil, err
	}
	if v[0] > v[2] {
		return nil, errorf(open.pos, "BBOX west %s is east of east %s (boxes across the antimeridian are not supported)", formatNumber(v[0]), formatNumber(v[2]))
	}
	if v[1] > v[3] {
		return nil, errorf(open.pos, "BBOX south %s is north of north %s", formatNumber(v[1]), formatNumber(v[3]))
	}
	p.vertices += 2
	if p.vertices > p.limits.MaxVertices {
		return nil, errorf(open.pos, "geometry literals have more than %d vertices", p.limits.MaxVertices)
	}
	return orb.Bound{Min: orb.Point{v[0], v[1]}, Max: orb.Point{v[2], v[3]}}, nil
}

// supportedGeometry reports whether g is a geometry writeGeometry can write: a
// hand-made literal could hold anything.
func supportedGeometry(g orb.Geometry) bool {
	switch g := g.(type) {
	case orb.Point, orb.MultiPoint, orb.LineString, orb.MultiLineString, orb.Ring, orb.Polygon, orb.MultiPolygon, orb.Bound:
		return true
	case orb.Collection:
		for _, x := range g {
			if _, isBound := x.(orb.Bound); isBound || !supportedGeometry(x) {
				return false
			}
		}
		return true
	}
	return false
}

// writeGeometry writes g as CQL2 text: BBOX(…) for a bound, WKT otherwise.
func writeGeometry(b *strings.Builder, g orb.Geometry) { writeGeom(b, g, false) }

func writeGeom(b *strings.Builder, g orb.Geometry, wkt bool) {
	switch g := g.(type) {
	case orb.Bound:
		if wkt {
			// A box without area is the point or line it degenerates to.
			switch {
			case g.Min == g.Max:
				b.WriteString("POINT")
				writePointText(b, g.Min)
			case g.Min[0] == g.Max[0] || g.Min[1] == g.Max[1]:
				b.WriteString("LINESTRING")
				writeCoords(b, []orb.Point{g.Min, g.Max})
			default:
				b.WriteString("POLYGON")
				writePolygonText(b, g.ToPolygon())
			}
			return
		}
		b.WriteString("BBOX(")
		for i, f := range []float64{g.Min[0], g.Min[1], g.Max[0], g.Max[1]} {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(formatNumber(f))
		}
		b.WriteByte(')')
	case orb.Point:
		b.WriteString("POINT")
		writePointText(b, g)
	case orb.MultiPoint:
		b.WriteString("MULTIPOINT(")
		for i, pt := range g {
			if i > 0 {
				b.WriteString(", ")
			}
			writePointText(b, pt)
		}
		b.WriteByte(')')
	case orb.LineString:
		b.WriteString("LINESTRING")
		writeCoords(b, g)
	case orb.MultiLineString:
		b.WriteString("MULTILINESTRING(")
		for i, ls := range g {
			if i > 0 {
				b.WriteString(", ")
			}
			writeCoords(b, ls)
		}
		b.WriteByte(')')
	case orb.Ring:
		b.WriteString("POLYGON")
		writePolygonText(b, orb.Polygon{g})
	case orb.Polygon:
		b.WriteString("POLYGON")
		writePolygonText(b, g)
	case orb.MultiPolygon:
		b.WriteString("MULTIPOLYGON(")
		for i, pg := range g {
			if i > 0 {
				b.WriteString(", ")
			}
			writePolygonText(b, pg)
		}
		b.WriteByte(')')
	case orb.Collection:
		b.WriteString("GEOMETRYCOLLECTION(")
		for i, x := range g {
			if i > 0 {
				b.WriteString(", ")
			}
			writeGeom(b, x, wkt)
		}
		b.WriteByte(')')
	default:
		b.WriteString("<unsupported geometry>")
	}
}

func writePointText(b *strings.Builder, pt orb.Point) {
	b.WriteByte('(')
	writeCoord(b, pt)
	b.WriteByte(')')
}

func writeCoord(b *strings.Builder, pt orb.Point) {
	b.WriteString(formatNumber(pt[0]))
	b.WriteByte(' ')
	b.WriteString(formatNumber(pt[1]))
}

func writeCoords(b *strings.Builder, pts []orb.Point) {
	b.WriteByte('(')
	for i, pt := range pts {
		if i > 0 {
			b.WriteString(", ")
		}
		writeCoord(b, pt)
	}
	b.WriteByte(')')
}

func writePolygonText(b *strings.Builder, pg orb.Polygon) {
	b.WriteByte('(')
	for i, r := range pg {
		if i > 0 {
			b.WriteString(", ")
		}
		writeCoords(b, r)
	}
	b.WriteByte(')')
}

// orient is twice the signed area of the triangle abc: 0 when collinear.
func orient(a, b, c orb.Point) float64 {
	return (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
}

// collinear reports whether all points lie on one line (or are one point).
func collinear(pts []orb.Point) bool {
	for _, b := range pts[1:] {
		if b == pts[0] {
			continue
		}
		for _, c := range pts {
			if orient(pts[0], b, c) != 0 {
				return false
			}
		}
		return true
	}
	return true
}
