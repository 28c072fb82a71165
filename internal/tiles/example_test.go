package tiles_test

import (
	"context"
	"fmt"
	"time"

	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"

	"github.com/citygrid/citygrid/geodata"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/tiles"
)

// A composite tile of the demo city's towns and cells, drawn once and then
// served from the cache until a change under it evicts it.
func Example() {
	city, err := geodata.Linhai()
	if err != nil {
		fmt.Println(err)
		return
	}
	g, err := tiles.NewGrid(&grid.Model{Version: grid.Version{ID: 1}, City: city})
	if err != nil {
		fmt.Println(err)
		return
	}
	cache := tiles.NewCache(0)

	// GET /tiles/cells,towns/14/13704/6819.mvt — the old town.
	layers, _ := tiles.ParseLayers("cells,towns")
	t := maptile.New(13704, 6819, 14)
	key := tiles.NewKey(layers, t, "", "public")
	draw := func(context.Context) (tiles.Tile, error) {
		var ls []*mvt.Layer
		for _, name := range layers {
			l, err := g.Layer(name, t, tiles.GridFilter{})
			if err != nil {
				return tiles.Tile{}, err
			}
			ls = append(ls, l)
		}
		return tiles.Encode(ls...)
	}
	tile, cached, err := cache.GetOrLoad(context.Background(), key, draw)
	if err != nil {
		fmt.Println(err)
		return
	}
	decoded, _ := mvt.Unmarshal(tile.Data)
	for _, l := range decoded {
		fmt.Printf("%s: %d features\n", l.Name, len(l.Features))
	}
	fmt.Println("cached:", cached)

	_, cached, _ = cache.GetOrLoad(context.Background(), key, draw)
	fmt.Println("cached:", cached)

	// A new grid version changes the cells everywhere.
	fmt.Println("evicted:", cache.EvictLayer(tiles.LayerCells))
	// Output:
	// towns: 2 features
	// cells: 105 features
	// cached: false
	// cached: true
	// evicted: 1
}

// An incident written at a point evicts exactly the cached incident tiles
// around it, whatever their filter or audience.
func ExampleCache_EvictPoint() {
	cache := tiles.NewCache(0)
	lon, lat := 121.1312, 28.8517
	for _, scope := range []string{"public", "331082001"} {
		for _, z := range []int{12, 14, 16} {
			t := maptile.New(uint32(tileX(lon, z)), uint32(tileY(lat, z)), maptile.Zoom(z))
			cache.Put(tiles.NewKey([]string{tiles.LayerIncidents}, t, "theme=parking", scope), tiles.Tile{Data: []byte{1}})
			cache.Put(tiles.NewKey([]string{tiles.LayerCells}, t, "", scope), tiles.Tile{Data: []byte{1}})
		}
	}
	fmt.Println("evicted:", cache.EvictPoint([]string{tiles.LayerIncidents, tiles.LayerHeatmap}, lon, lat))
	fmt.Println("left:", cache.Stats().Entries)
	// Output:
	// evicted: 6
	// left: 6
}

// The last 30 days, as a cache key: the same all hour, a new one when the
// hour turns.
func ExampleLastWindow() {
	now := time.Date(2026, 5, 31, 18, 42, 0, 0, time.UTC)
	w := tiles.LastWindow(now, 30*24*time.Hour)
	fmt.Println(w.Key())
	fmt.Println(tiles.LastWindow(now.Add(10*time.Minute), 30*24*time.Hour).Key() == w.Key())
	// Output:
	// 2026-05-01T19:00:00Z/2026-05-31T19:00:00Z
	// true
}

func ExampleParseLayers() {
	layers, err := tiles.ParseLayers("cells,towns,cells")
	fmt.Println(layers, err)
	_, err = tiles.ParseLayers("cells,roads")
	fmt.Println(grid.KindOf(err))
	// Output:
	// [towns cells] <nil>
	// invalid
}
