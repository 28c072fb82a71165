package cql2

import (
	"fmt"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
)

// Error is the one error type of the package: a message about the filter
// text at a byte offset. Property is set when the error is an unknown
// property (Check), so the caller can list the queryables. It
// unwraps to a *grid.Error of kind grid.Invalid.
type Error struct {
	Offset   int
	Msg      string
	Property string
}

func (e *Error) Error() string { return fmt.Sprintf("cql2: at offset %d: %s", e.Offset, e.Msg) }

// Unwrap gives the domain's view of the error: invalid input, with this
// error's text as the client-safe message.
func (e *Error) Unwrap() error { return &grid.Error{Kind: grid.Invalid, Message: e.Error()} }

func errorf(pos int, format string, args ...any) *Error {
	return &Error{Offset: pos, Msg: fmt.Sprintf(format, args...)}
}

// The limits Parse applies to outside input.
const (
	MaxLength   = 8 << 10 // bytes of filter text
	MaxDepth    = 64      // nesting of parentheses, NOT and geometry collections
	MaxVertices = 10000   // coordinates in all geometry literals together
)

// Limits bound what a parse accepts; a zero field takes the package's
// default (MaxLength, MaxDepth, MaxVertices).
type Limits struct {
	MaxLength, MaxDepth, MaxVertices int
}

// Parse parses a CQL2 text filter within the default limits. Every error is
// an *Error.
func Parse(s string) (Expr, error) { return Limits{}.Parse(s) }

// Parse parses a CQL2 text filter within l. Every error is an *Error.
func (l Limits) Parse(s string) (Expr, error) {
	if l.MaxLength <= 0 {
		l.MaxLength = MaxLength
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = MaxDepth
	}
	if l.MaxVertices <= 0 {
		l.MaxVertices = MaxVertices
	}
	if len(s) > l.MaxLength {
		return nil, errorf(l.MaxLength, "filter longer than %d bytes", l.MaxLength)
	}
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, limits: l}
	if p.peek().kind == tEOF {
		return nil, errorf(0, "empty filter")
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tRParen {
			return nil, errorf(t.pos, "unbalanced ')'")
		}
		if t.kind == tArith {
			return nil, errorf(t.pos, "arithmetic (%s) is not supported", t.text)
		}
		return nil, errorf(t.pos, "expected AND, OR or end of filter, found %s", t.describe())
	}
	return e, nil
}

type parser struct {
	toks     []token
	i        int
	depth    int
	vertices int
	limits   Limits
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) peekAt(k int) token {
	if p.i+k >= len(p.toks) {
		return p.toks[len(p.toks)-1]
	}
	return p.toks[p.i+k]
}

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

// isWord reports whether t is the bare keyword k (upper case).
func isWord(t token, k string) bool { return t.kind == tIdent && equalFoldASCII(t.text, k) }

func (p *parser) atWord(k string) bool { return isWord(p.peek(), k) }

