package httpapi

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/intake"
	"github.com/labstack/echo/v4"
)

type bulkOut struct {
	Created    int     `json:"created"`
	Duplicates int     `json:"duplicates"`
	IDs        []int64 `json:"ids"`
}

// bulkIncidents: POST /v1/incidents/bulk, NDJSON, one incident per line.
// Any bad line rejects the whole batch (400 listing each by line number)
// and nothing is written; the batch is stored in one transaction.
//
// Lines are decoded and assigned in chunks by workers on all cores but one
// (the database's), and streamed to the store in line order as the chunks
// finish, so the database copies the first rows while later ones are
// still being read.
// A bad line stops the stream, which rolls the transaction back; the
// workers finish so that every bad line can be reported.
func (s *Server) bulkIncidents(c echo.Context) error {
	if s.cfg.Incidents == nil {
		return grid.Errorf(grid.Unavailable, "incidents are not configured")
	}
	v, err := s.assigner()
	if err != nil {
		return err
	}
	body, err := readBody(c, maxBulkBody)
	if err != nil {
		return err
	}
	lines, err := splitLines(body)
	if err != nil {
		return err
	}
	p := &bulkParser{lines: lines, a: intake.Assigner{Snap: v.snap, Res: v.res, Cal: s.calendar()}, now: time.Now(), town: principal(c).Town}
	p.start(runtime.GOMAXPROCS(0) - 1) // a core left to the database: it is the slower side
	res, err := s.cfg.Incidents.BulkStream(c.Request().Context(), p.next)
	problems := p.finish()
	if len(problems) > 0 {
		return &grid.Error{Kind: grid.Invalid, Message: fmt.Sprintf("%d bad line(s), nothing written; first: %s", len(problems), problems[0]), Details: problems}
	}
	if err != nil {
		return err
	}
	if len(res.IDs)+len(res.Duplicates) == 0 {
		return invalid("body", "no incidents: want one JSON object per line")
	}
	return c.JSON(http.StatusCreated, bulkOut{Created: len(res.IDs), Duplicates: len(res.Duplicates), IDs: res.IDs})
}

// bulkLine is a non-blank line of the body and its 1-based number.
type bulkLine struct {
	n int
	b []byte
}

// splitLines cuts the body into its non-blank lines, enforcing the line
// length and count limits.
func splitLines(body []byte) ([]bulkLine, error) {
	lines := make([]bulkLine, 0, bytes.Count(body, []byte{'\n'})+1)
	for n := 1; len(body) > 0; n++ {
		line, rest, _ := bytes.Cut(body, []byte{'\n'})
		body = rest
		if len(line) > maxLineBytes {
			return nil, invalid("body", "line %d is longer than %d bytes", n, maxLineBytes)
		}
		if line = bytes.TrimSpace(line); len(line) == 0 {
			continue
		}
		if len(lines) == MaxBulkLines {
			return nil, invalid("body", "more than %d lines: split the batch", MaxBulkLines)
		}
		lines = append(lines, bulkLine{n, line})
	}
	return lines, nil
}

const bulkChunk = 2048

// bulkParser decodes and assigns lines in chunks on several workers and
// hands the incidents out in line order.
type bulkParser struct {
	lines []bulkLine
	a     intake.Assigner
	now   time.Time
	town  string // the key's town, if it is scoped to one

	chunks  []bulkChunkOut
	claim   atomic.Int64 // next chunk to parse
	stopped atomic.Bool  // a bad line is known: check the rest, keep none
	wg      sync.WaitGroup
	cur, at int // next() position: chunk, index in chunk
}

type bulkChunkOut struct {
	done     chan struct{}
	xs       []grid.Incident
	problems []string
}

var errBadLines = errors.New("bad lines in the batch")

func (p *bulkParser) start(workers int) {
	p.chunks = make([]bulkChunkOut, (len(p.lines)+bulkChunk-1)/bulkChunk)
	for i := range p.chunks {
		p.chunks[i].done = make(chan struct{})
	}
	for range max(1, workers) {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			var scratch intake.Scratch
			var d incidentDecoder
			for {
				k := int(p.claim.Add(1) - 1)
				if k >= len(p.chunks) {
					return
				}
				p.parse(k, &d, &scratch)
			}
		}()
	}
}

// parse fills chunk k. Once a bad line is known anywhere, lines are still
// checked, assignment included (every bad line is reported), but no longer
// kept.
func (p *bulkParser) parse(k int, d *incidentDecoder, scratch *intake.Scratch) {
	out := &p.chunks[k]
	defer close(out.done)
	lines := p.lines[k*bulkChunk : min((k+1)*bulkChunk, len(p.lines))]
	if !p.stopped.Load() {
		out.xs = make([]grid.Incident, 0, len(lines))
	}
	for _, l := range lines {
		r, err := d.report(l.b)
		var x grid.Incident
		if err == nil {
			x, err = p.a.Assign(&r, p.now, scratch)
		}
		if err == nil {
			err = outsideTown(p.town, x.TownCode)
		}
		if err != nil {
			out.problems = append(out.problems, fmt.Sprintf("line %d: %s", l.n, grid.MessageOf(err)))
			out.xs = nil
			continue
		}
		if out.xs != nil {
			out.xs = append(out.xs, x)
		}
	}
}

// next yields the incidents in line order for the store; a chunk with bad
// lines ends the stream with errBadLines.
func (p *bulkParser) next() (*grid.Incident, error) {
	for p.cur < len(p.chunks) {
		ch := &p.chunks[p.cur]
		<-ch.done
		if len(ch.problems) > 0 {
			p.stopped.Store(true)
			return nil, errBadLines
		}
		if p.at < len(ch.xs) {
			p.at++
			return &ch.xs[p.at-1], nil
		}
		ch.xs = nil // written: let it go
		p.cur, p.at = p.cur+1, 0
	}
	return nil, nil
}

// finish waits for the workers and returns the bad lines, at most 1,000,
// in line order.
func (p *bulkParser) finish() []string {
	p.stopped.Store(true)
	p.wg.Wait()
	var problems []string
	for i := range p.chunks {
		for _, m := range p.chunks[i].problems {
			if len(problems) == 1000 {
				return problems
			}
			problems = append(problems, m)
		}
	}
	return problems
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
		if err := decodeStrict(b, &d.in, "not valid JSON"); err != nil {
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
