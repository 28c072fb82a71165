package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/citygrid/citygrid/api"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/citygrid/citygrid/internal/httpapi"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/citygrid/citygrid/internal/tally"
	"github.com/citygrid/citygrid/web"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// The rows of `citygrid bench` that --only selects: a group name selects
// all its rows.
var benchRowNames = []string{"cold", "seed", "locate", "locate-process", "locate-http", "locate-batch",
	"ingest", "ingest-bulk", "ingest-bulk-pair", "ingest-post", "ingest-lifecycle", "open311", "open311-post",
	"planner", "planner-heatmap", "planner-hotspots", "planner-stats", "planner-overview", "planner-memory", "web", "web-first-idle",
	"tiles", "tiles-cells", "tiles-incidents", "tiles-cached", "tiles-writes",
	"ogc", "ogc-items", "ogc-v1", "ogc-cells", "soak"}

// parseOnly turns the --only list into a predicate over row names; empty
// selects every row.
func parseOnly(s string) (func(string) bool, error) {
	if strings.TrimSpace(s) == "" {
		return func(string) bool { return true }, nil
	}
	set := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !slices.Contains(benchRowNames, f) {
			return nil, fmt.Errorf("--only: unknown row %q (want a comma list of %s)", f, strings.Join(benchRowNames, ", "))
		}
		set[f] = true
	}
	return func(name string) bool {
		if set[name] {
			return true
		}
		group, _, ok := strings.Cut(name, "-")
		return ok && set[group]
	}, nil
}

// locateScale sizes the locate rows: the bench uses benchLocateScale, the
// test a tiny one.
type locateScale struct {
	Points        int           // random points in the city's bound, in-process row
	AllCoreDur    time.Duration // in-process run on every core
	SQLConns      int           // PostGIS all-core concurrency
	SQLWarmup     time.Duration // per PostGIS run, before measuring
	SQLMinDur     time.Duration // a PostGIS run measures at least this long …
	SQLMinQueries int           // … and at least this many queries …
	SQLMaxDur     time.Duration // … but stops after this
	HTTPClients   int           // concurrent keep-alive clients
	HTTPWarmup    time.Duration
	HTTPDur       time.Duration
	BatchPoints   int
	BatchRuns     int // timed runs of the batch (after one warm-up); median
	BatchSQLRuns  int // timed runs of the SQL batch baseline; median
}

var benchLocateScale = locateScale{
	Points:        1_000_000,
	AllCoreDur:    2 * time.Second,
	SQLConns:      8,
	SQLWarmup:     500 * time.Millisecond,
	SQLMinDur:     5 * time.Second,
	SQLMinQueries: 20_000,
	SQLMaxDur:     20 * time.Second,
	HTTPClients:   32,
	HTTPWarmup:    time.Second,
	HTTPDur:       5 * time.Second,
	BatchPoints:   httpapi.MaxBatch,
	BatchRuns:     7,
	BatchSQLRuns:  3,
}

// benchCategory is the category of the HTTP rows: 机动车乱停放, the most
// frequent event.
const benchCategory = "E0505"

// sqlLocate is the baseline of one lookup: PostGIS over SQL, GiST index.
const sqlLocate = `SELECT code FROM cell WHERE version_id = $1 AND ST_Contains(geom, ST_SetSRID(ST_MakePoint($2, $3), 4326))`

// sqlLocateBatch is the baseline of the batch: every point in one
// statement, the smallest covering code as the index's tie-break.
const sqlLocateBatch = `
SELECT x.code
FROM unnest($2::float8[], $3::float8[]) WITH ORDINALITY AS p(lon, lat, i)
LEFT JOIN LATERAL (
	SELECT min(c.code) AS code FROM cell c
	WHERE c.version_id = $1 AND ST_Covers(c.geom, ST_SetSRID(ST_MakePoint(p.lon, p.lat), 4326))
) x ON true
ORDER BY p.i`

