package hexbin

import (
	"math"
	"slices"
)

// Trend is the outcome of a Mann-Kendall trend test.
type Trend struct {
	N   int     // values tested (NaNs are dropped)
	S   int     // Σ_{i<j} sign(x_j − x_i)
	Var float64 // variance of S under no trend, corrected for ties
	Tau float64 // Kendall's tau-a, S / (N(N−1)/2); 0 when N < 2
	Z   float64 // normal score of S with continuity correction
	P   float64 // two-sided p-value of Z
	// Sign is the direction of S: +1 upward, −1 downward, 0 none. It says
	// nothing of significance; compare P with a level for that.
	Sign int
}

// MannKendall tests x, in time order, for a monotonic trend (Mann 1945,
// Kendall 1975; as in Gilbert 1987, §16.4):
//
//	S   = Σ_{i<j} sign(x_j − x_i)
//	Var = [N(N−1)(2N+5) − Σ_g t_g(t_g−1)(2t_g+5)] / 18
//	Z   = (S − 1)/√Var if S > 0,  0 if S = 0,  (S + 1)/√Var if S < 0
//	P   = 2·(1 − Φ(|Z|))
//
// where t_g is the size of the g-th group of equal values. The normal
// approximation is used at every N (no exact table for small N). NaN values
// are dropped. With fewer than two values, or all values equal (Var = 0),
// Z = 0 and P = 1.
func MannKendall(x []float64) Trend {
	v := make([]float64, 0, len(x))
	for _, xi := range x {
		if !math.IsNaN(xi) {
			v = append(v, xi)
		}
	}
	n := len(v)
	t := Trend{N: n, Z: 0, P: 1}
	s := 0
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			switch {
			case v[j] > v[i]:
				s++
			case v[j] < v[i]:
				s--
			}
		}
	}
	t.S = s
	switch {
	case s > 0:
		t.Sign = 1
	case s < 0:
		t.Sign = -1
	}
	if n < 2 {
		return t
	}
	t.Tau = float64(s) / (float64(n) * float64(n-1) / 2)

	slices.Sort(v)
	ties := 0.0
	for i := 0; i < n; {
		j := i + 1
		for j < n && v[j] == v[i] {
			j++
		}
		if g := float64(j - i); g > 1 {
			ties += g * (g - 1) * (2*g + 5)
		}
		i = j
	}
	nf := float64(n)
	t.Var = (nf*(nf-1)*(2*nf+5) - ties) / 18
	if !(t.Var > 0) {
		t.Var = 0
		return t
	}
	switch {
	case s > 0:
		t.Z = float64(s-1) / math.Sqrt(t.Var)
	case s < 0:
		t.Z = float64(s+1) / math.Sqrt(t.Var)
	}
	t.P = TwoSidedP(t.Z)
	return t
}
