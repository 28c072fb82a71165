// Package tally is the statistics read model: one compact entry per
// incident — when it occurred, its category, place (cell, community,
// town), department, the evaluation counters' bits and the one time the
// overview needs beside it — held in memory by incident id, so planner
// statistics and the big screen's overview are scans of arrays instead of
// SQL over the incident table.
//
// It stays exact the way the heatmap read model does: writers report the
// ids they changed once they have committed (Invalidate: directly in the
// writing process, through NOTIFY in the others); a query first reloads
// the ids reported before it began, then scans. An id reported while its
// reload runs stays dirty for the next query, so no committed write is
// lost. A lost notification connection forgets everything (InvalidateAll)
// and reloads it all; until a full load is in, statistics come from the
// fallback store (SQL over the incident table).
package tally

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/citygrid/citygrid/internal/grid"
)

// Entries live in chunks of 1,024 consecutive ids, allocated when one of
// them holds an incident: the ids a bulk load allocates and leaves unused
// mostly fall in chunks never allocated.
const (
	chunkBits = 10
	chunkSize = 1 << chunkBits
)

// Flags of an entry: the counters of grid.StatsRecord, and whether the
// incident is open.
const (
	fDue = 1 << iota
	fHandled
	fHandledOnTime
	fClosed
	fReworked
	fExtended
	fSupervised
	fOpen
)

// chunk holds the entries of ids [k<<chunkBits, (k+1)<<chunkBits) in
// columns (columns), 12 bytes an id. An id without an incident has cat 0,
// and its times mean nothing.
type chunk struct {
	mu sync.RWMutex
	*columns

	// The whens, in full, once one did not fit three bytes; nil before.
	wide *[chunkSize]uint32
	// base is what a narrow when is an offset from: the occurrence of the
	// entry set while the chunk held no other, less baseLead.
	base uint32

	// Bounds over the entries (they only widen), for skipping whole
	// chunks; n counts the entries.
	minOcc, maxOcc, maxWhen uint32
	n                       int
}

// columns are a chunk's values, 12,288 bytes: one of the allocator's own
// sizes, so nothing is rounded up.
//
// occ is occurred_at in Unix seconds (floor). The other time, when (for
// an open incident its deadline, for a closed one its closed_at, else 0),
// is kept narrow, in three bytes: an offset from the chunk's base. The ids
// of a chunk were created within moments of each other, so their
// deadlines and closures fall within the 194 days three bytes span; one
// that does not moves the chunk's whens to wide, in full. noWhen stands
// for 0.
type columns struct {
	occ   [chunkSize]uint32
	when  [3 * chunkSize]byte
	place [chunkSize]uint16 // (cell, community, town) by number
	cat   [chunkSize]uint8  // category number + 1; 0: no incident
	dept  [chunkSize]uint8
	flags [chunkSize]uint8
}

const (
	noWhen = 1<<24 - 1
	// baseLead is how far before its first entry's occurrence a chunk's
	// base lies, for deadlines and closures a little older than that.
	baseLead = 1 << 20
)

// partChunks bounds the chunks one read of a full load covers: 262,144
// ids, under a second of reading.
const partChunks = 256

func newChunk() *chunk { return &chunk{minOcc: math.MaxUint32, columns: new(columns)} }

// bytes is the memory the chunk's values take.
func (c *chunk) bytes() int64 {
	if c.wide != nil {
		return int64(unsafe.Sizeof(columns{}) + unsafe.Sizeof(*c.wide))
	}
	return int64(unsafe.Sizeof(columns{}))
}

// entry is one incident's values, as a chunk stores them.
type entry struct {
	occ, when       uint32
	place           uint16
	cat, dept, flag uint8
}

func (c *chunk) set(slot int, e entry) {
	if c.cat[slot] != 0 {
		c.n--
	}
	c.occ[slot], c.place[slot], c.cat[slot], c.dept[slot], c.flags[slot] = e.occ, e.place, e.cat, e.dept, e.flag
	c.setWhen(slot, e)
	if e.cat == 0 {
		return
	}
	c.n++
	c.minOcc, c.maxOcc, c.maxWhen = min(c.minOcc, e.occ), max(c.maxOcc, e.occ), max(c.maxWhen, e.when)
}

