package cql2

import (
	"errors"
	"fmt"
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
