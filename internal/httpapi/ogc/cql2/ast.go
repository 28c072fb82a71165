package cql2

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb"
)

// Type is the type of a literal and of a queryable property.
type Type uint8

// The types a filter can compare.
const (
	TypeText      Type = iota + 1 // 'string'
	TypeNumber                    // 1, -2.5, 1e3 (float64)
	TypeBool                      // TRUE, FALSE
	TypeTimestamp                 // TIMESTAMP('…'), a timestamptz column
	TypeDate                      // DATE('…'), a date column
	TypeGeometry                  // WKT or BBOX literal, a geometry(…, 4326) column
)

func (t Type) String() string {
	switch t {
	case TypeText:
		return "text"
	case TypeNumber:
		return "number"
	case TypeBool:
		return "boolean"
	case TypeTimestamp:
		return "timestamp"
	case TypeDate:
		return "date"
	case TypeGeometry:
		return "geometry"
	}
	return "invalid type"
}

// Value is a typed value: a literal of a filter, or a property value handed
// to Eval. The zero Value is invalid.
type Value struct {
	typ  Type
	text string
	num  float64
	b    bool
	t    time.Time
	geom orb.Geometry
}

// Text returns a text value.
func Text(s string) Value { return Value{typ: TypeText, text: s} }

// Number returns a number value.
func Number(f float64) Value { return Value{typ: TypeNumber, num: f} }

// Bool returns a boolean value.
func Bool(b bool) Value { return Value{typ: TypeBool, b: b} }

// Timestamp returns a timestamp value (an instant, kept in UTC).
func Timestamp(t time.Time) Value { return Value{typ: TypeTimestamp, t: t.UTC()} }

// Date returns the calendar date of t (its year, month and day in t's own
// location) as a date value.
func Date(t time.Time) Value {
	return Value{typ: TypeDate, t: time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)}
}

// Geometry returns a geometry value: an orb point, line string, polygon,
// their multi forms, a collection of them or a bound, in lon/lat.
func Geometry(g orb.Geometry) Value { return Value{typ: TypeGeometry, geom: g} }

// Type returns the value's type, 0 for the zero Value.
func (v Value) Type() Type { return v.typ }

// Str returns a text value's string.
func (v Value) Str() string { return v.text }

// Num returns a number value's float.
func (v Value) Num() float64 { return v.num }

// BoolValue returns a boolean value's bool.
func (v Value) BoolValue() bool { return v.b }

// Time returns a timestamp's instant (UTC) or a date's midnight UTC.
func (v Value) Time() time.Time { return v.t }

// Geom returns a geometry value's geometry.
func (v Value) Geom() orb.Geometry { return v.geom }

// String writes the value as a CQL2 text literal.
func (v Value) String() string {
	var b strings.Builder
	v.write(&b)
	return b.String()
}

func (v Value) write(b *strings.Builder) {
	switch v.typ {
	case TypeText:
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(v.text, "'", "''"))
		b.WriteByte('\'')
	case TypeNumber:
		b.WriteString(formatNumber(v.num))
	case TypeBool:
		if v.b {
			b.WriteString("TRUE")
		} else {
			b.WriteString("FALSE")
		}
	case TypeTimestamp:
		b.WriteString("TIMESTAMP('")
		b.WriteString(v.t.Format(time.RFC3339Nano))
		b.WriteString("')")
	case TypeDate:
		b.WriteString("DATE('")
		b.WriteString(v.t.Format(time.DateOnly))
		b.WriteString("')")
	case TypeGeometry:
		writeGeometry(b, v.geom)
	default:
		b.WriteString("<invalid>")
	}
}

