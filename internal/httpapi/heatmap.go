package httpapi

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
	"github.com/uber/h3-go/v4"
)

func (s *Server) routesHeatmap(e *echo.Echo) {
	e.GET("/v1/heatmap", s.heatmap)
	e.GET("/v1/heatmap/tiles/:z/:x/:y", s.heatmapTile) // tiles.go
}

// heatParams reads what every heatmap-like endpoint shares: theme or
// category, window, hour and weekday filters.
func (s *Server) heatParams(c echo.Context, defRes int) (grid.HeatQuery, error) {
	q := grid.HeatQuery{Res: defRes}
	snap, err := s.snapshot()
	if err != nil {
		return q, err
	}
	theme, cat := c.QueryParam("theme"), c.QueryParam("category")
	switch {
	case theme != "" && cat != "":
		return q, param.Invalid("theme", "give theme or category, not both")
	case theme != "":
		if q.Categories = snap.ThemeCategories(theme); len(q.Categories) == 0 {
			return q, param.Invalid("theme", "%q: want parking, waterlogging or sanitation", theme)
		}
	case cat != "":
		for _, k := range strings.Split(cat, ",") {
			if _, ok := snap.Category(k); !ok {
				return q, param.Invalid("category", "%q is not a known category", k)
			}
			q.Categories = append(q.Categories, k)
		}
	default:
		return q, param.Invalid("theme", "required: a theme (parking, waterlogging, sanitation) or a category")
	}
	if r := c.QueryParam("res"); r != "" {
		if q.Res, err = strconv.Atoi(r); err != nil || q.Res < 5 || q.Res > 10 {
			return q, param.Invalid("res", "%q: want an H3 resolution 5…10", r)
		}
	}
	now := time.Now()
	// The window defaults to the 30 days up to to, which defaults to now.
	q.To = now.Truncate(time.Hour).Add(time.Hour)
	if t := c.QueryParam("to"); t != "" {
		if q.To, err = param.Time("to", t); err != nil {
			return q, err
		}
	}
	q.From = q.To.AddDate(0, 0, -30)
	if t := c.QueryParam("from"); t != "" {
		if q.From, err = param.Time("from", t); err != nil {
			return q, err
		}
	}
	if windowTooLong(q.From, q.To) { // as asked, before the rounding below
		return q, param.Invalid("from", "the window is longer than %d years", maxWindowYears)
	}
	// The rollups count whole hours: from rounds down, to rounds up.
	q.From = q.From.Truncate(time.Hour)
	if t := q.To.Truncate(time.Hour); !t.Equal(q.To) {
		q.To = t.Add(time.Hour)
	}
	if !q.From.Before(q.To) {
		return q, param.Invalid("from", "must be before to")
	}
	if q.Hours, err = param.Hours(c.QueryParam("hours")); err != nil {
		return q, err
	}
	if q.Weekdays, err = param.Weekdays(c.QueryParam("weekdays")); err != nil {
		return q, err
	}
	if p := principal(c); p.Town != "" { // a town's key counts its own town only
		q.Towns = []string{p.Town}
	}
	return q, nil
}

type heatCellDTO struct {
	H3    string `json:"h3"`
	Count int64  `json:"count"`
}

// heatCells runs the query and hides small counts from callers who may
// not see sensitive places: the public, and citizens' apps.
func (s *Server) heatCells(c echo.Context, q grid.HeatQuery) ([]grid.HeatCell, int, error) {
	return s.heatCellsFor(c.Request().Context(), q, !principal(c).Can(grid.SeeSensitive))
}

// heatCellsFor is heatCells for a caller whose small counts are hidden
// (public) or not.
func (s *Server) heatCellsFor(ctx context.Context, q grid.HeatQuery, public bool) ([]grid.HeatCell, int, error) {
	if s.cfg.Heatmaps == nil {
		return nil, 0, grid.Errorf(grid.Unavailable, "heatmaps are not configured")
	}
	cells, err := s.cfg.Heatmaps.Heatmap(ctx, q)
	if err != nil {
		return nil, 0, err
	}
	minCount := 1
	if public {
		minCount = s.cfg.MinPublicCount
	}
	cells = slices.DeleteFunc(cells, func(h grid.HeatCell) bool { return h.Count < int64(minCount) })
	slices.SortFunc(cells, func(a, b grid.HeatCell) int {
		if a.H3 < b.H3 {
			return -1
		}
		if a.H3 > b.H3 {
			return 1
		}
		return 0
	})
	return cells, minCount, nil
}

// heatmap: GET /v1/heatmap — counts per H3 cell as JSON or GeoJSON hexagons.
func (s *Server) heatmap(c echo.Context) error {
	q, err := s.heatParams(c, 8)
	if err != nil {
		return err
	}
	out, err := parseOutput(c)
	if err != nil {
		return err
	}
	crs := out.crs
	var bbox *[4]float64
	if bb := c.QueryParam("bbox"); bb != "" {
		in, err := param.BBox(bb)
		if err != nil {
			return err
		}
		b := param.WGS84Envelope(crs, *in)
		bbox = &b
	}
	cells, minCount, err := s.heatCells(c, q)
	if err != nil {
		return err
	}
	if bbox != nil {
		cells = slices.DeleteFunc(cells, func(h grid.HeatCell) bool {
			ll, err := h3.Cell(h.H3).LatLng()
			return err != nil || ll.Lng < bbox[0] || ll.Lng > bbox[2] || ll.Lat < bbox[1] || ll.Lat > bbox[3]
		})
	}
	var total int64
	for _, h := range cells {
		total += h.Count
	}
	if out.geojson {
		fc := geojson.NewFeatureCollection()
		for _, h := range cells {
			f := geojson.NewFeature(hexagon(h3.Cell(h.H3), crs))
			f.Properties["h3"], f.Properties["count"] = h3.Cell(h.H3).String(), h.Count
			fc.Append(f)
		}
		fc.ExtraMembers = geojson.Properties{"res": q.Res, "total": total, "crs": crs.String(), "min_count": minCount,
			"from": q.From.Format(time.RFC3339), "to": q.To.Format(time.RFC3339)}
		b, err := fc.MarshalJSON()
		if err != nil {
			return err
		}
		return c.Blob(http.StatusOK, "application/geo+json", b)
	}
	list := make([]heatCellDTO, len(cells))
	for i, h := range cells {
		list[i] = heatCellDTO{H3: h3.Cell(h.H3).String(), Count: h.Count}
	}
	return c.JSON(http.StatusOK, map[string]any{"res": q.Res, "total": total, "cells": list, "min_count": minCount,
		"from": q.From, "to": q.To})
}

// hexagon is a cell's boundary as a closed polygon in the output CRS.
func hexagon(cell h3.Cell, crs coord.CRS) orb.Polygon {
	b, err := cell.Boundary()
	if err != nil {
		return nil
	}
	ring := make(orb.Ring, 0, len(b)+1)
	for _, ll := range b {
		lon, lat := coord.FromWGS84(crs, ll.Lng, ll.Lat)
		ring = append(ring, orb.Point{lon, lat})
	}
	ring = append(ring, ring[0])
	return orb.Polygon{ring}
}
