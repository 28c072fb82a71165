package grid_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
)

func TestCodes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		f    func(string) bool
		code string
		want bool
	}{
		{grid.ValidTownCode, "331082001", true},
		{grid.ValidTownCode, "33108200", false},
		{grid.ValidTownCode, "33108200a", false},
		{grid.ValidCommunityCode, "331082001003", true},
		{grid.ValidCommunityCode, "3310820010031", false},
		{grid.ValidCellCode, "331082001003017", true},
		{grid.ValidCellCode, "33108200100317", true}, // CJ/T 213-2005
		{grid.ValidCellCode, "3310820010031", false},
		{grid.ValidCellCode, "", false},
		{grid.ValidCategoryCode, "E0505", true},
		{grid.ValidCategoryCode, "P0101", true},
		{grid.ValidCategoryCode, "X0505", false},
		{grid.ValidCategoryCode, "E0005", false},
		{grid.ValidCategoryCode, "E0500", false},
		{grid.ValidCategoryCode, "E050", false},
		{grid.ValidPartID, "3205080101000001", true},
		{grid.ValidPartID, "320508010100001", false},
		{grid.ValidPattern, "*", true},
		{grid.ValidPattern, "E*", true},
		{grid.ValidPattern, "E05*", true},
		{grid.ValidPattern, "E0505", true},
		{grid.ValidPattern, "E5*", false},
		{grid.ValidPattern, "Q*", false},
		{grid.ValidPattern, "", false},
	} {
		if got := c.f(c.code); got != c.want {
			t.Errorf("%q: got %v, want %v", c.code, got, c.want)
		}
	}
	if err := grid.CheckCellCode("331082001003017", "331082001003"); err != nil {
		t.Error(err)
	}
	if err := grid.CheckCellCode("331082001004017", "331082001003"); grid.KindOf(err) != grid.Invalid {
		t.Errorf("cell outside its community's code: %v", err)
	}
}

func TestMatchPattern(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		p, c string
		want bool
	}{
		{"*", "E0505", true}, {"E*", "E0505", true}, {"P*", "E0505", false},
		{"E05*", "E0505", true}, {"E05*", "E0406", false}, {"E0505", "E0505", true}, {"E0505", "E0506", false},
	} {
		if got := grid.MatchPattern(c.p, c.c); got != c.want {
			t.Errorf("MatchPattern(%q, %q) = %v", c.p, c.c, got)
		}
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	rank := func(r grid.Rule, kind string) grid.Precedence { return grid.PrecedenceOf(r, kind) }
	order := []grid.Precedence{ // ascending
		rank(grid.Rule{Pattern: "*", Scope: grid.ScopeTown, ScopeCode: "331082001", Fallback: true}, ""),
		rank(grid.Rule{Pattern: "E*", Scope: grid.ScopeCity}, ""),
		rank(grid.Rule{Pattern: "E0505", Scope: grid.ScopeCity}, ""),
		rank(grid.Rule{Pattern: "E*", Scope: grid.ScopeTown, ScopeCode: "331082001"}, ""),
		rank(grid.Rule{Pattern: "E*", Scope: grid.ScopeCommunity}, ""),
		rank(grid.Rule{Pattern: "E*", Scope: grid.ScopeCell}, ""),
		rank(grid.Rule{Pattern: "E*", Scope: grid.ScopeZoneKind, ScopeCode: grid.ZoneUrbanCore}, grid.ZoneUrbanCore),
		rank(grid.Rule{Pattern: "E*", Scope: grid.ScopeZoneKind, ScopeCode: grid.ZonePark}, grid.ZonePark),
		rank(grid.Rule{Pattern: "E0505", Scope: grid.ScopeZoneKind, ScopeCode: grid.ZonePark}, grid.ZonePark),
		rank(grid.Rule{Pattern: "E0505", Scope: grid.ScopeZoneKind, ScopeCode: grid.ZonePark, Priority: 1}, grid.ZonePark),
		rank(grid.Rule{Pattern: "*", Scope: grid.ScopeZone}, grid.ZoneUrbanCore),
	}
	for i := 1; i < len(order); i++ {
		if !order[i-1].Less(order[i]) || order[i].Less(order[i-1]) {
			t.Errorf("precedence %d (%+v) should lose to %d (%+v)", i-1, order[i-1], i, order[i])
		}
	}
}

