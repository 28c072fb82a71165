package postgres

import (
	"context"
	"encoding/binary"
	"io"
	"math"
	"strings"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
)

// eventColumns are the columns of incident_event a trail writes; the id
// comes from the table's identity, in the order the rows arrive.
var eventColumns = []string{"incident_id", "at", "action", "from_status", "to_status", "actor", "note"}

// BulkCreateTrails stores xs as BulkCreate does and, in the same
// transaction, the lifecycle trail of every incident written: trails[i]
// are the events of xs[i] in the order they happened. Their IncidentID is
// taken from xs[i] and their ID from the table, so an incident's events
// read back in that order; an empty From is NULL, as for a creation. A
// line not written (a duplicate external id) has no trail written either.
// It is the bulk path of histories made elsewhere (`citygrid seed`); live
// actions write their own events (Transition).
//
// Errors: Invalid when trails and xs differ in length, and those of
// BulkStream.
func (db *DB) BulkCreateTrails(ctx context.Context, xs []grid.Incident, trails [][]grid.Event) (res grid.BulkResult, err error) {
	if len(trails) != len(xs) {
		return res, grid.Errorf(grid.Invalid, "%d trails for %d incidents", len(trails), len(xs))
	}
	for i := range xs {
		xs[i].ID = 0 // set again on the lines written
	}
	return db.bulkStream(ctx, each(xs), func(ctx context.Context, tx pgx.Tx, res *grid.BulkResult) error {
		written := func(int) bool { return true }
		if len(res.Duplicates) > 0 {
			ids := make(map[int64]bool, len(res.IDs))
			for _, id := range res.IDs {
				ids[id] = true
			}
			written = func(i int) bool { return ids[xs[i].ID] }
		}
		return copyTrails(ctx, tx, &trailReader{xs: xs, trails: trails, written: written})
	})
}

// copyTrails streams the events of r into incident_event.
func copyTrails(ctx context.Context, tx pgx.Tx, r *trailReader) error {
	_, err := tx.Conn().PgConn().CopyFrom(ctx, r, `COPY incident_event (`+strings.Join(eventColumns, ", ")+`) FROM STDIN (FORMAT binary)`)
	return err
}

// event appends one row in the order of eventColumns.
func (c *copyBuf) event(incident int64, e *grid.Event) {
	c.count(len(eventColumns))
	c.int8(incident)
	c.time(e.At)
	c.text(e.Action)
	c.textOrNull(e.From)
	c.text(e.To)
	c.text(e.Actor)
	c.text(e.Note)
}

// trailReader is the COPY data of the trails of the incidents written,
// encoded as the server takes them.
type trailReader struct {
	xs      []grid.Incident
	trails  [][]grid.Event
	written func(i int) bool
	i       int // the next incident
	buf     copyBuf
	off     int
	started bool
	done    bool
}

func (r *trailReader) Read(p []byte) (int, error) {
	for r.off == len(r.buf) {
		if r.done {
			return 0, io.EOF
		}
		r.buf, r.off = r.buf[:0], 0
		if !r.started {
			r.buf = append(r.buf, copyHeader...)
			r.started = true
		}
		for ; len(r.buf) < 256<<10 && r.i < len(r.xs); r.i++ {
			if !r.written(r.i) {
				continue
			}
			for j := range r.trails[r.i] {
				r.buf.event(r.xs[r.i].ID, &r.trails[r.i][j])
			}
		}
		if r.i == len(r.xs) {
			r.buf = binary.BigEndian.AppendUint16(r.buf, math.MaxUint16) // trailer: -1
			r.done = true
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}
