package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"golang.org/x/time/rate"
)

// The soak: a mixed load of every kind of request the service answers
// from several clients for a long while, against a server configured as
// serve configures one (its own pools with serve's statement timeout,
// serve's limits). It passes when nothing failed, when memory and
// goroutines stayed flat, and when every pooled connection came back.

// defaultSoakDuration is the soak's length in `make bench`; 10 minutes is
// the documented long run (--duration 10m).
const defaultSoakDuration = time.Minute

// soakScale sizes the soak: the bench uses benchSoakScale with the
// --duration given, the test a short run.
type soakScale struct {
	Duration time.Duration // the load runs this long, and every client at least one round of soakSchedule
	Clients  int           // concurrent keep-alive clients
	Sample   time.Duration // RSS, goroutines and backends sampled this often
	Warmup   float64       // share of the run before the level that growth is measured from
	Tail     float64       // share at the end compared with that level
}

func benchSoakScale(d time.Duration) soakScale {
	return soakScale{Duration: d, Clients: 8, Sample: min(max(d/60, 250*time.Millisecond), 10*time.Second), Warmup: 0.2, Tail: 0.1}
}

// soakApp is the application_name of the soak server's connections.
const soakApp = "citygrid-bench-soak"

// Request kinds of the soak.
const (
	soakLocate        = "locate"
	soakLocateBatch   = "locate-batch"
	soakTileGrid      = "tile-grid"
	soakTileIncidents = "tile-incidents"
	soakTileComposite = "tile-composite"
	soakHeatmap       = "heatmap"
	soakHeatmapTile   = "heatmap-tile"
	soakStats         = "stats"
	soakOverview      = "overview"
	soakCreate        = "create"
	soakAction        = "action"
)

func soakKinds() []string {
	return []string{soakLocate, soakLocateBatch, soakTileGrid, soakTileIncidents, soakTileComposite,
		soakHeatmap, soakHeatmapTile, soakStats, soakOverview, soakCreate, soakAction}
}

// soakSchedule is one round of a client: the kinds it sends, in order
// (soakCreate stands for a create and its lifecycle steps). Each client
// starts at its own offset.
var soakSchedule = func() []string {
	var s []string
	for i := range 20 {
		s = append(s, soakLocate, soakLocate, soakTileGrid, soakTileIncidents)
		switch i % 4 {
		case 0:
			s = append(s, soakTileComposite, soakHeatmap)
		case 1:
			s = append(s, soakHeatmapTile, soakCreate)
		case 2:
			s = append(s, soakTileComposite, soakStats)
		case 3:
			s = append(s, soakHeatmapTile, soakCreate)
		}
		if i%10 == 0 {
			s = append(s, soakLocateBatch, soakOverview)
		}
	}
	return s
}()

// soakFlows are what a dispatcher does with an incident after creating
// it, taken in turn: every step is allowed where the last one left it
// (the test replays them through grid.Apply).
var soakFlows = [][]string{
	{grid.ActRegister, grid.ActDispatch, grid.ActReport, grid.ActVerify, grid.ActEvaluate},
	{grid.ActRegister, grid.ActDispatch, grid.ActSupervise, grid.ActReport, grid.ActReject, grid.ActReport, grid.ActVerify},
	{grid.ActRegister, grid.ActDispatch, grid.ActExtend, grid.ActPark, grid.ActUnpark, grid.ActReport, grid.ActVerify, grid.ActEvaluate},
	{grid.ActRegister, grid.ActDispatch, grid.ActReturn, grid.ActDispatch, grid.ActReport, grid.ActVerify},
	{grid.ActDismiss},
	{grid.ActRegister, grid.ActPark},
}

// soakCreateRate paces the creates (each followed by its lifecycle
// steps; a create past the pace is skipped): 20 a second is some 1.7 million a day, far more than a city
// reports, yet it adds only 12,000 incidents in 10 minutes, so the read
// models that hold every incident grow by little and RSS growth measures
// leaks, not data.
const soakCreateRate = 20

// soakBatchPoints is the size of the soak's batch locates.
const soakBatchPoints = 500

