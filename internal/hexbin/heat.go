package hexbin

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/uber/h3-go/v4"
)

// Heat is the heatmap read model: the H3 rollups (incidents per category,
// local day, hour and resolution-9 cell) held in memory, so a year-long
// heatmap is a sum over arrays instead of a scan of a year of rollup rows.
//
// It mirrors the database's rollups by slices (one category on one day).
// Writers report the slices they touched once they have committed
// (Invalidate: directly in the writing process, through NOTIFY in the
// others); a query reloads the slices it needs that changed since they were
// loaded, then sums. A slice is dirty when it was invalidated after the load
// that produced its rows began, so a write that commits while a slice is
// being reloaded is never lost: its invalidation makes the slice dirty
// again. Until the first full load has finished, and at resolution 10 (finer
// than the rollups), queries go to the fallback store.
//
// The zero value is not usable; use NewHeat. Safe for concurrent use.
type Heat struct {
	src      grid.RollupSource
	fallback grid.HeatmapStore
	loc      *time.Location

	mu      sync.RWMutex
	clock   uint64 // advanced by every invalidation and every load start
	loaded  bool   // a full load has been installed since the last InvalidateAll
	loading bool
	loadErr error
	epoch   uint64                          // advanced by InvalidateAll
	slices  map[string]map[int32]*heatSlice // category → day number → slice
	wake    chan struct{}                   // closed and replaced when a full load ends

	cellMu  sync.Mutex // guards the cell index; the list only grows
	index   map[h3.Cell]uint32
	cells   []h3.Cell
	parents [10][]h3.Cell // per resolution 5…8, the parent of each of cells
}

// heatSlice is one category on one day. rows is never changed in place:
// reloads install a new array, so readers may sum an old one unlocked.
type heatSlice struct {
	rows     []uint32 // packed entries, see pack
	dirtyAt  uint64   // clock of the last invalidation
	loadedAt uint64   // clock when the load that produced rows began
}

func (s *heatSlice) dirty() bool { return s.dirtyAt > s.loadedAt }

// An entry packs a cell's position (20 bits), the local hour (5 bits) and a
// count (7 bits); larger counts take several entries.
const (
	maxCells = 1 << 20
	maxN     = 1<<7 - 1
)

func pack(cell uint32, hour int, n uint32) uint32 { return cell<<12 | uint32(hour)<<7 | n }

func unpack(e uint32) (cell uint32, hour int, n uint32) {
	return e >> 12, int(e >> 7 & 31), e & maxN
}

// NewHeat returns a read model over src; queries it cannot answer from
// memory go to fallback. Days are local days in loc (China time for the
// rollups). Call Load (or Start) to fill it.
func NewHeat(src grid.RollupSource, fallback grid.HeatmapStore, loc *time.Location) *Heat {
	return &Heat{src: src, fallback: fallback, loc: loc, slices: map[string]map[int32]*heatSlice{},
		index: map[h3.Cell]uint32{}, wake: make(chan struct{})}
}

// dayNumber counts days from 1970-01-01 in the proleptic Gregorian calendar.
func dayNumber(d grid.Date) int32 {
	return int32(d.Time().Unix() / 86400)
}

// Invalidate marks slices as changed: a write that touched them has
// committed. The next query that needs one reloads it.
func (h *Heat) Invalidate(ss []grid.RollupSlice) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.clock++
	for _, s := range ss {
		h.sliceLocked(s.Category, dayNumber(s.Day)).dirtyAt = h.clock
	}
}

// InvalidateAll forgets everything: after a lost notification connection,
// or a write too large to list its slices. Queries go to the fallback store
// until a new full load (started here in the background) is installed.
func (h *Heat) InvalidateAll(ctx context.Context) {
	h.mu.Lock()
	h.clock++
	h.epoch++
	h.loaded = false
	h.mu.Unlock()
	h.Start(ctx)
}

func (h *Heat) sliceLocked(cat string, day int32) *heatSlice {
	m := h.slices[cat]
	if m == nil {
		m = map[int32]*heatSlice{}
		h.slices[cat] = m
	}
	s := m[day]
	if s == nil {
		s = &heatSlice{}
		m[day] = s
	}
	return s
}

// Start runs a full load in the background unless one is running; it
// returns at once. Errors are kept for Ready.
func (h *Heat) Start(ctx context.Context) {
	h.mu.Lock()
	if h.loading {
		h.mu.Unlock()
		return
	}
	h.loading = true
	h.mu.Unlock()
	go func() { _ = h.Load(context.WithoutCancel(ctx)) }()
}

// Ready reports whether queries are answered from memory, and the error of
// the last full load if it failed.
func (h *Heat) Ready() (bool, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.loaded, h.loadErr
}

