package httpapi_test

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

type ovCounts struct{ New, Closed, Overdue, Supervised int64 }

type ovPeriod struct {
	New, Closed, Overdue, Supervised int64
	ByTheme                          map[string]ovCounts `json:"by_theme"`
}

type ovUnit struct {
	Level, Code, Name string
	Today, Month      ovPeriod
	OnTime            *float64 `json:"on_time_closure_rate"`
}

type ovAnswer struct {
	ovUnit
	GeneratedAt time.Time `json:"generated_at"`
	TopCells    []struct {
		Code, Name string
		Count      int64
	} `json:"top_cells"`
	Daily []struct {
		Day         string
		New, Closed int64
	}
	Children []ovUnit
}

var ovThemes = map[string][]string{"parking": {"E0505", "E0506"}, "waterlogging": {"E0406"}, "sanitation": {"E0102", "E0103", "P0301"}}

// recountUnit counts the incidents of xs that in(x) keeps by the
// definitions of the overview's doc comment, at now.
func recountUnit(xs []rawIncident, in func(rawIncident) bool, now time.Time) (today, month ovPeriod, rate *float64) {
	l := now.In(statsCST)
	day := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, statsCST)
	first := time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, statsCST)
	periods := []struct {
		p        *ovPeriod
		from, to time.Time
	}{{&today, day, day.AddDate(0, 0, 1)}, {&month, first, first.AddDate(0, 1, 0)}}
	within := func(t *time.Time, from, to time.Time) bool { return t != nil && !t.Before(from) && t.Before(to) }
	var due, onTime int64
	for _, pr := range periods {
		pr.p.ByTheme = map[string]ovCounts{}
		for th := range ovThemes {
			pr.p.ByTheme[th] = ovCounts{}
		}
	}
	for _, x := range xs {
		if !in(x) {
			continue
		}
		open := slices.Contains([]string{"collected", "registered", "dispatched", "handled", "parked"}, x.status)
		for i, pr := range periods {
			var c ovCounts
			if within(&x.occurred, pr.from, pr.to) {
				c.New++
				if x.supervised {
					c.Supervised++
				}
				if i == 1 && x.status != "cancelled" && (x.dispatched != nil || x.status == "handled" || x.status == "closed" ||
					x.status == "evaluated" || (x.status == "parked" && x.parkedFrom == "dispatched")) {
					due++
					if x.closed != nil && x.handled != nil && !x.handled.After(x.deadline) {
						onTime++
					}
				}
			}
			if within(x.closed, pr.from, pr.to) {
				c.Closed++
			}
			if open && within(&x.deadline, pr.from, pr.to) && now.After(x.deadline) {
				c.Overdue++
			}
			pr.p.New, pr.p.Closed, pr.p.Overdue, pr.p.Supervised = pr.p.New+c.New, pr.p.Closed+c.Closed, pr.p.Overdue+c.Overdue, pr.p.Supervised+c.Supervised
			for th, cats := range ovThemes {
				if slices.Contains(cats, x.category) {
					b := pr.p.ByTheme[th]
					b.New, b.Closed, b.Overdue, b.Supervised = b.New+c.New, b.Closed+c.Closed, b.Overdue+c.Overdue, b.Supervised+c.Supervised
					pr.p.ByTheme[th] = b
				}
			}
		}
	}
	if due > 0 {
		r := float64(onTime) / float64(due)
		rate = &r
	}
	return today, month, rate
}

func sameRate(a, b *float64) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && math.Abs(*a-*b) < 1e-12)
}