// benchLocate measures the locate rows selected by sel against the active
// snapshot of cat and the same grid version in PostGIS.
func benchLocate(ctx context.Context, db *postgres.DB, cat *locate.Catalog, sc locateScale, sel func(string) bool, progress io.Writer) ([]benchRow, error) {
	if !sel("locate-process") && !sel("locate-http") && !sel("locate-batch") {
		return nil, nil
	}
	snap := cat.Current()
	if snap == nil || len(snap.Cells) == 0 {
		return nil, errors.New("bench: no grid snapshot loaded")
	}
	// The planner's statistics of the freshly loaded grid, as a database in
	// service has them: the baseline at its best.
	if _, err := db.Pool().Exec(ctx, `ANALYZE cell`); err != nil {
		return nil, err
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil && len(strings.Fields(string(la))) >= 3 {
		// Other work on the same cores slows every row; say how much there was.
		fmt.Fprintf(progress, "bench: load average before the locate rows: %s\n", strings.Join(strings.Fields(string(la))[:3], " "))
	}
	rng := rand.New(rand.NewPCG(42, 0x10ca7e))
	bound := cityBound(snap)
	var rows []benchRow

	var sqlAll sqlStats // the all-core baseline, context for the HTTP row
	if sel("locate-process") {
		fmt.Fprintf(progress, "bench: locate in process, %d points …\n", sc.Points)
		pts := randomPoints(rng, bound, sc.Points)
		in, err := measureInProcess(cat, pts, sc.AllCoreDur)
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(progress, "bench: PostGIS ST_Contains, 1 connection …")
		sql1, err := measureSQL(ctx, db.Pool(), snap, pts, 1, sc)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "bench: PostGIS ST_Contains, %d connections …\n", sc.SQLConns)
		if sqlAll, err = measureSQL(ctx, db.Pool(), snap, pts, sc.SQLConns, sc); err != nil {
			return nil, err
		}
		if sql1.Mismatch+sqlAll.Mismatch > 0 {
			return nil, fmt.Errorf("bench: PostGIS and the index disagree on %d of %d points", sql1.Mismatch+sqlAll.Mismatch, sql1.N+sqlAll.N)
		}
		rows = append(rows,
			benchRow{
				Workload: fmt.Sprintf("locate in process, %d cells, single core (%d points in the city's bound, %.0f%% inside)",
					len(snap.Cells), len(pts), 100*float64(in.Inside)/float64(len(pts))),
				Ours: fmt.Sprintf("median %.0f ns/lookup (inside only %.0f ns; timer ≈ %.0f ns included); mean %.0f ns = %s/s",
					ns(in.Median), ns(in.MedianInside), ns(in.Timer), ns(in.Mean), thousands(1e9/ns(in.Mean))),
				Baseline: fmt.Sprintf("PostGIS ST_Contains 1 conn: p50 %.0f µs, %s lookups/s", us(sql1.P50), thousands(sql1.Rate)),
				Ratio:    fmt.Sprintf("%.0f× (p50)", float64(sql1.P50)/float64(in.Median)),
				Budget:   "≤ 300 ns median per lookup",
				Met:      yesNo(in.Median <= 300*time.Nanosecond),
			},
			benchRow{
				Workload: fmt.Sprintf("locate in process, all cores (%d goroutines)", in.Procs),
				Ours:     fmt.Sprintf("%s lookups/s", thousands(in.AllCoreRate)),
				Baseline: fmt.Sprintf("PostGIS ST_Contains %d conns: %s lookups/s, p50 %.0f µs", sc.SQLConns, thousands(sqlAll.Rate), us(sqlAll.P50)),
				Ratio:    fmt.Sprintf("%.0f×", in.AllCoreRate/sqlAll.Rate),
				Budget:   "≥ 100× PostGIS ST_Contains over SQL, both using all cores",
				Met:      yesNo(in.AllCoreRate >= 100*sqlAll.Rate),
			})
	}

	if !sel("locate-http") && !sel("locate-batch") {
		return rows, nil
	}
	srv, rm, stop, err := startBenchServer(ctx, db, cat)
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := rm.loaded(ctx); err != nil {
		return nil, err
	}

	if sel("locate-http") {
		fmt.Fprintf(progress, "bench: locate over HTTP, %d clients, %s …\n", sc.HTTPClients, sc.HTTPDur)
		urls := locateURLs(srv, randomInside(rng, snap, bound, 8192), benchCategory)
		h, err := measureHTTP(ctx, urls, sc.HTTPClients, sc.HTTPWarmup, sc.HTTPDur)
		if err != nil {
			return nil, err
		}
		rows = append(rows, httpRow(h, sc, sqlAll))
	}

	if sel("locate-batch") {
		fmt.Fprintf(progress, "bench: locate batch, %d points …\n", sc.BatchPoints)
		pts := randomInside(rng, snap, bound, sc.BatchPoints)
		b, err := measureBatch(ctx, srv, snap, pts, sc.BatchRuns)
		if err != nil {
			return nil, err
		}
		fmt.Fprintln(progress, "bench: PostGIS batch, one statement …")
		base, err := measureSQLBatch(ctx, db.Pool(), snap, pts, sc.BatchSQLRuns)
		if err != nil {
			return nil, err
		}
		rows = append(rows, benchRow{
			Workload: fmt.Sprintf("locate batch, POST /v1/locate with %d points, category %s, end to end (median of %d)", len(pts), benchCategory, len(b.Runs)),
			Ours: fmt.Sprintf("%.0f ms (min %.0f, max %.0f; request %.1f MB, response %.1f MB)",
				ms(b.Median), ms(slices.Min(b.Runs)), ms(slices.Max(b.Runs)), float64(b.ReqBytes)/1e6, float64(b.RespBytes)/1e6),
			Baseline: fmt.Sprintf("PostGIS one statement (unnest + LATERAL ST_Covers, min(code)): %.0f ms (median of %d)", ms(base), sc.BatchSQLRuns),
			Ratio:    fmt.Sprintf("%.1f×", float64(base)/float64(b.Median)),
			Budget:   "≤ 150 ms",
			Met:      yesNo(b.Median <= 150*time.Millisecond),
		})
	}
	return rows, nil
}

