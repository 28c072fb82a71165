package httpapi

import (
	"encoding/json"
	"math"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/labstack/echo/v4"
)

// Facility query limits and defaults, as api/openapi.yaml states them.
const (
	defaultFacilityLimit = 100
	maxFacilityLimit     = 1000
	defaultNearestK      = 5
	maxNearestK          = 100
	// A missing max_m means the cap: the nearest search costs about k
	// rows whatever the radius, and a smaller default would hide sparse
	// kinds (the demo city has 7 gas companies).
	maxNearestMeters = 50_000
)

// mimeGeoJSON is the GeoJSON media type (RFC 7946).
const mimeGeoJSON = "application/geo+json"

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

// facilityOutput is what both endpoints share: the output system and format.
type facilityOutput struct {
	crs     coord.CRS
	geojson bool
}

func parseFacilityOutput(c echo.Context) (facilityOutput, error) {
	var o facilityOutput
	var err error
	if o.crs, err = coord.ParseCRS(c.QueryParam("crs")); err != nil {
		return o, invalid("crs", "%q: want wgs84, gcj02 or bd09", c.QueryParam("crs"))
	}
	switch f := c.QueryParam("f"); f {
	case "":
		o.geojson = strings.Contains(c.Request().Header.Get(echo.HeaderAccept), mimeGeoJSON)
	case "json":
	case "geojson":
		o.geojson = true
	default:
		return o, invalid("f", "%q: want json or geojson", f)
	}
	return o, nil
}

func parseKind(c echo.Context) (string, error) {
	kind := c.QueryParam("kind")
	if kind != "" && !slices.Contains(grid.FacilityKinds(), kind) {
		return "", invalid("kind", "%q: want one of %s", kind, strings.Join(grid.FacilityKinds(), ", "))
	}
	return kind, nil
}

// parseInt reads an optional integer parameter in lo…hi.
func parseInt(c echo.Context, name string, def, lo, hi int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, invalid(name, "%q: want an integer in %d…%d", v, lo, hi)
	}
	return n, nil
}

// parseBBox reads minlon,minlat,maxlon,maxlat in degrees.
func parseBBox(v string) (*[4]float64, error) {
	if v == "" {
		return nil, nil
	}
	parts := strings.Split(v, ",")
	if len(parts) != 4 {
		return nil, invalid("bbox", "%q: want minlon,minlat,maxlon,maxlat", v)
	}
	var b [4]float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, invalid("bbox", "%q: item %d is not a finite number", v, i+1)
		}
		b[i] = f
	}
	switch {
	case b[0] < -180 || b[2] > 180:
		return nil, invalid("bbox", "%q: longitudes must lie in -180…180", v)
	case b[1] < -90 || b[3] > 90:
		return nil, invalid("bbox", "%q: latitudes must lie in -90…90", v)
	case b[0] > b[2] || b[1] > b[3]:
		return nil, invalid("bbox", "%q: want minlon ≤ maxlon and minlat ≤ maxlat", v)
	}
	return &b, nil
}

// wgs84Envelope returns a WGS84 box holding every point whose coordinates
// in crs lie in b (so a filter on the output coordinates can follow).
// Outside China's box, or for large boxes, b grows by 0.02°: no offset moves
// a point farther (coord: at most about 0.0174°). Well inside China the
// offsets are smooth and the tight envelope of b's edges, sampled every
// 0.01° and taken back to WGS84, grows by 1e-4°: between samples the edges'
// images bend by under 1e-5°.
func wgs84Envelope(crs coord.CRS, b [4]float64) [4]float64 {
	if crs == coord.WGS84 {
		return b
	}
	grow := func(b [4]float64, d float64) [4]float64 {
		return [4]float64{max(b[0]-d, -180), max(b[1]-d, -90), min(b[2]+d, 180), min(b[3]+d, 90)}
	}
	w, h := b[2]-b[0], b[3]-b[1]
	n := int(math.Ceil(max(w, h) / 0.01))
	outer := grow(b, 0.1)
	if n > 64 || coord.OutOfChina(outer[0], outer[1]) || coord.OutOfChina(outer[2], outer[3]) {
		return grow(b, 0.02)
	}
	n = max(n, 1)
	env := [4]float64{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}
	add := func(lon, lat float64) {
		x, y := coord.ToWGS84(crs, lon, lat)
		env = [4]float64{min(env[0], x), min(env[1], y), max(env[2], x), max(env[3], y)}
	}
	for i := 0; i <= n; i++ {
		t := float64(i) / float64(n)
		add(b[0]+t*w, b[1])
		add(b[0]+t*w, b[3])
		add(b[0], b[1]+t*h)
		add(b[2], b[1]+t*h)
	}
	return grow(env, 1e-4)
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
	out, err := parseFacilityOutput(c)
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
		return invalid("after", "%q is not a facility code", after)
	}
	bbox, err := parseBBox(c.QueryParam("bbox"))
	if err != nil {
		return err
	}
	store, err := s.facilityStore()
	if err != nil {
		return err
	}
	filter := grid.FacilityFilter{Kind: kind, Limit: limit + 1, After: after}
	if bbox != nil {
		env := wgs84Envelope(out.crs, *bbox)
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
	out, err := parseFacilityOutput(c)
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
			return invalid("max_m", "%q: want metres, more than 0 and at most %d", v, maxNearestMeters)
		}
	}
	store, err := s.facilityStore()
	if err != nil {
		return err
	}
	wlon, wlat := coord.ToWGS84(out.crs, lon, lat)
	fs, err := store.NearestFacilities(c.Request().Context(), [2]float64{wlon, wlat}, kind, k, maxM)
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

func toFacilityDTO(f grid.Facility, crs coord.CRS) facilityDTO {
	d := facilityDTO{Code: f.Code, Kind: f.Kind, Name: f.Name, Attrs: f.Attrs}
	d.Lon, d.Lat = coord.FromWGS84(crs, f.Point[0], f.Point[1])
	if d.Attrs == nil {
		d.Attrs = map[string]string{}
	}
	return d
}

func writeFacilities(c echo.Context, out facilityOutput, dtos []facilityDTO, next string) error {
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
