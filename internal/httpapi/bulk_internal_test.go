package httpapi

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
)

// sameIncidentIn compares two decodings: the same strings, the same
// floats bit for bit.
func sameIncidentIn(a, b incidentIn) bool {
	eqf := func(x, y *float64) bool {
		return (x == nil) == (y == nil) && (x == nil || math.Float64bits(*x) == math.Float64bits(*y))
	}
	return a.Category == b.Category && a.CRS == b.CRS && a.OccurredAt == b.OccurredAt && a.Source == b.Source &&
		a.Description == b.Description && a.ExternalID == b.ExternalID && eqf(a.Lon, b.Lon) && eqf(a.Lat, b.Lat)
}

var incidentLineSeeds = []string{
	`{"category":"E0505","lon":121.1301,"lat":28.85,"occurred_at":"2026-03-04T09:30:00+08:00","source":"camera"}`,
	` { "category" : "E0406" , "lon" : -0.5e1 , "lat" : 1E-2 , "crs" : "gcj02" , "description" : "路口积水 30 cm", "external_id": "x-1" } `,
	`{}`,
	`{"category":"E0505","category":"E0506"}`,
	`{"Category":"E0505"}`,
	`{"lon":"121.1"}`,
	`{"lon":null}`,
	`{"lon":01}`,
	`{"lon":1.}`,
	`{"lon":1e999}`,
	`{"description":"tab\there"}`,
	`{"description":"esc\"aped"}`,
	"{\"description\":\"\xff\xfe\"}",
	`{"category":"E0505"} {}`,
	`{"category":"E0505",}`,
	`{"unknown":1}`,
	`[]`,
}

// TestIncidentDecoderFastPath: the usual line shape takes the fast path,
// and every line it takes decodes as encoding/json decodes it.
func TestIncidentDecoderFastPath(t *testing.T) {
	var d incidentDecoder
	for i, want := range []bool{true, true, true} {
		d.in = incidentIn{}
		if got := d.fast([]byte(incidentLineSeeds[i])); got != want {
			t.Errorf("%s: fast path %v, want %v", incidentLineSeeds[i], got, want)
		}
	}
	for _, s := range incidentLineSeeds {
		checkIncidentDecoder(t, []byte(s))
	}
}

// checkIncidentDecoder: whenever the fast path takes a line, encoding/json
// takes it too and decodes the same; and whatever DecodeStrict takes is
// one valid JSON text. The decoder has read another line before, as in a
// batch: nothing of that line may leak into this one.
func checkIncidentDecoder(t *testing.T, b []byte) {
	t.Helper()
	var std incidentIn
	stdErr := param.DecodeStrict(b, &std, "not valid JSON")
	if stdErr == nil && !json.Valid(b) {
		t.Fatalf("%q: DecodeStrict accepted what is not one JSON text", b)
	}
	var d incidentDecoder
	if !d.fast([]byte(incidentLineSeeds[1])) {
		t.Fatal("the fast path declined the usual line")
	}
	d.in = incidentIn{}
	if !d.fast(b) {
		return
	}
	if stdErr != nil {
		t.Fatalf("%q: the fast path accepted what encoding/json refuses: %v", b, stdErr)
	}
	if !sameIncidentIn(d.in, std) {
		t.Fatalf("%q: fast %+v, encoding/json %+v", b, d.in, std)
	}
}

func FuzzIncidentDecoder(f *testing.F) {
	for _, s := range incidentLineSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkIncidentDecoder)
}

// TestSplitLines: lines are numbered from 1 across blank ones; a blank line
// holds JSON whitespace only, so a line of other Unicode spaces is kept
// (and then refused as JSON) under its number.
func TestSplitLines(t *testing.T) {
	lines, err := splitLines([]byte("{}\n\n \t\r\n\u00a0\n\v{}\f\r\n  {} \n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []bulkLine{{1, []byte("{}")}, {4, []byte("\u00a0")}, {5, []byte("\v{}\f")}, {6, []byte("{}")}}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d", len(lines), len(want))
	}
	for i := range want {
		if lines[i].n != want[i].n || string(lines[i].b) != string(want[i].b) {
			t.Errorf("line %d %q, want line %d %q", lines[i].n, lines[i].b, want[i].n, want[i].b)
		}
	}
	var d incidentDecoder
	for _, l := range lines[1:3] {
		if _, err := d.report(l.b); grid.KindOf(err) != grid.Invalid || !strings.Contains(grid.MessageOf(err), "not valid JSON") {
			t.Errorf("line %d %q: %v, want not valid JSON", l.n, l.b, err)
		}
	}
}
