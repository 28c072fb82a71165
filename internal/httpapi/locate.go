package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/dispatch"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/labstack/echo/v4"
)

// MaxBatch is the most points one POST /v1/locate may carry.
const MaxBatch = 100_000

// maxBatchBody caps the batch request body: 100,000 points with full
// precision fit in a few MiB.
const maxBatchBody = 16 << 20

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// locateParams are the parameters shared by the single and batch forms.
type locateParams struct {
	crs      coord.CRS
	category string
	view     *view
}

func (s *Server) locateParams(c echo.Context, crsS, category, at string) (locateParams, error) {
	var p locateParams
	var err error
	if p.crs, err = coord.ParseCRS(crsS); err != nil {
		return p, invalid("crs", "%q: want wgs84, gcj02 or bd09", crsS)
	}
	snap := s.cfg.Catalog.Current()
	if at != "" {
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return p, invalid("at", "%q: want an RFC 3339 time, e.g. 2026-05-01T08:00:00+08:00", at)
		}
		if snap, err = s.cfg.Catalog.At(c.Request().Context(), t); err != nil {
			return p, err
		}
	}
	if snap == nil {
		return p, grid.Errorf(grid.Unavailable, "the grid snapshot is not loaded yet")
	}
	if p.view, err = s.views.get(snap); err != nil {
		return p, err
	}
	if category != "" {
		if !grid.ValidCategoryCode(category) {
			return p, invalid("category", "%q: want P or E + 2-digit major + 2-digit minor class, e.g. E0505", category)
		}
		if _, ok := p.view.res.Category(category); !ok {
			return p, invalid("category", "%q is not a known category", category)
		}
		p.category = category
	}
	return p, nil
}

// checkPoint validates a point in degrees; field names the input.
func checkPoint(field string, lon, lat float64) error {
	if lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90 {
		return nil // the common case, NaN excluded by the comparisons
	}
	switch {
	case math.IsNaN(lon) || math.IsInf(lon, 0):
		return invalid(field, "longitude is not a finite number")
	case math.IsNaN(lat) || math.IsInf(lat, 0):
		return invalid(field, "latitude is not a finite number")
	case lon < -180 || lon > 180:
		return invalid(field, "longitude %v is outside -180…180", lon)
	case lat < -90 || lat > 90:
		return invalid(field, "latitude %v is outside -90…90", lat)
	}
	return nil
}

func parseCoord(c echo.Context, name string) (float64, error) {
	v := c.QueryParam(name)
	if v == "" {
		return 0, invalid(name, "required")
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return 0, invalid(name, "%q is not a number", v)
	}
	return f, nil
}

// getLocate: GET /v1/locate?lon=&lat=&crs=&category=&at=
func (s *Server) getLocate(c echo.Context) error {
	lon, err := parseCoord(c, "lon")
	if err != nil {
		return err
	}
	lat, err := parseCoord(c, "lat")
	if err != nil {
		return err
	}
	if math.IsNaN(lon) || math.IsInf(lon, 0) || lon < -180 || lon > 180 {
		return invalid("lon", "%v is not a longitude in -180…180", lon)
	}
	if math.IsNaN(lat) || math.IsInf(lat, 0) || lat < -90 || lat > 90 {
		return invalid("lat", "%v is not a latitude in -90…90", lat)
	}
	p, err := s.locateParams(c, c.QueryParam("crs"), c.QueryParam("category"), c.QueryParam("at"))
	if err != nil {
		return err
	}
	wlon, wlat := coord.ToWGS84(p.crs, lon, lat)
	var zones [8]dispatch.ZoneRef
	cell, d, hasDept, _ := p.view.resolve(wlon, wlat, p.category, zones[:0])
	if cell < 0 {
		return grid.Errorf(grid.NotFound, "point (%v, %v) in %s is outside the managed area", lon, lat, p.crs)
	}
	bp := bufPool.Get().(*[]byte)
	b := p.view.appendResult((*bp)[:0], cell, d, hasDept)
	err = c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
	*bp = b
	bufPool.Put(bp)
	return err
}

type batchRequest struct {
	CRS      string      `json:"crs"`
	Category string      `json:"category"`
	At       string      `json:"at"`
	Points   [][]float64 `json:"points"`
}

// postLocate: POST /v1/locate — many points, results in input order; a bad
// or outside point gets an error item, the rest are answered.
func (s *Server) postLocate(c echo.Context) error {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, maxBatchBody+1))
	if err != nil {
		return invalid("body", "could not be read: %v", err)
	}
	if len(body) > maxBatchBody {
		return invalid("body", "larger than %d bytes", maxBatchBody)
	}
	var req batchRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return invalid(te.Field, "want %s, got JSON %s", te.Type, te.Value)
		}
		return invalid("body", "not a locate batch: %v", err)
	}
	if dec.More() {
		return invalid("body", "trailing data after the JSON object")
	}
	if req.Points == nil {
		return invalid("points", "required: an array of [lon, lat] pairs")
	}
	if len(req.Points) > MaxBatch {
		return invalid("points", "%d points: at most %d per request", len(req.Points), MaxBatch)
	}
	p, err := s.locateParams(c, req.CRS, req.Category, req.At)
	if err != nil {
		return err
	}
	b := make([]byte, 0, 64+len(req.Points)*200)
	b = append(b, `{"results":[`...)
	var zones [8]dispatch.ZoneRef
	for i, pt := range req.Points {
		if i > 0 {
			b = append(b, ',')
		}
		if len(pt) != 2 {
			b = appendItemError(b, http.StatusBadRequest, fmt.Sprintf("points[%d]: want [lon, lat]", i))
			continue
		}
		if err := checkPoint(fmt.Sprintf("points[%d]", i), pt[0], pt[1]); err != nil {
			b = appendItemError(b, http.StatusBadRequest, grid.MessageOf(err))
			continue
		}
		lon, lat := coord.ToWGS84(p.crs, pt[0], pt[1])
		cell, d, hasDept, _ := p.view.resolve(lon, lat, p.category, zones[:0])
		if cell < 0 {
			b = appendItemError(b, http.StatusNotFound, fmt.Sprintf("points[%d]: outside the managed area", i))
			continue
		}
		b = p.view.appendResult(b, cell, d, hasDept)
	}
	b = append(b, "]}"...)
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
}

func appendItemError(b []byte, status int, detail string) []byte {
	b = append(b, `{"error":{"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, http.StatusText(status))
	b = append(b, `,"detail":`...)
	b = appendJSONString(b, detail)
	return append(b, "}}"...)
}
