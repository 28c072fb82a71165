package httpapi

import (
	"testing"

	"github.com/citygrid/citygrid/internal/httpapi/param"
)

func sameIncidentIn(a, b incidentIn) bool {
	eqf := func(x, y *float64) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
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

func checkIncidentDecoder(t *testing.T, b []byte) {
	t.Helper()
	var d incidentDecoder
	if !d.fast(b) {
		return
	}
	var std incidentIn
	if err := param.DecodeStrict(b, &std, "not valid JSON"); err != nil {
		t.Fatalf("%q: the fast path accepted what encoding/json refuses: %v", b, err)
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
