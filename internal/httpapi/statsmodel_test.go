package httpapi_test

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/jackc/pgx/v5"
)

// rawIncident is an incident as the recounts read it from the table.
type rawIncident struct {
	id                           int64
	keys                         map[string]string // group_by → code
	category, status, parkedFrom string
	occurred, deadline           time.Time
	dispatched, handled, closed  *time.Time
	reworks, extensions          int
	supervised                   bool
}

func readRaw(t *testing.T, db *postgres.DB) []rawIncident {
	t.Helper()
	rows, err := db.Pool().Query(context.Background(), `SELECT id, cell_code, community_code, town_code, department_code, category, status,
		coalesce(parked_from, ''), occurred_at, deadline, dispatched_at, handled_at, closed_at, reworks, extensions, supervised FROM incident`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (x rawIncident, err error) {
		var cell, comm, town, dept string
		err = r.Scan(&x.id, &cell, &comm, &town, &dept, &x.category, &x.status, &x.parkedFrom, &x.occurred, &x.deadline,
			&x.dispatched, &x.handled, &x.closed, &x.reworks, &x.extensions, &x.supervised)
		x.keys = map[string]string{"cell": cell, "community": comm, "town": town, "department": dept}
		return x, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// recountStats counts raw incidents by the definitions in the doc comment
// of the stats handler, grouped and ordered as the API orders groups.
func recountStats(xs []rawIncident, groupBy string, from, to time.Time, cats []string, town, interval string, top int) []statsGroupOut {
	m := map[string]*statsGroupOut{}
	type bucketKey struct {
		group string
		start int64
	}
	series := map[bucketKey]int64{}
	b := func(v bool) int64 {
		if v {
			return 1
		}
		return 0
	}
	for _, x := range xs {
		if x.occurred.Before(from) || !x.occurred.Before(to) || (cats != nil && !slices.Contains(cats, x.category)) || (town != "" && x.keys["town"] != town) {
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
		if interval != "" {
			series[bucketKey{k, bucketOf(x.occurred, interval).Unix()}]++
		}
		due := x.status != "cancelled" && (x.dispatched != nil || x.status == "handled" || x.status == "closed" || x.status == "evaluated" ||
			(x.status == "parked" && x.parkedFrom == "dispatched"))
		if !due {
			continue
		}
		onTime := x.handled != nil && !x.handled.After(x.deadline)
		g.DueToHandle++
		g.DueToClose++
		g.Handled += b(x.handled != nil)
		g.HandledOnTime += b(onTime)
		g.Closed += b(x.closed != nil)
		g.ClosedOnTime += b(x.closed != nil && onTime)
		g.Reworked += b(x.reworks > 0)
		g.Extended += b(x.extensions > 0)
		g.Accurate += 1 - b(x.reworks > 0)
	}
	out := make([]statsGroupOut, 0, len(m))
	for _, g := range m {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b statsGroupOut) int {
		return cmp.Or(cmp.Compare(b.Total, a.Total), strings.Compare(a.Code, b.Code))
	})
	if top > 0 && len(out) > top {
		out = out[:top]
	}
	if interval != "" {
		var starts []time.Time
		for s := bucketOf(from, interval); s.Before(to); s = nextBucket(s, interval) {
			starts = append(starts, s)
		}
		for i := range out {
			for _, s := range starts {
				out[i].Series = append(out[i].Series, struct {
					Start time.Time
					Count int64
				}{s, series[bucketKey{out[i].Code, s.Unix()}]})
			}
		}
	}
	return out
}

func bucketOf(t time.Time, interval string) time.Time {
	l := t.In(statsCST)
	d := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, statsCST)
	switch interval {
	case "week":
		return d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7))
	case "month":
		return time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, statsCST)
	}
	return d
}

func nextBucket(t time.Time, interval string) time.Time {
	switch interval {
	case "week":
		return t.AddDate(0, 0, 7)
	case "month":
		return t.AddDate(0, 1, 0)
	}
	return t.AddDate(0, 0, 1)
}

// statsGroupsString renders groups for comparison (ratios are checked
// apart by checkRatios).
func statsGroupsString(gs []statsGroupOut) string {
	var sb strings.Builder
	for _, g := range gs {
		sb.WriteString(counters(g))
		for _, p := range g.Series {
			fmt.Fprintf(&sb, " %s:%d", p.Start.In(statsCST).Format("0102"), p.Count)
		}
		sb.WriteString("\n")
	}
	return sb.String()
}

// statsModelWorld bulk-loads n incidents over the 60 days before now in
// three towns, and walks a random part of them through the lifecycle; a
// few deadlines are moved before handling (and reported as writes do), so
// that some are handled late.
func statsModelWorld(t *testing.T, f *fixture, r *rand.Rand, n int) []int64 {
	t.Helper()
	ids := f.bulkRandom(t, r, n, time.Now().AddDate(0, 0, -60), 60*24*time.Hour)
	for _, id := range ids {
		f.walkRandom(t, r, id)
	}
	return ids
}

