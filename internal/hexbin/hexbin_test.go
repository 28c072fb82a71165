package hexbin

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/uber/h3-go/v4"
)

// centre is a res-9 cell in the demo city (121.2E, 28.85N).
func centre(t testing.TB) h3.Cell {
	t.Helper()
	c, err := h3.LatLngToCell(h3.NewLatLng(28.85, 121.2), 9)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func disk(t testing.TB, c h3.Cell, k int) []h3.Cell {
	t.Helper()
	d, err := h3.GridDisk(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func dist(t testing.TB, a, b h3.Cell) int {
	t.Helper()
	d, err := h3.GridDistance(a, b)
	if err != nil {
		t.Fatalf("GridDistance(%s, %s): %v", a, b, err)
	}
	return d
}

func mustStudy(t testing.TB, cells []h3.Cell, k int) *Study {
	t.Helper()
	s, err := NewStudy(cells, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// naiveGiStar is the textbook Gi* with an O(n²) weight matrix built from
// h3's grid distance, written without anything from the package under test.
func naiveGiStar(t testing.TB, cells []h3.Cell, x []float64, k int) (z, p []float64) {
	t.Helper()
	n := len(cells)
	nf := float64(n)
	sumX, sumX2 := 0.0, 0.0
	for _, v := range x {
		sumX += v
		sumX2 += v * v
	}
	mean := sumX / nf
	s := math.Sqrt(sumX2/nf - mean*mean)
	z = make([]float64, n)
	p = make([]float64, n)
	for i := range cells {
		wx, w, w2 := 0.0, 0.0, 0.0
		for j := range cells {
			wij := 0.0
			if dist(t, cells[i], cells[j]) <= k {
				wij = 1
			}
			wx += wij * x[j]
			w += wij
			w2 += wij * wij
		}
		z[i] = (wx - mean*w) / (s * math.Sqrt((nf*w2-w*w)/(nf-1)))
		// Φ from the error function: p = 2(1 − Φ(|z|)).
		phi := 0.5 * (1 + math.Erf(math.Abs(z[i])/math.Sqrt2))
		p[i] = 2 * (1 - phi)
	}
	return z, p
}

// TestGiStarHandComputed: the centre cell and two rings around it (19 cells),
// k = 1, counts 10 at the centre, 5 on ring 1, 0 on ring 2.
//
// n = 19, Σx = 10 + 6·5 = 40, X̄ = 40/19, Σx² = 100 + 6·25 = 250,
// S² = 250/19 − (40/19)² = (4750 − 1600)/361 = 3150/361, S = √3150/19.
// Centre: all 7 cells of its disk are in the study: Σw = Σw² = 7,
// Σwx = 40, numerator = 40 − 7·40/19 = 480/19,
// denominator = (√3150/19)·√((19·7 − 49)/18) = (√3150/19)·√(14/3),
// z = 480/√(3150·14/3) = 480/√14700 = 3.958973…, p = 7.527e−5.
// Ring 1 (W = 7, Σwx = 5 + 10 + 2·5 = 25): z = 195/√14700 = 1.608333….
// Ring-2 corner (W = 4: itself, one ring-1, two ring-2; Σwx = 5):
// z = (5 − 160/19)/((√3150/19)·√(60/18)) = −65/√10500 = −0.634335….
// Ring-2 edge (W = 5: itself, two ring-1, two ring-2; Σwx = 10):
// z = −10/√12250 = −0.090351….
// FDR: only the centre's p is below its BH cut-off (1·0.01/19 = 5.3e−4),
// the six ring-1 cells (p = 0.108) miss even rank 7·0.10/19 = 0.037.
func TestGiStarHandComputed(t *testing.T) {
	c := centre(t)
	cells := disk(t, c, 2)
	if len(cells) != 19 {
		t.Fatalf("disk of 2 rings has %d cells", len(cells))
	}
	counts := make([]float64, len(cells))
	ring := make([]int, len(cells))
	for i, x := range cells {
		ring[i] = dist(t, c, x)
		counts[i] = []float64{10, 5, 0}[ring[i]]
	}
	s := mustStudy(t, cells, 1)
	res, err := s.GiStar(counts)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Cell != cells[i] || r.Count != counts[i] {
			t.Fatalf("result %d is %s/%v, want %s/%v", i, r.Cell, r.Count, cells[i], counts[i])
		}
		var want float64
		switch ring[i] {
		case 0:
			want = 480 / math.Sqrt(14700)
		case 1:
			want = 195 / math.Sqrt(14700)
		default:
			inStudy := 0 // study cells within one ring, itself included
			for _, y := range cells {
				if dist(t, r.Cell, y) <= 1 {
					inStudy++
				}
			}
			switch inStudy {
			case 4:
				want = -65 / math.Sqrt(10500)
			case 5:
				want = -10 / math.Sqrt(12250)
			default:
				t.Fatalf("ring-2 cell with %d study cells around it", inStudy)
			}
		}
		if !near(r.Z, want, 1e-12) {
			t.Errorf("ring %d cell %s: z = %.15g, want %.15g", ring[i], r.Cell, r.Z, want)
		}
		wantBin := 0
		if ring[i] == 0 {
			wantBin = 3
			if !near(r.P, 7.527265841737758e-05, 1e-9) {
				t.Errorf("centre p = %g", r.P)
			}
		}
		if r.Bin != wantBin {
			t.Errorf("ring %d cell: bin %d, want %d", ring[i], r.Bin, wantBin)
		}
	}
	if z := res[slices.Index(cells, c)].Z; math.Abs(z-3.958973) > 1e-6 {
		t.Errorf("centre z = %v, want 3.958973 (hand arithmetic)", z)
	}
}

// TestGiStarAgainstNaive compares with the plain O(n²) textbook formula on
// irregular study areas (holes, ragged edges) and uneven counts.
func TestGiStarAgainstNaive(t *testing.T) {
	c := centre(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct {
		rings, k int
		drop     float64 // share of the disk left out of the study
	}{
		{2, 1, 0}, {3, 1, 0.2}, {4, 2, 0.3}, {5, 1, 0.5}, {4, 3, 0.1},
	} {
		t.Run(fmt.Sprintf("rings%d_k%d", tc.rings, tc.k), func(t *testing.T) {
			var cells []h3.Cell
			for _, x := range disk(t, c, tc.rings) {
				if rng.Float64() >= tc.drop {
					cells = append(cells, x)
				}
			}
			counts := make([]float64, len(cells))
			for i := range counts {
				if rng.IntN(3) == 0 {
					counts[i] = float64(rng.IntN(20))
				}
			}
			s := mustStudy(t, cells, tc.k)
			res, err := s.GiStar(counts)
			if err != nil {
				t.Fatal(err)
			}
			z, p := naiveGiStar(t, cells, counts, tc.k)
			for i, r := range res {
				if !near(r.Z, z[i], 1e-9) || math.Abs(r.P-p[i]) > 1e-12 {
					t.Errorf("cell %d: z, p = %.12g, %.6g; naive %.12g, %.6g", i, r.Z, r.P, z[i], p[i])
				}
			}
			bins := naiveBH(z, p)
			for i, r := range res {
				if r.Bin != bins[i] {
					t.Errorf("cell %d: bin %d, naive BH %d", i, r.Bin, bins[i])
				}
			}
		})
	}
}

// naiveBH bins with Benjamini–Hochberg adjusted p-values,
// p_adj(k) = min_{j ≥ k} m·p(j)/j: significant at rate q when p_adj ≤ q.
func naiveBH(z, p []float64) []int {
	m := len(p)
	order := make([]int, m)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		if p[a] < p[b] {
			return -1
		}
		if p[a] > p[b] {
			return 1
		}
		return 0
	})
	adj := make([]float64, m)
	run := math.Inf(1)
	for r := m; r >= 1; r-- {
		i := order[r-1]
		run = math.Min(run, float64(m)*p[i]/float64(r))
		adj[i] = run
	}
	bins := make([]int, m)
	for i := range p {
		level := 0
		switch {
		case adj[i] <= 0.01:
			level = 3
		case adj[i] <= 0.05:
			level = 2
		case adj[i] <= 0.10:
			level = 1
		}
		switch {
		case z[i] > 0:
			bins[i] = level
		case z[i] < 0:
			bins[i] = -level
		}
	}
	return bins
}

// TestNeighboursMatchH3 checks the neighbour lists against h3's own grid
// distance: j is a neighbour of i exactly when both are in the study and
// GridDistance(i, j) ≤ k.
func TestNeighboursMatchH3(t *testing.T) {
	c := centre(t)
	rng := rand.New(rand.NewPCG(3, 4))
	var cells []h3.Cell
	for _, x := range disk(t, c, 6) {
		if rng.IntN(4) != 0 {
			cells = append(cells, x)
		}
	}
	for _, k := range []int{1, 2, 3} {
		s := mustStudy(t, cells, k)
		if s.Len() != len(cells) || s.K() != k || s.Resolution() != 9 {
			t.Fatalf("study len %d k %d res %d", s.Len(), s.K(), s.Resolution())
		}
		for i := range cells {
			var want []int
			for j := range cells {
				if dist(t, cells[i], cells[j]) <= k {
					want = append(want, j)
				}
			}
			if got := s.Neighbours(i); !slices.Equal(got, want) {
				t.Fatalf("k=%d cell %d: neighbours %v, want %v", k, i, got, want)
			}
			if j, ok := s.Index(cells[i]); !ok || j != i || s.Cell(i) != cells[i] {
				t.Fatalf("Index(%s) = %d, %v", cells[i], j, ok)
			}
		}
	}
	if _, ok := mustStudy(t, cells, 1).Index(0x89309a4c1a7ffff); ok {
		t.Error("Index found a cell outside the study")
	}
}

// TestNeighboursAroundPentagon takes the path where the batched disk
// refuses a pentagon's distortion; the oracle is h3's IsNeighbor.
func TestNeighboursAroundPentagon(t *testing.T) {
	pents, err := h3.Pentagons(9)
	if err != nil {
		t.Fatal(err)
	}
	cells := disk(t, pents[0], 3)
	s := mustStudy(t, cells, 1)
	for i, a := range cells {
		var want []int
		for j, b := range cells {
			adj, err := a.IsNeighbor(b)
			if err != nil {
				t.Fatal(err)
			}
			if i == j || adj {
				want = append(want, j)
			}
		}
		if got := s.Neighbours(i); !slices.Equal(got, want) {
			t.Fatalf("cell %d (%s): neighbours %v, want %v", i, a, got, want)
		}
	}
	if got := len(s.Neighbours(slices.Index(cells, pents[0]))); got != 6 {
		t.Errorf("the pentagon has %d cells in its disk, want 6", got)
	}
}

func TestFDRBinsKnownCutoffs(t *testing.T) {
	// m = 10. Cut-offs k·q/m: q = 0.01 → 0.001k, q = 0.05 → 0.005k,
	// q = 0.10 → 0.01k.
	p := []float64{0.0005, 0.008, 0.039, 0.041, 0.042, 0.058, 0.074, 0.205, 0.212, 0.216}
	// q = 0.01: p(1) = 0.0005 ≤ 0.001; p(2) = 0.008 > 0.002, …: critical 0.0005.
	// q = 0.05: p(2) = 0.008 ≤ 0.010, p(3) = 0.039 > 0.015, none above: 0.008.
	// q = 0.10: p(6) = 0.058 ≤ 0.06 is the largest rank that passes (p(7) =
	// 0.074 > 0.07, p(8…10) > 0.08…0.10), so p(3), p(4) pass too although
	// 0.039 > 0.03 and 0.041 > 0.04 (step-up): critical 0.058.
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0.01, 0.0005}, {0.05, 0.008}, {0.10, 0.058}} {
		got, ok := FDRThreshold(p, tc.q)
		if !ok || got != tc.want {
			t.Errorf("FDRThreshold(q=%v) = %v, %v; want %v", tc.q, got, ok, tc.want)
		}
	}
	z := []float64{4, -3, 2.1, -2.0, 2.0, 1.9, 1.8, 1.3, -1.2, 1.2}
	want := []int{3, -2, 1, -1, 1, 1, 0, 0, 0, 0}
	if got := FDRBins(z, p); !slices.Equal(got, want) {
		t.Errorf("FDRBins = %v, want %v", got, want)
	}
	// Without correction 0.008 and 0.039…0.042 are at 95 %, 0.058 and
	// 0.074 at 90 %.
	if got, want := UncorrectedBins(z, p), []int{3, -3, 2, -2, 2, 1, 1, 0, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("UncorrectedBins = %v, want %v", got, want)
	}
	// Order does not matter.
	perm := []int{9, 3, 0, 7, 5, 1, 8, 2, 6, 4}
	pp, zz := make([]float64, 10), make([]float64, 10)
	for i, j := range perm {
		pp[i], zz[i] = p[j], z[j]
	}
	got := FDRBins(zz, pp)
	for i, j := range perm {
		if got[i] != want[j] {
			t.Errorf("permuted: bin of p=%v is %d, want %d", pp[i], got[i], want[j])
		}
	}
}

func TestFDRBinsEdges(t *testing.T) {
	if got := FDRBins(nil, nil); len(got) != 0 {
		t.Errorf("FDRBins(nil) = %v", got)
	}
	if _, ok := FDRThreshold([]float64{0.5, 0.9, 1}, 0.05); ok {
		t.Error("a threshold where nothing is significant")
	}
	// z = 0 is never a spot; NaN p ranks as 1 and is never significant.
	got := FDRBins([]float64{0, 5, 5}, []float64{1e-9, math.NaN(), 1e-9})
	if !slices.Equal(got, []int{0, 0, 3}) {
		t.Errorf("FDRBins = %v", got)
	}
	defer func() {
		if recover() == nil {
			t.Error("FDRBins accepted slices of different lengths")
		}
	}()
	FDRBins([]float64{1}, nil)
}

func TestGiStarDegenerate(t *testing.T) {
	c := centre(t)
	cells := disk(t, c, 2)
	s := mustStudy(t, cells, 1)
	flat := func(t *testing.T, res []Result) {
		t.Helper()
		for _, r := range res {
			if r.Z != 0 || r.P != 1 || r.Bin != 0 {
				t.Fatalf("degenerate input gave z %v p %v bin %d", r.Z, r.P, r.Bin)
			}
		}
	}
	for _, v := range []float64{0, 1, 0.1, 1e9} {
		counts := make([]float64, len(cells))
		for i := range counts {
			counts[i] = v
		}
		res, err := s.GiStar(counts)
		if err != nil {
			t.Fatal(err)
		}
		flat(t, res)
	}
	for n := 0; n < 3; n++ {
		s := mustStudy(t, cells[:n], 1)
		res, err := s.GiStar([]float64{7, 1}[:n])
		if err != nil || len(res) != n {
			t.Fatalf("n=%d: %v, %d results", n, err, len(res))
		}
		flat(t, res)
	}
	// Three mutually adjacent cells, k = 1: every neighbourhood is the
	// whole study, the variance of every Gi* is 0.
	ring := disk(t, c, 1)
	var tri []h3.Cell
	for _, a := range ring {
		for _, b := range ring {
			if a == c || b == c || a >= b {
				continue
			}
			if adj, _ := a.IsNeighbor(b); adj && tri == nil {
				tri = []h3.Cell{c, a, b}
			}
		}
	}
	res, err := mustStudy(t, tri, 1).GiStar([]float64{9, 0, 1})
	if err != nil {
		t.Fatal(err)
	}
	flat(t, res)

	if _, err := s.GiStar(make([]float64, 3)); grid.KindOf(err) != grid.Invalid {
		t.Errorf("short counts: %v", err)
	}
	bad := make([]float64, len(cells))
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		bad[4] = v
		if _, err := s.GiStar(bad); grid.KindOf(err) != grid.Invalid {
			t.Errorf("count %v: %v", v, err)
		}
	}
}