// checkOverview asks path with key and compares every figure with a
// recount of xs at the answer's generated_at; town is the key's scope.
func checkOverview(t *testing.T, f *fixture, xs []rawIncident, path, key, town string) ovAnswer {
	t.Helper()
	resp, b := f.getAs(t, path, key)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
	}
	got := decode[ovAnswer](t, b)
	now := got.GeneratedAt
	if now.Nanosecond() != 0 || time.Since(now) > time.Minute {
		t.Fatalf("%s: generated_at %s", path, now)
	}
	inUnit := func(level, code string) func(rawIncident) bool {
		return func(x rawIncident) bool {
			switch level {
			case "town":
				return x.keys["town"] == code
			case "community":
				return x.keys["community"] == code
			}
			return town == "" || x.keys["town"] == town
		}
	}
	check := func(u ovUnit) {
		t.Helper()
		today, month, rate := recountUnit(xs, inUnit(u.Level, u.Code), now)
		if fmt.Sprint(u.Today) != fmt.Sprint(today) || fmt.Sprint(u.Month) != fmt.Sprint(month) || !sameRate(u.OnTime, rate) {
			t.Errorf("%s: %s %s:\ngot  today %v month %v rate %v\nwant today %v month %v rate %v", path, u.Level, u.Code,
				u.Today, u.Month, ptr(u.OnTime), today, month, ptr(rate))
		}
	}
	check(got.ovUnit)
	for _, c := range got.Children {
		check(c)
	}
	// Top cells this month and the daily series.
	in := inUnit(got.Level, got.Code)
	l := now.In(statsCST)
	first := time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, statsCST)
	day0 := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, statsCST).AddDate(0, 0, -29)
	cells := map[string]int64{}
	daily := map[string][2]int64{}
	for _, x := range xs {
		if !in(x) {
			continue
		}
		if !x.occurred.Before(first) && x.occurred.Before(first.AddDate(0, 1, 0)) {
			cells[x.keys["cell"]]++
		}
		if !x.occurred.Before(day0) {
			d := daily[x.occurred.In(statsCST).Format(time.DateOnly)]
			d[0]++
			daily[x.occurred.In(statsCST).Format(time.DateOnly)] = d
		}
		if x.closed != nil && !x.closed.Before(day0) {
			d := daily[x.closed.In(statsCST).Format(time.DateOnly)]
			d[1]++
			daily[x.closed.In(statsCST).Format(time.DateOnly)] = d
		}
	}
	type cc struct {
		code string
		n    int64
	}
	var top []cc
	for c, n := range cells {
		top = append(top, cc{c, n})
	}
	slices.SortFunc(top, func(a, b cc) int { return cmp.Or(cmp.Compare(b.n, a.n), strings.Compare(a.code, b.code)) })
	top = top[:min(len(top), 10)]
	var gotTop []cc
	for _, c := range got.TopCells {
		if c.Name == "" {
			t.Errorf("%s: top cell %s has no name", path, c.Code)
		}
		gotTop = append(gotTop, cc{c.Code, c.Count})
	}
	if fmt.Sprint(gotTop) != fmt.Sprint(top) {
		t.Errorf("%s: top cells %v, want %v", path, gotTop, top)
	}
	if len(got.Daily) != 30 {
		t.Fatalf("%s: %d days", path, len(got.Daily))
	}
	for i, d := range got.Daily {
		want := day0.AddDate(0, 0, i).Format(time.DateOnly)
		if d.Day != want || [2]int64{d.New, d.Closed} != daily[want] {
			t.Errorf("%s: day %d = %+v, want %s %v", path, i, d, want, daily[want])
		}
	}
	return got
}

func ptr(r *float64) string {
	if r == nil {
		return "null"
	}
	return fmt.Sprint(*r)
}

