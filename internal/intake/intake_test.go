package intake_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/intake"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// square is a closed square ring polygon with its lower left corner at
// (lon, lat) and side d degrees.
func square(lon, lat, d float64) orb.MultiPolygon {
	return orb.MultiPolygon{{{{lon, lat}, {lon + d, lat}, {lon + d, lat + d}, {lon, lat + d}, {lon, lat}}}}
}

// testAssigner builds a snapshot of a small grid in memory: one town of two
// communities, each of two cells side by side (0.01° squares from 121.10 E,
// 28.80 N), a park over the east half of cell 002, and rules of every scope.
func testAssigner(t *testing.T) *intake.Assigner {
	t.Helper()
	const town, commA, commB = "331082001", "331082001001", "331082001002"
	city := &grid.City{
		Code: grid.CountyCode, Name: "test", Boundary: square(121.10, 28.80, 0.04),
		Towns: []grid.Town{{Code: town, Name: "古城街道", Kind: "street", Geometry: square(121.10, 28.80, 0.04)}},
		Communities: []grid.Community{
			{Code: commA, Name: "A", TownCode: town, Geometry: square(121.10, 28.80, 0.02)},
			{Code: commB, Name: "B", TownCode: town, Geometry: square(121.12, 28.80, 0.02)},
		},
		Cells: []grid.Cell{
			{Code: commA + "001", Name: "A1", CommunityCode: commA, TownCode: town, Geometry: square(121.10, 28.80, 0.01)},
			{Code: commA + "002", Name: "A2", CommunityCode: commA, TownCode: town, Geometry: square(121.11, 28.80, 0.01)},
			{Code: commB + "001", Name: "B1", CommunityCode: commB, TownCode: town, Geometry: square(121.12, 28.80, 0.01)},
			{Code: commB + "002", Name: "B2", CommunityCode: commB, TownCode: town, Geometry: square(121.13, 28.80, 0.01)},
		},
		Zones: []grid.Zone{{Code: "PARK1", Name: "公园", Kind: grid.ZonePark, Geometry: square(121.115, 28.80, 0.005)}},
		Departments: []grid.Department{
			{Code: "D01", Name: "城管局", Kind: grid.DeptFunctional},
			{Code: "D02", Name: "园林处", Kind: grid.DeptFunctional},
			{Code: "D03", Name: "交警", Kind: grid.DeptFunctional},
			{Code: town, Name: "古城街道办", Kind: grid.DeptTown, TownCode: town},
		},
		Categories: []grid.Category{
			{Code: "E0505", Name: "机动车乱停放", Limit: 4, Unit: grid.WorkingHours, Theme: "parking"},
			{Code: "E0102", Name: "暴露垃圾", Limit: 1, Unit: grid.WorkingDays, Theme: "sanitation"},
			{Code: "P0101", Name: "上水井盖", Limit: 2, Unit: grid.WorkingDays},
		},
		Rules: []grid.Rule{
			{ID: 1, Pattern: "E05*", Scope: grid.ScopeCity, Department: "D03"},
			{ID: 2, Pattern: "E*", Scope: grid.ScopeZoneKind, ScopeCode: grid.ZonePark, Department: "D02"},
			{ID: 3, Pattern: "E0505", Scope: grid.ScopeCell, ScopeCode: commB + "002", Department: "D01"},
			{ID: 4, Pattern: "*", Scope: grid.ScopeTown, ScopeCode: town, Department: town, Fallback: true},
		},
	}
	snap, err := locate.Build(&grid.Model{Version: grid.Version{ID: 7}, City: city})
	if err != nil {
		t.Fatal(err)
	}
	a, err := intake.New(snap, grid.DefaultCalendar())
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestLocateOwners(t *testing.T) {
	a := testAssigner(t)
	cases := []struct {
		name           string
		p              orb.Point
		category       string
		cell, dept     string // "" cell: outside
		rule           int64
		zone           string
		noOwnerWithout bool
	}{
		{"city rule", orb.Point{121.105, 28.805}, "E0505", "331082001001001", "D03", 1, "", false},
		{"zone kind beats city", orb.Point{121.117, 28.802}, "E0505", "331082001001002", "D02", 2, "PARK1", false},
		{"west of the park", orb.Point{121.112, 28.802}, "E0505", "331082001001002", "D03", 1, "", false},
		{"cell rule beats city", orb.Point{121.135, 28.805}, "E0505", "331082001002002", "D01", 3, "", false},
		{"town fallback", orb.Point{121.105, 28.805}, "P0101", "331082001001001", "331082001", 4, "", false},
		{"event in the park, no city rule", orb.Point{121.117, 28.803}, "E0102", "331082001001002", "D02", 2, "PARK1", false},
		{"no category: place only", orb.Point{121.125, 28.805}, "", "331082001002001", "", 0, "", true},
		// A shared edge belongs to the cell with the smallest code.
		{"shared edge", orb.Point{121.12, 28.805}, "", "331082001001002", "", 0, "", true},
		{"outside", orb.Point{121.2, 28.805}, "E0505", "", "", 0, "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, s := range []*intake.Scratch{{}, intake.NewBatchScratch()} {
				for range 2 { // twice: the batch scratch answers the second from its memo
					cell, o := a.Locate(tc.p, tc.category, s)
					if tc.cell == "" {
						if cell >= 0 {
							t.Fatalf("cell %d, want outside", cell)
						}
						continue
					}
					if cell < 0 || a.Snapshot().Cells[cell].Code != tc.cell {
						t.Fatalf("cell %d, want %s", cell, tc.cell)
					}
					if o.OK == tc.noOwnerWithout {
						t.Fatalf("owner ok %v", o.OK)
					}
					if !o.OK {
						continue
					}
					if o.Decision.Department.Code != tc.dept || o.Decision.Rule.ID != tc.rule || o.Decision.ZoneCode != tc.zone {
						t.Fatalf("owner %s by rule %d zone %q, want %s by %d zone %q",
							o.Decision.Department.Code, o.Decision.Rule.ID, o.Decision.ZoneCode, tc.dept, tc.rule, tc.zone)
					}
				}
			}
		})
	}
}