func TestNewStudyInvalid(t *testing.T) {
	c := centre(t)
	cells := disk(t, c, 1)
	parent, err := c.Parent(8)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		cells []h3.Cell
		k     int
	}{
		"k=0":        {cells, 0},
		"k<0":        {cells, -1},
		"k too big":  {cells, MaxK + 1},
		"not a cell": {append(slices.Clone(cells), 42), 1},
		"mixed res":  {append(slices.Clone(cells), parent), 1},
		"duplicate":  {append(slices.Clone(cells), cells[3]), 1},
	} {
		if _, err := NewStudy(tc.cells, tc.k); grid.KindOf(err) != grid.Invalid {
			t.Errorf("%s: err = %v, want kind invalid", name, err)
		}
	}
	s, err := NewStudy(nil, 1)
	if err != nil || s.Len() != 0 {
		t.Fatalf("empty study: %v", err)
	}
	if res, err := s.GiStar(nil); err != nil || len(res) != 0 {
		t.Errorf("empty GiStar: %v %v", res, err)
	}
	// The study keeps its own copy of the cells.
	in := slices.Clone(cells)
	s = mustStudy(t, in, 1)
	in[0] = 0
	if s.Cell(0) != cells[0] || s.Cells()[0] != cells[0] {
		t.Error("the study shares the caller's slice")
	}
}

