package hexbin

import (
	"cmp"
	"context"
	"flag"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/uber/h3-go/v4"
)

// heatBenchData is the rollup rows of n incidents over a year: 10
// categories (2 of them a theme of about 38 %), 19 towns, points in street
// clusters over the city, in one row per slice.
func heatBenchData(b *testing.B, n int) (*memRollups, time.Time) {
	b.Helper()
	r := rand.New(rand.NewPCG(7, 8))
	loc := time.FixedZone("CST", 8*3600)
	start := time.Date(2025, 12, 1, 0, 0, 0, 0, loc)
	var centres []h3.LatLng
	for range 2000 {
		centres = append(centres, h3.NewLatLng(28.7+r.Float64()*0.35, 120.9+r.Float64()*0.7))
	}
	type key struct {
		s    grid.RollupSlice
		hour int
		cell h3.Cell
	}
	sums := map[key]int64{}
	ex := &Exact{}
	cats := []string{"E0505", "E0506", "E0406", "E0102", "E0103", "E0104", "P0301", "E0501", "E0201", "E0504"}
	for range n {
		c := centres[r.IntN(len(centres))]
		ll := h3.NewLatLng(c.Lat+r.NormFloat64()*0.0004, c.Lng+r.NormFloat64()*0.0004)
		cat := cats[2+r.IntN(len(cats)-2)]
		if r.IntN(100) < 38 {
			cat = cats[r.IntN(2)]
		}
		at := start.Add(time.Duration(r.IntN(365*24)) * time.Hour)
		s := grid.RollupSlice{Category: cat, Day: grid.DateOf(at), Town: "3310820" + string(rune('0'+r.IntN(2))) + string(rune('0'+r.IntN(10)))}
		base, err := h3.LatLngToCell(ll, BaseRes)
		if err != nil {
			b.Fatal(err)
		}
		sums[key{s, at.Hour(), base}]++
		if err := ex.Corrections(ll, base, func(_ int, exact, parent h3.Cell) {
			sums[key{s, at.Hour(), exact}]++
			sums[key{s, at.Hour(), parent}]--
		}); err != nil {
			b.Fatal(err)
		}
	}
	src := &memRollups{}
	for k, v := range sums {
		if v != 0 {
			src.rows = append(src.rows, memRow{k.s, k.hour, uint64(k.cell), v})
		}
	}
	slices.SortFunc(src.rows, func(a, b memRow) int { // as a store streams them: a row per category and day
		return cmp.Or(strings.Compare(a.s.Category, b.s.Category), a.s.Day.Time().Compare(b.s.Day.Time()), strings.Compare(a.s.Town, b.s.Town))
	})
	return src, start
}

var heatIncidents = flag.Int("incidents", 1_000_000, "BenchmarkHeatmapYearRes8: how many synthetic incidents")

// BenchmarkHeatmapYearRes8: a theme's year at resolution 8 over 1,000,000
// incidents' rollups (another size with -args -incidents N).
func BenchmarkHeatmapYearRes8(b *testing.B) {
	src, start := heatBenchData(b, *heatIncidents)
	heat := NewHeat(src, nil, start.Location())
	ctx := context.Background()
	if err := heat.Load(ctx); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d incidents, %d rollup rows", *heatIncidents, len(src.rows))
	q := grid.HeatQuery{Categories: []string{"E0505", "E0506"}, Res: 8, From: start, To: start.AddDate(1, 0, 0)}
	b.ResetTimer()
	for b.Loop() {
		if _, err := heat.Heatmap(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHeatLoad(b *testing.B) {
	src, start := heatBenchData(b, 1_000_000)
	b.ResetTimer()
	for b.Loop() {
		if err := NewHeat(src, nil, start.Location()).Load(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
