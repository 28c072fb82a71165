package param_test

import (
	"errors"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
)

// invalidNaming reports whether err is an Invalid error naming field.
func invalidNaming(err error, field string) bool {
	var ge *grid.Error
	return errors.As(err, &ge) && ge.Kind == grid.Invalid && strings.HasPrefix(ge.Message, field+": ")
}

func TestInterval(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	var zero time.Time
	good := []struct {
		in       string
		from, to time.Time
	}{
		{"2026-05-01T00:00:00+08:00", at("2026-05-01T00:00:00+08:00"), at("2026-05-01T00:00:00+08:00")},
		{"2026-05-01T00:00:00Z/2026-06-01T00:00:00Z", at("2026-05-01T00:00:00Z"), at("2026-06-01T00:00:00Z")},
		{"../2026-06-01T00:00:00Z", zero, at("2026-06-01T00:00:00Z")},
		{"2026-05-01T00:00:00Z/..", at("2026-05-01T00:00:00Z"), zero},
		{"2026-05-01T00:00:00Z/", at("2026-05-01T00:00:00Z"), zero},
	}
	for _, g := range good {
		from, to, err := param.Interval("datetime", g.in)
		if err != nil || !from.Equal(g.from) || !to.Equal(g.to) {
			t.Errorf("%q: %s, %s, %v", g.in, from, to, err)
		}
	}
	for _, bad := range []string{"", "yesterday", "../..", "/", "2026-06-01T00:00:00Z/2026-05-01T00:00:00Z",
		"0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z/..", "2026-05-01"} {
		if _, _, err := param.Interval("datetime", bad); !invalidNaming(err, "datetime") {
			t.Errorf("%q: %v, want Invalid naming datetime", bad, err)
		}
	}
}

func TestTimeRange(t *testing.T) {
	for _, v := range []string{"9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1899-12-31T23:59:59Z", "2200-01-01T00:00:00Z"} {
		if _, err := param.Time("to", v); !invalidNaming(err, "to") {
			t.Errorf("%s: %v", v, err)
		}
	}
	for _, v := range []string{"1900-01-01T00:00:00Z", "2199-12-31T23:59:59+08:00", "2026-06-18T09:30:00.123+08:00"} {
		if _, err := param.Time("to", v); err != nil {
			t.Errorf("%s: %v", v, err)
		}
	}
}

func TestSetsAndTiles(t *testing.T) {
	if h, err := param.Hours("22-23,0-5,3"); err != nil || !slices.Equal(h, []int{0, 1, 2, 3, 4, 5, 22, 23}) {
		t.Errorf("hours: %v %v", h, err)
	}
	for _, bad := range []string{"24", "5-3", "a", "-1", "1,,2"} {
		if _, err := param.Hours(bad); !invalidNaming(err, "hours") {
			t.Errorf("hours %q: %v", bad, err)
		}
	}
	if _, err := param.Weekdays("0"); !invalidNaming(err, "weekdays") {
		t.Errorf("weekday 0: %v", err)
	}
	if z, x, y, err := param.Tile("14", "13705", "6876"); err != nil || z != 14 || x != 13705 || y != 6876 {
		t.Errorf("tile: %d %d %d %v", z, x, y, err)
	}
	for _, bad := range [][3]string{{"23", "0", "0"}, {"-1", "0", "0"}, {"2", "4", "0"}, {"2", "0", "4"}, {"x", "0", "0"}, {"1", "0.5", "0"}} {
		if _, _, _, err := param.Tile(bad[0], bad[1], bad[2]); err == nil {
			t.Errorf("tile %v accepted", bad)
		}
	}
}

