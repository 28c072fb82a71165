package httpapi_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

type statsGroupOut struct {
	Code, Name         string
	Total              int64
	ByCategory         map[string]int64 `json:"by_category"`
	DueToHandle        int64            `json:"due_to_handle"`
	Handled            int64
	HandledOnTime      int64 `json:"handled_on_time"`
	DueToClose         int64 `json:"due_to_close"`
	Closed             int64
	ClosedOnTime       int64 `json:"closed_on_time"`
	Reworked, Extended int64
	Accurate           int64 `json:"accurate_dispatches"`
	Ratios             map[string]*float64
	Series             []struct {
		Start time.Time
		Count int64
	}
}

type statsAnswer struct {
	GroupBy  string `json:"group_by"`
	Interval string
	From, To time.Time
	Groups   []statsGroupOut
}

// statsPath is one lifecycle walked through the API, and what it makes of
// the incident: each flag is the expectation of one counter.
type statsPath struct {
	name    string
	actions []string
	late    time.Duration // > 0: the deadline is set to handled_at minus this; < 0: exactly handled_at
	// expectations
	cancelled, due, handled, onTime, closed, reworked, extended bool
}

var statsPaths = []statsPath{
	{name: "closed on time", actions: []string{"register", "dispatch", "report", "verify"}, due: true, handled: true, onTime: true, closed: true},
	{name: "evaluated, handled late", actions: []string{"register", "dispatch", "report", "verify", "evaluate"}, late: time.Hour, due: true, handled: true, closed: true},
	{name: "reworked then closed", actions: []string{"register", "dispatch", "report", "reject", "report", "verify"}, due: true, handled: true, onTime: true, closed: true, reworked: true},
	{name: "extended, open", actions: []string{"register", "dispatch", "extend"}, due: true, extended: true},
	{name: "dismissed", actions: []string{"register", "dismiss"}, cancelled: true},
	{name: "parked from dispatched", actions: []string{"register", "dispatch", "park"}, due: true},
	{name: "parked from registered", actions: []string{"register", "park"}},
	{name: "returned by the department", actions: []string{"register", "dispatch", "return"}},
	{name: "handled exactly at the deadline", actions: []string{"register", "dispatch", "report"}, late: -1, due: true, handled: true, onTime: true},
	{name: "handled a second late", actions: []string{"register", "dispatch", "report"}, late: time.Second, due: true, handled: true},
	{name: "collected only"},
	{name: "reworked, then returned", actions: []string{"register", "dispatch", "report", "reject", "return"}},
	{name: "reworked, extended, open", actions: []string{"register", "dispatch", "report", "reject", "extend"}, due: true, reworked: true, extended: true},
}

type statsExpect struct {
	path     statsPath
	occurred time.Time
	category string
	keys     map[string]string // group_by → code
}

// statsWorld stores incidents over 20 days, walks each through one of
// statsPaths and returns the expectations and the first instant.
func statsWorld(t *testing.T, f *fixture) ([]statsExpect, time.Time) {
	t.Helper()
	ctx := context.Background()
	rows, err := f.db.Pool().Query(ctx, `SELECT code FROM (
		SELECT code, row_number() OVER (PARTITION BY town_code ORDER BY code) AS rn FROM cell
		WHERE version_id = (SELECT id FROM grid_version WHERE active) AND town_code IN ('331082001', '331082002', '331082101')) s
		WHERE rn IN (1, 2, 60) ORDER BY code`)
	if err != nil {
		t.Fatal(err)
	}
	var cells []string
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			t.Fatal(err)
		}
		cells = append(cells, c)
	}
	if rows.Err() != nil || len(cells) != 9 {
		t.Fatalf("cells: %v %v", cells, rows.Err())
	}
	cats := []string{"E0505", "E0406", "E0102", "E0506"}
	n := time.Now().In(statsCST).AddDate(0, 0, -40)
	start := time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, statsCST)
	var sb strings.Builder
	var xs []statsExpect
	for i := range 9 * len(statsPaths) * 3 {
		cell := cells[(i/len(statsPaths))%len(cells)]
		lon, lat := f.interior(t, cell)
		x := statsExpect{path: statsPaths[i%len(statsPaths)], category: cats[(i/3)%len(cats)],
			occurred: start.Add(time.Duration(i) * 83 * time.Minute)}
		fmt.Fprintf(&sb, `{"category":%q,"lon":%v,"lat":%v,"occurred_at":%q,"source":"collector"}`+"\n",
			x.category, lon, lat, x.occurred.Format(time.RFC3339))
		xs = append(xs, x)
	}
	resp, b := f.post(t, "/v1/incidents/bulk", sb.String())
	if resp.StatusCode != 201 {
		t.Fatalf("bulk: %d %s", resp.StatusCode, b)
	}
	ids := decode[struct{ IDs []int64 }](t, b).IDs
	if len(ids) != len(xs) {
		t.Fatalf("bulk stored %d of %d", len(ids), len(xs))
	}
	for i, id := range ids {
		p := xs[i].path
		for _, a := range p.actions {
			if resp, b := f.act(t, id, a); resp.StatusCode != 200 {
				t.Fatalf("incident %d (%s), %s: %d %s", id, p.name, a, resp.StatusCode, b)
			}
		}
		if p.late != 0 {
			late := max(p.late, 0)
			if _, err := f.db.Pool().Exec(ctx, `UPDATE incident SET deadline = handled_at - $2::interval WHERE id = $1`, id, late); err != nil {
				t.Fatal(err)
			}
		}
		var cell, comm, town, dept string
		if err := f.db.Pool().QueryRow(ctx, `SELECT cell_code, community_code, town_code, department_code FROM incident WHERE id = $1`, id).
			Scan(&cell, &comm, &town, &dept); err != nil {
			t.Fatal(err)
		}
		xs[i].keys = map[string]string{"cell": cell, "community": comm, "town": town, "department": dept}
	}
	return xs, start
}

