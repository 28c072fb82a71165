// Package coord converts points between the three geographic coordinate
// systems met in Chinese map data:
//
//   - WGS84: GPS and official data (CGCS2000, EPSG:4490, is treated as equal
//     to WGS84, EPSG:4326, at grid-management accuracy);
//   - GCJ02: the obfuscated system of Amap, Tencent and WeChat;
//   - BD09: Baidu's system, GCJ02 with a further rotation and shift.
//
// In Linhai a GCJ02 point taken as WGS84 is about 530 m off and a BD09 point
// about 1.1 km off, several grid cells away, so every input point must say
// its system and the service converts it to WGS84 (ToWGS84) before any
// lookup, and back (FromWGS84) for output.
//
// The forward transforms are the usual closed forms. Their inverses have no
// exact closed form and are solved iteratively to well below 1e-7 degrees.
//
// Outside China's bounding box (OutOfChina) the three systems coincide and
// every function returns its input unchanged. Some libraries apply the BD09
// rotation worldwide; this package does not. Every WGS84 point of the box
// round-trips; a few points in a band about 0.02 degrees wide around the
// box's edges (sea or foreign land, far from any city the service covers)
// have two WGS84 preimages or none, and there the inverses prefer the one
// inside the box.
//
// All functions are pure, safe for concurrent use and allocate nothing.
package coord

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// CRS names a geographic coordinate system. The zero value is WGS84.
type CRS uint8

// The supported coordinate systems.
const (
	WGS84 CRS = iota // GPS, CGCS2000 (EPSG:4326, EPSG:4490)
	GCJ02            // Amap, Tencent, WeChat ("Mars coordinates")
	BD09             // Baidu
)

// ErrUnknownCRS is wrapped by the error ParseCRS returns for a name it does
// not know.
var ErrUnknownCRS = errors.New("unknown coordinate system")

// ParseCRS parses a coordinate system name: "wgs84", "gcj02" or "bd09",
// in any ASCII letter case. The empty string, "EPSG:4326" and "EPSG:4490"
// (CGCS2000) mean WGS84. Surrounding white space is ignored. Any other value
// is an error wrapping ErrUnknownCRS whose message lists the valid values.
func ParseCRS(s string) (CRS, error) {
	t := strings.TrimSpace(s)
	switch {
	case t == "", equalFoldASCII(t, "wgs84"),
		equalFoldASCII(t, "epsg:4326"), equalFoldASCII(t, "epsg:4490"):
		return WGS84, nil
	case equalFoldASCII(t, "gcj02"):
		return GCJ02, nil
	case equalFoldASCII(t, "bd09"):
		return BD09, nil
	}
	return WGS84, fmt.Errorf("%w %q: valid values are wgs84, gcj02, bd09 (EPSG:4326 and EPSG:4490 mean wgs84)",
		ErrUnknownCRS, s)
}

// equalFoldASCII reports whether s equals the lower-case ASCII string lower
// when ASCII letters are compared without case. Unlike strings.EqualFold it
// does not fold non-ASCII letters onto ASCII ones (such as "ſ" onto "s").
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// String returns the canonical lower-case name ParseCRS accepts.
func (c CRS) String() string {
	switch c {
	case WGS84:
		return "wgs84"
	case GCJ02:
		return "gcj02"
	case BD09:
		return "bd09"
	}
	return "CRS(" + strconv.Itoa(int(c)) + ")"
}

// ToWGS84 converts an input point given in system c to WGS84.
// A value of c other than the three constants returns the point unchanged.
func ToWGS84(c CRS, lon, lat float64) (float64, float64) {
	switch c {
	case GCJ02:
		return GCJ02ToWGS84(lon, lat)
	case BD09:
		return BD09ToWGS84(lon, lat)
	}
	return lon, lat
}

// FromWGS84 converts a WGS84 point to system c for output.
// A value of c other than the three constants returns the point unchanged.
func FromWGS84(c CRS, lon, lat float64) (float64, float64) {
	switch c {
	case GCJ02:
		return WGS84ToGCJ02(lon, lat)
	case BD09:
		return WGS84ToBD09(lon, lat)
	}
	return lon, lat
}

// China's bounding box, the one used by every published GCJ02 implementation.
// Points outside it get no offset.
const (
	minLon = 72.004
	maxLon = 137.8347
	minLat = 0.8293
	maxLat = 55.8271
)

// OutOfChina reports whether the point lies outside China's bounding box
// (lon 72.004–137.8347, lat 0.8293–55.8271), where no offset applies.
// NaN coordinates are out of China.
func OutOfChina(lon, lat float64) bool {
	return outsideBox(lon, lat, 0)
}

