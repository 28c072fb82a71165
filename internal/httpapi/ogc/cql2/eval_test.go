package cql2

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
)

func TestEval(t *testing.T) {
	props := map[string]Value{
		"city":  Text("Toronto"),
		"n":     Number(3),
		"ok":    Bool(true),
		"at":    Timestamp(time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)),
		"day":   Date(time.Date(2024, 5, 1, 23, 0, 0, 0, time.FixedZone("CST", 8*3600))),
		"geom":  Geometry(orb.Point{121.15, 28.85}),
		"empty": Text(""),
	}
	get := func(name string) (Value, bool) { v, ok := props[name]; return v, ok }
	cases := []struct {
		filter string
		want   bool
	}{
		{`city = 'Toronto'`, true},
		{`city <> 'Toronto'`, false},
		{`city < 'Tp'`, true},
		{`city > 'toronto'`, false}, // code point order: 'T' < 't'
		{`n = 3`, true},
		{`n >= 3.0 AND n < 3.5`, true},
		{`4 > n`, true},
		{`ok = TRUE`, true},
		{`ok <> TRUE`, false},
		{`at = TIMESTAMP('2024-05-01T16:00:00+08:00')`, true},
		{`at < TIMESTAMP('2024-05-01T08:00:00.000001Z')`, true},
		{`day = DATE('2024-05-01')`, true},
		{`day > DATE('2024-04-30')`, true},
		{`city IS NULL`, false},
		{`city IS NOT NULL`, true},
		{`missing IS NULL`, true},
		{`missing IS NOT NULL`, false},
		{`city LIKE 'Tor%'`, true},
		{`city LIKE 'T_r_nto'`, true},
		{`city LIKE 'tor%'`, false},
		{`city NOT LIKE '%x%'`, true},
		{`empty LIKE '%'`, true},
		{`empty LIKE '_'`, false},
		{`n BETWEEN 3 AND 4`, true},
		{`n BETWEEN 4 AND 3`, false},
		{`n NOT BETWEEN 1 AND 2`, true},
		{`city IN ('Ottawa', 'Toronto')`, true},
		{`city NOT IN ('Ottawa', 'Toronto')`, false},
		{`S_INTERSECTS(geom, BBOX(121.1, 28.8, 121.2, 28.9))`, true},
		{`S_INTERSECTS(geom, BBOX(121.15, 28.85, 121.2, 28.9))`, true}, // on the corner
		{`S_INTERSECTS(geom, BBOX(121.16, 28.8, 121.2, 28.9))`, false},
		{`TRUE`, true},
		{`NOT TRUE`, false},
		// Three-valued logic: a missing property makes its predicate unknown.
		{`missing = 1`, false},
		{`NOT missing = 1`, false},
		{`missing = 1 OR n = 3`, true},
		{`missing = 1 OR n = 4`, false},
		{`NOT (missing = 1 OR n = 4)`, false},
		{`missing = 1 AND n = 4`, false},
		{`NOT (missing = 1 AND n = 4)`, true},
		{`NOT (missing = 1 AND n = 3)`, false},
		{`missing NOT IN (1, 2)`, false},
		{`missing NOT LIKE 'x'`, false},
	}
	for _, c := range cases {
		e, err := Parse(c.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.filter, err)
		}
		got, err := Eval(e, get)
		if err != nil || got != c.want {
			t.Errorf("Eval(%q) = %v, %v; want %v", c.filter, got, err, c.want)
		}
	}
}