func TestMannKendall(t *testing.T) {
	for _, tc := range []struct {
		name string
		x    []float64
		s    int
		v    float64
		z, p float64
	}{
		// 10 pairs, all increasing; Var = 5·4·15/18; Z = 9/√(300/18).
		{"increasing", []float64{1, 2, 3, 4, 5}, 10, 300.0 / 18, 2.2045407685048604, 0.027486336111510353},
		{"decreasing", []float64{5, 4, 3, 2, 1}, -10, 300.0 / 18, -2.2045407685048604, 0.027486336111510353},
		// Pairs: 1<2, 1<2, 1<3, 2=2, 2<3, 2<3 → S = 5. One tie group of 2:
		// Var = (4·3·13 − 2·1·9)/18 = 138/18; Z = 4/√(138/18).
		{"tie", []float64{1, 2, 2, 3}, 5, 138.0 / 18, 1.4446302370292303, 0.1485617748918687},
		// The Holy Cross "by hand" example (14 values, one tied pair at
		// 12.9): S = 72 − 18 = 54, Var = (14·13·33 − 2·1·9)/18, Z = 53/√Var
		// = 2.9058; the page's p ≈ 0.0018 is one-sided, two-sided 0.00366.
		{"published", []float64{12.9, 14.8, 13.2, 15.7, 13.8, 15.6, 12.9, 11.0, 17.3, 15.9, 19.0, 18.3, 20.1, 21.7},
			54, 5988.0 / 18, 2.905836845996537, 0.003662723762882436},
		// NaN is dropped: same as {1, 2, 3}; S = 3, Var = 3·2·11/18, Z = 2/√(66/18).
		{"nan", []float64{1, math.NaN(), 2, 3}, 3, 66.0 / 18, 2 / math.Sqrt(66.0/18), math.Erfc(2 / math.Sqrt(66.0/18) / math.Sqrt2)},
		{"constant", []float64{4, 4, 4, 4}, 0, 0, 0, 1},
		{"no trend", []float64{1, 3, 2, 2, 3, 1}, 0, (6*5*17 - 3*(2*1*9)) / 18.0, 0, 1},
		{"one", []float64{1}, 0, 0, 0, 1},
		{"empty", nil, 0, 0, 0, 1},
	} {
		got := MannKendall(tc.x)
		if got.S != tc.s || !near(got.Var, tc.v, 1e-12) || !near(got.Z, tc.z, 1e-12) || !near(got.P, tc.p, 1e-9) {
			t.Errorf("%s: S %d Var %v Z %v P %v; want %d %v %v %v", tc.name, got.S, got.Var, got.Z, got.P, tc.s, tc.v, tc.z, tc.p)
		}
		wantSign := 0
		if tc.s > 0 {
			wantSign = 1
		} else if tc.s < 0 {
			wantSign = -1
		}
		if got.Sign != wantSign {
			t.Errorf("%s: sign %d", tc.name, got.Sign)
		}
	}
	if tr := MannKendall([]float64{1, 2, 3, 4, 5}); tr.Tau != 1 || tr.N != 5 {
		t.Errorf("tau %v n %d", tr.Tau, tr.N)
	}
}

