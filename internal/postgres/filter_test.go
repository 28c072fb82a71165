package postgres_test

import (
	"context"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/paulmach/orb"
)

// TestConditionsAgree: a condition compiled to SQL selects exactly the
// facilities grid.Eval selects in memory, for random conditions over every
// facility of the demo city (PostGIS decides the spatial part on its side).
func TestConditionsAgree(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := context.Background()
	all, err := db.FacilityFeatures(ctx, grid.FeatureQuery{Limit: 10_000})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 1000 {
		t.Fatalf("%d facilities", len(all))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	kinds := grid.FacilityKinds()
	pick := func() grid.Facility { return all[rng.IntN(len(all))] }
	var gen func(depth int) grid.Cond
	gen = func(depth int) grid.Cond {
		n := rng.IntN(9)
		if depth > 2 {
			n = 3 + rng.IntN(6)
		}
		switch n {
		case 0:
			return grid.And{gen(depth + 1), gen(depth + 1)}
		case 1:
			return grid.Or{gen(depth + 1), gen(depth + 1)}
		case 2:
			return grid.Not{C: gen(depth + 1)}
		case 3:
			return grid.Compare{Prop: "kind", Op: grid.Eq, Value: kinds[rng.IntN(len(kinds))]}
		case 4:
			ops := []grid.Op{grid.Lt, grid.Le, grid.Gt, grid.Ge, grid.Ne}
			return grid.Compare{Prop: "code", Op: ops[rng.IntN(len(ops))], Value: pick().Code}
		case 5:
			return grid.In{Prop: "name", Values: []any{pick().Name, pick().Name, "nobody"}}
		case 6:
			x := pick().Code
			return grid.Like{Prop: "code", Pattern: x[:rng.IntN(len(x))] + "%" + x[len(x)-1:]}
		case 7:
			p := pick().Point
			switch rng.IntN(4) {
			case 0: // a box without area: the point itself
				return grid.Intersects{Geometry: orb.Bound{Min: p, Max: p}}
			case 1: // a box without height: a line through the point
				return grid.Intersects{Geometry: orb.Bound{Min: orb.Point{p[0] - 0.01, p[1]}, Max: orb.Point{p[0] + 0.01, p[1]}}}
			case 2: // overlapping parts: GEOS would fail on them unrepaired
				sq := func(x, y, d float64) orb.Polygon {
					return orb.Polygon{{{x, y}, {x + d, y}, {x + d, y + d}, {x, y + d}, {x, y}}}
				}
				return grid.Intersects{Geometry: orb.MultiPolygon{sq(p[0]-0.02, p[1]-0.02, 0.03), sq(p[0]-0.01, p[1]-0.01, 0.03)}}
			}
			d := 0.002 + rng.Float64()*0.05
			return grid.Intersects{Geometry: orb.Bound{Min: orb.Point{p[0] - d, p[1] - d}, Max: orb.Point{p[0] + d, p[1] + d}}}
		default:
			p := pick().Point
			d := 0.01 + rng.Float64()*0.05
			return grid.Intersects{Geometry: orb.Polygon{{{p[0] - d, p[1]}, {p[0] + d, p[1] - d}, {p[0] + d/2, p[1] + d}, {p[0] - d, p[1]}}}}
		}
	}
	for i := range 60 {
		c := gen(0)
		got, err := db.FacilityFeatures(ctx, grid.FeatureQuery{Where: c, Limit: 10_000})
		if err != nil {
			t.Fatalf("%s: %v", grid.CondString(c), err)
		}
		n, err := db.CountFacilities(ctx, grid.FeatureQuery{Where: c})
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, f := range all {
			props := func(name string) (any, bool) {
				switch name {
				case "code":
					return f.Code, true
				case "kind":
					return f.Kind, true
				case "name":
					return f.Name, true
				}
				return nil, false
			}
			if grid.Eval(c, props, f.Point) {
				want = append(want, f.Code)
			}
		}
		var codes []string
		for _, f := range got {
			codes = append(codes, f.Code)
		}
		if !slices.Equal(codes, want) || n != int64(len(want)) {
			t.Errorf("case %d, %s: SQL selects %d (count %d), Eval %d", i, grid.CondString(c), len(codes), n, len(want))
		}
	}
	// Unknown properties and mistyped values are Invalid, never SQL.
	for _, c := range []grid.Cond{
		grid.Compare{Prop: "colour", Op: grid.Eq, Value: "red"},
		grid.Compare{Prop: "kind", Op: grid.Eq, Value: 3.0},
		grid.Like{Prop: "kind); DROP TABLE facility; --", Pattern: "%"},
	} {
		_, err := db.FacilityFeatures(ctx, grid.FeatureQuery{Where: c, Limit: 1})
		if grid.KindOf(err) != grid.Invalid {
			t.Errorf("%s: %v, want Invalid", grid.CondString(c), err)
		}
	}
	if _, err := db.Facility(ctx, "nope"); grid.KindOf(err) != grid.NotFound {
		t.Errorf("Facility(nope): %v", err)
	}
	x, err := db.Facility(ctx, all[5].Code)
	if err != nil || x.Code != all[5].Code || x.Point != all[5].Point {
		t.Errorf("Facility: %+v %v", x, err)
	}
}
