package hexbin

import (
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/uber/h3-go/v4"
)

// Class is an emerging hot spot class of a cell, after ArcGIS's Emerging
// Hot Spot Analysis ("How Emerging Hot Spot Analysis works",
// https://pro.arcgis.com/en/pro-app/latest/tool-reference/space-time-pattern-mining/learnmoreemerging.htm).
// The zero value is NoPattern. Classify states the exact rules.
type Class int

// The seventeen classes: no pattern, eight hot spot and eight cold spot trends.
const (
	NoPattern Class = iota
	NewHotSpot
	ConsecutiveHotSpot
	IntensifyingHotSpot
	PersistentHotSpot
	DiminishingHotSpot
	SporadicHotSpot
	OscillatingHotSpot
	HistoricalHotSpot
	NewColdSpot
	ConsecutiveColdSpot
	IntensifyingColdSpot
	PersistentColdSpot
	DiminishingColdSpot
	SporadicColdSpot
	OscillatingColdSpot
	HistoricalColdSpot
)

var classNames = [...]string{
	NoPattern:            "no_pattern",
	NewHotSpot:           "new_hot_spot",
	ConsecutiveHotSpot:   "consecutive_hot_spot",
	IntensifyingHotSpot:  "intensifying_hot_spot",
	PersistentHotSpot:    "persistent_hot_spot",
	DiminishingHotSpot:   "diminishing_hot_spot",
	SporadicHotSpot:      "sporadic_hot_spot",
	OscillatingHotSpot:   "oscillating_hot_spot",
	HistoricalHotSpot:    "historical_hot_spot",
	NewColdSpot:          "new_cold_spot",
	ConsecutiveColdSpot:  "consecutive_cold_spot",
	IntensifyingColdSpot: "intensifying_cold_spot",
	PersistentColdSpot:   "persistent_cold_spot",
	DiminishingColdSpot:  "diminishing_cold_spot",
	SporadicColdSpot:     "sporadic_cold_spot",
	OscillatingColdSpot:  "oscillating_cold_spot",
	HistoricalColdSpot:   "historical_cold_spot",
}

// String is the class's code, e.g. "intensifying_hot_spot".
func (c Class) String() string {
	if c < 0 || int(c) >= len(classNames) {
		return "unknown"
	}
	return classNames[c]
}

// Hot reports whether c is one of the eight hot spot classes.
func (c Class) Hot() bool { return c >= NewHotSpot && c <= HistoricalHotSpot }

// Cold reports whether c is one of the eight cold spot classes.
func (c Class) Cold() bool { return c >= NewColdSpot && c <= HistoricalColdSpot }

// cold maps a hot spot class to its cold spot twin.
func (c Class) cold() Class { return c - NewHotSpot + NewColdSpot }

// TrendAlpha is the significance level of the Mann-Kendall test that makes
// a hot or cold spot intensifying or diminishing: a trend is significant
// when its two-sided p ≤ 0.10 (90 % confidence, the lowest confidence at
// which a Gi* bin counts as significant).
const TrendAlpha = 0.10

// StepResult is a cell's Gi* outcome at one time step: z-score, p-value and
// FDR-corrected bin. A step is a significant hot spot when Bin > 0 and a
// significant cold spot when Bin < 0 (90 % confidence or more).
type StepResult struct {
	Z, P float64
	Bin  int
}

// Classify gives the emerging hot spot class of one cell from its Gi*
// results over the time steps, oldest first, with the Mann-Kendall test
// on the series of Gi* z-scores. With n steps, "≥ 90 % of the steps"
// means 10·count ≥ 9·n. The rules, in the order applied (cold spots are the
// mirror image: hot ↔ cold, upward ↔ downward):
//
//  1. ≥ 90 % of the steps are hot spots:
//     the final step is hot and the z-score trend is upward and significant
//     (Sign = +1, P ≤ TrendAlpha): intensifying hot spot;
//     the final step is hot and the trend is downward and significant:
//     diminishing hot spot;
//     the final step is hot, no significant trend: persistent hot spot;
//     the final step is not hot: historical hot spot.
//  2. The same with ≥ 90 % cold steps: the four cold spot classes (an
//     intensifying cold spot has a significant downward z-score trend).
//  3. Otherwise, if the final step is hot (fewer than 90 % hot steps):
//     a cold step at some earlier time: oscillating hot spot;
//     else, if the final run of uninterrupted hot steps is the only hot
//     history (no hot step before it): new hot spot when the run is the
//     final step alone, consecutive hot spot when it is ≥ 2 steps long;
//     else (hot before the final run, on and off, never cold): sporadic
//     hot spot.
//  4. The same when the final step is cold: oscillating, new, consecutive
//     or sporadic cold spot.
//  5. Otherwise (final step not significant and < 90 % of steps hot or
//     cold): no pattern.
//
// Where ArcGIS's prose leaves room, this is the reading taken: a new hot
// spot has never been significant at all before (a cell that was a cold
// spot before is an oscillating hot spot, the more telling class; the same
// for consecutive); persistent requires a hot final step (with a not-hot
// final step the cell is historical); sporadic requires a hot final step
// (ArcGIS Pro's wording; ArcMap 10.3 omitted it). No steps: no pattern.
func Classify(steps []StepResult) Class {
	z := make([]float64, len(steps))
	for i, s := range steps {
		z[i] = s.Z
	}
	return classify(steps, MannKendall(z))
}

