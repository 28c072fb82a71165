package hexbin

import (
	"math"

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

// baseCellKm2 is the average area of a BaseRes cell.
const baseCellKm2 = 0.0150475

// Meeting lists the BaseRes cells (the cell stored with each incident)
// that a point of b can lie in: every cell meeting b widened by about a
// metre, which h3's overlap test needs because it takes a cell's edges as
// straight lines in degrees, where they are great-circle arcs (tens of
// metres long at this resolution, nanometres apart from their chords).
// ok is false, and nothing is listed, when b needs more than max cells.
func Meeting(b orb.Bound, max int) (cells []h3.Cell, ok bool) {
	const pad = 1e-5 // degrees
	b = orb.Bound{Min: orb.Point{b.Min[0] - pad, b.Min[1] - pad}, Max: orb.Point{b.Max[0] + pad, b.Max[1] + pad}}
	if b.Min[1] < -89 || b.Max[1] > 89 || b.Min[0] < -180 || b.Max[0] > 180 {
		return nil, false
	}
	cos := math.Cos((b.Min[1] + b.Max[1]) / 2 * math.Pi / 180)
	if km2 := (b.Max[0] - b.Min[0]) * 111.32 * cos * (b.Max[1] - b.Min[1]) * 110.57; km2/baseCellKm2 > float64(max) {
		return nil, false
	}
	loop := h3.GeoLoop{{Lat: b.Min[1], Lng: b.Min[0]}, {Lat: b.Min[1], Lng: b.Max[0]},
		{Lat: b.Max[1], Lng: b.Max[0]}, {Lat: b.Max[1], Lng: b.Min[0]}}
	cells, err := h3.PolygonToCellsExperimental(h3.GeoPolygon{GeoLoop: loop}, BaseRes, h3.ContainmentOverlapping, int64(4*max))
	if err != nil || len(cells) > max {
		return nil, false
	}
	return cells, true
}