var statsModelCats = []string{"E0505", "E0506", "E0406", "E0102", "E0103", "P0301"}

// bulkRandom posts n incidents at random interior points of a few cells,
// occurring in [from, from+span), and returns their ids.
func (f *fixture) bulkRandom(t *testing.T, r *rand.Rand, n int, from time.Time, span time.Duration) []int64 {
	t.Helper()
	cells := []string{"331082001001001", "331082001002001", "331082002001001", "331082101001001", "331082101002001"}
	var sb strings.Builder
	for range n {
		lon, lat := f.interior(t, cells[r.IntN(len(cells))])
		at := from.Add(time.Duration(r.Int64N(int64(span))))
		fmt.Fprintf(&sb, `{"category":%q,"lon":%v,"lat":%v,"occurred_at":%q,"source":"collector"}`+"\n",
			statsModelCats[r.IntN(len(statsModelCats))], lon, lat, at.Format(time.RFC3339Nano))
	}
	resp, b := f.post(t, "/v1/incidents/bulk", sb.String())
	if resp.StatusCode != 201 {
		t.Fatalf("bulk: %d %s", resp.StatusCode, b[:min(len(b), 300)])
	}
	return decode[struct{ IDs []int64 }](t, b).IDs
}

// walkRandom moves an incident along a random path of the lifecycle.
func (f *fixture) walkRandom(t *testing.T, r *rand.Rand, id int64) {
	t.Helper()
	paths := [][]string{nil, {"register"}, {"register", "dismiss"}, {"register", "dispatch"}, {"register", "dispatch", "extend"},
		{"register", "dispatch", "supervise"}, {"register", "dispatch", "report"}, {"register", "dispatch", "report", "verify"},
		{"register", "dispatch", "report", "verify", "evaluate"}, {"register", "dispatch", "report", "reject"},
		{"register", "dispatch", "park"}, {"register", "park"}, {"register", "dispatch", "park", "unpark"}, {"register", "dispatch", "return"}}
	p := paths[r.IntN(len(paths))]
	for i, a := range p {
		if a == "report" && r.IntN(3) == 0 { // due an hour ago: handled late
			if _, err := f.db.Pool().Exec(context.Background(), `UPDATE incident SET deadline = now() - interval '1 hour' WHERE id = $1`, id); err != nil {
				t.Fatal(err)
			}
			f.tally.Invalidate([]grid.IDRange{{First: id, Last: id}})
		}
		if resp, b := f.act(t, id, a); resp.StatusCode != 200 {
			t.Fatalf("incident %d, %v step %d: %d %s", id, p, i, resp.StatusCode, b)
		}
	}
}

// statsQuery is a random statistics query and its parameters.
type statsQuery struct {
	groupBy, interval, theme, category string
	from, to                           time.Time
	top                                int
}

func randomStatsQuery(r *rand.Rand) statsQuery {
	q := statsQuery{groupBy: []string{"cell", "community", "town", "department"}[r.IntN(4)]}
	base := time.Now().AddDate(0, 0, -65)
	q.from = base.Add(time.Duration(r.Int64N(int64(50 * 24 * time.Hour))))
	switch r.IntN(3) { // whole seconds, whole days, or fractional seconds (the SQL path)
	case 0:
		q.from = q.from.Truncate(time.Second)
	case 1:
		q.from = bucketOf(q.from, "day")
	}
	q.to = q.from.Add(time.Duration(1+r.Int64N(int64(40*24*time.Hour))) / time.Second * time.Second)
	if r.IntN(4) == 0 {
		q.to = time.Now().Add(time.Hour).Truncate(time.Second)
	}
	q.interval = []string{"", "", "day", "week", "month"}[r.IntN(5)]
	switch r.IntN(4) {
	case 0:
		q.theme = []string{"parking", "waterlogging", "sanitation"}[r.IntN(3)]
	case 1:
		cs := slices.Clone(statsModelCats)
		r.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
		q.category = strings.Join(cs[:1+r.IntN(3)], ",")
	case 2:
		q.theme, q.category = "parking", "E0505,E0406"
	}
	if r.IntN(3) == 0 {
		q.top = 1 + r.IntN(4)
	}
	return q
}

func (q statsQuery) values() url.Values {
	v := url.Values{"group_by": {q.groupBy}, "from": {q.from.Format(time.RFC3339Nano)}, "to": {q.to.Format(time.RFC3339Nano)}}
	for k, s := range map[string]string{"interval": q.interval, "theme": q.theme, "category": q.category} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.top > 0 {
		v.Set("top", fmt.Sprint(q.top))
	}
	return v
}