func TestBBoxAndText(t *testing.T) {
	if b, err := param.BBox("121.18,28.86,121.19,28.869"); err != nil || *b != [4]float64{121.18, 28.86, 121.19, 28.869} {
		t.Errorf("bbox: %v %v", b, err)
	}
	for _, bad := range []string{"1,2,3", "a,b,c,d", "121,29,120,30", "NaN,0,1,1", "0,0,1,91", "-181,0,0,1"} {
		if _, err := param.BBox(bad); !invalidNaming(err, "bbox") {
			t.Errorf("bbox %q: %v", bad, err)
		}
	}
	if err := param.Text("note", "a\x00b"); !invalidNaming(err, "note") {
		t.Errorf("NUL: %v", err)
	}
	if err := param.Text("note", "占道经营"); err != nil {
		t.Error(err)
	}
}

// The parsers never panic, and what they accept is within their bounds.
func FuzzBBox(f *testing.F) {
	for _, s := range []string{"121.18,28.86,121.19,28.869", "1,2,3", "-180,-90,180,90", "1e308,0,1e309,1", ",,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := param.BBox(s)
		if err != nil || b == nil {
			return
		}
		for _, v := range b {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("%q: %v", s, b)
			}
		}
		if b[0] > b[2] || b[1] > b[3] || b[0] < -180 || b[2] > 180 || b[1] < -90 || b[3] > 90 {
			t.Fatalf("%q: %v out of bounds", s, b)
		}
	})
}

func FuzzInterval(f *testing.F) {
	for _, s := range []string{"2026-05-01T00:00:00Z/..", "../2026-06-01T00:00:00+08:00", "2026-05-01T00:00:00Z", "/", "a/b/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		from, to, err := param.Interval("datetime", s)
		if err != nil {
			return
		}
		if from.IsZero() && to.IsZero() {
			t.Fatalf("%q: both ends open", s)
		}
		if !from.IsZero() && !to.IsZero() && to.Before(from) {
			t.Fatalf("%q: ends before it starts", s)
		}
		for _, v := range []time.Time{from, to} {
			if !v.IsZero() && (v.Before(param.MinTime) || !v.Before(param.MaxTime)) {
				t.Fatalf("%q: %s out of range", s, v)
			}
		}
	})
}

func FuzzSet(f *testing.F) {
	for _, s := range []string{"22-23,0-5", "1", "", "3-1", "-", "1,2,3,4,5,6,7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, set := range []struct {
			name   string
			read   func(string) ([]int, error)
			lo, hi int
		}{{"hours", param.Hours, 0, 23}, {"weekdays", param.Weekdays, 1, 7}} {
			h, err := set.read(s)
			if err != nil {
				if !invalidNaming(err, set.name) {
					t.Fatalf("%s %q: %v, want Invalid naming %s", set.name, s, err, set.name)
				}
				continue
			}
			if !slices.IsSorted(h) || len(slices.Compact(slices.Clone(h))) != len(h) {
				t.Fatalf("%s %q: %v not a sorted set", set.name, s, h)
			}
			for _, x := range h {
				if x < set.lo || x > set.hi {
					t.Fatalf("%s %q: %d", set.name, s, x)
				}
			}
			if (s == "") != (h == nil) {
				t.Fatalf("%s %q: %v", set.name, s, h)
			}
		}
	})
}

func FuzzTile(f *testing.F) {
	f.Add("14", "13705", "6876")
	f.Add("0", "0", "0")
	f.Add("22", "4194303", "4194303")
	f.Fuzz(func(t *testing.T, zs, xs, ys string) {
		z, x, y, err := param.Tile(zs, xs, ys)
		if err != nil {
			return
		}
		if z < 0 || z > param.MaxZoom || x < 0 || y < 0 || x >= 1<<z || y >= 1<<z {
			t.Fatalf("%s/%s/%s → %d/%d/%d", zs, xs, ys, z, x, y)
		}
	})
}