// TestOverviewEqualsRawRecount: the big screen's figures of the city, a
// town and a community, and of each child, equal a recount of the
// incident table; a town-scoped key sees its own town only; bad requests
// are 4xx.
func TestOverviewEqualsRawRecount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.tally.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(21, 22))
	// Most this month and today, some before, a few closed and overdue.
	f.bulkRandom(t, r, 150, time.Now().AddDate(0, 0, -45), 45*24*time.Hour)
	ids := f.bulkRandom(t, r, 200, time.Now().Add(-36*time.Hour), 36*time.Hour)
	// Some surely today and this month (China time), however little of
	// either has passed.
	now := time.Now()
	l := now.In(statsCST)
	for _, start := range []time.Time{time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, statsCST), time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, statsCST)} {
		f.bulkRandom(t, r, 20, start, max(now.Sub(start), time.Millisecond))
	}
	for _, id := range ids {
		f.walkRandom(t, r, id)
	}
	xs := readRaw(t, f.db)

	city := checkOverview(t, f, xs, "/v1/overview?level=city", f.key, "")
	if city.Level != "city" || city.Code != "331082" || city.Name == "" || len(city.Children) != 19 {
		t.Fatalf("city: %s %s %q, %d children", city.Level, city.Code, city.Name, len(city.Children))
	}
	var sum int64
	for _, c := range city.Children {
		if c.Level != "town" || c.Name == "" {
			t.Errorf("child %+v", c)
		}
		sum += c.Month.New
	}
	if sum != city.Month.New || city.Month.New == 0 || city.Today.New == 0 {
		t.Errorf("the towns' new this month add up to %d, the city's is %d (today %d)", sum, city.Month.New, city.Today.New)
	}
	var overdue, closed int64
	for _, c := range city.Children {
		overdue += c.Today.Overdue
		closed += c.Today.Closed
	}
	// The figures equal the recount (checkOverview); these say the data
	// reached them. Closures are made now, so today has some; a deadline
	// passed today needs some of today (China time) behind us.
	sinceMidnight := now.Sub(time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, statsCST))
	if closed == 0 || overdue != city.Today.Overdue || (overdue == 0 && sinceMidnight >= 6*time.Hour) {
		t.Errorf("today: %d overdue, %d closed in the towns; city %+v", overdue, closed, city.Today)
	}
	checkOverview(t, f, xs, "/v1/overview?level=city&code=331082", f.key, "")
	town := checkOverview(t, f, xs, "/v1/overview?level=town&code=331082001", f.key, "")
	if town.Level != "town" || len(town.Children) == 0 || town.Children[0].Level != "community" || town.Month.New == 0 {
		t.Fatalf("town: %+v, %d children", town.ovUnit, len(town.Children))
	}
	comm := checkOverview(t, f, xs, "/v1/overview?level=community&code=331082001001", f.key, "")
	if comm.Level != "community" || len(comm.Children) != 0 || comm.Month.New == 0 {
		t.Fatalf("community: %+v, %d children", comm.ovUnit, len(comm.Children))
	}

	// A town's key: city level is its town; another town is not there.
	tk, err := f.db.CreateAPIKey(ctx, "planner", "331082101", "test")
	if err != nil {
		t.Fatal(err)
	}
	own := checkOverview(t, f, xs, "/v1/overview?level=city", tk, "331082101")
	if own.Level != "town" || own.Code != "331082101" {
		t.Errorf("a town's key at city level: %s %s", own.Level, own.Code)
	}
	checkOverview(t, f, xs, "/v1/overview?level=town&code=331082101", tk, "331082101")
	app, err := f.db.CreateAPIKey(ctx, "app", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path, key string
		status    int
		mention   string
	}{
		{"/v1/overview?level=town&code=331082001", tk, 404, "331082001"},
		{"/v1/overview?level=community&code=331082001001", tk, 404, "331082001001"},
		{"/v1/overview?level=town&code=331082999", f.key, 404, "331082999"},
		{"/v1/overview?level=community&code=331082001999", f.key, 404, "331082001999"},
		{"/v1/overview?level=city&code=330000", f.key, 404, "330000"},
		{"/v1/overview?level=town", f.key, 400, "code"},
		{"/v1/overview?level=cell&code=331082001001001", f.key, 400, "level"},
		{"/v1/overview?level=city&from=2026-01-01T00:00:00Z", f.key, 400, "from"},
		{"/v1/overview?level=city", "", 401, "key"},
		{"/v1/overview?level=city", app, 403, "role"},
	} {
		resp, b := f.getAs(t, c.path, c.key)
		if resp.StatusCode != c.status || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") || !strings.Contains(string(b), c.mention) {
			t.Errorf("%s: %d %s, want %d naming %q", c.path, resp.StatusCode, b, c.status, c.mention)
		}
	}
}