func (p *parser) expect(kind tokKind, what string) (token, error) {
	t := p.peek()
	if t.kind != kind {
		return t, errorf(t.pos, "expected %s, found %s", what, t.describe())
	}
	return p.next(), nil
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > p.limits.MaxDepth {
		return errorf(pos, "filter nested deeper than %d levels", p.limits.MaxDepth)
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// parseOr: andExpr {OR andExpr}.
func (p *parser) parseOr() (Expr, error) {
	x, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	args := []Expr{x}
	for p.atWord("OR") {
		p.next()
		y, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		args = append(args, y)
	}
	if len(args) == 1 {
		return x, nil
	}
	return &Or{Args: args}, nil
}

// parseAnd: notExpr {AND notExpr}.
func (p *parser) parseAnd() (Expr, error) {
	x, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	args := []Expr{x}
	for p.atWord("AND") {
		p.next()
		y, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		args = append(args, y)
	}
	if len(args) == 1 {
		return x, nil
	}
	return &And{Args: args}, nil
}

// parseNot: NOT notExpr | primary.
func (p *parser) parseNot() (Expr, error) {
	if !p.atWord("NOT") {
		return p.parsePrimary()
	}
	t := p.next()
	if err := p.enter(t.pos); err != nil {
		return nil, err
	}
	x, err := p.parseNot()
	p.leave()
	if err != nil {
		return nil, err
	}
	return &Not{X: x}, nil
}

// parsePrimary: ( expr ) | TRUE | FALSE | S_INTERSECTS(…) | predicate.
func (p *parser) parsePrimary() (Expr, error) {
	t := p.peek()
	switch t.kind {
	case tLParen:
		p.next()
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		x, err := p.parseOr()
		p.leave()
		if err != nil {
			return nil, err
		}
		if _, err := p.expect(tRParen, "')'"); err != nil {
			return nil, err
		}
		return x, nil
	case tEOF:
		return nil, errorf(t.pos, "unexpected end of filter, expected a predicate")
	case tString, tNumber, tArith:
		return p.parseLiteralFirst()
	case tQuotedIdent:
		p.next()
		return p.parseAfterProperty(Property{Name: t.text, Pos: t.pos})
	case tIdent:
		if p.peekAt(1).kind == tLParen {
			return p.parseCall()
		}
		if isWord(t, "TRUE") || isWord(t, "FALSE") {
			if p.peekAt(1).kind == tOp {
				return p.parseLiteralFirst()
			}
			p.next()
			return &BoolLiteral{Value: isWord(t, "TRUE")}, nil
		}
		if isReserved(t.text) {
			return nil, errorf(t.pos, "expected a predicate, found keyword %s", upperASCII(t.text))
		}
		p.next()
		return p.parseAfterProperty(Property{Name: t.text, Pos: t.pos})
	}
	return nil, errorf(t.pos, "expected a predicate, found %s", t.describe())
}

// parseCall handles a word followed by '(': S_INTERSECTS, a literal on the
// left of a comparison, or something basic CQL2 does not have.
func (p *parser) parseCall() (Expr, error) {
	t := p.peek()
	name := upperASCII(t.text)
	switch {
	case name == "S_INTERSECTS":
		return p.parseIntersects()
	case name == "DATE" || name == "TIMESTAMP":
		return p.parseLiteralFirst()
	case isGeometryWord(name):
		return nil, errorf(t.pos, "a geometry literal can only be an argument of S_INTERSECTS")
	case strings.HasPrefix(name, "S_"):
		return nil, errorf(t.pos, "spatial operator %s is not supported (only S_INTERSECTS)", name)
	case strings.HasPrefix(name, "T_"), strings.HasPrefix(name, "A_"), name == "INTERVAL", name == "CASEI", name == "ACCENTI":
		return nil, errorf(t.pos, "%s is not supported", name)
	}
	return nil, errorf(t.pos, "function %s(…) is not supported (basic CQL2 has no functions)", t.text)
}

// parseAfterProperty parses the rest of a predicate whose property has been
// read.
func (p *parser) parseAfterProperty(prop Property) (Expr, error) {
	t := p.peek()
	switch {
	case t.kind == tOp:
		p.next()
		if q := p.peek(); q.kind == tQuotedIdent || (q.kind == tIdent && !isReserved(q.text) && !isLiteralWord(q) && p.peekAt(1).kind != tLParen) {
			return nil, errorf(q.pos, "comparing two properties is not supported, expected a literal after '%s'", t.op)
		}
		lit, err := p.parseLiteral("after '" + t.op.String() + "'")
		if err != nil {
			return nil, err
		}
		return &Compare{Prop: prop, Op: t.op, Lit: lit}, nil
	case isWord(t, "IS"):
		p.next()
		not := false
		if p.atWord("NOT") {
			p.next()
			not = true
		}
		if !p.atWord("NULL") {
			q := p.peek()
			return nil, errorf(q.pos, "expected NULL after IS, found %s", q.describe())
		}
		p.next()
		return &IsNull{Prop: prop, Not: not}, nil
	case isWord(t, "NOT"):
		p.next()
		q := p.peek()
		if !isWord(q, "LIKE") && !isWord(q, "BETWEEN") && !isWord(q, "IN") {
			return nil, errorf(q.pos, "expected LIKE, BETWEEN or IN after NOT, found %s", q.describe())
		}
		return p.parseAdvanced(prop, true)
	case isWord(t, "LIKE") || isWord(t, "BETWEEN") || isWord(t, "IN"):
		return p.parseAdvanced(prop, false)
	case t.kind == tArith:
		return nil, errorf(t.pos, "arithmetic (%s) is not supported", t.text)
	}
	return nil, errorf(t.pos, "expected a comparison operator, IS, LIKE, BETWEEN or IN after property %q, found %s", prop.Name, t.describe())
}

// parseAdvanced parses LIKE, BETWEEN or IN after the property (and NOT).
func (p *parser) parseAdvanced(prop Property, not bool) (Expr, error) {
	t := p.next()
	switch upperASCII(t.text) {
	case "LIKE":
		if q := p.peek(); isWord(q, "CASEI") || isWord(q, "ACCENTI") {
			return nil, errorf(q.pos, "%s is not supported", upperASCII(q.text))
		}
		q, err := p.expect(tString, "a string pattern after LIKE")
		if err != nil {
			return nil, err
		}
		if err := checkPattern(q.text, q.pos); err != nil {
			return nil, err
		}
		return &Like{Prop: prop, Pattern: Literal{Value: Text(q.text), Pos: q.pos}, Not: not}, nil
	case "BETWEEN":
		lo, err := p.parseLiteral("after BETWEEN")
		if err != nil {
			return nil, err
		}
		if !p.atWord("AND") {
			q := p.peek()
			return nil, errorf(q.pos, "expected AND in BETWEEN, found %s", q.describe())
		}
		p.next()
		hi, err := p.parseLiteral("after BETWEEN … AND")
		if err != nil {
			return nil, err
		}
		return &Between{Prop: prop, Low: lo, High: hi, Not: not}, nil
	}
	if _, err := p.expect(tLParen, "'(' after IN"); err != nil {
		return nil, err
	}
	var vals []Literal
	for {
		v, err := p.parseLiteral("in the IN list")
		if err != nil {
			return nil, err
		}
		vals = append(vals, v)
		if p.peek().kind != tComma {
			break
		}
		p.next()
	}
	if _, err := p.expect(tRParen, "',' or ')' in the IN list"); err != nil {
		return nil, err
	}
	return &In{Prop: prop, Values: vals, Not: not}, nil
}

// checkPattern rejects a LIKE pattern that ends in a lone escape, which
// PostgreSQL refuses.
func checkPattern(pat string, pos int) *Error {
	for i := 0; i < len(pat); i++ {
		if pat[i] == '\\' {
			if i+1 == len(pat) {
				return errorf(pos, "LIKE pattern ends with the escape character \\")
			}
			i++
		}
	}
	return nil
}

// parseLiteralFirst parses "literal op property", stored as "property op'
// literal".
func (p *parser) parseLiteralFirst() (Expr, error) {
	lit, err := p.parseLiteral("")
	if err != nil {
		return nil, err
	}
	t := p.peek()
	if t.kind != tOp {
		if t.kind == tArith {
			return nil, errorf(t.pos, "arithmetic (%s) is not supported", t.text)
		}
		return nil, errorf(t.pos, "expected a comparison operator after the literal, found %s", t.describe())
	}
	p.next()
	q := p.peek()
	switch {
	case q.kind == tQuotedIdent || (q.kind == tIdent && !isLiteralWord(q) && p.peekAt(1).kind != tLParen && !isReserved(q.text)):
		p.next()
		if r := p.peek(); r.kind == tArith {
			return nil, errorf(r.pos, "arithmetic (%s) is not supported", r.text)
		}
		return &Compare{Prop: Property{Name: q.text, Pos: q.pos}, Op: t.op.flip(), Lit: lit}, nil
	case q.kind == tIdent && p.peekAt(1).kind == tLParen && !isLiteralWord(q):
		return nil, errorf(q.pos, "function %s(…) is not supported (basic CQL2 has no functions)", q.text)
	case q.kind == tEOF:
		return nil, errorf(q.pos, "unexpected end of filter, expected a property after '%s'", t.op)
	}
	return nil, errorf(q.pos, "a comparison needs a property on one side, found %s after '%s'", q.describe(), t.op)
}

// isLiteralWord reports whether t starts a literal: TRUE, FALSE, DATE(…),
// TIMESTAMP(…).
func isLiteralWord(t token) bool {
	return isWord(t, "TRUE") || isWord(t, "FALSE") || isWord(t, "DATE") || isWord(t, "TIMESTAMP")
}

// parseLiteral parses a scalar literal; ctx completes "expected a literal …".
func (p *parser) parseLiteral(ctx string) (Literal, error) {
	t := p.peek()
	fail := func(t token) (Literal, error) {
		msg := "expected a literal"
		if ctx != "" {
			msg += " " + ctx
		}
		return Literal{}, errorf(t.pos, "%s, found %s", msg, t.describe())
	}
	switch t.kind {
	case tString:
		p.next()
		return Literal{Value: Text(t.text), Pos: t.pos}, nil
	case tNumber:
		p.next()
		return Literal{Value: Number(t.num), Pos: t.pos}, nil
	case tArith:
		if (t.text == "-" || t.text == "+") && p.peekAt(1).kind == tNumber {
			p.next()
			n := p.next()
			f := n.num
			if t.text == "-" {
				f = -f
			}
			return Literal{Value: Number(f), Pos: t.pos}, nil
		}
		return fail(t)
	case tIdent:
		switch {
		case isWord(t, "TRUE"), isWord(t, "FALSE"):
			p.next()
			return Literal{Value: Bool(isWord(t, "TRUE")), Pos: t.pos}, nil
		case (isWord(t, "DATE") || isWord(t, "TIMESTAMP")) && p.peekAt(1).kind == tLParen:
			return p.parseInstant()
		case isWord(t, "NULL"):
			return Literal{}, errorf(t.pos, "NULL is not a value; write IS NULL or IS NOT NULL")
		case isGeometryWord(upperASCII(t.text)) && p.peekAt(1).kind == tLParen:
			return Literal{}, errorf(t.pos, "a geometry literal can only be an argument of S_INTERSECTS")
		}
	}
	return fail(t)
}

// parseInstant parses DATE('YYYY-MM-DD') or TIMESTAMP('…').
func (p *parser) parseInstant() (Literal, error) {
	kw := p.next()
	p.next() // (
	s, err := p.expect(tString, "a quoted "+strings.ToLower(upperASCII(kw.text))+" string")
	if err != nil {
		return Literal{}, err
	}
	if _, err := p.expect(tRParen, "')'"); err != nil {
		return Literal{}, err
	}
	if equalFoldASCII(kw.text, "DATE") {
		d, err := time.Parse(time.DateOnly, s.text)
		if err != nil || !hasShape(s.text, "dddd-dd-dd") || d.Year() < 1 {
			return Literal{}, errorf(s.pos, "invalid date %q, expected YYYY-MM-DD", s.text)
		}
		return Literal{Value: Date(d), Pos: kw.pos}, nil
	}
	ts, err := time.Parse(time.RFC3339Nano, s.text)
	if err != nil || !isTimestampShape(s.text) {
		return Literal{}, errorf(s.pos, "invalid timestamp %q, expected RFC 3339 such as 2024-05-01T08:00:00Z", s.text)
	}
	if frac := fractionDigits(s.text); frac > 6 {
		return Literal{}, errorf(s.pos, "timestamp %q has %d fractional digits; at most 6 (microseconds)", s.text, frac)
	}
	if y := ts.UTC().Year(); y < 1 || y > 9999 {
		return Literal{}, errorf(s.pos, "timestamp %q is out of range", s.text)
	}
	return Literal{Value: Timestamp(ts), Pos: kw.pos}, nil
}

// isTimestampShape checks the exact RFC 3339 form
// YYYY-MM-DDTHH:MM:SS[.f…](Z|±HH:MM), which time.Parse is laxer about
// (one-digit hours, a comma before the fraction).
func isTimestampShape(s string) bool {
	const layout = "dddd-dd-ddTdd:dd:dd"
	if len(s) <= len(layout) || !hasShape(s[:len(layout)], layout) {
		return false
	}
	rest := s[len(layout):]
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && isDigit(rest[n]) {
			n++
		}
		if n == 1 {
			return false
		}
		rest = rest[n:]
	}
	if rest == "Z" {
		return true
	}
	return len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') &&
		isDigit(rest[1]) && isDigit(rest[2]) && rest[3] == ':' && isDigit(rest[4]) && isDigit(rest[5])
}

// hasShape reports whether s matches layout, where 'd' stands for a digit
// and every other byte for itself.
func hasShape(s, layout string) bool {
	if len(s) != len(layout) {
		return false
	}
	for i := 0; i < len(layout); i++ {
		if layout[i] == 'd' && !isDigit(s[i]) || layout[i] != 'd' && s[i] != layout[i] {
			return false
		}
	}
	return true
}

// fractionDigits counts the digits after the seconds of an RFC 3339 time.
func fractionDigits(s string) int {
	const secondsEnd = len("2006-01-02T15:04:05")
	if len(s) <= secondsEnd || s[secondsEnd] != '.' {
		return 0
	}
	n := 0
	for i := secondsEnd + 1; i < len(s) && isDigit(s[i]); i++ {
		n++
	}
	return n
}

// parseIntersects parses S_INTERSECTS(a, b), one a property, the other a
// geometry literal, in either order.
func (p *parser) parseIntersects() (Expr, error) {
	kw := p.next()
	p.next() // (
	var prop *Property
	var lit *Literal
	for i := 0; i < 2; i++ {
		if i == 1 {
			if _, err := p.expect(tComma, "',' between the arguments of S_INTERSECTS"); err != nil {
				return nil, err
			}
		}
		t := p.peek()
		switch {
		case t.kind == tIdent && isGeometryWord(upperASCII(t.text)) && p.peekAt(1).kind != tComma && p.peekAt(1).kind != tRParen:
			if lit != nil {
				return nil, errorf(t.pos, "S_INTERSECTS needs a property; both arguments are literals")
			}
			g, err := p.parseGeometry()
			if err != nil {
				return nil, err
			}
			lit = &Literal{Value: Geometry(g), Pos: t.pos}
		case t.kind == tQuotedIdent || (t.kind == tIdent && p.peekAt(1).kind != tLParen && !isReserved(t.text)):
			if prop != nil {
				return nil, errorf(t.pos, "comparing two geometry properties is not supported; S_INTERSECTS needs a geometry literal")
			}
			p.next()
			prop = &Property{Name: t.text, Pos: t.pos}
		case t.kind == tIdent && p.peekAt(1).kind == tLParen:
			return nil, errorf(t.pos, "function %s(…) is not supported (basic CQL2 has no functions)", t.text)
		default:
			return nil, errorf(t.pos, "expected a geometry property or a geometry literal in S_INTERSECTS, found %s", t.describe())
		}
	}
	if _, err := p.expect(tRParen, "')' closing S_INTERSECTS"); err != nil {
		return nil, err
	}
	if prop == nil || lit == nil {
		return nil, errorf(kw.pos, "S_INTERSECTS needs a property and a geometry literal")
	}
	return &Intersects{Prop: *prop, Geom: *lit}, nil
}
