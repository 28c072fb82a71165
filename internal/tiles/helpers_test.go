package tiles_test

import (
	"math"
	"sync"

	"github.com/paulmach/orb/geojson"
	"testing"

	"github.com/citygrid/citygrid/geodata"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/tiles"
)

// demo is the demo city and its grid layers, built once per test binary
// (read-only afterwards).
var demo struct {
	once sync.Once
	city *grid.City
	g    *tiles.Grid
	err  error
}

func demoGrid(tb testing.TB) (*grid.City, *tiles.Grid) {
	tb.Helper()
	demo.once.Do(func() {
		demo.city, demo.err = geodata.Linhai()
		if demo.err == nil {
			demo.g, demo.err = tiles.NewGrid(&grid.Model{Version: grid.Version{ID: 1}, City: demo.city})
		}
	})
	if demo.err != nil {
		tb.Fatal(demo.err)
	}
	return demo.city, demo.g
}

// featureID reads a decoded MVT feature id: orb decodes ids as float64,
// exact for the ids below 2^53 this package writes.
func featureID(f *geojson.Feature) uint64 {
	if x, ok := f.ID.(float64); ok {
		return uint64(x)
	}
	return 0
}

// tileX and tileY are the slippy-map tile numbers of a longitude and a
// latitude at zoom z (the OpenStreetMap formulas).
func tileX(lon float64, z int) int {
	return int((lon + 180) / 360 * float64(int(1)<<z))
}

func tileY(lat float64, z int) int {
	r := lat * math.Pi / 180
	return int((1 - math.Log(math.Tan(r)+1/math.Cos(r))/math.Pi) / 2 * float64(int(1)<<z))
}
