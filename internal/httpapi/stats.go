package httpapi

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/labstack/echo/v4"
)

// Limits of GET /v1/stats.
const (
	statsDefaultWindow = 30 * 24 * time.Hour
	statsMaxTop        = 1000
	// statsMaxPoints caps groups × series buckets, so one answer stays
	// around 10 MB: cells by week over a year fit, cells by day do not.
	statsMaxPoints = 200_000
)

// routesStats registers the planner statistics routes.
func (s *Server) routesStats(e *echo.Echo) {
	e.GET("/v1/stats", s.stats)
}

type statsOut struct {
	GroupBy  string       `json:"group_by"`
	Interval string       `json:"interval,omitempty"`
	From     time.Time    `json:"from"`
	To       time.Time    `json:"to"`
	Groups   []statsGroup `json:"groups"`
}

type statsGroup struct {
	Code          string         `json:"code"`
	Name          string         `json:"name"`
	Total         int64          `json:"total"`
	ByCategory    categoryCounts `json:"by_category"`
	DueToHandle   int64          `json:"due_to_handle"`
	Handled       int64          `json:"handled"`
	HandledOnTime int64          `json:"handled_on_time"`
	DueToClose    int64          `json:"due_to_close"`
	Closed        int64          `json:"closed"`
	ClosedOnTime  int64          `json:"closed_on_time"`
	Reworked      int64          `json:"reworked"`
	Extended      int64          `json:"extended"`
	Ratios        statsRatios    `json:"ratios"`
	Accurate      int64          `json:"accurate_dispatches"`
	Series        []seriesPoint  `json:"series,omitempty"`
}

// categoryCounts are written as an object of the counts that are not 0,
// by code.
type categoryCounts grid.CategoryCounts

func (c categoryCounts) MarshalJSON() ([]byte, error) {
	return json.Marshal(grid.CategoryCounts(c).Map())
}

// statsRatios are the evaluation ratios of DOMAIN.md; null when the
// denominator is 0.
type statsRatios struct {
	Closure        *float64 `json:"closure"`          // 结案率 closed / due_to_close
	OnTimeClosure  *float64 `json:"on_time_closure"`  // 按期结案率 closed_on_time / due_to_close
	Handling       *float64 `json:"handling"`         // 处置率 handled / due_to_handle
	OnTimeHandling *float64 `json:"on_time_handling"` // 按期处置率 handled_on_time / due_to_handle
	Rework         *float64 `json:"rework"`           // 返工率 reworked / due_to_close
	Extension      *float64 `json:"extension"`        // 延期率 extended / due_to_handle
}

type seriesPoint struct {
	Start time.Time `json:"start"`
	Count int64     `json:"count"`
}

func ratio(n, d int64) *float64 {
	if d == 0 {
		return nil
	}
	r := float64(n) / float64(d)
	return &r
}