func TestCalendarDeadlines(t *testing.T) {
	t.Parallel()
	cal := grid.DefaultCalendar()
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, cal.Loc)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	national, _ := grid.ParseDate("2026-10-01")
	makeup, _ := grid.ParseDate("2026-10-10") // a Saturday worked
	cal.Holidays[national] = true
	cal.Workdays[makeup] = true
	for _, c := range []struct {
		start string
		limit int
		unit  string
		want  string
	}{
		{"2026-11-23 09:00", 2, grid.WorkingHours, "2026-11-23 11:00"}, // Monday morning
		{"2026-11-23 11:00", 2, grid.WorkingHours, "2026-11-23 14:30"}, // across lunch
		{"2026-11-23 17:00", 1, grid.WorkingHours, "2026-11-24 09:00"}, // across the night
		{"2026-11-27 16:30", 4, grid.WorkingHours, "2026-11-30 11:30"}, // Friday → Monday
		{"2026-11-28 10:00", 1, grid.WorkingHours, "2026-11-30 09:30"}, // reported on Saturday
		{"2026-11-23 07:00", 1, grid.WorkingHours, "2026-11-23 09:30"}, // before work
		{"2026-11-23 12:30", 1, grid.WorkingHours, "2026-11-23 14:30"}, // at lunch
		{"2026-09-30 17:00", 1, grid.WorkingHours, "2026-10-02 09:00"}, // holiday skipped
		{"2026-10-09 17:00", 1, grid.WorkingHours, "2026-10-10 09:00"}, // make-up Saturday worked
		{"2026-11-23 09:00", 1, grid.WorkingDays, "2026-11-24 09:00"},  // one working day
		{"2026-11-23 08:30", 15, grid.WorkingDays, "2026-12-11 17:30"}, // 违法搭建: 15 working days
		{"2026-11-23 10:00", 0, grid.WorkingHours, "2026-11-23 10:00"}, // zero limit
	} {
		got := cal.Deadline(at(c.start), c.limit, c.unit)
		if !got.Equal(at(c.want)) {
			t.Errorf("%s + %d %s = %s, want %s", c.start, c.limit, c.unit, got.Format("2006-01-02 15:04 Mon"), c.want)
		}
	}
}

func TestParseImport(t *testing.T) {
	t.Parallel()
	good := `{"type":"FeatureCollection","features":[
	 {"type":"Feature","properties":{"code":"331082001","name":"古城街道"},"geometry":{"type":"Polygon","coordinates":[[[121,28],[121.1,28],[121.1,28.1],[121,28]]]}},
	 {"type":"Feature","properties":{"code":"331082001001001","name":"c1"},"geometry":{"type":"Polygon","coordinates":[[[121,28],[121.1,28],[121.1,28.1],[121,28]]]}},
	 {"type":"Feature","properties":{"code":"Z1","name":"公园","kind":"park"},"geometry":{"type":"Polygon","coordinates":[[[121,28],[121.1,28],[121.1,28.1],[121,28]]]}}]}`
	fs, err := grid.ParseImport([]byte(good), "", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 3 || fs[0].Level != grid.LevelTown || fs[0].Kind != "street" || fs[1].Level != grid.LevelCell || fs[2].Level != grid.LevelZone {
		t.Errorf("parsed %+v", fs)
	}
	bad := `{"type":"FeatureCollection","features":[
	 {"type":"Feature","properties":{"code":"123","name":"x"},"geometry":{"type":"Polygon","coordinates":[[[121,28],[121.1,28],[121.1,28.1],[121,28]]]}},
	 {"type":"Feature","properties":{"code":"331082001001001"},"geometry":{"type":"Point","coordinates":[121,28]}},
	 {"type":"Feature","properties":{"code":"441082001001001","name":"y"},"geometry":{"type":"Polygon","coordinates":[[[121,28],[121.1,28],[121.1,28.1],[121,28]]]}}]}`
	_, err = grid.ParseImport([]byte(bad), "", "")
	var ge *grid.Error
	if e, ok := err.(*grid.Error); ok {
		ge = e
	}
	if ge == nil || ge.Kind != grid.Rejected {
		t.Fatalf("want Rejected, got %v", err)
	}
	all := strings.Join(ge.Details, "\n")
	for _, want := range []string{"code 123", "malformed code", "no \"name\"", "want Polygon", "county code"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems do not mention %q:\n%s", want, all)
		}
	}
	// Not GeoJSON at all is Invalid (400); GeoJSON the grid cannot take is
	// Rejected (422).
	for doc, kind := range map[string]string{``: grid.Invalid, `{}`: grid.Invalid, `[1,2]`: grid.Invalid, `null`: grid.Invalid,
		`{"type":"Feature","properties":{},"geometry":null}`: grid.Invalid,
		`{"type":"FeatureCollection","features":[]}`:         grid.Rejected} {
		if _, err := grid.ParseImport([]byte(doc), "", ""); grid.KindOf(err) != kind {
			t.Errorf("%q: want %s, got %v", doc, kind, err)
		}
	}
}

