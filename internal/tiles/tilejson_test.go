package tiles_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/tiles"
)

func TestTileJSON(t *testing.T) {
	city, _ := demoGrid(t)
	layers, err := tiles.ParseLayers("incidents,cells")
	if err != nil {
		t.Fatal(err)
	}
	tj, err := tiles.NewTileJSON(tiles.TileJSONOptions{
		BaseURL: "https://grid.example.cn", Layers: layers, Query: "theme=parking",
		MinZoom: 8, MaxZoom: 18, CityName: city.Name, Boundary: city.Boundary, Synthetic: city.Synthetic,
		GridVersion: 3, Fields: map[string]map[string]string{tiles.LayerFacilities: tiles.FacilityFields(city.Facilities)},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(tj)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TileJSON     string    `json:"tilejson"`
		Tiles        []string  `json:"tiles"`
		Scheme       string    `json:"scheme"`
		Version      string    `json:"version"`
		Attribution  string    `json:"attribution"`
		MinZoom      *int      `json:"minzoom"`
		MaxZoom      *int      `json:"maxzoom"`
		Bounds       []float64 `json:"bounds"`
		Center       []float64 `json:"center"`
		VectorLayers []struct {
			ID      string            `json:"id"`
			MinZoom *int              `json:"minzoom"`
			MaxZoom *int              `json:"maxzoom"`
			Fields  map[string]string `json:"fields"`
		} `json:"vector_layers"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.TileJSON != "3.0.0" || doc.Scheme != "xyz" || doc.Version != "3.0.0" || *doc.MinZoom != 8 || *doc.MaxZoom != 18 {
		t.Fatalf("header: %s", b)
	}
	if len(doc.Tiles) != 1 || doc.Tiles[0] != "https://grid.example.cn/tiles/cells,incidents/{z}/{x}/{y}.mvt?theme=parking" {
		t.Fatalf("tiles %v", doc.Tiles)
	}
	if u, err := url.Parse(doc.Tiles[0]); err != nil || !u.IsAbs() {
		t.Fatalf("tile URL %q is not absolute", doc.Tiles[0])
	}
	if !strings.Contains(doc.Attribution, "synthetic") {
		t.Fatalf("attribution %q does not say the data are synthetic", doc.Attribution)
	}
	cb := city.Boundary.Bound()
	if len(doc.Bounds) != 4 || doc.Bounds[0] > cb.Min[0] || doc.Bounds[1] > cb.Min[1] || doc.Bounds[2] < cb.Max[0] || doc.Bounds[3] < cb.Max[1] ||
		doc.Bounds[2]-doc.Bounds[0] > cb.Max[0]-cb.Min[0]+1e-5 {
		t.Fatalf("bounds %v, city %v", doc.Bounds, cb)
	}
	if len(doc.Center) != 3 || !planar.MultiPolygonContains(city.Boundary, orb.Point{doc.Center[0], doc.Center[1]}) ||
		doc.Center[2] < 8 || doc.Center[2] > 18 {
		t.Fatalf("center %v", doc.Center)
	}
	want := map[string]map[string]string{
		"cells": {"code": "String", "name": "String", "community": "String", "town": "String", "area_m2": "Number"},
		"incidents": {"category": "String", "theme": "String", "status": "String", "deadline": "Number", "overdue": "Boolean", "department": "String", "cell": "String", "town": "String",
			"h3": "String", "count": "Number"},
		"meta": {"layer": "String", "truncated": "Boolean", "total": "Number", "shown": "Number",
			"aggregated": "Boolean", "res": "Number", "bound": "Number"},
	}
	if len(doc.VectorLayers) != len(want) {
		t.Fatalf("vector_layers %s", b)
	}
	for _, vl := range doc.VectorLayers {
		w, ok := want[vl.ID]
		if !ok || vl.MinZoom == nil || vl.MaxZoom == nil {
			t.Fatalf("vector layer %+v", vl)
		}
		if len(vl.Fields) != len(w) {
			t.Errorf("%s fields %v, want %v", vl.ID, vl.Fields, w)
		}
		for k, v := range w {
			if vl.Fields[k] != v {
				t.Errorf("%s.%s = %q, want %q", vl.ID, k, vl.Fields[k], v)
			}
		}
	}

	// Facilities list their own attributes.
	tj, err = tiles.NewTileJSON(tiles.TileJSONOptions{BaseURL: "http://127.0.0.1:8080", Layers: []string{"facilities"},
		MaxZoom: 18, Boundary: city.Boundary, Fields: map[string]map[string]string{tiles.LayerFacilities: tiles.FacilityFields(city.Facilities)}})
	if err != nil {
		t.Fatal(err)
	}
	if f := tj.VectorLayers[0].Fields; f["grade"] != "String" || f["owner"] != "String" || f["code"] != "String" || tj.VectorLayers[1].ID != "meta" {
		t.Fatalf("facility fields %v", tj.VectorLayers)
	}
	if strings.Contains(tj.Attribution, "synthetic") {
		t.Fatalf("attribution %q for a real city", tj.Attribution)
	}

	for _, o := range []tiles.TileJSONOptions{
		{BaseURL: "grid.example.cn", Layers: layers, MaxZoom: 18, Boundary: city.Boundary},
		{BaseURL: "ftp://x", Layers: layers, MaxZoom: 18, Boundary: city.Boundary},
		{BaseURL: "https://x", Layers: []string{"roads"}, MaxZoom: 18, Boundary: city.Boundary},
		{BaseURL: "https://x", Layers: layers, MinZoom: 9, MaxZoom: 8, Boundary: city.Boundary},
		{BaseURL: "https://x", Layers: layers, MaxZoom: 18},
	} {
		if _, err := tiles.NewTileJSON(o); grid.KindOf(err) != grid.Invalid {
			t.Errorf("%+v: err %v, want invalid", o.BaseURL, err)
		}
	}
}
