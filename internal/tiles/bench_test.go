package tiles_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/paulmach/orb/encoding/mvt"

	"github.com/citygrid/citygrid/internal/tiles"
)

// reportP50 times each iteration of fn and reports the median as p50-ns.
func reportP50(b *testing.B, fn func()) {
	b.Helper()
	d := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		fn()
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
}

// BenchmarkCellsTileZ14 draws and encodes the z14 cells tile over the old
// town without a cache (the zoom's simplification is computed once
// beforehand, as NewGrid's first tile of a zoom does). Budget: p50 ≤ 2 ms.
func BenchmarkCellsTileZ14(b *testing.B) {
	_, g := demoGrid(b)
	t := oldTown(14)
	g.Warm()
	reportP50(b, func() {
		l, err := g.Layer(tiles.LayerCells, t, tiles.GridFilter{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tiles.Encode(l); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkGridCompositeZ14: towns, communities, cells and zones in one
// tile.
func BenchmarkGridCompositeZ14(b *testing.B) {
	_, g := demoGrid(b)
	t := oldTown(14)
	g.Warm()
	reportP50(b, func() {
		var ls []*mvt.Layer
		for _, name := range tiles.GridLayers() {
			l, err := g.Layer(name, t, tiles.GridFilter{})
			if err != nil {
				b.Fatal(err)
			}
			ls = append(ls, l)
		}
		if _, err := tiles.Encode(ls...); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkHeatmapTileZ12: the res-8 heatmap of the whole city's bound
// (some 5,000 cells), one z12 tile.
func BenchmarkHeatmapTileZ12(b *testing.B) {
	t := &testing.T{}
	cells := cityHeat(t, tiles.TileRes(12))
	tile := oldTown(12)
	reportP50(b, func() {
		l, err := tiles.HeatmapLayer(tile, cells)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := tiles.Encode(l); err != nil {
			b.Fatal(err)
		}
	})
}

// BenchmarkCacheHit: a cached tile through GetOrLoad.
func BenchmarkCacheHit(b *testing.B) {
	c := tiles.NewCache(0)
	layers := []string{tiles.LayerCells}
	k := tiles.NewKey(layers, oldTown(14), "", "public")
	load := func(context.Context) (tiles.Tile, error) { return tiles.Tile{Data: make([]byte, 20000)}, nil }
	if _, _, err := c.GetOrLoad(context.Background(), k, load); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := c.GetOrLoad(ctx, k, load); err != nil {
				b.Fatal(err)
			}
		}
	})
}
