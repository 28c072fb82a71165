package cql2

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/paulmach/orb"
)

func TestParseValid(t *testing.T) {
	cases := []struct {
		in, want string // want: the canonical String()
	}{
		// basic-cql2 examples of OGC 21-065.
		{`city='Toronto'`, `city = 'Toronto'`},
		{`"name" = 'x' AND NOT (a IS NULL)`, `name = 'x' AND NOT a IS NULL`},
		{`landsat:scene_id = 'LC82030282019133LGN00'`, `landsat:scene_id = 'LC82030282019133LGN00'`},
		{`eo:cloud_cover < 0.1 AND landsat:wrs_row=28 AND landsat:wrs_path=203`,
			`eo:cloud_cover < 0.1 AND landsat:wrs_row = 28 AND landsat:wrs_path = 203`},
		{`eo:cloud_cover >= 0.1 AND eo:cloud_cover <= 0.2`, `eo:cloud_cover >= 0.1 AND eo:cloud_cover <= 0.2`},
		{`updated >= DATE('1970-01-01')`, `updated >= DATE('1970-01-01')`},
		{`geometry IS NOT NULL`, `geometry IS NOT NULL`},
		{`built > TIMESTAMP('2012-06-05T00:00:00Z')`, `built > TIMESTAMP('2012-06-05T00:00:00Z')`},
		{`avg_speed <> 4`, `avg_speed <> 4`},
		{`TRUE`, `TRUE`},
		{`NOT FALSE`, `NOT FALSE`},
		// keywords in any case, literals on the left, signs, exponents.
		{`a = 1 and b = 2 Or not c is null`, `a = 1 AND b = 2 OR NOT c IS NULL`},
		{`4 > windSpeed`, `windSpeed < 4`},
		{`'Toronto' = city`, `city = 'Toronto'`},
		{`TIMESTAMP('2024-05-01T08:00:00+08:00') <= at`, `at >= TIMESTAMP('2024-05-01T00:00:00Z')`},
		{`TRUE = flag`, `flag = TRUE`},
		{`n = -1.5e3`, `n = -1500`},
		{`n = +.5`, `n = 0.5`},
		{`n = 1E+21`, `n = 1e+21`},
		{`s = 'it''s'`, `s = 'it''s'`},
		{`s = ''`, `s = ''`},
		{`名称 = '临海'`, `名称 = '临海'`},
		{`"two words" = 'x'`, `"two words" = 'x'`},
		{`"AND" = 'x'`, `"AND" = 'x'`},
		{`date = DATE('2024-02-29')`, `"date" = DATE('2024-02-29')`},
		{`at = TIMESTAMP('2024-05-01T08:00:00.123456Z')`, `at = TIMESTAMP('2024-05-01T08:00:00.123456Z')`},
		// precedence and parentheses.
		{`a = 1 OR b = 2 AND c = 3`, `a = 1 OR b = 2 AND c = 3`},
		{`(a = 1 OR b = 2) AND c = 3`, `(a = 1 OR b = 2) AND c = 3`},
		{`a = 1 AND (b = 2 AND c = 3)`, `a = 1 AND (b = 2 AND c = 3)`},
		{`((a = 1))`, `a = 1`},
		{`NOT NOT a = 1`, `NOT NOT a = 1`},
		{`NOT (a = 1 OR b = 2)`, `NOT (a = 1 OR b = 2)`},
		// advanced comparison.
		{`name LIKE 'Lin%'`, `name LIKE 'Lin%'`},
		{`name not like '\%_'`, `name NOT LIKE '\%_'`},
		{`n BETWEEN 1 AND 5 AND m = 2`, `n BETWEEN 1 AND 5 AND m = 2`},
		{`n NOT BETWEEN -1 AND 1`, `n NOT BETWEEN -1 AND 1`},
		{`d BETWEEN DATE('2024-01-01') AND DATE('2024-12-31')`, `d BETWEEN DATE('2024-01-01') AND DATE('2024-12-31')`},
		{`kind IN ('camera','toilet')`, `kind IN ('camera', 'toilet')`},
		{`n not in (1)`, `n NOT IN (1)`},
		// spatial.
		{`S_INTERSECTS(geom, BBOX(121.1, 28.8, 121.2, 28.9))`, `S_INTERSECTS(geom, BBOX(121.1, 28.8, 121.2, 28.9))`},
		{`s_intersects(geom, envelope(0,0,1,1))`, `S_INTERSECTS(geom, BBOX(0, 0, 1, 1))`},
		{`S_INTERSECTS(POINT(36.319836 32.288087), location)`, `S_INTERSECTS(location, POINT(36.319836 32.288087))`},
		{`S_INTERSECTS(geometry,POLYGON((-10.0 50.0,10.0 50.0,10.0 56.0,-10.0 56.0,-10.0 50.0)))`,
			`S_INTERSECTS(geometry, POLYGON((-10 50, 10 50, 10 56, -10 56, -10 50)))`},
		{`S_INTERSECTS(g, POLYGON((0 0, 4 0, 4 4, 0 0), (1 1, 2 1, 2 2, 1 1)))`, `S_INTERSECTS(g, POLYGON((0 0, 4 0, 4 4, 0 0), (1 1, 2 1, 2 2, 1 1)))`},
		{`S_INTERSECTS(g, MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5))))`,
			`S_INTERSECTS(g, MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5))))`},
		{`S_INTERSECTS(g, LINESTRING(0 0, 1 1))`, `S_INTERSECTS(g, LINESTRING(0 0, 1 1))`},
		{`S_INTERSECTS(g, MULTIPOINT(0 0, 1 1))`, `S_INTERSECTS(g, MULTIPOINT((0 0), (1 1)))`},
		{`S_INTERSECTS(g, MULTILINESTRING((0 0, 1 1), (2 2, 3 3)))`, `S_INTERSECTS(g, MULTILINESTRING((0 0, 1 1), (2 2, 3 3)))`},
		{`S_INTERSECTS(g, GEOMETRYCOLLECTION(POINT(0 0), LINESTRING(0 0, 1 1)))`, `S_INTERSECTS(g, GEOMETRYCOLLECTION(POINT(0 0), LINESTRING(0 0, 1 1)))`},
		{`S_INTERSECTS(point, POINT(1 2))`, `S_INTERSECTS("point", POINT(1 2))`},
		{" \t\na\r\n=\n1 ", `a = 1`},
	}
	for _, c := range cases {
		e, err := Parse(c.in)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.in, err)
			continue
		}
		if got := e.String(); got != c.want {
			t.Errorf("Parse(%q).String() = %q, want %q", c.in, got, c.want)
		}
		e2, err := Parse(e.String())
		if err != nil || !equalExpr(e, e2) {
			t.Errorf("%q does not re-parse to the same expression: %v", e.String(), err)
		}
	}
}

