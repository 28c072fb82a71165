// Package param parses what callers send in query parameters and bodies:
// coordinates and systems, times and intervals, boxes, sets of hours and
// weekdays, tile coordinates, strict JSON. Every HTTP surface (the JSON API,
// tiles, OGC API Features, Open311) parses with it, so a value means the
// same everywhere and a bad one gets the same answer: an Invalid
// *grid.Error whose message starts with the parameter's name.
package param

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
)

// Invalid builds the error of a bad parameter or field: an Invalid
// *grid.Error whose message names it.
func Invalid(field, format string, args ...any) error {
	e := grid.Errorf(grid.Invalid, format, args...)
	e.Message = field + ": " + e.Message
	return e
}

// DecodeStrict reads one JSON object into v: unknown fields, wrong types
// and trailing data are 400s naming the field; what prefixes other
// decoding errors.
func DecodeStrict(b []byte, v any, what string) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return Invalid(te.Field, "want %s, got JSON %s", te.Type, te.Value)
		}
		if strings.HasPrefix(err.Error(), "json: unknown field") {
			return Invalid("body", "%s", strings.TrimPrefix(err.Error(), "json: "))
		}
		return Invalid("body", "%s: %v", what, err)
	}
	// Only whitespace may follow: More alone misses a stray ] or }.
	if _, err := dec.Token(); err != io.EOF {
		return Invalid("body", "trailing data after the JSON object")
	}
	return nil
}

// Text refuses text PostgreSQL cannot store: a NUL character.
func Text(field, v string) error {
	if strings.IndexByte(v, 0) >= 0 {
		return Invalid(field, "contains a NUL character (\\u0000)")
	}
	return nil
}

// CRS reads a coordinate system name ("" is WGS84).
func CRS(v string) (coord.CRS, error) {
	crs, err := coord.ParseCRS(v)
	if err != nil {
		return crs, Invalid("crs", "%q: want wgs84, gcj02 or bd09", v)
	}
	return crs, nil
}

// PointOK reports whether lon, lat are degrees in range; the comparisons
// exclude NaN.
func PointOK(lon, lat float64) bool {
	return lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90
}

// CheckPoint validates a point in degrees; field names the input.
func CheckPoint(field string, lon, lat float64) error {
	if PointOK(lon, lat) {
		return nil // the common case
	}
	switch {
	case math.IsNaN(lon) || math.IsInf(lon, 0):
		return Invalid(field, "longitude is not a finite number")
	case math.IsNaN(lat) || math.IsInf(lat, 0):
		return Invalid(field, "latitude is not a finite number")
	case lon < -180 || lon > 180:
		return Invalid(field, "longitude %v is outside -180…180", lon)
	case lat < -90 || lat > 90:
		return Invalid(field, "latitude %v is outside -90…90", lat)
	}
	return nil
}

// The times the API takes and gives: answers encode them as RFC 3339, and
// windows stay well inside what PostgreSQL and JSON represent.
var (
	MinTime = time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)
	MaxTime = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Time reads an RFC 3339 time named name, from 1900 up to 2200.
func Time(name, v string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return t, Invalid(name, "%q: want RFC 3339, e.g. 2026-06-18T09:30:00+08:00", v)
	}
	if t.Before(MinTime) || !t.Before(MaxTime) {
		return t, Invalid(name, "%q: want a time from 1900 up to 2200", v)
	}
	return t, nil
}

// BBox reads minlon,minlat,maxlon,maxlat in degrees.
func BBox(v string) (*[4]float64, error) {
	if v == "" {
		return nil, nil
	}
	parts := strings.Split(v, ",")
	if len(parts) != 4 {
		return nil, Invalid("bbox", "%q: want minlon,minlat,maxlon,maxlat", v)
	}
	var b [4]float64
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, Invalid("bbox", "%q: item %d is not a finite number", v, i+1)
		}
		b[i] = f
	}
	switch {
	case b[0] < -180 || b[2] > 180:
		return nil, Invalid("bbox", "%q: longitudes must lie in -180…180", v)
	case b[1] < -90 || b[3] > 90:
		return nil, Invalid("bbox", "%q: latitudes must lie in -90…90", v)
	case b[0] > b[2] || b[1] > b[3]:
		return nil, Invalid("bbox", "%q: want minlon ≤ maxlon and minlat ≤ maxlat", v)
	}
	return &b, nil
}

