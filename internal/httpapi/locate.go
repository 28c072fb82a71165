package httpapi

import (
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

// batchChunk is how much of a batch answer is built before it is written.
const batchChunk = 128 << 10

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

// pointOK reports whether lon, lat are degrees in range; the comparisons
// exclude NaN.
func pointOK(lon, lat float64) bool {
	return lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90
}

// checkPoint validates a point in degrees; field names the input.
func checkPoint(field string, lon, lat float64) error {
	if pointOK(lon, lat) {
		return nil // the common case
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

// parseLonLat reads the lon and lat query parameters: required, finite,
// within -180…180 and -90…90.
func parseLonLat(c echo.Context) (float64, float64, error) {
	lon, err := parseCoord(c, "lon")
	if err != nil {
		return 0, 0, err
	}
	lat, err := parseCoord(c, "lat")
	if err != nil {
		return 0, 0, err
	}
	if math.IsNaN(lon) || math.IsInf(lon, 0) || lon < -180 || lon > 180 {
		return 0, 0, invalid("lon", "%v is not a longitude in -180…180", lon)
	}
	if math.IsNaN(lat) || math.IsInf(lat, 0) || lat < -90 || lat > 90 {
		return 0, 0, invalid("lat", "%v is not a latitude in -90…90", lat)
	}
	return lon, lat, nil
}

// getLocate: GET /v1/locate?lon=&lat=&crs=&category=&at=
func (s *Server) getLocate(c echo.Context) error {
	lon, lat, err := parseLonLat(c)
	if err != nil {
		return err
	}
	p, err := s.locateParams(c, c.QueryParam("crs"), c.QueryParam("category"), c.QueryParam("at"))
	if err != nil {
		return err
	}
	wlon, wlat := coord.ToWGS84(p.crs, lon, lat)
	var zones [8]dispatch.ZoneRef
	cell, d, hasDept, _ := p.view.resolve(wlon, wlat, p.category, zones[:0], nil)
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
	body, err := readBody(c, maxBatchBody)
	if err != nil {
		return err
	}
	req, fast := decodeBatchFast(body)
	if !fast {
		if err := decodeStrict(body, &req, "not a locate batch"); err != nil {
			return err
		}
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
	// A large answer goes out in chunks while the rest is computed, in
	// bounded memory; a small one in one write, as before.
	b := make([]byte, 0, min(64+len(req.Points)*(p.view.maxItem+1), batchChunk+p.view.maxItem+64))
	write := func() error {
		var err error
		if c.Response().Committed {
			_, err = c.Response().Write(b)
		} else {
			err = c.Blob(http.StatusOK, echo.MIMEApplicationJSON, b)
		}
		b = b[:0]
		return err
	}
	b = append(b, `{"results":[`...)
	var zones [8]dispatch.ZoneRef
	memo := cellDecisions{}
	for i, pt := range req.Points {
		if len(b) >= batchChunk {
			if err := write(); err != nil {
				return err
			}
		}
		if i > 0 {
			b = append(b, ',')
		}
		if len(pt) != 2 {
			b = appendItemError(b, http.StatusBadRequest, fmt.Sprintf("points[%d]: want [lon, lat]", i))
			continue
		}
		if !pointOK(pt[0], pt[1]) { // the field name is built for bad points only
			err := checkPoint(fmt.Sprintf("points[%d]", i), pt[0], pt[1])
			b = appendItemError(b, http.StatusBadRequest, grid.MessageOf(err))
			continue
		}
		lon, lat := coord.ToWGS84(p.crs, pt[0], pt[1])
		cell, d, hasDept, _ := p.view.resolve(lon, lat, p.category, zones[:0], memo)
		if cell < 0 {
			b = appendItemError(b, http.StatusNotFound, fmt.Sprintf("points[%d]: outside the managed area", i))
			continue
		}
		b = p.view.appendResult(b, cell, d, hasDept)
	}
	b = append(b, "]}"...)
	return write()
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

// decodeBatchFast decodes the usual shape of a batch request exactly as
// encoding/json would, without its reflection and per-point allocations: an
// object whose keys are "crs", "category", "at" and "points", each at most
// once; strings of printable ASCII without escapes; points an array of
// [lon, lat] pairs of JSON numbers that float64 holds; JSON whitespace
// between tokens and after the object. For anything else — other keys or
// spellings, escapes, nulls, points that are not pairs, numbers out of
// range, trailing data, bad syntax — ok is false and req zero, and the
// caller decodes with encoding/json, which gives the answer or error it
// always gave.
func decodeBatchFast(body []byte) (req batchRequest, ok bool) {
	if d := (&fastJSON{b: body}); d.batch(&req) {
		return req, true
	}
	return batchRequest{}, false
}

// fastJSON reads the strict subset of JSON decodeBatchFast accepts.
type fastJSON struct {
	b []byte
	i int
}

func (d *fastJSON) batch(req *batchRequest) bool {
	if !d.tok('{') {
		return false
	}
	var seen [4]bool
	for {
		key, ok := d.str()
		if !ok || !d.tok(':') {
			return false
		}
		var k int
		switch key {
		case "crs":
			k = 0
			req.CRS, ok = d.str()
		case "category":
			k = 1
			req.Category, ok = d.str()
		case "at":
			k = 2
			req.At, ok = d.str()
		case "points":
			k = 3
			req.Points, ok = d.points()
		default:
			return false
		}
		if !ok || seen[k] {
			return false
		}
		seen[k] = true
		if d.tok('}') {
			break
		}
		if !d.tok(',') {
			return false
		}
	}
	d.ws()
	return d.i == len(d.b)
}

// ws skips JSON whitespace.
func (d *fastJSON) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// tok skips whitespace and consumes c when it comes next.
func (d *fastJSON) tok(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (d *fastJSON) str() (string, bool) {
	if !d.tok('"') {
		return "", false
	}
	for start := d.i; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return string(d.b[start : d.i-1]), true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", false
		}
	}
	return "", false
}

// points reads an array of [lon, lat] pairs; [] is an empty, non-nil list
// as encoding/json makes it.
func (d *fastJSON) points() ([][]float64, bool) {
	if !d.tok('[') {
		return nil, false
	}
	flat := make([]float64, 0, 2*((len(d.b)-d.i)/24+1))
	if !d.tok(']') {
		for {
			if !d.tok('[') {
				return nil, false
			}
			lon, ok := d.num()
			if !ok || !d.tok(',') {
				return nil, false
			}
			lat, ok := d.num()
			if !ok || !d.tok(']') {
				return nil, false
			}
			flat = append(flat, lon, lat)
			if d.tok(']') {
				break
			}
			if !d.tok(',') {
				return nil, false
			}
		}
	}
	pts := make([][]float64, len(flat)/2)
	for i := range pts {
		pts[i] = flat[2*i : 2*i+2 : 2*i+2]
	}
	return pts, true
}

// num reads a number by JSON's grammar and converts it as encoding/json
// does (strconv.ParseFloat, 64 bits); out of range is not ok.
func (d *fastJSON) num() (float64, bool) {
	d.ws()
	b, i := d.b, d.i
	digits := func() bool {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if i >= len(b) || b[i] < '1' || b[i] > '9' || !digits() {
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		if i++; !digits() {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(string(b[d.i:i]), 64)
	if err != nil {
		return 0, false
	}
	d.i = i
	return f, true
}

// readBody reads a request body of at most limit bytes; a longer one is a
// 400.
func readBody(c echo.Context, limit int) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, int64(limit)+1))
	if err != nil {
		return nil, invalid("body", "could not be read: %v", err)
	}
	if len(body) > limit {
		return nil, invalid("body", "larger than %d bytes", limit)
	}
	return body, nil
}