// ---- points ----

// cityBound is the bound of every cell of the snapshot.
func cityBound(s *locate.Snapshot) orb.Bound {
	b := s.Cells[0].Geometry.Bound()
	for i := range s.Cells {
		b = b.Union(s.Cells[i].Geometry.Bound())
	}
	return b
}

func randomPoints(rng *rand.Rand, b orb.Bound, n int) []orb.Point {
	pts := make([]orb.Point, n)
	for i := range pts {
		pts[i] = orb.Point{b.Min[0] + rng.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + rng.Float64()*(b.Max[1]-b.Min[1])}
	}
	return pts
}

// randomInside draws n points of the bound that lie in some cell.
func randomInside(rng *rand.Rand, s *locate.Snapshot, b orb.Bound, n int) []orb.Point {
	pts := make([]orb.Point, 0, n)
	for len(pts) < n {
		p := orb.Point{b.Min[0] + rng.Float64()*(b.Max[0]-b.Min[0]), b.Min[1] + rng.Float64()*(b.Max[1]-b.Min[1])}
		if s.CellIndex(p) >= 0 {
			pts = append(pts, p)
		}
	}
	return pts
}

// ---- in process ----

type inProcessStats struct {
	Median, MedianInside time.Duration // per lookup, each timed on its own
	Timer                time.Duration // median cost of the timing itself, included above
	Mean                 time.Duration // the whole run timed at once
	Inside               int
	Procs                int
	AllCoreRate          float64 // lookups/s, every core
}

var lookupSink atomic.Int64

// measureInProcess times Catalog.Current + Snapshot.Locate (CellIndex and
// the place) over pts: every lookup on its own for the median, the whole
// run for the mean, then GOMAXPROCS goroutines for dur.
func measureInProcess(cat *locate.Catalog, pts []orb.Point, dur time.Duration) (inProcessStats, error) {
	var st inProcessStats
	snap := cat.Current()
	// Correctness first: the index against R-tree + orb/planar.
	for _, p := range pts[:min(len(pts), 20_000)] {
		if a, b := snap.CellIndex(p), snap.CellIndexBrute(p); a != b {
			return st, fmt.Errorf("bench: index says cell %d at %v, R-tree + orb/planar %d", a, p, b)
		}
	}
	found := 0
	for _, p := range pts { // warm-up
		if _, ok := cat.Current().Locate(p); ok {
			found++
		}
	}
	st.Inside = found

	runtime.GC()
	start := time.Now()
	found = 0
	for _, p := range pts {
		if _, ok := cat.Current().Locate(p); ok {
			found++
		}
	}
	st.Mean = time.Since(start) / time.Duration(len(pts))
	lookupSink.Add(int64(found))

	lat := make([]time.Duration, len(pts))
	inside := make([]time.Duration, 0, st.Inside)
	runtime.GC()
	for i, p := range pts {
		t := time.Now()
		_, ok := cat.Current().Locate(p)
		d := time.Since(t)
		lat[i] = d
		if ok {
			inside = append(inside, d)
		}
	}
	timer := make([]time.Duration, min(len(pts), 1_000_000))
	for i := range timer {
		t := time.Now()
		timer[i] = time.Since(t)
	}
	st.Median = percentile(lat, 0.5)
	st.MedianInside = percentile(inside, 0.5)
	st.Timer = percentile(timer, 0.5)

	// Every core: each goroutine walks the points from its own offset.
	st.Procs = runtime.GOMAXPROCS(0)
	var total atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	runtime.GC()
	start = time.Now()
	for g := range st.Procs {
		wg.Go(func() {
			n, f := 0, 0
			i := g * len(pts) / st.Procs
			for !stop.Load() {
				for range 4096 {
					if _, ok := cat.Current().Locate(pts[i]); ok {
						f++
					}
					if i++; i == len(pts) {
						i = 0
					}
				}
				n += 4096
			}
			total.Add(int64(n))
			lookupSink.Add(int64(f))
		})
	}
	time.Sleep(dur)
	stop.Store(true)
	wg.Wait()
	st.AllCoreRate = float64(total.Load()) / time.Since(start).Seconds()
	return st, nil
}