// Step helpers for the class tests: significant hot (H), cold (C) or not (o)
// at a fixed z, or hot with a chosen z.
var (
	H = StepResult{Z: 3, P: 0.001, Bin: 3}
	C = StepResult{Z: -3, P: 0.001, Bin: -3}
	o = StepResult{Z: 0.5, P: 0.6, Bin: 0}
)

func hotZ(zs ...float64) []StepResult {
	out := make([]StepResult, len(zs))
	for i, z := range zs {
		out[i] = StepResult{Z: z, P: TwoSidedP(z), Bin: 2}
	}
	return out
}

func mirror(steps []StepResult) []StepResult {
	out := make([]StepResult, len(steps))
	for i, s := range steps {
		out[i] = StepResult{Z: -s.Z, P: s.P, Bin: -s.Bin}
	}
	return out
}

func TestClassify(t *testing.T) {
	cases := []struct {
		name  string
		steps []StepResult
		want  Class // a hot class; its mirror must give the cold twin
	}{
		{"new", []StepResult{o, o, o, o, o, o, o, o, o, H}, NewHotSpot},
		{"new after one step", []StepResult{H}, PersistentHotSpot},
		{"consecutive", []StepResult{o, o, o, o, o, o, o, H, H, H}, ConsecutiveHotSpot},
		{"consecutive of two", []StepResult{o, o, o, o, o, o, o, o, H, H}, ConsecutiveHotSpot},
		// z rising 2 → 6.5: S = 45, Var = 125, Z = 44/√125 = 3.94.
		{"intensifying", hotZ(2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5), IntensifyingHotSpot},
		{"diminishing", hotZ(6.5, 6, 5.5, 5, 4.5, 4, 3.5, 3, 2.5, 2), DiminishingHotSpot},
		// z alternating 3, 4: S = 15 − 10 = 5, Var = (2250 − 600)/18, p = 0.68.
		{"persistent", hotZ(3, 4, 3, 4, 3, 4, 3, 4, 3, 4), PersistentHotSpot},
		// 9 of 10 hot is 90 %: still persistent, not sporadic.
		{"persistent at 90 %", []StepResult{o, H, H, H, H, H, H, H, H, H}, PersistentHotSpot},
		{"sporadic", []StepResult{o, o, H, o, o, H, o, o, o, H}, SporadicHotSpot},
		{"sporadic with a run", []StepResult{H, o, o, o, o, o, o, H, H, H}, SporadicHotSpot},
		{"sporadic at 80 %", []StepResult{o, H, H, H, o, H, H, H, H, H}, SporadicHotSpot},
		{"oscillating", []StepResult{o, o, o, C, o, o, o, o, H, H}, OscillatingHotSpot},
		{"oscillating, new after cold", []StepResult{C, o, o, o, o, o, o, o, o, H}, OscillatingHotSpot},
		{"historical", []StepResult{H, H, H, H, H, H, H, H, H, o}, HistoricalHotSpot},
		{"historical, cold at the end", []StepResult{H, H, H, H, H, H, H, H, H, C}, HistoricalHotSpot},
		{"historical rising", append(hotZ(2, 3, 4, 5, 6, 7, 8, 9, 10), o), HistoricalHotSpot},
	}
	for _, tc := range cases {
		if got := Classify(tc.steps); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		if got, want := Classify(mirror(tc.steps)), tc.want.cold(); got != want {
			t.Errorf("%s mirrored: %v, want %v", tc.name, got, want)
		}
		if !tc.want.Hot() || tc.want.Cold() || !tc.want.cold().Cold() {
			t.Errorf("%v: Hot/Cold wrong", tc.want)
		}
	}
	for name, steps := range map[string][]StepResult{
		"empty":                  nil,
		"never significant":      {o, o, o, o, o, o, o, o, o, o},
		"hot once, in between":   {o, o, H, H, o, o, o, o, o, o},
		"hot 80 %, not at end":   {H, H, H, H, H, H, H, H, o, o},
		"hot and cold, not end":  {H, C, H, C, o},
		"significant z, bin 0":   {{Z: 5, P: 1e-6}},
		"not significant at end": {o, o, o, o, o, o, o, o, H, o},
	} {
		if got := Classify(steps); got != NoPattern {
			t.Errorf("%s: %v, want no pattern", name, got)
		}
	}
	if NoPattern.String() != "no_pattern" || IntensifyingColdSpot.String() != "intensifying_cold_spot" || Class(99).String() != "unknown" {
		t.Error("class names")
	}
}