type soakSample struct {
	At         time.Duration // since the load started
	RSS        int64
	Goroutines int
	Backends   int // the soak server's backends in pg_stat_activity
}

// soakResult is what the soak saw.
type soakResult struct {
	Clients     int
	Took        time.Duration
	Requests    map[string]int64 // by kind
	Errors      map[string]int64 // by kind and status ("create 500", "tile-grid transport")
	FirstErrors []string         // the first of the first few kinds and statuses, in full
	Flows       int64            // creates whose every lifecycle step succeeded
	Samples     []soakSample
	Pools       []postgres.PoolStat // after the load and the server's requests and background merges ended
	Backends    int                 // the soak server's backends at that point
	MaxBackends int                 // the most seen in a sample
	PoolMax     int                 // the pools' maximum, summed
	States      string              // when a connection is still acquired: the server's backends by state and last query
	Expensive   int                 // expensive requests the clients send at once (under the server's bound)
	Bound       int                 // the server's bound on expensive queries
}

func (r *soakResult) errorCount() int64 {
	var n int64
	for _, v := range r.Errors {
		n += v
	}
	return n
}

func (r *soakResult) acquired() int32 {
	var n int32
	for _, p := range r.Pools {
		n += p.Acquired
	}
	return n
}

// level is the median of a measure over the samples in [from, to) of the
// run (shares of it).
func (r *soakResult) level(from, to float64, f func(soakSample) int64) int64 {
	var vs []int64
	for _, s := range r.Samples {
		x := float64(s.At) / float64(r.Took)
		if x >= from && x < to {
			vs = append(vs, f(s))
		}
	}
	if len(vs) == 0 {
		return 0
	}
	slices.Sort(vs)
	return vs[len(vs)/2]
}

// benchSoak runs the soak row.
func benchSoak(ctx context.Context, db *postgres.DB, d time.Duration, sel func(string) bool, progress io.Writer) ([]benchRow, error) {
	if !sel("soak") {
		return nil, nil
	}
	sc := benchSoakScale(d)
	fmt.Fprintf(progress, "bench: soak, %d clients, %s …\n", sc.Clients, sc.Duration)
	r, err := runSoak(ctx, db, sc, progress)
	if err != nil {
		return nil, err
	}
	return soakRows(r, sc), nil
}