// setWhen stores a slot's when, narrow if it fits, widening the chunk if
// not.
func (c *chunk) setWhen(slot int, e entry) {
	if e.cat != 0 && c.n == 0 { // every other slot empty (set counted this one out)
		c.base = e.occ - min(e.occ, baseLead)
	}
	if c.wide == nil {
		w := uint32(noWhen)
		if e.cat != 0 && e.when != 0 {
			w = e.when - c.base
			if e.when < c.base || w >= noWhen {
				c.widen()
			}
		}
		if c.wide == nil {
			c.when[3*slot], c.when[3*slot+1], c.when[3*slot+2] = byte(w), byte(w>>8), byte(w>>16)
			return
		}
	}
	c.wide[slot] = e.when
}

// whenAt is the when of slot i.
func (c *chunk) whenAt(i int) uint32 {
	if c.wide != nil {
		return c.wide[i]
	}
	w := uint32(c.when[3*i]) | uint32(c.when[3*i+1])<<8 | uint32(c.when[3*i+2])<<16
	if w == noWhen {
		return 0
	}
	return c.base + w
}

// widen moves the chunk's whens to wide.
func (c *chunk) widen() {
	w := new([chunkSize]uint32)
	for i := range chunkSize {
		w[i] = c.whenAt(i)
	}
	c.wide = w
}

// dirtyRange is a range of ids reported changed: first at clock minAt,
// last at maxAt (ranges merge).
type dirtyRange struct {
	r            grid.IDRange
	minAt, maxAt uint64
}

// maxDirty bounds the list of dirty ranges: past it the closest ranges
// merge (reloading the ids between them too, which changes nothing).
const maxDirty = 4096

// Tally is the read model. The zero value is not usable; use New. Safe
// for concurrent use.
type Tally struct {
	src      grid.StatsSource
	fallback grid.StatsStore
	offset   int64 // of the local days (China time), in seconds

	mu      sync.Mutex
	clock   uint64 // advanced by every invalidation and every load start
	epoch   uint64 // advanced by InvalidateAll
	loaded  bool
	loading bool
	loadErr error
	wake    chan struct{} // closed and replaced when a full load ends
	chunks  map[int64]*chunk
	dirty   []dirtyRange // sorted by First, disjoint, not adjacent

	reloadMu sync.Mutex // one catch-up at a time

	dictMu sync.Mutex
	d      dicts

	// scans lets one scan run at a time: a scan already counts on every
	// core, so scans side by side end no sooner, and each holds its
	// workers' counts (3.3 MB for a year by cell) while it runs.
	scans chan struct{}
}

// New returns a read model over src; what it cannot answer from memory
// goes to fallback. Days are local days in loc, a fixed offset (China
// time). Call Load or Start to fill it.
func New(src grid.StatsSource, fallback grid.StatsStore, loc *time.Location) *Tally {
	_, off := time.Date(2026, 1, 1, 0, 0, 0, 0, loc).Zone()
	return &Tally{src: src, fallback: fallback, offset: int64(off), chunks: map[int64]*chunk{}, wake: make(chan struct{}), d: newDicts(),
		scans: make(chan struct{}, 1)}
}

// Invalidate marks ids as changed: a write that changed them has
// committed. The next query reloads them first.
func (t *Tally) Invalidate(rs []grid.IDRange) {
	if len(rs) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.clock++
	for _, r := range rs {
		if r.First > r.Last || r.First < 0 {
			continue
		}
		t.dirty = addDirty(t.dirty, dirtyRange{r, t.clock, t.clock})
	}
	if len(t.dirty) > maxDirty {
		t.dirty = coarsen(t.dirty, maxDirty/2)
	}
}

// addDirty inserts d into the sorted, disjoint list ds, merging what it
// overlaps or touches.
func addDirty(ds []dirtyRange, d dirtyRange) []dirtyRange {
	// The first range that ends at or after d's start − 1.
	i, _ := slices.BinarySearchFunc(ds, d.r.First, func(x dirtyRange, first int64) int {
		if x.r.Last < first-1 {
			return -1
		}
		return 1
	})
	j := i
	for j < len(ds) && ds[j].r.First <= d.r.Last+1 {
		d.r.First, d.r.Last = min(d.r.First, ds[j].r.First), max(d.r.Last, ds[j].r.Last)
		d.minAt, d.maxAt = min(d.minAt, ds[j].minAt), max(d.maxAt, ds[j].maxAt)
		j++
	}
	return slices.Replace(ds, i, j, d)
}