// outsideBox reports whether the point lies outside China's bounding box
// grown by margin degrees on every side. NaN coordinates are outside.
func outsideBox(lon, lat, margin float64) bool {
	return !(lon >= minLon-margin && lon <= maxLon+margin &&
		lat >= minLat-margin && lat <= maxLat+margin)
}

const (
	// offsetMargin bounds, with a wide safety factor, how far in degrees
	// either offset (GCJ02, or GCJ02 then BD09) moves a point of the box
	// (at most about 0.0174). The inverses return at once any point farther
	// than this outside the box: nothing inside maps there.
	offsetMargin = 0.1

	// edgeSlack is how far outside the box an inverse's solution may fall
	// and still be taken as inside: a point on the edge is only solved to
	// about 1e-11 degrees.
	edgeSlack = 1e-8
)

// Krasovsky 1940 ellipsoid, as used by GCJ02.
const (
	krasA  = 6378245.0
	krasEE = 0.00669342162296594323
)

const (
	deg2rad = math.Pi / 180
	xPi     = math.Pi * 3000.0 / 180.0 // BD09 rotation constant
)

// Iterative inverses stop once the forward image of the estimate is within
// tolerance of the input, or after maxIter rounds.
const (
	tolerance = 1e-9 // degrees, ~0.1 mm
	maxIter   = 30
)

// gcjOffset returns the GCJ02 offset in degrees at a WGS84 point, without the
// bounding-box test: the standard transformLat/transformLon series on
// (x, y) = (lon − 105, lat − 35), scaled by the Krasovsky radii of curvature.
//
// The series needs sin(kπx) for k = 6, 2, 1, 1/3, 1/12, 1/30 and sin(kπy) for
// k = 1, 1/3, 1/12, 1/30. Rather than ten sines, the k = 1/12 sine and cosine
// give k = 1/6, 1/3, 1, 2 and 6 through double- and triple-angle identities,
// which agree with direct evaluation to about 1e-13 in the series (1e-18
// degrees after scaling) and halve the cost of the transform.
func gcjOffset(lon, lat float64) (dLon, dLat float64) {
	x, y := lon-105.0, lat-35.0

	// sin(kπx).
	sx12, cx12 := math.Sincos(x * (math.Pi / 12))
	sx6, cx6 := 2*sx12*cx12, 1-2*sx12*sx12
	sx3, cx3 := 2*sx6*cx6, 1-2*sx6*sx6
	sx1, cx1 := sx3*(3-4*sx3*sx3), cx3*(4*cx3*cx3-3)
	sx2 := 2 * sx1 * cx1
	sx6x := sx2 * (3 - 4*sx2*sx2) // sin(6πx)
	sx30 := math.Sin(x * (math.Pi / 30))

	// sin(kπy).
	sy12, cy12 := math.Sincos(y * (math.Pi / 12))
	sy6, cy6 := 2*sy12*cy12, 1-2*sy12*sy12
	sy3 := 2 * sy6 * cy6
	sy1 := sy3 * (3 - 4*sy3*sy3)
	sy30 := math.Sin(y * (math.Pi / 30))

	// Terms shared by both series.
	common := (20.0*sx6x + 20.0*sx2) * 2.0 / 3.0
	xy := 0.1 * x * y
	sqrtAbsX := math.Sqrt(math.Abs(x))

	tLat := -100.0 + 2.0*x + 3.0*y + 0.2*y*y + xy + 0.2*sqrtAbsX + common +
		(20.0*sy1+40.0*sy3)*2.0/3.0 +
		(160.0*sy12+320.0*sy30)*2.0/3.0
	tLon := 300.0 + x + 2.0*y + 0.1*x*x + xy + 0.1*sqrtAbsX + common +
		(20.0*sx1+40.0*sx3)*2.0/3.0 +
		(150.0*sx12+300.0*sx30)*2.0/3.0

	sinLat, cosLat := math.Sincos(lat * deg2rad)
	magic := 1 - krasEE*sinLat*sinLat
	sqrtMagic := math.Sqrt(magic)
	dLat = (tLat * 180.0) / ((krasA * (1 - krasEE)) / (magic * sqrtMagic) * math.Pi)
	dLon = (tLon * 180.0) / (krasA / sqrtMagic * cosLat * math.Pi)
	return dLon, dLat
}

// gcjForward is WGS84 → GCJ02 without the bounding-box test.
func gcjForward(lon, lat float64) (float64, float64) {
	dLon, dLat := gcjOffset(lon, lat)
	return lon + dLon, lat + dLat
}

