package postgres

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/wkb"
)

// column is a property a filter may name: its SQL expression (from this
// whitelist only, never from the caller) and its type.
type column struct {
	sql string
	typ grid.PropType
}

// incidentColumnsByProp maps the incident queryables to their columns.
var incidentColumnsByProp = map[string]column{
	grid.IncidentID:          {"id", grid.TypeInteger},
	grid.IncidentCategory:    {"category", grid.TypeText},
	grid.IncidentStatus:      {"status", grid.TypeText},
	grid.IncidentSource:      {"source", grid.TypeText},
	grid.IncidentCell:        {"cell_code", grid.TypeText},
	grid.IncidentCommunity:   {"community_code", grid.TypeText},
	grid.IncidentTown:        {"town_code", grid.TypeText},
	grid.IncidentDepartment:  {"department_code", grid.TypeText},
	grid.IncidentOccurredAt:  {"occurred_at", grid.TypeTime},
	grid.IncidentReceivedAt:  {"received_at", grid.TypeTime},
	grid.IncidentDeadline:    {"deadline", grid.TypeTime},
	grid.IncidentClosedAt:    {"closed_at", grid.TypeTime},
	grid.IncidentSupervised:  {"supervised", grid.TypeBool},
	grid.IncidentReworks:     {"reworks", grid.TypeInteger},
	grid.IncidentExtensions:  {"extensions", grid.TypeInteger},
	grid.IncidentGridVersion: {"grid_version", grid.TypeInteger},
	grid.IncidentExternalID:  {"external_id", grid.TypeText},
}

// facilityColumnsByProp maps the facility queryables to their columns.
var facilityColumnsByProp = map[string]column{
	"code": {"code", grid.TypeText},
	"kind": {"kind", grid.TypeText},
	"name": {"name", grid.TypeText},
}

// sqlArgs collects the $n parameters of a statement being built.
type sqlArgs struct{ args []any }

func (a *sqlArgs) add(v any) string {
	a.args = append(a.args, v)
	return "$" + strconv.Itoa(len(a.args))
}