func TestParseStructure(t *testing.T) {
	e, err := Parse(`a = 1 AND b = 'x' OR NOT c IS NULL`)
	if err != nil {
		t.Fatal(err)
	}
	or, ok := e.(*Or)
	if !ok || len(or.Args) != 2 {
		t.Fatalf("top is %T, want *Or of 2", e)
	}
	and, ok := or.Args[0].(*And)
	if !ok || len(and.Args) != 2 {
		t.Fatalf("first is %T, want *And of 2", or.Args[0])
	}
	cmp := and.Args[1].(*Compare)
	if cmp.Prop != (Property{Name: "b", Pos: 10}) || cmp.Op != Eq || cmp.Lit.Value.Str() != "x" || cmp.Lit.Pos != 14 {
		t.Errorf("second comparison = %+v", cmp)
	}
	not := or.Args[1].(*Not)
	if n := not.X.(*IsNull); n.Prop.Name != "c" || n.Not {
		t.Errorf("NOT operand = %+v", n)
	}
	if got := Properties(e); strings.Join(got, ",") != "a,b,c" {
		t.Errorf("Properties = %v", got)
	}

	e, _ = Parse(`S_INTERSECTS(g, BBOX(1, 2, 3, 4))`)
	if b := e.(*Intersects).Geom.Value.Geom(); b != (orb.Bound{Min: orb.Point{1, 2}, Max: orb.Point{3, 4}}) {
		t.Errorf("BBOX = %v", b)
	}
	e, _ = Parse(`at = TIMESTAMP('2024-05-01T08:00:00+08:00')`)
	if ts := e.(*Compare).Lit.Value.Time(); !ts.Equal(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)) || ts.Location() != time.UTC {
		t.Errorf("timestamp = %v", ts)
	}
}