// TestEmerging runs the whole chain on the 19-cell study: a cluster that
// appears at the centre in the last three of ten steps.
func TestEmerging(t *testing.T) {
	c := centre(t)
	cells := disk(t, c, 2)
	s := mustStudy(t, cells, 1)
	steps := make([][]float64, 10)
	rng := rand.New(rand.NewPCG(5, 6))
	for st := range steps {
		counts := make([]float64, len(cells))
		for i, x := range cells {
			switch d := dist(t, c, x); {
			case st >= 7 && d == 0:
				counts[i] = 30
			case st >= 7 && d == 1:
				counts[i] = 12
			default:
				counts[i] = float64(rng.IntN(2))
			}
		}
		steps[st] = counts
	}
	out, err := s.Emerging(steps)
	if err != nil {
		t.Fatal(err)
	}
	for i, ct := range out {
		if ct.Cell != cells[i] {
			t.Fatalf("result %d is %s", i, ct.Cell)
		}
		// The classes must be what Classify says of the per-step Gi*.
		var series []StepResult
		for _, counts := range steps {
			res, err := s.GiStar(counts)
			if err != nil {
				t.Fatal(err)
			}
			series = append(series, StepResult{Z: res[i].Z, P: res[i].P, Bin: res[i].Bin})
		}
		if want := Classify(series); ct.Class != want || ct.Final != series[9] {
			t.Errorf("cell %d: %v, Classify says %v", i, ct.Class, want)
		}
	}
	ci := slices.Index(cells, c)
	if got := out[ci]; got.Class != ConsecutiveHotSpot || got.HotSteps != 3 || got.ColdSteps != 0 {
		t.Errorf("centre: %+v, want a consecutive hot spot of 3 steps", got)
	}

	if _, err := s.Emerging(nil); grid.KindOf(err) != grid.Invalid {
		t.Errorf("no steps: %v", err)
	}
	if _, err := s.Emerging([][]float64{steps[0], steps[1][:5]}); grid.KindOf(err) != grid.Invalid {
		t.Errorf("short step: %v", err)
	}
	bad := slices.Clone(steps[0])
	bad[0] = math.NaN()
	if _, err := s.Emerging([][]float64{steps[0], bad}); grid.KindOf(err) != grid.Invalid {
		t.Errorf("NaN count: %v", err)
	}
}