func TestEvalTypeErrors(t *testing.T) {
	props := map[string]Value{
		"at":   Timestamp(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)),
		"n":    Number(1),
		"ok":   Bool(true),
		"geom": Geometry(orb.Point{0, 0}),
		"s":    Text("x"),
	}
	get := func(name string) (Value, bool) { v, ok := props[name]; return v, ok }
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
		_, err = Eval(e, get)
		var pe *Error
		if !errors.As(err, &pe) || !strings.Contains(pe.Msg, c.msg) {
			t.Errorf("Eval(%q) error = %v, want %q", c.filter, err, c.msg)
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

func TestLike(t *testing.T) {
	cases := []struct {
		pat, s string
		want   bool
	}{
		{"", "", true},
		{"", "a", false},
		{"%", "", true},
		{"%%", "abc", true},
		{"a%c", "abbbc", true},
		{"a%c", "abbbd", false},
		{"%a%b%c%", "xaxbxcx", true},
		{"%a%b%c%", "xaxcxbx", false},
		{"_", "中", true},
		{"__", "中", false},
		{`\%`, "%", true},
		{`\%`, "a", false},
		{`a\_b`, "a_b", true},
		{`a\_b`, "axb", false},
		{`\\`, `\`, true},
		{`\a`, "a", true},
		{"%aaa%aab", strings.Repeat("a", 200) + "b", true},
		{"%aaa%aac", strings.Repeat("a", 200) + "b", false},
	}
	for _, c := range cases {
		if got := likeMatch(compilePattern(c.pat), c.s); got != c.want {
			t.Errorf("%q LIKE %q = %v, want %v", c.s, c.pat, got, c.want)
		}
	}
}

func TestIntersects(t *testing.T) {
	square := orb.Polygon{{{0, 0}, {4, 0}, {4, 4}, {0, 4}, {0, 0}}}
	holed := orb.Polygon{square[0], {{1, 1}, {3, 1}, {3, 3}, {1, 3}, {1, 1}}}
	cases := []struct {
		name string
		a, b orb.Geometry
		want bool
	}{
		{"point inside", orb.Point{2, 2}, square, true},
		{"point on edge", orb.Point{4, 2}, square, true},
		{"point on vertex", orb.Point{0, 0}, square, true},
		{"point outside", orb.Point{5, 2}, square, false},
		{"point in hole", orb.Point{2, 2}, holed, false},
		{"point on hole edge", orb.Point{1, 2}, holed, true},
		{"point equals point", orb.Point{1, 1}, orb.Point{1, 1}, true},
		{"point differs", orb.Point{1, 1}, orb.Point{1, 2}, false},
		{"point on line", orb.Point{1, 1}, orb.LineString{{0, 0}, {2, 2}}, true},
		{"point off line", orb.Point{1, 1.5}, orb.LineString{{0, 0}, {2, 2}}, false},
		{"lines cross", orb.LineString{{0, 0}, {2, 2}}, orb.LineString{{0, 2}, {2, 0}}, true},
		{"lines touch at end", orb.LineString{{0, 0}, {1, 1}}, orb.LineString{{1, 1}, {2, 0}}, true},
		{"collinear overlap", orb.LineString{{0, 0}, {2, 0}}, orb.LineString{{1, 0}, {3, 0}}, true},
		{"parallel lines", orb.LineString{{0, 0}, {2, 0}}, orb.LineString{{0, 1}, {2, 1}}, false},
		{"line inside polygon", orb.LineString{{1, 1}, {2, 2}}, square, true},
		{"line inside hole", orb.LineString{{1.5, 1.5}, {2.5, 2.5}}, holed, false},
		{"line across polygon", orb.LineString{{-1, 2}, {5, 2}}, square, true},
		{"polygon inside polygon", orb.Polygon{{{1, 1}, {2, 1}, {2, 2}, {1, 1}}}, square, true},
		{"polygon around polygon", square, orb.Polygon{{{1, 1}, {2, 1}, {2, 2}, {1, 1}}}, true},
		{"polygon in hole", orb.Polygon{{{1.5, 1.5}, {2.5, 1.5}, {2.5, 2.5}, {1.5, 1.5}}}, holed, false},
		{"polygons share an edge", square, orb.Polygon{{{4, 0}, {8, 0}, {8, 4}, {4, 0}}}, true},
		{"polygons apart", square, orb.Polygon{{{5, 0}, {8, 0}, {8, 4}, {5, 0}}}, false},
		{"bound and point", orb.Bound{Min: orb.Point{0, 0}, Max: orb.Point{1, 1}}, orb.Point{1, 1}, true},
		{"multipolygon second part", orb.MultiPolygon{{{{10, 10}, {11, 10}, {11, 11}, {10, 10}}}, square}, orb.Point{3, 3}, true},
		{"collection", orb.Collection{orb.Point{9, 9}, orb.LineString{{-1, -1}, {0, 0}}}, square, true},
		{"multipoint none", orb.MultiPoint{{5, 5}, {-1, 2}}, square, false},
		{"nil", nil, square, false},
	}
	for _, c := range cases {
		if got := intersects(c.a, c.b); got != c.want {
			t.Errorf("%s: intersects = %v, want %v", c.name, got, c.want)
		}
		if got := intersects(c.b, c.a); got != c.want {
			t.Errorf("%s (swapped): intersects = %v, want %v", c.name, got, c.want)
		}
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
