// Package geodata holds the demo city of citygrid: a synthetic Linhai (临海)
// with the real names and codes of its 19 towns and streets, and generated
// shapes for everything else. The files under linhai/ are written by
// ./gen (go run ./geodata/gen -out geodata/linhai) and embedded here.
package geodata

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/citygrid/citygrid/internal/grid"
)

//go:embed linhai
var embedded embed.FS

// Files returns the demo city's files (the linhai/ directory), e.g. to
// fingerprint the demo data.
func Files() fs.FS {
	sub, err := fs.Sub(embedded, "linhai")
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}

// Linhai parses the embedded demo city. Every error is of kind
// grid.Internal: the data ships with the binary and is tested.
func Linhai() (*grid.City, error) {
	c := &grid.City{Code: grid.CountyCode, Name: "临海市", Synthetic: true}
	fsys := Files()

	fc, err := readFC(fsys, "boundary.geojson")
	if err != nil {
		return nil, err
	}
	if len(fc.Features) != 1 {
		return nil, grid.Errorf(grid.Internal, "geodata: boundary.geojson: want 1 feature, have %d", len(fc.Features))
	}
	if c.Boundary, err = multiPolygon(fc.Features[0].Geometry); err != nil {
		return nil, grid.Errorf(grid.Internal, "geodata: boundary.geojson: %v", err)
	}
	c.Code = prop(fc.Features[0], "code")
	c.Name = prop(fc.Features[0], "name")

	if fc, err = readFC(fsys, "towns.geojson"); err != nil {
		return nil, err
	}
	for _, f := range fc.Features {
		g, err := multiPolygon(f.Geometry)
		if err != nil {
			return nil, grid.Errorf(grid.Internal, "geodata: town %s: %v", prop(f, "code"), err)
		}
		c.Towns = append(c.Towns, grid.Town{Code: prop(f, "code"), Name: prop(f, "name"), Kind: prop(f, "kind"), Geometry: g})
	}

	if fc, err = readFC(fsys, "communities.geojson"); err != nil {
		return nil, err
	}
	for _, f := range fc.Features {
		g, err := multiPolygon(f.Geometry)
		if err != nil {
			return nil, grid.Errorf(grid.Internal, "geodata: community %s: %v", prop(f, "code"), err)
		}
		c.Communities = append(c.Communities, grid.Community{Code: prop(f, "code"), Name: prop(f, "name"),
			TownCode: prop(f, "town_code"), Geometry: g})
	}

	if fc, err = readFC(fsys, "cells.geojson"); err != nil {
		return nil, err
	}
	for _, f := range fc.Features {
		g, err := multiPolygon(f.Geometry)
		if err != nil {
			return nil, grid.Errorf(grid.Internal, "geodata: cell %s: %v", prop(f, "code"), err)
		}
		c.Cells = append(c.Cells, grid.Cell{Code: prop(f, "code"), Name: prop(f, "name"),
			CommunityCode: prop(f, "community_code"), TownCode: prop(f, "town_code"), Geometry: g})
	}

	if fc, err = readFC(fsys, "zones.geojson"); err != nil {
		return nil, err
	}
	for _, f := range fc.Features {
		g, err := multiPolygon(f.Geometry)
		if err != nil {
			return nil, grid.Errorf(grid.Internal, "geodata: zone %s: %v", prop(f, "code"), err)
		}
		c.Zones = append(c.Zones, grid.Zone{Code: prop(f, "code"), Name: prop(f, "name"), Kind: prop(f, "kind"), Geometry: g})
	}

	if fc, err = readFC(fsys, "facilities.geojson"); err != nil {
		return nil, err
	}
	for _, f := range fc.Features {
		p, ok := f.Geometry.(orb.Point)
		if !ok {
			return nil, grid.Errorf(grid.Internal, "geodata: facility %s: geometry %T, want Point", prop(f, "code"), f.Geometry)
		}
		x := grid.Facility{Code: prop(f, "code"), Kind: prop(f, "kind"), Name: prop(f, "name"), Point: p, Attrs: map[string]string{}}
		for k, v := range f.Properties {
			switch k {
			case "code", "kind", "name":
			default:
				if s, ok := v.(string); ok {
					x.Attrs[k] = s
				} else {
					x.Attrs[k] = fmt.Sprint(v)
				}
			}
		}
		c.Facilities = append(c.Facilities, x)
	}

	var depts struct {
		Departments []struct {
			Code     string `json:"code"`
			Name     string `json:"name"`
			Kind     string `json:"kind"`
			TownCode string `json:"town_code"`
		} `json:"departments"`
	}
	if err := readJSON(fsys, "departments.json", &depts); err != nil {
		return nil, err
	}
	for _, d := range depts.Departments {
		c.Departments = append(c.Departments, grid.Department{Code: d.Code, Name: d.Name, Kind: d.Kind, TownCode: d.TownCode})
	}

	var cats struct {
		Categories []struct {
			Code      string `json:"code"`
			Name      string `json:"name"`
			MajorName string `json:"major_name"`
			Limit     int    `json:"limit"`
			Unit      string `json:"unit"`
			Theme     string `json:"theme"`
		} `json:"categories"`
	}
	if err := readJSON(fsys, "categories.json", &cats); err != nil {
		return nil, err
	}
	for _, x := range cats.Categories {
		c.Categories = append(c.Categories, grid.Category{Code: x.Code, Name: x.Name, MajorName: x.MajorName,
			Limit: x.Limit, Unit: x.Unit, Theme: x.Theme})
	}

	var rules struct {
		Rules []struct {
			ID         int64  `json:"id"`
			Pattern    string `json:"pattern"`
			Scope      string `json:"scope"`
			ScopeCode  string `json:"scope_code"`
			Department string `json:"department"`
			Priority   int    `json:"priority"`
			Fallback   bool   `json:"fallback"`
			Note       string `json:"note"`
		} `json:"rules"`
	}
	if err := readJSON(fsys, "rules.json", &rules); err != nil {
		return nil, err
	}
	for _, r := range rules.Rules {
		c.Rules = append(c.Rules, grid.Rule{ID: r.ID, Pattern: r.Pattern, Scope: r.Scope, ScopeCode: r.ScopeCode,
			Department: r.Department, Priority: r.Priority, Fallback: r.Fallback, Note: r.Note})
	}
	return c, nil
}

