package httpapi

import (
	"strconv"
	"unicode/utf8"

	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/citygrid/citygrid/internal/intake"
)

// The fast decoders of the two bodies that carry many items — the locate
// batch and the bulk load's NDJSON lines: they read the usual shape
// exactly as encoding/json would, without its reflection, and hand
// anything else to encoding/json (decodeStrict), which gives the answer or
// error it always gave.

// decodeBatchFast decodes the usual shape of a batch request exactly as
// encoding/json would, without its reflection and per-point allocations: an
// object whose keys are "crs", "category", "at" and "points", each at most
// once; strings of printable ASCII without escapes; points an array of
// [lon, lat] pairs of JSON numbers that float64 holds; JSON whitespace
// between tokens and after the object. For anything else — other keys or
// spellings, escapes, nulls, points that are not pairs, numbers out of
// range, trailing data, bad syntax — ok is false and req zero, and the
// caller decodes with encoding/json, which gives the answer or error it
// always gave.
func decodeBatchFast(body []byte) (req batchRequest, ok bool) {
	if d := (&fastJSON{b: body}); d.batch(&req) {
		return req, true
	}
	return batchRequest{}, false
}

// fastJSON reads the strict subset of JSON decodeBatchFast accepts.
type fastJSON struct {
	b []byte
	i int
}

func (d *fastJSON) batch(req *batchRequest) bool {
	if !d.tok('{') {
		return false
	}
	var seen [4]bool
	for {
		key, ok := d.str()
		if !ok || !d.tok(':') {
			return false
		}
		var k int
		switch key {
		case "crs":
			k = 0
			req.CRS, ok = d.str()
		case "category":
			k = 1
			req.Category, ok = d.str()
		case "at":
			k = 2
			req.At, ok = d.str()
		case "points":
			k = 3
			req.Points, ok = d.points()
		default:
			return false
		}
		if !ok || seen[k] {
			return false
		}
		seen[k] = true
		if d.tok('}') {
			break
		}
		if !d.tok(',') {
			return false
		}
	}
	d.ws()
	return d.i == len(d.b)
}

// ws skips JSON whitespace.
func (d *fastJSON) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// tok skips whitespace and consumes c when it comes next.
func (d *fastJSON) tok(c byte) bool {
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == c {
		d.i++
		return true
	}
	return false
}

// str reads a string of printable ASCII without escapes.
func (d *fastJSON) str() (string, bool) {
	if !d.tok('"') {
		return "", false
	}
	for start := d.i; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return string(d.b[start : d.i-1]), true
		case c < 0x20 || c > 0x7e || c == '\\':
			return "", false
		}
	}
	return "", false
}

// points reads an array of [lon, lat] pairs; [] is an empty, non-nil list
// as encoding/json makes it.
func (d *fastJSON) points() ([][]float64, bool) {
	if !d.tok('[') {
		return nil, false
	}
	flat := make([]float64, 0, 2*((len(d.b)-d.i)/24+1))
	if !d.tok(']') {
		for {
			if !d.tok('[') {
				return nil, false
			}
			lon, ok := d.num()
			if !ok || !d.tok(',') {
				return nil, false
			}
			lat, ok := d.num()
			if !ok || !d.tok(']') {
				return nil, false
			}
			flat = append(flat, lon, lat)
			if d.tok(']') {
				break
			}
			if !d.tok(',') {
				return nil, false
			}
		}
	}
	pts := make([][]float64, len(flat)/2)
	for i := range pts {
		pts[i] = flat[2*i : 2*i+2 : 2*i+2]
	}
	return pts, true
}

// num reads a number by JSON's grammar and converts it as encoding/json
// does (strconv.ParseFloat, 64 bits); out of range is not ok.
func (d *fastJSON) num() (float64, bool) {
	d.ws()
	b, i := d.b, d.i
	digits := func() bool {
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > start
	}
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && b[i] == '0' {
		i++
	} else if i >= len(b) || b[i] < '1' || b[i] > '9' || !digits() {
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		if i++; !digits() {
			return 0, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(string(b[d.i:i]), 64)
	if err != nil {
		return 0, false
	}
	d.i = i
	return f, true
}

// incidentDecoder reads one NDJSON line into a report: the usual shape
// without reflection, anything else through decodeStrict.
type incidentDecoder struct {
	in       incidentIn
	lon, lat float64
	interned map[string]string // category, crs and source spellings seen
}

func (d *incidentDecoder) report(b []byte) (intake.Report, error) {
	d.in = incidentIn{}
	if !d.fast(b) {
		d.in = incidentIn{}
		if err := param.DecodeStrict(b, &d.in, "not valid JSON"); err != nil {
			return intake.Report{}, err
		}
	}
	return d.in.report()
}

// fast decodes an object whose keys are incidentIn's exact names, each at
// most once, with string values (valid UTF-8, no escapes) and lon/lat
// JSON numbers — exactly as encoding/json would. ok is false otherwise.
func (d *incidentDecoder) fast(b []byte) bool {
	j := fastJSON{b: b}
	if !j.tok('{') {
		return false
	}
	if j.tok('}') {
		j.ws()
		return j.i == len(b)
	}
	var seen [8]bool
	for {
		key, ok := j.rawStr()
		if !ok || !j.tok(':') {
			return false
		}
		k := -1
		switch string(key) {
		case "category":
			k = 0
		case "lon":
			k = 1
		case "lat":
			k = 2
		case "crs":
			k = 3
		case "occurred_at":
			k = 4
		case "source":
			k = 5
		case "description":
			k = 6
		case "external_id":
			k = 7
		}
		if k < 0 || seen[k] {
			return false
		}
		seen[k] = true
		switch k {
		case 1, 2:
			f, ok := j.num()
			if !ok {
				return false
			}
			if k == 1 {
				d.lon, d.in.Lon = f, &d.lon
			} else {
				d.lat, d.in.Lat = f, &d.lat
			}
		default:
			v, ok := j.rawStr()
			if !ok {
				return false
			}
			switch k {
			case 0:
				d.in.Category = d.intern(v)
			case 3:
				d.in.CRS = d.intern(v)
			case 4:
				d.in.OccurredAt = string(v)
			case 5:
				d.in.Source = d.intern(v)
			case 6:
				d.in.Description = string(v)
			case 7:
				d.in.ExternalID = string(v)
			}
		}
		if j.tok('}') {
			break
		}
		if !j.tok(',') {
			return false
		}
	}
	j.ws()
	return j.i == len(b)
}

// intern returns a shared copy of a short, often repeated string.
func (d *incidentDecoder) intern(b []byte) string {
	if s, ok := d.interned[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(d.interned) < 4096 {
		if d.interned == nil {
			d.interned = map[string]string{}
		}
		d.interned[s] = s
	}
	return s
}

// rawStr reads a string without escapes or control characters that is
// valid UTF-8, and returns its bytes.
func (d *fastJSON) rawStr() ([]byte, bool) {
	if !d.tok('"') {
		return nil, false
	}
	ascii := true
	for start := d.i; d.i < len(d.b); d.i++ {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			s := d.b[start : d.i-1]
			return s, ascii || utf8.Valid(s)
		case c < 0x20 || c == '\\':
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false
}