var statsCST = time.FixedZone("CST", 8*3600)

// expectGroups aggregates the expectations of the incidents in [from, to)
// whose category passes keep, ordered as the API orders groups.
func expectGroups(xs []statsExpect, groupBy string, from, to time.Time, keep func(string) bool) []statsGroupOut {
	m := map[string]*statsGroupOut{}
	for _, x := range xs {
		if x.occurred.Before(from) || !x.occurred.Before(to) || !keep(x.category) {
			continue
		}
		k := x.keys[groupBy]
		g := m[k]
		if g == nil {
			g = &statsGroupOut{Code: k, ByCategory: map[string]int64{}}
			m[k] = g
		}
		g.Total++
		g.ByCategory[x.category]++
		p := x.path
		b := func(v bool) int64 {
			if v {
				return 1
			}
			return 0
		}
		g.DueToHandle += b(p.due)
		g.DueToClose += b(p.due)
		g.Handled += b(p.handled)
		g.HandledOnTime += b(p.onTime)
		g.Closed += b(p.closed)
		g.ClosedOnTime += b(p.closed && p.onTime)
		g.Reworked += b(p.reworked)
		g.Extended += b(p.extended)
		g.Accurate += b(p.due) - b(p.reworked)
	}
	out := make([]statsGroupOut, 0, len(m))
	for _, g := range m {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b statsGroupOut) int {
		return cmp.Or(cmp.Compare(b.Total, a.Total), strings.Compare(a.Code, b.Code))
	})
	return out
}

func counters(g statsGroupOut) string {
	cats := make([]string, 0, len(g.ByCategory))
	for k, n := range g.ByCategory {
		cats = append(cats, fmt.Sprintf("%s=%d", k, n))
	}
	slices.Sort(cats)
	return fmt.Sprintf("%s total %d %v due %d/%d handled %d on time %d closed %d on time %d reworked %d extended %d accurate %d",
		g.Code, g.Total, cats, g.DueToHandle, g.DueToClose, g.Handled, g.HandledOnTime, g.Closed, g.ClosedOnTime, g.Reworked, g.Extended, g.Accurate)
}

func checkRatios(t *testing.T, where string, g statsGroupOut) {
	t.Helper()
	for name, nd := range map[string][2]int64{
		"closure": {g.Closed, g.DueToClose}, "on_time_closure": {g.ClosedOnTime, g.DueToClose},
		"handling": {g.Handled, g.DueToHandle}, "on_time_handling": {g.HandledOnTime, g.DueToHandle},
		"rework": {g.Reworked, g.DueToClose}, "extension": {g.Extended, g.DueToHandle},
	} {
		r, ok := g.Ratios[name]
		switch {
		case !ok:
			t.Errorf("%s, %s: no ratio %s", where, g.Code, name)
		case nd[1] == 0 && r != nil:
			t.Errorf("%s, %s: ratio %s = %v over nothing, want null", where, g.Code, name, *r)
		case nd[1] != 0 && (r == nil || math.Abs(*r-float64(nd[0])/float64(nd[1])) > 1e-12):
			t.Errorf("%s, %s: ratio %s = %v, want %d/%d", where, g.Code, name, r, nd[0], nd[1])
		}
	}
}

// statsGet asks for statistics with key ("" for the fixture's admin key).
func (f *fixture) statsGet(t *testing.T, q url.Values, key string) (*http.Response, []byte) {
	t.Helper()
	if key == "" {
		key = f.key
	}
	return f.getAs(t, "/v1/stats?"+q.Encode(), key)
}

