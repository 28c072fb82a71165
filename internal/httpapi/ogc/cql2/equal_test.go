package cql2

import "github.com/paulmach/orb"

// equalExpr compares two expressions by structure and values, ignoring
// source offsets.
func equalExpr(a, b Expr) bool {
	switch a := a.(type) {
	case *And:
		b, ok := b.(*And)
		return ok && equalList(a.Args, b.Args)
	case *Or:
		b, ok := b.(*Or)
		return ok && equalList(a.Args, b.Args)
	case *Not:
		b, ok := b.(*Not)
		return ok && equalExpr(a.X, b.X)
	case *BoolLiteral:
		b, ok := b.(*BoolLiteral)
		return ok && a.Value == b.Value
	case *Compare:
		b, ok := b.(*Compare)
		return ok && a.Prop.Name == b.Prop.Name && a.Op == b.Op && equalValue(a.Lit.Value, b.Lit.Value)
	case *IsNull:
		b, ok := b.(*IsNull)
		return ok && a.Prop.Name == b.Prop.Name && a.Not == b.Not
	case *Like:
		b, ok := b.(*Like)
		return ok && a.Prop.Name == b.Prop.Name && a.Not == b.Not && equalValue(a.Pattern.Value, b.Pattern.Value)
	case *Between:
		b, ok := b.(*Between)
		return ok && a.Prop.Name == b.Prop.Name && a.Not == b.Not &&
			equalValue(a.Low.Value, b.Low.Value) && equalValue(a.High.Value, b.High.Value)
	case *In:
		b, ok := b.(*In)
		if !ok || a.Prop.Name != b.Prop.Name || a.Not != b.Not || len(a.Values) != len(b.Values) {
			return false
		}
		for i := range a.Values {
			if !equalValue(a.Values[i].Value, b.Values[i].Value) {
				return false
			}
		}
		return true
	case *Intersects:
		b, ok := b.(*Intersects)
		return ok && a.Prop.Name == b.Prop.Name && equalValue(a.Geom.Value, b.Geom.Value)
	}
	return false
}

func equalList(a, b []Expr) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !equalExpr(a[i], b[i]) {
			return false
		}
	}
	return true
}

func equalValue(a, b Value) bool {
	if a.typ != b.typ {
		return false
	}
	switch a.typ {
	case TypeText:
		return a.text == b.text
	case TypeNumber:
		return a.num == b.num
	case TypeBool:
		return a.b == b.b
	case TypeTimestamp, TypeDate:
		return a.t.Equal(b.t)
	case TypeGeometry:
		if ab, ok := a.geom.(orb.Bound); ok {
			bb, ok := b.geom.(orb.Bound)
			return ok && ab == bb
		}
		return orb.Equal(a.geom, b.geom)
	}
	return false
}
