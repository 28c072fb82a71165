package coord

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// Linhai's extent in WGS84 (DOMAIN.md): mainland 120.83–121.71 E, islands to
// 121.94 E; 28.66–29.07 N.
const (
	linhaiMinLon, linhaiMaxLon = 120.83, 121.94
	linhaiMinLat, linhaiMaxLat = 28.66, 29.07
)

// roundTripTol is the accuracy the service needs of every inverse.
const roundTripTol = 1e-7

// exactTol is used where the expected value is the exact output of a
// closed-form formula.
const exactTol = 1e-9

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// degErr is the larger of the coordinate differences, in degrees.
func degErr(lon1, lat1, lon2, lat2 float64) float64 {
	return math.Max(math.Abs(lon1-lon2), math.Abs(lat1-lat2))
}

// haversine returns the great-circle distance in metres on the mean sphere.
func haversine(lon1, lat1, lon2, lat2 float64) float64 {
	const r = 6371008.8
	p1, p2 := lat1*deg2rad, lat2*deg2rad
	dp, dl := (lat2-lat1)*deg2rad, (lon2-lon1)*deg2rad
	h := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(h)))
}

// TestReferenceVectors checks the forward formulas against values published
// by widely used implementations.
func TestReferenceVectors(t *testing.T) {
	type vec struct {
		name           string
		fn             func(lon, lat float64) (float64, float64)
		inLon, inLat   float64
		outLon, outLat float64
	}
	vecs := []vec{
		// github.com/wandergis/coordtransform, test/app.js (result comments):
		// wgs84togcj02(116.404, 39.915) = [116.41024449916938, 39.91640428150164].
		{"coordtransform wgs84togcj02 Beijing", WGS84ToGCJ02, 116.404, 39.915, 116.41024449916938, 39.91640428150164},
		// Same file: gcj02tobd09(116.404, 39.915) = [116.41036949371029, 39.92133699351021].
		{"coordtransform gcj02tobd09 Beijing", GCJ02ToBD09, 116.404, 39.915, 116.41036949371029, 39.92133699351021},
		// Same file: bd09togcj02(116.404, 39.915) = [116.39762729119315, 39.90865673957631].
		// This is the standard closed-form (approximate) inverse, before refinement.
		{"coordtransform bd09togcj02 Beijing (closed form)", bdInverseApprox, 116.404, 39.915, 116.39762729119315, 39.90865673957631},
		// github.com/googollee/eviltransform, go/transform_test.go and python/test.py
		// (wgsLat, wgsLng, gcjLat, gcjLng), here as (lon, lat):
		{"eviltransform shanghai", WGS84ToGCJ02, 121.5272106, 31.1774276, 121.531541859215, 31.17530398364597},
		{"eviltransform shenzhen", WGS84ToGCJ02, 113.912316, 22.543847, 113.9171764808363, 22.540796131694766},
		{"eviltransform beijing", WGS84ToGCJ02, 116.377817, 39.911954, 116.38404722455657, 39.91334545536069},
	}
	for _, v := range vecs {
		lon, lat := v.fn(v.inLon, v.inLat)
		if !near(lon, v.outLon, exactTol) || !near(lat, v.outLat, exactTol) {
			t.Errorf("%s: got (%.17g, %.17g), want (%.17g, %.17g)", v.name, lon, lat, v.outLon, v.outLat)
		}
	}

	// The eviltransform pairs are exact forward pairs, so the inverse must
	// recover the WGS84 point.
	for _, v := range vecs[3:] {
		lon, lat := GCJ02ToWGS84(v.outLon, v.outLat)
		if e := degErr(lon, lat, v.inLon, v.inLat); e > roundTripTol {
			t.Errorf("%s inverse: got (%.17g, %.17g), want (%.17g, %.17g), error %g°", v.name, lon, lat, v.inLon, v.inLat, e)
		}
	}
}

