package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/labstack/echo/v4"
)

// The overview's themes (by_theme), its daily series and its top cells.
var overviewThemes = []string{"parking", "waterlogging", "sanitation"}

const (
	overviewDays = 30
	overviewTop  = 10
)

func (s *Server) routesOverview(e *echo.Echo) {
	e.GET("/v1/overview", s.overview)
}

type overviewCounts struct {
	New        int64 `json:"new"`
	Closed     int64 `json:"closed"`
	Overdue    int64 `json:"overdue"`
	Supervised int64 `json:"supervised"`
}

type overviewPeriod struct {
	overviewCounts
	ByTheme map[string]overviewCounts `json:"by_theme"`
}

type overviewChild struct {
	Level             string         `json:"level"`
	Code              string         `json:"code"`
	Name              string         `json:"name"`
	Today             overviewPeriod `json:"today"`
	Month             overviewPeriod `json:"month"`
	OnTimeClosureRate *float64       `json:"on_time_closure_rate"`
}

type overviewCell struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Count int64  `json:"count"`
}

type overviewDay struct {
	Day    string `json:"day"`
	New    int64  `json:"new"`
	Closed int64  `json:"closed"`
}

type overviewOut struct {
	Level             string          `json:"level"`
	Code              string          `json:"code"`
	Name              string          `json:"name"`
	GeneratedAt       time.Time       `json:"generated_at"`
	Today             overviewPeriod  `json:"today"`
	Month             overviewPeriod  `json:"month"`
	OnTimeClosureRate *float64        `json:"on_time_closure_rate"`
	TopCells          []overviewCell  `json:"top_cells"`
	Daily             []overviewDay   `json:"daily"`
	Children          []overviewChild `json:"children"`
}

// overview: GET /v1/overview?level=city|town|community&code= — the big
// screen's figures for a unit and each unit one level down (the towns of
// the city, the communities of a town; a community has none), today and
// this month in China time:
//   - new: incidents that occurred in the period (occurred_at, as the
//     windows of /v1/stats);
//   - closed: incidents closed in the period (closed_at);
//   - overdue: incidents still open whose deadline passed in the period
//     and before now (grid.Overdue now; each overdue case counts on the
//     day it fell due);
//   - supervised: incidents that occurred in the period and are flagged
//     for supervision (督办);
//
// by_theme splits each by heatmap theme; on_time_closure_rate is this
// month's closed_on_time / due_to_close as /v1/stats counts them (null
// with nothing due); top_cells the 10 cells with the most new incidents
// this month; daily the last 30 local days' new and closed.
//
// Level city takes no code or the county's; town and community need the
// code of one in the current grid (404 otherwise). A town-scoped key asks
// for its own town: level city answers its town (level "town", its
// communities as children), another town or a community of another town
// is 404 as if it did not exist.
func (s *Server) overview(c echo.Context) error {
	if s.cfg.Overview == nil {
		return grid.Errorf(grid.Unavailable, "the overview is not configured")
	}
	snap, err := s.snapshot()
	if err != nil {
		return err
	}
	q := c.QueryParams()
	for k := range q {
		if k != "level" && k != "code" {
			return param.Invalid(k, "unknown parameter: want level, code")
		}
	}
	level, code := q.Get("level"), q.Get("code")
	if level == "" {
		level = grid.LevelCity
	}
	county := ""
	if len(snap.Towns) > 0 {
		county = snap.Towns[0].Code[:6]
	}
	scope := principal(c).Town
	var name string
	switch level {
	case grid.LevelCity:
		if code != "" && code != county {
			return grid.Errorf(grid.NotFound, "level city: code %q is not the city's (%s); leave it out", code, county)
		}
		code, name = county, snap.CityName
		if scope != "" {
			level, code = grid.LevelTown, scope
		}
	case grid.LevelTown, grid.LevelCommunity:
		if code == "" {
			return param.Invalid("code", "level %s needs the code of one", level)
		}
	default:
		return param.Invalid("level", "%q: want city, town or community", level)
	}
	switch level {
	case grid.LevelTown:
		t := snap.Town(code)
		if t == nil || (scope != "" && code != scope) {
			return grid.Errorf(grid.NotFound, "no town %q", code)
		}
		name = t.Name
	case grid.LevelCommunity:
		m := snap.Community(code)
		if m == nil || (scope != "" && m.TownCode != scope) {
			return grid.Errorf(grid.NotFound, "no community %q", code)
		}
		name = m.Name
	}

	now := time.Now().Truncate(time.Second)
	oq := grid.OverviewQuery{Level: level, Code: code, Now: now, Days: overviewDays, Top: overviewTop}
	if level == grid.LevelCity {
		oq.Code = ""
	}
	for _, th := range overviewThemes {
		oq.Themes = append(oq.Themes, snap.ThemeCategories(th))
	}
	ov, err := s.cfg.Overview.Overview(c.Request().Context(), oq)
	if err != nil {
		return err
	}
	out := overviewOut{Level: level, Code: code, Name: name, GeneratedAt: now.In(grid.ChinaTime()),
		Today: overviewPeriodOf(ov.Unit.Today), Month: overviewPeriodOf(ov.Unit.Month),
		OnTimeClosureRate: ratio(ov.Unit.ClosedOnTime, ov.Unit.DueToClose),
		TopCells:          []overviewCell{}, Daily: []overviewDay{}, Children: []overviewChild{}}
	for _, tc := range ov.TopCells {
		out.TopCells = append(out.TopCells, overviewCell{Code: tc.Code, Name: statsName(snap, "cell", tc.Code), Count: tc.Count})
	}
	for _, d := range ov.Daily {
		out.Daily = append(out.Daily, overviewDay{Day: d.Day.Time().Format(time.DateOnly), New: d.New, Closed: d.Closed})
	}
	child := func(lv, code, name string) {
		u := ov.Children[code] // zeros for a unit without incidents
		out.Children = append(out.Children, overviewChild{Level: lv, Code: code, Name: name,
			Today: overviewPeriodOf(u.Today), Month: overviewPeriodOf(u.Month), OnTimeClosureRate: ratio(u.ClosedOnTime, u.DueToClose)})
	}
	switch level {
	case grid.LevelCity:
		for _, t := range snap.Towns {
			child(grid.LevelTown, t.Code, t.Name)
		}
	case grid.LevelTown:
		for _, m := range snap.Communities {
			if m.TownCode == code {
				child(grid.LevelCommunity, m.Code, m.Name)
			}
		}
	}
	slices.SortFunc(out.Children, func(a, b overviewChild) int { return strings.Compare(a.Code, b.Code) })
	return c.JSON(http.StatusOK, out)
}

func overviewPeriodOf(p grid.OverviewPeriod) overviewPeriod {
	out := overviewPeriod{overviewCounts: overviewCountsOf(p.OverviewCounts), ByTheme: map[string]overviewCounts{}}
	for i, th := range overviewThemes {
		var c grid.OverviewCounts
		if i < len(p.ByTheme) {
			c = p.ByTheme[i]
		}
		out.ByTheme[th] = overviewCountsOf(c)
	}
	return out
}

func overviewCountsOf(c grid.OverviewCounts) overviewCounts {
	return overviewCounts{New: c.New, Closed: c.Closed, Overdue: c.Overdue, Supervised: c.Supervised}
}
