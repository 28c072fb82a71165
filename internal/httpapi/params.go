package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/labstack/echo/v4"
)

// This file holds the request parsing every endpoint shares. Each parser
// answers a bad value with an Invalid error naming the parameter or field.

// Media types of request and response bodies.
const (
	mimeJSON    = "application/json"
	mimeNDJSON  = "application/x-ndjson"
	mimeGeoJSON = "application/geo+json"
)

// requireBody checks a request body's Content-Type against the media types
// an endpoint takes: another type is 415. A missing Content-Type is taken
// as the first of them (curl -d sends a form type, so that one is refused).
func requireBody(c echo.Context, types ...string) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && slices.Contains(types, mt) {
		return nil
	}
	return echo.NewHTTPError(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: this endpoint takes %s", ct, strings.Join(types, " or ")))
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

// decodeStrict reads one JSON object into v: unknown fields, wrong types
// and trailing data are 400s naming the field; what prefixes other
// decoding errors.
func decodeStrict(b []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return invalid(te.Field, "want %s, got JSON %s", te.Type, te.Value)
		}
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return invalid("body", "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return invalid("body", "%s: %v", what, err)
	}
	if dec.More() {
		return invalid("body", "trailing data after the JSON object")
	}
	return nil
}

// checkText refuses text PostgreSQL cannot store: a NUL character.
func checkText(field, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return invalid(field, "contains a NUL character (\\u0000)")
	}
	return nil
}

// parseCRS reads a coordinate system name ("" is WGS84).
func parseCRS(v string) (coord.CRS, error) {
	crs, err := coord.ParseCRS(v)
	if err != nil {
		return crs, invalid("crs", "%q: want wgs84, gcj02 or bd09", v)
	}
	return crs, nil
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

// parseLonLat reads the lon and lat query parameters: required, finite,
// within -180…180 and -90…90.
func parseLonLat(c echo.Context) (float64, float64, error) {
	var v [2]float64
	for i, name := range []string{"lon", "lat"} {
		s := c.QueryParam(name)
		if s == "" {
			return 0, 0, invalid(name, "required")
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, 0, invalid(name, "%q is not a number", s)
		}
		v[i] = f
	}
	if math.IsNaN(v[0]) || math.IsInf(v[0], 0) || v[0] < -180 || v[0] > 180 {
		return 0, 0, invalid("lon", "%v is not a longitude in -180…180", v[0])
	}
	if math.IsNaN(v[1]) || math.IsInf(v[1], 0) || v[1] < -90 || v[1] > 90 {
		return 0, 0, invalid("lat", "%v is not a latitude in -90…90", v[1])
	}
	return v[0], v[1], nil
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

// The times the API takes and gives: answers encode them as RFC 3339, and
// windows stay well inside what PostgreSQL and JSON represent.
var (
	minTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// parseTime reads an RFC 3339 time named name, from 1900 up to 2200.
func parseTime(name, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, invalid(name, "%q: want RFC 3339, e.g. 2026-06-18T09:30:00+08:00", v)
	}
	if t.Before(minTime) || !t.Before(maxTime) {
		return t, invalid(name, "%q: want a time from 1900 up to 2200", v)
	}
	return t, nil
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

// output is how an answer with coordinates is written: the coordinate
// system (crs=) and whether as GeoJSON (f=geojson, or an Accept header
// asking for application/geo+json when f is absent).
type output struct {
	crs     coord.CRS
	geojson bool
}

func parseOutput(c echo.Context) (output, error) {
	var o output
	var err error
	if o.crs, err = parseCRS(c.QueryParam("crs")); err != nil {
		return o, err
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

// parseSet reads "1,3-5" into a sorted set within lo…hi.
func parseSet(s string, lo, hi int) ([]int, error) {
	if s == "" {
		return nil, nil
	}
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		a, b, isRange := strings.Cut(strings.TrimSpace(part), "-")
		x, err := strconv.Atoi(a)
		if err != nil {
			return nil, err
		}
		y := x
		if isRange {
			if y, err = strconv.Atoi(b); err != nil {
				return nil, err
			}
		}
		if x < lo || y > hi || x > y {
			return nil, grid.Errorf(grid.Invalid, "%q is outside %d–%d", part, lo, hi)
		}
		for i := x; i <= y; i++ {
			seen[i] = true
		}
	}
	var out []int
	for i := range seen {
		out = append(out, i)
	}
	slices.Sort(out)
	return out, nil
}

// parseHours and parseWeekdays read the hour-of-day and weekday filters.
func parseHours(v string) ([]int, error) {
	h, err := parseSet(v, 0, 23)
	if err != nil {
		return nil, invalid("hours", "%v: want hours 0–23 as a list or ranges, e.g. 22-23,0-5", grid.MessageOf(err))
	}
	return h, nil
}

func parseWeekdays(v string) ([]int, error) {
	d, err := parseSet(v, 1, 7)
	if err != nil {
		return nil, invalid("weekdays", "%v: want ISO weekdays 1 (Monday)–7, e.g. 1-5", grid.MessageOf(err))
	}
	return d, nil
}

// categoryFilter reads the category (comma list) and theme parameters into
// one category list: nil when neither is given; with both, the theme's
// categories that were asked for (an empty, non-nil list matches nothing).
func categoryFilter(snap *locate.Snapshot, category, theme string) ([]string, error) {
	var cats []string
	if category != "" {
		for _, k := range strings.Split(category, ",") {
			if _, ok := snap.Category(k); !ok {
				return nil, invalid("category", "%q is not a known category", k)
			}
			cats = append(cats, k)
		}
	}
	if theme != "" {
		th := snap.ThemeCategories(theme)
		if len(th) == 0 {
			return nil, invalid("theme", "%q: want parking, waterlogging or sanitation", theme)
		}
		if cats != nil {
			th = slices.DeleteFunc(th, func(k string) bool { return !slices.Contains(cats, k) })
			if th == nil {
				th = []string{}
			}
		}
		cats = th
	}
	return cats, nil
}

// tileCoords reads z/x/y(.mvt) and checks they name a tile.
func tileCoords(c echo.Context) (int, int, int, error) {
	z, err := strconv.Atoi(c.Param("z"))
	if err != nil || z < 0 || z > 22 {
		return 0, 0, 0, invalid("z", "%q: want a zoom 0…22", c.Param("z"))
	}
	n := 1 << z
	x, err := strconv.Atoi(c.Param("x"))
	if err != nil || x < 0 || x >= n {
		return 0, 0, 0, invalid("x", "%q: want 0…%d at zoom %d", c.Param("x"), n-1, z)
	}
	ys, ok := strings.CutSuffix(c.Param("y"), ".mvt")
	if !ok {
		return 0, 0, 0, grid.Errorf(grid.NotFound, "tiles are served as .mvt")
	}
	y, err := strconv.Atoi(ys)
	if err != nil || y < 0 || y >= n {
		return 0, 0, 0, invalid("y", "%q: want 0…%d at zoom %d", ys, n-1, z)
	}
	return z, x, y, nil
}