// formatNumber writes the shortest text that parses back to f, in plain
// notation unless the exponent is large.
func formatNumber(f float64) string {
	if a := math.Abs(f); a == 0 || (a >= 1e-6 && a < 1e21) {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Expr is a boolean expression: one of *And, *Or, *Not, *BoolLiteral,
// *Compare, *IsNull, *Like, *Between, *In, *Intersects. String writes it
// back as CQL2 text that parses to an equal expression.
type Expr interface {
	String() string
	write(b *strings.Builder)
	prec() int
}

// Property is a reference to a property by name, with the byte offset at
// which it was written.
type Property struct {
	Name string
	Pos  int
}

// Literal is a literal value with the byte offset at which it was written.
type Literal struct {
	Value Value
	Pos   int
}

// Op is a binary comparison operator.
type Op uint8

// The comparison operators.
const (
	Eq Op = iota + 1 // =
	Ne               // <>
	Lt               // <
	Gt               // >
	Le               // <=
	Ge               // >=
)

func (o Op) String() string {
	switch o {
	case Eq:
		return "="
	case Ne:
		return "<>"
	case Lt:
		return "<"
	case Gt:
		return ">"
	case Le:
		return "<="
	case Ge:
		return ">="
	}
	return "?"
}

// flip returns the operator that means the same with its operands swapped.
func (o Op) flip() Op {
	switch o {
	case Lt:
		return Gt
	case Gt:
		return Lt
	case Le:
		return Ge
	case Ge:
		return Le
	}
	return o
}

// And is true when every argument is (at least two).
type And struct{ Args []Expr }

// Or is true when any argument is (at least two).
type Or struct{ Args []Expr }

// Not negates its argument.
type Not struct{ X Expr }

// BoolLiteral is TRUE or FALSE standing alone as a predicate.
type BoolLiteral struct{ Value bool }

// Compare is "property op literal". A literal written on the left is stored
// here with the operator flipped.
type Compare struct {
	Prop Property
	Op   Op
	Lit  Literal
}

// IsNull is "property IS [NOT] NULL".
type IsNull struct {
	Prop Property
	Not  bool
}

// Like is "property [NOT] LIKE 'pattern'".
type Like struct {
	Prop    Property
	Pattern Literal // text
	Not     bool
}

// Between is "property [NOT] BETWEEN low AND high".
type Between struct {
	Prop      Property
	Low, High Literal
	Not       bool
}

// In is "property [NOT] IN (literal, ...)".
type In struct {
	Prop   Property
	Values []Literal
	Not    bool
}

// Intersects is "S_INTERSECTS(property, geometry literal)"; the literal's
// geometry is an orb.Bound for BBOX(...).
type Intersects struct {
	Prop Property
	Geom Literal
}

// Operator precedence for printing: a child binding looser than its parent
// is parenthesised.
const (
	precOr = iota + 1
	precAnd
	precNot
	precPredicate
)

func (e *And) prec() int         { return precAnd }
func (e *Or) prec() int          { return precOr }
func (e *Not) prec() int         { return precNot }
func (e *BoolLiteral) prec() int { return precPredicate }
func (e *Compare) prec() int     { return precPredicate }
func (e *IsNull) prec() int      { return precPredicate }
func (e *Like) prec() int        { return precPredicate }
func (e *Between) prec() int     { return precPredicate }
func (e *In) prec() int          { return precPredicate }
func (e *Intersects) prec() int  { return precPredicate }

func str(e Expr) string {
	var b strings.Builder
	e.write(&b)
	return b.String()
}

func (e *And) String() string         { return str(e) }
func (e *Or) String() string          { return str(e) }
func (e *Not) String() string         { return str(e) }
func (e *BoolLiteral) String() string { return str(e) }
func (e *Compare) String() string     { return str(e) }
func (e *IsNull) String() string      { return str(e) }
func (e *Like) String() string        { return str(e) }
func (e *Between) String() string     { return str(e) }
func (e *In) String() string          { return str(e) }
func (e *Intersects) String() string  { return str(e) }

// writeChild writes x, in parentheses when it binds no tighter than its
// parent (an AND inside an AND came from parentheses and keeps them).
func writeChild(b *strings.Builder, x Expr, parent int) {
	if x.prec() <= parent {
		b.WriteByte('(')
		x.write(b)
		b.WriteByte(')')
		return
	}
	x.write(b)
}

func writeList(b *strings.Builder, args []Expr, sep string, prec int) {
	for i, a := range args {
		if i > 0 {
			b.WriteString(sep)
		}
		writeChild(b, a, prec)
	}
}

func (e *And) write(b *strings.Builder) { writeList(b, e.Args, " AND ", precAnd) }
func (e *Or) write(b *strings.Builder)  { writeList(b, e.Args, " OR ", precOr) }

func (e *Not) write(b *strings.Builder) {
	b.WriteString("NOT ")
	writeChild(b, e.X, precAnd)
}

func (e *BoolLiteral) write(b *strings.Builder) { Bool(e.Value).write(b) }

func (e *Compare) write(b *strings.Builder) {
	writeProperty(b, e.Prop.Name)
	b.WriteByte(' ')
	b.WriteString(e.Op.String())
	b.WriteByte(' ')
	e.Lit.Value.write(b)
}

func (e *IsNull) write(b *strings.Builder) {
	writeProperty(b, e.Prop.Name)
	if e.Not {
		b.WriteString(" IS NOT NULL")
	} else {
		b.WriteString(" IS NULL")
	}
}

func writeNot(b *strings.Builder, not bool) {
	if not {
		b.WriteString(" NOT")
	}
}

func (e *Like) write(b *strings.Builder) {
	writeProperty(b, e.Prop.Name)
	writeNot(b, e.Not)
	b.WriteString(" LIKE ")
	e.Pattern.Value.write(b)
}

func (e *Between) write(b *strings.Builder) {
	writeProperty(b, e.Prop.Name)
	writeNot(b, e.Not)
	b.WriteString(" BETWEEN ")
	e.Low.Value.write(b)
	b.WriteString(" AND ")
	e.High.Value.write(b)
}

func (e *In) write(b *strings.Builder) {
	writeProperty(b, e.Prop.Name)
	writeNot(b, e.Not)
	b.WriteString(" IN (")
	for i, v := range e.Values {
		if i > 0 {
			b.WriteString(", ")
		}
		v.Value.write(b)
	}
	b.WriteByte(')')
}

func (e *Intersects) write(b *strings.Builder) {
	b.WriteString("S_INTERSECTS(")
	writeProperty(b, e.Prop.Name)
	b.WriteString(", ")
	e.Geom.Value.write(b)
	b.WriteByte(')')
}

// writeProperty writes a property name bare when it reads back as the same
// identifier, otherwise in double quotes.
func writeProperty(b *strings.Builder, name string) {
	if isPlainIdentifier(name) && !isKeyword(name) {
		b.WriteString(name)
		return
	}
	b.WriteByte('"')
	b.WriteString(name)
	b.WriteByte('"')
}

// Walk calls fn for e and, while fn returns true, for each of its
// sub-expressions, depth first.
func Walk(e Expr, fn func(Expr) bool) {
	if e == nil || !fn(e) {
		return
	}
	switch e := e.(type) {
	case *And:
		for _, a := range e.Args {
			Walk(a, fn)
		}
	case *Or:
		for _, a := range e.Args {
			Walk(a, fn)
		}
	case *Not:
		Walk(e.X, fn)
	}
}

// Properties returns the names of the properties e refers to, each once, in
// order of first use.
func Properties(e Expr) []string {
	var names []string
	seen := map[string]bool{}
	Walk(e, func(x Expr) bool {
		if p, ok := propertyOf(x); ok && !seen[p.Name] {
			seen[p.Name] = true
			names = append(names, p.Name)
		}
		return true
	})
	return names
}

func propertyOf(e Expr) (Property, bool) {
	switch e := e.(type) {
	case *Compare:
		return e.Prop, true
	case *IsNull:
		return e.Prop, true
	case *Like:
		return e.Prop, true
	case *Between:
		return e.Prop, true
	case *In:
		return e.Prop, true
	case *Intersects:
		return e.Prop, true
	}
	return Property{}, false
}
