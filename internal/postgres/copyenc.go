package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
)

// The incident rows of a bulk load are written in PostgreSQL's binary COPY
// format directly: a row is a field count, then each field's length and
// bytes in the column type's binary form (-1 for NULL). Encoding the 25
// columns by hand costs a tenth of encoding them value by value through
// the driver's type map, which was the largest part of a bulk load's time
// in the service.

var copyHeader = []byte("PGCOPY\n\377\r\n\000\000\000\000\000\000\000\000\000")

// pgEpochMicros is 2000-01-01 UTC, PostgreSQL's timestamp origin, in Unix
// microseconds.
const pgEpochMicros = 946_684_800_000_000

type copyBuf []byte

func (c *copyBuf) count(n int) { *c = binary.BigEndian.AppendUint16(*c, uint16(n)) }
func (c *copyBuf) null()       { *c = binary.BigEndian.AppendUint32(*c, math.MaxUint32) }

func (c *copyBuf) int8(v int64) {
	*c = binary.BigEndian.AppendUint32(*c, 8)
	*c = binary.BigEndian.AppendUint64(*c, uint64(v))
}

func (c *copyBuf) int4(v int32) {
	*c = binary.BigEndian.AppendUint32(*c, 4)
	*c = binary.BigEndian.AppendUint32(*c, uint32(v))
}

func (c *copyBuf) bool(v bool) {
	*c = binary.BigEndian.AppendUint32(*c, 1)
	if v {
		*c = append(*c, 1)
	} else {
		*c = append(*c, 0)
	}
}

func (c *copyBuf) text(s string) {
	*c = binary.BigEndian.AppendUint32(*c, uint32(len(s)))
	*c = append(*c, s...)
}

func (c *copyBuf) textOrNull(s string) {
	if s == "" {
		c.null()
		return
	}
	c.text(s)
}

// timestamptz: microseconds since 2000-01-01 UTC.
func (c *copyBuf) time(t time.Time) { c.int8(t.UnixMicro() - pgEpochMicros) }

func (c *copyBuf) timeOrNull(t *time.Time) {
	if t == nil {
		c.null()
		return
	}
	c.time(*t)
}

// point: PostGIS's binary input takes EWKB — little-endian, point type with
// the SRID flag, SRID 4326, x, y.
func (c *copyBuf) point(p orb.Point) {
	*c = binary.BigEndian.AppendUint32(*c, 25)
	*c = append(*c, 1)
	*c = binary.LittleEndian.AppendUint32(*c, 0x20000001)
	*c = binary.LittleEndian.AppendUint32(*c, 4326)
	*c = binary.LittleEndian.AppendUint64(*c, math.Float64bits(p[0]))
	*c = binary.LittleEndian.AppendUint64(*c, math.Float64bits(p[1]))
}

// incident appends one row in the order of incidentColumns.
func (c *copyBuf) incident(x *grid.Incident) {
	c.count(len(incidentColumns))
	c.int8(x.ID)
	c.time(x.OccurredAt)
	c.time(x.ReceivedAt)
	c.text(x.Category)
	c.point(x.Point)
	c.int8(int64(x.H3))
	c.text(x.Source)
	c.text(x.Description)
	c.textOrNull(x.ExternalID)
	c.text(x.Status)
	c.text(x.CellCode)
	c.text(x.CommunityCode)
	c.text(x.TownCode)
	c.text(x.Department)
	if x.RuleID != 0 {
		c.int8(x.RuleID)
	} else {
		c.null()
	}
	c.int8(x.GridVersion)
	c.time(x.Deadline)
	c.timeOrNull(x.RegisteredAt)
	c.timeOrNull(x.DispatchedAt)
	c.timeOrNull(x.HandledAt)
	c.timeOrNull(x.ClosedAt)
	c.int4(int32(x.Reworks))
	c.int4(int32(x.Extensions))
	c.bool(x.Supervised)
	c.textOrNull(x.ParkedFrom)
}

// copyIncidents streams r into the incident table and reports the rows sent.
func copyIncidents(ctx context.Context, tx pgx.Tx, r *copyReader) (int, error) {
	g := &endedReader{r: r}
	_, err := tx.Conn().PgConn().CopyFrom(ctx, g, `COPY incident (`+strings.Join(incidentColumns, ", ")+`) FROM STDIN (FORMAT binary)`)
	g.end()
	if r.err != nil { // the stream's own reason comes first: a bad line, say
		return r.rows, r.err
	}
	return r.rows, err
}

// endedReader guards a copyReader against pgconn's CopyFrom, which can
// return (the connection lost) while its goroutine is still in Read: end
// waits for a Read under way to finish, and Reads after it read nothing,
// so the stream and its counts belong to the caller again.
type endedReader struct {
	mu    sync.Mutex
	r     *copyReader
	ended bool
}

var errCopyEnded = errors.New("the COPY has ended")

func (g *endedReader) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ended {
		return 0, errCopyEnded
	}
	return g.r.Read(p)
}

func (g *endedReader) end() {
	g.mu.Lock()
	g.ended = true
	g.mu.Unlock()
}

// each yields the incidents of xs in order, then nil.
func each(xs []grid.Incident) func() (*grid.Incident, error) {
	i := 0
	return func() (*grid.Incident, error) {
		if i == len(xs) {
			return nil, nil
		}
		i++
		return &xs[i-1], nil
	}
}

// copyReader is the COPY data of a stream of incidents: it pulls rows from
// next as the server takes them. take is called for every row before it is
// encoded and may drop it (false); nil keeps every row.
type copyReader struct {
	next func() (*grid.Incident, error)
	take func(*grid.Incident) (bool, error)
	buf  copyBuf
	off  int
	rows int
	done bool

	headerSent bool
	err        error // why the stream stopped early, if it did
}

func (r *copyReader) Read(p []byte) (int, error) {
	for r.off == len(r.buf) {
		if r.done {
			return 0, io.EOF
		}
		r.buf, r.off = r.buf[:0], 0
		if !r.headerSent {
			r.buf = append(r.buf, copyHeader...)
			r.headerSent = true
		}
		for len(r.buf) < 256<<10 {
			x, err := r.next()
			if err == nil && x != nil && r.take != nil {
				var ok bool
				if ok, err = r.take(x); err == nil && !ok {
					continue
				}
			}
			if err != nil {
				r.err = err
				return 0, err
			}
			if x == nil {
				r.buf = binary.BigEndian.AppendUint16(r.buf, math.MaxUint16) // trailer: -1
				r.done = true
				break
			}
			r.buf.incident(x)
			r.rows++
		}
	}
	n := copy(p, r.buf[r.off:])
	r.off += n
	return n, nil
}