// TestInversesAreRefined checks that the inverses do not stop at the
// published one-step approximations, which are off by several 1e-7 degrees.
func TestInversesAreRefined(t *testing.T) {
	// coordtransform test/app.js: gcj02towgs84(116.404, 39.915) =
	// [116.39775550083061, 39.91359571849836], the one-step estimate.
	lon, lat := GCJ02ToWGS84(116.404, 39.915)
	if e := degErr(lon, lat, 116.39775550083061, 39.91359571849836); e < 2e-7 {
		t.Errorf("GCJ02ToWGS84 = (%.17g, %.17g) is the one-step estimate (diff %g°)", lon, lat, e)
	}
	if fl, fa := WGS84ToGCJ02(lon, lat); degErr(fl, fa, 116.404, 39.915) > exactTol {
		t.Errorf("WGS84ToGCJ02(GCJ02ToWGS84(p)) = (%.17g, %.17g), want (116.404, 39.915)", fl, fa)
	}

	// coordtransform test/app.js: bd09togcj02(116.404, 39.915) =
	// [116.39762729119315, 39.90865673957631], the closed-form estimate.
	lon, lat = BD09ToGCJ02(116.404, 39.915)
	if e := degErr(lon, lat, 116.39762729119315, 39.90865673957631); e < 2e-7 {
		t.Errorf("BD09ToGCJ02 = (%.17g, %.17g) is the closed-form estimate (diff %g°)", lon, lat, e)
	}
	if fl, fa := GCJ02ToBD09(lon, lat); degErr(fl, fa, 116.404, 39.915) > exactTol {
		t.Errorf("GCJ02ToBD09(BD09ToGCJ02(p)) = (%.17g, %.17g), want (116.404, 39.915)", fl, fa)
	}

	lon, lat = BD09ToWGS84(116.404, 39.915)
	if fl, fa := WGS84ToBD09(lon, lat); degErr(fl, fa, 116.404, 39.915) > exactTol {
		t.Errorf("WGS84ToBD09(BD09ToWGS84(p)) = (%.17g, %.17g), want (116.404, 39.915)", fl, fa)
	}
}

// refGCJOffset is the GCJ02 offset written exactly as the published series,
// one sine per term.
func refGCJOffset(lon, lat float64) (dLon, dLat float64) {
	x, y := lon-105.0, lat-35.0
	tLat := -100.0 + 2.0*x + 3.0*y + 0.2*y*y + 0.1*x*y + 0.2*math.Sqrt(math.Abs(x))
	tLat += (20.0*math.Sin(6.0*x*math.Pi) + 20.0*math.Sin(2.0*x*math.Pi)) * 2.0 / 3.0
	tLat += (20.0*math.Sin(y*math.Pi) + 40.0*math.Sin(y/3.0*math.Pi)) * 2.0 / 3.0
	tLat += (160.0*math.Sin(y/12.0*math.Pi) + 320*math.Sin(y*math.Pi/30.0)) * 2.0 / 3.0
	tLon := 300.0 + x + 2.0*y + 0.1*x*x + 0.1*x*y + 0.1*math.Sqrt(math.Abs(x))
	tLon += (20.0*math.Sin(6.0*x*math.Pi) + 20.0*math.Sin(2.0*x*math.Pi)) * 2.0 / 3.0
	tLon += (20.0*math.Sin(x*math.Pi) + 40.0*math.Sin(x/3.0*math.Pi)) * 2.0 / 3.0
	tLon += (150.0*math.Sin(x/12.0*math.Pi) + 300.0*math.Sin(x/30.0*math.Pi)) * 2.0 / 3.0
	radLat := lat / 180.0 * math.Pi
	magic := math.Sin(radLat)
	magic = 1 - krasEE*magic*magic
	sqrtMagic := math.Sqrt(magic)
	dLat = (tLat * 180.0) / ((krasA * (1 - krasEE)) / (magic * sqrtMagic) * math.Pi)
	dLon = (tLon * 180.0) / (krasA / sqrtMagic * math.Cos(radLat) * math.Pi)
	return dLon, dLat
}

