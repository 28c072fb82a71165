package httpapi_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/api"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/citygrid/citygrid/internal/httpapi"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/jackc/pgx/v5"
)

// newLimitedFixture serves db with the given limits. With loaded, the
// heatmap read model is loaded before it returns; without, it never
// loads, and heatmaps come from SQL.
func newLimitedFixture(t *testing.T, db *postgres.DB, lim httpapi.Limits, loaded bool) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cat := locate.NewCatalog(db)
	if _, err := cat.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	heat := hexbin.NewHeat(db, db, grid.ChinaTime())
	if loaded {
		heat.Start(context.Background())
		if err := heat.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	s := httpapi.New(httpapi.Config{Store: db, Incidents: db, Stats: db, Heatmaps: heat, Keys: db, Requests: db, Facilities: db, Features: db,
		Catalog: cat, OpenAPI: api.OpenAPI, Tiles: db, Limits: lim})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	key, err := db.CreateAPIKey(ctx, "admin", "", "limits test")
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{srv: srv, db: db, api: s, cat: cat, heat: heat, key: key}
}

func cidrs(t *testing.T, ss ...string) []*net.IPNet {
	t.Helper()
	var out []*net.IPNet
	for _, s := range ss {
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// slow is a bucket that refills one token in 1,000 s: within a test, only
// its burst passes.
func slow(burst int) httpapi.Rate { return httpapi.Rate{Rate: 0.001, Burst: burst} }

// wantTooMany checks a 429 problem with the Retry-After of the slow rate.
func wantTooMany(t *testing.T, resp *http.Response, b []byte, bucket string) {
	t.Helper()
	wantProblem(t, resp, b, http.StatusTooManyRequests, bucket)
	if ra := resp.Header.Get("Retry-After"); ra != "1000" {
		t.Errorf("Retry-After %q, want 1000 (one token every 1,000 s)", ra)
	}
	if p := decode[problem](t, b); p.Type != "/problems/too-many-requests" {
		t.Errorf("problem type %q", p.Type)
	}
}

// TestRateLimitPerAddress: an address gets its burst, then 429 with
// Retry-After; X-Forwarded-For is not believed from a peer that is not a
// trusted proxy, so inventing addresses does not buy new buckets; the
// platform's probes are never limited.
func TestRateLimitPerAddress(t *testing.T) {
	t.Parallel()
	f := newLimitedFixture(t, pgtest.New(t, pgtest.Demo), httpapi.Limits{PerAddr: slow(3)}, false)
	for i := range 3 {
		if resp, b := f.getAs(t, "/v1/grid/versions", ""); resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %d %s", i+1, resp.StatusCode, b)
		}
	}
	resp, b := f.getAs(t, "/v1/grid/versions", "")
	wantTooMany(t, resp, b, "address")
	for _, xff := range []string{"198.51.100.1", "198.51.100.2", "2001:db8::1"} {
		resp, b := f.do(t, http.MethodGet, "/v1/grid/versions", nil, "X-Forwarded-For", xff)
		wantTooMany(t, resp, b, "address")
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		key := ""
		if p == "/metrics" {
			key = f.key // an admin's, as the permission table has it
		}
		if resp, _ := f.getAs(t, p, key); resp.StatusCode != 200 && resp.StatusCode != 503 {
			t.Errorf("%s over the address's limit: %d, want its own answer", p, resp.StatusCode)
		}
	}
	// GeoReport has no 429: its answer is its 400, with Retry-After.
	resp, b = f.getAs(t, "/open311/v2/services.json", "")
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Retry-After") != "1000" || !strings.Contains(string(b), "too many requests") {
		t.Errorf("Open311 over the limit: %d, Retry-After %q: %s", resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	_, b = f.getAs(t, "/metrics", f.key)
	if !strings.Contains(string(b), `citygrid_rate_limited_total{bucket="address"} 5`) {
		t.Errorf("metrics do not count the 5 refusals:\n%s", grep(string(b), "citygrid_rate_limited"))
	}
}

func grep(text, sub string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestRateLimitBehindTrustedProxy: behind a trusted proxy the client
// address is the last X-Forwarded-For entry the proxy did not add itself,
// whatever the client put before it; IPv6 clients share their /64.
func TestRateLimitBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	f := newLimitedFixture(t, pgtest.New(t, pgtest.Demo),
		httpapi.Limits{PerAddr: slow(1), TrustedProxies: cidrs(t, "127.0.0.1/32", "::1/128")}, false)
	for _, c := range []struct {
		xff  string
		want int
	}{
		{"198.51.100.1", 200},
		{"198.51.100.1", 429},
		{"198.51.100.2", 200},
		{"203.0.113.9, 198.51.100.1", 429}, // the client's own entry is not believed
		{"198.51.100.3, 127.0.0.1", 200},   // a chain of trusted proxies is skipped
		{"2001:db8::1", 200},
		{"2001:db8::ffff", 429}, // the same /64
		{"2001:db8:0:1::1", 200},
		{"", 200}, // the proxy's own requests: its address
		{"", 429},
	} {
		resp, b := f.do(t, http.MethodGet, "/v1/grid/versions", nil, "X-Forwarded-For", c.xff)
		if resp.StatusCode != c.want {
			t.Errorf("X-Forwarded-For %q: %d, want %d: %s", c.xff, resp.StatusCode, c.want, b)
		}
	}
}

// TestRateLimitPerKey: each valid key has its own bucket besides its
// address's; a refused key has none (it is refused, never limited), and
// the public is metered by address only.
func TestRateLimitPerKey(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	f := newLimitedFixture(t, db, httpapi.Limits{PerAddr: httpapi.Rate{Rate: 1000, Burst: 1000}, PerKey: slow(2)}, false)
	other, err := db.CreateAPIKey(context.Background(), "planner", "", "second key")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{f.key, other} {
		for i := range 2 {
			if resp, b := f.getAs(t, "/v1/grid/versions", key); resp.StatusCode != 200 {
				t.Fatalf("key request %d within its burst: %d %s", i+1, resp.StatusCode, b)
			}
		}
		resp, b := f.getAs(t, "/v1/grid/versions", key)
		wantTooMany(t, resp, b, "key")
	}
	for range 5 {
		if resp, b := f.getAs(t, "/v1/grid/versions", ""); resp.StatusCode != 200 {
			t.Fatalf("the public, limited by address only: %d %s", resp.StatusCode, b)
		}
	}
	for range 3 { // a bucket of 2 would refuse the third
		resp, b := f.getAs(t, "/v1/grid/versions", "cg_nosuch_key")
		wantProblem(t, resp, b, http.StatusUnauthorized, "")
	}
}

// TestBadKeysCostTheirAddress: requests with wrong keys empty their
// address's bucket, which is checked before any key is looked up, so a
// key guesser is stopped without a query per guess — and a valid key from
// that address waits with it.
func TestBadKeysCostTheirAddress(t *testing.T) {
	t.Parallel()
	f := newLimitedFixture(t, pgtest.New(t, pgtest.Demo), httpapi.Limits{PerAddr: slow(3), PerKey: slow(100)}, false)
	for i := range 3 {
		resp, b := f.getAs(t, "/v1/grid/versions", "cg_guess"+string(rune('a'+i))+"_secret")
		wantProblem(t, resp, b, http.StatusUnauthorized, "")
	}
	resp, b := f.getAs(t, "/v1/grid/versions", "cg_guessd_secret")
	wantTooMany(t, resp, b, "address")
	resp, b = f.getAs(t, "/v1/grid/versions", f.key)
	wantTooMany(t, resp, b, "address")
}

// TestRateLimitExempt: exempt addresses (serve: loopback) are not limited.
func TestRateLimitExempt(t *testing.T) {
	t.Parallel()
	f := newLimitedFixture(t, pgtest.New(t, pgtest.Demo),
		httpapi.Limits{PerAddr: slow(1), PerKey: slow(1), Exempt: cidrs(t, "127.0.0.0/8", "::1/128")}, false)
	for i := range 5 {
		for _, key := range []string{"", f.key} {
			if resp, b := f.getAs(t, "/v1/grid/versions", key); resp.StatusCode != 200 {
				t.Fatalf("exempt request %d (key %v): %d %s", i+1, key != "", resp.StatusCode, b)
			}
		}
	}
}

// TestExpensiveQueriesBounded: with every slot taken, statistics and hot
// spots are 503 with Retry-After while cheap reads and the in-memory
// heatmap go on; once the slot is free they are answered.
func TestExpensiveQueriesBounded(t *testing.T) {
	t.Parallel()
	f := newLimitedFixture(t, pgtest.New(t, pgtest.Demo), httpapi.Limits{Expensive: 1}, true)
	expensive := []string{"/v1/stats?group_by=town", "/v1/hotspots?theme=parking&res=7", "/v1/hotspots/emerging?theme=parking&res=7"}
	release := httpapi.HoldExpensive(f.api)
	for _, p := range expensive {
		resp, b := f.get(t, p)
		wantProblem(t, resp, b, http.StatusServiceUnavailable, "at once (1)")
		if resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: 503 without Retry-After", p)
		}
	}
	for _, p := range []string{"/v1/incidents?limit=5", "/v1/heatmap?theme=parking&res=7", "/v1/heatmap/tiles/12/3426/1704.mvt?theme=parking", "/v1/grid/versions"} {
		if resp, b := f.get(t, p); resp.StatusCode >= 300 {
			t.Errorf("%s while the expensive slot is taken: %d %s", p, resp.StatusCode, b)
		}
	}
	release()
	for _, p := range expensive {
		if resp, b := f.get(t, p); resp.StatusCode != 200 {
			t.Errorf("%s with the slot free: %d %s", p, resp.StatusCode, b)
		}
	}
}

// TestExpensiveQueryWaitsForASlot: a request that finds every slot taken
// waits (up to ExpensiveWait) and is answered when one frees up.
func TestExpensiveQueryWaitsForASlot(t *testing.T) {
	t.Parallel()
	f := newLimitedFixture(t, pgtest.New(t, pgtest.Demo), httpapi.Limits{Expensive: 1, ExpensiveWait: time.Minute}, true)
	release := httpapi.HoldExpensive(f.api)
	waiting := make(chan struct{}, 1)
	httpapi.OnExpensiveWait(f.api, func() { waiting <- struct{}{} })
	type answer struct {
		status int
		body   []byte
	}
	done := make(chan answer, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, f.srv.URL+"/v1/stats?group_by=town", nil)
		req.Header.Set("Authorization", "Bearer "+f.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{0, []byte(err.Error())}
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		done <- answer{resp.StatusCode, b}
	}()
	<-waiting
	release()
	if a := <-done; a.status != 200 {
		t.Errorf("the waiting request: %d %s", a.status, a.body)
	}
}

// TestHeatmapFromSQLIsExpensive: while the heatmap read model has not
// loaded, heatmaps come from SQL and take a slot like any analysis.
func TestHeatmapFromSQLIsExpensive(t *testing.T) {
	t.Parallel()
	f := newLimitedFixture(t, pgtest.New(t, pgtest.Demo), httpapi.Limits{Expensive: 1}, false)
	release := httpapi.HoldExpensive(f.api)
	for _, p := range []string{"/v1/heatmap?theme=parking&res=7", "/v1/heatmap/tiles/12/3426/1704.mvt?theme=parking", "/tiles/heatmap/12/3426/1704.mvt?theme=parking"} {
		resp, b := f.get(t, p)
		wantProblem(t, resp, b, http.StatusServiceUnavailable, "at once")
	}
	if resp, b := f.get(t, "/tiles/cells/12/3426/1704.mvt"); resp.StatusCode >= 300 {
		t.Errorf("a grid tile while the slot is taken: %d %s", resp.StatusCode, b)
	}
	release()
	if resp, b := f.get(t, "/v1/heatmap?theme=parking&res=7"); resp.StatusCode != 200 {
		t.Errorf("heatmap from SQL with the slot free: %d %s", resp.StatusCode, b)
	}
}

// lockIncidents holds an ACCESS EXCLUSIVE lock on the incident table of
// the database at url until the returned function is called: every
// statement reading incidents waits, for real, as long as it is held.
func lockIncidents(t *testing.T, url string) (unlock func()) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `LOCK TABLE incident IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	return func() {
		_ = tx.Rollback(ctx)
		_ = conn.Close(ctx)
	}
}

// The time limits of these tests: what waits on a held lock passes them
// for certain, and nothing else comes near them on a busy machine.
const (
	testStatementTimeout = 2 * time.Second
	testRequestTimeout   = 2 * time.Second
)

// TestStatementTimeoutIs504: a statement on the request path that runs
// past the pool's statement_timeout is cancelled by PostgreSQL (57014)
// and answered 504 problem+json; the service answers again at once.
func TestStatementTimeoutIs504(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t, pgtest.Demo)
	db, err := postgres.OpenWith(context.Background(), url, postgres.Options{StatementTimeout: testStatementTimeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	f := newLimitedFixture(t, db, httpapi.Limits{}, true)
	unlock := lockIncidents(t, url)
	resp, b := f.get(t, "/v1/incidents?limit=5")
	wantProblem(t, resp, b, http.StatusGatewayTimeout, "time limit")
	if p := decode[problem](t, b); p.Type != "/problems/timeout" {
		t.Errorf("problem type %q", p.Type)
	}
	// A bulk load is long work, outside the statement timeout: held up
	// for twice the timeout, it still completes.
	if status := bulkLoadWhileLocked(t, f, url, unlock, 2*testStatementTimeout); status != http.StatusCreated {
		t.Errorf("bulk load held up past the statement timeout: %d, want 201", status)
	}
	if resp, b := f.get(t, "/v1/incidents?limit=5"); resp.StatusCode != 200 {
		t.Errorf("after the lock: %d %s", resp.StatusCode, b)
	}
}

// bulkLoadWhileLocked posts a one-line bulk load while the incident table
// of the database at url is locked, waits until PostgreSQL reports it
// blocked for longer than held, unlocks and returns the load's status.
func bulkLoadWhileLocked(t *testing.T, f *fixture, url string, unlock func(), held time.Duration) int {
	t.Helper()
	done := make(chan int, 1)
	go func() {
		body := `{"category":"E0505","lon":121.1335,"lat":28.8493,"occurred_at":"2026-03-01T09:00:00+08:00","source":"hotline"}` + "\n"
		req, _ := http.NewRequest(http.MethodPost, f.srv.URL+"/v1/incidents/bulk", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+f.key)
		req.Header.Set("Content-Type", "application/x-ndjson")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	if status, ended := waitBlocked(t, url, held, done); ended {
		t.Errorf("the bulk load ended (%d) before it was held up for %v", status, held)
		return status
	}
	unlock()
	return <-done
}

// TestRequestDeadlineIs504: a request past its own deadline is 504 too,
// even where no statement timeout is set; the batch routes have a longer
// deadline, so a bulk load that waits longer than an ordinary request may
// still complete.
func TestRequestDeadlineIs504(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t, pgtest.Demo)
	db, err := postgres.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	f := newLimitedFixture(t, db, httpapi.Limits{RequestTimeout: testRequestTimeout, BatchTimeout: time.Minute}, true)

	unlock := lockIncidents(t, url)
	resp, b := f.get(t, "/v1/incidents?limit=5")
	wantProblem(t, resp, b, http.StatusGatewayTimeout, "time limit")

	// A bulk load blocked by the same lock for well past the ordinary
	// deadline (as the database's clock says) completes once it is free,
	// on a server whose read and write timeouts are those of the ordinary
	// deadline: the route moves its connection's deadlines out.
	read, write := httpapi.ServerTimeouts(testRequestTimeout)
	srv := httptest.NewUnstartedServer(f.api.Handler())
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = read, write
	srv.Start()
	t.Cleanup(srv.Close)
	g := *f
	g.srv = srv
	if status := bulkLoadWhileLocked(t, &g, url, unlock, write+time.Second); status != http.StatusCreated {
		t.Errorf("bulk load past the ordinary deadline and write timeout: %d, want 201", status)
	}
}

// waitBlocked returns once a statement of the database at url has waited
// on a lock for longer than d, as PostgreSQL reports it — or, with ended,
// when done delivers first.
func waitBlocked(t *testing.T, url string, d time.Duration, done <-chan int) (status int, ended bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url) // no statement timeout here
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock' AND now() - query_start > $1 * interval '1 second'`,
			d.Seconds()).Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return 0, false
		}
		select {
		case status := <-done:
			return status, true
		case <-time.After(20 * time.Millisecond): // polls the database's own view
		}
	}
}