// ---- PostGIS, one query per point ----

type sqlStats struct {
	N        int
	Rate     float64 // lookups/s
	P50      time.Duration
	Mismatch int // answers that differ from the index
}

// measureSQL runs sqlLocate over pts on conns connections, each one query
// at a time, after a warm-up, until sc's duration and count are reached.
func measureSQL(ctx context.Context, pool *pgxpool.Pool, snap *locate.Snapshot, pts []orb.Point, conns int, sc locateScale) (sqlStats, error) {
	var st sqlStats
	var (
		next      atomic.Int64
		measuring atomic.Bool
		stop      atomic.Bool
		count     atomic.Int64
		mismatch  atomic.Int64
		mu        sync.Mutex
		lats      []time.Duration
		firstErr  error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for range conns {
		wg.Go(func() {
			conn, err := pool.Acquire(ctx)
			var mine []time.Duration
			defer func() {
				mu.Lock()
				lats = append(lats, mine...)
				if err != nil && firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				if err != nil {
					cancel()
				}
			}()
			if err != nil {
				return
			}
			defer conn.Release()
			for !stop.Load() {
				p := pts[int(next.Add(1)-1)%len(pts)]
				m := measuring.Load()
				t := time.Now()
				var code, first string
				rows, qerr := conn.Query(ctx, sqlLocate, snap.Version.ID, p[0], p[1])
				if qerr != nil {
					err = qerr
					return
				}
				for rows.Next() {
					if err = rows.Scan(&code); err != nil {
						rows.Close()
						return
					}
					if first == "" || code < first {
						first = code
					}
				}
				if err = rows.Err(); err != nil {
					return
				}
				d := time.Since(t)
				want := ""
				if i := snap.CellIndex(p); i >= 0 {
					want = snap.Cells[i].Code
				}
				if first != want {
					mismatch.Add(1)
				}
				if m {
					mine = append(mine, d)
					count.Add(1)
				}
			}
		})
	}
	sleepCtx(ctx, sc.SQLWarmup)
	measuring.Store(true)
	start := time.Now()
	for ctx.Err() == nil {
		el := time.Since(start)
		if el >= sc.SQLMaxDur || (el >= sc.SQLMinDur && count.Load() >= int64(sc.SQLMinQueries)) {
			break
		}
		sleepCtx(ctx, 20*time.Millisecond)
	}
	measuring.Store(false)
	el := time.Since(start)
	stop.Store(true)
	wg.Wait()
	if firstErr != nil {
		return st, fmt.Errorf("bench: PostGIS baseline: %w", firstErr)
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	st.N = len(lats)
	st.Rate = float64(count.Load()) / el.Seconds()
	st.P50 = percentile(lats, 0.5)
	st.Mismatch = int(mismatch.Load())
	return st, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ---- HTTP ----

// startBenchServer runs the service's HTTP server as serve does, on a free
// loopback port; stop shuts it down and waits for its background work.
// Options may change the server's configuration (the tile rows compare
// runs with and without a tile cache).
func startBenchServer(ctx context.Context, db *postgres.DB, cat *locate.Catalog, options ...func(*httpapi.Config)) (base string, rm *benchModels, stop func(), err error) {
	cal, err := db.Calendar(ctx)
	if err != nil {
		return "", nil, nil, err
	}
	// serve's limits, as the environment or the defaults set them: the
	// load generator is on loopback, which they exempt from rate limits.
	lim, err := limitFlags(flag.NewFlagSet("bench", flag.ContinueOnError))
	if err != nil {
		return "", nil, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, nil, err
	}
	webFiles, err := httpapi.WebFiles(web.Dist(), httpapi.WebConfig{})
	if err != nil {
		return "", nil, nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	hctx, cancelHeat := context.WithCancel(ctx)
	var hooks tileHooks
	var bg sync.WaitGroup
	heat := startHeat(hctx, &bg, db, slog.New(slog.DiscardHandler), hooks.rollupsApplied)
	cache, incidents, requests := startFeatureCache(hctx, &bg, db, slog.New(slog.DiscardHandler))
	tl := tally.New(db, db, grid.ChinaTime())
	cfg := httpapi.Config{Store: db, Incidents: incidents, Cache: cache, Heatmaps: heat, Keys: db, Audit: db, Requests: requests, Facilities: db, Features: db,
		Stats: tl, Overview: tl, Calendar: cal, Catalog: cat,
		Registry: reg, Logger: slog.New(slog.DiscardHandler), OpenAPI: api.OpenAPI, Web: webFiles, Tiles: db, Limits: lim.Limits}
	for _, o := range options {
		o(&cfg)
	}
	srv := httpapi.New(cfg)
	startTiles(hctx, &bg, db, srv, tl, &hooks, slog.New(slog.DiscardHandler))
	hs := httpServer(srv.Handler(), defaultServerTimeouts(lim.RequestTimeout))
	done := make(chan struct{})
	go func() { defer close(done); _ = hs.Serve(ln) }()
	return "http://" + ln.Addr().String(), &benchModels{heat, tl}, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = hs.Shutdown(ctx)
		<-done
		cancelHeat()
		bg.Wait() // the listeners and background jobs have ended: their connections are closed or back
	}, nil
}

// benchModels are a bench server's read models.
type benchModels struct {
	heat  *hexbin.Heat
	tally *tally.Tally
}

// loaded waits until both read models are in: rows are timed against a
// server as a replica serves, never while a load takes the cores.
func (m *benchModels) loaded(ctx context.Context) error {
	if err := m.heat.Wait(ctx); err != nil {
		return err
	}
	return m.tally.Wait(ctx)
}

// locateURLs are GET /v1/locate requests of pts, parsed once so the load
// generator spends its share of the cores on requests only.
func locateURLs(base string, pts []orb.Point, category string) []*url.URL {
	out := make([]*url.URL, len(pts))
	for i, p := range pts {
		u, err := url.Parse(base + "/v1/locate?lon=" + strconv.FormatFloat(p[0], 'f', -1, 64) +
			"&lat=" + strconv.FormatFloat(p[1], 'f', -1, 64) + "&category=" + url.QueryEscape(category))
		if err != nil {
			panic(err) // a base we built ourselves
		}
		out[i] = u
	}
	return out
}

// benchTransport is a keep-alive client of the loopback server with an idle
// connection for every client goroutine.
func benchTransport(clients int) *http.Transport {
	return &http.Transport{
		Proxy:               nil, // loopback only, whatever the environment says
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        clients,
		MaxIdleConnsPerHost: clients,
		MaxConnsPerHost:     clients,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
}

type httpStats struct {
	N          int // requests started while measuring
	Rate       float64
	P50, P99   time.Duration
	Errors     int // transport errors and non-200 answers, warm-up included
	FirstError string
}

// measureHTTP drives GET requests of urls from clients goroutines: warm-up,
// then every request started within dur is timed; the rate is those
// requests over the time from the start of measuring to the end of the last.
func measureHTTP(ctx context.Context, urls []*url.URL, clients int, warmup, dur time.Duration) (httpStats, error) {
	return measureHTTPWith(ctx, urls, nil, clients, warmup, dur)
}

// measureHTTPWith is measureHTTP sending header with every request.
func measureHTTPWith(ctx context.Context, urls []*url.URL, header http.Header, clients int, warmup, dur time.Duration) (httpStats, error) {
	var st httpStats
	tr := benchTransport(clients)
	defer tr.CloseIdleConnections()
	const (
		warming = iota
		measuring
		stopping
	)
	var (
		phase    atomic.Int32
		errs     atomic.Int64
		mu       sync.Mutex
		lats     []time.Duration
		lastEnd  time.Time
		firstErr string
	)
	fail := func(msg string) {
		if errs.Add(1) == 1 {
			mu.Lock()
			firstErr = msg
			mu.Unlock()
		}
	}
	var wg sync.WaitGroup
	for g := range clients {
		wg.Go(func() {
			mine := make([]time.Duration, 0, 1<<16)
			var end time.Time
			buf := make([]byte, 4096)
			i := g * len(urls) / clients
			for {
				ph := phase.Load()
				if ph == stopping || ctx.Err() != nil {
					break
				}
				u := urls[i]
				if i++; i == len(urls) {
					i = 0
				}
				t := time.Now()
				req := &http.Request{Method: http.MethodGet, URL: u, Host: u.Host, Header: header}
				if header == nil {
					req.Header = http.Header{}
				}
				resp, err := tr.RoundTrip(req)
				if err != nil {
					fail(err.Error())
					continue
				}
				for {
					_, rerr := resp.Body.Read(buf)
					if rerr == io.EOF {
						break
					}
					if rerr != nil {
						fail(rerr.Error())
						break
					}
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					fail(fmt.Sprintf("%s: HTTP %d", u.RequestURI(), resp.StatusCode))
				}
				if ph == measuring {
					end = time.Now()
					mine = append(mine, end.Sub(t))
				}
			}
			mu.Lock()
			lats = append(lats, mine...)
			if end.After(lastEnd) {
				lastEnd = end
			}
			mu.Unlock()
		})
	}
	sleepCtx(ctx, warmup)
	start := time.Now()
	phase.Store(measuring)
	sleepCtx(ctx, dur)
	phase.Store(stopping)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return st, err
	}
	st.N = len(lats)
	st.Errors = int(errs.Load())
	st.FirstError = firstErr
	if st.N == 0 {
		return st, errors.New("bench: no HTTP request completed")
	}
	st.Rate = float64(st.N) / lastEnd.Sub(start).Seconds()
	st.P50 = percentile(lats, 0.50)
	st.P99 = percentile(lats, 0.99)
	return st, nil
}

// httpRow holds the single-point HTTP run to its budget: any transport
// error or non-200 answer fails the row.
func httpRow(h httpStats, sc locateScale, sqlAll sqlStats) benchRow {
	r := benchRow{
		Workload: fmt.Sprintf("locate over HTTP, single point (GET /v1/locate, category %s, %d keep-alive clients, same process)", benchCategory, sc.HTTPClients),
		Ours: fmt.Sprintf("%s req/s, p50 %.2f ms, p99 %.2f ms, %d requests, %d errors",
			thousands(h.Rate), ms(h.P50), ms(h.P99), h.N, h.Errors),
		Baseline: "—",
		Ratio:    "—",
		Budget:   "≥ 25,000 req/s, p99 ≤ 5 ms",
		Met:      yesNo(h.Errors == 0 && h.Rate >= 25_000 && h.P99 <= 5*time.Millisecond),
	}
	if h.Errors > 0 {
		r.Ours += " (first: " + h.FirstError + ")"
	}
	if sqlAll.Rate > 0 {
		r.Baseline = fmt.Sprintf("for context: PostGIS ST_Contains over SQL, %d conns, %s lookups/s", sc.SQLConns, thousands(sqlAll.Rate))
		r.Ratio = fmt.Sprintf("%.1f×", h.Rate/sqlAll.Rate)
	}
	return r
}

// ---- batch ----

type batchStats struct {
	Runs                []time.Duration
	Median              time.Duration
	ReqBytes, RespBytes int
}

// benchBatchRequest is the client's side of POST /v1/locate.
type benchBatchRequest struct {
	CRS      string       `json:"crs"`
	Category string       `json:"category"`
	Points   [][2]float64 `json:"points"`
}

// measureBatch posts pts as one batch, once to warm up and check every
// answer against the snapshot, then runs times: marshal, request, the
// whole response read.
func measureBatch(ctx context.Context, base string, snap *locate.Snapshot, pts []orb.Point, runs int) (batchStats, error) {
	var st batchStats
	tr := benchTransport(1)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	points := make([][2]float64, len(pts))
	for i, p := range pts {
		points[i] = [2]float64(p)
	}
	var resp bytes.Buffer
	once := func() (time.Duration, error) {
		start := time.Now()
		body, err := json.Marshal(benchBatchRequest{CRS: "wgs84", Category: benchCategory, Points: points})
		if err != nil {
			return 0, err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/locate", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		req.Header.Set("Content-Type", "application/json")
		r, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		defer r.Body.Close()
		resp.Reset()
		if _, err := resp.ReadFrom(r.Body); err != nil {
			return 0, err
		}
		d := time.Since(start)
		if r.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("bench: batch: HTTP %d: %.200s", r.StatusCode, resp.Bytes())
		}
		st.ReqBytes, st.RespBytes = len(body), resp.Len()
		return d, nil
	}
	if _, err := once(); err != nil {
		return st, err
	}
	if err := checkBatch(resp.Bytes(), snap, pts); err != nil {
		return st, err
	}
	for range max(runs, 1) {
		runtime.GC() // each run starts from the same heap, not the last run's garbage
		d, err := once()
		if err != nil {
			return st, err
		}
		st.Runs = append(st.Runs, d)
	}
	st.Median = percentile(slices.Clone(st.Runs), 0.5)
	return st, nil
}

// checkBatch verifies a batch answer: one result per point, in order, each
// the snapshot's cell with a department.
func checkBatch(body []byte, snap *locate.Snapshot, pts []orb.Point) error {
	var out struct {
		Results []struct {
			Cell       *struct{ Code string }
			Department *struct{ Code string }
			Error      *struct{ Detail string }
		}
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return fmt.Errorf("bench: batch answer: %w", err)
	}
	if len(out.Results) != len(pts) {
		return fmt.Errorf("bench: batch answered %d results for %d points", len(out.Results), len(pts))
	}
	for i, r := range out.Results {
		switch {
		case r.Error != nil:
			return fmt.Errorf("bench: batch point %d: %s", i, r.Error.Detail)
		case r.Cell == nil || r.Cell.Code != snap.Cells[snap.CellIndex(pts[i])].Code:
			return fmt.Errorf("bench: batch point %d: wrong cell", i)
		case r.Department == nil:
			return fmt.Errorf("bench: batch point %d: no department", i)
		}
	}
	return nil
}

// measureSQLBatch times sqlLocateBatch over pts (arrays built, statement
// run, every row read), checks its answers, and returns the median of runs.
func measureSQLBatch(ctx context.Context, pool *pgxpool.Pool, snap *locate.Snapshot, pts []orb.Point, runs int) (time.Duration, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	var took []time.Duration
	for run := range max(runs, 1) {
		start := time.Now()
		lons, lats := make([]float64, len(pts)), make([]float64, len(pts))
		for i, p := range pts {
			lons[i], lats[i] = p[0], p[1]
		}
		rows, err := conn.Query(ctx, sqlLocateBatch, snap.Version.ID, lons, lats)
		if err != nil {
			return 0, err
		}
		codes := make([]*string, 0, len(pts))
		for rows.Next() {
			var c *string
			if err := rows.Scan(&c); err != nil {
				rows.Close()
				return 0, err
			}
			codes = append(codes, c)
		}
		if err := rows.Err(); err != nil {
			return 0, err
		}
		took = append(took, time.Since(start))
		if run > 0 {
			continue
		}
		if len(codes) != len(pts) {
			return 0, fmt.Errorf("bench: SQL batch answered %d rows for %d points", len(codes), len(pts))
		}
		for i, c := range codes {
			if c == nil || *c != snap.Cells[snap.CellIndex(pts[i])].Code {
				return 0, fmt.Errorf("bench: SQL batch and the index disagree at point %d", i)
			}
		}
	}
	return percentile(took, 0.5), nil
}

// ---- numbers ----

// percentile is the nearest-rank q-quantile of ds (sorted in place); 0
// when empty.
func percentile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	k := int(math.Ceil(q*float64(len(ds)))) - 1
	return ds[min(max(k, 0), len(ds)-1)]
}

func ns(d time.Duration) float64 { return float64(d.Nanoseconds()) }
func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }
func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// thousands formats a rate with thousands separators.
func thousands(f float64) string {
	s := strconv.FormatInt(int64(math.Round(f)), 10)
	var b []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, s[i])
	}
	return string(b)
}
