package postgres

import (
	"cmp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
)

func sortSlices(ss []grid.RollupSlice) []grid.RollupSlice {
	ss = slices.Clone(ss)
	slices.SortFunc(ss, func(a, b grid.RollupSlice) int {
		return cmp.Or(strings.Compare(a.Category, b.Category), strings.Compare(a.Town, b.Town), a.Day.Time().Compare(b.Day.Time()))
	})
	return slices.Compact(ss)
}

// TestRollupPayloadRoundTrip: slices survive encoding as runs of days, the
// towns that share their days in one group; a list too long for one
// notification takes several, one too long for a few loses its towns, and
// one too long even so becomes "everything".
func TestRollupPayloadRoundTrip(t *testing.T) {
	var ss []grid.RollupSlice
	start := time.Date(2025, 12, 25, 0, 0, 0, 0, time.UTC)
	for _, town := range []string{"331082001", "331082002"} {
		for _, off := range []int{0, 1, 2, 3, 9, 40, 41} { // runs across a year's end
			d := start.AddDate(0, 0, off)
			ss = append(ss, grid.RollupSlice{Category: "E0505", Day: grid.DateOf(d), Town: town})
		}
	}
	ss = append(ss, grid.RollupSlice{Category: "E0505", Day: grid.Date{Year: 2026, Month: 1, Day: 3}, Town: "331082003"},
		grid.RollupSlice{Category: "P0301", Day: grid.Date{Year: 2026, Month: 2, Day: 28}, Town: "331082001"}, ss[0])
	ps := encodeSlices("abc", ss)
	want := []string{"abc;E0505@331082001+331082002=20251225-20251228,20260103,20260203-20260204;E0505@331082003=20260103;P0301@331082001=20260228"}
	if !slices.Equal(ps, want) {
		t.Fatalf("payloads %q, want %q", ps, want)
	}
	origin, all, got, err := decodeSlices(ps[0])
	if err != nil || origin != "abc" || all {
		t.Fatalf("decode: %q %v %v", origin, all, err)
	}
	if got, want := sortSlices(got), sortSlices(ss); !slices.Equal(got, want) {
		t.Fatalf("decoded %v, want %v", got, want)
	}

	// Every other day in 19 towns, each town's days its own: several
	// payloads, each under the limit, that decode to the same slices.
	var many []grid.RollupSlice
	for town := range 19 {
		for i := range 60 {
			d := start.AddDate(0, 0, 2*i+town)
			many = append(many, grid.RollupSlice{Category: "E0505", Day: grid.DateOf(d), Town: "3310821" + string(rune('0'+town/10)) + string(rune('0'+town%10))})
		}
	}
	ps = encodeSlices("abc", many)
	if len(ps) < 2 || len(ps) > maxNotifies {
		t.Fatalf("%d payloads for %d slices", len(ps), len(many))
	}
	var back []grid.RollupSlice
	for _, p := range ps {
		if len(p) > maxPayload {
			t.Errorf("payload of %d bytes", len(p))
		}
		_, all, got, err := decodeSlices(p)
		if err != nil || all {
			t.Fatalf("decode %q: %v %v", p[:40], all, err)
		}
		back = append(back, got...)
	}
	if got, want := sortSlices(back), sortSlices(many); !slices.Equal(got, want) {
		t.Fatalf("decoded %d slices, want %d", len(got), len(want))
	}

	// A bulk load spread over a year in every town: too many groups by
	// town, so every town of those days.
	var spread []grid.RollupSlice
	for i := range 15000 { // each town every other day, from its own first day
		d := start.AddDate(0, 0, 2*(i%1500)+i/1500)
		spread = append(spread, grid.RollupSlice{Category: "E0505", Day: grid.DateOf(d), Town: "33108200" + string(rune('0'+i/1500))})
	}
	ps = encodeSlices("abc", spread)
	if len(ps) != 1 || !strings.HasPrefix(ps[0], "abc;E0505@*=20251225-") {
		t.Fatalf("a spread list: %d payloads, %.40q…", len(ps), ps[0])
	}
	_, all, got, err = decodeSlices(ps[0])
	if err != nil || all || len(got) != 3008 || got[0] != (grid.RollupSlice{Category: "E0505", Day: grid.DateOf(start)}) {
		t.Fatalf("decoded %d slices (%v, %v), first %v", len(got), all, err, got[:1])
	}
	var huge []grid.RollupSlice
	for c := range 200 { // every other day in 200 categories: no runs to merge
		for i := range 1000 {
			huge = append(huge, grid.RollupSlice{Category: "E" + string(rune('0'+c/100)) + string(rune('0'+c/10%10)) + string(rune('0'+c%10)) + "0",
				Day: grid.DateOf(start.AddDate(0, 0, 2*i)), Town: "331082001"})
		}
	}
	if ps := encodeSlices("abc", huge); !slices.Equal(ps, []string{"abc;*"}) {
		t.Fatalf("a huge list not collapsed: %d payloads", len(ps))
	}
	if _, all, _, _ := decodeSlices("abc;*"); !all {
		t.Fatal(`"*" not read as everything`)
	}
	for _, bad := range []string{"abc;E0505", "abc;E0505=20260101", "abc;E0505@=20260101", "abc;E0505@331082001=2026",
		"abc;E0505@331082001=20260105-20260101", "abc;E0505@331082001++331082002=20260101"} {
		if _, _, _, err := decodeSlices(bad); err == nil || !strings.Contains(err.Error(), "rollup notification") {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}
