package hexbin

import (
	"fmt"
	"math"
	"sync"

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

// Exact finds the corrections of incidents' points. For each resolution it
// asks latLngToCell only about points near or outside the edges of the
// parent: a point well inside the parent's boundary — farther than 2 % of
// the cell's inradius from each of its six edges, taken as straight lines
// in a plane tangent at the cell's centre — lies in that cell (edges bend
// from straight by under a metre at resolution 5, whose inradius is 7 km;
// 2 % of it is 150 m). About nine points in ten need no call into C.
// Cells it has met are kept (a few hundred kilobytes for a city). The zero
// value is ready to use; safe for concurrent use.
type Exact struct {
	mu    sync.RWMutex
	cells map[h3.Cell]*interior
}

// interior is the part of a cell where its points need no check: points p
// with n[i]·p ≥ c[i] for each edge i, in the cell's tangent plane
// (x = Δlng·cos lat₀, y = Δlat, degrees from the centre). A cell that is
// not a convex hexagon there (one crossing an icosahedron face) has none.
type interior struct {
	lat0, lng0, cos0 float64
	n                [6][2]float64
	c                [6]float64
	none             bool
}

// Corrections calls fn for each resolution r in MinRes…BaseRes−1 at which
// the point ll does not lie in the parent of base, its cell at BaseRes:
// exact is latLngToCell(ll, r), parent the parent of base at r. Errors:
// base is not a valid BaseRes cell, or H3 cannot index ll.
func (e *Exact) Corrections(ll h3.LatLng, base h3.Cell, fn func(res int, exact, parent h3.Cell)) error {
	if base.Resolution() != BaseRes || !base.IsValid() {
		return fmt.Errorf("h3 %x: not a resolution-%d cell", uint64(base), BaseRes)
	}
	for r := BaseRes - 1; r >= MinRes; r-- {
		p := Parent(base, r)
		in, err := e.interiorOf(p)
		if err != nil {
			return err
		}
		if in.contains(ll) {
			continue
		}
		exact, err := h3.LatLngToCell(ll, r)
		if err != nil {
			return fmt.Errorf("point %v: %w", ll, err)
		}
		if exact != p {
			fn(r, exact, p)
		}
	}
	return nil
}

func (in *interior) contains(ll h3.LatLng) bool {
	if in.none {
		return false
	}
	x, y := (ll.Lng-in.lng0)*in.cos0, ll.Lat-in.lat0
	for i := range in.n {
		if in.n[i][0]*x+in.n[i][1]*y < in.c[i] {
			return false
		}
	}
	return true
}

func (e *Exact) interiorOf(c h3.Cell) (*interior, error) {
	e.mu.RLock()
	in := e.cells[c]
	e.mu.RUnlock()
	if in != nil {
		return in, nil
	}
	in, err := newInterior(c)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	if e.cells == nil {
		e.cells = map[h3.Cell]*interior{}
	}
	e.cells[c] = in
	e.mu.Unlock()
	return in, nil
}

func newInterior(c h3.Cell) (*interior, error) {
	ctr, err := c.LatLng()
	if err != nil {
		return nil, fmt.Errorf("h3 %s: %w", c, err)
	}
	b, err := c.Boundary()
	if err != nil {
		return nil, fmt.Errorf("h3 %s: %w", c, err)
	}
	in := &interior{lat0: ctr.Lat, lng0: ctr.Lng, cos0: math.Cos(ctr.Lat * math.Pi / 180)}
	if len(b) != len(in.n) {
		in.none = true
		return in, nil
	}
	var xs, ys [6]float64
	for i, v := range b {
		xs[i], ys[i] = (v.Lng-in.lng0)*in.cos0, v.Lat-in.lat0
	}
	sign := 1.0 // the edges' inward normals, whichever way the boundary runs
	if area := shoelace(xs, ys); area < 0 {
		sign = -1
	}
	inradius := math.Inf(1)
	for i := range xs {
		j := (i + 1) % len(xs)
		dx, dy := xs[j]-xs[i], ys[j]-ys[i]
		l := math.Hypot(dx, dy)
		if l == 0 {
			in.none = true
			return in, nil
		}
		nx, ny := -dy/l*sign, dx/l*sign // left of the edge when counter-clockwise
		in.n[i] = [2]float64{nx, ny}
		d := -(nx*xs[i] + ny*ys[i]) // the centre's distance from the edge, inward
		if d <= 0 {                 // not convex about the centre
			in.none = true
			return in, nil
		}
		inradius = min(inradius, d)
		in.c[i] = nx*xs[i] + ny*ys[i]
	}
	for i := range in.c {
		in.c[i] += 0.02 * inradius
	}
	return in, nil
}

func shoelace(xs, ys [6]float64) float64 {
	var a float64
	for i := range xs {
		j := (i + 1) % len(xs)
		a += xs[i]*ys[j] - xs[j]*ys[i]
	}
	return a / 2
}
