package tiles_test

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/tiles"
)

// A composite tile carries each layer once, decodable, with a stable
// strong ETag and a gzip variant that inflates to the same bytes.
func TestCompositeTile(t *testing.T) {
	city, g := demoGrid(t)
	tile := oldTown(14)
	var ls []*mvt.Layer
	for _, name := range []string{tiles.LayerTowns, tiles.LayerCells} {
		l, err := g.Layer(name, tile, tiles.GridFilter{})
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	fl, meta := tiles.FacilityLayer(tile, city.Facilities, 2)
	ls = append(ls, fl, tiles.MetaLayer(meta))
	enc, err := tiles.Encode(ls...)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range decode(t, enc) {
		names = append(names, name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"cells", "facilities", "meta", "towns"}) {
		t.Fatalf("layers %v", names)
	}
	again, _ := tiles.Encode(ls...)
	if !bytes.Equal(again.Data, enc.Data) || again.ETag != enc.ETag {
		t.Fatal("the same layers encode differently")
	}
	if q := enc.ETag; len(q) < 3 || q[0] != '"' || q[len(q)-1] != '"' || q[1] == 'W' {
		t.Fatalf("ETag %q is not a quoted strong tag", q)
	}
	gz, err := enc.WithGzip()
	if err != nil {
		t.Fatal(err)
	}
	r, err := gzip.NewReader(bytes.NewReader(gz.Gzip))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(r)
	if !bytes.Equal(raw, enc.Data) || gz.GzipETag() == gz.ETag || len(gz.Gzip) >= len(enc.Data) {
		t.Fatalf("gzip variant: %d bytes from %d, etags %s %s", len(gz.Gzip), len(enc.Data), gz.GzipETag(), gz.ETag)
	}
	other, _ := tiles.Encode(ls[1])
	if other.ETag == enc.ETag {
		t.Fatal("different tiles share an ETag")
	}

	dup := &mvt.Layer{Name: "cells", Features: []*geojson.Feature{geojson.NewFeature(orb.Point{1, 1})}}
	if _, err := tiles.Encode(ls[1], dup); grid.KindOf(err) != grid.Internal {
		t.Fatalf("a layer twice: %v", err)
	}
}

func TestParseLayers(t *testing.T) {
	for in, want := range map[string][]string{
		"cells":               {"cells"},
		"cells,towns":         {"towns", "cells"},
		"heatmap,cells,cells": {"cells", "heatmap"},
	} {
		got, err := tiles.ParseLayers(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("ParseLayers(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "roads", "cells,", "meta"} {
		if _, err := tiles.ParseLayers(in); grid.KindOf(err) != grid.Invalid {
			t.Errorf("ParseLayers(%q): %v, want invalid", in, err)
		}
	}
}

func TestWindows(t *testing.T) {
	now := time.Date(2026, 5, 31, 10, 42, 7, 0, time.FixedZone("CST", 8*3600))
	w := tiles.LastWindow(now, 30*24*time.Hour)
	if w.Key() != "2026-05-01T03:00:00Z/2026-05-31T03:00:00Z" {
		t.Fatalf("LastWindow key %s", w.Key())
	}
	if later := tiles.LastWindow(now.Add(17*time.Minute), 30*24*time.Hour); later.Key() != w.Key() {
		t.Fatal("the key changed within the hour")
	}
	if next := tiles.LastWindow(now.Add(18*time.Minute), 30*24*time.Hour); next.Key() == w.Key() {
		t.Fatal("the key did not change when the hour turned")
	}
	h := tiles.HourWindow(time.Date(2026, 5, 1, 3, 59, 0, 0, time.UTC), time.Date(2026, 5, 2, 0, 0, 1, 0, time.UTC))
	if h.Key() != "2026-05-01T03:00:00Z/2026-05-02T01:00:00Z" {
		t.Fatalf("HourWindow key %s", h.Key())
	}
	v := url.Values{"theme": {"parking"}, "window": {w.Key()}, "empty": {""}}
	if got := tiles.FilterKey(v); got != "theme=parking&window=2026-05-01T03%3A00%3A00Z%2F2026-05-31T03%3A00%3A00Z" {
		t.Fatalf("FilterKey %q", got)
	}
	if tiles.FilterKey(nil) != "" {
		t.Fatal("FilterKey of nothing")
	}
}
