package httpapi

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/citygrid/citygrid/internal/intake"
	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"
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
	if p.crs, err = param.CRS(crsS); err != nil {
		return p, err
	}
	snap := s.cfg.Catalog.Current()
	if at != "" {
		t, err := param.Time("at", at)
		if err != nil {
			return p, err
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
			return p, param.Invalid("category", "%q: want P or E + 2-digit major + 2-digit minor class, e.g. E0505", category)
		}
		if _, ok := p.view.snap.Category(category); !ok {
			return p, param.Invalid("category", "%q is not a known category", category)
		}
		p.category = category
	}
	return p, nil
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
	var scratch intake.Scratch
	cell, owner := p.view.assign.Locate(orb.Point{wlon, wlat}, p.category, &scratch)
	if cell < 0 {
		return grid.Errorf(grid.NotFound, "point (%v, %v) in %s is outside the managed area", lon, lat, p.crs)
	}
	bp := bufPool.Get().(*[]byte)
	b := p.view.appendResult((*bp)[:0], cell, owner)
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
	if err := requireBody(c, mimeJSON); err != nil {
		return err
	}
	body, err := readBody(c, maxBatchBody)
	if err != nil {
		return err
	}
	req, fast := decodeBatchFast(body)
	if !fast {
		if err := param.DecodeStrict(body, &req, "not a locate batch"); err != nil {
			return err
		}
	}
	if req.Points == nil {
		return param.Invalid("points", "required: an array of [lon, lat] pairs")
	}
	if len(req.Points) > MaxBatch {
		return param.Invalid("points", "%d points: at most %d per request", len(req.Points), MaxBatch)
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
	scratch := intake.NewBatchScratch()
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
		if !param.PointOK(pt[0], pt[1]) { // the field name is built for bad points only
			err := param.CheckPoint(fmt.Sprintf("points[%d]", i), pt[0], pt[1])
			b = appendItemError(b, http.StatusBadRequest, grid.MessageOf(err))
			continue
		}
		lon, lat := coord.ToWGS84(p.crs, pt[0], pt[1])
		cell, owner := p.view.assign.Locate(orb.Point{lon, lat}, p.category, scratch)
		if cell < 0 {
			b = appendItemError(b, http.StatusNotFound, fmt.Sprintf("points[%d]: outside the managed area", i))
			continue
		}
		b = p.view.appendResult(b, cell, owner)
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
