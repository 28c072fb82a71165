package httpapi

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// incidentJSONGen makes incidentDTO values that reach every branch of
// the hand-written encoder: escapes, omitted fields, nil and empty
// slices, zones, nanoseconds and floats on both sides of encoding/json's
// exponent cutoffs.
type incidentJSONGen struct{ r *rand.Rand }

var jsonPieces = []string{
	"a", "Z", "0", " ", "/", "城关镇", "东阳江", "é", "😀", "\"", "\\", "\n", "\r", "\t", "\x00", "\x01", "\x1f", "\x7f",
	"<", ">", "&", "\u2028", "\u2029", "\xff", "\xc3", "\xe2\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\ufffd", "?a=1&b=<2>",
}

func (g incidentJSONGen) str() string {
	if g.r.IntN(4) == 0 {
		return ""
	}
	var sb strings.Builder
	for n := g.r.IntN(12); n >= 0; n-- {
		sb.WriteString(jsonPieces[g.r.IntN(len(jsonPieces))])
	}
	return sb.String()
}

var jsonFloats = []float64{121.123456789, 0, math.Copysign(0, -1), -0.5, 1e-7, 1e-6, 9.99999e-7, 1e21, 1e20, 9.999999999999999e20,
	-1e21, 123456789012345678, 1 << 53, math.MaxFloat64, math.SmallestNonzeroFloat64, 29.123, 3.3e-10, 1e100}

func (g incidentJSONGen) float() float64 {
	switch g.r.IntN(3) {
	case 0:
		return jsonFloats[g.r.IntN(len(jsonFloats))]
	case 1:
		return g.r.Float64()*360 - 180
	}
	return g.r.NormFloat64() * math.Pow(10, float64(g.r.IntN(60)-30))
}

var jsonZones = []*time.Location{time.UTC, time.FixedZone("CST", 8*3600), time.FixedZone("", -(3*3600 + 30*60)),
	time.FixedZone("NPT", 5*3600+45*60), time.FixedZone("LMT", 8*3600+5*60+43), time.FixedZone("", 23*3600+59*60)}

func (g incidentJSONGen) time() time.Time {
	ns := int64(0)
	switch g.r.IntN(4) {
	case 1:
		ns = g.r.Int64N(1e9)
	case 2:
		ns = g.r.Int64N(1000) * 1e6
	case 3:
		ns = 500_000_000
	}
	sec := g.r.Int64N(4e9) - 1e9
	return time.Unix(sec, ns).In(jsonZones[g.r.IntN(len(jsonZones))])
}

func (g incidentJSONGen) optTime() *time.Time {
	if g.r.IntN(2) == 0 {
		return nil
	}
	t := g.time()
	return &t
}

func (g incidentJSONGen) int64() int64 {
	switch g.r.IntN(4) {
	case 0:
		return 0
	case 1:
		return g.r.Int64()
	case 2:
		return -g.r.Int64()
	}
	return g.r.Int64N(1e7)
}

func (g incidentJSONGen) codeName() codeName { return codeName{Code: g.str(), Name: g.str()} }

func (g incidentJSONGen) dto() incidentDTO {
	d := incidentDTO{ID: g.int64(), ExternalID: g.str(), Category: g.codeName(), Status: g.str(), Lon: g.float(), Lat: g.float(),
		CRS: g.str(), OccurredAt: g.time(), ReceivedAt: g.time(), Source: g.str(), Description: g.str(),
		Cell: g.codeName(), Community: g.codeName(), Town: g.codeName(), Department: g.codeName(), RuleID: g.int64(),
		GridVersion: g.int64(), Deadline: g.time(), Overdue: g.r.IntN(2) == 0, H3: g.str(),
		RegisteredAt: g.optTime(), DispatchedAt: g.optTime(), HandledAt: g.optTime(), ClosedAt: g.optTime(),
		Reworks: int(g.int64()), Extensions: g.r.IntN(3), Supervised: g.r.IntN(2) == 0}
	switch g.r.IntN(5) {
	case 0:
	case 1:
		d.Allowed = []string{}
	default:
		for n := g.r.IntN(4); n >= 0; n-- {
			d.Allowed = append(d.Allowed, g.str())
		}
	}
	switch g.r.IntN(4) {
	case 0:
		d.Events = []eventDTO{}
	case 1:
		for n := g.r.IntN(3); n >= 0; n-- {
			d.Events = append(d.Events, eventDTO{ID: g.int64(), At: g.time(), Action: g.str(), From: g.str(), To: g.str(), Actor: g.str(), Note: g.str()})
		}
	}
	return d
}