// soakRows are the soak's rows: errors, flatness, connections.
func soakRows(r soakResult, sc soakScale) []benchRow {
	var total int64
	var kinds []string
	for _, k := range soakKinds() {
		total += r.Requests[k]
		kinds = append(kinds, fmt.Sprintf("%s %d", k, r.Requests[k]))
	}
	errs := r.errorCount()
	ours := fmt.Sprintf("%d requests (%s/s): %s; %d creates with every lifecycle step; %d errors",
		total, thousands(float64(total)/r.Took.Seconds()), strings.Join(kinds, ", "), r.Flows, errs)
	if errs > 0 {
		var by []string
		for k, v := range r.Errors {
			by = append(by, fmt.Sprintf("%s: %d", k, v))
		}
		sort.Strings(by)
		ours += " (" + strings.Join(by, ", ") + "; first: " + strings.Join(r.FirstErrors, " | ") + ")"
	}
	rows := []benchRow{{
		Workload: fmt.Sprintf("soak: mixed load over HTTP, %d keep-alive clients, %s (locate single and batch, grid/incidents/composite tiles, heatmap JSON and tiles, stats, overview, creates each followed by its lifecycle steps; serve's limits, loopback exempt from rate limits, ≤ %d of the %d expensive-query slots)",
			r.Clients, r.Took.Round(time.Second), r.Expensive, r.Bound),
		Ours: ours, Baseline: "—", Ratio: "—",
		Budget: "0 errors (transport, 5xx, any unexpected status; 429 and 503 included)",
		Met:    yesNo(errs == 0),
	}}

	rssStart := r.level(sc.Warmup, sc.Warmup+0.1, func(s soakSample) int64 { return s.RSS })
	rssEnd := r.level(1-sc.Tail, 1.01, func(s soakSample) int64 { return s.RSS })
	gStart := r.level(sc.Warmup, sc.Warmup+0.1, func(s soakSample) int64 { return int64(s.Goroutines) })
	gEnd := r.level(1-sc.Tail, 1.01, func(s soakSample) int64 { return int64(s.Goroutines) })
	growth := func(a, b int64) float64 {
		if a <= 0 {
			return 0
		}
		return float64(b-a) / float64(a)
	}
	gr, gg := growth(rssStart, rssEnd), growth(gStart, gEnd)
	rows = append(rows, benchRow{
		Workload: fmt.Sprintf("soak: RSS and goroutines flat (%d samples every %s; median of %.0f–%.0f %% of the run, after warm-up, against the last %.0f %%)",
			len(r.Samples), sc.Sample.Round(time.Millisecond), 100*sc.Warmup, 100*(sc.Warmup+0.1), 100*sc.Tail),
		Ours: fmt.Sprintf("RSS %.1f → %.1f MB (%+.1f %%); goroutines %d → %d (%+.1f %%)",
			float64(rssStart)/(1<<20), float64(rssEnd)/(1<<20), 100*gr, gStart, gEnd, 100*gg),
		Baseline: "—", Ratio: "—", Budget: "growth ≤ 10 % each",
		Met: yesNo(rssStart > 0 && gStart > 0 && gr <= 0.10 && gg <= 0.10),
	})

	var pools []string
	for _, p := range r.Pools {
		pools = append(pools, fmt.Sprintf("%s pool %d acquired (%d open, max %d)", p.Name, p.Acquired, p.Total, p.Max))
	}
	if r.States != "" {
		pools = append(pools, "backends by state: "+r.States)
	}
	rows = append(rows, benchRow{
		Workload: "soak: every pooled connection returned (after the load stopped and the server's requests, listeners, jobs, merges and notifications ended)",
		Ours: fmt.Sprintf("%s; the server's backends in pg_stat_activity: %d at the end, at most %d in a sample",
			strings.Join(pools, ", "), r.Backends, r.MaxBackends),
		Baseline: "—", Ratio: "—",
		Budget: fmt.Sprintf("0 acquired; backends ≤ the pools' maximum (%d)", r.PoolMax),
		Met:    yesNo(r.acquired() == 0 && r.Backends <= r.PoolMax && r.MaxBackends <= r.PoolMax),
	})
	return rows
}