// TestOffsetMatchesSeries checks the multiple-angle evaluation of the series
// against the term-by-term one over the whole box, and bounds the offsets by
// the margin the inverses rely on.
func TestOffsetMatchesSeries(t *testing.T) {
	var maxDiff, maxOffset float64
	for lon := minLon; lon <= maxLon; lon += 0.0371 {
		for lat := minLat; lat <= maxLat; lat += 0.0371 {
			dLon, dLat := gcjOffset(lon, lat)
			rLon, rLat := refGCJOffset(lon, lat)
			maxDiff = math.Max(maxDiff, degErr(dLon, dLat, rLon, rLat))
			bLon, bLat := WGS84ToBD09(lon, lat)
			maxOffset = math.Max(maxOffset, degErr(bLon, bLat, lon, lat))
			maxOffset = math.Max(maxOffset, degErr(dLon, dLat, 0, 0))
		}
	}
	t.Logf("max |series difference| = %g°, max offset in the box = %g°", maxDiff, maxOffset)
	if maxDiff > 1e-13 {
		t.Errorf("gcjOffset differs from the published series by %g°", maxDiff)
	}
	if maxOffset > offsetMargin/2 {
		t.Errorf("max offset %g° too close to offsetMargin %g°", maxOffset, offsetMargin)
	}
}

// TestLinhaiGrid round-trips a dense grid over Linhai's whole extent and
// checks the size of the offsets there.
func TestLinhaiGrid(t *testing.T) {
	const step = 0.002 // about 200 m
	var maxGCJ, maxBD float64
	minGCJm, maxGCJm := math.Inf(1), 0.0
	minBDm, maxBDm := math.Inf(1), 0.0
	n := 0
	for i := 0; ; i++ {
		lon := linhaiMinLon + float64(i)*step
		if lon > linhaiMaxLon+1e-12 {
			break
		}
		for j := 0; ; j++ {
			lat := linhaiMinLat + float64(j)*step
			if lat > linhaiMaxLat+1e-12 {
				break
			}
			n++
			gLon, gLat := WGS84ToGCJ02(lon, lat)
			wLon, wLat := GCJ02ToWGS84(gLon, gLat)
			maxGCJ = math.Max(maxGCJ, degErr(wLon, wLat, lon, lat))
			d := haversine(lon, lat, gLon, gLat)
			minGCJm, maxGCJm = math.Min(minGCJm, d), math.Max(maxGCJm, d)

			bLon, bLat := WGS84ToBD09(lon, lat)
			wLon, wLat = BD09ToWGS84(bLon, bLat)
			maxBD = math.Max(maxBD, degErr(wLon, wLat, lon, lat))
			d = haversine(lon, lat, bLon, bLat)
			minBDm, maxBDm = math.Min(minBDm, d), math.Max(maxBDm, d)

			// The two-step and the direct BD09 paths agree.
			b2Lon, b2Lat := GCJ02ToBD09(gLon, gLat)
			if e := degErr(b2Lon, b2Lat, bLon, bLat); e > 1e-12 {
				t.Fatalf("(%v, %v): WGS84ToBD09 and GCJ02ToBD09∘WGS84ToGCJ02 differ by %g°", lon, lat, e)
			}
			g2Lon, g2Lat := BD09ToGCJ02(bLon, bLat)
			if e := degErr(g2Lon, g2Lat, gLon, gLat); e > roundTripTol {
				t.Fatalf("(%v, %v): BD09ToGCJ02 round trip error %g°", lon, lat, e)
			}
		}
	}
	t.Logf("Linhai grid: %d points; max round-trip error WGS84→GCJ02→WGS84 %.3g°, WGS84→BD09→WGS84 %.3g°", n, maxGCJ, maxBD)
	t.Logf("Linhai offsets: GCJ02 %.0f–%.0f m, BD09 %.0f–%.0f m", minGCJm, maxGCJm, minBDm, maxBDm)
	if maxGCJ > roundTripTol || maxBD > roundTripTol {
		t.Errorf("round-trip error GCJ02 %g°, BD09 %g°, want ≤ %g°", maxGCJ, maxBD, roundTripTol)
	}
	// DOMAIN.md: about 530 m (GCJ02) and about 1.1 km (BD09) in Linhai.
	if minGCJm < 400 || maxGCJm > 700 {
		t.Errorf("GCJ02 offset in Linhai %.0f–%.0f m, want within 400–700 m", minGCJm, maxGCJm)
	}
	if minBDm < 900 || maxBDm > 1400 {
		t.Errorf("BD09 offset in Linhai %.0f–%.0f m, want within 900–1400 m", minBDm, maxBDm)
	}
}

