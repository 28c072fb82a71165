package httpapi

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// appendJSON writes the answer of GET /v1/stats as encoding/json would
// (the same fields, order and omissions), without reflection: a year by
// cell is 2,213 groups and some 200,000 category counts, which
// encoding/json takes longer to write than the read model to count.
func (o *statsOut) appendJSON(b []byte) []byte {
	// Room for about the whole answer at once: a year by cell is 1.7 MB,
	// which growing by doubling would allocate twice.
	need := 256
	for i := range o.Groups {
		g := &o.Groups[i]
		need += 400 + len(g.Name) + 48*len(g.Series)
		for _, n := range g.ByCategory.N {
			if n != 0 {
				need += 16
			}
		}
	}
	b = slices.Grow(b, need)
	b = append(b, `{"group_by":`...)
	b = appendQuoted(b, o.GroupBy)
	if o.Interval != "" {
		b = append(b, `,"interval":`...)
		b = appendQuoted(b, o.Interval)
	}
	b = append(b, `,"from":`...)
	b = appendJSONTime(b, o.From)
	b = append(b, `,"to":`...)
	b = appendJSONTime(b, o.To)
	b = append(b, `,"groups":[`...)
	// A group writes its categories in code order (encoding/json's, sorted
	// keys). The order of a list of codes is found once: the rows of an
	// answer from the read model share one list.
	var listed []string
	var order []int
	for i := range o.Groups {
		g := &o.Groups[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"code":`...)
		b = appendQuoted(b, g.Code)
		b = append(b, `,"name":`...)
		b = appendQuoted(b, g.Name)
		b = appendJSONInt(b, `,"total":`, g.Total)
		b = append(b, `,"by_category":{`...)
		c := g.ByCategory
		if len(c.Codes) != len(listed) || len(c.Codes) > 0 && &c.Codes[0] != &listed[0] {
			listed, order = c.Codes, make([]int, len(c.Codes))
			for j := range order {
				order[j] = j
			}
			slices.SortFunc(order, func(x, y int) int { return strings.Compare(listed[x], listed[y]) })
		}
		first := true
		for _, j := range order {
			n := c.N[j]
			if n == 0 {
				continue
			}
			if !first {
				b = append(b, ',')
			}
			first = false
			b = appendQuoted(b, c.Codes[j])
			b = append(b, ':')
			b = strconv.AppendInt(b, n, 10)
		}
		b = append(b, '}')
		b = appendJSONInt(b, `,"due_to_handle":`, g.DueToHandle)
		b = appendJSONInt(b, `,"handled":`, g.Handled)
		b = appendJSONInt(b, `,"handled_on_time":`, g.HandledOnTime)
		b = appendJSONInt(b, `,"due_to_close":`, g.DueToClose)
		b = appendJSONInt(b, `,"closed":`, g.Closed)
		b = appendJSONInt(b, `,"closed_on_time":`, g.ClosedOnTime)
		b = appendJSONInt(b, `,"reworked":`, g.Reworked)
		b = appendJSONInt(b, `,"extended":`, g.Extended)
		r := &g.Ratios
		b = append(b, `,"ratios":{"closure":`...)
		b = appendJSONRatio(b, r.Closure)
		b = append(b, `,"on_time_closure":`...)
		b = appendJSONRatio(b, r.OnTimeClosure)
		b = append(b, `,"handling":`...)
		b = appendJSONRatio(b, r.Handling)
		b = append(b, `,"on_time_handling":`...)
		b = appendJSONRatio(b, r.OnTimeHandling)
		b = append(b, `,"rework":`...)
		b = appendJSONRatio(b, r.Rework)
		b = append(b, `,"extension":`...)
		b = appendJSONRatio(b, r.Extension)
		b = append(b, '}')
		b = appendJSONInt(b, `,"accurate_dispatches":`, g.Accurate)
		if len(g.Series) > 0 {
			b = append(b, `,"series":[`...)
			for j, p := range g.Series {
				if j > 0 {
					b = append(b, ',')
				}
				b = append(b, `{"start":`...)
				b = appendJSONTime(b, p.Start)
				b = appendJSONInt(b, `,"count":`, p.Count)
				b = append(b, '}')
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	return append(b, "]}\n"...)
}

func appendJSONInt(b []byte, key string, n int64) []byte {
	return strconv.AppendInt(append(b, key...), n, 10)
}

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONRatio writes a ratio as encoding/json writes a float64, or
// null.
func appendJSONRatio(b []byte, r *float64) []byte {
	if r == nil || math.IsNaN(*r) || math.IsInf(*r, 0) {
		return append(b, "null"...)
	}
	return appendJSONFloat(b, *r)
}

// appendJSONFloat writes a finite f as encoding/json writes a float64.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if a := math.Abs(f); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 → e-9, as encoding/json
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

// appendQuoted writes s as a JSON string, escaping as encoding/json
// does (quotes, backslashes, control characters, <, > and &, U+2028 and
// U+2029; invalid UTF-8 as U+FFFD).
func appendQuoted(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0 // s[start:i] is written as it is
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		invalid := r == utf8.RuneError && size == 1
		if !invalid && r != '\u2028' && r != '\u2029' {
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		if invalid {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&15])
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
