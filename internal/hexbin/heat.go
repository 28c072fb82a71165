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

// Heat is the heatmap read model: the H3 rollups (signed incident counts
// per category, town, local day, hour and H3 cell; see grid.RollupSource)
// held in memory, so a year-long heatmap at any resolution 5…10 is a sum
// over arrays instead of a scan of a year of rollup rows.
//
// It mirrors the database's rollups by slices (one category in one town on
// one day). Writers report the slices they touched once they have
// committed (Invalidate: directly in the writing process, through NOTIFY in
// the others); a query reloads the slices it needs that changed since they
// were loaded, then sums. A slice is dirty when it was invalidated after
// the load that produced its rows began, so a write that commits while a
// slice is being reloaded is never lost: its invalidation makes the slice
// dirty again. Until the first full load has finished, queries go to the
// fallback store.
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
	epoch   uint64 // advanced by InvalidateAll
	slices  map[sliceKey]heatSlice
	wake    chan struct{} // closed and replaced when a full load ends

	cats, towns codes // category and town codes by small number

	cellMu sync.Mutex // guards cells; its lists only grow
	cells  cellIndex
}

// sliceKey names a slice by the numbers of its category and town.
type sliceKey struct {
	cat, town uint16
	day       int32 // days since 1970-01-01
}

// heatSlice is one category in one town on one day. rows is never changed
// in place: reloads install a new array, so readers may sum an old one
// unlocked.
type heatSlice struct {
	rows     []uint32 // see layout
	dirtyAt  uint64   // clock of the last invalidation
	loadedAt uint64   // clock when the load that produced rows began
}

func (s heatSlice) dirty() bool { return s.dirtyAt > s.loadedAt }

// A slice's rows are a header of groups-1 words, then its entries in
// groups: group 0 the base entries (resolution-10 cells), group g ≥ 1 the
// corrections of resolution BaseRes−g. Header word i is where group i ends
// (the last group ends with the array). A slice without entries is nil.
const (
	groups = BaseRes - MinRes + 1
	header = groups - 1
)

// group returns the entries of group g of rows.
func group(rows []uint32, g int) []uint32 {
	if len(rows) == 0 {
		return nil
	}
	start, end := uint32(header), uint32(len(rows))
	if g > 0 {
		start = rows[g-1]
	}
	if g < header {
		end = rows[g]
	}
	return rows[start:end]
}

// groupOf is the group of a cell's resolution.
func groupOf(res int) int { return BaseRes - res }

// An entry packs a cell's position in the cell index (20 bits), the local
// hour (5 bits) and a signed count (7 bits, two's complement); larger
// counts take several entries.
const (
	maxCells = 1 << 20
	maxN     = 1<<6 - 1
	minN     = -1 << 6
)

func pack(cell uint32, hour int, n int32) uint32 { return cell<<12 | uint32(hour)<<7 | uint32(n)&127 }

func count(e uint32) int32 { return int32(e<<25) >> 25 }

func hourOf(e uint32) int { return int(e >> 7 & 31) }

// NewHeat returns a read model over src; queries it cannot answer from
// memory go to fallback. Days are local days in loc (China time for the
// rollups). Call Load (or Start) to fill it.
func NewHeat(src grid.RollupSource, fallback grid.HeatmapStore, loc *time.Location) *Heat {
	return &Heat{src: src, fallback: fallback, loc: loc, slices: map[sliceKey]heatSlice{},
		cells: newCellIndex(), wake: make(chan struct{})}
}

// dayNumber counts days from 1970-01-01 in the proleptic Gregorian calendar.
func dayNumber(d grid.Date) int32 {
	return int32(d.Time().Unix() / 86400)
}

// keyOf numbers a slice's category and town, adding codes not seen yet.
func (h *Heat) keyOf(s grid.RollupSlice) (sliceKey, error) {
	cat, err := h.cats.id(s.Category)
	if err != nil {
		return sliceKey{}, err
	}
	town, err := h.towns.id(s.Town)
	if err != nil {
		return sliceKey{}, err
	}
	return sliceKey{cat, town, dayNumber(s.Day)}, nil
}

