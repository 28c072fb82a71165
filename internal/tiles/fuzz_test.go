package tiles_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/tiles"
)

// FuzzParseLayers: a layer list is accepted exactly when every
// comma-separated name (spaces trimmed) is a tile layer; the result is that
// set, without duplicates, in the canonical order, and reads back as
// itself. A refusal is Invalid and names layers.
func FuzzParseLayers(f *testing.F) {
	for _, s := range []string{"cells", "towns,cells", "cells,towns", "cells, cells ,zones", "heatmap,incidents,facilities",
		"", ",", "cells,", "meta", "Cells", "towns,communities,cells,zones,facilities,incidents,heatmap", " cells\t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := tiles.ParseLayers(s)
		want := map[string]bool{}
		ok := s != ""
		for _, p := range strings.Split(s, ",") {
			p = strings.TrimSpace(p)
			ok = ok && slices.Contains(tiles.Layers(), p)
			want[p] = true
		}
		if ok != (err == nil) {
			t.Fatalf("ParseLayers(%q) = %q, %v; want accepted %v", s, got, err, ok)
		}
		if err != nil {
			if grid.KindOf(err) != grid.Invalid || !strings.HasPrefix(grid.MessageOf(err), "layers: ") {
				t.Fatalf("ParseLayers(%q): %v", s, err)
			}
			return
		}
		if len(got) != len(want) || len(got) == 0 {
			t.Fatalf("ParseLayers(%q) = %q, want the set %v", s, got, want)
		}
		last := -1
		for _, l := range got {
			i := slices.Index(tiles.Layers(), l)
			if !want[l] || i <= last {
				t.Fatalf("ParseLayers(%q) = %q: not the set in canonical order", s, got)
			}
			last = i
		}
		if again, err := tiles.ParseLayers(tiles.LayerKey(got)); err != nil || !slices.Equal(again, got) {
			t.Fatalf("ParseLayers(%q) = %q, which reads back as %q, %v", s, got, again, err)
		}
	})
}

// FuzzFilterKey: the cache key of a filter is injective: it decodes back
// to the filter's parameters with the empty values dropped, so two
// different filters never share a cached tile.
func FuzzFilterKey(f *testing.F) {
	f.Add("theme", "parking", "window", "2026-05-01T03:00:00Z/2026-05-31T03:00:00Z", "")
	f.Add("i.category", "E0505,E0506", "i.status", "", "collected")
	f.Add("a&b=c", "d=e&f", "a", "%zz;x", "+ ")
	f.Add("", "", "", "x", "\xff")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, v3 string) {
		v := url.Values{}
		v.Add(k1, v1)
		v.Add(k2, v2)
		v.Add(k1, v3)
		key := tiles.FilterKey(v)
		want := url.Values{}
		for k, vs := range v {
			for _, x := range vs {
				if x != "" {
					want.Add(k, x)
				}
			}
		}
		back, err := url.ParseQuery(key)
		if err != nil || len(back) != len(want) {
			t.Fatalf("FilterKey(%q) = %q, which decodes to %q, %v", v, key, back, err)
		}
		for k, vs := range want {
			if !slices.Equal(back[k], vs) {
				t.Fatalf("FilterKey(%q) = %q, which decodes to %q", v, key, back)
			}
		}
		if len(want) == 0 && key != "" {
			t.Fatalf("FilterKey(%q) = %q, want empty", v, key)
		}
	})
}
