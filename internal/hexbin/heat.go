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
// one day), kept in blocks of a category's day, as the store keeps its
// rows. Writers report the slices they touched once they have committed
// (Invalidate: directly in the writing process, through NOTIFY in the
// others); a query reloads the blocks of the slices it needs that changed
// since they were loaded, then sums. A slice is dirty when it was
// invalidated after the load that produced its block began, so a write
// that commits while a block is being reloaded is never lost: its
// invalidation makes the slice dirty again. Until the first full load has
// finished, queries go to the fallback store.
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
	blocks  map[blockKey]dayBlock
	dirty   map[blockKey][]townClock // per block, its towns invalidated since it was loaded
	wake    chan struct{}            // closed and replaced when a full load ends

	cats, towns codes // category and town codes by small number

	cellMu sync.Mutex // guards cells; its lists only grow
	cells  cellIndex
}

// blockKey names a category's day by the category's number.
type blockKey struct {
	cat uint16
	day int32 // days since 1970-01-01
}

// dayBlock is a category's day in every town. rows is never changed in
// place: reloads install a new array, so readers may sum an old one
// unlocked.
type dayBlock struct {
	rows     []uint32 // see the layout below
	dirtyAt  uint64   // clock of the last invalidation of any of its slices
	loadedAt uint64   // clock when the load that produced rows began
}

func (b dayBlock) dirty() bool { return b.dirtyAt > b.loadedAt }

// townClock is when a town's slice of a block was last invalidated.
type townClock struct {
	town uint16
	at   uint64
}

// A block's rows are a directory, then entries. The directory is the
// number of towns, then for each town (in number order) its number and
// where each of its groups of entries ends: group 0 the base entries
// (resolution-10 cells), group g ≥ 1 the corrections of resolution
// BaseRes−g. A town's first group starts where the previous town's last
// ends (the first town's, after the directory). A block without entries
// is nil.
const (
	groups  = BaseRes - MinRes + 1
	perTown = 1 + groups
)

// townsOf is the number of towns in a block's directory.
func townsOf(rows []uint32) int {
	if len(rows) == 0 {
		return 0
	}
	return int(rows[0])
}

// townAt returns the number of the i-th town of a block and its groups'
// ends.
func townAt(rows []uint32, i int) (town uint16, ends []uint32) {
	d := rows[1+i*perTown : 1+(i+1)*perTown]
	return uint16(d[0]), d[1:]
}

// groupOf is the group of a cell's resolution.
func groupOf(res int) int { return BaseRes - res }

// An entry packs a cell's number at its resolution (20 bits), the local
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
	return &Heat{src: src, fallback: fallback, loc: loc, blocks: map[blockKey]dayBlock{}, dirty: map[blockKey][]townClock{},
		cells: newCellIndex(), wake: make(chan struct{})}
}

// dayNumber counts days from 1970-01-01 in the proleptic Gregorian calendar.
func dayNumber(d grid.Date) int32 {
	return int32(d.Time().Unix() / 86400)
}

// anyTown numbers the town of a slice that names every town ("").
const anyTown = 1<<16 - 1

// keyOf numbers a slice's block and town, adding codes not seen yet.
func (h *Heat) keyOf(s grid.RollupSlice) (blockKey, uint16, error) {
	cat, err := h.cats.id(s.Category)
	if err != nil {
		return blockKey{}, 0, err
	}
	town := uint16(anyTown)
	if s.Town != "" {
		if town, err = h.towns.id(s.Town); err != nil {
			return blockKey{}, 0, err
		}
	}
	return blockKey{cat, dayNumber(s.Day)}, town, nil
}

// townCode is the code of a town number ("" for anyTown).
func (h *Heat) townCode(town uint16) string {
	if town == anyTown {
		return ""
	}
	return h.towns.code(town)
}