func TestParseInvalid(t *testing.T) {
	cases := []struct {
		in     string
		offset int
		msg    string // a part of the message
	}{
		// Not basic CQL2 (examples of OGC 21-065 beyond the basic class).
		{`avg(windSpeed) < 4`, 0, "function avg(…) is not supported"},
		{`balance-150.0 > 0`, 7, "arithmetic (-) is not supported"},
		{`a = 1 + 2`, 6, "arithmetic (+) is not supported"},
		{`a = b`, 4, "comparing two properties is not supported"},
		{`1 = 1`, 4, "a comparison needs a property on one side"},
		{`S_CONTAINS(g, POINT(1 2))`, 0, "spatial operator S_CONTAINS is not supported"},
		{`T_AFTER(t, TIMESTAMP('2020-01-01T00:00:00Z'))`, 0, "T_AFTER is not supported"},
		{`A_CONTAINS(tags, ('a'))`, 0, "A_CONTAINS is not supported"},
		{`name LIKE CASEI('a%')`, 10, "CASEI is not supported"},
		{`t = INTERVAL('2020-01-01', '..')`, 4, "expected a literal after '='"},
		// Syntax.
		{``, 0, "empty filter"},
		{`   `, 0, "empty filter"},
		{`city =`, 6, "expected a literal after '=', found end of filter"},
		{`city = AND`, 7, "expected a literal after '='"},
		{`city = NULL`, 7, "NULL is not a value"},
		{`city == 'x'`, 6, "expected a literal after '='"},
		{`city != 'x'`, 5, "not-equal as <>"},
		{`city 'x'`, 5, "expected a comparison operator, IS, LIKE, BETWEEN or IN after property \"city\""},
		{`city = 'x`, 7, "unterminated string"},
		{`"city = 'x'`, 0, "unterminated quoted property name"},
		{`"" = 'x'`, 0, "empty property name"},
		{`(a = 1`, 6, "expected ')'"},
		{`a = 1)`, 5, "unbalanced ')'"},
		{`a = 1 b = 2`, 6, "expected AND, OR or end of filter"},
		{`a = 1 AND`, 9, "unexpected end of filter, expected a predicate"},
		{`AND a = 1`, 0, "found keyword AND"},
		{`a IS 1`, 5, "expected NULL after IS"},
		{`a NOT = 1`, 6, "expected LIKE, BETWEEN or IN after NOT"},
		{`a LIKE 1`, 7, "expected a string pattern after LIKE"},
		{`a LIKE 'x\'`, 7, "ends with the escape character"},
		{`a BETWEEN 1 OR 2`, 12, "expected AND in BETWEEN"},
		{`a IN ()`, 6, "expected a literal in the IN list"},
		{`a IN (1, 2`, 10, "expected ',' or ')' in the IN list"},
		{`a = 1.2.3`, 4, "malformed number"},
		{`a = 1e`, 4, "malformed number"},
		{`a = 1e999`, 4, "out of range"},
		{`a = 12abc`, 4, "malformed number"},
		{`a = - x`, 4, "expected a literal after '='"},
		{`a = 'x` + "\x00" + `'`, 6, "control character"},
		{"a = '\xff'", 5, "invalid UTF-8"},
		{"\xff = 1", 0, "invalid UTF-8"},
		{`a = #`, 4, "unexpected character '#'"},
		{`a = [1]`, 4, "arrays are not supported"},
		{`a = DATE('2024-02-30')`, 9, "invalid date"},
		{`a = DATE('24-01-01')`, 9, "invalid date"},
		{`a = DATE('+024-01-01')`, 9, "invalid date"},
		{`a = TIMESTAMP('+024-01-01T00:00:00Z')`, 14, "invalid timestamp"},
		{`a = DATE(2024)`, 9, "expected a quoted date string"},
		{`a = TIMESTAMP('2024-05-01')`, 14, "invalid timestamp"},
		{`a = TIMESTAMP('2024-05-01T00:00:00.1234567Z')`, 14, "at most 6"},
		{`a = TIMESTAMP('2024-05-01T8:00:00Z')`, 14, "invalid timestamp"},
		{`a = TIMESTAMP('2024-05-01T08:00:00,5Z')`, 14, "invalid timestamp"},
		{`a = TIMESTAMP('2024-05-01T08:00:00.Z')`, 14, "invalid timestamp"},
		{`a = TIMESTAMP('2024-05-01t08:00:00z')`, 14, "invalid timestamp"},
		{`a = TIMESTAMP('2024-05-01T08:00:00+0800')`, 14, "invalid timestamp"},
		{`a = TIMESTAMP('0001-01-01T00:00:00+08:00')`, 14, "out of range"},
		{`a = TIMESTAMP('9999-12-31T23:00:00-08:00')`, 14, "out of range"},
		{`a = POINT(1 2)`, 4, "geometry literal can only be an argument of S_INTERSECTS"},
		{`POINT(1 2) = a`, 0, "geometry literal can only be an argument of S_INTERSECTS"},
		// Spatial literals.
		{`S_INTERSECTS(g, h)`, 16, "comparing two geometry properties"},
		{`S_INTERSECTS(POINT(0 0), POINT(1 1))`, 25, "both arguments are literals"},
		{`S_INTERSECTS(g)`, 14, "expected ','"},
		{`S_INTERSECTS(g, POINT(1))`, 23, "expected a number for the latitude"},
		{`S_INTERSECTS(g, POINT(1 2 3))`, 26, "only 2D coordinates"},
		{`S_INTERSECTS(g, POINT Z(1 2 3))`, 22, "only 2D coordinates"},
		{`S_INTERSECTS(g, POINT EMPTY)`, 22, "empty geometries"},
		{`S_INTERSECTS(g, LINESTRING(1 2))`, 26, "at least 2 points"},
		{`S_INTERSECTS(g, POLYGON((0 0, 1 0, 0 0)))`, 24, "at least 4 points"},
		{`S_INTERSECTS(g, POLYGON((0 0, 1 0, 1 1, 0 1)))`, 24, "not closed"},
		{`S_INTERSECTS(g, POLYGON((0 0, 1 1, 2 2, 0 0)))`, 24, "has no area"},
		{`S_INTERSECTS(g, POLYGON((0 0, 4 0, 4 4, 0 0), (1 1, 1 1, 1 1, 1 1)))`, 46, "has no area"},
		{`S_INTERSECTS(g, BBOX(0, 0, 1))`, 28, "expected ','"},
		{`S_INTERSECTS(g, BBOX(0, 0, 0, 1, 1, 1))`, 31, "only 2D boxes"},
		{`S_INTERSECTS(g, BBOX(170, 0, -170, 1))`, 20, "across the antimeridian"},
		{`S_INTERSECTS(g, BBOX(0, 1, 1, 0))`, 20, "south 1 is north of north 0"},
		{`S_INTERSECTS(g, BBOX(0, -91, 1, 0))`, 24, "BBOX south -91 is outside [-90, 90]"},
		{`S_INTERSECTS(g, POINT(180.5 0))`, 22, "longitude 180.5 is outside [-180, 180]"},
		{`S_INTERSECTS(g, POINT(0 1e300))`, 24, "latitude 1e+300 is outside [-90, 90]"},
		{`S_INTERSECTS(g, GEOMETRYCOLLECTION(BBOX(0, 0, 1, 1)))`, 35, "expected a WKT geometry"},
		{`S_INTERSECTS(g, buffer(h, 1))`, 16, "function buffer(…) is not supported"},
	}
	for _, c := range cases {
		_, err := Parse(c.in)
		var pe *Error
		if !errors.As(err, &pe) {
			t.Errorf("Parse(%q) = %v, want an *Error", c.in, err)
			continue
		}
		if pe.Offset != c.offset || !strings.Contains(pe.Msg, c.msg) {
			t.Errorf("Parse(%q) = %q, want offset %d and %q", c.in, err, c.offset, c.msg)
		}
		if !strings.HasPrefix(err.Error(), "cql2: at offset ") {
			t.Errorf("error %q lacks the position prefix", err)
		}
		if grid.KindOf(err) != grid.Invalid {
			t.Errorf("Parse(%q): kind %q, want invalid", c.in, grid.KindOf(err))
		}
	}
}

