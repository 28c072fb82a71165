package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/labstack/echo/v4"
	"github.com/uber/h3-go/v4"
)

func (s *Server) routesHotspots(e *echo.Echo) {
	e.GET("/v1/hotspots", s.hotspots)
	e.GET("/v1/hotspots/emerging", s.emerging)
}

// study is the study area of an analysis: the city's, or for a key scoped
// to a town, that town's (its incidents are all it counts).
func (s *Server) study(ctx context.Context, town string, res, k int) (*hexbin.Study, error) {
	snap, err := s.snapshot()
	if err != nil {
		return nil, err
	}
	area, boundary := "grid-"+strconv.FormatInt(snap.Version.ID, 10), snap.Boundary
	if town != "" {
		t := snap.Town(town)
		if t == nil {
			return nil, grid.Errorf(grid.NotFound, "town %s is not in the grid", town)
		}
		area, boundary = area+"-town-"+town, t.Geometry
	}
	key := hexbin.StudyKey{Area: area, Res: res, K: k}
	return s.studies.Get(ctx, key, func(context.Context) ([]h3.Cell, error) { return hexbin.StudyCells(boundary, res) })
}

func hotspotParams(c echo.Context) (k int, err error) {
	k = 1
	if v := c.QueryParam("k"); v != "" {
		if k, err = strconv.Atoi(v); err != nil || k < 1 || k > 3 {
			return 0, param.Invalid("k", "%q: want 1…3 rings of neighbours", v)
		}
	}
	return k, nil
}

// counts aligns heatmap counts with the study's cells; incidents in cells
// outside the study area (centre outside the city) are left out.
func counts(st *hexbin.Study, cells []grid.HeatCell) []float64 {
	out := make([]float64, st.Len())
	for _, h := range cells {
		if i, ok := st.Index(h3.Cell(h.H3)); ok {
			out[i] += float64(h.Count)
		}
	}
	return out
}

type hotCellDTO struct {
	H3    string  `json:"h3"`
	Count float64 `json:"count"`
	Z     float64 `json:"z"`
	P     float64 `json:"p"`
	Bin   int     `json:"bin"`
}

// hotspots: GET /v1/hotspots — Getis-Ord Gi* over every cell of the study
// area (zero counts included), FDR-corrected confidence bins −3…+3.
func (s *Server) hotspots(c echo.Context) error {
	q, err := s.heatParams(c, 9)
	if err != nil {
		return err
	}
	k, err := hotspotParams(c)
	if err != nil {
		return err
	}
	if s.cfg.Heatmaps == nil {
		return grid.Errorf(grid.Unavailable, "heatmaps are not configured")
	}
	st, err := s.study(c.Request().Context(), principal(c).Town, q.Res, k)
	if err != nil {
		return err
	}
	cells, err := s.cfg.Heatmaps.Heatmap(c.Request().Context(), q)
	if err != nil {
		return err
	}
	rs, err := st.GiStar(counts(st, cells))
	if err != nil {
		return err
	}
	out := make([]hotCellDTO, len(rs))
	for i, r := range rs {
		out[i] = hotCellDTO{H3: r.Cell.String(), Count: r.Count, Z: r.Z, P: r.P, Bin: r.Bin}
	}
	return c.JSON(http.StatusOK, map[string]any{"res": q.Res, "k": k, "from": q.From, "to": q.To, "cells": out})
}

type trendDTO struct {
	H3        string  `json:"h3"`
	Class     string  `json:"class"`
	TrendZ    float64 `json:"trend_z"`
	TrendP    float64 `json:"trend_p"`
	HotSteps  int     `json:"hot_steps"`
	ColdSteps int     `json:"cold_steps"`
	FinalZ    float64 `json:"final_z"`
	FinalBin  int     `json:"final_bin"`
}

// emerging: GET /v1/hotspots/emerging — Gi* per time step (week or month)
// and a Mann–Kendall trend per cell, classified like ArcGIS's emerging hot
// spot analysis. Cells with no pattern are left out unless all=true.
func (s *Server) emerging(c echo.Context) error {
	q, err := s.heatParams(c, 8)
	if err != nil {
		return err
	}
	k, err := hotspotParams(c)
	if err != nil {
		return err
	}
	step := c.QueryParam("step")
	if step == "" {
		step = "month"
	}
	if step != "week" && step != "month" {
		return param.Invalid("step", "%q: want week or month", step)
	}
	if c.QueryParam("from") == "" {
		q.From = q.To.AddDate(-1, 0, 0)
	}
	var bounds []time.Time
	for t := q.From; t.Before(q.To); {
		bounds = append(bounds, t)
		if step == "week" {
			t = t.AddDate(0, 0, 7)
		} else {
			t = t.AddDate(0, 1, 0)
		}
	}
	if len(bounds) < 4 || len(bounds) > 160 {
		return param.Invalid("from", "%d %ss between from and to: want 4…160 time steps", len(bounds), step)
	}
	if s.cfg.Heatmaps == nil {
		return grid.Errorf(grid.Unavailable, "heatmaps are not configured")
	}
	st, err := s.study(c.Request().Context(), principal(c).Town, q.Res, k)
	if err != nil {
		return err
	}
	series := make([][]float64, len(bounds))
	for i, b := range bounds {
		sq := q
		sq.From = b
		if i+1 < len(bounds) {
			sq.To = bounds[i+1]
		}
		cells, err := s.cfg.Heatmaps.Heatmap(c.Request().Context(), sq)
		if err != nil {
			return err
		}
		series[i] = counts(st, cells)
	}
	trends, err := st.Emerging(series)
	if err != nil {
		return err
	}
	all := c.QueryParam("all") == "true"
	out := make([]trendDTO, 0)
	for _, t := range trends {
		if !all && t.Class == hexbin.NoPattern {
			continue
		}
		out = append(out, trendDTO{H3: t.Cell.String(), Class: t.Class.String(), TrendZ: t.Trend.Z, TrendP: t.Trend.P,
			HotSteps: t.HotSteps, ColdSteps: t.ColdSteps, FinalZ: t.Final.Z, FinalBin: t.Final.Bin})
	}
	return c.JSON(http.StatusOK, map[string]any{"res": q.Res, "k": k, "step": step, "steps": len(bounds),
		"from": q.From, "to": q.To, "cells": out})
}