// TestParseImportShapes: what PostGIS would refuse to read, or would
// store under a constraint's error, is reported per feature first.
func TestParseImportShapes(t *testing.T) {
	t.Parallel()
	feature := func(code, name, kind, geom string) string {
		return fmt.Sprintf(`{"type":"Feature","properties":{"code":%q,"name":%q,"kind":%q},"geometry":%s}`, code, name, kind, geom)
	}
	sq := `{"type":"Polygon","coordinates":[[[121,28],[121.1,28],[121.1,28.1],[121,28]]]}`
	for _, c := range []struct{ feature, want string }{
		{`null`, "feature 0: null"},
		{feature("331082001001001", "c", "", `{"type":"Polygon","coordinates":[[[121,28],[121.1,28],[121,28]]]}`), "3 positions, want at least 4"},
		{feature("331082001001001", "c", "", `{"type":"Polygon","coordinates":[[[121,28],[121.1,28],[121.1,28.1],[121,28.1]]]}`), "ring 1 is not closed"},
		{feature("331082001001001", "c", "", `{"type":"Polygon","coordinates":[]}`), "polygon 1 is empty"},
		{feature("331082001001001", "c", "", `{"type":"MultiPolygon","coordinates":[]}`), "empty geometry"},
		{feature("331082001001001", "c", "", `{"type":"MultiPolygon","coordinates":[[[[121,28],[121.1,28],[121.1,28.1],[121,28]]],[[[121,28],[121,28]]]]}`), "polygon 2, ring 1: 2 positions"},
		{feature("331082001001001", "c", "", `null`), "no geometry"},
		{feature("公园一", "公园", "park", sq), "malformed zone code"},
		{`{"type":"Feature","properties":{"code":"331082001001001","name":"c\u0000d"},"geometry":` + sq + `}`, "NUL"},
	} {
		doc := `{"type":"FeatureCollection","features":[` + c.feature + `]}`
		_, err := grid.ParseImport([]byte(doc), "", "")
		var ge *grid.Error
		if !errors.As(err, &ge) || ge.Kind != grid.Rejected || len(ge.Details) != 1 || !strings.Contains(ge.Details[0], c.want) {
			t.Errorf("%s: want one Rejected problem mentioning %q, got %v %q", c.feature, c.want, err, details(err))
		}
	}
	// Many problems: all counted, the first MaxImportProblems listed.
	var fs []string
	for i := 0; i < grid.MaxImportProblems+50; i++ {
		fs = append(fs, feature("12345", "x", "", sq))
	}
	_, err := grid.ParseImport([]byte(`{"type":"FeatureCollection","features":[`+strings.Join(fs, ",")+`]}`), "", "")
	if d := details(err); len(d) != grid.MaxImportProblems || !strings.Contains(err.Error(), fmt.Sprintf("%d problem(s)", grid.MaxImportProblems+50)) {
		t.Errorf("%d problems listed, message %q", len(d), err)
	}
}

func details(err error) []string {
	var ge *grid.Error
	if errors.As(err, &ge) {
		return ge.Details
	}
	return nil
}

func TestReadImport(t *testing.T) {
	t.Parallel()
	doc := []byte(`{"type":"FeatureCollection","features":[
	 {"type":"Feature","properties":{"id":"331082001001001","label":"c1"},"geometry":{"type":"Polygon","coordinates":[[[121,28],[121.1,28],[121.1,28.1],[121,28]]]}}]}`)
	for crs, want := range map[string]struct {
		srid int
		gcj  bool
		name string
	}{"": {4326, false, "EPSG:4326"}, "epsg:4326": {4326, false, "EPSG:4326"}, "WGS84": {4326, false, "EPSG:4326"},
		"EPSG:4490": {4490, false, "EPSG:4490"}, "cgcs2000": {4490, false, "EPSG:4490"}, "EPSG:4549": {4549, false, "EPSG:4549"},
		"gcj02": {4326, true, "gcj02"}, "GCJ-02": {4326, true, "gcj02"}} {
		req, err := grid.ReadImport(grid.ImportFile{Data: doc, CRS: crs, CodeField: "id", NameField: "label", Source: "cells.geojson", Note: " survey 2024 "})
		if err != nil {
			t.Fatalf("crs %q: %v", crs, err)
		}
		if req.SRID != want.srid || req.GCJ02 != want.gcj || req.CRS != want.name || req.Source != "import: cells.geojson" ||
			req.Note != "survey 2024" || len(req.Features) != 1 || req.Features[0].Name != "c1" {
			t.Errorf("crs %q: %+v", crs, req)
		}
	}
	for _, f := range []grid.ImportFile{
		{Data: doc, CRS: "bd09"},
		{Data: doc, CRS: "EPSG:3857"},
		{Data: doc, CodeField: "a\nb"},
		{Data: doc, NameField: strings.Repeat("n", 101)},
		{Data: doc, Note: strings.Repeat("长", grid.MaxImportNote)},
		{Data: doc, Note: "a\x00b"},
		{Data: doc, Note: "\xff"},
	} {
		if _, err := grid.ReadImport(f); grid.KindOf(err) != grid.Invalid {
			t.Errorf("%+v: want Invalid, got %v", f, err)
		}
	}
}