// The batch memo is per category: alternating categories never hand one
// category's owner to another.
func TestBatchScratchAlternatingCategories(t *testing.T) {
	a := testAssigner(t)
	s := intake.NewBatchScratch()
	p := orb.Point{121.135, 28.805}
	for i := range 6 {
		cat, want := "E0505", "D01"
		if i%2 == 1 {
			cat, want = "P0101", "331082001"
		}
		if _, o := a.Locate(p, cat, s); !o.OK || o.Decision.Department.Code != want {
			t.Fatalf("%s: %+v, want %s", cat, o, want)
		}
	}
}

func TestAssign(t *testing.T) {
	a := testAssigner(t)
	now := time.Date(2026, 11, 2, 9, 0, 0, 0, grid.ChinaTime()) // a Monday, working hours
	good := intake.Report{Category: "E0505", Point: orb.Point{121.117, 28.802}, OccurredAt: now.Add(-time.Hour),
		Source: "collector", Description: "占道停车", ExternalID: "x-1"}
	x, err := a.Assign(&good, now, &intake.Scratch{})
	if err != nil {
		t.Fatal(err)
	}
	wantH3, err := h3.LatLngToCell(h3.NewLatLng(good.Point[1], good.Point[0]), intake.H3Res)
	if err != nil {
		t.Fatal(err)
	}
	if x.CellCode != "331082001001002" || x.CommunityCode != "331082001001" || x.TownCode != "331082001" ||
		x.Department != "D02" || x.RuleID != 2 || x.GridVersion != 7 || x.Status != grid.StatusCollected ||
		x.H3 != uint64(wantH3) || !x.ReceivedAt.Equal(now) || x.ExternalID != "x-1" || x.Source != "collector" {
		t.Fatalf("assigned %+v", x)
	}
	if want := grid.DefaultCalendar().Deadline(now, 4, grid.WorkingHours); !x.Deadline.Equal(want) {
		t.Fatalf("deadline %s, want %s", x.Deadline, want)
	}

	bad := []struct {
		name  string
		edit  func(r *intake.Report)
		kind  string
		field string
	}{
		{"bad category code", func(r *intake.Report) { r.Category = "X12" }, grid.Invalid, "category"},
		{"unknown category", func(r *intake.Report) { r.Category = "E9999" }, grid.Invalid, "category"},
		{"no time", func(r *intake.Report) { r.OccurredAt = time.Time{} }, grid.Invalid, "occurred_at"},
		{"future", func(r *intake.Report) { r.OccurredAt = now.Add(time.Hour) }, grid.Invalid, "occurred_at"},
		{"bad source", func(r *intake.Report) { r.Source = "pigeon" }, grid.Invalid, "source"},
		{"long description", func(r *intake.Report) { r.Description = strings.Repeat("x", intake.MaxDescription+1) }, grid.Invalid, "description"},
		{"long Chinese description", func(r *intake.Report) { r.Description = strings.Repeat("积", intake.MaxDescription+1) }, grid.Invalid, "4000 characters"},
		{"NUL in description", func(r *intake.Report) { r.Description = "a\x00b" }, grid.Invalid, "description"},
		{"NUL in external id", func(r *intake.Report) { r.ExternalID = "a\x00" }, grid.Invalid, "external_id"},
		{"long external id", func(r *intake.Report) { r.ExternalID = strings.Repeat("k", intake.MaxExternalID+1) }, grid.Invalid, "external_id"},
		{"not a point", func(r *intake.Report) { r.Point = orb.Point{200, 28.8} }, grid.Invalid, "lon/lat"},
		{"outside", func(r *intake.Report) { r.Point = orb.Point{121.3, 28.8} }, grid.NotFound, "outside"},
	}
	// The limit counts characters: 4,000 Chinese ones (12,000 bytes) pass.
	long := good
	long.Description = strings.Repeat("积", intake.MaxDescription)
	if _, err := a.Assign(&long, now, &intake.Scratch{}); err != nil {
		t.Errorf("a description of %d characters: %v", intake.MaxDescription, err)
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			r := good
			tc.edit(&r)
			_, err := a.Assign(&r, now, &intake.Scratch{})
			var ge *grid.Error
			if !errors.As(err, &ge) || ge.Kind != tc.kind || !strings.Contains(ge.Message, tc.field) {
				t.Fatalf("err %v, want %s naming %s", err, tc.kind, tc.field)
			}
		})
	}
}