// TestRandomChina round-trips random points of the box, in both directions.
func TestRandomChina(t *testing.T) {
	rng := rand.New(rand.NewPCG(331082, 4490))
	const n = 200000
	var maxGCJ, maxBD, maxGB, maxInvGCJ, maxInvBD float64
	for range n {
		lon := minLon + rng.Float64()*(maxLon-minLon)
		lat := minLat + rng.Float64()*(maxLat-minLat)

		gLon, gLat := WGS84ToGCJ02(lon, lat)
		wLon, wLat := GCJ02ToWGS84(gLon, gLat)
		maxGCJ = math.Max(maxGCJ, degErr(wLon, wLat, lon, lat))

		bLon, bLat := WGS84ToBD09(lon, lat)
		wLon, wLat = BD09ToWGS84(bLon, bLat)
		maxBD = math.Max(maxBD, degErr(wLon, wLat, lon, lat))

		bLon, bLat = GCJ02ToBD09(lon, lat)
		g2Lon, g2Lat := BD09ToGCJ02(bLon, bLat)
		maxGB = math.Max(maxGB, degErr(g2Lon, g2Lat, lon, lat))

		// Inverse first, then forward, for points well inside the box (near
		// its edges the inverse of a point may lie outside it).
		if lon > minLon+offsetMargin && lon < maxLon-offsetMargin &&
			lat > minLat+offsetMargin && lat < maxLat-offsetMargin {
			wLon, wLat = GCJ02ToWGS84(lon, lat)
			fLon, fLat := WGS84ToGCJ02(wLon, wLat)
			maxInvGCJ = math.Max(maxInvGCJ, degErr(fLon, fLat, lon, lat))
			wLon, wLat = BD09ToWGS84(lon, lat)
			fLon, fLat = WGS84ToBD09(wLon, wLat)
			maxInvBD = math.Max(maxInvBD, degErr(fLon, fLat, lon, lat))
		}
	}
	t.Logf("%d random points: max round-trip error WGS84→GCJ02→WGS84 %.3g°, WGS84→BD09→WGS84 %.3g°, GCJ02→BD09→GCJ02 %.3g°",
		n, maxGCJ, maxBD, maxGB)
	t.Logf("forward image of inverse: GCJ02 %.3g°, BD09 %.3g°", maxInvGCJ, maxInvBD)
	for _, e := range []float64{maxGCJ, maxBD, maxGB, maxInvGCJ, maxInvBD} {
		if e > roundTripTol {
			t.Errorf("round-trip error %g° > %g°", e, roundTripTol)
		}
	}
}