// FuzzCRS: param.CRS accepts exactly what coord.ParseCRS accepts, with the
// same system, and refuses the rest with an Invalid error naming crs.
func FuzzCRS(f *testing.F) {
	for _, s := range []string{"", "wgs84", "GCJ02", " bd09 ", "EPSG:4326", "epsg:4490", "bd09ll", "\u212a", "gcj\x0002"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := param.CRS(s)
		want, werr := coord.ParseCRS(s)
		if (err == nil) != (werr == nil) || err == nil && got != want {
			t.Fatalf("CRS(%q) = %v, %v; coord.ParseCRS: %v, %v", s, got, err, want, werr)
		}
		if err != nil && !invalidNaming(err, "crs") {
			t.Fatalf("CRS(%q): %v, want Invalid naming crs", s, err)
		}
	})
}

// FuzzLonLat: a pair is accepted exactly when both texts are numbers
// (strconv.ParseFloat), finite and in range, and the values are those
// numbers; otherwise the error names lon or lat.
func FuzzLonLat(f *testing.F) {
	for _, s := range [][2]string{{"121.13", "28.85"}, {"-180", "90"}, {"180.0000001", "0"}, {"", "1"}, {"1", ""},
		{"NaN", "0"}, {"0", "Inf"}, {"0x1p4", "1_0"}, {"1e-400", "-0"}, {" 1", "2 "}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, lonS, latS string) {
		lon, lat, err := param.LonLat(lonS, latS)
		x, ex := strconv.ParseFloat(lonS, 64)
		y, ey := strconv.ParseFloat(latS, 64)
		ok := ex == nil && ey == nil && x >= -180 && x <= 180 && y >= -90 && y <= 90
		if ok != (err == nil) {
			t.Fatalf("LonLat(%q, %q) = %v, %v, %v; want accepted %v", lonS, latS, lon, lat, err, ok)
		}
		if err != nil {
			if !invalidNaming(err, "lon") && !invalidNaming(err, "lat") {
				t.Fatalf("LonLat(%q, %q): %v names neither lon nor lat", lonS, latS, err)
			}
			return
		}
		if math.Float64bits(lon) != math.Float64bits(x) || math.Float64bits(lat) != math.Float64bits(y) {
			t.Fatalf("LonLat(%q, %q) = %v, %v; want %v, %v", lonS, latS, lon, lat, x, y)
		}
	})
}

// FuzzTime: an accepted time is RFC 3339, from 1900 up to 2200, and writes
// back as text that reads as the same instant; refusals name the field.
func FuzzTime(f *testing.F) {
	for _, s := range []string{"2026-06-18T09:30:00+08:00", "2026-06-18T09:30:00.123456789Z", "1900-01-01T00:00:00Z",
		"2200-01-01T00:00:00Z", "2199-12-31T23:59:59-23:59", "2026-02-29T00:00:00Z", "2026-06-18t09:30:00z",
		"2026-06-18T24:00:00Z", "2026-06-18 09:30:00Z", "0000-01-01T00:00:00+00:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := param.Time("at", s)
		if err != nil {
			if !invalidNaming(err, "at") {
				t.Fatalf("Time(%q): %v, want Invalid naming at", s, err)
			}
			return
		}
		if v.Before(param.MinTime) || !v.Before(param.MaxTime) {
			t.Fatalf("Time(%q) = %s, outside 1900…2200", s, v)
		}
		back, err := param.Time("at", v.Format(time.RFC3339Nano))
		if err != nil || !back.Equal(v) {
			t.Fatalf("Time(%q) = %s, written %q, read back %s, %v", s, v, v.Format(time.RFC3339Nano), back, err)
		}
	})
}

