package ogc

import (
	"errors"
	"strings"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/ogc/cql2"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/paulmach/orb"
)

// geometryProp is the name filters give a feature's geometry.
const geometryProp = "geometry"

// parseFilter reads a CQL2 text filter (filter-lang cql2-text, the
// default) over the collection's queryables into a domain condition.
// Geometry literals are CRS84 longitude, latitude, or in filter-crs's
// numbers for the service's own systems (GCJ-02, BD-09); a latitude-first
// filter-crs is refused, since CQL2 text writes longitude first here.
func parseFilter(col *collection, _ *locate.Snapshot, text, lang, filterCRS string) (grid.Cond, error) {
	if lang != "" && lang != "cql2-text" {
		return nil, param.Invalid("filter-lang", "%q: this service reads cql2-text", lang)
	}
	crs, err := param.CRSURI("filter-crs", filterCRS)
	if err != nil {
		return nil, err
	}
	if crs.LatFirst {
		return nil, param.Invalid("filter-crs", "%q: write the filter's coordinates longitude first, in %s (or %s, %s)", filterCRS, param.CRS84, param.CRSGCJ02, param.CRSBD09)
	}
	e, err := cql2.Parse(text)
	if err != nil {
		return nil, filterError(col, err)
	}
	types := map[string]cql2.Type{geometryProp: cql2.TypeGeometry}
	for _, q := range col.queryables {
		types[q.Name] = cqlType(q.Type)
	}
	if err := cql2.Check(e, types); err != nil {
		return nil, filterError(col, err)
	}
	return toCond(e, crs)
}

func cqlType(t grid.PropType) cql2.Type {
	switch t {
	case grid.TypeNumber, grid.TypeInteger:
		return cql2.TypeNumber
	case grid.TypeBool:
		return cql2.TypeBool
	case grid.TypeTime:
		return cql2.TypeTimestamp
	}
	return cql2.TypeText
}

// filterError names the filter parameter, and for an unknown property
// lists the queryables.
func filterError(col *collection, err error) error {
	var ce *cql2.Error
	if errors.As(err, &ce) && ce.Property != "" {
		names := []string{geometryProp}
		for _, q := range col.queryables {
			names = append(names, q.Name)
		}
		return param.Invalid("filter", "%s; the queryables of %s are %s", ce.Error(), col.id, strings.Join(names, ", "))
	}
	return param.Invalid("filter", "%s", grid.MessageOf(err))
}

func toCond(e cql2.Expr, crs param.OGCCRS) (grid.Cond, error) {
	not := func(neg bool, c grid.Cond) grid.Cond {
		if neg {
			return grid.Not{C: c}
		}
		return c
	}
	switch e := e.(type) {
	case *cql2.And:
		out := make(grid.And, 0, len(e.Args))
		for _, x := range e.Args {
			c, err := toCond(x, crs)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	case *cql2.Or:
		out := make(grid.Or, 0, len(e.Args))
		for _, x := range e.Args {
			c, err := toCond(x, crs)
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	case *cql2.Not:
		c, err := toCond(e.X, crs)
		if err != nil {
			return nil, err
		}
		return grid.Not{C: c}, nil
	case *cql2.BoolLiteral:
		return grid.Bool(e.Value), nil
	case *cql2.Compare:
		v, err := literal(e.Lit.Value)
		if err != nil {
			return nil, err
		}
		return grid.Compare{Prop: e.Prop.Name, Op: op(e.Op), Value: v}, nil
	case *cql2.IsNull:
		return not(e.Not, grid.IsNull{Prop: e.Prop.Name}), nil
	case *cql2.Like:
		return not(e.Not, grid.Like{Prop: e.Prop.Name, Pattern: e.Pattern.Value.Str()}), nil
	case *cql2.Between:
		lo, err := literal(e.Low.Value)
		if err != nil {
			return nil, err
		}
		hi, err := literal(e.High.Value)
		if err != nil {
			return nil, err
		}
		return not(e.Not, grid.And{grid.Compare{Prop: e.Prop.Name, Op: grid.Ge, Value: lo}, grid.Compare{Prop: e.Prop.Name, Op: grid.Le, Value: hi}}), nil
	case *cql2.In:
		vals := make([]any, len(e.Values))
		for i, l := range e.Values {
			v, err := literal(l.Value)
			if err != nil {
				return nil, err
			}
			vals[i] = v
		}
		return not(e.Not, grid.In{Prop: e.Prop.Name, Values: vals}), nil
	case *cql2.Intersects:
		if e.Prop.Name != geometryProp {
			return nil, param.Invalid("filter", "S_INTERSECTS takes the property %q, not %q", geometryProp, e.Prop.Name)
		}
		return grid.Intersects{Geometry: toWGS84(crs, e.Geom.Value.Geom())}, nil
	}
	return nil, param.Invalid("filter", "unsupported expression %s", e)
}

func literal(v cql2.Value) (any, error) {
	switch v.Type() {
	case cql2.TypeText:
		return v.Str(), nil
	case cql2.TypeNumber:
		return v.Num(), nil
	case cql2.TypeBool:
		return v.BoolValue(), nil
	case cql2.TypeTimestamp:
		return v.Time(), nil
	}
	return nil, param.Invalid("filter", "a %s literal does not compare with these properties", v.Type())
}

func op(o cql2.Op) grid.Op {
	switch o {
	case cql2.Eq:
		return grid.Eq
	case cql2.Ne:
		return grid.Ne
	case cql2.Lt:
		return grid.Lt
	case cql2.Le:
		return grid.Le
	case cql2.Gt:
		return grid.Gt
	}
	return grid.Ge
}

// toWGS84 takes a geometry literal from crs's numbers to WGS84: vertex by
// vertex (a box becomes its sampled outline, as a bbox in that system does).
func toWGS84(crs param.OGCCRS, g orb.Geometry) orb.Geometry {
	if crs.System == coord.WGS84 {
		return g
	}
	if b, ok := g.(orb.Bound); ok {
		return wgs84Area(crs, [4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]})
	}
	conv := func(p orb.Point) orb.Point {
		x, y := coord.ToWGS84(crs.System, p[0], p[1])
		return orb.Point{x, y}
	}
	ring := func(r []orb.Point) []orb.Point {
		out := make([]orb.Point, len(r))
		for i, p := range r {
			out[i] = conv(p)
		}
		return out
	}
	switch g := g.(type) {
	case orb.Point:
		return conv(g)
	case orb.MultiPoint:
		return orb.MultiPoint(ring(g))
	case orb.LineString:
		return orb.LineString(ring(g))
	case orb.MultiLineString:
		out := make(orb.MultiLineString, len(g))
		for i, l := range g {
			out[i] = ring(l)
		}
		return out
	case orb.Polygon:
		out := make(orb.Polygon, len(g))
		for i, r := range g {
			out[i] = ring(r)
		}
		return out
	case orb.MultiPolygon:
		out := make(orb.MultiPolygon, len(g))
		for i, pg := range g {
			out[i] = toWGS84(crs, pg).(orb.Polygon)
		}
		return out
	case orb.Collection:
		out := make(orb.Collection, len(g))
		for i, x := range g {
			out[i] = toWGS84(crs, x)
		}
		return out
	}
	return g
}
