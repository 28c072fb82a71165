package httpapi

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/labstack/echo/v4"
)

// Facility query limits and defaults, as api/openapi.yaml states them.
const (
	defaultFacilityLimit = 100
	maxFacilityLimit     = 1000
	defaultNearestK      = 5
	maxNearestK          = grid.MaxNearestK
	// A missing max_m means the cap: the nearest search costs about k
	// rows whatever the radius, and a smaller default would hide sparse
	// kinds (the demo city has 7 gas companies).
	maxNearestMeters = grid.MaxNearestMeters
)

var afterRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,40}$`) // facility codes (a table constraint)

// routesFacilities registers the facility routes.
func (s *Server) routesFacilities(e *echo.Echo) {
	e.GET("/v1/facilities", s.listFacilities)
	e.GET("/v1/facilities/nearest", s.nearestFacilities)
}

type facilityDTO struct {
	Code   string            `json:"code"`
	Kind   string            `json:"kind"`
	Name   string            `json:"name"`
	Lon    float64           `json:"lon"`
	Lat    float64           `json:"lat"`
	Meters *float64          `json:"meters,omitempty"`
	Attrs  map[string]string `json:"attrs"`
}

type facilityList struct {
	Facilities []facilityDTO `json:"facilities"`
	Next       string        `json:"next,omitempty"`
}

type pointGeometry struct {
	Type        string     `json:"type"`
	Coordinates [2]float64 `json:"coordinates"`
}

type facilityProps struct {
	Code   string            `json:"code"`
	Kind   string            `json:"kind"`
	Name   string            `json:"name"`
	Meters *float64          `json:"meters,omitempty"`
	Attrs  map[string]string `json:"attrs"`
}

type facilityFeature struct {
	Type       string        `json:"type"`
	ID         string        `json:"id"`
	Geometry   pointGeometry `json:"geometry"`
	Properties facilityProps `json:"properties"`
}

type link struct {
	Rel  string `json:"rel"`
	Type string `json:"type"`
	Href string `json:"href"`
}

type facilityCollection struct {
	Type     string            `json:"type"`
	Features []facilityFeature `json:"features"`
	Next     string            `json:"next,omitempty"`
	Links    []link            `json:"links,omitempty"`
}

func parseKind(c echo.Context) (string, error) {
	kind := c.QueryParam("kind")
	if kind != "" && !slices.Contains(grid.FacilityKinds(), kind) {
		return "", param.Invalid("kind", "%q: want one of %s", kind, strings.Join(grid.FacilityKinds(), ", "))
	}
	return kind, nil
}

func (s *Server) facilityStore() (grid.FacilityStore, error) {
	if s.cfg.Facilities == nil {
		return nil, grid.Errorf(grid.Unavailable, "the facility store is not configured")
	}
	return s.cfg.Facilities, nil
}

// listFacilities: GET /v1/facilities?kind=&bbox=&limit=&after=&crs=&f=
// Pages by code: next is the link to the following page, absent on the last.
// With a non-WGS84 crs, bbox applies to the output coordinates, so a page may
// hold fewer than limit items and still have a next.
func (s *Server) listFacilities(c echo.Context) error {
	out, err := parseOutput(c)
	if err != nil {
		return err
	}
	kind, err := parseKind(c)
	if err != nil {
		return err
	}
	limit, err := parseInt(c, "limit", defaultFacilityLimit, 1, maxFacilityLimit)
	if err != nil {
		return err
	}
	after := c.QueryParam("after")
	if after != "" && !afterRe.MatchString(after) {
		return param.Invalid("after", "%q is not a facility code", after)
	}
	bbox, err := param.BBox(c.QueryParam("bbox"))
	if err != nil {
		return err
	}
	store, err := s.facilityStore()
	if err != nil {
		return err
	}
	kinds, err := principal(c).FacilityKinds(kind)
	if err != nil {
		return err
	}
	filter := grid.FacilityFilter{Kinds: kinds, Limit: limit + 1, After: after}
	if bbox != nil {
		env := param.WGS84Envelope(out.crs, *bbox)
		filter.BBox = &env
	}
	fs, err := store.Facilities(c.Request().Context(), filter)
	if err != nil {
		return err
	}
	var next string
	if len(fs) > limit {
		fs = fs[:limit]
		q := c.Request().URL.Query()
		q.Set("after", fs[limit-1].Code)
		q.Set("limit", strconv.Itoa(limit))
		next = c.Request().URL.Path + "?" + q.Encode()
		c.Response().Header().Set("Link", "<"+next+`>; rel="next"`)
	}
	dtos := make([]facilityDTO, 0, len(fs))
	for _, f := range fs {
		d := toFacilityDTO(f, out.crs)
		if bbox != nil && out.crs != coord.WGS84 && !(d.Lon >= bbox[0] && d.Lon <= bbox[2] && d.Lat >= bbox[1] && d.Lat <= bbox[3]) {
			continue
		}
		dtos = append(dtos, d)
	}
	return writeFacilities(c, out, dtos, next)
}

// nearestFacilities: GET /v1/facilities/nearest?lon=&lat=&crs=&kind=&k=&max_m=&f=
func (s *Server) nearestFacilities(c echo.Context) error {
	lon, lat, err := parseLonLat(c)
	if err != nil {
		return err
	}
	out, err := parseOutput(c)
	if err != nil {
		return err
	}
	kind, err := parseKind(c)
	if err != nil {
		return err
	}
	k, err := parseInt(c, "k", defaultNearestK, 1, maxNearestK)
	if err != nil {
		return err
	}
	maxM := float64(maxNearestMeters)
	if v := c.QueryParam("max_m"); v != "" {
		maxM, err = strconv.ParseFloat(v, 64)
		if err != nil || !(maxM > 0 && maxM <= maxNearestMeters) {
			return param.Invalid("max_m", "%q: want metres, more than 0 and at most %d", v, maxNearestMeters)
		}
	}
	store, err := s.facilityStore()
	if err != nil {
		return err
	}
	kinds, err := principal(c).FacilityKinds(kind)
	if err != nil {
		return err
	}
	wlon, wlat := coord.ToWGS84(out.crs, lon, lat)
	fs, err := nearestOf(c.Request().Context(), store, [2]float64{wlon, wlat}, kinds, k, maxM)
	if err != nil {
		return err
	}
	dtos := make([]facilityDTO, len(fs))
	for i, f := range fs {
		dtos[i] = toFacilityDTO(f.Facility, out.crs)
		dtos[i].Meters = &fs[i].Meters
	}
	return writeFacilities(c, out, dtos, "")
}

// nearestOf is the k nearest facilities of the kinds listed (nil: any),
// nearest first, ties by code: one search per kind, merged.
func nearestOf(ctx context.Context, store grid.FacilityStore, p [2]float64, kinds []string, k int, maxM float64) ([]grid.FacilityDistance, error) {
	if kinds == nil {
		return store.NearestFacilities(ctx, p, "", k, maxM)
	}
	var all []grid.FacilityDistance
	for _, kind := range kinds {
		fs, err := store.NearestFacilities(ctx, p, kind, k, maxM)
		if err != nil {
			return nil, err
		}
		all = append(all, fs...)
	}
	slices.SortFunc(all, func(a, b grid.FacilityDistance) int {
		if c := cmp.Compare(a.Meters, b.Meters); c != 0 {
			return c
		}
		return strings.Compare(a.Code, b.Code)
	})
	return all[:min(k, len(all))], nil
}

func toFacilityDTO(f grid.Facility, crs coord.CRS) facilityDTO {
	d := facilityDTO{Code: f.Code, Kind: f.Kind, Name: f.Name, Attrs: f.Attrs}
	d.Lon, d.Lat = coord.FromWGS84(crs, f.Point[0], f.Point[1])
	if d.Attrs == nil {
		d.Attrs = map[string]string{}
	}
	return d
}

func writeFacilities(c echo.Context, out output, dtos []facilityDTO, next string) error {
	if !out.geojson {
		return c.JSON(http.StatusOK, facilityList{Facilities: dtos, Next: next})
	}
	fc := facilityCollection{Type: "FeatureCollection", Features: make([]facilityFeature, len(dtos)), Next: next}
	for i, d := range dtos {
		fc.Features[i] = facilityFeature{Type: "Feature", ID: d.Code,
			Geometry:   pointGeometry{Type: "Point", Coordinates: [2]float64{d.Lon, d.Lat}},
			Properties: facilityProps{Code: d.Code, Kind: d.Kind, Name: d.Name, Meters: d.Meters, Attrs: d.Attrs}}
	}
	if next != "" {
		fc.Links = []link{{Rel: "next", Type: mimeGeoJSON, Href: next}}
	}
	b, err := json.Marshal(fc)
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, mimeGeoJSON, b)
}