// runSoak opens the soak's own pools on db's database (serve's statement
// timeout, named soakApp), serves them as serve would, waits for the read
// models, drives the load, then stops the server and counts connections.
// db is used for pg_stat_activity only.
func runSoak(ctx context.Context, db *postgres.DB, sc soakScale, progress io.Writer) (soakResult, error) {
	r := soakResult{Clients: sc.Clients, Requests: map[string]int64{}, Errors: map[string]int64{}}
	lim, err := limitFlags(flag.NewFlagSet("bench soak", flag.ContinueOnError))
	if err != nil {
		return r, err
	}
	sdb, err := postgres.OpenWith(ctx, db.Pool().Config().ConnString(),
		postgres.Options{StatementTimeout: lim.StatementTimeout, ApplicationName: soakApp})
	if err != nil {
		return r, err
	}
	defer sdb.Close()
	for _, p := range sdb.PoolStats() {
		r.PoolMax += int(p.Max)
	}
	cat := locate.NewCatalog(sdb)
	if _, err := cat.Refresh(ctx); err != nil {
		return r, err
	}
	snap := cat.Current()
	if snap == nil || len(snap.Cells) == 0 {
		return r, errors.New("bench: soak: no grid snapshot loaded")
	}
	// Rate limits: serve's, with loopback exempt as serve's default has it
	// (the load generator is one address at far more than 50 requests a
	// second), set here whatever CITYGRID_RATE_EXEMPT says. The
	// expensive-query bound is serve's; the clients stay under it.
	base, rm, stop, err := startBenchServer(ctx, sdb, cat, func(c *httpapi.Config) {
		c.Limits.Exempt = loopbackNets()
		r.Bound = c.Limits.Expensive
		if r.Bound == 0 {
			r.Bound = httpapi.DefaultExpensive()
		}
	})
	if err != nil {
		return r, err
	}
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()
	// Half the slots at most: a slot is released just after the answer
	// is written, so a client's next expensive request may come before it.
	r.Expensive = max(1, r.Bound/2)
	if r.Bound < 0 {
		r.Expensive = sc.Clients
	}
	if err := rm.loaded(ctx); err != nil {
		return r, err
	}
	dispatcher, err := sdb.CreateAPIKey(ctx, "dispatcher", "", "bench soak")
	if err != nil {
		return r, err
	}
	planner, err := sdb.CreateAPIKey(ctx, "planner", "", "bench soak")
	if err != nil {
		return r, err
	}

	ld := newSoakLoad(base, snap, dispatcher, planner, r.Expensive, sc.Clients)
	// Sampling: RSS (after returning free heap, so garbage does not count),
	// goroutines, and the soak server's backends.
	start := time.Now()
	sampleDone := make(chan struct{})
	stopSampling := make(chan struct{})
	var sampleErr error
	go func() {
		defer close(sampleDone)
		t := time.NewTicker(sc.Sample)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
			n, err := soakBackends(ctx, db)
			if err != nil {
				sampleErr = err
				return
			}
			r.Samples = append(r.Samples, soakSample{At: time.Since(start), RSS: rssBytes(), Goroutines: runtime.NumGoroutine(), Backends: n})
			r.MaxBackends = max(r.MaxBackends, n)
		}
	}()

	end := start.Add(sc.Duration)
	var wg sync.WaitGroup
	for g := range sc.Clients {
		wg.Go(func() { ld.client(ctx, g, sc.Clients, end) })
	}
	wg.Wait()
	r.Took = time.Since(start)
	close(stopSampling)
	<-sampleDone
	if sampleErr != nil {
		return r, sampleErr
	}
	if err := ctx.Err(); err != nil {
		return r, err
	}
	ld.tr.CloseIdleConnections()
	fmt.Fprintf(progress, "bench: soak: load stopped after %s; stopping the server …\n", r.Took.Round(time.Millisecond))

	// The server's requests end (Shutdown waits for them), its listeners
	// and jobs end (stop waits for them); then the store's own background
	// work (merges, coalesced notifications) and the read model loads
	// still running finish.
	stop()
	stopped = true
	if err := sdb.Settle(ctx); err != nil {
		return r, err
	}
	if err := rm.loaded(ctx); err != nil {
		return r, err
	}
	// A connection the pool itself holds for a moment (its periodic health
	// check takes every idle one) is back within milliseconds; a leaked one
	// never is: look again for up to 5 s.
	r.Pools = sdb.PoolStats()
	for deadline := time.Now().Add(5 * time.Second); r.acquired() > 0 && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		r.Pools = sdb.PoolStats()
	}
	if r.Backends, err = soakBackends(ctx, db); err != nil {
		return r, err
	}
	r.MaxBackends = max(r.MaxBackends, r.Backends)
	if r.acquired() > 0 {
		rows, err := db.Pool().Query(ctx, `SELECT coalesce(state, '?') || ' ' || count(*) || ' (' || left(max(query), 80) || ')'
			FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1 GROUP BY state`, soakApp)
		if err != nil {
			return r, err
		}
		states, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return r, err
		}
		r.States = strings.Join(states, "; ")
	}

	ld.mu.Lock()
	defer ld.mu.Unlock()
	for k, v := range ld.requests {
		r.Requests[k] = v.Load()
	}
	maps.Copy(r.Errors, ld.errors)
	r.FirstErrors = slices.Clone(ld.first)
	r.Flows = ld.flows.Load()
	return r, nil
}

// soakBackends counts the soak server's connections in pg_stat_activity,
// asked on db's pool (not the soak's).
func soakBackends(ctx context.Context, db *postgres.DB) (int, error) {
	var n int
	err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, soakApp).Scan(&n)
	return n, err
}

func loopbackNets() []*net.IPNet {
	var out []*net.IPNet
	for _, s := range []string{"127.0.0.0/8", "::1/128"} {
		_, n, _ := net.ParseCIDR(s)
		out = append(out, n)
	}
	return out
}

