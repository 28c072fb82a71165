package hexbin

import (
	"fmt"

	"github.com/uber/h3-go/v4"
)

// Heatmaps are served at H3 resolutions MinRes…BaseRes, and at each
// resolution r an incident counts in latLngToCell(point, r). H3 cells do
// not nest exactly: near cell edges the parent of a finer cell is not the
// cell that holds the point (about 6.5 % of points at each resolution). So
// the rollups keep, per incident, a base entry at BaseRes — the incident's
// own cell, counted at every r in its parent — and, for each coarser r
// where that parent is wrong, a correction counted at r only: +1 at the
// cell that holds the point, −1 at the parent (see grid.RollupSource).
const (
	MinRes  = 5
	BaseRes = 10
)

// Parent is the parent at res of a valid cell of resolution ≥ res: the
// resolution field set to res and the digits of finer resolutions set to 7
// (unused), as the H3 index layout defines it. It equals h3's
// cellToParent, without the call into C.
func Parent(c h3.Cell, res int) h3.Cell {
	const resShift = 52
	unused := uint64(1)<<(3*(15-res)) - 1
	return h3.Cell(uint64(c)&^(15<<resShift)&^unused | uint64(res)<<resShift | unused)
}

// Corrections calls fn for each resolution r in MinRes…BaseRes−1 at which
// the point ll does not lie in the parent of base, its cell at BaseRes:
// exact is latLngToCell(ll, r), parent the parent of base at r. Errors:
// base is not a valid BaseRes cell, or H3 cannot index ll.
func Corrections(ll h3.LatLng, base h3.Cell, fn func(res int, exact, parent h3.Cell)) error {
	if base.Resolution() != BaseRes || !base.IsValid() {
		return fmt.Errorf("h3 %x: not a resolution-%d cell", uint64(base), BaseRes)
	}
	for r := BaseRes - 1; r >= MinRes; r-- {
		exact, err := h3.LatLngToCell(ll, r)
		if err != nil {
			return fmt.Errorf("point %v: %w", ll, err)
		}
		if p := Parent(base, r); exact != p {
			fn(r, exact, p)
		}
	}
	return nil
}