// categories is the category set the query counts (nil: all).
func (q statsQuery) categories() []string {
	var cats []string
	if q.category != "" {
		cats = strings.Split(q.category, ",")
	}
	if q.theme != "" {
		th := map[string][]string{"parking": {"E0505", "E0506"}, "waterlogging": {"E0406"}, "sanitation": {"E0102", "E0103", "P0301"}}[q.theme]
		if cats != nil {
			th = slices.DeleteFunc(slices.Clone(th), func(k string) bool { return !slices.Contains(cats, k) })
		}
		cats = append([]string{}, th...)
	}
	return cats
}

// checkStatsQuery asks q with key (scoped to town, or "") and compares the
// answer with the recount of xs.
func checkStatsQuery(t *testing.T, f *fixture, xs []rawIncident, q statsQuery, key, town string) {
	t.Helper()
	resp, b := f.statsGet(t, q.values(), key)
	if resp.StatusCode != 200 {
		t.Fatalf("%v: %d %s", q.values(), resp.StatusCode, b)
	}
	got := decode[statsAnswer](t, b).Groups
	want := recountStats(xs, q.groupBy, q.from, q.to, q.categories(), town, q.interval, q.top)
	if g, w := statsGroupsString(got), statsGroupsString(want); g != w {
		t.Fatalf("%v (town %q):\ngot\n%s\nwant (raw recount)\n%s", q.values(), town, g, w)
	}
	for _, g := range got {
		checkRatios(t, q.values().Encode(), g)
	}
}

// TestStatsReadModelEqualsRawRecount: statistics served from the read
// model equal a recount of the incident table for random windows (cutting
// days, in whole or fractional seconds), groupings, themes, categories,
// intervals, top and town scopes — loaded before half of the writes and
// kept current by their reports — and equal the SQL path.
func TestStatsReadModelEqualsRawRecount(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := rand.New(rand.NewPCG(11, 12))
	statsModelWorld(t, f, r, 300) // before the model is loaded, or while
	if err := f.tally.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	statsModelWorld(t, f, r, 300) // after: reported by the writes
	if ok, err := f.tally.Ready(); !ok || err != nil {
		t.Fatalf("the read model is not loaded: %v", err)
	}
	xs := readRaw(t, f.db)
	towns := []string{"", "331082001", "331082101"}
	keys := map[string]string{"": f.key}
	for _, town := range towns[1:] {
		k, err := f.db.CreateAPIKey(ctx, "planner", town, "test")
		if err != nil {
			t.Fatal(err)
		}
		keys[town] = k
	}
	for range 120 {
		q := randomStatsQuery(r)
		town := towns[r.IntN(len(towns))]
		checkStatsQuery(t, f, xs, q, keys[town], town)
		if t.Failed() {
			return
		}
		// The SQL path (the fallback, and the bench's baseline) agrees.
		sf := grid.StatsFilter{GroupBy: q.groupBy, Categories: q.categories(), From: q.from, To: q.to, Interval: q.interval, Top: q.top, Town: town}
		mem, err := f.tally.Stats(ctx, sf)
		if err != nil {
			t.Fatal(err)
		}
		sq, err := f.db.Stats(ctx, sf)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := fmt.Sprint(mem), fmt.Sprint(sq); a != b {
			t.Fatalf("%+v: memory and SQL differ:\n%s\n%s", sf, a, b)
		}
	}
}