// MustLinhai is Linhai for callers that cannot go on without the demo city
// (tests, fixtures); it panics on error.
func MustLinhai() *grid.City {
	c, err := Linhai()
	if err != nil {
		panic(err)
	}
	return c
}

// Street is a commercial street: a hotspot of parking problems.
type Street struct {
	Name     string
	TownCode string
	Weight   float64 // relative activity
	Line     orb.LineString
}

// Spot is a point hotspot: a water-logging low point or a market.
type Spot struct {
	Name     string
	TownCode string
	Weight   float64 // relative activity
	Point    orb.Point
}

// Anchors are the places where the demo city's problems concentrate.
type Anchors struct {
	CommercialStreets []Street
	LowPoints         []Spot // water-logging points; each has a sensor facility
	Markets           []Spot
}

// LinhaiAnchors parses the demo city's hotspot anchors (linhai/anchors.json).
// Errors are of kind grid.Internal.
func LinhaiAnchors() (*Anchors, error) {
	type spot struct {
		Name     string     `json:"name"`
		TownCode string     `json:"town_code"`
		Weight   float64    `json:"weight"`
		Point    [2]float64 `json:"point"`
	}
	var f struct {
		CommercialStreets []struct {
			Name     string       `json:"name"`
			TownCode string       `json:"town_code"`
			Weight   float64      `json:"weight"`
			Line     [][2]float64 `json:"line"`
		} `json:"commercial_streets"`
		LowPoints []spot `json:"low_points"`
		Markets   []spot `json:"markets"`
	}
	if err := readJSON(Files(), "anchors.json", &f); err != nil {
		return nil, err
	}
	a := &Anchors{}
	for _, s := range f.CommercialStreets {
		ls := make(orb.LineString, len(s.Line))
		for i, p := range s.Line {
			ls[i] = orb.Point(p)
		}
		a.CommercialStreets = append(a.CommercialStreets, Street{s.Name, s.TownCode, s.Weight, ls})
	}
	for _, s := range f.LowPoints {
		a.LowPoints = append(a.LowPoints, Spot{s.Name, s.TownCode, s.Weight, orb.Point(s.Point)})
	}
	for _, s := range f.Markets {
		a.Markets = append(a.Markets, Spot{s.Name, s.TownCode, s.Weight, orb.Point(s.Point)})
	}
	return a, nil
}

func readFC(fsys fs.FS, name string) (*geojson.FeatureCollection, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, grid.Errorf(grid.Internal, "geodata: %v", err)
	}
	fc, err := geojson.UnmarshalFeatureCollection(b)
	if err != nil {
		return nil, grid.Errorf(grid.Internal, "geodata: %s: %v", name, err)
	}
	if m, ok := fc.ExtraMembers["citygrid"].(map[string]any); !ok || m["synthetic"] != true {
		return nil, grid.Errorf(grid.Internal, "geodata: %s: not marked synthetic", name)
	}
	return fc, nil
}

func readJSON(fsys fs.FS, name string, v any) error {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return grid.Errorf(grid.Internal, "geodata: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return grid.Errorf(grid.Internal, "geodata: %s: %v", name, err)
	}
	return nil
}

func prop(f *geojson.Feature, key string) string {
	s, _ := f.Properties[key].(string)
	return s
}

func multiPolygon(g orb.Geometry) (orb.MultiPolygon, error) {
	switch g := g.(type) {
	case orb.Polygon:
		return orb.MultiPolygon{g}, nil
	case orb.MultiPolygon:
		return g, nil
	}
	return nil, fmt.Errorf("geometry %T, want Polygon", g)
}