// TestBoxEdges round-trips points on and just inside the edges of the box,
// where the offset point can leave the box.
func TestBoxEdges(t *testing.T) {
	var pts [][2]float64
	for lat := minLat; lat <= maxLat; lat += 0.01 {
		pts = append(pts, [2]float64{minLon, lat}, [2]float64{maxLon, lat},
			[2]float64{minLon + 1e-9, lat}, [2]float64{maxLon - 1e-9, lat})
	}
	for lon := minLon; lon <= maxLon; lon += 0.01 {
		pts = append(pts, [2]float64{lon, minLat}, [2]float64{lon, maxLat},
			[2]float64{lon, minLat + 1e-9}, [2]float64{lon, maxLat - 1e-9})
	}
	var maxErr float64
	for _, p := range pts {
		for _, c := range []CRS{GCJ02, BD09} {
			oLon, oLat := FromWGS84(c, p[0], p[1])
			if oLon == p[0] && oLat == p[1] {
				t.Fatalf("%v (%v, %v): no offset inside the box", c, p[0], p[1])
			}
			wLon, wLat := ToWGS84(c, oLon, oLat)
			e := degErr(wLon, wLat, p[0], p[1])
			maxErr = math.Max(maxErr, e)
			if e > roundTripTol {
				t.Errorf("%v (%v, %v): round-trip error %g°", c, p[0], p[1], e)
			}
		}
	}
	t.Logf("%d edge points: max round-trip error %.3g°", len(pts), maxErr)
}

func TestOutOfChina(t *testing.T) {
	tests := []struct {
		lon, lat float64
		out      bool
	}{
		{121.13, 28.85, false},   // Linhai
		{116.404, 39.915, false}, // Beijing
		{minLon, minLat, false},
		{maxLon, maxLat, false},
		{139.6917, 35.6895, true},  // Tokyo, east of the box
		{-0.1276, 51.5072, true},   // London
		{-74.006, 40.7128, true},   // New York
		{151.2093, -33.8688, true}, // Sydney
		{0, 0, true},
		{180, 90, true},
		{-180, -90, true},
		{100, 0.8, true},  // south of the box
		{100, 56, true},   // north of the box
		{72.0, 40, true},  // west of the box
		{138.0, 40, true}, // east of the box
		{math.NaN(), 30, true},
		{120, math.NaN(), true},
		{math.Inf(1), 30, true},
		{120, math.Inf(-1), true},
	}
	for _, tc := range tests {
		if got := OutOfChina(tc.lon, tc.lat); got != tc.out {
			t.Errorf("OutOfChina(%v, %v) = %v, want %v", tc.lon, tc.lat, got, tc.out)
		}
	}
}

// TestOutsideChinaUnchanged checks that every conversion leaves points outside
// the box alone, non-finite ones included.
func TestOutsideChinaUnchanged(t *testing.T) {
	fns := map[string]func(lon, lat float64) (float64, float64){
		"WGS84ToGCJ02": WGS84ToGCJ02, "GCJ02ToWGS84": GCJ02ToWGS84,
		"GCJ02ToBD09": GCJ02ToBD09, "BD09ToGCJ02": BD09ToGCJ02,
		"WGS84ToBD09": WGS84ToBD09, "BD09ToWGS84": BD09ToWGS84,
	}
	for _, c := range []CRS{WGS84, GCJ02, BD09, CRS(7)} {
		fns["ToWGS84/"+c.String()] = func(lon, lat float64) (float64, float64) { return ToWGS84(c, lon, lat) }
		fns["FromWGS84/"+c.String()] = func(lon, lat float64) (float64, float64) { return FromWGS84(c, lon, lat) }
	}
	pts := [][2]float64{
		{139.6917, 35.6895}, {-0.1276, 51.5072}, {-74.006, 40.7128}, {151.2093, -33.8688},
		{0, 0}, {180, 90}, {-180, -90}, {37.6173, 55.7558}, {103.8198, 0.5},
		{math.Inf(1), 30}, {120, math.Inf(-1)},
	}
	for name, fn := range fns {
		for _, p := range pts {
			if lon, lat := fn(p[0], p[1]); lon != p[0] || lat != p[1] {
				t.Errorf("%s(%v, %v) = (%v, %v), want unchanged", name, p[0], p[1], lon, lat)
			}
		}
		if lon, lat := fn(math.NaN(), 30); !math.IsNaN(lon) || lat != 30 {
			t.Errorf("%s(NaN, 30) = (%v, %v), want (NaN, 30)", name, lon, lat)
		}
	}
}

