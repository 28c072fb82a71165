// Package hexbin holds the statistics of hot spot analysis over H3 cells:
// the Getis-Ord Gi* statistic with FDR-corrected confidence bins (GiStar,
// FDRBins), the Mann-Kendall trend test (MannKendall) and the emerging hot
// spot classes of a time series of Gi* results (Classify, Emerging).
//
// A Study is the study area of an analysis: every H3 cell covering the city
// at one resolution, zero counts included, so that cold spots can exist, and
// the neighbour lists of each cell for a ring distance k, computed once.
// Counts are passed as slices aligned with the study's cells.
//
// Everything here is pure computation: no I/O, no global state; a Study is
// immutable and safe for concurrent use.
package hexbin

import (
	"fmt"
	"math"
	"slices"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/uber/h3-go/v4"
)

// MaxK is the largest neighbourhood ring distance NewStudy accepts. A disk
// of k rings holds 3k(k+1)+1 cells, so the neighbour lists grow with k²;
// 10 rings of res-9 cells reach about 1.7 km, far past any useful
// neighbourhood for incident hot spots.
const MaxK = 10

// Study is a study area: H3 cells of one resolution and, for each cell, the
// indexes of the cells within k grid rings of it (itself included) that are
// also in the study. Neighbours outside the study area are ignored. Build it
// with NewStudy once per area, resolution and k (see StudyCache); it is
// immutable and safe for concurrent use.
type Study struct {
	cells []h3.Cell
	index map[h3.Cell]int32
	k     int
	res   int
	// CSR layout: the neighbours of cell i are nbr[off[i]:off[i+1]], sorted.
	off []int32
	nbr []int32
}

// NewStudy builds the study area of cells with neighbourhoods of k grid
// rings (h3 GridDisk: every cell at grid distance ≤ k, the cell itself
// included). The cells are copied and keep their order: results and count
// slices are aligned with it. An empty list gives an empty study.
//
// Errors (kind grid.Invalid): k outside 1…MaxK, a value that is not a valid
// H3 cell, cells of different resolutions, a cell listed twice.
func NewStudy(cells []h3.Cell, k int) (*Study, error) {
	if k < 1 || k > MaxK {
		return nil, grid.Errorf(grid.Invalid, "neighbourhood k must be between 1 and %d, got %d", MaxK, k)
	}
	n := len(cells)
	if n > math.MaxInt32 {
		return nil, grid.Errorf(grid.Invalid, "study area of %d cells is too large", n)
	}
	s := &Study{
		cells: slices.Clone(cells),
		index: make(map[h3.Cell]int32, n),
		k:     k,
		off:   make([]int32, n+1),
	}
	if n == 0 {
		return s, nil
	}
	s.res = cells[0].Resolution()
	for i, c := range cells {
		if !c.IsValid() {
			return nil, grid.Errorf(grid.Invalid, "study cell %d (%x) is not a valid H3 cell", i, uint64(c))
		}
		if r := c.Resolution(); r != s.res {
			return nil, grid.Errorf(grid.Invalid, "study cell %s has resolution %d, the study %d", c, r, s.res)
		}
		if j, dup := s.index[c]; dup {
			return nil, grid.Errorf(grid.Invalid, "study cell %s is listed twice (at %d and %d)", c, j, i)
		}
		s.index[c] = int32(i)
	}
	disks, err := gridDisks(s.cells, k)
	if err != nil {
		return nil, fmt.Errorf("hexbin: neighbours of the study cells: %w", err)
	}
	s.nbr = make([]int32, 0, n*(3*k*(k+1)+1))
	for i, disk := range disks {
		start := len(s.nbr)
		for _, c := range disk {
			if j, ok := s.index[c]; ok {
				s.nbr = append(s.nbr, j)
			}
		}
		// A fixed order makes the sums, and so the z-scores, reproducible
		// to the last bit whatever order h3 returns a disk in.
		slices.Sort(s.nbr[start:])
		s.off[i+1] = int32(len(s.nbr))
	}
	return s, nil
}

// gridDisks returns the GridDisk of every cell. One batched cgo call does
// them all; it refuses disks that meet a pentagon's distortion, and then
// each disk is asked for on its own with the safe algorithm.
func gridDisks(cells []h3.Cell, k int) ([][]h3.Cell, error) {
	if disks, err := h3.GridDisksUnsafe(cells, k); err == nil {
		return disks, nil
	}
	disks := make([][]h3.Cell, len(cells))
	for i, c := range cells {
		d, err := h3.GridDisk(c, k)
		if err != nil {
			return nil, fmt.Errorf("grid disk of %s: %w", c, err)
		}
		disks[i] = d
	}
	return disks, nil
}

