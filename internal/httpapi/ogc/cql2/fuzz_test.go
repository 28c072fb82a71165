package cql2

import (
	"testing"
)

// FuzzParse checks that Parse never panics, and that whatever parses is
// written by String as text that parses to an equal expression and is a
// fixed point of the round trip. Check, ToSQL and Eval must not panic on it
// either. The re-parse lifts the length limit only: canonical text may be a
// little longer than terse input (spaces, 0.5 for .5).
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`city='Toronto'`,
		`"name" = 'x' AND NOT (a IS NULL)`,
		`avg(windSpeed) < 4`,
		`balance-150.0 > 0`,
		`eo:cloud_cover < 0.1 AND landsat:wrs_row=28 OR x <> -1e-7`,
		`updated >= DATE('1970-01-01') and at < TIMESTAMP('2024-05-01T08:00:00.5+08:00')`,
		`4 > n OR TRUE = ok OR NOT FALSE`,
		`name NOT LIKE 'a\%_%' AND n NOT BETWEEN 1 AND 2 AND k IN ('a', 'b''c')`,
		`S_INTERSECTS(geom, BBOX(121.1, 28.8, 121.2, 28.9))`,
		`S_INTERSECTS(POLYGON((0 0, 4 0, 4 4, 0 0), (1 1, 2 1, 2 2, 1 1)), g)`,
		`S_INTERSECTS(g, GEOMETRYCOLLECTION(MULTIPOINT(0 0, 1 1), MULTILINESTRING((0 0, 1 1)), MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)))))`,
		`((a = 1 OR b = 2) AND (c IS NOT NULL))`,
		`"AND" = 1 AND 名称 = '临海' AND "date" = DATE('2024-02-29')`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			if _, ok := err.(*Error); !ok {
				t.Fatalf("Parse(%q) error %T is not an *Error", s, err)
			}
			return
		}
		s2 := e.String()
		e2, err := Limits{MaxLength: 1 << 30}.Parse(s2)
		if err != nil {
			t.Fatalf("Parse(%q) = %q, which does not parse: %v", s, s2, err)
		}
		if !equalExpr(e, e2) {
			t.Fatalf("Parse(%q) = %q, which parses to a different expression %q", s, s2, e2)
		}
		if s3 := e2.String(); s3 != s2 {
			t.Fatalf("String is not a fixed point: %q then %q", s2, s3)
		}

		// Every property as each type in turn: no panic, nil or an *Error.
		for typ := TypeText; typ <= TypeGeometry; typ++ {
			types := map[string]Type{}
			for _, name := range Properties(e) {
				types[name] = typ
			}
			if err := Check(e, types); err != nil {
				if _, ok := err.(*Error); !ok {
					t.Fatalf("Check(%q): error %T is not an *Error", s2, err)
				}
			}
		}
	})
}