func TestErrorMessageFormat(t *testing.T) {
	_, err := Parse(`windSpeed > 4 AND a =`)
	if got, want := err.Error(), "cql2: at offset 21: expected a literal after '=', found end of filter"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	if got := grid.MessageOf(err); got != err.Error() {
		t.Errorf("client message = %q", got)
	}
}

func TestLimits(t *testing.T) {
	long := "a = '" + strings.Repeat("x", MaxLength) + "'"
	if _, err := Parse(long); err == nil || !strings.Contains(err.Error(), "longer than 8192 bytes") {
		t.Errorf("long filter: %v", err)
	}
	// Exactly at the limit still parses.
	atLimit := "a = '" + strings.Repeat("x", MaxLength-6) + "'"
	if _, err := Parse(atLimit); err != nil {
		t.Errorf("filter of %d bytes: %v", len(atLimit), err)
	}

	nest := func(n int) string { return strings.Repeat("(", n) + "a = 1" + strings.Repeat(")", n) }
	if _, err := Parse(nest(MaxDepth)); err != nil {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}
	if _, err := Parse(nest(MaxDepth + 1)); err == nil || !strings.Contains(err.Error(), "nested deeper than 64") {
		t.Errorf("depth %d: %v", MaxDepth+1, err)
	}
	if _, err := Parse(strings.Repeat("NOT ", MaxDepth+1) + "a = 1"); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("NOT chain: %v", err)
	}
	// Deep input within the byte limit never overflows the stack.
	for _, s := range []string{strings.Repeat("(", MaxLength), strings.Repeat("NOT ", MaxLength/4),
		strings.Repeat("S_INTERSECTS(g, GEOMETRYCOLLECTION(", 200)} {
		if _, err := (Limits{MaxLength: 1 << 20}).Parse(s); err == nil {
			t.Errorf("deep input parsed")
		}
	}
	// A flat chain of thousands of terms is fine.
	chain := "a = 1" + strings.Repeat(" OR a = 1", 800)
	if _, err := Parse(chain); err != nil {
		t.Errorf("flat chain: %v", err)
	}

	poly := func(n int) string {
		var b strings.Builder
		b.WriteString("S_INTERSECTS(g, POLYGON((0 0")
		for i := 3; i < n; i++ {
			b.WriteString(", 1 1")
		}
		b.WriteString(", 1 0, 0 0)))")
		return b.String()
	}
	big := Limits{MaxLength: 1 << 20}
	if _, err := big.Parse(poly(MaxVertices)); err != nil {
		t.Errorf("%d vertices: %v", MaxVertices, err)
	}
	if _, err := big.Parse(poly(MaxVertices + 1)); err == nil || !strings.Contains(err.Error(), "more than 10000 vertices") {
		t.Errorf("%d vertices: %v", MaxVertices+1, err)
	}
	if _, err := (Limits{MaxVertices: 3}).Parse(`S_INTERSECTS(g, MULTIPOINT(0 0, 1 1)) OR S_INTERSECTS(g, LINESTRING(0 0, 1 1))`); err == nil {
		t.Errorf("vertices of all literals together are not counted")
	}
}