// compileCond turns a condition into a SQL boolean expression over cols,
// with its values as parameters. geom is the geometry column. A property
// outside cols, or a value of the wrong type, is Invalid.
func compileCond(c grid.Cond, cols map[string]column, geom string, a *sqlArgs) (string, error) {
	var b strings.Builder
	var walk func(c grid.Cond) error
	col := func(prop string) (column, error) {
		k, ok := cols[prop]
		if !ok {
			return k, grid.Errorf(grid.Invalid, "unknown property %q", prop)
		}
		return k, nil
	}
	list := func(cs []grid.Cond, sep, empty string) error {
		if len(cs) == 0 {
			b.WriteString(empty)
			return nil
		}
		b.WriteByte('(')
		for i, x := range cs {
			if i > 0 {
				b.WriteString(sep)
			}
			if err := walk(x); err != nil {
				return err
			}
		}
		b.WriteByte(')')
		return nil
	}
	walk = func(c grid.Cond) error {
		switch c := c.(type) {
		case nil:
			b.WriteString("TRUE")
		case grid.Bool:
			if c {
				b.WriteString("TRUE")
			} else {
				b.WriteString("FALSE")
			}
		case grid.And:
			return list(c, " AND ", "TRUE")
		case grid.Or:
			return list(c, " OR ", "FALSE")
		case grid.Not:
			b.WriteString("(NOT ")
			if err := walk(c.C); err != nil {
				return err
			}
			b.WriteByte(')')
		case grid.IsNull:
			k, err := col(c.Prop)
			if err != nil {
				return err
			}
			b.WriteString("(" + k.sql + " IS NULL)")
		case grid.Compare:
			k, err := col(c.Prop)
			if err != nil {
				return err
			}
			lhs, rhs, err := operands(k, c.Value, c.Op != grid.Eq && c.Op != grid.Ne, a)
			if err != nil {
				return err
			}
			switch c.Op {
			case grid.Eq, grid.Ne, grid.Lt, grid.Le, grid.Gt, grid.Ge:
			default:
				return grid.Errorf(grid.Invalid, "unknown comparison %q", c.Op)
			}
			b.WriteString("(" + lhs + " " + string(c.Op) + " " + rhs + ")")
		case grid.In:
			k, err := col(c.Prop)
			if err != nil {
				return err
			}
			if len(c.Values) == 0 {
				b.WriteString("FALSE")
				return nil
			}
			b.WriteByte('(')
			for i, v := range c.Values {
				if i > 0 {
					b.WriteString(" OR ")
				}
				lhs, rhs, err := operands(k, v, false, a)
				if err != nil {
					return err
				}
				b.WriteString(lhs + " = " + rhs)
			}
			b.WriteByte(')')
		case grid.Like:
			k, err := col(c.Prop)
			if err != nil {
				return err
			}
			if k.typ != grid.TypeText {
				return grid.Errorf(grid.Invalid, "property %q is a %s: LIKE takes text", c.Prop, k.typ)
			}
			// LIKE's default escape character is the backslash, as the
			// domain's patterns have it; a trailing lone backslash is an
			// error in PostgreSQL, so it is matched literally instead.
			pat := c.Pattern
			if n := len(pat) - len(strings.TrimRight(pat, `\`)); n%2 == 1 {
				pat += `\`
			}
			b.WriteString("(" + k.sql + " LIKE " + a.add(pat) + "::text)")
		case grid.Intersects:
			g, err := geometryParam(c.Geometry, a)
			if err != nil {
				return err
			}
			b.WriteString("ST_Intersects(" + geom + ", " + g + ")")
		default:
			return grid.Errorf(grid.Invalid, "unsupported condition %T", c)
		}
		return nil
	}
	if err := walk(c); err != nil {
		return "", err
	}
	return b.String(), nil
}

// operands renders a column and a value of its type; ordered comparisons
// of text compare bytes (COLLATE "C"), as the domain's Eval does.
func operands(k column, v any, ordered bool, a *sqlArgs) (string, string, error) {
	bad := func() (string, string, error) {
		return "", "", grid.Errorf(grid.Invalid, "a %s column does not compare with %v (%T)", k.typ, v, v)
	}
	switch k.typ {
	case grid.TypeText:
		s, ok := v.(string)
		if !ok {
			return bad()
		}
		if ordered {
			return k.sql + ` COLLATE "C"`, a.add(s) + "::text", nil
		}
		return k.sql, a.add(s) + "::text", nil
	case grid.TypeInteger, grid.TypeNumber:
		f, ok := v.(float64)
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) {
			return bad()
		}
		if f == math.Trunc(f) && math.Abs(f) < 1<<53 {
			return k.sql, a.add(int64(f)) + "::bigint", nil
		}
		return k.sql + "::float8", a.add(f) + "::float8", nil
	case grid.TypeBool:
		x, ok := v.(bool)
		if !ok {
			return bad()
		}
		return k.sql, a.add(x) + "::boolean", nil
	case grid.TypeTime:
		t, ok := v.(time.Time)
		if !ok {
			return bad()
		}
		return k.sql, a.add(t) + "::timestamptz", nil
	}
	return bad()
}

// geometryParam passes a WGS84 geometry as a parameter: a box with area as
// an envelope (one without area as the point or line it is: PostGIS's
// envelope of no area meets nothing sensibly), a polygonal geometry made
// valid first (overlapping parts or a self-crossing ring would make GEOS
// fail the query; the valid form keeps the union of the parts, as
// grid.Eval reads them), once per query as a scalar subquery.
func geometryParam(g orb.Geometry, a *sqlArgs) (string, error) {
	if b, ok := g.(orb.Bound); ok {
		switch {
		case b.Min == b.Max:
			g = b.Min
		case b.Min[0] == b.Max[0] || b.Min[1] == b.Max[1]:
			g = orb.LineString{b.Min, b.Max}
		default:
			return "ST_MakeEnvelope(" + a.add(b.Min[0]) + "::float8, " + a.add(b.Min[1]) + "::float8, " +
				a.add(b.Max[0]) + "::float8, " + a.add(b.Max[1]) + "::float8, 4326)", nil
		}
	}
	if r, ok := g.(orb.Ring); ok {
		g = orb.Polygon{r}
	}
	bs, err := wkb.Marshal(g)
	if err != nil {
		return "", grid.Errorf(grid.Invalid, "geometry: %v", err)
	}
	lit := "ST_GeomFromWKB(" + a.add(bs) + "::bytea, 4326)"
	switch g.(type) {
	case orb.Polygon, orb.MultiPolygon, orb.Collection:
		return "(SELECT ST_MakeValid(" + lit + ", 'method=structure'))", nil
	}
	return lit, nil
}
