package cql2

import (
	"errors"
	"fmt"
	"strings"
)

// Check reports the first property of e that types does not list (an
// *Error with Property set) or the first predicate whose literal does not fit
// its property's type (an *Error naming both).
func Check(e Expr, types map[string]Type) error {
	var err error
	Walk(e, func(x Expr) bool {
		if err != nil {
			return false
		}
		p, ok := propertyOf(x)
		if !ok {
			err = checkConnective(x)
			return err == nil
		}
		t, ok := types[p.Name]
		if !ok {
			err = &Error{Offset: p.Pos, Msg: fmt.Sprintf("unknown property %q", p.Name), Property: p.Name}
			return false
		}
		if e := checkPredicate(x, t); e != nil {
			err = e
		}
		return true
	})
	return err
}

// checkConnective rejects what Parse never builds but a hand-made tree
// could hold: an empty AND or OR, a NOT of nothing, an unknown node.
func checkConnective(x Expr) error {
	switch x := x.(type) {
	case *And:
		if len(x.Args) == 0 {
			return errors.New("cql2: AND without arguments")
		}
	case *Or:
		if len(x.Args) == 0 {
			return errors.New("cql2: OR without arguments")
		}
	case *Not:
		if x.X == nil {
			return errors.New("cql2: NOT without an argument")
		}
	case *BoolLiteral:
	default:
		return fmt.Errorf("cql2: unknown expression %T", x)
	}
	return nil
}

// checkPredicate says whether predicate x may apply to a property of type
// t: the one typing rule, used by Check before SQL and by Eval on each
// value.
func checkPredicate(x Expr, t Type) *Error {
	switch x := x.(type) {
	case *Compare:
		if t == TypeGeometry {
			return errorf(x.Prop.Pos, "property %q is a geometry; compare it with S_INTERSECTS", x.Prop.Name)
		}
		if err := checkLiteral(x.Prop, t, x.Lit); err != nil {
			return err
		}
		if x.Op < Eq || x.Op > Ge {
			return errorf(x.Prop.Pos, "invalid comparison operator")
		}
		if t == TypeBool && x.Op != Eq && x.Op != Ne {
			return errorf(x.Prop.Pos, "property %q is a boolean; it can only be compared with = and <>", x.Prop.Name)
		}
	case *Like:
		if t != TypeText {
			return errorf(x.Prop.Pos, "LIKE needs a text property; %q is a %s", x.Prop.Name, t)
		}
		if x.Pattern.Value.Type() != TypeText {
			return errorf(x.Pattern.Pos, "a LIKE pattern is a string")
		}
		return checkPattern(x.Pattern.Value.Str(), x.Pattern.Pos)
	case *Between:
		if t != TypeNumber && t != TypeTimestamp && t != TypeDate {
			return errorf(x.Prop.Pos, "BETWEEN needs a number, timestamp or date property; %q is a %s", x.Prop.Name, t)
		}
		if err := checkLiteral(x.Prop, t, x.Low); err != nil {
			return err
		}
		return checkLiteral(x.Prop, t, x.High)
	case *In:
		if t == TypeGeometry {
			return errorf(x.Prop.Pos, "IN cannot test a geometry property (%q)", x.Prop.Name)
		}
		if len(x.Values) == 0 {
			return errorf(x.Prop.Pos, "IN needs at least one value")
		}
		for _, v := range x.Values {
			if err := checkLiteral(x.Prop, t, v); err != nil {
				return err
			}
		}
	case *Intersects:
		if t != TypeGeometry {
			return errorf(x.Prop.Pos, "S_INTERSECTS needs a geometry property; %q is a %s", x.Prop.Name, t)
		}
		if x.Geom.Value.Type() != TypeGeometry || !supportedGeometry(x.Geom.Value.Geom()) {
			return errorf(x.Geom.Pos, "S_INTERSECTS needs a geometry literal")
		}
	}
	return nil
}

func checkLiteral(p Property, t Type, lit Literal) *Error {
	lt := lit.Value.Type()
	if lt == t {
		return nil
	}
	hint := ""
	switch {
	case t == TypeTimestamp && lt == TypeDate:
		hint = " (write TIMESTAMP('…'))"
	case t == TypeDate && lt == TypeTimestamp:
		hint = " (write DATE('…'))"
	case t == TypeTimestamp && lt == TypeText:
		hint = " (write TIMESTAMP('…'))"
	case t == TypeDate && lt == TypeText:
		hint = " (write DATE('…'))"
	}
	return errorf(lit.Pos, "property %q is a %s; %s is a %s%s", p.Name, t, lit.Value, lt, hint)
}

// tri is a truth value of SQL's three-valued logic.
type tri int8

const (
	tFalse tri = iota
	tTrue
	tUnknown
)

func triOf(b bool) tri {
	if b {
		return tTrue
	}
	return tFalse
}