// TestStatsReadModelUnderConcurrentWrites: single creates, bulk loads,
// lifecycle actions and statistics queries all at once, under -race; each
// answer is well-formed, and once the writers stop the answer equals a raw
// recount.
func TestStatsReadModelUnderConcurrentWrites(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.tally.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	seedIDs := f.bulkRandom(t, rand.New(rand.NewPCG(1, 2)), 200, time.Now().AddDate(0, 0, -20), 20*24*time.Hour)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 3 { // single creates
		wg.Add(1)
		go func() {
			defer wg.Done()
			lon, lat := f.interior(t, "331082001001001")
			for i := range 40 {
				resp, b := f.post(t, "/v1/incidents", fmt.Sprintf(`{"category":"E0505","lon":%v,"lat":%v,"occurred_at":%q,"source":"app"}`,
					lon+float64(i%5)*1e-5, lat+float64(w)*1e-5, time.Now().Add(-time.Duration(i)*time.Hour).Format(time.RFC3339)))
				if resp.StatusCode != 201 {
					errs <- fmt.Errorf("create: %d %s", resp.StatusCode, b)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() { // bulk loads
		defer wg.Done()
		r := rand.New(rand.NewPCG(3, 4))
		for range 3 {
			f.bulkRandom(t, r, 150, time.Now().AddDate(0, 0, -20), 20*24*time.Hour)
		}
	}()
	for w := range 2 { // lifecycle actions, concurrent on the same incidents
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, id := range seedIDs {
				for _, a := range []string{"register", "dispatch", "report", "verify"}[:1+(i+w)%4] {
					resp, b := f.act(t, id, a)
					if resp.StatusCode != 200 && resp.StatusCode != 409 {
						errs <- fmt.Errorf("action %s on %d: %d %s", a, id, resp.StatusCode, b)
						return
					}
				}
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	q := statsQuery{groupBy: "cell", from: time.Now().AddDate(0, 0, -30).Truncate(time.Second), to: time.Now().Add(time.Hour).Truncate(time.Second), interval: "day"}
reading:
	for {
		select {
		case <-done:
			break reading
		default:
		}
		if resp, b := f.statsGet(t, q.values(), ""); resp.StatusCode != 200 {
			t.Fatalf("stats during writes: %d %s", resp.StatusCode, b)
		}
		if resp, b := f.get(t, "/v1/overview?level=city"); resp.StatusCode != 200 {
			t.Fatalf("overview during writes: %d %s", resp.StatusCode, b)
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	xs := readRaw(t, f.db)
	if len(xs) != 200+3*40+3*150 {
		t.Fatalf("%d incidents stored", len(xs))
	}
	for _, g := range []string{"cell", "community", "town", "department"} {
		q.groupBy = g
		checkStatsQuery(t, f, xs, q, f.key, "")
	}
	checkOverview(t, f, xs, "/v1/overview?level=city", f.key, "")
}

// TestStatsAcrossReplicas: a second replica on the same database hears
// bulk loads, creates and lifecycle actions by NOTIFY, and answers as the
// first.
func TestStatsAcrossReplicas(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	a, b := newReplicas(t)
	heard := make(chan []grid.IDRange, 256)
	connected := make(chan struct{}, 4)
	go b.db.ListenIncidentChanges(ctx, func(ch postgres.IncidentChange) {
		if ch.All {
			b.tally.InvalidateAll(ctx)
			return
		}
		b.tally.Invalidate(ch.IDs)
		if len(ch.IDs) > 0 {
			heard <- ch.IDs
		}
	}, func() { connected <- struct{}{} }, slog.New(slog.DiscardHandler))
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	select {
	case <-connected:
	case <-wctx.Done():
		t.Fatal("replica b's listener did not connect")
	}
	for _, f := range []*fixture{a, b} {
		if err := f.tally.Wait(wctx); err != nil {
			t.Fatal(err)
		}
	}
	q := statsQuery{groupBy: "town", from: time.Now().AddDate(0, 0, -30).Truncate(time.Second), to: time.Now().Add(time.Hour).Truncate(time.Second)}
	answer := func(f *fixture) string {
		resp, body := f.statsGet(t, q.values(), "")
		if resp.StatusCode != 200 {
			t.Fatalf("stats: %d %s", resp.StatusCode, body)
		}
		return statsGroupsString(decode[statsAnswer](t, body).Groups)
	}
	hear := func(what string, want int64) {
		t.Helper()
		for {
			select {
			case rs := <-heard:
				for _, r := range rs {
					if r.First <= want && want <= r.Last {
						return
					}
				}
			case <-wctx.Done():
				t.Fatalf("replica b heard nothing of %s", what)
			}
		}
	}
	r := rand.New(rand.NewPCG(7, 8))
	ids := a.bulkRandom(t, r, 200, time.Now().AddDate(0, 0, -20), 20*24*time.Hour)
	hear("the bulk load", ids[len(ids)-1])
	xs := readRaw(t, a.db)
	if got, want := answer(b), statsGroupsString(recountStats(xs, "town", q.from, q.to, nil, "", "", 0)); got != want || got != answer(a) {
		t.Fatalf("after the bulk load, replica b:\n%s\nwant\n%s", got, want)
	}
	for _, act := range []string{"register", "dispatch", "report"} {
		if resp, body := a.act(t, ids[0], act); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", act, resp.StatusCode, body)
		}
		hear("the action "+act, ids[0])
	}
	_, x := a.create(t, map[string]any{"category": "E0406", "lon": 121.1301, "lat": 28.85, "occurred_at": time.Now().Add(-time.Hour).Format(time.RFC3339), "source": "app"})
	hear("the create", x.ID)
	xs = readRaw(t, a.db)
	if got, want := answer(b), statsGroupsString(recountStats(xs, "town", q.from, q.to, nil, "", "", 0)); got != want {
		t.Fatalf("after the actions and the create, replica b:\n%s\nwant\n%s", got, want)
	}
	if !strings.Contains(answer(b), " handled 1 ") {
		t.Errorf("replica b does not count the handled incident:\n%s", answer(b))
	}
}