func TestToFromWGS84(t *testing.T) {
	const lon, lat = 121.13, 28.85
	if gl, ga := FromWGS84(GCJ02, lon, lat); gl == lon || ga == lat {
		t.Errorf("FromWGS84(GCJ02) did not move the point")
	}
	if x, y := FromWGS84(WGS84, lon, lat); x != lon || y != lat {
		t.Errorf("FromWGS84(WGS84) = (%v, %v), want unchanged", x, y)
	}
	if x, y := ToWGS84(WGS84, lon, lat); x != lon || y != lat {
		t.Errorf("ToWGS84(WGS84) = (%v, %v), want unchanged", x, y)
	}
	for _, c := range []CRS{GCJ02, BD09} {
		oLon, oLat := FromWGS84(c, lon, lat)
		var wantLon, wantLat float64
		if c == GCJ02 {
			wantLon, wantLat = WGS84ToGCJ02(lon, lat)
		} else {
			wantLon, wantLat = WGS84ToBD09(lon, lat)
		}
		if oLon != wantLon || oLat != wantLat {
			t.Errorf("FromWGS84(%v) = (%v, %v), want (%v, %v)", c, oLon, oLat, wantLon, wantLat)
		}
		if w1, w2 := ToWGS84(c, oLon, oLat); degErr(w1, w2, lon, lat) > roundTripTol {
			t.Errorf("ToWGS84(%v, FromWGS84(%v, p)) = (%v, %v), want (%v, %v)", c, c, w1, w2, lon, lat)
		}
	}
}

func TestParseCRS(t *testing.T) {
	good := []struct {
		in   string
		want CRS
	}{
		{"", WGS84},
		{"wgs84", WGS84},
		{"WGS84", WGS84},
		{"Wgs84", WGS84},
		{" wgs84\t", WGS84},
		{"EPSG:4326", WGS84},
		{"epsg:4326", WGS84},
		{"EPSG:4490", WGS84},
		{"Epsg:4490", WGS84},
		{"gcj02", GCJ02},
		{"GCJ02", GCJ02},
		{" gcj02 ", GCJ02},
		{"bd09", BD09},
		{"BD09", BD09},
		{"Bd09", BD09},
	}
	for _, tc := range good {
		got, err := ParseCRS(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseCRS(%q) = %v, %v; want %v, nil", tc.in, got, err, tc.want)
		}
	}
	bad := []string{
		"wgs-84", "wgs 84", "wgs84x", "gcj-02", "gcj02ll", "bd-09", "bd09ll", "bd09mc",
		"EPSG:3857", "EPSG:4549", "4326", "epsg4326", "mercator", "mars", "baidu",
		"EP\u017fG:4326", // long s: strings.EqualFold would fold it onto "s"
		"wgs84\x00", "ｗｇｓ８４",
	}
	for _, in := range bad {
		got, err := ParseCRS(in)
		if err == nil {
			t.Errorf("ParseCRS(%q) = %v, nil; want an error", in, got)
			continue
		}
		if !errors.Is(err, ErrUnknownCRS) {
			t.Errorf("ParseCRS(%q) error %v does not wrap ErrUnknownCRS", in, err)
		}
		for _, name := range []string{"wgs84", "gcj02", "bd09"} {
			if !strings.Contains(err.Error(), name) {
				t.Errorf("ParseCRS(%q) error %q does not name %q", in, err, name)
			}
		}
	}
}

func TestCRSString(t *testing.T) {
	for c, want := range map[CRS]string{WGS84: "wgs84", GCJ02: "gcj02", BD09: "bd09", CRS(3): "CRS(3)", CRS(255): "CRS(255)"} {
		if got := c.String(); got != want {
			t.Errorf("CRS(%d).String() = %q, want %q", uint8(c), got, want)
		}
	}
	for _, c := range []CRS{WGS84, GCJ02, BD09} {
		if got, err := ParseCRS(c.String()); err != nil || got != c {
			t.Errorf("ParseCRS(%q) = %v, %v; want %v", c.String(), got, err, c)
		}
	}
}