// bdForward is GCJ02 → BD09 without the bounding-box test: the standard
// rotation and shift.
func bdForward(lon, lat float64) (float64, float64) {
	z := math.Sqrt(lon*lon+lat*lat) + 0.00002*math.Sin(lat*xPi)
	theta := math.Atan2(lat, lon) + 0.000003*math.Cos(lon*xPi)
	s, c := math.Sincos(theta)
	return z*c + 0.0065, z*s + 0.006
}

// bdInverseApprox is the standard closed-form BD09 → GCJ02, off by up to
// about 2e-6 degrees; the exact inverse refines it.
func bdInverseApprox(lon, lat float64) (float64, float64) {
	x, y := lon-0.0065, lat-0.006
	z := math.Sqrt(x*x+y*y) - 0.00002*math.Sin(y*xPi)
	theta := math.Atan2(y, x) - 0.000003*math.Cos(x*xPi)
	s, c := math.Sincos(theta)
	return z * c, z * s
}

// WGS84ToGCJ02 converts a WGS84 point to GCJ02.
func WGS84ToGCJ02(lon, lat float64) (float64, float64) {
	if OutOfChina(lon, lat) {
		return lon, lat
	}
	return gcjForward(lon, lat)
}

// GCJ02ToWGS84 converts a GCJ02 point to WGS84. The offset has no closed-form
// inverse: starting from the usual one-step estimate, the WGS84 point is
// refined by fixed-point iteration on the forward transform until its GCJ02
// image is within 1e-9 degrees of the input (two to four rounds: the
// offset's slope is a few 1e-3, so each round gains two to three digits).
//
// A point whose WGS84 solution falls outside China's bounding box is returned
// unchanged, since WGS84ToGCJ02 leaves such points alone.
func GCJ02ToWGS84(lon, lat float64) (float64, float64) {
	if outsideBox(lon, lat, offsetMargin) {
		return lon, lat
	}
	dLon, dLat := gcjOffset(lon, lat)
	return refine(lon, lat, lon-dLon, lat-dLat, gcjForward)
}

// GCJ02ToBD09 converts a GCJ02 point to BD09.
func GCJ02ToBD09(lon, lat float64) (float64, float64) {
	if OutOfChina(lon, lat) {
		return lon, lat
	}
	return bdForward(lon, lat)
}

// BD09ToGCJ02 converts a BD09 point to GCJ02. The standard closed form is
// itself approximate (up to about 2e-6 degrees off); its result is refined by
// fixed-point iteration until the BD09 image is within 1e-9 degrees of the
// input. A point whose GCJ02 solution falls outside China's bounding box is
// returned unchanged.
func BD09ToGCJ02(lon, lat float64) (float64, float64) {
	if outsideBox(lon, lat, offsetMargin) {
		return lon, lat
	}
	gLon, gLat := bdInverseApprox(lon, lat)
	return refine(lon, lat, gLon, gLat, bdForward)
}

// WGS84ToBD09 converts a WGS84 point to BD09 (through GCJ02).
func WGS84ToBD09(lon, lat float64) (float64, float64) {
	if OutOfChina(lon, lat) {
		return lon, lat
	}
	return bdForward(gcjForward(lon, lat))
}

// BD09ToWGS84 converts a BD09 point to WGS84. It starts from the closed-form
// estimates of both inverses and refines the WGS84 point by fixed-point
// iteration on the composed forward transform until its BD09 image is within
// 1e-9 degrees of the input. A point whose WGS84 solution falls outside
// China's bounding box is returned unchanged.
func BD09ToWGS84(lon, lat float64) (float64, float64) {
	if outsideBox(lon, lat, offsetMargin) {
		return lon, lat
	}
	gLon, gLat := bdInverseApprox(lon, lat)
	dLon, dLat := gcjOffset(gLon, gLat)
	return refine(lon, lat, gLon-dLon, gLat-dLat, wgsToBD)
}

func wgsToBD(lon, lat float64) (float64, float64) { return bdForward(gcjForward(lon, lat)) }

// refine inverts forward at (lon, lat) by fixed-point iteration from the
// estimate (x, y), until the forward image is within tolerance of the
// input. A solution outside China's bounding box means the input was not
// offset: it is returned unchanged.
func refine(lon, lat, x, y float64, forward func(float64, float64) (float64, float64)) (float64, float64) {
	for range maxIter {
		fLon, fLat := forward(x, y)
		eLon, eLat := fLon-lon, fLat-lat
		x -= eLon
		y -= eLat
		if math.Abs(eLon) <= tolerance && math.Abs(eLat) <= tolerance {
			break
		}
	}
	if outsideBox(x, y, edgeSlack) {
		return lon, lat
	}
	return x, y
}