func TestStudyCache(t *testing.T) {
	cells := disk(t, centre(t), 2)
	var cache StudyCache
	var builds atomic.Int32
	build := func(context.Context) ([]h3.Cell, error) {
		builds.Add(1)
		time.Sleep(10 * time.Millisecond)
		return cells, nil
	}
	key := StudyKey{Area: "v1", Res: 9, K: 1}
	var wg sync.WaitGroup
	studies := make([]*Study, 8)
	for i := range studies {
		wg.Go(func() {
			s, err := cache.Get(context.Background(), key, build)
			if err != nil {
				t.Error(err)
			}
			studies[i] = s
		})
	}
	wg.Wait()
	if builds.Load() != 1 {
		t.Errorf("%d builds for one key", builds.Load())
	}
	for _, s := range studies {
		if s == nil || s != studies[0] || s.Len() != 19 || s.K() != 1 {
			t.Fatal("callers got different or wrong studies")
		}
	}

	// A failed build is not kept.
	boom := errors.New("boom")
	bad := StudyKey{Area: "v2", Res: 9, K: 1}
	if _, err := cache.Get(context.Background(), bad, func(context.Context) ([]h3.Cell, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Errorf("err = %v", err)
	}
	if _, err := cache.Get(context.Background(), StudyKey{Area: "v2", K: 0}, build); grid.KindOf(err) != grid.Invalid {
		t.Errorf("k=0 through the cache: %v", err)
	}
	if s, err := cache.Get(context.Background(), bad, build); err != nil || s.Len() != 19 {
		t.Errorf("retry after failure: %v", err)
	}

	cache.Forget("v1")
	if _, err := cache.Get(context.Background(), key, build); err != nil || builds.Load() != 4 {
		t.Errorf("after Forget: %v, %d builds", err, builds.Load())
	}
	cache.Reset()
	if _, err := cache.Get(context.Background(), bad, build); err != nil || builds.Load() != 5 {
		t.Errorf("after Reset: %v, %d builds", err, builds.Load())
	}

	// A waiter whose context ends stops waiting.
	release := make(chan struct{})
	slow := StudyKey{Area: "slow", K: 1}
	go func() {
		_, _ = cache.Get(context.Background(), slow, func(context.Context) ([]h3.Cell, error) {
			<-release
			return cells, nil
		})
	}()
	for {
		cache.mu.Lock()
		_, started := cache.m[slow]
		cache.mu.Unlock()
		if started {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cache.Get(ctx, slow, build); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled waiter: %v", err)
	}
	close(release)
}

// cityStudyCells are the res-9 cells whose centres lie in a 50 km × 45 km
// box around 121.2E 28.85N (about 2,250 km²).
func cityStudyCells(tb testing.TB) []h3.Cell {
	tb.Helper()
	const lat0, lon0 = 28.85, 121.2
	dLat := 22.5 / 111.32
	dLon := 25 / (111.32 * math.Cos(lat0*math.Pi/180))
	poly := h3.GeoPolygon{GeoLoop: h3.GeoLoop{
		h3.NewLatLng(lat0-dLat, lon0-dLon), h3.NewLatLng(lat0-dLat, lon0+dLon),
		h3.NewLatLng(lat0+dLat, lon0+dLon), h3.NewLatLng(lat0+dLat, lon0-dLon),
	}}
	cells, err := h3.PolygonToCells(poly, 9)
	if err != nil {
		tb.Fatal(err)
	}
	return cells
}

func cityCounts(n int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, 8))
	counts := make([]float64, n)
	for i := range counts {
		if rng.IntN(3) == 0 {
			counts[i] = float64(rng.IntN(40))
		}
	}
	return counts
}

// BenchmarkGiStarCity: every res-9 cell of a ~2,250 km² city, k = 1.
// NewStudy (neighbour lists, paid once per study area) and GiStar (per
// request) are reported separately.
func BenchmarkGiStarCity(b *testing.B) {
	cells := cityStudyCells(b)
	b.Logf("%d study cells", len(cells))
	b.Run("NewStudy", func(b *testing.B) {
		for b.Loop() {
			if _, err := NewStudy(cells, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	s := mustStudy(b, cells, 1)
	counts := cityCounts(len(cells), 7)
	b.Run("GiStar", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.GiStar(counts); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEmergingCity: the same city, 52 weekly steps.
func BenchmarkEmergingCity(b *testing.B) {
	cells := cityStudyCells(b)
	s := mustStudy(b, cells, 1)
	steps := make([][]float64, 52)
	for i := range steps {
		steps[i] = cityCounts(len(cells), uint64(i))
	}
	for b.Loop() {
		if _, err := s.Emerging(steps); err != nil {
			b.Fatal(err)
		}
	}
}