func TestZeroAllocs(t *testing.T) {
	var lon, lat float64
	fns := map[string]func(){
		"WGS84ToGCJ02": func() { lon, lat = WGS84ToGCJ02(121.13, 28.85) },
		"GCJ02ToWGS84": func() { lon, lat = GCJ02ToWGS84(121.13, 28.85) },
		"GCJ02ToBD09":  func() { lon, lat = GCJ02ToBD09(121.13, 28.85) },
		"BD09ToGCJ02":  func() { lon, lat = BD09ToGCJ02(121.13, 28.85) },
		"WGS84ToBD09":  func() { lon, lat = WGS84ToBD09(121.13, 28.85) },
		"BD09ToWGS84":  func() { lon, lat = BD09ToWGS84(121.13, 28.85) },
		"ToWGS84":      func() { lon, lat = ToWGS84(BD09, 121.13, 28.85) },
		"FromWGS84":    func() { lon, lat = FromWGS84(BD09, 121.13, 28.85) },
		"ParseCRS":     func() { _, _ = ParseCRS("GCJ02") },
		"String":       func() { _ = GCJ02.String() },
	}
	for name, fn := range fns {
		if n := testing.AllocsPerRun(100, fn); n != 0 {
			t.Errorf("%s allocates %v times per call", name, n)
		}
	}
	_, _ = lon, lat
}