// stats: GET /v1/stats — incidents of a window on occurred_at, [from, to),
// per cell, community, town or department, with the evaluation counters
// and ratios of DOMAIN.md. Among the incidents in the window that are not
// cancelled:
//   - due_to_handle = due_to_close: dispatched (dispatched_at set, or the
//     state past dispatch — handled, closed, evaluated — or parked from
//     dispatched);
//   - handled: handled_at set; handled_on_time: handled_at ≤ deadline;
//   - closed: closed_at set (closed or evaluated); closed_on_time: closed
//     and handled_at ≤ deadline;
//   - reworked: reworks > 0; extended: extensions > 0;
//   - accurate_dispatches (准确派遣数) = due_to_handle − reworked.
//
// These counters count incidents due to handle only. total and
// by_category count every incident of the window, cancelled ones included,
// so by_category adds up to total. Groups come by total (largest first),
// then code; top keeps the first N. With interval, each group has a dense
// series of counts per local (UTC+8) day, ISO week or month whose sum is
// its total. A town-scoped key counts only its town. Bad parameters are a
// 400 naming the field.
func (s *Server) stats(c echo.Context) error {
	if s.cfg.Stats == nil {
		return grid.Errorf(grid.Unavailable, "statistics are not configured")
	}
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	q := c.QueryParams()
	f := grid.StatsFilter{GroupBy: q.Get("group_by"), Interval: q.Get("interval")}
	groups := 0 // how many groups the snapshot has at this level
	switch f.GroupBy {
	case "":
		f.GroupBy = "department"
		groups = len(snap.Departments)
	case "department":
		groups = len(snap.Departments)
	case "cell":
		groups = len(snap.Cells)
	case "community":
		groups = len(snap.Communities)
	case "town":
		groups = len(snap.Towns)
	default:
		return param.Invalid("group_by", "%q: want cell, community, town or department", f.GroupBy)
	}
	if f.Categories, err = categoryFilter(snap, q.Get("category"), q.Get("theme")); err != nil {
		return err
	}
	switch f.Interval {
	case "", "day", "week", "month":
	default:
		return param.Invalid("interval", "%q: want day, week or month", f.Interval)
	}
	if t := q.Get("top"); t != "" {
		if f.Top, err = strconv.Atoi(t); err != nil || f.Top < 1 || f.Top > statsMaxTop {
			return param.Invalid("top", "%q: want 1…%d", t, statsMaxTop)
		}
		groups = min(groups, f.Top)
	}
	if f.From, f.To, err = statsWindow(q.Get("from"), q.Get("to"), time.Now()); err != nil {
		return err
	}
	if n := statsBuckets(f.Interval, f.From, f.To); groups*n > statsMaxPoints {
		return param.Invalid("interval", "%d groups × %d buckets exceed %d series points: choose a coarser interval, a shorter window or top",
			groups, n, statsMaxPoints)
	}
	if p := principal(c); p.Town != "" {
		f.Town = p.Town
	}

	rows, err := s.cfg.Stats.Stats(c.Request().Context(), f)
	if err != nil {
		return err
	}
	out := statsOut{GroupBy: f.GroupBy, Interval: f.Interval, From: f.From.In(grid.ChinaTime()), To: f.To.In(grid.ChinaTime()),
		Groups: make([]statsGroup, 0, len(rows))}
	for i := range rows {
		r := &rows[i]
		g := statsGroup{Code: r.Key, Name: statsName(snap, f.GroupBy, r.Key), Total: r.Total, ByCategory: categoryCounts(r.ByCategory),
			DueToHandle: r.DueToHandle, Handled: r.Handled, HandledOnTime: r.HandledOnTime,
			DueToClose: r.DueToClose, Closed: r.Closed, ClosedOnTime: r.ClosedOnTime,
			Reworked: r.Reworked, Extended: r.Extended, Accurate: r.DueToHandle - r.Reworked,
			Ratios: statsRatios{
				Closure: ratio(r.Closed, r.DueToClose), OnTimeClosure: ratio(r.ClosedOnTime, r.DueToClose),
				Handling: ratio(r.Handled, r.DueToHandle), OnTimeHandling: ratio(r.HandledOnTime, r.DueToHandle),
				Rework: ratio(r.Reworked, r.DueToClose), Extension: ratio(r.Extended, r.DueToHandle),
			}}
		for _, p := range r.Series {
			g.Series = append(g.Series, seriesPoint{Start: p.Start.In(grid.ChinaTime()), Count: p.Count})
		}
		out.Groups = append(out.Groups, g)
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, out.appendJSON(nil))
}

// statsWindow reads [from, to): RFC 3339, by default the 30 days up to
// now (or up to to), from before to, at most 3 years long.
func statsWindow(from, to string, now time.Time) (f, t time.Time, err error) {
	t = now
	if to != "" {
		if t, err = param.Time("to", to); err != nil {
			return f, t, err
		}
	}
	f = t.Add(-statsDefaultWindow)
	if from != "" {
		if f, err = param.Time("from", from); err != nil {
			return f, t, err
		}
	}
	if !f.Before(t) {
		return f, t, param.Invalid("from", "must be before to")
	}
	if windowTooLong(f, t) {
		return f, t, param.Invalid("from", "the window [from, to) is longer than %d years", maxWindowYears)
	}
	return f, t, nil
}

// statsBuckets bounds from above the number of series buckets meeting
// [from, to): 0 without an interval.
func statsBuckets(interval string, from, to time.Time) int {
	days := int(to.Sub(from)/(24*time.Hour)) + 2
	switch interval {
	case "day":
		return days
	case "week":
		return days/7 + 2
	case "month":
		return days/28 + 2
	}
	return 0
}

// statsName names a group from the current grid snapshot; "" for a code
// it no longer has.
func statsName(snap *locate.Snapshot, groupBy, code string) string {
	switch groupBy {
	case "cell":
		if c, ok := snap.CellByCode(code); ok {
			return c.Name
		}
	case "community":
		if m := snap.Community(code); m != nil {
			return m.Name
		}
	case "town":
		if t := snap.Town(code); t != nil {
			return t.Name
		}
	case "department":
		if d, ok := snap.Department(code); ok {
			return d.Name
		}
	}
	return ""
}
