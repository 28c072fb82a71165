package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/postgres"
)

// benchIngest measures the write path through HTTP: bulk NDJSON (one
// request, and two at once), single POSTs from 32 clients, and lifecycle
// transitions, against a server whose read models are loaded (as a
// serving replica's are).
func benchIngest(ctx context.Context, db *postgres.DB, cat *locate.Catalog, sel func(string) bool, progress io.Writer) ([]benchRow, error) {
	if !sel("ingest-bulk") && !sel("ingest-bulk-pair") && !sel("ingest-post") && !sel("ingest-lifecycle") {
		return nil, nil
	}
	base, rm, stop, err := startBenchServer(ctx, db, cat)
	if err != nil {
		return nil, err
	}
	defer stop()
	if err := rm.loaded(ctx); err != nil {
		return nil, err
	}
	snap := cat.Current()
	rng := rand.New(rand.NewPCG(21, 22))
	pts := randomInside(rng, snap, cityBound(snap), 20_000)
	cats := []string{"E0505", "E0506", "E0406", "E0102", "E0103", "E0104", "P0301", "E0101", "E0201"}
	line := func(b *bytes.Buffer, i int, ext string) {
		p := pts[i%len(pts)]
		at := time.Now().Add(-time.Duration(1+i%(300*24)) * time.Hour)
		fmt.Fprintf(b, `{"category":%q,"lon":%.7f,"lat":%.7f,"occurred_at":%q,"source":"camera"`, cats[i%len(cats)], p[0], p[1], at.Format(time.RFC3339))
		if ext != "" {
			fmt.Fprintf(b, `,"external_id":%q`, ext)
		}
		b.WriteString("}\n")
	}
	key, err := db.CreateAPIKey(ctx, "dispatcher", "", "bench")
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: withKey{benchTransport(64), key}, Timeout: 5 * time.Minute}
	var rows []benchRow

	// One bulk request of n lines, timed.
	bulk := func(body []byte) (time.Duration, error) {
		start := time.Now()
		resp, err := client.Post(base+"/v1/incidents/bulk", "application/x-ndjson", bytes.NewReader(body))
		if err != nil {
			return 0, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return 0, fmt.Errorf("bench: bulk: %d %s", resp.StatusCode, b[:min(len(b), 300)])
		}
		return time.Since(start), nil
	}
	const n = 100_000
	body := func(run int) []byte {
		var b bytes.Buffer
		for i := range n {
			line(&b, run*n+i, "")
		}
		return b.Bytes()
	}
	var raw float64 // the floor: one COPY alone into incident, in this run
	if sel("ingest-bulk") {
		// The floor and the bulk loads take turns, so that each meets the
		// same table (and the autovacuum the last load set off): the
		// median of each.
		fmt.Fprintln(progress, "bench: bulk ingest …")
		const runs = 3
		var took []time.Duration
		var floors []float64
		for r := range runs {
			f, err := rawCopyRate(ctx, db, n)
			if err != nil {
				return nil, err
			}
			floors = append(floors, f)
			d, err := bulk(body(r))
			if err != nil {
				return nil, err
			}
			took = append(took, d)
		}
		slices.Sort(floors)
		raw = floors[runs/2]
		rate := n / percentile(took, 0.5).Seconds()
		rows = append(rows, benchRow{fmt.Sprintf("bulk ingest over HTTP, %d NDJSON lines (assign, H3, deadline, COPY, keys, rollups; median of %d)", n, runs),
			thousands(rate) + " rows/s", thousands(raw) + " rows/s COPY alone into incident (median of 3, in turn with the loads)", fmt.Sprintf("%.2f×", rate/raw), "≥ 0.75× COPY alone", yesNo(rate >= 0.75*raw)})
	}
	if sel("ingest-bulk-pair") {
		if raw == 0 {
			if raw, err = rawCopyRate(ctx, db, n); err != nil {
				return nil, err
			}
		}
		fmt.Fprintln(progress, "bench: two bulk loads at once …")
		const runs = 2
		var rates []float64
		for r := range runs {
			a, b := body(10+2*r), body(11+2*r)
			start := time.Now()
			errs := make(chan error, 2)
			for _, x := range [][]byte{a, b} {
				go func() { _, err := bulk(x); errs <- err }()
			}
			for range 2 {
				if err := <-errs; err != nil {
					return nil, err
				}
			}
			rates = append(rates, 2*n/time.Since(start).Seconds())
		}
		rate := slices.Max(rates)
		rows = append(rows, benchRow{fmt.Sprintf("two bulk loads at once over HTTP, %d lines each (combined; best of %d)", n, runs),
			thousands(rate) + " rows/s", thousands(raw) + " rows/s COPY alone into incident", fmt.Sprintf("%.2f×", rate/raw), "≥ 0.75× COPY alone", yesNo(rate >= 0.75*raw)})
	}

	var created []int64
	var createdMu sync.Mutex
	if sel("ingest-post") || sel("ingest-lifecycle") {
		fmt.Fprintln(progress, "bench: single POST /v1/incidents at 32 clients …")
		const clients = 32
		var next atomic.Int64
		st, err := drive(ctx, clients, time.Second, 5*time.Second, func() error {
			i := int(next.Add(1))
			var b bytes.Buffer
			line(&b, i, fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i))
			resp, err := client.Post(base+"/v1/incidents", "application/json", &b)
			if err != nil {
				return err
			}
			var x struct{ ID int64 }
			err = json.NewDecoder(resp.Body).Decode(&x)
			resp.Body.Close()
			if resp.StatusCode != http.StatusCreated {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			createdMu.Lock()
			created = append(created, x.ID)
			createdMu.Unlock()
			return err
		})
		if err != nil {
			return nil, err
		}
		if sel("ingest-post") {
			rows = append(rows, benchRow{"POST /v1/incidents, 32 clients (one transaction each: incident, key, event, rollup)",
				fmt.Sprintf("%s/s, p99 %.1f ms", thousands(st.rate), ms(st.p99)), "—", "—", "≥ 3,000/s", yesNo(st.rate >= 3000 && st.errors == 0)})
		}
	}
	if sel("ingest-lifecycle") && len(created) > 0 {
		fmt.Fprintln(progress, "bench: lifecycle transitions at 32 clients …")
		var next atomic.Int64
		actions := []string{"register", "dispatch", "report", "verify", "evaluate"}
		st, err := drive(ctx, 32, 0, 5*time.Second, func() error {
			i := next.Add(1) - 1
			id := created[int(i)%len(created)]
			a := actions[(int(i)/len(created))%len(actions)]
			resp, err := client.Post(fmt.Sprintf("%s/v1/incidents/%d/events", base, id), "application/json",
				strings.NewReader(`{"action":"`+a+`","actor":"bench"}`))
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusConflict {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		rows = append(rows, benchRow{"lifecycle actions, 32 clients (one statement: row lock, check, state, event)",
			fmt.Sprintf("%s/s, p99 %.1f ms", thousands(st.rate), ms(st.p99)), "—", "—", "≥ 2,500/s", yesNo(st.rate >= 2500)})
	}
	return rows, nil
}

type driveStats struct {
	rate   float64
	p50    time.Duration
	p99    time.Duration
	errors int
}

// drive runs op from clients goroutines: a warm-up, then every op started
// within dur is timed.
func drive(ctx context.Context, clients int, warmup, dur time.Duration, op func() error) (driveStats, error) {
	var (
		mu       sync.Mutex
		lats     []time.Duration
		errs     atomic.Int64
		firstErr atomic.Value
		wg       sync.WaitGroup
	)
	start := time.Now()
	measureFrom := start.Add(warmup)
	end := measureFrom.Add(dur)
	var lastEnd time.Time
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				t0 := time.Now()
				if t0.After(end) {
					return
				}
				if err := op(); err != nil {
					if errs.Add(1) == 1 {
						firstErr.Store(err.Error())
					}
					continue
				}
				if t0.After(measureFrom) {
					t1 := time.Now()
					mu.Lock()
					lats = append(lats, t1.Sub(t0))
					if t1.After(lastEnd) {
						lastEnd = t1
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	st := driveStats{errors: int(errs.Load())}
	if st.errors > 0 {
		return st, fmt.Errorf("bench: %d failed requests, first: %v", st.errors, firstErr.Load())
	}
	if len(lats) > 0 {
		st.rate = float64(len(lats)) / lastEnd.Sub(measureFrom).Seconds()
		st.p99 = percentile(lats, 0.99)
		st.p50 = percentile(lats, 0.5)
	}
	return st, nil
}

// benchPlanner measures the planner's reads over the seeded history: the
// heatmap (one theme, one year, the whole city, res 8) against on-the-fly
// PostGIS binning and a GROUP BY of the raw table; Gi* over every res-9
// cell; statistics by department, town, community and cell against the
// SQL path; the big screen's overview; the memory of a replica with every
// read model loaded.
func benchPlanner(ctx context.Context, db *postgres.DB, dataDir string, cat *locate.Catalog, seeded int, sel func(string) bool, progress io.Writer) ([]benchRow, error) {
	if !sel("planner-heatmap") && !sel("planner-hotspots") && !sel("planner-stats") && !sel("planner-overview") && !sel("planner-memory") {
		return nil, nil
	}
	base, rm, stop, err := startBenchServer(ctx, db, cat)
	if err != nil {
		return nil, err
	}
	heat := rm.heat
	defer stop()
	// A serving replica answers from its loaded read model; the time to
	// load it is a row of its own.
	loadStart := time.Now()
	if err := heat.Wait(ctx); err != nil {
		return nil, err
	}
	loaded := time.Since(loadStart)
	key, err := db.CreateAPIKey(ctx, "planner", "", "bench")
	if err != nil {
		return nil, err
	}
	client := &http.Client{Transport: benchTransport(4), Timeout: 10 * time.Minute}
	get := func(path string) (time.Duration, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		start := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("bench: %s: %d %s", path, resp.StatusCode, b[:min(len(b), 200)])
		}
		return time.Since(start), nil
	}
	p50 := func(path string, runs int) (time.Duration, error) {
		var ds []time.Duration
		for range runs {
			d, err := get(path)
			if err != nil {
				return 0, err
			}
			ds = append(ds, d)
		}
		return percentile(ds, 0.5), nil
	}
	to := time.Now().Truncate(time.Hour).Add(time.Hour)
	from := to.AddDate(-1, 0, 0)
	window := "from=" + url.QueryEscape(from.Format(time.RFC3339)) + "&to=" + url.QueryEscape(to.Format(time.RFC3339))
	scale := fmt.Sprintf("%s incidents", thousands(float64(seeded)))
	var rows []benchRow
	if sel("planner-heatmap") {
		fmt.Fprintln(progress, "bench: heatmap …")
		ours, err := p50("/v1/heatmap?theme=parking&res=8&"+window, 21)
		if err != nil {
			return nil, err
		}
		groupBy, hexGrid, err := heatmapBaselines(ctx, db.Pool(), []string{"E0505", "E0506"}, 8, from, to)
		if err != nil {
			return nil, err
		}
		q := grid.HeatQuery{Categories: []string{"E0505", "E0506"}, Res: 8, From: from, To: to}
		var sqlRollup []time.Duration
		var fromSQL []grid.HeatCell
		for range 5 {
			t := time.Now()
			if fromSQL, err = db.Heatmap(ctx, q); err != nil {
				return nil, err
			}
			sqlRollup = append(sqlRollup, time.Since(t))
		}
		// The timed answers must be right: memory and SQL agree cell by cell.
		fromMemory, err := heat.Heatmap(ctx, q)
		if err != nil {
			return nil, err
		}
		if a, b := heatCounts(fromMemory), heatCounts(fromSQL); !maps.Equal(a, b) {
			return nil, fmt.Errorf("bench: the in-memory heatmap (%d cells) differs from the SQL rollups (%d cells)", len(a), len(b))
		}
		rows = append(rows,
			benchRow{fmt.Sprintf("heatmap, parking, 1 year, whole city, res 8, over HTTP (%s; p50)", scale),
				fmt.Sprintf("%.1f ms", ms(ours)), fmt.Sprintf("%.0f ms GROUP BY raw h3", ms(groupBy)), fmt.Sprintf("%.1f×", ms(groupBy)/ms(ours)),
				"p50 ≤ 50 ms; ≥ 5× GROUP BY", yesNo(ms(ours) <= 50 && ms(groupBy)/ms(ours) >= 5)},
			benchRow{"heatmap vs on-the-fly ST_HexagonGrid binning (GiST-indexed points)",
				fmt.Sprintf("%.1f ms", ms(ours)), fmt.Sprintf("%.0f ms ST_HexagonGrid", ms(hexGrid)), fmt.Sprintf("%.0f×", ms(hexGrid)/ms(ours)),
				"≥ 100×", yesNo(ms(hexGrid)/ms(ours) >= 100)},
			benchRow{"heatmap vs the same query on the SQL rollups (the path while the read model loads; p50 of 5)",
				fmt.Sprintf("%.1f ms", ms(ours)), fmt.Sprintf("%.0f ms SQL rollups", ms(percentile(sqlRollup, 0.5))),
				fmt.Sprintf("%.1f×", ms(percentile(sqlRollup, 0.5))/ms(ours)), "—", "—"},
			benchRow{fmt.Sprintf("heatmap read model: load every rollup row at start (%s; process RSS after)", scale),
				fmt.Sprintf("%.1f s, RSS %s", loaded.Seconds(), rss()), "—", "—", "RSS ≤ 300 MB", yesNo(rssBytes() <= 300<<20)})
	}
	if sel("planner-heatmap") {
		// The same heatmap while single creates keep touching today's
		// slices: each request first reloads what they touched.
		fmt.Fprintln(progress, "bench: heatmap under writes …")
		wkey, err := db.CreateAPIKey(ctx, "dispatcher", "", "bench writer")
		if err != nil {
			return nil, err
		}
		writer := &http.Client{Transport: withKey{benchTransport(16), wkey}, Timeout: time.Minute}
		pts := randomInside(rand.New(rand.NewPCG(31, 32)), cat.Current(), cityBound(cat.Current()), 5000)
		wctx, stopWriters := context.WithCancel(ctx)
		var wrote atomic.Int64
		var wg sync.WaitGroup
		for w := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; wctx.Err() == nil; i += 16 {
					p := pts[i%len(pts)]
					body := fmt.Sprintf(`{"category":"E0505","lon":%.7f,"lat":%.7f,"occurred_at":%q,"source":"camera"}`, p[0], p[1], time.Now().Format(time.RFC3339))
					req, _ := http.NewRequestWithContext(wctx, http.MethodPost, base+"/v1/incidents", strings.NewReader(body))
					resp, err := writer.Do(req)
					if err != nil {
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusCreated {
						wrote.Add(1)
					}
				}
			}()
		}
		start := time.Now()
		busy, err := p50("/v1/heatmap?theme=parking&res=8&"+window, 21)
		took := time.Since(start)
		stopWriters()
		wg.Wait()
		if err != nil {
			return nil, err
		}
		rows = append(rows, benchRow{fmt.Sprintf("heatmap as above while 16 clients create incidents (%s/s created meanwhile; p50)", thousands(float64(wrote.Load())/took.Seconds())),
			fmt.Sprintf("%.1f ms", ms(busy)), "—", "—", "p50 ≤ 50 ms", yesNo(ms(busy) <= 50)})
	}
	if sel("planner-hotspots") {
		fmt.Fprintln(progress, "bench: hotspots …")
		if _, err := get("/v1/hotspots?theme=parking&res=9&" + window); err != nil { // builds the study area once
			return nil, err
		}
		d, err := p50("/v1/hotspots?theme=parking&res=9&"+window, 7)
		if err != nil {
			return nil, err
		}
		rows = append(rows, benchRow{fmt.Sprintf("Gi* hotspots, parking, 1 year, every res-9 cell of the city, over HTTP (%s; p50)", scale),
			fmt.Sprintf("%.0f ms", ms(d)), "—", "—", "≤ 250 ms", yesNo(ms(d) <= 250)})
	}
	// The statistics read model loads beside the heatmaps; its rows wait
	// for it.
	tl := rm.tally
	tallyStart := time.Now()
	if err := tl.Wait(ctx); err != nil {
		return nil, err
	}
	tallyLoaded := time.Since(tallyStart) + loaded // both loads run at once from the server's start
	if sel("planner-stats") {
		for _, groupBy := range []string{"department", "town", "community", "cell"} {
			fmt.Fprintf(progress, "bench: stats by %s …\n", groupBy)
			ours, err := p50("/v1/stats?group_by="+groupBy+"&"+window, 21)
			if err != nil {
				return nil, err
			}
			f := grid.StatsFilter{GroupBy: groupBy, From: from, To: to}
			var sqlRuns []time.Duration
			var fromSQL []grid.StatsRow
			for range 3 {
				t := time.Now()
				if fromSQL, err = db.Stats(ctx, f); err != nil {
					return nil, err
				}
				sqlRuns = append(sqlRuns, time.Since(t))
			}
			// The timed answers must be right: memory and SQL agree. (A create
			// of the heatmap row's writers may still commit after they were
			// stopped: a difference is checked once more on fresh answers.)
			fromMemory, err := tl.Stats(ctx, f)
			if err != nil {
				return nil, err
			}
			if fmt.Sprint(fromMemory) != fmt.Sprint(fromSQL) {
				if fromSQL, err = db.Stats(ctx, f); err != nil {
					return nil, err
				}
				if fromMemory, err = tl.Stats(ctx, f); err != nil {
					return nil, err
				}
			}
			if a, b := fmt.Sprint(fromMemory), fmt.Sprint(fromSQL); a != b {
				for i := range min(len(fromMemory), len(fromSQL)) {
					if a, b := fmt.Sprint(fromMemory[i]), fmt.Sprint(fromSQL[i]); a != b {
						return nil, fmt.Errorf("bench: stats by %s from memory differ from SQL: group %d\n%s\n%s", groupBy, i, a, b)
					}
				}
				return nil, fmt.Errorf("bench: stats by %s from memory (%d groups) differ from SQL (%d groups)", groupBy, len(fromMemory), len(fromSQL))
			}
			base := percentile(sqlRuns, 0.5)
			rows = append(rows, benchRow{fmt.Sprintf("stats by %s, 1 year, with evaluation ratios, over HTTP (%s; p50)", groupBy, scale),
				fmt.Sprintf("%.1f ms", ms(ours)), fmt.Sprintf("%.0f ms SQL path (p50 of 3)", ms(base)), fmt.Sprintf("%.0f×", ms(base)/ms(ours)),
				"p50 ≤ 50 ms; ≥ 20× SQL", yesNo(ms(ours) <= 50 && ms(base)/ms(ours) >= 20)})
		}
		d, err := p50("/v1/stats?group_by=cell&interval=week&top=100&"+window, 11)
		if err != nil {
			return nil, err
		}
		rows = append(rows, benchRow{fmt.Sprintf("stats by cell, 1 year, weekly series, top 100, over HTTP (%s; p50)", scale),
			fmt.Sprintf("%.1f ms", ms(d)), "—", "—", "p50 ≤ 50 ms", yesNo(ms(d) <= 50)})
	}
	if sel("planner-overview") {
		for _, q := range []string{"level=city", "level=town&code=331082001"} {
			fmt.Fprintf(progress, "bench: overview %s …\n", q)
			d, err := p50("/v1/overview?"+q, 21)
			if err != nil {
				return nil, err
			}
			rows = append(rows, benchRow{fmt.Sprintf("overview %s, over HTTP (%s; p50)", q, scale),
				fmt.Sprintf("%.1f ms", ms(d)), "—", "—", "p50 ≤ 20 ms", yesNo(ms(d) <= 20)})
		}
	}
	if sel("planner-memory") {
		fmt.Fprintf(progress, "bench: citygrid serve, its memory …\n")
		r := rssBytes()
		per := func(b int64) string { return fmt.Sprintf("%.1f", float64(b)/float64(max(seeded, 1))) }
		rows = append(rows, benchRow{fmt.Sprintf("memory, this bench process with every read model loaded (%s; RSS)", scale),
			fmt.Sprintf("RSS %d MB (%s B/incident); statistics entries %d MB (%s B/incident), loaded in %.1f s",
				r>>20, per(r), tl.Bytes()>>20, per(tl.Bytes()), tallyLoaded.Seconds()),
			"—", "—", "—", "—"})
		paths := []string{"/v1/stats?group_by=department&" + window, "/v1/stats?group_by=cell&interval=week&top=100&" + window,
			"/v1/overview?level=city", "/v1/overview?level=town&code=331082001", "/v1/heatmap?theme=parking&res=8&" + window}
		m, err := benchServeMemory(ctx, dataDir, key, paths, 20*time.Second)
		if err != nil {
			return nil, err
		}
		rows = append(rows, benchRow{fmt.Sprintf("memory, `citygrid serve` with every read model loaded (%s; RSS)", scale),
			fmt.Sprintf("RSS %d MB once loaded (%.0f s), at most %d MB over %d planner queries in 20 s (GOGC %s)",
				m.settled>>20, m.loaded.Seconds(), m.peak>>20, m.queries, m.gcPercent),
			"—", "—", "RSS ≤ 300 MB", yesNo(m.peak <= 300<<20)})
	}
	return rows, nil
}

func heatCounts(cs []grid.HeatCell) map[uint64]int64 {
	m := make(map[uint64]int64, len(cs))
	for _, c := range cs {
		m[c.H3] = c.Count
	}
	return m
}

// withKey sends an API key with every request.
type withKey struct {
	base http.RoundTripper
	key  string
}

func (w withKey) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+w.key)
	return w.base.RoundTrip(r)
}
