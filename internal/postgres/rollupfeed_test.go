package postgres

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
)

// TestRollupPayloadRoundTrip: slices survive encoding as runs of days; a
// list too long for one notification becomes "everything".
func TestRollupPayloadRoundTrip(t *testing.T) {
	var ss []grid.RollupSlice
	start := time.Date(2025, 12, 25, 0, 0, 0, 0, time.UTC)
	for _, off := range []int{0, 1, 2, 3, 9, 40, 41} { // runs across a year's end
		d := start.AddDate(0, 0, off)
		ss = append(ss, grid.RollupSlice{Category: "E0505", Day: grid.Date{Year: d.Year(), Month: d.Month(), Day: d.Day()}})
	}
	ss = append(ss, grid.RollupSlice{Category: "P0301", Day: grid.Date{Year: 2026, Month: 2, Day: 28}}, ss[0])
	p := encodeSlices("abc", ss)
	if want := "abc;E0505=20251225-20251228,20260103,20260203-20260204;P0301=20260228"; p != want {
		t.Fatalf("payload %q, want %q", p, want)
	}
	origin, all, got, err := decodeSlices(p)
	if err != nil || origin != "abc" || all {
		t.Fatalf("decode: %q %v %v", origin, all, err)
	}
	want := slices.Compact(slices.Clone(ss[:len(ss)-1]))
	if !slices.Equal(got, want) {
		t.Fatalf("decoded %v, want %v", got, want)
	}
	var many []grid.RollupSlice
	for i := range 2000 { // every other day: no runs to merge
		d := start.AddDate(0, 0, 2*i)
		many = append(many, grid.RollupSlice{Category: "E0505", Day: grid.Date{Year: d.Year(), Month: d.Month(), Day: d.Day()}})
	}
	if p := encodeSlices("abc", many); p != "abc;*" {
		t.Fatalf("long payload not collapsed: %d bytes", len(p))
	}
	if _, all, _, _ := decodeSlices("abc;*"); !all {
		t.Fatal(`"*" not read as everything`)
	}
	for _, bad := range []string{"abc;E0505", "abc;E0505=2026", "abc;E0505=20260105-20260101"} {
		if _, _, _, err := decodeSlices(bad); err == nil || !strings.Contains(err.Error(), "rollup notification") {
			t.Errorf("%q: err %v", bad, err)
		}
	}
}