func FuzzParseCRS(f *testing.F) {
	for _, s := range []string{"", "wgs84", "GCJ02", "bd09", " BD09 ", "EPSG:4326", "epsg:4490", "bd09ll", "EP\u017fG:4326", "\xff"} {
		f.Add(s)
	}
	valid := map[string]CRS{"": WGS84, "wgs84": WGS84, "epsg:4326": WGS84, "epsg:4490": WGS84, "gcj02": GCJ02, "bd09": BD09}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCRS(s)
		// Oracle: ASCII-lower-cased, trimmed input in the valid set.
		key := strings.Map(func(r rune) rune {
			if 'A' <= r && r <= 'Z' {
				return r + ('a' - 'A')
			}
			return r
		}, strings.TrimSpace(s))
		want, ok := valid[key]
		if ok != (err == nil) {
			t.Fatalf("ParseCRS(%q) = %v, %v; accepted should be %v", s, c, err, ok)
		}
		if err != nil {
			if !errors.Is(err, ErrUnknownCRS) || !strings.Contains(err.Error(), "wgs84, gcj02, bd09") {
				t.Fatalf("ParseCRS(%q) error %q", s, err)
			}
			return
		}
		if c != want {
			t.Fatalf("ParseCRS(%q) = %v, want %v", s, c, want)
		}
		if back, err := ParseCRS(c.String()); err != nil || back != c {
			t.Fatalf("ParseCRS(%q) = %v, %v; want %v", c.String(), back, err, c)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	f.Add(121.13, 28.85, uint8(1))
	f.Add(121.94, 29.07, uint8(2))
	f.Add(116.404, 39.915, uint8(0))
	f.Add(minLon, minLat, uint8(2))
	f.Add(maxLon, maxLat, uint8(1))
	f.Add(72.0, 30.0, uint8(1))
	f.Add(-74.006, 40.7128, uint8(2))
	f.Add(180.0, -90.0, uint8(1))
	f.Fuzz(func(t *testing.T, lon, lat float64, k uint8) {
		if math.IsNaN(lon) || math.IsNaN(lat) || math.Abs(lon) > 180 || math.Abs(lat) > 90 {
			return
		}
		c := CRS(k % 3)
		checkPoint(t, c, lon, lat)
		// Random floats seldom land in China: also fold the input into the
		// box, edges included.
		fl := minLon + math.Mod(math.Abs(lon), 1.0000001)/1.0000001*(maxLon-minLon)
		fa := minLat + math.Mod(math.Abs(lat), 1.0000001)/1.0000001*(maxLat-minLat)
		checkPoint(t, c, math.Min(fl, maxLon), math.Min(fa, maxLat))
	})
}

// checkPoint checks that every conversion of a finite point gives finite
// results, that points of the box round-trip through c, and that points
// outside it are left alone.
func checkPoint(t *testing.T, c CRS, lon, lat float64) {
	t.Helper()
	finite := func(name string, x, y float64) {
		t.Helper()
		if math.IsNaN(x) || math.IsInf(x, 0) || math.IsNaN(y) || math.IsInf(y, 0) {
			t.Fatalf("%s(%v, %v) = (%v, %v)", name, lon, lat, x, y)
		}
	}
	x, y := WGS84ToGCJ02(lon, lat)
	finite("WGS84ToGCJ02", x, y)
	x, y = GCJ02ToWGS84(lon, lat)
	finite("GCJ02ToWGS84", x, y)
	x, y = GCJ02ToBD09(lon, lat)
	finite("GCJ02ToBD09", x, y)
	x, y = BD09ToGCJ02(lon, lat)
	finite("BD09ToGCJ02", x, y)
	x, y = WGS84ToBD09(lon, lat)
	finite("WGS84ToBD09", x, y)
	x, y = BD09ToWGS84(lon, lat)
	finite("BD09ToWGS84", x, y)

	oLon, oLat := FromWGS84(c, lon, lat)
	finite("FromWGS84/"+c.String(), oLon, oLat)
	wLon, wLat := ToWGS84(c, oLon, oLat)
	finite("ToWGS84/"+c.String(), wLon, wLat)
	if OutOfChina(lon, lat) {
		if oLon != lon || oLat != lat {
			t.Fatalf("FromWGS84(%v, %v, %v) = (%v, %v), want unchanged", c, lon, lat, oLon, oLat)
		}
		if outsideBox(lon, lat, offsetMargin) && (wLon != lon || wLat != lat) {
			t.Fatalf("ToWGS84(%v, %v, %v) = (%v, %v), want unchanged", c, lon, lat, wLon, wLat)
		}
		return
	}
	if e := degErr(wLon, wLat, lon, lat); e > roundTripTol {
		t.Fatalf("%v round trip of (%v, %v): got (%v, %v), error %g°", c, lon, lat, wLon, wLat, e)
	}
}

var sinkLon, sinkLat float64

func benchPoint(b *testing.B, fn func(lon, lat float64) (float64, float64), lon, lat float64) {
	b.ReportAllocs()
	for b.Loop() {
		sinkLon, sinkLat = fn(lon, lat)
	}
}

// Benchmarks use a point near Linhai's seat (121.13 E, 28.85 N) in the
// system each function reads.
func BenchmarkWGS84ToGCJ02(b *testing.B) { benchPoint(b, WGS84ToGCJ02, 121.13, 28.85) }
func BenchmarkGCJ02ToWGS84(b *testing.B) { benchPoint(b, GCJ02ToWGS84, 121.1346, 28.8473) }
func BenchmarkGCJ02ToBD09(b *testing.B)  { benchPoint(b, GCJ02ToBD09, 121.1346, 28.8473) }
func BenchmarkBD09ToGCJ02(b *testing.B)  { benchPoint(b, BD09ToGCJ02, 121.1411, 28.8531) }
func BenchmarkWGS84ToBD09(b *testing.B)  { benchPoint(b, WGS84ToBD09, 121.13, 28.85) }
func BenchmarkBD09ToWGS84(b *testing.B)  { benchPoint(b, BD09ToWGS84, 121.1411, 28.8531) }

func BenchmarkOutOfChinaUnchanged(b *testing.B) { benchPoint(b, BD09ToWGS84, -74.006, 40.7128) }

func BenchmarkToWGS84(b *testing.B) {
	for _, c := range []CRS{WGS84, GCJ02, BD09} {
		b.Run(c.String(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkLon, sinkLat = ToWGS84(c, 121.1346, 28.8473)
			}
		})
	}
}

var sinkCRS CRS

func BenchmarkParseCRS(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkCRS, _ = ParseCRS("GCJ02")
	}
}
