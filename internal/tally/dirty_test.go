package tally

import (
	"math/rand/v2"
	"testing"

	"github.com/citygrid/citygrid/internal/grid"
)

// Dirty ranges stay sorted, disjoint and not adjacent, cover every id
// reported, and keep the earliest and latest clock of what they merged;
// coarsening still covers every id.
func TestDirtyRanges(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var ds []dirtyRange
	reported := map[int64]uint64{} // id → first clock
	for clock := uint64(1); clock <= 3000; clock++ {
		first := 1 + r.Int64N(20_000)
		last := first + r.Int64N(3)
		ds = addDirty(ds, dirtyRange{grid.IDRange{First: first, Last: last}, clock, clock})
		for id := first; id <= last; id++ {
			if _, ok := reported[id]; !ok {
				reported[id] = clock
			}
		}
	}
	check := func(ds []dirtyRange, exact bool) {
		t.Helper()
		for i, d := range ds {
			if d.r.First > d.r.Last || d.minAt > d.maxAt || (i > 0 && d.r.First <= ds[i-1].r.Last+1) {
				t.Fatalf("range %d: %+v after %+v", i, d, ds[max(i-1, 0)])
			}
		}
		for id, at := range reported {
			found := false
			for _, d := range ds {
				if d.r.First <= id && id <= d.r.Last {
					found = d.minAt <= at
					break
				}
			}
			if !found {
				t.Fatalf("id %d (reported at %d) is not covered with its clock", id, at)
			}
		}
		if exact {
			n := 0
			for _, d := range ds {
				n += int(d.r.Last - d.r.First + 1)
			}
			if n != len(reported) {
				t.Fatalf("ranges hold %d ids, %d were reported", n, len(reported))
			}
		}
	}
	check(ds, true)
	few := coarsen(append([]dirtyRange(nil), ds...), 50)
	if len(few) > 50 {
		t.Fatalf("coarsened to %d", len(few))
	}
	check(few, false)
}
