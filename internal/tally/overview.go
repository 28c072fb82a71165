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

// Period and counter indexes of the overview's sums.
const (
	pToday = iota
	pMonth
	nPeriods
)

const (
	oNew = iota
	oClosed
	oOverdue
	oSupervised
	nOverview
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
	// Per unit (0) and child (1 + number): periods × (counters + themes ×
	// counters), then due to close and closed on time this month.
	per := nPeriods*nOverview*(1+nTh) + 2
	units := 1 + len(childCodes)

	type acc struct {
		u     []int64
		cells []int64 // new this month per cell
		daily []int64 // days × (new, closed)
	}
	workers := runtime.GOMAXPROCS(0)
	accs := make([]acc, workers)
	for i := range accs {
		accs[i] = acc{u: make([]int64, units*per), cells: make([]int64, len(d.cells)), daily: make([]int64, 2*days)}
	}
	add := func(u []int64, th int8, p, k int) {
		u[p*nOverview*(1+nTh)+k]++
		if th >= 0 {
			u[p*nOverview*(1+nTh)+nOverview*(1+int(th))+k]++
		}
	}
	parallel(v.chunks, workers, func(w int, c *chunk) {
		if c.n == 0 || (c.maxOcc < lo && c.maxWhen < lo) {
			return
		}
		a := &accs[w]
		for i := range chunkSize {
			o, wh := c.occ[i], c.when[i]
			if (o < lo && wh < lo) || c.cat[i] == 0 {
				continue
			}
			p := c.place[i]
			if !unitOK[p] {
				continue
			}
			fl, th := c.flags[i], theme[c.cat[i]]
			targets := [2][]int64{a.u[:per]}
			if ch := child[p]; ch >= 0 {
				targets[1] = a.u[(1+int(ch))*per : (2+int(ch))*per]
			}
			for pr := range nPeriods {
				b := bounds[pr]
				inOcc := o >= b[0] && o < b[1]
				inWhen := wh >= b[0] && wh < b[1]
				for _, u := range targets {
					if u == nil {
						continue
					}
					if inOcc {
						add(u, th, pr, oNew)
						if fl&fSupervised != 0 {
							add(u, th, pr, oSupervised)
						}
						if pr == pMonth && fl&fDue != 0 {
							u[per-2]++
							if fl&(fClosed|fHandledOnTime) == fClosed|fHandledOnTime {
								u[per-1]++
							}
						}
					}
					if inWhen && fl&fClosed != 0 {
						add(u, th, pr, oClosed)
					}
					if inWhen && fl&fOpen != 0 && nowS > wh {
						add(u, th, pr, oOverdue)
					}
				}
			}
			if o >= bounds[pMonth][0] && o < bounds[pMonth][1] {
				a.cells[d.placeCell[p]]++
			}
			if o >= d0 && o < dEnd {
				a.daily[2*((o-d0)/86400)]++
			}
			if fl&fClosed != 0 && wh >= d0 && wh < dEnd {
				a.daily[2*((wh-d0)/86400)+1]++
			}
		}
	})
	sum := accs[0]
	for _, a := range accs[1:] {
		for i, n := range a.u {
			sum.u[i] += n
		}
		for i, n := range a.cells {
			sum.cells[i] += n
		}
		for i, n := range a.daily {
			sum.daily[i] += n
		}
	}
	unit := func(u []int64) grid.OverviewUnit {
		var out grid.OverviewUnit
		for pr, dst := range []*grid.OverviewPeriod{&out.Today, &out.Month} {
			at := func(th, k int) int64 { return u[pr*nOverview*(1+nTh)+nOverview*th+k] }
			counts := func(th int) grid.OverviewCounts {
				return grid.OverviewCounts{New: at(th, oNew), Closed: at(th, oClosed), Overdue: at(th, oOverdue), Supervised: at(th, oSupervised)}
			}
			dst.OverviewCounts = counts(0)
			dst.ByTheme = make([]grid.OverviewCounts, nTh)
			for th := range nTh {
				dst.ByTheme[th] = counts(1 + th)
			}
		}
		out.DueToClose, out.ClosedOnTime = u[per-2], u[per-1]
		return out
	}
	out := grid.Overview{Unit: unit(sum.u[:per]), Children: map[string]grid.OverviewUnit{}}
	for ch, code := range childCodes {
		u := sum.u[(1+ch)*per : (2+ch)*per]
		if slices.ContainsFunc(u, func(n int64) bool { return n != 0 }) {
			out.Children[code] = unit(u)
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