// Wait blocks until a full load has been installed, the last load failed
// (its error), or ctx ends.
func (h *Heat) Wait(ctx context.Context) error {
	for {
		h.mu.RLock()
		loaded, loading, loadErr, wake := h.loaded, h.loading, h.loadErr, h.wake
		h.mu.RUnlock()
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

// Load reads every rollup row and installs them, replacing what was held.
// If InvalidateAll is called meanwhile, it reads again.
func (h *Heat) Load(ctx context.Context) (err error) {
	defer func() {
		h.mu.Lock()
		h.loading = false
		h.loadErr = err
		close(h.wake)
		h.wake = make(chan struct{})
		h.mu.Unlock()
	}()
	for {
		h.mu.Lock()
		h.loading = true
		h.clock++
		start, epoch := h.clock, h.epoch
		h.mu.Unlock()
		fresh, err := h.read(ctx, nil)
		if err != nil {
			return err
		}
		if h.install(fresh, start, epoch) {
			return nil
		}
	}
}

// install replaces the slices with a full load begun at clock start, unless
// everything was invalidated since.
func (h *Heat) install(fresh map[sliceKey][]uint32, start, epoch uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.epoch != epoch {
		return false
	}
	old := h.slices
	h.slices = map[string]map[int32]*heatSlice{}
	for key, rows := range fresh {
		s := h.sliceLocked(key.cat, key.day)
		s.rows, s.loadedAt = rows, start
	}
	// Invalidations that arrived after this load began may not be in it.
	for cat, m := range old {
		for day, o := range m {
			if o.dirtyAt > start {
				h.sliceLocked(cat, day).dirtyAt = o.dirtyAt
			}
		}
	}
	h.loaded = true
	return true
}

type sliceKey struct {
	cat string
	day int32
}

// read loads the rows of slices (all when nil) into packed, compacted
// arrays. Cells new to the model are added to the cell index.
func (h *Heat) read(ctx context.Context, want []grid.RollupSlice) (map[sliceKey][]uint32, error) {
	got := map[sliceKey][]uint32{}
	local := map[h3.Cell]uint32{} // this read's view of the index: one lock per new cell
	var last sliceKey
	var lastDate grid.Date
	var cur []uint32
	started := false
	flush := func() {
		if started {
			got[last] = cur
		}
	}
	err := h.src.RollupRows(ctx, want, func(s grid.RollupSlice, hour int, cell uint64, n int64) error {
		if hour < 0 || hour > 23 || n < 0 {
			return fmt.Errorf("heat: rollup row %v: hour %d, count %d out of range", s, hour, n)
		}
		if !started || s.Category != last.cat || s.Day != lastDate {
			flush()
			started = true
			last, lastDate = sliceKey{s.Category, dayNumber(s.Day)}, s.Day
			cur = got[last]
		}
		c := h3.Cell(cell)
		i, ok := local[c]
		if !ok {
			var err error
			if i, err = h.cellIndex(c); err != nil {
				return err
			}
			local[c] = i
		}
		for ; n > 0; n -= maxN {
			cur = append(cur, pack(i, hour, uint32(min(n, maxN))))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	flush()
	for _, s := range want { // slices that have no rows (yet) are empty, not missing
		k := sliceKey{s.Category, dayNumber(s.Day)}
		if _, ok := got[k]; !ok {
			got[k] = nil
		}
	}
	for k, rows := range got {
		got[k] = compact(rows)
	}
	return got, nil
}

// cellIndex returns the position of a resolution-9 cell, adding it.
func (h *Heat) cellIndex(c h3.Cell) (uint32, error) {
	h.cellMu.Lock()
	defer h.cellMu.Unlock()
	if i, ok := h.index[c]; ok {
		return i, nil
	}
	if len(h.cells) >= maxCells {
		return 0, errors.New("heat: more resolution-9 cells than the read model holds")
	}
	if !c.IsValid() || c.Resolution() != 9 {
		return 0, fmt.Errorf("heat: rollup cell %x is not a resolution-9 cell", uint64(c))
	}
	i := uint32(len(h.cells))
	h.index[c] = i
	h.cells = append(h.cells, c)
	return i, nil
}

// compact sorts entries and merges those of the same cell and hour.
func compact(es []uint32) []uint32 {
	slices.Sort(es)
	out := es[:0]
	for _, e := range es {
		if j := len(out) - 1; j >= 0 && out[j]>>7 == e>>7 && out[j]&maxN+e&maxN <= maxN {
			out[j] += e & maxN
			continue
		}
		out = append(out, e)
	}
	return slices.Clip(out)
}

// Heatmap counts incidents per H3 cell of q from memory when it can.
func (h *Heat) Heatmap(ctx context.Context, q grid.HeatQuery) ([]grid.HeatCell, error) {
	if q.Res < 5 || q.Res > 10 {
		return nil, grid.Errorf(grid.Invalid, "res: %d: want 5…10", q.Res)
	}
	if q.Res == 10 {
		return h.fallback.Heatmap(ctx, q)
	}
	from, to := q.From.In(h.loc), q.To.In(h.loc)
	if from.Truncate(time.Hour) != from || to.Truncate(time.Hour) != to || !from.Before(to) {
		return h.fallback.Heatmap(ctx, q)
	}
	var hours uint32 = 1<<24 - 1
	if len(q.Hours) > 0 {
		hours = 0
		for _, x := range q.Hours {
			hours |= 1 << x
		}
	}
	var weekdays uint8 = 0xff
	if len(q.Weekdays) > 0 {
		weekdays = 0
		for _, d := range q.Weekdays {
			weekdays |= 1 << (d % 7) // ISO 7 (Sunday) is time.Sunday (0)
		}
	}
	first := dayNumber(grid.DateOf(from))
	lastT := to.Add(-time.Hour)
	last := dayNumber(grid.DateOf(lastT))

	type part struct {
		rows  []uint32
		hours uint32
	}
	var parts []part
	var cells []h3.Cell
	// The answer must include every write that committed before this query
	// began, not those that commit while it runs: a slice invalidated after
	// the query began is good enough once a load begun after that point
	// is in (one reload, however busy the writers).
	h.mu.RLock()
	began := h.clock
	h.mu.RUnlock()
	for attempt := 0; ; attempt++ {
		h.mu.RLock()
		if !h.loaded {
			h.mu.RUnlock()
			return h.fallback.Heatmap(ctx, q)
		}
		parts = parts[:0]
		var stale []grid.RollupSlice
		for i, cat := range q.Categories {
			if slices.Contains(q.Categories[:i], cat) { // named twice, counted once
				continue
			}
			for day, s := range h.slices[cat] {
				if day < first || day > last || weekdays&(1<<weekdayOf(day)) == 0 {
					continue
				}
				if s.dirty() && s.loadedAt < began {
					stale = append(stale, grid.RollupSlice{Category: cat, Day: dateOf(day)})
					continue
				}
				m := hours
				if day == first {
					m &^= 1<<from.Hour() - 1
				}
				if day == last {
					m &= 1<<(lastT.Hour()+1) - 1
				}
				if m != 0 && len(s.rows) > 0 {
					parts = append(parts, part{s.rows, m})
				}
			}
		}
		h.mu.RUnlock()
		if len(stale) == 0 {
			break
		}
		if attempt == 3 { // cannot happen unless loads fail to install: ask the database
			return h.fallback.Heatmap(ctx, q)
		}
		if err := h.reload(ctx, stale); err != nil {
			return nil, err
		}
	}

	h.cellMu.Lock()
	cells = h.cells // every index in parts was added before its slice was installed
	h.cellMu.Unlock()
	counts := make([]uint32, len(cells))
	for _, p := range parts {
		if p.hours == 1<<24-1 {
			for _, e := range p.rows {
				counts[e>>12] += e & maxN
			}
			continue
		}
		for _, e := range p.rows {
			if c, hr, n := unpack(e); p.hours&(1<<hr) != 0 {
				counts[c] += n
			}
		}
	}
	if q.Res == 9 {
		var out []grid.HeatCell
		for i, n := range counts {
			if n > 0 {
				out = append(out, grid.HeatCell{H3: uint64(cells[i]), Count: int64(n)})
			}
		}
		return out, nil
	}
	parents, err := h.parentsOf(cells, q.Res)
	if err != nil {
		return nil, err
	}
	sum := map[h3.Cell]int64{}
	for i, n := range counts {
		if n > 0 {
			sum[parents[i]] += int64(n)
		}
	}
	out := make([]grid.HeatCell, 0, len(sum))
	for c, n := range sum {
		out = append(out, grid.HeatCell{H3: uint64(c), Count: n})
	}
	return out, nil
}

// reload reads stale slices again and installs them.
func (h *Heat) reload(ctx context.Context, stale []grid.RollupSlice) error {
	h.mu.Lock()
	h.clock++
	start := h.clock
	h.mu.Unlock()
	fresh, err := h.read(ctx, stale)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for k, rows := range fresh {
		s := h.sliceLocked(k.cat, k.day)
		if s.loadedAt < start { // a newer load may have been installed meanwhile
			s.rows, s.loadedAt = rows, start
		}
	}
	return nil
}

// parentsOf returns the parent at res of each of cells, computing those not
// known yet (the cell list only grows).
func (h *Heat) parentsOf(cells []h3.Cell, res int) ([]h3.Cell, error) {
	h.cellMu.Lock()
	ps := h.parents[res]
	h.cellMu.Unlock()
	if len(ps) >= len(cells) {
		return ps, nil
	}
	ext := slices.Clone(ps)
	for _, c := range cells[len(ps):] {
		p, err := c.Parent(res)
		if err != nil {
			return nil, fmt.Errorf("heat: parent of %s at %d: %w", c, res, err)
		}
		ext = append(ext, p)
	}
	h.cellMu.Lock()
	if len(ext) > len(h.parents[res]) {
		h.parents[res] = ext
	}
	h.cellMu.Unlock()
	return ext, nil
}

func dateOf(day int32) grid.Date {
	return grid.DateOf(time.Unix(int64(day)*86400, 0).UTC())
}

// weekdayOf is time.Weekday of a day number: 1970-01-01 was a Thursday.
func weekdayOf(day int32) int { return int((day%7 + 7 + 4) % 7) }
