package tally

import (
	"cmp"
	"context"
	"errors"
	"math/bits"
	"runtime"
	"slices"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
)

// Periods of the overview.
const (
	pToday = iota
	pMonth
	nPeriods
)

// What a row counts in, as bits: new, supervised, closed and overdue in
// each period, due to close and closed on time this month.
const (
	eNewToday = iota
	eNewMonth
	eSupToday
	eSupMonth
	eClosedToday
	eClosedMonth
	eOverdueToday
	eOverdueMonth
	eDueMonth
	eOnTimeMonth
	nEvents
)

// Overview computes the big screen's figures for a unit and its children
// (see grid.OverviewQuery and grid.OverviewCounts). Until the model is
// loaded it answers Unavailable: the big screen retries.
func (t *Tally) Overview(ctx context.Context, q grid.OverviewQuery) (grid.Overview, error) {
	switch q.Level {
	case grid.LevelCity, grid.LevelTown, grid.LevelCommunity:
	default:
		return grid.Overview{}, grid.Errorf(grid.Invalid, "level: %q: want city, town or community", q.Level)
	}
	loaded, began := t.begin()
	if !loaded {
		return grid.Overview{}, grid.Errorf(grid.Unavailable, "the statistics read model is loading")
	}
	if err := t.catchUp(ctx, began); errors.Is(err, errReloaded) {
		return grid.Overview{}, grid.Errorf(grid.Unavailable, "the statistics read model is reloading")
	} else if err != nil {
		return grid.Overview{}, err
	}
	select {
	case t.scans <- struct{}{}:
	case <-ctx.Done():
		return grid.Overview{}, ctx.Err()
	}
	defer func() { <-t.scans }()
	return t.scanOverview(t.view(), q), nil
}