// FuzzOGCBBox: bbox-crs names one of the served systems (by URI, the safe
// CURIE or [EPSG:n]), and an OGC bbox in it reads as BBox reads its four
// numbers put in lon, lat order: latitude-first systems swap the axes, and
// six numbers drop the heights, which must hold 0.
func FuzzOGCBBox(f *testing.F) {
	for _, s := range [][2]string{
		{"121.1,28.8,121.2,28.9", ""}, {"28.8,121.1,28.9,121.2", param.EPSG4326}, {"121.1,28.8,-5,121.2,28.9,5", param.CRS84},
		{"121.1,28.8,1,121.2,28.9,5", param.CRS84}, {"28.8,121.1,0,28.9,121.2,0", "[epsg:4490]"}, {"1,2,3,4", "[OGC:CRS84]"},
		{"1,2,3,4", param.CRSGCJ02}, {"170,0,-170,1", param.CRSBD09}, {"1,2,3", "urn:x"}, {"1,2,3,4,5", param.EPSG4490},
		{" 1 , 2 , 3 , 4 ", "[EPSG:4326]"}, {"1,2,Inf,4", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, v, crsURI string) {
		c, err := param.CRSURI("bbox-crs", crsURI)
		if err != nil {
			if !invalidNaming(err, "bbox-crs") {
				t.Fatalf("CRSURI(%q): %v, want Invalid naming bbox-crs", crsURI, err)
			}
			return
		}
		if !slices.Contains(param.OGCCRSList(), c) || !(crsURI == "" || crsURI == "[OGC:CRS84]" || crsURI == c.URI ||
			strings.HasPrefix(c.URI, "http://www.opengis.net/def/crs/EPSG/0/") && strings.EqualFold(crsURI, "[EPSG:"+path.Base(c.URI)+"]")) {
			t.Fatalf("CRSURI(%q) = %+v", crsURI, c)
		}
		got, err := param.OGCBBox(v, c)
		if err != nil && !invalidNaming(err, "bbox") {
			t.Fatalf("OGCBBox(%q): %v, want Invalid naming bbox", v, err)
		}
		if v == "" {
			if got != nil || err != nil {
				t.Fatalf("OGCBBox(\"\") = %v, %v", got, err)
			}
			return
		}
		// The oracle: BBox of the 2D corners in lon, lat order.
		parts := strings.Split(v, ",")
		heightsOK := true
		if len(parts) == 6 {
			lo, e1 := strconv.ParseFloat(strings.TrimSpace(parts[2]), 64)
			hi, e2 := strconv.ParseFloat(strings.TrimSpace(parts[5]), 64)
			heightsOK = e1 == nil && e2 == nil && lo <= 0 && hi >= 0 && !math.IsInf(lo, 0) && !math.IsInf(hi, 0)
			parts = []string{parts[0], parts[1], parts[3], parts[4]}
		}
		if len(parts) == 4 && c.LatFirst {
			parts = []string{parts[1], parts[0], parts[3], parts[2]}
		}
		want, werr := param.BBox(strings.Join(parts, ","))
		if werr != nil || !heightsOK {
			if err == nil {
				t.Fatalf("OGCBBox(%q, %s) = %v; BBox refuses %q (%v) or the heights leave 0 out", v, c.URI, got, strings.Join(parts, ","), werr)
			}
			return
		}
		if err != nil || *got != *want {
			t.Fatalf("OGCBBox(%q, %s) = %v, %v; want %v", v, c.URI, got, err, want)
		}
	})
}

// TestDecodeStrictTrailing: only whitespace may follow the object; a stray
// closing bracket or brace is trailing data too.
func TestDecodeStrictTrailing(t *testing.T) {
	var v struct {
		A int `json:"a"`
	}
	for _, s := range []string{`{"a":1}}`, `{"a":1}]`, `{"a":1} ]`, `{"a":1}x`, `{"a":1} {}`, `{"a":1},`} {
		if err := param.DecodeStrict([]byte(s), &v, "x"); !invalidNaming(err, "body") || !strings.Contains(err.Error(), "trailing data") {
			t.Errorf("%q: %v, want trailing data", s, err)
		}
	}
	for _, s := range []string{`{"a":1}`, " {\"a\":1} \r\n\t", `{"a":1}` + "\n"} {
		if err := param.DecodeStrict([]byte(s), &v, "x"); err != nil || v.A != 1 {
			t.Errorf("%q: %v", s, err)
		}
	}
}