// coarsen merges the ranges separated by the smallest gaps until at most
// n are left.
func coarsen(ds []dirtyRange, n int) []dirtyRange {
	for gap := int64(1); len(ds) > n; gap *= 2 {
		out := ds[:1]
		for _, d := range ds[1:] {
			last := &out[len(out)-1]
			if d.r.First-last.r.Last <= gap {
				last.r.Last = d.r.Last
				last.minAt, last.maxAt = min(last.minAt, d.minAt), max(last.maxAt, d.maxAt)
				continue
			}
			out = append(out, d)
		}
		ds = out
	}
	return ds
}

// InvalidateAll forgets everything: after a lost notification connection
// or a notification that could not be read. Queries go to the fallback
// store until a new full load (started here in the background) is in.
func (t *Tally) InvalidateAll(ctx context.Context) {
	t.mu.Lock()
	t.clock++
	t.epoch++
	t.loaded = false
	t.mu.Unlock()
	t.Start(ctx)
}

// Start runs a full load in the background unless one is running.
func (t *Tally) Start(ctx context.Context) {
	t.mu.Lock()
	if t.loading {
		t.mu.Unlock()
		return
	}
	t.loading = true
	t.mu.Unlock()
	go func() { _ = t.Load(context.WithoutCancel(ctx)) }()
}

// Ready reports whether queries are answered from memory, and the error of
// the last full load if it failed.
func (t *Tally) Ready() (bool, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.loaded, t.loadErr
}