func classify(steps []StepResult, trend Trend) Class {
	n := len(steps)
	if n == 0 {
		return NoPattern
	}
	hot, cold := 0, 0
	for _, s := range steps {
		switch {
		case s.Bin > 0:
			hot++
		case s.Bin < 0:
			cold++
		}
	}
	final := steps[n-1].Bin
	significant := trend.P <= TrendAlpha
	switch {
	case 10*hot >= 9*n:
		switch {
		case final <= 0:
			return HistoricalHotSpot
		case significant && trend.Sign > 0:
			return IntensifyingHotSpot
		case significant && trend.Sign < 0:
			return DiminishingHotSpot
		}
		return PersistentHotSpot
	case 10*cold >= 9*n:
		switch {
		case final >= 0:
			return HistoricalColdSpot
		case significant && trend.Sign < 0:
			return IntensifyingColdSpot
		case significant && trend.Sign > 0:
			return DiminishingColdSpot
		}
		return PersistentColdSpot
	case final > 0:
		return recent(steps, hot, cold, 1)
	case final < 0:
		return recent(steps, cold, hot, -1).cold()
	}
	return NoPattern
}

// recent classifies a cell whose final step is significant of the kind
// sign (+1 hot, −1 cold), with same steps of that kind and opposite steps of
// the other, into the new/consecutive/sporadic/oscillating hot spot classes
// (the caller mirrors them for cold).
func recent(steps []StepResult, same, opposite, sign int) Class {
	if opposite > 0 {
		return OscillatingHotSpot
	}
	run := 0
	for i := len(steps) - 1; i >= 0 && steps[i].Bin*sign > 0; i-- {
		run++
	}
	switch {
	case run < same:
		return SporadicHotSpot
	case run == 1:
		return NewHotSpot
	}
	return ConsecutiveHotSpot
}

// CellTrend is the emerging hot spot outcome of one cell: its class, the
// Mann-Kendall test of its Gi* z-scores over the steps, and how many steps
// it was a significant hot or cold spot.
type CellTrend struct {
	Cell      h3.Cell
	Class     Class
	Trend     Trend
	HotSteps  int
	ColdSteps int
	Final     StepResult // the final step's Gi* result
}

// Emerging runs Gi* (GiStar, FDR-corrected per step) on each time slice of
// counts, oldest first, each aligned with the study's cells, and classifies
// every cell (Classify). Each slice is analysed on its own: the
// neighbourhood is spatial only (no neighbours from other time steps).
//
// Results are in study order. Errors (kind grid.Invalid): no time steps, a
// slice whose length is not the study's size, a count that is NaN or
// infinite.
func (s *Study) Emerging(countsPerStep [][]float64) ([]CellTrend, error) {
	steps := len(countsPerStep)
	if steps == 0 {
		return nil, grid.Errorf(grid.Invalid, "emerging hot spots need at least one time step")
	}
	n := len(s.cells)
	for t, counts := range countsPerStep {
		if len(counts) != n {
			return nil, grid.Errorf(grid.Invalid, "time step %d has %d counts for a study area of %d cells", t, len(counts), n)
		}
	}
	// series[i*steps+t] is cell i at step t: each cell's series is contiguous.
	series := make([]StepResult, n*steps)
	z := make([]float64, n)
	p := make([]float64, n)
	dev := make([]float64, n)
	for t, counts := range countsPerStep {
		if err := s.giStar(counts, z, p, dev); err != nil {
			return nil, grid.Errorf(grid.Invalid, "time step %d: %s", t, grid.MessageOf(err))
		}
		bins := FDRBins(z, p)
		for i := range z {
			series[i*steps+t] = StepResult{Z: z[i], P: p[i], Bin: bins[i]}
		}
	}
	out := make([]CellTrend, n)
	zs := make([]float64, steps)
	for i := range out {
		cs := series[i*steps : (i+1)*steps]
		ct := CellTrend{Cell: s.cells[i], Final: cs[steps-1]}
		for t, r := range cs {
			zs[t] = r.Z
			switch {
			case r.Bin > 0:
				ct.HotSteps++
			case r.Bin < 0:
				ct.ColdSteps++
			}
		}
		ct.Trend = MannKendall(zs)
		ct.Class = classify(cs, ct.Trend)
		out[i] = ct
	}
	return out, nil
}