// Invalidate marks slices as changed: a write that touched them has
// committed. The next query that needs one reloads its block.
func (h *Heat) Invalidate(ss []grid.RollupSlice) {
	h.mu.Lock()
	h.clock++
	now := h.clock
	var overflow bool
	for _, s := range ss {
		k, town, err := h.keyOf(s)
		if err != nil { // more codes than the model numbers
			overflow = true
			break
		}
		b := h.blocks[k]
		b.dirtyAt = now
		h.blocks[k] = b
		h.dirty[k] = setClock(h.dirty[k], town, now)
	}
	h.mu.Unlock()
	if overflow {
		h.InvalidateAll(context.Background())
	}
}

func setClock(tcs []townClock, town uint16, at uint64) []townClock {
	for i := range tcs {
		if tcs[i].town == town {
			tcs[i].at = at
			return tcs
		}
	}
	return append(tcs, townClock{town, at})
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

// install replaces the blocks with a full load begun at clock start, unless
// everything was invalidated since.
func (h *Heat) install(fresh map[blockKey][]uint32, start, epoch uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.epoch != epoch {
		return false
	}
	old, oldDirty := h.blocks, h.dirty
	h.blocks = make(map[blockKey]dayBlock, len(fresh))
	h.dirty = map[blockKey][]townClock{}
	for k, rows := range fresh {
		h.blocks[k] = dayBlock{rows: rows, loadedAt: start}
	}
	// Invalidations that arrived after this load began may not be in it.
	for k, o := range old {
		if o.dirtyAt > start {
			b := h.blocks[k]
			b.dirtyAt = o.dirtyAt
			h.blocks[k] = b
			h.dirty[k] = after(oldDirty[k], start)
		}
	}
	h.loaded = true
	return true
}

// after keeps the clocks later than at.
func after(tcs []townClock, at uint64) []townClock {
	var out []townClock
	for _, tc := range tcs {
		if tc.at > at {
			out = append(out, tc)
		}
	}
	return out
}

// read loads the rows of the blocks of slices (all when nil) into packed,
// compacted arrays. Cells new to the model are added to the cell index.
func (h *Heat) read(ctx context.Context, want []grid.RollupSlice) (map[blockKey][]uint32, error) {
	type building map[uint16]*[groups][]uint32 // by town
	got := map[blockKey]building{}
	// This read's views of the numbering: one lock per new code or cell.
	cells := map[h3.Cell]uint32{}
	cats, towns := map[string]uint16{}, map[string]uint16{}
	var last grid.RollupSlice
	var b building
	var cur *[groups][]uint32
	err := h.src.RollupRows(ctx, want, func(s grid.RollupSlice, hour int, cell uint64, n int64) error {
		if hour < 0 || hour > 23 {
			return fmt.Errorf("heat: rollup row %v: hour %d out of range", s, hour)
		}
		if cur == nil || s.Category != last.Category || s.Day != last.Day {
			cat, err := localID(cats, &h.cats, s.Category)
			if err != nil {
				return err
			}
			k := blockKey{cat, dayNumber(s.Day)}
			if b = got[k]; b == nil {
				b = building{}
				got[k] = b
			}
			cur = nil
		}
		if cur == nil || s.Town != last.Town {
			town, err := localID(towns, &h.towns, s.Town)
			if err != nil {
				return err
			}
			if cur = b[town]; cur == nil {
				cur = &[groups][]uint32{}
				b[town] = cur
			}
		}
		last = s
		c := h3.Cell(cell)
		i, ok := cells[c]
		if !ok {
			var err error
			if i, err = h.cellNumber(c); err != nil {
				return err
			}
			cells[c] = i
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
	out := make(map[blockKey][]uint32, len(got))
	for _, s := range want { // blocks that have no rows (yet) are empty, not missing
		k, _, err := h.keyOf(s)
		if err != nil {
			return nil, err
		}
		out[k] = nil
	}
	for k, b := range got {
		out[k] = blockRows(b)
	}
	return out, nil
}

// blockRows lays out a block's entries by town (see the layout above),
// compacted.
func blockRows(b map[uint16]*[groups][]uint32) []uint32 {
	towns := make([]uint16, 0, len(b))
	total := 0
	for town, gs := range b {
		n := 0
		for g := range gs {
			gs[g] = compact(gs[g])
			n += len(gs[g])
		}
		if n > 0 {
			towns = append(towns, town)
			total += n
		}
	}
	if total == 0 {
		return nil
	}
	slices.Sort(towns)
	dir := 1 + perTown*len(towns)
	rows := make([]uint32, dir, dir+total)
	rows[0] = uint32(len(towns))
	for i, town := range towns {
		d := rows[1+i*perTown : 1+(i+1)*perTown]
		d[0] = uint32(town)
		for g, es := range b[town] {
			rows = append(rows, es...)
			d[1+g] = uint32(len(rows))
		}
	}
	return rows
}

// localID numbers a code through a read's own map, asking the shared
// numbering once per code.
func localID(local map[string]uint16, c *codes, s string) (uint16, error) {
	if i, ok := local[s]; ok {
		return i, nil
	}
	i, err := c.id(s)
	if err == nil {
		local[s] = i
	}
	return i, err
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

// cellNumber returns the number of a cell at its resolution, adding it.
func (h *Heat) cellNumber(c h3.Cell) (uint32, error) {
	h.cellMu.Lock()
	defer h.cellMu.Unlock()
	return h.cells.add(c)
}

// Heatmap counts incidents per H3 cell of q from memory when it can.
// Errors: Invalid for a resolution outside 5…10, a window that is not
// whole hours or a town code that is not 9 digits.
func (h *Heat) Heatmap(ctx context.Context, q grid.HeatQuery) ([]grid.HeatCell, error) {
	if q.Res < MinRes || q.Res > BaseRes {
		return nil, grid.Errorf(grid.Invalid, "res: %d: want %d…%d", q.Res, MinRes, BaseRes)
	}
	from, to := q.From.In(h.loc), q.To.In(h.loc)
	if from.Truncate(time.Hour) != from || to.Truncate(time.Hour) != to {
		return nil, grid.Errorf(grid.Invalid, "window %s – %s: want whole hours", q.From, q.To)
	}
	for _, t := range q.Towns {
		if !grid.ValidTownCode(t) {
			return nil, grid.Errorf(grid.Invalid, "town %q: want a 9-digit code", t)
		}
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
			return h.answerEmpty(ctx, q) // none of them has an incident
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
		epoch := h.epoch
		for _, cat := range cats {
			for day := first; day <= last; day++ {
				k := blockKey{cat, day}
				b, ok := h.blocks[k]
				if !ok || weekdays&(1<<weekdayOf(day)) == 0 {
					continue
				}
				if b.dirty() && b.loadedAt < began {
					if town, ok := h.dirtyFor(k, b.loadedAt, towns); ok {
						stale = append(stale, grid.RollupSlice{Category: h.cats.code(cat), Day: dateOf(day), Town: h.townCode(town)})
						continue
					}
				}
				m := hours
				if day == first {
					m &^= 1<<from.Hour() - 1
				}
				if day == last {
					m &= 1<<(lastT.Hour()+1) - 1
				}
				if m != 0 && len(b.rows) > 0 {
					parts = append(parts, part{b.rows, m})
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
		if err := h.reload(ctx, stale, epoch); err != nil {
			return nil, err
		}
	}

	// Every number in parts was given before its block was installed.
	h.cellMu.Lock()
	cells := h.cells.at[q.Res]
	var up []uint32 // base cells' numbers at q.Res; nil at BaseRes
	if q.Res < BaseRes {
		up = h.cells.up[q.Res]
	}
	h.cellMu.Unlock()
	counts := make([]int32, len(cells))
	g := groupOf(q.Res)
	for _, p := range parts {
		start := uint32(1 + perTown*townsOf(p.rows))
		for i := range townsOf(p.rows) {
			town, ends := townAt(p.rows, i)
			if towns == nil || slices.Contains(towns, town) {
				base := p.rows[start:ends[0]]
				if up == nil {
					sumOwn(counts, base, p.hours)
				} else {
					sumUp(counts, up, base, p.hours)
				}
				if g > 0 {
					sumOwn(counts, p.rows[ends[g-1]:ends[g]], p.hours)
				}
			}
			start = ends[groups-1]
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

// answerEmpty answers a query none of whose towns has an incident: from
// the fallback store until loaded, as every query.
func (h *Heat) answerEmpty(ctx context.Context, q grid.HeatQuery) ([]grid.HeatCell, error) {
	if ok, _ := h.Ready(); !ok {
		return h.fallback.Heatmap(ctx, q)
	}
	return nil, nil
}

// dirtyFor returns a town among towns (nil: any) whose slice of block k
// was invalidated since loadedAt. Called with h.mu held.
func (h *Heat) dirtyFor(k blockKey, loadedAt uint64, towns []uint16) (uint16, bool) {
	for _, tc := range h.dirty[k] {
		if tc.at > loadedAt && (towns == nil || tc.town == anyTown || slices.Contains(towns, tc.town)) {
			return tc.town, true
		}
	}
	return 0, false
}

// sumOwn adds the counts of entries es in the hours of mask to the cells
// they name.
func sumOwn(counts []int32, es []uint32, mask uint32) {
	if mask == 1<<24-1 {
		for _, e := range es {
			counts[e>>12] += count(e)
		}
		return
	}
	for _, e := range es {
		if mask&(1<<hourOf(e)) != 0 {
			counts[e>>12] += count(e)
		}
	}
}

// sumUp adds the counts of base entries es in the hours of mask to the
// cells that up names for theirs.
func sumUp(counts []int32, up []uint32, es []uint32, mask uint32) {
	if mask == 1<<24-1 {
		for _, e := range es {
			counts[up[e>>12]] += count(e)
		}
		return
	}
	for _, e := range es {
		if mask&(1<<hourOf(e)) != 0 {
			counts[up[e>>12]] += count(e)
		}
	}
}

// reload reads the blocks of stale slices again and installs them, unless
// everything was invalidated since the caller found them stale (epoch): a
// full load begun meanwhile may have read less than this reload would, and
// installed over it, it would keep the block without the slices' marks.
// The caller then finds the model loading and asks the fallback.
func (h *Heat) reload(ctx context.Context, stale []grid.RollupSlice, epoch uint64) error {
	h.mu.Lock()
	if h.epoch != epoch {
		h.mu.Unlock()
		return nil
	}
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
		if b := h.blocks[k]; b.loadedAt < start { // a newer load may have been installed meanwhile
			b.rows, b.loadedAt = rows, start
			h.blocks[k] = b
			if tcs := after(h.dirty[k], start); len(tcs) > 0 {
				h.dirty[k] = tcs
			} else {
				delete(h.dirty, k)
			}
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
	if len(c.list) >= anyTown {
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

func (c *codes) code(i uint16) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.list[i]
}

// cellIndex numbers the cells of each resolution that the entries name,
// and maps each resolution-10 cell to the numbers of its parents:
// up[r][n] is the number at r of the parent of the resolution-10 cell
// numbered n. The lists only grow.
type cellIndex struct {
	num [BaseRes + 1]map[h3.Cell]uint32
	at  [BaseRes + 1][]h3.Cell // the cells of each resolution by number
	up  [BaseRes][]uint32
}

func newCellIndex() cellIndex {
	var ci cellIndex
	for r := MinRes; r <= BaseRes; r++ {
		ci.num[r] = map[h3.Cell]uint32{}
	}
	return ci
}

func (ci *cellIndex) add(c h3.Cell) (uint32, error) {
	res := c.Resolution()
	if res >= MinRes && res <= BaseRes {
		if n, ok := ci.num[res][c]; ok {
			return n, nil
		}
	}
	if res < MinRes || res > BaseRes || !c.IsValid() {
		return 0, fmt.Errorf("heat: rollup cell %x is not a cell of resolution %d…%d", uint64(c), MinRes, BaseRes)
	}
	if len(ci.at[res]) >= maxCells {
		return 0, errors.New("heat: more cells than the read model holds")
	}
	n := ci.number(res, c)
	if res == BaseRes {
		for r := MinRes; r < BaseRes; r++ {
			ci.up[r] = append(ci.up[r], ci.number(r, Parent(c, r)))
		}
	}
	return n, nil
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
