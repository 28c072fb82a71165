package httpapi

import (
	"errors"
	"fmt"
	"io"
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
)

type codeName struct {
	Code string `json:"code"`
	Name string `json:"name,omitempty"`
}

type versionDTO struct {
	ID          int64      `json:"id"`
	CreatedAt   time.Time  `json:"created_at"`
	ActivatedAt *time.Time `json:"activated_at,omitempty"`
	Active      bool       `json:"active"`
	Source      string     `json:"source"`
	Note        string     `json:"note,omitempty"`
	Cells       int        `json:"cells"`
	Communities int        `json:"communities"`
	Towns       int        `json:"towns"`
	Zones       int        `json:"zones"`
}

func (s *Server) gridVersions(c echo.Context) error {
	vs, err := s.cfg.Store.Versions(c.Request().Context())
	if err != nil {
		return err
	}
	out := make([]versionDTO, 0, len(vs))
	for _, v := range vs {
		out = append(out, versionDTO(v))
	}
	return c.JSON(http.StatusOK, map[string]any{"versions": out})
}

// routesGridImport serves grid imports and the versions they create.
func (s *Server) routesGridImport(e *echo.Echo) {
	e.POST("/v1/grid/versions", s.importGrid)
	e.GET("/v1/grid/versions/:id", s.gridVersion)
}

// maxImportBody caps the body of a grid import. The demo city's 2,213
// cells (16 vertices each) are 1.2 MB of GeoJSON; a real city's, with
// surveyed boundaries of a few hundred vertices, some MB: 32 MiB leaves
// room for every level in one file.
const maxImportBody = 32 << 20

// importParams are the query parameters of an import: the command line's
// flags.
var importParams = []string{"crs", "code_field", "name_field", "note"}

// importGrid: POST /v1/grid/versions?crs=&code_field=&name_field=&note=
// with the GeoJSON FeatureCollection `citygrid import` reads, through
// the same store method: 201 with the new, active version; 422 listing
// every problem. It needs grid.Administer (the permission table), and a
// key not scoped to a town: an import changes the whole city's grid.
func (s *Server) importGrid(c echo.Context) error {
	p := principal(c)
	if p.Town != "" {
		return grid.Errorf(grid.Forbidden, "a key scoped to town %s may not import the grid: an import changes the whole city's grid", p.Town)
	}
	q := c.QueryParams()
	for name := range q {
		if !slices.Contains(importParams, name) {
			return param.Invalid(name, "unknown query parameter: an import takes %s", strings.Join(importParams, ", "))
		}
	}
	if err := requireBody(c, mimeGeoJSON, mimeJSON); err != nil {
		return err
	}
	body, err := readImportBody(c)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	v, err := s.cfg.Store.ImportGrid(ctx, grid.ImportFile{Data: body, CRS: q.Get("crs"),
		CodeField: q.Get("code_field"), NameField: q.Get("name_field"), Note: q.Get("note"),
		Source: "POST /v1/grid/versions"})
	if err != nil {
		return err
	}
	// This replica answers from the new version at once; the others swap
	// on the activation's NOTIFY. A failure here leaves that to the
	// listener: the version is committed either way.
	switch swapped, err := s.cfg.Catalog.Refresh(ctx); {
	case err != nil:
		s.log.Warn("grid snapshot refresh after an import failed; the listener retries", "grid_version", v.ID, "err", err)
	case swapped:
		s.log.Info("grid snapshot loaded", "grid_version", v.ID, "after", "import")
	}
	c.Response().Header().Set(echo.HeaderLocation, "/v1/grid/versions/"+strconv.FormatInt(v.ID, 10))
	return c.JSON(http.StatusCreated, versionDTO(v))
}

// readImportBody reads an import's body: over maxImportBody is 413.
func readImportBody(c echo.Context) ([]byte, error) {
	tooLarge := echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("an import is at most %d MiB", maxImportBody>>20))
	if c.Request().ContentLength > maxImportBody {
		return nil, tooLarge
	}
	b, err := io.ReadAll(io.LimitReader(c.Request().Body, maxImportBody+1))
	var he *echo.HTTPError
	switch {
	case errors.As(err, &he): // the server's own body limit
		return nil, err
	case err != nil:
		return nil, param.Invalid("body", "could not be read: %v", err)
	case len(b) > maxImportBody:
		return nil, tooLarge
	case len(b) == 0:
		return nil, param.Invalid("body", "empty: send a GeoJSON FeatureCollection")
	}
	return b, nil
}

// gridVersion: GET /v1/grid/versions/{id}
func (s *Server) gridVersion(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return param.Invalid("id", "%q is not a grid version id", c.Param("id"))
	}
	vs, err := s.cfg.Store.Versions(c.Request().Context())
	if err != nil {
		return err
	}
	for _, v := range vs {
		if v.ID == id {
			return c.JSON(http.StatusOK, versionDTO(v))
		}
	}
	return grid.Errorf(grid.NotFound, "no grid version %d", id)
}

type cellDTO struct {
	Code        string            `json:"code"`
	Name        string            `json:"name"`
	Community   codeName          `json:"community"`
	Town        codeName          `json:"town"`
	GridVersion int64             `json:"grid_version"`
	CRS         string            `json:"crs"`
	Geometry    *geojson.Geometry `json:"geometry"`
}

// gridCell: GET /v1/grid/cells/{code}?version=&crs=
func (s *Server) gridCell(c echo.Context) error {
	code := c.Param("code")
	if !grid.ValidCellCode(code) {
		return param.Invalid("code", "%q is not a cell code: want 15 digits (or 14)", code)
	}
	crs, err := param.CRS(c.QueryParam("crs"))
	if err != nil {
		return err
	}
	var version int64
	if v := c.QueryParam("version"); v != "" {
		version, err = strconv.ParseInt(v, 10, 64)
		if err != nil || version <= 0 {
			return param.Invalid("version", "%q is not a grid version id", v)
		}
	}
	cell, err := s.cfg.Store.Cell(c.Request().Context(), version, code)
	if err != nil {
		return err
	}
	out := cellDTO{Code: cell.Code, Name: cell.Name, Community: codeName{Code: cell.CommunityCode},
		Town: codeName{Code: cell.TownCode}, GridVersion: version, CRS: crs.String()}
	if snap := s.cfg.Catalog.Current(); snap != nil && (version == 0 || version == snap.Version.ID) {
		out.GridVersion = snap.Version.ID
		if m := snap.Community(cell.CommunityCode); m != nil {
			out.Community.Name = m.Name
		}
		if t := snap.Town(cell.TownCode); t != nil {
			out.Town.Name = t.Name
		}
	}
	out.Geometry = geojson.NewGeometry(transformMulti(cell.Geometry, crs))
	return c.JSON(http.StatusOK, out)
}

// transformMulti converts a WGS84 geometry to the output CRS, copying it.
func transformMulti(mp orb.MultiPolygon, crs coord.CRS) orb.MultiPolygon {
	out := mp.Clone()
	if crs == coord.WGS84 {
		return out
	}
	for _, p := range out {
		for _, r := range p {
			for i, pt := range r {
				r[i][0], r[i][1] = coord.FromWGS84(crs, pt[0], pt[1])
			}
		}
	}
	return out
}
