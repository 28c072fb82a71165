package ogc

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/paulmach/orb"
)

// The items are written by hand: a page of a thousand incidents is the
// API's hot path, and reflection over maps (what a generic GeoJSON
// encoder does) costs several times the database's share.

// jw appends JSON to a byte slice.
type jw struct{ b []byte }

func (w *jw) raw(s string) { w.b = append(w.b, s...) }

// str writes a JSON string: quotes, backslashes and control characters
// escaped, invalid UTF-8 replaced by U+FFFD.
func (w *jw) str(s string) {
	w.b = append(w.b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			w.b = append(w.b, s[start:i]...)
			switch c {
			case '"', '\\':
				w.b = append(w.b, '\\', c)
			case '\n':
				w.b = append(w.b, '\\', 'n')
			case '\r':
				w.b = append(w.b, '\\', 'r')
			case '\t':
				w.b = append(w.b, '\\', 't')
			default:
				w.b = append(w.b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			w.b = append(w.b, s[start:i]...)
			w.b = append(w.b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' { // valid JSON, but not in JavaScript strings
			w.b = append(w.b, s[start:i]...)
			w.b = append(w.b, `\u202`...)
			w.b = append(w.b, hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	w.b = append(w.b, s[start:]...)
	w.b = append(w.b, '"')
}

const hex = "0123456789abcdef"

func (w *jw) key(k string) {
	w.str(k)
	w.b = append(w.b, ':')
}

func (w *jw) num(f float64) { w.b = strconv.AppendFloat(w.b, f, 'f', -1, 64) }

func (w *jw) int(n int64) { w.b = strconv.AppendInt(w.b, n, 10) }

func (w *jw) bool(v bool) { w.b = strconv.AppendBool(w.b, v) }

func (w *jw) time(t time.Time) {
	w.b = append(w.b, '"')
	w.b = t.UTC().AppendFormat(w.b, time.RFC3339Nano)
	w.b = append(w.b, '"')
}

func (w *jw) timePtr(t *time.Time) {
	if t == nil {
		w.raw("null")
		return
	}
	w.time(*t)
}

// point writes a WGS84 point in the output system's numbers and axis order.
func (w *jw) point(crs param.OGCCRS, p orb.Point) {
	x, y := p[0], p[1]
	if crs.System != coord.WGS84 {
		x, y = coord.FromWGS84(crs.System, x, y)
	}
	if crs.LatFirst {
		x, y = y, x
	}
	w.b = append(w.b, '[')
	w.num(x)
	w.b = append(w.b, ',')
	w.num(y)
	w.b = append(w.b, ']')
}

func (w *jw) ring(crs param.OGCCRS, r orb.Ring) {
	w.b = append(w.b, '[')
	for i, p := range r {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.point(crs, p)
	}
	w.b = append(w.b, ']')
}

// geometry writes a GeoJSON geometry object.
func (w *jw) geometry(crs param.OGCCRS, g orb.Geometry) {
	switch g := g.(type) {
	case orb.Point:
		w.raw(`{"type":"Point","coordinates":`)
		w.point(crs, g)
	case orb.Polygon:
		w.raw(`{"type":"Polygon","coordinates":[`)
		for i, r := range g {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.ring(crs, r)
		}
		w.b = append(w.b, ']')
	case orb.MultiPolygon:
		w.raw(`{"type":"MultiPolygon","coordinates":[`)
		for i, pg := range g {
			if i > 0 {
				w.b = append(w.b, ',')
			}
			w.b = append(w.b, '[')
			for j, r := range pg {
				if j > 0 {
					w.b = append(w.b, ',')
				}
				w.ring(crs, r)
			}
			w.b = append(w.b, ']')
		}
		w.b = append(w.b, ']')
	default:
		w.raw("null")
		return
	}
	w.b = append(w.b, '}')
}

func (w *jw) links(ls []link) {
	w.b = append(w.b, '[')
	for i, l := range ls {
		if i > 0 {
			w.b = append(w.b, ',')
		}
		w.raw(`{"href":`)
		w.str(l.Href)
		w.raw(`,"rel":`)
		w.str(l.Rel)
		if l.Type != "" {
			w.raw(`,"type":`)
			w.str(l.Type)
		}
		if l.Title != "" {
			w.raw(`,"title":`)
			w.str(l.Title)
		}
		w.b = append(w.b, '}')
	}
	w.b = append(w.b, ']')
}

// mustJSON marshals values built here (maps, slices and structs of plain
// types), which cannot fail.
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
