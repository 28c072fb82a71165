package tally

import (
	"cmp"
	"context"
	"errors"
	"runtime"
	"slices"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
)

// counter indexes of a group's sums.
const (
	cTotal = iota
	cDue
	cHandled
	cHandledOnTime
	cClosed
	cClosedOnTime
	cReworked
	cExtended
	nCounters
)

// Stats answers a statistics query from memory when it can: the same
// answer as the fallback store's SQL over the incident table (see
// grid.StatsStore), for windows in whole seconds. A window with a
// fractional second at either end, or a query while the model loads, goes
// to the fallback store.
func (t *Tally) Stats(ctx context.Context, f grid.StatsFilter) ([]grid.StatsRow, error) {
	switch f.GroupBy {
	case "cell", "community", "town", "department":
	default:
		return nil, grid.Errorf(grid.Invalid, "group_by: %q: want cell, community, town or department", f.GroupBy)
	}
	switch f.Interval {
	case "", "day", "week", "month":
	default:
		return nil, grid.Errorf(grid.Invalid, "interval: %q: want day, week or month", f.Interval)
	}
	if !f.From.Before(f.To) {
		return nil, grid.Errorf(grid.Invalid, "from: must be before to")
	}
	if f.From.Nanosecond() != 0 || f.To.Nanosecond() != 0 || f.From.Unix() < 1 || f.To.Unix() > 1<<32-1 {
		return t.fallback.Stats(ctx, f)
	}
	loaded, began := t.begin()
	if !loaded {
		return t.fallback.Stats(ctx, f)
	}
	if err := t.catchUp(ctx, began); errors.Is(err, errReloaded) {
		return t.fallback.Stats(ctx, f)
	} else if err != nil {
		return nil, err
	}
	select {
	case t.scans <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-t.scans }()
	return t.scanStats(t.view(), f), nil
}

