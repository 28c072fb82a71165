package cql2

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
)

// Column maps a queryable property to SQL: the column expression (from
// the caller's own whitelist; nothing of the filter text is ever written
// into SQL but placeholders) and its type. A TypeTimestamp column is a
// timestamptz, a TypeGeometry column a geometry in SRID 4326.
type Column struct {
	SQL  string
	Type Type
}

// ToSQL translates e into a PostgreSQL boolean expression over columns,
// with its literals as parameters $1, $2, … in args. An unknown property or
// a literal that does not fit its column is an *Error (see Check).
func ToSQL(e Expr, columns map[string]Column) (sql string, args []any, err error) {
	return AppendSQL(e, columns, nil)
}

// AppendSQL is ToSQL for a query that already has parameters: placeholders
// continue after len(args) and the literals are appended to args.
func AppendSQL(e Expr, columns map[string]Column, args []any) (string, []any, error) {
	types := make(map[string]Type, len(columns))
	for name, c := range columns {
		if c.SQL == "" || c.Type < TypeText || c.Type > TypeGeometry {
			return "", args, fmt.Errorf("cql2: column for %q has no SQL or no valid type", name)
		}
		types[name] = c.Type
	}
	if err := Check(e, types); err != nil {
		return "", args, err
	}
	g := &sqlWriter{columns: columns, args: args}
	g.expr(e)
	return g.b.String(), g.args, nil
}

type sqlWriter struct {
	b       strings.Builder
	columns map[string]Column
	args    []any
}

// castOf is the SQL type every parameter is cast to, so that PostgreSQL
// never infers it from the column (an integer column would otherwise make
// 2.5 unencodable).
func castOf(t Type) string {
	switch t {
	case TypeText:
		return "text"
	case TypeNumber:
		return "double precision"
	case TypeBool:
		return "boolean"
	case TypeTimestamp:
		return "timestamptz"
	case TypeDate:
		return "date"
	}
	return "text"
}

func (g *sqlWriter) param(v any, cast string) {
	g.args = append(g.args, v)
	g.b.WriteByte('$')
	g.b.WriteString(strconv.Itoa(len(g.args)))
	g.b.WriteString("::")
	g.b.WriteString(cast)
}

func (g *sqlWriter) literal(v Value) {
	var arg any
	switch v.typ {
	case TypeText:
		arg = v.text
	case TypeNumber:
		arg = v.num
	case TypeBool:
		arg = v.b
	default: // timestamps and dates
		arg = v.t
	}
	g.param(arg, castOf(v.typ))
}

func (g *sqlWriter) column(p Property) {
	c := g.columns[p.Name].SQL
	if isSimpleColumn(c) {
		g.b.WriteString(c)
		return
	}
	g.b.WriteByte('(')
	g.b.WriteString(c)
	g.b.WriteByte(')')
}

// isSimpleColumn reports whether c is a plain, possibly qualified, column
// name that needs no parentheses.
func isSimpleColumn(c string) bool {
	for i := 0; i < len(c); i++ {
		ch := c[i]
		if !(ch == '_' || ch == '.' || ('a' <= ch && ch <= 'z') || ('A' <= ch && ch <= 'Z') || ('0' <= ch && ch <= '9')) {
			return false
		}
	}
	return true
}

func (g *sqlWriter) not(not bool) {
	if not {
		g.b.WriteString(" NOT")
	}
}

func (g *sqlWriter) list(args []Expr, sep string) {
	g.b.WriteByte('(')
	for i, a := range args {
		if i > 0 {
			g.b.WriteString(sep)
		}
		g.expr(a)
	}
	g.b.WriteByte(')')
}

func (g *sqlWriter) expr(e Expr) {
	switch e := e.(type) {
	case *And:
		g.list(e.Args, " AND ")
	case *Or:
		g.list(e.Args, " OR ")
	case *Not:
		g.b.WriteString("(NOT ")
		g.expr(e.X)
		g.b.WriteByte(')')
	case *BoolLiteral:
		if e.Value {
			g.b.WriteString("TRUE")
		} else {
			g.b.WriteString("FALSE")
		}
	case *Compare:
		g.b.WriteByte('(')
		g.column(e.Prop)
		g.b.WriteString(" " + e.Op.String() + " ")
		g.literal(e.Lit.Value)
		if e.Lit.Value.typ == TypeText && e.Op != Eq && e.Op != Ne {
			// Order by code point, as Eval does, whatever the database's collation.
			g.b.WriteString(` COLLATE "C"`)
		}
		g.b.WriteByte(')')
	case *IsNull:
		g.b.WriteByte('(')
		g.column(e.Prop)
		g.b.WriteString(" IS")
		g.not(e.Not)
		g.b.WriteString(" NULL)")
	case *Like:
		g.b.WriteByte('(')
		g.column(e.Prop)
		g.not(e.Not)
		g.b.WriteString(" LIKE ")
		g.literal(e.Pattern.Value)
		g.b.WriteByte(')')
	case *Between:
		g.b.WriteByte('(')
		g.column(e.Prop)
		g.not(e.Not)
		g.b.WriteString(" BETWEEN ")
		g.literal(e.Low.Value)
		g.b.WriteString(" AND ")
		g.literal(e.High.Value)
		g.b.WriteByte(')')
	case *In:
		g.b.WriteByte('(')
		g.column(e.Prop)
		g.not(e.Not)
		g.b.WriteString(" IN (")
		for i, v := range e.Values {
			if i > 0 {
				g.b.WriteString(", ")
			}
			g.literal(v.Value)
		}
		g.b.WriteString("))")
	case *Intersects:
		g.b.WriteString("ST_Intersects(")
		g.column(e.Prop)
		g.b.WriteString(", ")
		if bb, ok := e.Geom.Value.geom.(orb.Bound); ok && bb.Min[0] < bb.Max[0] && bb.Min[1] < bb.Max[1] {
			g.b.WriteString("ST_MakeEnvelope(")
			for _, f := range []float64{bb.Min[0], bb.Min[1], bb.Max[0], bb.Max[1]} {
				g.param(f, "double precision")
				g.b.WriteString(", ")
			}
			g.b.WriteString("4326))")
			return
		}
		// A literal is parsed once per query (an InitPlan, which the GiST
		// index can still use) and made valid first: GEOS raises errors on
		// invalid input such as overlapping parts of a MULTIPOLYGON, and
		// "structure" keeps the union of the parts, as Eval reads them.
		var w strings.Builder
		writeWKT(&w, e.Geom.Value.geom)
		g.b.WriteString("(SELECT ST_MakeValid(ST_GeomFromText(")
		g.param(w.String(), "text")
		g.b.WriteString(", 4326), 'method=structure')))")
	}
}