// Len is the number of cells in the study area.
func (s *Study) Len() int { return len(s.cells) }

// K is the neighbourhood ring distance.
func (s *Study) K() int { return s.k }

// Resolution is the H3 resolution of the study's cells (0 for an empty study).
func (s *Study) Resolution() int { return s.res }

// Cell is the i-th cell of the study.
func (s *Study) Cell(i int) h3.Cell { return s.cells[i] }

// Cells returns a copy of the study's cells, in study order.
func (s *Study) Cells() []h3.Cell { return slices.Clone(s.cells) }

// Index returns the position of c in the study, for aligning counts.
func (s *Study) Index(c h3.Cell) (int, bool) {
	i, ok := s.index[c]
	return int(i), ok
}

// Neighbours returns the study indexes of the cells within k rings of cell
// i, the cell itself included, in ascending order (a fresh slice).
func (s *Study) Neighbours(i int) []int {
	out := make([]int, 0, s.off[i+1]-s.off[i])
	for _, j := range s.nbr[s.off[i]:s.off[i+1]] {
		out = append(out, int(j))
	}
	return out
}

// Result is the Gi* outcome of one cell. Z and P are the uncorrected z-score
// and two-sided p-value; Bin is the confidence bin after FDR correction
// (see FDRBins): ±3, ±2, ±1 for a hot (+) or cold (−) spot at 99, 95 or
// 90 % confidence, 0 for not significant.
type Result struct {
	Cell  h3.Cell
	Count float64
	Z, P  float64
	Bin   int
}

// GiStar computes the Getis-Ord Gi* statistic of every cell of the study for
// counts aligned with the study's cells (zero for a cell without incidents),
// with binary weights (w_ij = 1 for the cells within k rings of i, itself
// included, that are in the study area; 0 otherwise), as in Getis & Ord
// (1992, 1995) and ArcGIS's Hot Spot Analysis:
//
//	Gi* = (Σ_j w_ij x_j − X̄ Σ_j w_ij) / (S · sqrt((n Σ_j w_ij² − (Σ_j w_ij)²) / (n − 1)))
//	X̄ = Σ_j x_j / n,  S = sqrt(Σ_j x_j² / n − X̄²)
//
// Gi* is itself a z-score; P is its two-sided p-value under the standard
// normal, erfc(|z|/√2). The numerator is summed as Σ_j w_ij (x_j − X̄) and
// S² as Σ_j (x_j − X̄)² / n, the same quantities with less rounding error.
//
// Degenerate inputs have no defined statistic and give z = 0, p = 1, bin 0
// for every cell, never NaN: fewer than 3 cells, all counts equal (S = 0).
// So does a single cell whose neighbourhood is the whole study area (its
// variance is 0).
//
// Results are in study order. Errors (kind grid.Invalid): len(counts) is not
// the study's size, a count is NaN or infinite.
func (s *Study) GiStar(counts []float64) ([]Result, error) {
	n := len(s.cells)
	if len(counts) != n {
		return nil, grid.Errorf(grid.Invalid, "%d counts for a study area of %d cells", len(counts), n)
	}
	out := make([]Result, n)
	z := make([]float64, n)
	p := make([]float64, n)
	if err := s.giStar(counts, z, p, make([]float64, n)); err != nil {
		return nil, err
	}
	bins := FDRBins(z, p)
	for i := range out {
		out[i] = Result{Cell: s.cells[i], Count: counts[i], Z: z[i], P: p[i], Bin: bins[i]}
	}
	return out, nil
}

// giStar fills z and p; dev is scratch space of the study's size.
func (s *Study) giStar(counts, z, p, dev []float64) error {
	n := len(s.cells)
	sum := 0.0
	equal := true
	for i, x := range counts {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return grid.Errorf(grid.Invalid, "count of cell %s is not a finite number", s.cells[i])
		}
		sum += x
		equal = equal && x == counts[0]
	}
	for i := range z {
		z[i], p[i] = 0, 1
	}
	if n < 3 || equal {
		return nil
	}
	mean := sum / float64(n)
	ss := 0.0
	for i, x := range counts {
		d := x - mean
		dev[i] = d
		ss += d * d
	}
	sd := math.Sqrt(ss / float64(n))
	if !(sd > 0) {
		return nil
	}
	nf := float64(n)
	for i := range z {
		nb := s.nbr[s.off[i]:s.off[i+1]]
		num := 0.0
		for _, j := range nb {
			num += dev[j]
		}
		w := float64(len(nb)) // Σ w_ij = Σ w_ij² with binary weights
		v := (nf*w - w*w) / (nf - 1)
		if !(v > 0) {
			continue
		}
		zi := num / (sd * math.Sqrt(v))
		z[i] = zi
		p[i] = TwoSidedP(zi)
	}
	return nil
}