// soakLoad is the load generator's shared state.
type soakLoad struct {
	base                string
	dispatcher, planner string
	tr                  *http.Transport
	pts                 []orb.Point // where locates, creates and batches are
	tilePts             []orb.Point // under which tiles are asked for: few, so the tile cache is warm after the warm-up
	creates             *rate.Limiter
	window              string // from=…&to=…, one year to the next hour
	expensive           chan struct{}

	requests map[string]*atomic.Int64
	flows    atomic.Int64
	nextFlow atomic.Int64
	mu       sync.Mutex
	errors   map[string]int64
	first    []string
}

func newSoakLoad(base string, snap *locate.Snapshot, dispatcher, planner string, expensive, clients int) *soakLoad {
	rng := rand.New(rand.NewPCG(71, 72))
	to := time.Now().Truncate(time.Hour).Add(time.Hour)
	ld := &soakLoad{base: base, dispatcher: dispatcher, planner: planner, tr: benchTransport(clients),
		pts:       randomInside(rng, snap, cityBound(snap), 4096),
		creates:   rate.NewLimiter(soakCreateRate, 1),
		window:    "from=" + url.QueryEscape(to.AddDate(-1, 0, 0).Format(time.RFC3339)) + "&to=" + url.QueryEscape(to.Format(time.RFC3339)),
		expensive: make(chan struct{}, expensive),
		requests:  map[string]*atomic.Int64{}, errors: map[string]int64{}}
	ld.tilePts = ld.pts[:128]
	for _, k := range soakKinds() {
		ld.requests[k] = &atomic.Int64{}
	}
	return ld
}

// fail counts a failed request of kind: its status, or "transport".
func (ld *soakLoad) fail(kind, what, detail string) {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	ld.errors[kind+" "+what]++
	if len(ld.first) < 3 && ld.errors[kind+" "+what] == 1 {
		ld.first = append(ld.first, kind+": "+detail)
	}
}

// do sends one request of kind and reads the whole answer; ok says
// whether its status was one of want. A transport error or another status
// is counted as an error.
func (ld *soakLoad) do(ctx context.Context, kind, method, path, key, ctype string, body []byte, want ...int) ([]byte, bool) {
	ld.requests[kind].Add(1)
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, ld.base+path, rd)
	if err != nil {
		ld.fail(kind, "request", err.Error())
		return nil, false
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := ld.tr.RoundTrip(req)
	if err != nil {
		if ctx.Err() == nil {
			ld.fail(kind, "transport", err.Error())
		}
		return nil, false
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		ld.fail(kind, "transport", err.Error())
		return nil, false
	}
	if !slices.Contains(want, resp.StatusCode) {
		ld.fail(kind, fmt.Sprint(resp.StatusCode), fmt.Sprintf("%s %s: %d %.200s", method, path, resp.StatusCode, b))
		return b, false
	}
	return b, true
}

// client runs rounds of soakSchedule from its own offset until end has
// passed and it has done one whole round.
func (ld *soakLoad) client(ctx context.Context, g, clients int, end time.Time) {
	rng := rand.New(rand.NewPCG(uint64(g), 0x50a4))
	i := g * len(soakSchedule) / clients
	for n := 0; ctx.Err() == nil; n++ {
		if n >= len(soakSchedule) && time.Now().After(end) {
			return
		}
		ld.one(ctx, soakSchedule[(i+n)%len(soakSchedule)], rng)
	}
}

func (ld *soakLoad) point(rng *rand.Rand) orb.Point { return ld.pts[rng.IntN(len(ld.pts))] }

func (ld *soakLoad) tile(rng *rand.Rand, zmin, zmax int) string {
	t := maptile.At(ld.tilePts[rng.IntN(len(ld.tilePts))], maptile.Zoom(zmin+rng.IntN(zmax-zmin+1)))
	return fmt.Sprintf("%d/%d/%d.mvt", t.Z, t.X, t.Y)
}

