package tally

import (
	"math/rand/v2"
	"testing"
)

// A chunk gives back every entry as it was set, narrow while the whens
// fit three bytes from its base and wide once one does not (far later,
// or before the base), and emptying a slot never widens it.
func TestChunkTimes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const t0 = 1_750_000_000
	for _, far := range []bool{false, true} {
		c := newChunk()
		want := map[int]entry{}
		for step := range 5000 {
			slot := r.IntN(chunkSize)
			e := entry{occ: t0 + uint32(r.IntN(86400)), place: uint16(r.IntN(3000)), cat: uint8(1 + r.IntN(200)), dept: uint8(r.IntN(40)), flag: uint8(r.IntN(256))}
			switch r.IntN(4) {
			case 0: // no when
			case 1:
				e.when = e.occ + uint32(r.IntN(30*86400))
			case 2: // emptied
				e = entry{}
			default:
				e.when = e.occ + uint32(r.IntN(90*86400))
			}
			if far && step == 2500 {
				e.cat, e.when = 1, e.occ+300*86400
			}
			c.set(slot, e)
			want[slot] = e
		}
		if wide := c.wide != nil; wide != far {
			t.Errorf("far whens %v: the chunk is wide %v", far, wide)
		}
		n := 0
		for slot, e := range want {
			if e.cat == 0 {
				if c.cat[slot] != 0 {
					t.Fatalf("slot %d: emptied, holds category %d", slot, c.cat[slot])
				}
				continue
			}
			n++
			got := entry{occ: c.occ[slot], when: c.whenAt(slot), place: c.place[slot], cat: c.cat[slot], dept: c.dept[slot], flag: c.flags[slot]}
			if got != e {
				t.Fatalf("far %v, slot %d: %+v, want %+v", far, slot, got, e)
			}
		}
		if c.n != n {
			t.Errorf("far %v: the chunk counts %d entries, holds %d", far, c.n, n)
		}
	}
	// A when before the base widens the chunk too.
	c := newChunk()
	c.set(0, entry{occ: t0, when: t0 + 60, cat: 1})
	c.set(1, entry{occ: t0, when: t0 - 2*baseLead, cat: 1})
	if c.wide == nil || c.whenAt(0) != t0+60 || c.whenAt(1) != t0-2*baseLead {
		t.Errorf("a when before the base: wide %v, whens %d %d", c.wide != nil, c.whenAt(0), c.whenAt(1))
	}
}