func TestStatsCountsAndRatios(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	xs, start := statsWorld(t, f)
	m, err := f.db.ActiveModel(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]map[string]string{"cell": {}, "community": {}, "town": {}, "department": {}}
	for _, c := range m.City.Cells {
		names["cell"][c.Code] = c.Name
	}
	for _, c := range m.City.Communities {
		names["community"][c.Code] = c.Name
	}
	for _, c := range m.City.Towns {
		names["town"][c.Code] = c.Name
	}
	for _, d := range m.City.Departments {
		names["department"][d.Code] = d.Name
	}
	all := func(string) bool { return true }
	from, to := start.Add(7*time.Hour), start.AddDate(0, 0, 19)
	type tc struct {
		q    url.Values
		keep func(string) bool
	}
	for _, groupBy := range []string{"cell", "community", "town", "department"} {
		for _, c := range []tc{
			{url.Values{"interval": {"day"}}, all},
			{url.Values{"interval": {"week"}, "theme": {"parking"}}, func(k string) bool { return k == "E0505" || k == "E0506" }},
			{url.Values{"interval": {"month"}, "category": {"E0406,E0102"}}, func(k string) bool { return k == "E0406" || k == "E0102" }},
			{url.Values{"theme": {"parking"}, "category": {"E0505,E0406"}}, func(k string) bool { return k == "E0505" }},
			{url.Values{"theme": {"waterlogging"}, "category": {"E0505"}}, func(string) bool { return false }},
		} {
			q := url.Values{"group_by": {groupBy}, "from": {from.Format(time.RFC3339)}, "to": {to.Format(time.RFC3339)}}
			for k, v := range c.q {
				q[k] = v
			}
			where := q.Encode()
			resp, b := f.statsGet(t, q, "")
			if resp.StatusCode != 200 {
				t.Fatalf("%s: %d %s", where, resp.StatusCode, b)
			}
			got := decode[statsAnswer](t, b)
			if got.GroupBy != groupBy || !got.From.Equal(from) || !got.To.Equal(to) || got.Interval != q.Get("interval") {
				t.Errorf("%s: echoes group_by %q, [%s, %s), interval %q", where, got.GroupBy, got.From, got.To, got.Interval)
			}
			want := expectGroups(xs, groupBy, from, to, c.keep)
			if len(got.Groups) != len(want) {
				t.Errorf("%s: %d groups, want %d", where, len(got.Groups), len(want))
			}
			if c.q.Get("theme") != "waterlogging" && len(want) < 2 {
				t.Errorf("%s: only %d groups expected: the test world is too small", where, len(want))
			}
			for i := range min(len(got.Groups), len(want)) {
				g := got.Groups[i]
				if counters(g) != counters(want[i]) {
					t.Errorf("%s, group %d:\n got %s\nwant %s", where, i, counters(g), counters(want[i]))
				}
				if g.Name == "" || g.Name != names[groupBy][g.Code] {
					t.Errorf("%s, %s: name %q, want %q", where, g.Code, g.Name, names[groupBy][g.Code])
				}
				checkRatios(t, where, g)
				var sum int64
				for j, p := range g.Series {
					sum += p.Count
					if j > 0 && !p.Start.After(g.Series[j-1].Start) {
						t.Errorf("%s, %s: series out of order at %s", where, g.Code, p.Start)
					}
					if _, off := p.Start.Zone(); off != 8*3600 || p.Start.Hour() != 0 {
						t.Errorf("%s, %s: bucket %s is not a local midnight", where, g.Code, p.Start)
					}
				}
				if q.Get("interval") == "" && g.Series != nil || q.Get("interval") != "" && sum != g.Total {
					t.Errorf("%s, %s: series of %d points add up to %d, total %d", where, g.Code, len(g.Series), sum, g.Total)
				}
				if iv := q.Get("interval"); iv != "" {
					first, last := g.Series[0].Start, g.Series[len(g.Series)-1].Start
					if first.After(from) || !last.Before(to) || len(g.Series) < map[string]int{"day": 19, "week": 3, "month": 1}[iv] {
						t.Errorf("%s, %s: %d buckets from %s to %s do not cover [%s, %s)", where, g.Code, len(g.Series), first, last, from, to)
					}
				}
			}
		}
	}

	// Every path was taken, and the counters of the whole window add up.
	totals := expectGroups(xs, "town", start, start.AddDate(0, 0, 30), all)
	var due, reworked int64
	for _, g := range totals {
		due += g.DueToHandle
		reworked += g.Reworked
	}
	if due == 0 || reworked == 0 {
		t.Fatalf("the test world has no due (%d) or reworked (%d) incidents", due, reworked)
	}

	// top keeps the first groups of the full answer.
	q := url.Values{"group_by": {"cell"}, "from": {start.Format(time.RFC3339)}, "to": {start.AddDate(0, 0, 30).Format(time.RFC3339)}}
	_, b := f.statsGet(t, q, "")
	full := decode[statsAnswer](t, b).Groups
	q.Set("top", "4")
	_, b = f.statsGet(t, q, "")
	top := decode[statsAnswer](t, b).Groups
	if len(full) != 9 || len(top) != 4 {
		t.Fatalf("cells: %d groups, top 4: %d", len(full), len(top))
	}
	for i := range top {
		if counters(top[i]) != counters(full[i]) {
			t.Errorf("top %d: %s, want %s", i, counters(top[i]), counters(full[i]))
		}
	}

	// The default window is the last 30 days: from and to say which.
	resp, b := f.statsGet(t, url.Values{"group_by": {"town"}}, "")
	def := decode[statsAnswer](t, b)
	if resp.StatusCode != 200 || def.To.Sub(def.From) != 30*24*time.Hour || time.Since(def.To) > time.Minute {
		t.Errorf("default window: %d [%s, %s)", resp.StatusCode, def.From, def.To)
	}
	want := expectGroups(xs, "town", def.From, def.To, all)
	if len(def.Groups) != len(want) {
		t.Errorf("default window: %d groups, want %d", len(def.Groups), len(want))
	}
	for i := range min(len(def.Groups), len(want)) {
		if counters(def.Groups[i]) != counters(want[i]) {
			t.Errorf("default window, group %d: %s, want %s", i, counters(def.Groups[i]), counters(want[i]))
		}
	}

	// A town-scoped key counts only its own town.
	key, err := f.db.CreateAPIKey(context.Background(), "planner", "331082002", "stats test")
	if err != nil {
		t.Fatal(err)
	}
	q = url.Values{"group_by": {"cell"}, "from": {start.Format(time.RFC3339)}, "to": {start.AddDate(0, 0, 30).Format(time.RFC3339)}}
	resp, b = f.statsGet(t, q, key)
	scoped := decode[statsAnswer](t, b).Groups
	if resp.StatusCode != 200 || len(scoped) != 3 {
		t.Fatalf("town-scoped: %d, %d groups, want 3: %s", resp.StatusCode, len(scoped), b)
	}
	for _, g := range scoped {
		if !strings.HasPrefix(g.Code, "331082002") {
			t.Errorf("a key of town 331082002 sees cell %s", g.Code)
		}
	}
}