func (ld *soakLoad) one(ctx context.Context, kind string, rng *rand.Rand) {
	const mvt, js = "", "application/json"
	switch kind {
	case soakLocate:
		p := ld.point(rng)
		ld.do(ctx, kind, "GET", fmt.Sprintf("/v1/locate?lon=%.7f&lat=%.7f&category=%s", p[0], p[1], benchCategory), "", "", nil, http.StatusOK)
	case soakLocateBatch:
		in := benchBatchRequest{CRS: "wgs84", Category: benchCategory}
		for range soakBatchPoints {
			in.Points = append(in.Points, [2]float64(ld.point(rng)))
		}
		body, err := json.Marshal(in)
		if err != nil {
			ld.fail(kind, "request", err.Error())
			return
		}
		ld.do(ctx, kind, "POST", "/v1/locate", "", js, body, http.StatusOK)
	case soakTileGrid:
		ld.do(ctx, kind, "GET", "/tiles/towns,communities,cells,zones/"+ld.tile(rng, 10, 16), "", mvt, nil, http.StatusOK, http.StatusNoContent)
	case soakTileIncidents:
		ld.do(ctx, kind, "GET", "/tiles/incidents/"+ld.tile(rng, 10, 16), ld.dispatcher, mvt, nil, http.StatusOK, http.StatusNoContent)
	case soakTileComposite:
		ld.do(ctx, kind, "GET", "/tiles/cells,incidents,heatmap/"+ld.tile(rng, 11, 15)+"?theme=parking", ld.dispatcher, mvt, nil, http.StatusOK, http.StatusNoContent)
	case soakHeatmap:
		ld.do(ctx, kind, "GET", "/v1/heatmap?theme=parking&res=8&"+ld.window, ld.dispatcher, "", nil, http.StatusOK)
	case soakHeatmapTile:
		ld.do(ctx, kind, "GET", "/v1/heatmap/tiles/"+ld.tile(rng, 10, 15)+"?theme=parking", ld.dispatcher, mvt, nil, http.StatusOK, http.StatusNoContent)
	case soakStats, soakOverview:
		path := "/v1/stats?group_by=department&" + ld.window
		if kind == soakOverview {
			path = "/v1/overview?level=city"
		}
		select { // stay under the server's bound on expensive queries
		case ld.expensive <- struct{}{}:
		case <-ctx.Done():
			return
		}
		ld.do(ctx, kind, "GET", path, ld.planner, "", nil, http.StatusOK)
		<-ld.expensive
	case soakCreate:
		ld.createAndRun(ctx, rng)
	}
}

// createAndRun creates an incident, then takes it through the next of
// soakFlows as a dispatcher would, stopping at the first failed step.
func (ld *soakLoad) createAndRun(ctx context.Context, rng *rand.Rand) {
	if !ld.creates.Allow() {
		return // past the pace: the client goes on with its next request
	}
	p := ld.point(rng)
	cats := []string{"E0505", "E0506", "E0406", "E0102", "E0103", "P0301", "E0101", "E0201"}
	at := time.Now().Add(-time.Duration(rng.IntN(3600)) * time.Second)
	body := fmt.Sprintf(`{"category":%q,"lon":%.7f,"lat":%.7f,"occurred_at":%q,"source":"collector"}`,
		cats[rng.IntN(len(cats))], p[0], p[1], at.Format(time.RFC3339))
	b, ok := ld.do(ctx, soakCreate, "POST", "/v1/incidents", ld.dispatcher, "application/json", []byte(body), http.StatusCreated)
	if !ok {
		return
	}
	var x struct{ ID int64 }
	if err := json.Unmarshal(b, &x); err != nil || x.ID == 0 {
		ld.fail(soakCreate, "answer", fmt.Sprintf("no id in %.200s", b))
		return
	}
	flow := soakFlows[int(ld.nextFlow.Add(1)-1)%len(soakFlows)]
	for _, a := range flow {
		ev := `{"action":"` + a + `","actor":"soak","note":"soak ` + a + `"}`
		if _, ok := ld.do(ctx, soakAction, "POST", fmt.Sprintf("/v1/incidents/%d/events", x.ID), ld.dispatcher, "application/json", []byte(ev), http.StatusOK); !ok {
			return
		}
	}
	ld.flows.Add(1)
}