// Invalidate marks slices as changed: a write that touched them has
// committed. The next query that needs one reloads it.
func (h *Heat) Invalidate(ss []grid.RollupSlice) {
	h.mu.Lock()
	h.clock++
	now := h.clock
	var overflow bool
	for _, s := range ss {
		k, err := h.keyOf(s)
		if err != nil { // more codes than a slice key numbers
			overflow = true
			break
		}
		sl := h.slices[k]
		sl.dirtyAt = now
		h.slices[k] = sl
	}
	h.mu.Unlock()
	if overflow {
		h.InvalidateAll(context.Background())
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
	h.slices = make(map[sliceKey]heatSlice, len(fresh))
	for k, rows := range fresh {
		h.slices[k] = heatSlice{rows: rows, loadedAt: start}
	}
	// Invalidations that arrived after this load began may not be in it.
	for k, o := range old {
		if o.dirtyAt > start {
			s := h.slices[k]
			s.dirtyAt = o.dirtyAt
			h.slices[k] = s
		}
	}
	h.loaded = true
	return true
}

// read loads the rows of slices (all when nil) into packed, compacted
// arrays. Cells new to the model are added to the cell index.
func (h *Heat) read(ctx context.Context, want []grid.RollupSlice) (map[sliceKey][]uint32, error) {
	type building [groups][]uint32
	got := map[sliceKey]*building{}
	local := map[h3.Cell]uint32{} // this read's view of the index: one lock per new cell
	var last grid.RollupSlice
	var cur *building
	err := h.src.RollupRows(ctx, want, func(s grid.RollupSlice, hour int, cell uint64, n int64) error {
		if hour < 0 || hour > 23 {
			return fmt.Errorf("heat: rollup row %v: hour %d out of range", s, hour)
		}
		if cur == nil || s != last {
			k, err := h.keyOf(s)
			if err != nil {
				return err
			}
			last = s
			if cur = got[k]; cur == nil {
				cur = &building{}
				got[k] = cur
			}
		}
		c := h3.Cell(cell)
		i, ok := local[c]
		if !ok {
			var err error
			if i, err = h.cellPos(c); err != nil {
				return err
			}
			local[c] = i
		}
		g := groupOf(c.Resolution())
		for n != 0 {
			part := min(max(n, minN), maxN)
			cur[g] = append(cur[g], pack(i, hour, int32(part)))
			n -= part
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	out := make(map[sliceKey][]uint32, len(got))
	for _, s := range want { // slices that have no rows (yet) are empty, not missing
		k, err := h.keyOf(s)
		if err != nil {
			return nil, err
		}
		out[k] = nil
	}
	for k, b := range got {
		total := 0
		for g := range b {
			b[g] = compact(b[g])
			total += len(b[g])
		}
		if total == 0 {
			out[k] = nil
			continue
		}
		rows := make([]uint32, header, header+total)
		for g := range b {
			rows = append(rows, b[g]...)
			if g < header {
				rows[g] = uint32(len(rows))
			}
		}
		out[k] = rows
	}
	return out, nil
}

// compact sorts entries, sums those of the same cell and hour and packs the
// sums again, dropping those that cancel out. It reuses es.
func compact(es []uint32) []uint32 {
	slices.Sort(es)
	out := es[:0]
	for i := 0; i < len(es); {
		key := es[i] >> 7
		var n int32
		for ; i < len(es) && es[i]>>7 == key; i++ {
			n += count(es[i])
		}
		for n != 0 { // out never overtakes i: a sum takes at most as many entries as its parts
			part := min(max(n, minN), maxN)
			out = append(out, key<<7|uint32(part)&127)
			n -= part
		}
	}
	return slices.Clip(out)
}

// cellPos returns the position of a cell in the index, adding it.
func (h *Heat) cellPos(c h3.Cell) (uint32, error) {
	h.cellMu.Lock()
	defer h.cellMu.Unlock()
	return h.cells.add(c)
}

// Heatmap counts incidents per H3 cell of q from memory when it can.
func (h *Heat) Heatmap(ctx context.Context, q grid.HeatQuery) ([]grid.HeatCell, error) {
	if q.Res < MinRes || q.Res > BaseRes {
		return nil, grid.Errorf(grid.Invalid, "res: %d: want %d…%d", q.Res, MinRes, BaseRes)
	}
	from, to := q.From.In(h.loc), q.To.In(h.loc)
	if from.Truncate(time.Hour) != from || to.Truncate(time.Hour) != to {
		return nil, grid.Errorf(grid.Invalid, "window %s – %s: want whole hours", q.From, q.To)
	}
	if !from.Before(to) {
		return nil, nil
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
	cats := h.cats.known(q.Categories)
	var towns []uint16 // nil: every town
	if len(q.Towns) > 0 {
		if towns = h.towns.known(q.Towns); len(towns) == 0 {
			towns = []uint16{} // none of them has an incident
		}
	}

	type part struct {
		rows  []uint32
		hours uint32
	}
	var parts []part
	// The answer must include every write that committed before this query
	// began, not those that commit while it runs: a slice invalidated after
	// the query began is good enough once a load begun after that point
	// is in (one reload, however busy the writers).
	h.mu.RLock()
	began := h.clock
	h.mu.RUnlock()
	for attempt := 0; ; attempt++ {
		parts = parts[:0]
		var stale []grid.RollupSlice
		h.mu.RLock()
		if !h.loaded {
			h.mu.RUnlock()
			return h.fallback.Heatmap(ctx, q)
		}
		ts := towns
		if ts == nil {
			ts = h.towns.all()
		}
		for _, cat := range cats {
			for _, town := range ts {
				for day := first; day <= last; day++ {
					s, ok := h.slices[sliceKey{cat, town, day}]
					if !ok || weekdays&(1<<weekdayOf(day)) == 0 {
						continue
					}
					if s.dirty() && s.loadedAt < began {
						stale = append(stale, grid.RollupSlice{Category: h.cats.code(cat), Day: dateOf(day), Town: h.towns.code(town)})
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

	// Every position in parts was added before its slice was installed.
	h.cellMu.Lock()
	target, cells := h.cells.target[q.Res], h.cells.at[q.Res]
	h.cellMu.Unlock()
	counts := make([]int32, len(cells))
	g := groupOf(q.Res)
	for _, p := range parts {
		sum(counts, target, group(p.rows, 0), p.hours)
		if g > 0 {
			sum(counts, target, group(p.rows, g), p.hours)
		}
	}
	var out []grid.HeatCell
	for i, n := range counts {
		if n < 0 {
			return nil, fmt.Errorf("heat: cell %s sums to %d: the rollups are inconsistent", cells[i], n)
		}
		if n > 0 {
			out = append(out, grid.HeatCell{H3: uint64(cells[i]), Count: int64(n)})
		}
	}
	return out, nil
}

// sum adds the counts of entries es in the hours of mask to the cells
// their positions count in.
func sum(counts []int32, target []uint32, es []uint32, mask uint32) {
	if mask == 1<<24-1 {
		for _, e := range es {
			counts[target[e>>12]] += count(e)
		}
		return
	}
	for _, e := range es {
		if mask&(1<<hourOf(e)) != 0 {
			counts[target[e>>12]] += count(e)
		}
	}
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
		if s := h.slices[k]; s.loadedAt < start { // a newer load may have been installed meanwhile
			s.rows, s.loadedAt = rows, start
			h.slices[k] = s
		}
	}
	return nil
}

func dateOf(day int32) grid.Date {
	return grid.DateOf(time.Unix(int64(day)*86400, 0).UTC())
}

// weekdayOf is time.Weekday of a day number: 1970-01-01 was a Thursday.
func weekdayOf(day int32) int { return int((day%7 + 7 + 4) % 7) }

// codes numbers category or town codes as they are first seen. Safe for
// concurrent use; the numbering only grows.
type codes struct {
	mu   sync.Mutex
	ids  map[string]uint16
	list []string
}

func (c *codes) id(s string) (uint16, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if i, ok := c.ids[s]; ok {
		return i, nil
	}
	if len(c.list) > 1<<16-1 {
		return 0, errors.New("heat: more category or town codes than the read model numbers")
	}
	if c.ids == nil {
		c.ids = map[string]uint16{}
	}
	i := uint16(len(c.list))
	c.ids[s] = i
	c.list = append(c.list, s)
	return i, nil
}

// known returns the numbers of the codes seen so far among ss, once each.
func (c *codes) known(ss []string) []uint16 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []uint16
	for _, s := range ss {
		if i, ok := c.ids[s]; ok && !slices.Contains(out, i) {
			out = append(out, i)
		}
	}
	return out
}

// all returns every number given so far.
func (c *codes) all() []uint16 {
	c.mu.Lock()
	n := len(c.list)
	c.mu.Unlock()
	out := make([]uint16, n)
	for i := range out {
		out[i] = uint16(i)
	}
	return out
}

func (c *codes) code(i uint16) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.list[i]
}

// cellIndex numbers the cells of the entries held (positions), and for each
// served resolution r numbers the cells a heatmap at r answers with:
// target[r][pos] is the number at r of the cell that the entries at pos
// count in there — the parent of a base cell, a correction's own cell at
// its resolution (and 0, never read, elsewhere). The lists only grow.
type cellIndex struct {
	pos    map[h3.Cell]uint32
	list   []h3.Cell
	target [BaseRes + 1][]uint32
	num    [BaseRes + 1]map[h3.Cell]uint32
	at     [BaseRes + 1][]h3.Cell // the cells of resolution r by their number at r
}

func newCellIndex() cellIndex {
	ci := cellIndex{pos: map[h3.Cell]uint32{}}
	for r := MinRes; r <= BaseRes; r++ {
		ci.num[r] = map[h3.Cell]uint32{}
	}
	return ci
}

func (ci *cellIndex) add(c h3.Cell) (uint32, error) {
	if i, ok := ci.pos[c]; ok {
		return i, nil
	}
	if len(ci.list) >= maxCells {
		return 0, errors.New("heat: more cells than the read model holds")
	}
	res := c.Resolution()
	if res < MinRes || res > BaseRes || !c.IsValid() {
		return 0, fmt.Errorf("heat: rollup cell %x is not a cell of resolution %d…%d", uint64(c), MinRes, BaseRes)
	}
	i := uint32(len(ci.list))
	ci.pos[c] = i
	ci.list = append(ci.list, c)
	for r := MinRes; r <= BaseRes; r++ {
		var t uint32
		switch res {
		case BaseRes:
			t = ci.number(r, Parent(c, r))
		case r:
			t = ci.number(r, c)
		}
		ci.target[r] = append(ci.target[r], t)
	}
	return i, nil
}

func (ci *cellIndex) number(r int, c h3.Cell) uint32 {
	if n, ok := ci.num[r][c]; ok {
		return n
	}
	n := uint32(len(ci.at[r]))
	ci.num[r][c] = n
	ci.at[r] = append(ci.at[r], c)
	return n
}