// WGS84Envelope returns a WGS84 box holding every point whose coordinates
// in crs lie in b (so a filter on the output coordinates can follow).
// Outside China's box, or for large boxes, b grows by 0.02°: no offset moves
// a point farther (coord: at most about 0.0174°). Well inside China the
// offsets are smooth and the tight envelope of b's edges, sampled every
// 0.01° and taken back to WGS84, grows by 1e-4°: between samples the edges'
// images bend by under 1e-5°.
func WGS84Envelope(crs coord.CRS, b [4]float64) [4]float64 {
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

// Set reads "1,3-5" into a sorted set within lo…hi.
func Set(s string, lo, hi int) ([]int, error) {
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

// Hours and Weekdays read the hour-of-day and weekday filters.
func Hours(v string) ([]int, error) {
	h, err := Set(v, 0, 23)
	if err != nil {
		return nil, Invalid("hours", "%v: want hours 0–23 as a list or ranges, e.g. 22-23,0-5", grid.MessageOf(err))
	}
	return h, nil
}

func Weekdays(v string) ([]int, error) {
	d, err := Set(v, 1, 7)
	if err != nil {
		return nil, Invalid("weekdays", "%v: want ISO weekdays 1 (Monday)–7, e.g. 1-5", grid.MessageOf(err))
	}
	return d, nil
}

// LonLat reads a longitude and a latitude given as text: both required,
// finite, within -180…180 and -90…90.
func LonLat(lonS, latS string) (float64, float64, error) {
	var v [2]float64
	for i, p := range [2][2]string{{"lon", lonS}, {"lat", latS}} {
		if p[1] == "" {
			return 0, 0, Invalid(p[0], "required")
		}
		f, err := strconv.ParseFloat(p[1], 64)
		if err != nil {
			return 0, 0, Invalid(p[0], "%q is not a number", p[1])
		}
		v[i] = f
	}
	if math.IsNaN(v[0]) || math.IsInf(v[0], 0) || v[0] < -180 || v[0] > 180 {
		return 0, 0, Invalid("lon", "%v is not a longitude in -180…180", v[0])
	}
	if math.IsNaN(v[1]) || math.IsInf(v[1], 0) || v[1] < -90 || v[1] > 90 {
		return 0, 0, Invalid("lat", "%v is not a latitude in -90…90", v[1])
	}
	return v[0], v[1], nil
}

// Interval reads a time or an interval the way OGC APIs write datetime:
// an RFC 3339 instant, or start/end with either end open (".." or empty).
// An instant is the interval [t, t]; an open end is the zero time. A
// closed interval must not end before it starts.
func Interval(name, v string) (from, to time.Time, err error) {
	a, b, isInterval := strings.Cut(v, "/")
	if !isInterval {
		t, err := Time(name, v)
		return t, t, err
	}
	if (a == "" || a == "..") && (b == "" || b == "..") {
		return from, to, Invalid(name, "%q: at most one end of an interval may be open", v)
	}
	if a != "" && a != ".." {
		if from, err = Time(name, a); err != nil {
			return from, to, err
		}
	}
	if b != "" && b != ".." {
		if to, err = Time(name, b); err != nil {
			return from, to, err
		}
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return from, to, Invalid(name, "%q: the interval ends before it starts", v)
	}
	return from, to, nil
}

// MaxZoom is the deepest zoom a tile may name.
const MaxZoom = 22

// Tile reads tile coordinates z, x and y (y without its suffix) and checks
// that they name a tile of the web mercator pyramid.
func Tile(zs, xs, ys string) (z, x, y int, err error) {
	z, err = strconv.Atoi(zs)
	if err != nil || z < 0 || z > MaxZoom {
		return 0, 0, 0, Invalid("z", "%q: want a zoom 0…%d", zs, MaxZoom)
	}
	n := 1 << z
	x, err = strconv.Atoi(xs)
	if err != nil || x < 0 || x >= n {
		return 0, 0, 0, Invalid("x", "%q: want 0…%d at zoom %d", xs, n-1, z)
	}
	y, err = strconv.Atoi(ys)
	if err != nil || y < 0 || y >= n {
		return 0, 0, 0, Invalid("y", "%q: want 0…%d at zoom %d", ys, n-1, z)
	}
	return z, x, y, nil
}

// CRS URIs of OGC API – Features Part 2 and the service's own systems.
const (
	CRS84     = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
	EPSG4326  = "http://www.opengis.net/def/crs/EPSG/0/4326"
	EPSG4490  = "http://www.opengis.net/def/crs/EPSG/0/4490"
	CRSGCJ02  = "urn:citygrid:crs:gcj02"
	CRSBD09   = "urn:citygrid:crs:bd09"
	crs84Safe = "[OGC:CRS84]"
)

// OGCCRS is a coordinate reference system named by URI: the planar system
// its numbers are in (CGCS2000, EPSG:4490, taken as WGS84) and whether it
// lists latitude first, as EPSG:4326 and EPSG:4490 do.
type OGCCRS struct {
	URI      string
	System   coord.CRS
	LatFirst bool
}

// OGCCRSList lists the systems the OGC API serves, the default (CRS84) first.
func OGCCRSList() []OGCCRS {
	return []OGCCRS{
		{CRS84, coord.WGS84, false},
		{EPSG4326, coord.WGS84, true},
		{EPSG4490, coord.WGS84, true},
		{CRSGCJ02, coord.GCJ02, false},
		{CRSBD09, coord.BD09, false},
	}
}

// CRSURI reads a CRS URI named name ("" is CRS84); the safe CURIE
// [OGC:CRS84] and [EPSG:4326]-style forms are accepted too.
func CRSURI(name, v string) (OGCCRS, error) {
	list := OGCCRSList()
	if v == "" || v == crs84Safe {
		return list[0], nil
	}
	for _, c := range list {
		if v == c.URI || strings.EqualFold(v, "[EPSG:"+strings.TrimPrefix(c.URI, "http://www.opengis.net/def/crs/EPSG/0/")+"]") {
			return c, nil
		}
	}
	uris := make([]string, len(list))
	for i, c := range list {
		uris[i] = c.URI
	}
	return list[0], Invalid(name, "%q is not a supported CRS: want one of %s", v, strings.Join(uris, ", "))
}

// OGCBBox reads an OGC API bbox: four numbers (min x, min y, max x, max
// y) or six (with min and max height after each corner's x, y), in the
// axis order of crs (latitude first for EPSG:4326 and EPSG:4490). The box
// comes back as min lon, min lat, max lon, max lat in crs's numbers. The
// features are 2D (height 0): a height range that leaves 0 out is refused
// rather than answered with nothing.
func OGCBBox(v string, crs OGCCRS) (*[4]float64, error) {
	if v == "" {
		return nil, nil
	}
	parts := strings.Split(v, ",")
	if len(parts) != 4 && len(parts) != 6 {
		return nil, Invalid("bbox", "%q: want 4 numbers (minx,miny,maxx,maxy) or 6 (minx,miny,minz,maxx,maxy,maxz)", v)
	}
	nums := make([]float64, len(parts))
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, Invalid("bbox", "%q: item %d is not a finite number", v, i+1)
		}
		nums[i] = f
	}
	if len(nums) == 6 {
		if nums[2] > nums[5] {
			return nil, Invalid("bbox", "%q: the minimum height %v is above the maximum %v", v, nums[2], nums[5])
		}
		if nums[2] > 0 || nums[5] < 0 {
			return nil, Invalid("bbox", "%q: the heights %v…%v leave out every feature: the data is 2D (height 0); send 4 numbers", v, nums[2], nums[5])
		}
		nums = []float64{nums[0], nums[1], nums[3], nums[4]}
	}
	b := [4]float64{nums[0], nums[1], nums[2], nums[3]}
	if crs.LatFirst {
		b = [4]float64{nums[1], nums[0], nums[3], nums[2]}
	}
	axes := "minlon,minlat,maxlon,maxlat"
	if crs.LatFirst {
		axes = "minlat,minlon,maxlat,maxlon (latitude first in " + crs.URI + ")"
	}
	switch {
	case b[0] < -180 || b[2] > 180:
		return nil, Invalid("bbox", "%q: longitudes must lie in -180…180 (axis order %s)", v, axes)
	case b[1] < -90 || b[3] > 90:
		return nil, Invalid("bbox", "%q: latitudes must lie in -90…90 (axis order %s)", v, axes)
	case b[0] > b[2]:
		return nil, Invalid("bbox", "%q: the box crosses the antimeridian or its x values are swapped: want %s", v, axes)
	case b[1] > b[3]:
		return nil, Invalid("bbox", "%q: want the minimum before the maximum: %s", v, axes)
	}
	return &b, nil
}
