package hexbin

import (
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// StudyCells lists a study area at an H3 resolution: every cell whose
// centre lies in boundary (WGS84), as h3's PolygonToCells decides it, so
// cells of zero count take part in the analysis. Errors are h3's.
func StudyCells(boundary orb.MultiPolygon, res int) ([]h3.Cell, error) {
	var out []h3.Cell
	for _, poly := range boundary {
		var gp h3.GeoPolygon
		for i, ring := range poly {
			loop := make(h3.GeoLoop, 0, len(ring))
			for _, p := range ring {
				loop = append(loop, h3.LatLng{Lat: p[1], Lng: p[0]})
			}
			if i == 0 {
				gp.GeoLoop = loop
			} else {
				gp.Holes = append(gp.Holes, loop)
			}
		}
		cells, err := h3.PolygonToCells(gp, res)
		if err != nil {
			return nil, err
		}
		out = append(out, cells...)
	}
	return out, nil
}
