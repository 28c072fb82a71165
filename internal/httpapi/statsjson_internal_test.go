package httpapi

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

// The hand-written answer of /v1/stats is byte for byte what
// encoding/json writes.
func TestStatsJSONAsEncodingJSON(t *testing.T) {
	r := func(f float64) *float64 { return &f }
	cst := time.FixedZone("CST", 8*3600)
	codes := []string{"E0505", "E0001", "E0102"}
	out := statsOut{GroupBy: "cell", Interval: "week", From: time.Date(2026, 1, 2, 3, 4, 5, 600, cst), To: time.Date(2026, 2, 1, 0, 0, 0, 0, cst),
		Groups: []statsGroup{
			{Code: "331082001001001", Name: "城关 \"一\" <&> \u2028 \x01\t\\", Total: 7, ByCategory: categoryCounts{Codes: codes, N: []int64{3, 0, 4}},
				DueToHandle: 5, Handled: 4, HandledOnTime: 3, DueToClose: 5, Closed: 2, ClosedOnTime: 1, Reworked: 1, Extended: 0, Accurate: 4,
				Ratios: statsRatios{Closure: r(0.4), OnTimeClosure: r(1e-7), Handling: r(2.0 / 3), OnTimeHandling: nil, Rework: r(0), Extension: r(math.MaxFloat64)},
				Series: []seriesPoint{{Start: time.Date(2025, 12, 29, 0, 0, 0, 0, cst), Count: 7}}},
			{Code: "x", Name: "bad \xff utf-8", ByCategory: categoryCounts{}},
			{Code: "y", Name: "the same codes", ByCategory: categoryCounts{Codes: codes, N: []int64{0, 2, 1}}},
			{Code: "z", Name: "codes of its own", ByCategory: categoryCounts{Codes: []string{"P0101", "E0001"}, N: []int64{5, 6}}},
		}}
	want, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out.appendJSON(nil)); got != string(want)+"\n" {
		t.Errorf("hand-written:\n%s\nencoding/json:\n%s", got, want)
	}
}
