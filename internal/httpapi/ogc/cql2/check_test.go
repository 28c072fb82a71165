package cql2

import (
	"errors"
	"strings"
	"testing"

	"github.com/paulmach/orb"
)

func TestCheckTypeErrors(t *testing.T) {
	types := map[string]Type{"at": TypeTimestamp, "n": TypeNumber, "ok": TypeBool, "geom": TypeGeometry, "s": TypeText}
	cases := []struct{ filter, msg string }{
		{`at > 4`, `property "at" is a timestamp; 4 is a number`},
		{`at > DATE('2024-01-01')`, `write TIMESTAMP`},
		{`n = '1'`, `property "n" is a number; '1' is a text`},
		{`ok < TRUE`, `can only be compared with = and <>`},
		{`geom = 'x'`, `compare it with S_INTERSECTS`},
		{`n LIKE 'x'`, `LIKE needs a text property`},
		{`s BETWEEN 'a' AND 'b'`, `BETWEEN needs a number, timestamp or date property`},
		{`n BETWEEN 1 AND '2'`, `'2' is a text`},
		{`n IN (1, 'x')`, `'x' is a text`},
		{`S_INTERSECTS(s, POINT(0 0))`, `S_INTERSECTS needs a geometry property`},
		// An error is found even where the other operand already decides.
		{`n = 2 AND at > 4`, `property "at" is a timestamp`},
	}
	for _, c := range cases {
		e, err := Parse(c.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.filter, err)
		}
		err = Check(e, types)
		var pe *Error
		if !errors.As(err, &pe) || !strings.Contains(pe.Msg, c.msg) {
			t.Errorf("Check(%q) error = %v, want %q", c.filter, err, c.msg)
		}
	}
}

func TestCheck(t *testing.T) {
	types := map[string]Type{"at": TypeTimestamp, "name": TypeText}
	e, _ := Parse(`name = 'x' AND nope > 3`)
	err := Check(e, types)
	var pe *Error
	if !errors.As(err, &pe) || pe.Property != "nope" || pe.Offset != 15 || err.Error() != `cql2: at offset 15: unknown property "nope"` {
		t.Errorf("Check = %v (%+v)", err, pe)
	}
	e, _ = Parse(`at >= 20240501`)
	if err := Check(e, types); err == nil || !strings.Contains(err.Error(), `at offset 6: property "at" is a timestamp; 20240501 is a number`) {
		t.Errorf("Check = %v", err)
	}
	e, _ = Parse(`at >= TIMESTAMP('2024-05-01T00:00:00Z') OR name LIKE 'a%'`)
	if err := Check(e, types); err != nil {
		t.Errorf("Check = %v", err)
	}
}

// TestCheckHandMade: trees built in code rather than parsed are checked
// before they can reach SQL.
func TestCheckHandMade(t *testing.T) {
	types := map[string]Type{"g": TypeGeometry, "s": TypeText, "n": TypeNumber}
	p := func(name string) Property { return Property{Name: name} }
	bad := []Expr{
		&And{},
		&Or{},
		&Not{},
		&Compare{Prop: p("n"), Op: 0, Lit: Literal{Value: Number(1)}},
		&Compare{Prop: p("n"), Op: Eq},
		&Like{Prop: p("s"), Pattern: Literal{Value: Number(1)}},
		&Like{Prop: p("s"), Pattern: Literal{Value: Text(`a\`)}},
		&In{Prop: p("n")},
		&Intersects{Prop: p("g"), Geom: Literal{Value: Text("POINT(0 0)")}},
		&Intersects{Prop: p("g"), Geom: Literal{Value: Geometry(orb.Collection{orb.Bound{}})}},
	}
	for _, e := range bad {
		if err := Check(e, types); err == nil {
			t.Errorf("Check(%#v) = nil", e)
		}
	}
	good := &And{Args: []Expr{&Not{X: &BoolLiteral{Value: true}}, &In{Prop: p("n"), Values: []Literal{{Value: Number(1)}}}}}
	if err := Check(good, types); err != nil {
		t.Errorf("Check(%s) = %v", good, err)
	}
}