// incidentCollectionOf builds the GeoJSON answer of list as the handler
// does.
func incidentCollectionOf(list []incidentDTO, next string) incidentCollection {
	fc := incidentCollection{Type: "FeatureCollection", Features: make([]incidentFeature, len(list))}
	for i, d := range list {
		fc.Features[i] = incidentFeature{Type: "Feature", ID: d.ID,
			Geometry: pointGeometry{Type: "Point", Coordinates: [2]float64{d.Lon, d.Lat}}, Properties: incidentProps{incidentDTO: d}}
	}
	if next != "" {
		fc.Links = []link{{Rel: "next", Type: mimeGeoJSON, Href: next}}
	}
	return fc
}

// The hand-written answers of GET /v1/incidents, plain and GeoJSON, are
// byte for byte what encoding/json writes.
func TestIncidentsJSONAsEncodingJSON(t *testing.T) {
	g := incidentJSONGen{rand.New(rand.NewPCG(20260102, 3))}
	for n := 0; n < 600; n++ {
		var list []incidentDTO
		if n%7 != 0 {
			list = []incidentDTO{}
		}
		for k := g.r.IntN(8); k > 0; k-- {
			list = append(list, g.dto())
		}
		next := ""
		if g.r.IntN(2) == 0 {
			next = "/v1/incidents?after=" + g.str()
		}

		want, err := json.Marshal(map[string]any{"incidents": list, "next": next})
		if err != nil {
			t.Fatal(err)
		}
		got, err := appendIncidentPage([]byte("x"), list, next)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != "x"+string(want) {
			t.Fatalf("plain, hand-written:\n%s\nencoding/json:\n%s", got[1:], want)
		}

		fc := incidentCollectionOf(list, next)
		if n%11 == 0 {
			fc.Features = nil
		}
		if want, err = json.Marshal(fc); err != nil {
			t.Fatal(err)
		}
		if got, err = appendIncidentCollection(nil, &fc); err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("GeoJSON, hand-written:\n%s\nencoding/json:\n%s", got, want)
		}
	}
}

// Where encoding/json fails on an incident, so does the hand-written
// encoder.
func TestIncidentsJSONErrors(t *testing.T) {
	g := incidentJSONGen{rand.New(rand.NewPCG(7, 7))}
	late := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	early := time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC)
	farZone := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 24*3600))
	farWest := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", -24*3600))
	for i, spoil := range []func(d *incidentDTO){
		func(d *incidentDTO) {},
		func(d *incidentDTO) { d.Lon = math.NaN() },
		func(d *incidentDTO) { d.Lat = math.Inf(-1) },
		func(d *incidentDTO) { d.OccurredAt = late },
		func(d *incidentDTO) { d.ReceivedAt = early },
		func(d *incidentDTO) { d.Deadline = farZone },
		func(d *incidentDTO) { d.ClosedAt = &farWest },
		func(d *incidentDTO) { d.RegisteredAt = &late },
		func(d *incidentDTO) { d.Events = []eventDTO{{At: early}} },
		func(d *incidentDTO) { d.Deadline = time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC) },
		func(d *incidentDTO) {
			d.Deadline = time.Date(0, 1, 1, 0, 0, 0, 0, time.FixedZone("", 23*3600+59*60+59))
		},
	} {
		d := g.dto()
		d.Lon, d.Lat = 120, 30
		d.OccurredAt, d.ReceivedAt, d.Deadline = time.Unix(0, 0), time.Unix(0, 0), time.Unix(0, 0)
		d.RegisteredAt, d.DispatchedAt, d.HandledAt, d.ClosedAt, d.Events = nil, nil, nil, nil, nil
		spoil(&d)
		list := []incidentDTO{d}
		_, want := json.Marshal(map[string]any{"incidents": list, "next": ""})
		_, got := appendIncidentPage(nil, list, "")
		if (got == nil) != (want == nil) {
			t.Errorf("case %d, plain: hand-written %v, encoding/json %v", i, got, want)
		}
		fc := incidentCollectionOf(list, "")
		_, want = json.Marshal(fc)
		_, got = appendIncidentCollection(nil, &fc)
		if (got == nil) != (want == nil) {
			t.Errorf("case %d, GeoJSON: hand-written %v, encoding/json %v", i, got, want)
		}
	}
}

func BenchmarkIncidentsJSON(b *testing.B) {
	g := incidentJSONGen{rand.New(rand.NewPCG(1, 2))}
	list := make([]incidentDTO, 455)
	for i := range list {
		list[i] = g.dto()
		list[i].Events = nil
	}
	const next = "/v1/incidents?after=123456&limit=455"
	fc := incidentCollectionOf(list, next)
	b.Run("plain/hand-written", func(b *testing.B) {
		for b.Loop() {
			if _, err := appendIncidentPage(make([]byte, 0, 128+incidentJSONSize*len(list)), list, next); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plain/encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(map[string]any{"incidents": list, "next": next}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("geojson/hand-written", func(b *testing.B) {
		for b.Loop() {
			if _, err := appendIncidentCollection(make([]byte, 0, 128+incidentJSONSize*len(list)), &fc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("geojson/encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(fc); err != nil {
				b.Fatal(err)
			}
		}
	})
}
