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

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
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
	if err := requireBody(c, mimeNDJSON, mimeJSON); err != nil {
		return err
	}
	v, err := s.view()
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
	p := &bulkParser{lines: lines, a: v.assign, now: time.Now(), who: principal(c)}
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
		return param.Invalid("body", "no incidents: want one JSON object per line")
	}
	return c.JSON(http.StatusCreated, bulkOut{Created: len(res.IDs), Duplicates: len(res.Duplicates), IDs: res.IDs})
}

// bulkLine is a non-blank line of the body and its 1-based number.
type bulkLine struct {
	n int
	b []byte
}

// splitLines cuts the body into its non-blank lines, enforcing the line
// length and count limits. A blank line holds JSON whitespace only (space,
// tab, CR): other Unicode spaces are not JSON and make the line bad.
func splitLines(body []byte) ([]bulkLine, error) {
	lines := make([]bulkLine, 0, bytes.Count(body, []byte{'\n'})+1)
	for n := 1; len(body) > 0; n++ {
		line, rest, _ := bytes.Cut(body, []byte{'\n'})
		body = rest
		if len(line) > maxLineBytes {
			return nil, param.Invalid("body", "line %d is longer than %d bytes", n, maxLineBytes)
		}
		if line = bytes.Trim(line, " \t\r"); len(line) == 0 {
			continue
		}
		if len(lines) == MaxBulkLines {
			return nil, param.Invalid("body", "more than %d lines: split the batch", MaxBulkLines)
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
	a     *intake.Assigner
	now   time.Time
	who   grid.Principal // the caller: its town scope and external id namespace

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
			r.ExternalID = p.who.ExternalIDOf(r.ExternalID)
			x, err = p.a.Assign(&r, p.now, scratch)
		}
		if err == nil {
			err = outsideTown(p.who.Town, x.TownCode)
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
