package grid

import (
	"testing"
	"time"

	"github.com/paulmach/orb"
)

func TestLikeMatch(t *testing.T) {
	for _, c := range []struct {
		pat, s string
		want   bool
	}{
		{"%", "", true}, {"", "", true}, {"", "a", false}, {"a%", "abc", true}, {"%c", "abc", true},
		{"a_c", "abc", true}, {"a_c", "ac", false}, {"%b%", "abc", true}, {"%x%", "abc", false},
		{`a\%`, "a%", true}, {`a\%`, "ab", false}, {`a\_`, "a_", true}, {`a\_`, "ab", false},
		{"网格%", "网格001", true}, {"_格", "网格", true}, {"a%%b", "ab", true}, {"%a%b%", "xaybz", true},
	} {
		if got := LikeMatch(c.pat, c.s); got != c.want {
			t.Errorf("LikeMatch(%q, %q) = %v", c.pat, c.s, got)
		}
	}
}

// TestEvalThreeValued: a missing property makes comparisons unknown, and
// NOT of unknown is unknown: neither a condition nor its negation holds.
func TestEvalThreeValued(t *testing.T) {
	props := func(name string) (any, bool) {
		switch name {
		case "status":
			return "closed", true
		case "reworks":
			return float64(2), true
		case "at":
			return time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), true
		}
		return nil, false
	}
	pt := orb.Point{121.1, 28.8}
	for _, c := range []struct {
		c    Cond
		want bool
	}{
		{Compare{"status", Eq, "closed"}, true},
		{Not{Compare{"status", Eq, "closed"}}, false},
		{Compare{"closed_at", Eq, "x"}, false},
		{Not{Compare{"closed_at", Eq, "x"}}, false},
		{Or{Compare{"closed_at", Eq, "x"}, Bool(true)}, true},
		{And{Compare{"closed_at", Eq, "x"}, Bool(false)}, false},
		{Not{And{Compare{"closed_at", Eq, "x"}, Bool(false)}}, true},
		{IsNull{"closed_at"}, true},
		{Compare{"reworks", Gt, 1.5}, true},
		{In{"status", []any{"open", "closed"}}, true},
		{Compare{"at", Lt, time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)}, true},
		{Intersects{orb.Bound{Min: orb.Point{121, 28}, Max: orb.Point{121.1, 28.8}}}, true}, // a corner counts
		{Intersects{orb.Bound{Min: orb.Point{121, 28}, Max: orb.Point{121.09, 28.8}}}, false},
		{And{}, true}, {Or{}, false},
	} {
		if got := Eval(c.c, props, pt); got != c.want {
			t.Errorf("%s = %v, want %v", CondString(c.c), got, c.want)
		}
	}
}

func TestGeometriesIntersect(t *testing.T) {
	sq := orb.Polygon{{{0, 0}, {4, 0}, {4, 4}, {0, 4}, {0, 0}}}
	for _, c := range []struct {
		g    orb.Geometry
		want bool
	}{
		{orb.Point{2, 2}, true}, {orb.Point{4, 2}, true}, {orb.Point{5, 2}, false},
		{orb.Bound{Min: orb.Point{1, 1}, Max: orb.Point{2, 2}}, true},         // inside
		{orb.Bound{Min: orb.Point{-1, -1}, Max: orb.Point{5, 5}}, true},       // around
		{orb.Bound{Min: orb.Point{4, 4}, Max: orb.Point{5, 5}}, true},         // a shared corner
		{orb.Bound{Min: orb.Point{4.1, 0}, Max: orb.Point{5, 5}}, false},      // beside
		{orb.LineString{{-1, 2}, {5, 2}}, true},                               // across
		{orb.LineString{{5, -1}, {-1, 5.1}}, true},                            // a diagonal through
		{orb.LineString{{5, 0}, {9, 4}}, false},                               // outside
		{orb.MultiPolygon{{{{10, 10}, {11, 10}, {11, 11}, {10, 10}}}}, false}, // far
		{orb.Collection{orb.Point{9, 9}, orb.Point{3, 3}}, true},
	} {
		if got := GeometriesIntersect(sq, c.g); got != c.want {
			t.Errorf("square ∩ %v = %v, want %v", c.g, got, c.want)
		}
		if got := GeometriesIntersect(c.g, sq); got != c.want {
			t.Errorf("%v ∩ square = %v, want %v", c.g, got, c.want)
		}
	}
}