func (v tri) not() tri {
	switch v {
	case tTrue:
		return tFalse
	case tFalse:
		return tTrue
	}
	return tUnknown
}

// Eval reports whether a feature whose properties props gives matches e.
// props returns false for a missing or NULL property, which makes the
// predicates on it unknown, as in SQL; the feature matches only when e is
// true. A value whose type does not fit a predicate is an *Error.
func Eval(e Expr, props func(name string) (Value, bool)) (bool, error) {
	v, err := eval(e, props)
	return v == tTrue, err
}

func eval(e Expr, props func(string) (Value, bool)) (tri, error) {
	switch e := e.(type) {
	case *And:
		out := tTrue
		for _, a := range e.Args {
			v, err := eval(a, props)
			if err != nil {
				return tUnknown, err
			}
			if v == tFalse || (v == tUnknown && out == tTrue) {
				out = v
			}
		}
		return out, nil
	case *Or:
		out := tFalse
		for _, a := range e.Args {
			v, err := eval(a, props)
			if err != nil {
				return tUnknown, err
			}
			if v == tTrue || (v == tUnknown && out == tFalse) {
				out = v
			}
		}
		return out, nil
	case *Not:
		v, err := eval(e.X, props)
		return v.not(), err
	case *BoolLiteral:
		return triOf(e.Value), nil
	}
	p, ok := propertyOf(e)
	if !ok {
		return tUnknown, fmt.Errorf("cql2: unknown expression %T", e)
	}
	val, present := props(p.Name)
	if n, ok := e.(*IsNull); ok {
		return triOf(present == n.Not), nil
	}
	if !present {
		return tUnknown, nil
	}
	if val.Type() < TypeText || val.Type() > TypeGeometry {
		return tUnknown, errorf(p.Pos, "property %q has an invalid value", p.Name)
	}
	if err := checkPredicate(e, val.Type()); err != nil {
		return tUnknown, err
	}
	switch e := e.(type) {
	case *Compare:
		return triOf(opHolds(e.Op, compare(val, e.Lit.Value))), nil
	case *Like:
		return triOf(likeMatch(compilePattern(e.Pattern.Value.Str()), val.Str()) != e.Not), nil
	case *Between:
		in := compare(val, e.Low.Value) >= 0 && compare(val, e.High.Value) <= 0
		return triOf(in != e.Not), nil
	case *In:
		in := false
		for _, v := range e.Values {
			in = in || compare(val, v.Value) == 0
		}
		return triOf(in != e.Not), nil
	case *Intersects:
		return triOf(intersects(val.Geom(), e.Geom.Value.Geom())), nil
	}
	return triOf(false), nil
}

func opHolds(op Op, c int) bool {
	switch op {
	case Eq:
		return c == 0
	case Ne:
		return c != 0
	case Lt:
		return c < 0
	case Gt:
		return c > 0
	case Le:
		return c <= 0
	case Ge:
		return c >= 0
	}
	return false
}

// compare orders two values of one scalar type: numbers as floats, text by
// code point (bytes of UTF-8), instants in time, FALSE before TRUE.
func compare(a, b Value) int {
	switch a.typ {
	case TypeNumber:
		switch {
		case a.num < b.num:
			return -1
		case a.num > b.num:
			return 1
		}
		return 0
	case TypeText:
		return strings.Compare(a.text, b.text)
	case TypeTimestamp, TypeDate:
		return a.t.Compare(b.t)
	case TypeBool:
		switch {
		case a.b == b.b:
			return 0
		case b.b:
			return -1
		}
		return 1
	}
	return 0
}

type likeItem struct {
	kind byte // 'c' a character, '_' any one, '%' any run
	r    rune
}

// compilePattern reads a LIKE pattern: % and _ are wildcards, \ makes the
// next character literal.
func compilePattern(pat string) []likeItem {
	var items []likeItem
	esc := false
	for _, r := range pat {
		switch {
		case esc:
			items = append(items, likeItem{kind: 'c', r: r})
			esc = false
		case r == '\\':
			esc = true
		case r == '%':
			items = append(items, likeItem{kind: '%'})
		case r == '_':
			items = append(items, likeItem{kind: '_'})
		default:
			items = append(items, likeItem{kind: 'c', r: r})
		}
	}
	return items
}

// likeMatch matches s against a compiled pattern in O(len(s)·len(items)),
// backtracking only to the last %.
func likeMatch(items []likeItem, s string) bool {
	rs := []rune(s)
	i, j := 0, 0
	star, mark := -1, 0
	for j < len(rs) {
		switch {
		case i < len(items) && (items[i].kind == '_' || (items[i].kind == 'c' && items[i].r == rs[j])):
			i++
			j++
		case i < len(items) && items[i].kind == '%':
			star, mark = i, j
			i++
		case star >= 0:
			mark++
			i, j = star+1, mark
		default:
			return false
		}
	}
	for i < len(items) && items[i].kind == '%' {
		i++
	}
	return i == len(items)
}