func TestStatsRejects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	now := time.Now().UTC()
	ts := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	year := 365 * 24 * time.Hour
	for _, c := range []struct {
		q     url.Values
		field string
	}{
		{url.Values{"group_by": {"street"}}, "group_by"},
		{url.Values{"group_by": {"cell_code"}}, "group_by"},
		{url.Values{"theme": {"noise"}}, "theme"},
		{url.Values{"category": {"E9999"}}, "category"},
		{url.Values{"category": {"E0505,"}}, "category"},
		{url.Values{"interval": {"year"}}, "interval"},
		{url.Values{"interval": {"hour"}}, "interval"},
		{url.Values{"top": {"0"}}, "top"},
		{url.Values{"top": {"1001"}}, "top"},
		{url.Values{"top": {"ten"}}, "top"},
		{url.Values{"from": {"yesterday"}}, "from"},
		{url.Values{"to": {"2026-13-01T00:00:00Z"}}, "to"},
		{url.Values{"from": {ts(0)}, "to": {ts(0)}}, "from"},
		{url.Values{"from": {ts(time.Hour)}, "to": {ts(0)}}, "from"},
		{url.Values{"from": {ts(-3*year - 2*24*time.Hour)}, "to": {ts(0)}}, "3 years"},
		{url.Values{"group_by": {"cell"}, "interval": {"day"}, "from": {ts(-year)}, "to": {ts(0)}}, "interval"},
	} {
		resp, b := f.statsGet(t, c.q, "")
		wantProblem(t, resp, b, 400, c.field)
	}
	// Within the caps: cells by day over a month, top 10 cells by day over
	// a year, 3 years up to now (to defaults to now).
	for _, q := range []url.Values{
		{"group_by": {"cell"}, "interval": {"day"}},
		{"from": {ts(-3 * year)}},
		{"group_by": {"cell"}, "interval": {"day"}, "top": {"10"}, "from": {ts(-year)}, "to": {ts(0)}},
	} {
		if resp, b := f.statsGet(t, q, ""); resp.StatusCode != 200 || decode[statsAnswer](t, b).Groups == nil {
			t.Errorf("%s: %d %s", q.Encode(), resp.StatusCode, b)
		}
	}
}