// Wait blocks until a full load is in, the last one failed (its error),
// or ctx ends.
func (t *Tally) Wait(ctx context.Context) error {
	for {
		t.mu.Lock()
		loaded, loading, loadErr, wake := t.loaded, t.loading, t.loadErr, t.wake
		t.mu.Unlock()
		if loaded {
			return nil
		}
		if !loading && loadErr != nil {
			return loadErr
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Bytes is the memory the entries take.
func (t *Tally) Bytes() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := int64(0)
	for _, c := range t.chunks {
		c.mu.RLock()
		n += c.bytes()
		c.mu.RUnlock()
	}
	return n
}

// Load reads every incident and installs the entries, replacing what was
// held; if InvalidateAll is called meanwhile, it reads again.
func (t *Tally) Load(ctx context.Context) (err error) {
	defer func() {
		t.mu.Lock()
		t.loading = false
		t.loadErr = err
		close(t.wake)
		t.wake = make(chan struct{})
		t.mu.Unlock()
	}()
	for {
		t.mu.Lock()
		t.loading = true
		t.clock++
		start, epoch := t.clock, t.epoch
		t.mu.Unlock()
		fresh, err := t.readAll(ctx)
		if err != nil {
			return err
		}
		t.mu.Lock()
		if t.epoch == epoch {
			t.chunks = fresh
			t.dirty = slices.DeleteFunc(t.dirty, func(d dirtyRange) bool { return d.maxAt <= start })
			t.loaded = true
			t.mu.Unlock()
			return nil
		}
		t.mu.Unlock()
	}
}

// readAll reads every incident into new chunks, in parts of whole chunks
// on every core: at least four a core, at most partChunks chunks each, so
// that every read stays short (the store's statement timeout holds for
// each) however many incidents there are.
func (t *Tally) readAll(ctx context.Context) (map[int64]*chunk, error) {
	first, last, err := t.src.IDBounds(ctx)
	if err != nil {
		return nil, err
	}
	out := map[int64]*chunk{}
	if last < first || last <= 0 {
		return out, nil
	}
	first = max(first, 0)
	lo, hi := first>>chunkBits, last>>chunkBits
	workers := runtime.GOMAXPROCS(0)
	parts := min(hi-lo+1, max(int64(4*workers), (hi-lo+partChunks)/partChunks))
	per := (hi - lo + parts) / parts
	type part struct{ from, to int64 } // chunk numbers, to excluded
	work := make(chan part, parts)
	for p := lo; p <= hi; p += per {
		work <- part{p, min(p+per, hi+1)}
	}
	close(work)
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			enc := t.newEncoder()
			for p := range work {
				mine := map[int64]*chunk{}
				r := grid.IDRange{First: p.from << chunkBits, Last: p.to<<chunkBits - 1}
				err := t.src.StatsRecords(ctx, []grid.IDRange{r}, func(rec *grid.StatsRecord) error {
					e, err := enc.entry(rec)
					if err != nil {
						return err
					}
					k := rec.ID >> chunkBits
					c := mine[k]
					if c == nil {
						c = newChunk()
						mine[k] = c
					}
					c.set(int(rec.ID&(chunkSize-1)), e)
					return nil
				})
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				for k, c := range mine {
					out[k] = c
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

// errReloaded: everything was invalidated while a catch-up ran.
var errReloaded = errors.New("tally: invalidated while catching up")

// begin starts a query: whether the model is loaded, and the clock of the
// query's start.
func (t *Tally) begin() (bool, uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.loaded, t.clock
}

// catchUp reloads the ids reported before a query that began at clock
// began, unless another catch-up did already; errReloaded when everything
// was invalidated meanwhile (the query goes to the fallback store).
func (t *Tally) catchUp(ctx context.Context, began uint64) error {
	t.reloadMu.Lock()
	defer t.reloadMu.Unlock()
	t.mu.Lock()
	if !t.loaded {
		t.mu.Unlock()
		return errReloaded
	}
	if !slices.ContainsFunc(t.dirty, func(d dirtyRange) bool { return d.minAt <= began }) {
		t.mu.Unlock()
		return nil
	}
	// Every dirty range is read, later ones too: reading more changes
	// nothing.
	take := make([]grid.IDRange, len(t.dirty))
	for i, d := range t.dirty {
		take[i] = d.r
	}
	t.clock++
	start, epoch := t.clock, t.epoch
	t.mu.Unlock()

	type slotEntry struct {
		slot int
		e    entry
	}
	got := map[int64][]slotEntry{}
	enc := t.newEncoder()
	err := t.src.StatsRecords(ctx, take, func(rec *grid.StatsRecord) error {
		e, err := enc.entry(rec)
		if err != nil {
			return err
		}
		k := rec.ID >> chunkBits
		got[k] = append(got[k], slotEntry{int(rec.ID & (chunkSize - 1)), e})
		return nil
	})
	if err != nil {
		return err
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	if t.epoch != epoch || !t.loaded {
		return errReloaded
	}
	// Per chunk: the taken ranges' slots cleared (an id not read back has
	// no committed incident), then the entries read.
	clears := map[int64][][2]int{}
	for _, r := range take {
		for k := r.First >> chunkBits; k <= r.Last>>chunkBits; k++ {
			lo, hi := max(r.First, k<<chunkBits), min(r.Last, (k+1)<<chunkBits-1)
			clears[k] = append(clears[k], [2]int{int(lo & (chunkSize - 1)), int(hi & (chunkSize - 1))})
		}
	}
	for k, cs := range clears {
		c := t.chunks[k]
		es := got[k]
		if c == nil {
			if len(es) == 0 {
				continue
			}
			c = newChunk()
			t.chunks[k] = c
		}
		c.mu.Lock()
		for _, s := range cs {
			for i := s[0]; i <= s[1]; i++ {
				if c.cat[i] != 0 {
					c.set(i, entry{})
				}
			}
		}
		for _, se := range es {
			c.set(se.slot, se.e)
		}
		c.mu.Unlock()
	}
	t.dirty = slices.DeleteFunc(t.dirty, func(d dirtyRange) bool { return d.maxAt < start })
	return nil
}

// view is what a scan reads: the chunks and the numbering, as they are
// when the scan starts (the numbering only grows).
type view struct {
	chunks []*chunk
	d      dictView
}

func (t *Tally) view() view {
	t.mu.Lock()
	cs := make([]*chunk, 0, len(t.chunks))
	for _, c := range t.chunks {
		cs = append(cs, c)
	}
	t.mu.Unlock()
	t.dictMu.Lock()
	d := t.d.view()
	t.dictMu.Unlock()
	return view{cs, d}
}

// parallel runs fn over the chunks of v on every core; fn gets its
// worker's number and a chunk, read-locked.
func parallel(cs []*chunk, workers int, fn func(w int, c *chunk)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				j := int(next.Add(1) - 1)
				if j >= len(cs) {
					return
				}
				c := cs[j]
				c.mu.RLock()
				fn(w, c)
				c.mu.RUnlock()
			}
		}()
	}
	wg.Wait()
}

// secs is a time in whole Unix seconds (floor) as an entry stores it.
func secs(t time.Time) (uint32, error) {
	s := t.Unix()
	if s < 1 || s >= math.MaxUint32 {
		return 0, fmt.Errorf("tally: time %s outside what the read model holds (1970–2106)", t)
	}
	return uint32(s), nil
}