// scanStats counts f over the entries of v.
func (t *Tally) scanStats(v view, f grid.StatsFilter) []grid.StatsRow {
	d := v.d
	from, to := uint32(f.From.Unix()), uint32(f.To.Unix())
	nCat := len(d.cats)
	var catOK [256]bool
	if f.Categories == nil {
		for i := 1; i < nCat; i++ {
			catOK[i] = true
		}
	} else {
		for i := 1; i < nCat; i++ {
			catOK[i] = slices.Contains(f.Categories, d.cats[i])
		}
	}
	// The group of each place (−1: outside the caller's town), or of each
	// department.
	town := -1
	if f.Town != "" {
		town = slices.Index(d.towns, f.Town)
		if town < 0 {
			return []grid.StatsRow{}
		}
	}
	// Sized for every place number: entries a concurrent catch-up wrote
	// after this view was taken may name places (and categories and
	// departments) it does not know; they are left out, as writes that
	// committed after the query began may be.
	placeGroup := make([]int32, 1<<16)
	for p := len(d.placeCell); p < len(placeGroup); p++ {
		placeGroup[p] = -1
	}
	var keys []string
	for p := range d.placeCell {
		switch {
		case town >= 0 && int(d.placeTown[p]) != town:
			placeGroup[p] = -1
		case f.GroupBy == "cell":
			placeGroup[p] = int32(d.placeCell[p])
		case f.GroupBy == "community":
			placeGroup[p] = int32(d.placeComm[p])
		case f.GroupBy == "town":
			placeGroup[p] = int32(d.placeTown[p])
		}
	}
	byDept := f.GroupBy == "department"
	switch f.GroupBy {
	case "cell":
		keys = d.cells
	case "community":
		keys = d.comms
	case "town":
		keys = d.towns
	case "department":
		keys = d.depts
	}
	nGroups := len(keys)

	// Series buckets: each local day of the window maps to its bucket.
	var starts []time.Time
	var dayBucket []int32
	firstDay := (int64(from) + t.offset) / 86400
	if f.Interval != "" {
		starts = bucketStarts(f.Interval, f.From, f.To, t.offset)
		lastDay := (int64(to-1) + t.offset) / 86400
		dayBucket = make([]int32, lastDay-firstDay+1)
		b := 0
		for i := range dayBucket {
			dayStart := (firstDay + int64(i)) * 86400
			for b+1 < len(starts) && starts[b+1].Unix()+t.offset <= dayStart {
				b++
			}
			dayBucket[i] = int32(b)
		}
	}
	nb := len(starts)

	// Each worker counts per group and combination of the counters' bits
	// (the low six flags), per group and category, and per group and
	// bucket: three increments a row, no branch on the bits; the counters
	// come out of the combinations after the scan.
	type acc struct {
		combos []int32 // nGroups × 64
		byCat  []int32 // nGroups × nCat
		series []int32 // nGroups × nb
	}
	workers := runtime.GOMAXPROCS(0)
	accs := make([]acc, workers)
	for i := range accs {
		accs[i] = acc{combos: make([]int32, nGroups*64), byCat: make([]int32, nGroups*nCat), series: make([]int32, nGroups*nb)}
	}
	off, span := t.offset, to-from
	parallel(v.chunks, workers, func(w int, c *chunk) {
		if c.n == 0 || c.maxOcc < from || c.minOcc >= to {
			return
		}
		a := &accs[w]
		combos, byCat, series := a.combos, a.byCat, a.series
		// The columns in a local: the counts written below could alias
		// the chunk as far as the compiler knows.
		col := c.columns
		if nb == 0 && c.minOcc >= from && c.maxOcc < to {
			// Every entry occurred in the window (most chunks of a long
			// one): the times are not read at all.
			for i := range chunkSize {
				ct := col.cat[i]
				if !catOK[ct] {
					continue
				}
				g := placeGroup[col.place[i]]
				if g < 0 {
					continue
				}
				if byDept {
					if g = int32(col.dept[i]); int(g) >= nGroups {
						continue
					}
				}
				combos[int(g)<<6|int(col.flags[i]&63)]++
				byCat[int(g)*nCat+int(ct)]++
			}
			return
		}
		for i := range chunkSize {
			ct := col.cat[i]
			if !catOK[ct] {
				continue
			}
			o := col.occ[i]
			if o-from >= span { // outside [from, to): below from wraps around
				continue
			}
			g := placeGroup[col.place[i]]
			if g < 0 {
				continue
			}
			if byDept {
				if g = int32(col.dept[i]); int(g) >= nGroups {
					continue
				}
			}
			combos[int(g)<<6|int(col.flags[i]&63)]++
			byCat[int(g)*nCat+int(ct)]++
			if nb > 0 {
				series[int(g)*nb+int(dayBucket[(int64(o)+off)/86400-firstDay])]++
			}
		}
	})
	type sums struct{ c, byCat, series []int64 }
	sum := sums{c: make([]int64, nGroups*nCounters), byCat: make([]int64, nGroups*nCat), series: make([]int64, nGroups*nb)}
	for _, a := range accs {
		for i, n := range a.byCat {
			sum.byCat[i] += int64(n)
		}
		for i, n := range a.series {
			sum.series[i] += int64(n)
		}
		for g := range nGroups {
			k := sum.c[g*nCounters : (g+1)*nCounters]
			for combo, n32 := range a.combos[g*64 : (g+1)*64] {
				if n32 == 0 {
					continue
				}
				n := int64(n32)
				k[cTotal] += n
				if combo&fDue == 0 { // the counters count due incidents only
					continue
				}
				k[cDue] += n
				for _, b := range [...]struct {
					bits uint8
					c    int
				}{{fHandled, cHandled}, {fHandledOnTime, cHandledOnTime}, {fClosed, cClosed},
					{fClosed | fHandledOnTime, cClosedOnTime}, {fReworked, cReworked}, {fExtended, cExtended}} {
					if uint8(combo)&b.bits == b.bits {
						k[b.c] += n
					}
				}
			}
		}
	}

	out := []grid.StatsRow{}
	idx := []int{}
	for g := range nGroups {
		k := sum.c[g*nCounters : (g+1)*nCounters]
		if k[cTotal] == 0 {
			continue
		}
		// Every row shares the dictionary's categories, each with its
		// own slice of the sums.
		r := grid.StatsRow{Key: keys[g], Total: k[cTotal],
			ByCategory:  grid.CategoryCounts{Codes: d.cats[1:nCat], N: sum.byCat[g*nCat+1 : (g+1)*nCat : (g+1)*nCat]},
			DueToHandle: k[cDue], DueToClose: k[cDue], Handled: k[cHandled], HandledOnTime: k[cHandledOnTime],
			Closed: k[cClosed], ClosedOnTime: k[cClosedOnTime], Reworked: k[cReworked], Extended: k[cExtended]}
		out = append(out, r)
		idx = append(idx, g)
	}
	order := make([]int, len(out))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		return cmp.Or(cmp.Compare(out[b].Total, out[a].Total), cmp.Compare(out[a].Key, out[b].Key))
	})
	sorted := make([]grid.StatsRow, len(out))
	for i, j := range order {
		sorted[i] = out[j]
		if nb > 0 {
			g := idx[j]
			sorted[i].Series = make([]grid.SeriesPoint, nb)
			for b := range nb {
				sorted[i].Series[b] = grid.SeriesPoint{Start: starts[b], Count: sum.series[g*nb+b]}
			}
		}
	}
	if f.Top > 0 && len(sorted) > f.Top {
		sorted = sorted[:f.Top]
	}
	return sorted
}

// bucketStarts are the starts of the local days, ISO weeks or months
// meeting [from, to), the first one's start at or before from.
func bucketStarts(interval string, from, to time.Time, offset int64) []time.Time {
	loc := time.FixedZone("", int(offset))
	l := from.In(loc)
	s := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
	switch interval {
	case "week":
		s = s.AddDate(0, 0, -((int(s.Weekday()) + 6) % 7))
	case "month":
		s = time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, loc)
	}
	var out []time.Time
	for i := 0; ; i++ {
		var b time.Time
		switch interval {
		case "day":
			b = s.AddDate(0, 0, i)
		case "week":
			b = s.AddDate(0, 0, 7*i)
		default:
			b = s.AddDate(0, i, 0)
		}
		if !b.Before(to) {
			return out
		}
		out = append(out, b.UTC()) // as instants, like the SQL path
	}
}
