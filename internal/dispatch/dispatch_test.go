package dispatch_test

import (
	"testing"

	"github.com/citygrid/citygrid/geodata"
	"github.com/citygrid/citygrid/internal/dispatch"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/locate"
)

func TestPrecedenceDecides(t *testing.T) {
	t.Parallel()
	depts := []grid.Department{{Code: "CITY"}, {Code: "TOWN"}, {Code: "COMM"}, {Code: "CELL"}, {Code: "ZK"}, {Code: "ZONE"}, {Code: "FB", Kind: grid.DeptTown, TownCode: "331082001"}, {Code: "SPEC"}}
	rules := []grid.Rule{
		{ID: 1, Pattern: "*", Scope: grid.ScopeTown, ScopeCode: "331082001", Department: "FB", Fallback: true},
		{ID: 2, Pattern: "E05*", Scope: grid.ScopeCity, Department: "CITY"},
		{ID: 3, Pattern: "E0505", Scope: grid.ScopeCity, Department: "SPEC"},
		{ID: 4, Pattern: "E05*", Scope: grid.ScopeTown, ScopeCode: "331082002", Department: "TOWN"},
		{ID: 5, Pattern: "E05*", Scope: grid.ScopeCommunity, ScopeCode: "331082002001", Department: "COMM"},
		{ID: 6, Pattern: "E05*", Scope: grid.ScopeCell, ScopeCode: "331082002001001", Department: "CELL"},
		{ID: 7, Pattern: "E05*", Scope: grid.ScopeZoneKind, ScopeCode: grid.ZoneUrbanCore, Department: "ZK"},
		{ID: 8, Pattern: "E05*", Scope: grid.ScopeZone, ScopeCode: "PARK1", Department: "ZONE"},
	}
	r, err := dispatch.New(rules, depts, []grid.Category{{Code: "E0505"}, {Code: "E0506"}, {Code: "E0101"}})
	if err != nil {
		t.Fatal(err)
	}
	place := func(cell string, zones ...dispatch.ZoneRef) dispatch.Place {
		return dispatch.Place{Cell: cell, Community: cell[:12], Town: cell[:9], Zones: zones}
	}
	for _, c := range []struct {
		cat   string
		place dispatch.Place
		want  int64
	}{
		{"E0101", place("331082001001001"), 1}, // nothing specific: the town's fallback
		{"E0506", place("331082001001001"), 2}, // the city default beats the fallback
		{"E0505", place("331082001001001"), 3}, // a more specific pattern at the same scope
		{"E0506", place("331082002002001"), 4}, // town over city
		{"E0506", place("331082002001002"), 5}, // community over town
		{"E0506", place("331082002001001"), 6}, // cell over community
		{"E0506", place("331082002001001", dispatch.ZoneRef{Code: "UC", Kind: grid.ZoneUrbanCore}), 7},
		{"E0506", place("331082002001001", dispatch.ZoneRef{Code: "UC", Kind: grid.ZoneUrbanCore}, dispatch.ZoneRef{Code: "PARK1", Kind: grid.ZonePark}), 8},
		{"E0599", place("331082002001001"), 6}, // a category the resolver was not built with
	} {
		d, ok, amb := r.Resolve(c.cat, c.place)
		if !ok || amb || d.Rule.ID != c.want {
			t.Errorf("%s at %+v: rule %v (ok %v, ambiguous %v), want %d", c.cat, c.place, d.Rule, ok, amb, c.want)
		}
	}
	if _, ok, _ := r.Resolve("E0101", place("331082009001001")); ok {
		t.Error("no rule covers E0101 in town 009, yet one matched")
	}
	if _, err := dispatch.New([]grid.Rule{{ID: 1, Pattern: "*", Scope: grid.ScopeCity, Department: "NOPE"}}, depts, nil); err == nil {
		t.Error("a rule naming an unknown department was accepted")
	}
}

// TestDemoRulesOwnEveryPlace: with the demo city's 121 rules and 19
// fallbacks, every (category, cell, zone combination that occurs) has
// exactly one owner, and none is decided by a tie.
func TestDemoRulesOwnEveryPlace(t *testing.T) {
	t.Parallel()
	city := geodata.MustLinhai()
	snap, err := locate.Build(&grid.Model{City: city})
	if err != nil {
		t.Fatal(err)
	}
	r, err := dispatch.New(city.Rules, city.Departments, city.Categories)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(city.Rules); n != 140 {
		t.Fatalf("%d rules, want 121 + 19", n)
	}
	fromRule := map[int64]int{}
	checked := 0
	for i := range snap.Cells {
		c := &snap.Cells[i]
		// Sample each cell on a 7×7 lattice of its bound to meet its zones.
		b := c.Geometry.Bound()
		seen := map[string]bool{}
		for u := 1; u < 8; u++ {
			for v := 1; v < 8; v++ {
				p := [2]float64{b.Min[0] + (b.Max[0]-b.Min[0])*float64(u)/8, b.Min[1] + (b.Max[1]-b.Min[1])*float64(v)/8}
				if snap.CellIndex(p) != i {
					continue
				}
				var zones []dispatch.ZoneRef
				key := ""
				snap.ZonesAt(p, func(z *grid.Zone) {
					zones = append(zones, dispatch.ZoneRef{Code: z.Code, Kind: z.Kind})
					key += z.Code + ","
				})
				if seen[key] {
					continue
				}
				seen[key] = true
				pl := dispatch.Place{Cell: c.Code, Community: c.CommunityCode, Town: c.TownCode, Zones: zones}
				for _, cat := range city.Categories {
					d, ok, amb := r.Resolve(cat.Code, pl)
					checked++
					if !ok {
						t.Fatalf("%s in cell %s (zones %s): no owner", cat.Code, c.Code, key)
					}
					if amb {
						t.Fatalf("%s in cell %s (zones %s): two rules tie at the top", cat.Code, c.Code, key)
					}
					fromRule[d.Rule.ID]++
				}
			}
		}
	}
	if checked < 100_000 {
		t.Errorf("only %d (category, place) pairs checked", checked)
	}
	city1 := 0
	for _, x := range city.Rules {
		if x.Scope == grid.ScopeCity && fromRule[x.ID] > 0 {
			city1++
		}
	}
	if city1 == 0 {
		t.Error("no city-wide rule ever decides: fallbacks must rank below them")
	}
}

func BenchmarkResolve(b *testing.B) {
	city := geodata.MustLinhai()
	r, err := dispatch.New(city.Rules, city.Departments, city.Categories)
	if err != nil {
		b.Fatal(err)
	}
	pl := dispatch.Place{Cell: "331082001001001", Community: "331082001001", Town: "331082001",
		Zones: []dispatch.ZoneRef{{Code: "Z-URB-001", Kind: grid.ZoneUrbanCore}}}
	for b.Loop() {
		r.Resolve("E0505", pl)
	}
}
