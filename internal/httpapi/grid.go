package httpapi

import (
	"net/http"
	"strconv"
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