// TwoSidedP is the two-sided p-value of a standard normal z-score,
// P(|Z| ≥ |z|) = erfc(|z|/√2), accurate far into the tails. NaN gives 1.
func TwoSidedP(z float64) float64 {
	if math.IsNaN(z) {
		return 1
	}
	return math.Erfc(math.Abs(z) / math.Sqrt2)
}

// The false discovery rates of the three confidence levels of a bin.
const (
	q90 = 0.10
	q95 = 0.05
	q99 = 0.01
)

// FDRBins gives each cell its confidence bin −3…+3 after false discovery
// rate (FDR) correction, as ArcGIS's Hot Spot Analysis does with "Apply
// False Discovery Rate (FDR) Correction": the p-values themselves are not
// changed, but the critical p-value of each confidence level is lowered to
// the Benjamini–Hochberg (1995) step-up cut-off over all m cells:
//
//   - sort the p-values ascending, p(1) ≤ … ≤ p(m);
//   - for q = 0.10, 0.05, 0.01 (90, 95, 99 % confidence) the critical
//     p-value is p(k) for the largest rank k with p(k) ≤ k·q/m (see
//     FDRThreshold); if there is no such k nothing is significant at that
//     level;
//   - a cell with p ≤ the 99 % critical value gets ±3, else with p ≤ the
//     95 % critical value ±2, else with p ≤ the 90 % critical value ±1,
//     else 0; the sign is the sign of its z-score (z = 0 gives 0).
//
// Cells whose p-values exceed their individual cut-off k·q/m are still
// significant when a larger p-value meets its own (step-up), exactly as in
// Benjamini–Hochberg. A NaN p-value ranks as 1 and is never significant.
// z and p must have the same length (FDRBins panics otherwise).
func FDRBins(z, p []float64) []int {
	if len(z) != len(p) {
		panic(fmt.Sprintf("hexbin.FDRBins: %d z-scores, %d p-values", len(z), len(p)))
	}
	sorted := sortedP(p)
	t99 := bhThreshold(sorted, q99)
	t95 := bhThreshold(sorted, q95)
	t90 := bhThreshold(sorted, q90)
	return binsAt(z, p, t99, t95, t90)
}

// UncorrectedBins gives the confidence bins without FDR correction: the
// critical p-values are 0.01, 0.05 and 0.10 (ArcGIS's bins with FDR
// correction unchecked; equivalently |z| ≥ 2.576, 1.960, 1.645). z and p
// must have the same length (it panics otherwise).
func UncorrectedBins(z, p []float64) []int {
	if len(z) != len(p) {
		panic(fmt.Sprintf("hexbin.UncorrectedBins: %d z-scores, %d p-values", len(z), len(p)))
	}
	return binsAt(z, p, q99, q95, q90)
}

// FDRThreshold is the Benjamini–Hochberg critical p-value of p at false
// discovery rate q: the largest p(k) of the ascending p-values with
// p(k) ≤ k·q/m, m = len(p). ok is false when no p-value qualifies (then
// none is significant). NaN p-values rank as 1.
func FDRThreshold(p []float64, q float64) (threshold float64, ok bool) {
	t := bhThreshold(sortedP(p), q)
	return t, t >= 0
}

func sortedP(p []float64) []float64 {
	s := make([]float64, len(p))
	for i, v := range p {
		if math.IsNaN(v) {
			v = 1
		}
		s[i] = v
	}
	slices.Sort(s)
	return s
}

// bhThreshold returns the critical p-value of the ascending p-values at rate
// q, or −1 when none qualifies (no p-value is ≤ −1).
func bhThreshold(sorted []float64, q float64) float64 {
	m := float64(len(sorted))
	for k := len(sorted); k >= 1; k-- {
		if sorted[k-1] <= float64(k)*q/m {
			return sorted[k-1]
		}
	}
	return -1
}

func binsAt(z, p []float64, t99, t95, t90 float64) []int {
	bins := make([]int, len(z))
	for i, zi := range z {
		sign := 0
		switch {
		case zi > 0:
			sign = 1
		case zi < 0:
			sign = -1
		}
		pi := p[i]
		switch {
		case sign == 0 || math.IsNaN(pi):
		case pi <= t99:
			bins[i] = 3 * sign
		case pi <= t95:
			bins[i] = 2 * sign
		case pi <= t90:
			bins[i] = sign
		}
	}
	return bins
}
