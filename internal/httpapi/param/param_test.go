package param_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

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
		h, err := param.Hours(s)
		if err != nil {
			return
		}
		if !slices.IsSorted(h) || len(slices.Compact(slices.Clone(h))) != len(h) {
			t.Fatalf("%q: %v not a sorted set", s, h)
		}
		for _, x := range h {
			if x < 0 || x > 23 {
				t.Fatalf("%q: %d", s, x)
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