func (t *Tally) scanOverview(v view, q grid.OverviewQuery) grid.Overview {
	d := v.d
	loc := time.FixedZone("", int(t.offset))
	now := q.Now.In(loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, loc)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, loc)
	days := max(q.Days, 0)
	day0 := today.AddDate(0, 0, 1-days)
	bounds := [nPeriods][2]uint32{
		pToday: {uint32(today.Unix()), uint32(today.AddDate(0, 0, 1).Unix())},
		pMonth: {uint32(month.Unix()), uint32(month.AddDate(0, 1, 0).Unix())},
	}
	nowS := uint32(q.Now.Unix())
	d0, dEnd := uint32(day0.Unix()), bounds[pToday][1]
	lo := min(bounds[pMonth][0], d0)

	// Which places count, and the child each counts in (−1: none).
	// Sized for every place number (see scanStats): places this view does
	// not know are left out.
	unitOK := make([]bool, 1<<16)
	child := make([]int32, 1<<16)
	var childCodes []string
	switch q.Level {
	case grid.LevelCity:
		childCodes = d.towns
	case grid.LevelTown:
		childCodes = d.comms
	}
	want := -1
	switch q.Level {
	case grid.LevelTown:
		want = slices.Index(d.towns, q.Code)
	case grid.LevelCommunity:
		want = slices.Index(d.comms, q.Code)
	}
	for p := range d.placeCell {
		switch q.Level {
		case grid.LevelCity:
			unitOK[p], child[p] = true, int32(d.placeTown[p])
		case grid.LevelTown:
			unitOK[p], child[p] = want >= 0 && int(d.placeTown[p]) == want, int32(d.placeComm[p])
		default:
			unitOK[p], child[p] = want >= 0 && int(d.placeComm[p]) == want, -1
		}
	}
	var theme [256]int8
	for i := range theme {
		theme[i] = -1
	}
	for i, cats := range q.Themes {
		for c := 1; c < len(d.cats); c++ {
			if slices.Contains(cats, d.cats[c]) {
				theme[c] = int8(i)
			}
		}
	}
	nTh := len(q.Themes)
	nT := 1 + nTh // theme index + 1; 0: no theme
	nPlaces := len(d.placeCell)

	// Each worker counts, per place and theme, the events of each row (new
	// today, new this month, …: a few bits a row), then the units' figures
	// are sums over their places.
	type acc struct {
		ev    []int32 // nPlaces × nT × nEvents
		cells []int64 // new this month per cell
		daily []int64 // days × (new, closed)
	}
	workers := runtime.GOMAXPROCS(0)
	accs := make([]acc, workers)
	for i := range accs {
		accs[i] = acc{ev: make([]int32, nPlaces*nT*nEvents), cells: make([]int64, len(d.cells)), daily: make([]int64, 2*days)}
	}
	tLo, tSpan := bounds[pToday][0], bounds[pToday][1]-bounds[pToday][0]
	mLo, mSpan := bounds[pMonth][0], bounds[pMonth][1]-bounds[pMonth][0]
	dSpan := dEnd - d0
	parallel(v.chunks, workers, func(w int, c *chunk) {
		if c.n == 0 || (c.maxOcc < lo && c.maxWhen < lo) {
			return
		}
		a := &accs[w]
		ev, cells, daily := a.ev, a.cells, a.daily
		// The columns in a local: the counts written below could alias
		// the chunk as far as the compiler knows.
		col := c.columns
		for i := range chunkSize {
			o, wh := col.occ[i], c.whenAt(i)
			if o < lo && wh < lo {
				continue
			}
			p := col.place[i]
			if !unitOK[p] || col.cat[i] == 0 {
				continue
			}
			fl := col.flags[i]
			var m uint32
			if o-tLo < tSpan { // unsigned: below tLo wraps around
				m |= 1 << eNewToday
				if fl&fSupervised != 0 {
					m |= 1 << eSupToday
				}
			}
			if o-mLo < mSpan {
				m |= 1 << eNewMonth
				if fl&fSupervised != 0 {
					m |= 1 << eSupMonth
				}
				if fl&fDue != 0 {
					m |= 1 << eDueMonth
					if fl&(fClosed|fHandledOnTime) == fClosed|fHandledOnTime {
						m |= 1 << eOnTimeMonth
					}
				}
				cells[d.placeCell[p]]++
			}
			switch {
			case fl&fClosed != 0:
				if wh-tLo < tSpan {
					m |= 1 << eClosedToday
				}
				if wh-mLo < mSpan {
					m |= 1 << eClosedMonth
				}
				if wh-d0 < dSpan {
					daily[2*((wh-d0)/86400)+1]++
				}
			case fl&fOpen != 0 && nowS > wh:
				if wh-tLo < tSpan {
					m |= 1 << eOverdueToday
				}
				if wh-mLo < mSpan {
					m |= 1 << eOverdueMonth
				}
			}
			if o-d0 < dSpan {
				daily[2*((o-d0)/86400)]++
			}
			base := (int(p)*nT + int(theme[col.cat[i]]+1)) * nEvents
			for ; m != 0; m &= m - 1 {
				ev[base+bits.TrailingZeros32(m)]++
			}
		}
	})
	sum := accs[0]
	for _, a := range accs[1:] {
		for i, n := range a.ev {
			sum.ev[i] += n
		}
		for i, n := range a.cells {
			sum.cells[i] += n
		}
		for i, n := range a.daily {
			sum.daily[i] += n
		}
	}
	// Per unit (0) and child (1 + number): events in all and per theme.
	units := 1 + len(childCodes)
	per := nT * nEvents
	u := make([]int64, units*per)
	for p := range nPlaces {
		if !unitOK[p] {
			continue
		}
		for t := range nT {
			src := sum.ev[(p*nT+t)*nEvents : (p*nT+t+1)*nEvents]
			for k, n := range src {
				if n == 0 {
					continue
				}
				u[k] += int64(n) // the unit, every theme
				if t > 0 {
					u[t*nEvents+k] += int64(n)
				}
				if ch := child[p]; ch >= 0 {
					cu := u[(1+int(ch))*per:]
					cu[k] += int64(n)
					if t > 0 {
						cu[t*nEvents+k] += int64(n)
					}
				}
			}
		}
	}
	unit := func(u []int64) grid.OverviewUnit {
		counts := func(t int, new, closed, overdue, sup int) grid.OverviewCounts {
			e := u[t*nEvents : (t+1)*nEvents]
			return grid.OverviewCounts{New: e[new], Closed: e[closed], Overdue: e[overdue], Supervised: e[sup]}
		}
		var out grid.OverviewUnit
		out.Today.OverviewCounts = counts(0, eNewToday, eClosedToday, eOverdueToday, eSupToday)
		out.Month.OverviewCounts = counts(0, eNewMonth, eClosedMonth, eOverdueMonth, eSupMonth)
		out.Today.ByTheme, out.Month.ByTheme = make([]grid.OverviewCounts, nTh), make([]grid.OverviewCounts, nTh)
		for th := range nTh {
			out.Today.ByTheme[th] = counts(1+th, eNewToday, eClosedToday, eOverdueToday, eSupToday)
			out.Month.ByTheme[th] = counts(1+th, eNewMonth, eClosedMonth, eOverdueMonth, eSupMonth)
		}
		out.DueToClose, out.ClosedOnTime = u[eDueMonth], u[eOnTimeMonth]
		return out
	}
	out := grid.Overview{Unit: unit(u[:per]), Children: map[string]grid.OverviewUnit{}}
	for ch, code := range childCodes {
		cu := u[(1+ch)*per : (2+ch)*per]
		if slices.ContainsFunc(cu, func(n int64) bool { return n != 0 }) {
			out.Children[code] = unit(cu)
		}
	}
	for c, n := range sum.cells {
		if n > 0 {
			out.TopCells = append(out.TopCells, grid.CodeCount{Code: d.cells[c], Count: n})
		}
	}
	slices.SortFunc(out.TopCells, func(a, b grid.CodeCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Code, b.Code))
	})
	if len(out.TopCells) > q.Top {
		out.TopCells = out.TopCells[:q.Top]
	}
	for i := range days {
		out.Daily = append(out.Daily, grid.OverviewDay{Day: grid.DateOf(day0.AddDate(0, 0, i)), New: sum.daily[2*i], Closed: sum.daily[2*i+1]})
	}
	return out
}
