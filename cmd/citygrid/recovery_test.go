package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/citygrid/citygrid/geodata"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/pgembed"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"
	"github.com/uber/h3-go/v4"
)

// The recovery tests stop PostGIS under a mixed load on two replicas of
// the service — locate (single and batch), grid, incident and heatmap
// tiles, heatmaps, statistics, single creates, bulk loads and lifecycle
// actions — and start it again. Throughout, locate and the grid tiles
// answer from memory; every other answer is a success or a 503 with
// Retry-After, never a 500. Afterwards every acknowledged write is in the
// database (by id and external id), no refused write is half there, and
// both replicas' heatmaps, statistics and incident tiles hold every write,
// including those committed right before the stop.

// TestRecoveryAfterAPostmasterCrash: the embedded cluster's postmaster and
// its backends die by SIGKILL; serve restarts it by itself (the test holds
// the data dir lock meanwhile, so that the outage lasts until every kind of
// write has met it), and PostgreSQL recovers through its WAL.
func TestRecoveryAfterAPostmasterCrash(t *testing.T) {
	requireBinaries(t)
	if os.Getenv("DATABASE_URL") != "" {
		t.Skip("runs its own embedded cluster")
	}
	rig := newFaultRig(t, "")
	old := rig.cluster.PID()
	release := holdDataDirLock(t, rig.dataDir)
	rig.setPhase(phaseDown)
	killTree(t, old)
	rig.outage()
	for _, r := range rig.replicas { // each replica's supervisor sees it, and waits for the lock
		waitFor(t, time.Minute, "replica "+r.name+" to notice the crash", func() bool {
			return strings.Contains(r.logs.String(), "the embedded cluster is down: restarting it")
		})
	}
	release()
	rig.recover()
	restarts := func() int {
		n := 0
		for _, r := range rig.replicas {
			n += strings.Count(r.logs.String(), `"msg":"restarted the embedded cluster"`)
		}
		return n
	}
	waitFor(t, time.Minute, "the restart to be logged", func() bool { return restarts() > 0 })
	for _, r := range rig.replicas {
		waitFor(t, time.Minute, "replica "+r.name+" to watch the new postmaster", func() bool {
			l := r.logs.String()
			return strings.Contains(l, `"msg":"restarted the embedded cluster"`) || strings.Contains(l, "the embedded cluster runs again")
		})
	}
	if restarts := restarts(); restarts != 1 {
		t.Errorf("%d restarts of the embedded cluster, want 1 (the other replica watches the new postmaster)", restarts)
	}
	if pid := readPostmasterPID(t, rig.dataDir); pid == old {
		t.Errorf("postmaster pid %d after the restart: the crashed one", pid)
	}
	rig.finish()
}

// TestRecoveryAfterAFastShutdown: the postmaster gets SIGINT (what pg_ctl
// stop -m fast sends). Serve respects it — the operator meant it — and
// leaves the cluster down; when the operator starts it again, both
// replicas reconnect and catch up by themselves.
func TestRecoveryAfterAFastShutdown(t *testing.T) {
	requireBinaries(t)
	if os.Getenv("DATABASE_URL") != "" {
		t.Skip("runs its own embedded cluster")
	}
	rig := newFaultRig(t, "")
	rig.setPhase(phaseDown)
	if err := syscall.Kill(rig.cluster.PID(), syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	rig.outage()
	for _, r := range rig.replicas {
		waitFor(t, time.Minute, "replica "+r.name+" to leave the stopped cluster down", func() bool {
			return strings.Contains(r.logs.String(), "leaving it down")
		})
	}
	if _, err := os.Stat(filepath.Join(rig.dataDir, "pg", "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("the cluster runs again although an operator stopped it (postmaster.pid: %v)", err)
	}
	// The operator starts it again.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	op, err := pgembed.Start(ctx, pgembed.Options{DataDir: rig.dataDir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = op.Stop(context.Background()) }) // finish stops the replicas first
	rig.recover()
	for _, r := range rig.replicas {
		waitFor(t, time.Minute, "replica "+r.name+" to watch the operator's postmaster", func() bool {
			return strings.Contains(r.logs.String(), "the embedded cluster runs again")
		})
	}
	rig.finish()
}

// TestRecoveryWithAnOutsideDatabase: with DATABASE_URL nothing is
// restarted; the database crashes (SIGKILL), stays down until its operator
// starts it, and the replicas recover as soon as it is back.
func TestRecoveryWithAnOutsideDatabase(t *testing.T) {
	requireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dbDir := traversableDir(t)
	// Not Fast: a crash must not take acknowledged commits.
	c, err := pgembed.Start(ctx, pgembed.Options{DataDir: dbDir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	t.Setenv("DATABASE_URL", c.ConnString())
	rig := newFaultRig(t, c.ConnString())
	old := c.PID()
	rig.setPhase(phaseDown)
	killTree(t, old)
	rig.outage()
	if pid := readPostmasterPID(t, dbDir); pid != old {
		t.Fatalf("someone started the outside database (postmaster %d; crashed %d)", pid, old)
	}
	for _, r := range rig.replicas {
		if strings.Contains(r.logs.String(), "restarting it") {
			t.Errorf("replica %s tried to restart an outside database", r.name)
		}
	}
	c2, err := pgembed.Start(ctx, pgembed.Options{DataDir: dbDir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Stop(context.Background()) })
	if c2.ConnString() != c.ConnString() {
		t.Fatalf("the database came back elsewhere: %s", c2.ConnString())
	}
	rig.recover()
	rig.finish()
}

// Phases of a fault test: a request belongs to the phase it began in.
const (
	phaseUp = iota
	phaseDown
	phaseBack
	phases
)

var phaseNames = [phases]string{"before the stop", "while down", "after recovery"}

// Kinds of request, with the statuses each may answer.
var faultKinds = map[string][]int{
	"locate":         {200},
	"locate-batch":   {200},
	"tile-cells":     {200},
	"tile-incidents": {200, 204, 503},
	"tile-heatmap":   {200, 204, 503},
	"heatmap":        {200, 503},
	"stats":          {200, 503},
	"create":         {200, 201, 503},
	"bulk":           {201, 503},
	"action":         {200, 409, 503},
}

// writeKinds must each meet the outage (a 503) and work again after it.
var writeKinds = []string{"create", "bulk", "action"}

type replica struct {
	name string
	svc  *service
	logs *syncBuffer
}

type createOutcome struct {
	ext    string
	status int
	id     int64
	point  orb.Point
}

type bulkOutcome struct {
	exts   []string
	points []orb.Point
	status int
	ids    []int64
}

type actionOutcome struct {
	incident int64
	action   string
	status   int
	event    int64
}

// faultRig is two replicas on one database, the load on them and every
// answer.
type faultRig struct {
	t        *testing.T
	dataDir  string           // the embedded cluster's ("" with DATABASE_URL)
	cluster  *pgembed.Cluster // the test's handle on it (attached)
	connStr  string
	replicas []*replica

	dispatcher, planner string
	pts                 []orb.Point  // inside the city; every third one inside tile
	tile                maptile.Tile // z14 over the old town, where half the writes land
	cats                []string
	from, to            time.Time // every write's occurred_at and every read's window
	pool                []int64   // incidents for lifecycle actions

	phase   atomic.Int32
	phaseCh chan struct{} // closed and replaced when the phase changes
	stop    context.CancelFunc
	wg      sync.WaitGroup
	mu      sync.Mutex
	counts  map[string]*[phases]map[int]int
	bad     []string

	creates []createOutcome
	bulks   []bulkOutcome
	actions []actionOutcome
}

// newFaultRig starts two replicas — on the embedded cluster of a fresh data
// dir, or on connStr when given (DATABASE_URL is set) — loads incidents for
// the lifecycle actions, and starts the load.
func newFaultRig(t *testing.T, connStr string) *faultRig {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	r := &faultRig{t: t, connStr: connStr, counts: map[string]*[phases]map[int]int{}, phaseCh: make(chan struct{}),
		cats: []string{"E0505", "E0506", "E0102", "E0406"}}
	dir := traversableDir(t)
	if connStr == "" {
		r.dataDir = dir
	}
	for i, name := range []string{"a", "b"} {
		logs := &syncBuffer{}
		svc := startServiceLog(t, dir, slog.New(slog.NewJSONHandler(logs, nil)))
		r.replicas = append(r.replicas, &replica{name: name, svc: svc, logs: logs})
		var rd ready
		waitFor(t, 2*time.Minute, "replica "+name, func() bool { return getJSON(t, svc.url+"/readyz", &rd) == 200 && rd.Status == "ready" })
		if i == 0 && connStr == "" && !strings.Contains(logs.String(), "embedded PostGIS started") {
			t.Fatalf("replica a did not start the embedded cluster:\n%.2000s", logs.String())
		}
	}
	t.Cleanup(r.shutdown)
	if connStr == "" {
		c, err := pgembed.Start(ctx, pgembed.Options{DataDir: dir, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		if c.Owned() {
			t.Fatal("the test started the cluster: no replica runs it")
		}
		r.cluster, r.connStr = c, c.ConnString()
	}
	key := func(role string) string {
		var out bytes.Buffer
		args := []string{"keys", "create", "--role", role}
		if connStr == "" {
			args = append(args, "--data-dir", dir)
		}
		if err := run(ctx, args, &out, slog.New(slog.DiscardHandler)); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out.String())
	}
	r.dispatcher, r.planner = key("dispatcher"), key("planner")

	r.tile = maptile.At(orb.Point{121.13, 28.85}, 14)
	snap, err := locate.Build(&grid.Model{Version: grid.Version{ID: 1}, City: geodata.MustLinhai()})
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	in := randomInside(rng, snap, shrink(r.tile.Bound(), 0.1), 200)
	around := randomInside(rng, snap, orb.Bound{Min: orb.Point{121.05, 28.78}, Max: orb.Point{121.22, 28.92}}, 400)
	for i := range in { // a third in the tile
		r.pts = append(r.pts, in[i], around[2*i], around[2*i+1])
	}
	now := time.Now()
	r.to = now.Truncate(time.Hour).Add(time.Hour)
	r.from = r.to.Add(-72 * time.Hour)

	// Incidents to move through the lifecycle.
	var body bytes.Buffer
	for i := range 300 {
		r.line(&body, i, "pool-"+strconv.Itoa(i))
	}
	status, _, b, err := r.do(ctx, r.replicas[0].svc.url, http.MethodPost, "/v1/incidents/bulk", r.dispatcher, "application/x-ndjson", &body)
	if err != nil || status != 201 {
		t.Fatalf("loading the lifecycle pool: %d %v %s", status, err, b)
	}
	var out struct{ IDs []int64 }
	if err := json.Unmarshal(b, &out); err != nil || len(out.IDs) != 300 {
		t.Fatalf("bulk answer: %v %s", err, b)
	}
	r.pool = out.IDs
	for _, rp := range r.replicas {
		waitFor(t, time.Minute, "replica "+rp.name+"'s heatmap read model", func() bool {
			var rd struct{ Heatmaps string }
			getJSON(t, rp.svc.url+"/readyz", &rd)
			return rd.Heatmaps == "memory"
		})
	}
	r.start()
	r.waitAcked(phaseUp, 100, 3, 20)
	return r
}

// shutdown stops both replicas at once: a replica left running would take
// over a cluster the other stops as it ends.
func (r *faultRig) shutdown() {
	for _, rp := range r.replicas {
		if rp.svc.stop != nil {
			rp.svc.stop()
		}
	}
	for _, rp := range r.replicas {
		rp.svc.shutdown(r.t)
	}
}

// setPhase moves the load to phase p.
func (r *faultRig) setPhase(p int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phase.Store(int32(p))
	close(r.phaseCh)
	r.phaseCh = make(chan struct{})
}

// throttle holds a writer back once its kind has been acknowledged limit
// times in the current phase, until the next phase (keeping the tile of
// the test under the bound of points it draws); false when ctx ends.
func (r *faultRig) throttle(ctx context.Context, kind string, limit int, acked ...int) bool {
	for {
		r.mu.Lock()
		ch := r.phaseCh
		r.mu.Unlock()
		if r.count(kind, int(r.phase.Load()), acked...) < limit {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
}

func shrink(b orb.Bound, f float64) orb.Bound {
	dx, dy := (b.Max[0]-b.Min[0])*f, (b.Max[1]-b.Min[1])*f
	return orb.Bound{Min: orb.Point{b.Min[0] + dx, b.Min[1] + dy}, Max: orb.Point{b.Max[0] - dx, b.Max[1] - dy}}
}

// line writes incident i as an NDJSON line with external id ext.
func (r *faultRig) line(b *bytes.Buffer, i int, ext string) orb.Point {
	p := r.pts[i%len(r.pts)]
	at := time.Now().Add(-time.Duration(1+i%60) * time.Hour)
	fmt.Fprintf(b, `{"category":%q,"lon":%.7f,"lat":%.7f,"occurred_at":%q,"source":"camera","external_id":%q}`+"\n",
		r.cats[i%len(r.cats)], p[0], p[1], at.Format(time.RFC3339), ext)
	return p
}

// do sends one request; the transport error is returned, not reported.
func (r *faultRig) do(ctx context.Context, base, method, path, key, ctype string, body io.Reader) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return 0, nil, nil, err
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := faultClient.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

var faultClient = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// record counts an answer and keeps what was wrong with it.
func (r *faultRig) record(kind string, phase int, status int, h http.Header, body []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counts[kind]
	if c == nil {
		c = &[phases]map[int]int{{}, {}, {}}
		r.counts[kind] = c
	}
	c[phase][status]++
	if !slices.Contains(faultKinds[kind], status) {
		r.bad = append(r.bad, fmt.Sprintf("%s %s: %d %.300s", kind, phaseNames[phase], status, body))
	}
	if status == 503 && (h.Get("Retry-After") == "" || !strings.HasPrefix(h.Get("Content-Type"), "application/problem+json")) {
		r.bad = append(r.bad, fmt.Sprintf("%s: 503 without Retry-After or problem+json: %v %.300s", kind, h, body))
	}
}

func (r *faultRig) failed(kind string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.bad = append(r.bad, fmt.Sprintf("%s: %v", kind, err))
}

// start runs the load until finish.
func (r *faultRig) start() {
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	worker := func(kind string, w int, op func(ctx context.Context, base string, i int) (int, http.Header, []byte, error)) {
		r.wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				base := r.replicas[(w+i)%len(r.replicas)].svc.url
				phase := int(r.phase.Load())
				status, h, body, err := op(ctx, base, i)
				switch {
				case ctx.Err() != nil:
					return
				case err != nil:
					r.failed(kind, err)
				default:
					r.record(kind, phase, status, h, body)
				}
			}
		})
	}
	for w := range 2 {
		worker("locate", w, func(ctx context.Context, base string, i int) (int, http.Header, []byte, error) {
			p := r.pts[(i*7+w)%len(r.pts)]
			return r.do(ctx, base, http.MethodGet, fmt.Sprintf("/v1/locate?lon=%.6f&lat=%.6f&category=E0505", p[0], p[1]), "", "", nil)
		})
	}
	worker("locate-batch", 0, func(ctx context.Context, base string, i int) (int, http.Header, []byte, error) {
		var b strings.Builder
		b.WriteString(`{"category":"E0102","points":[`)
		for j := range 50 {
			p := r.pts[(i+j)%len(r.pts)]
			if j > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, "[%.6f,%.6f]", p[0], p[1])
		}
		b.WriteString("]}")
		status, h, body, err := r.do(ctx, base, http.MethodPost, "/v1/locate", "", "application/json", strings.NewReader(b.String()))
		if err == nil && status == 200 && bytes.Contains(body, []byte(`"error"`)) {
			status = 299 // a point the snapshot should have placed was not
		}
		return status, h, body, err
	})
	z, x, y := int(r.tile.Z), r.tile.X, r.tile.Y
	worker("tile-cells", 0, func(ctx context.Context, base string, i int) (int, http.Header, []byte, error) {
		return r.do(ctx, base, http.MethodGet, fmt.Sprintf("/tiles/towns,cells/%d/%d/%d.mvt", z, x+uint32(i%3), y), "", "", nil)
	})
	worker("tile-incidents", 1, func(ctx context.Context, base string, i int) (int, http.Header, []byte, error) {
		return r.do(ctx, base, http.MethodGet, fmt.Sprintf("/tiles/incidents/%d/%d/%d.mvt", z, x, y), r.dispatcher, "", nil)
	})
	worker("tile-heatmap", 0, func(ctx context.Context, base string, i int) (int, http.Header, []byte, error) {
		return r.do(ctx, base, http.MethodGet, fmt.Sprintf("/v1/heatmap/tiles/%d/%d/%d.mvt?theme=parking", z-2+i%3, x>>(2-i%3), y>>(2-i%3)), r.planner, "", nil)
	})
	worker("heatmap", 1, func(ctx context.Context, base string, i int) (int, http.Header, []byte, error) {
		return r.do(ctx, base, http.MethodGet, r.heatmapPath(), r.planner, "", nil)
	})
	worker("stats", 0, func(ctx context.Context, base string, i int) (int, http.Header, []byte, error) {
		return r.do(ctx, base, http.MethodGet, r.statsPath(), r.planner, "", nil)
	})
	for w := range 4 {
		worker("create", w, func(ctx context.Context, base string, i int) (int, http.Header, []byte, error) {
			if !r.throttle(ctx, "create", 400, 200, 201) {
				return 0, nil, nil, ctx.Err()
			}
			ext := fmt.Sprintf("c%d-%d", w, i)
			var b bytes.Buffer
			p := r.line(&b, i*4+w, ext)
			status, h, body, err := r.do(ctx, base, http.MethodPost, "/v1/incidents", r.dispatcher, "application/json", &b)
			if err == nil {
				var x struct{ ID int64 }
				if status == 200 || status == 201 {
					_ = json.Unmarshal(body, &x)
				}
				r.mu.Lock()
				r.creates = append(r.creates, createOutcome{ext: ext, status: status, id: x.ID, point: p})
				r.mu.Unlock()
			}
			return status, h, body, err
		})
	}
	worker("bulk", 0, func(ctx context.Context, base string, i int) (int, http.Header, []byte, error) {
		if !r.throttle(ctx, "bulk", 6, 201) {
			return 0, nil, nil, ctx.Err()
		}
		var b bytes.Buffer
		o := bulkOutcome{}
		for j := range 100 {
			ext := fmt.Sprintf("b%d-%d", i, j)
			o.exts = append(o.exts, ext)
			o.points = append(o.points, r.line(&b, i*100+j, ext))
		}
		status, h, body, err := r.do(ctx, base, http.MethodPost, "/v1/incidents/bulk", r.dispatcher, "application/x-ndjson", &b)
		if err == nil {
			o.status = status
			if status == 201 {
				var x struct{ IDs []int64 }
				_ = json.Unmarshal(body, &x)
				o.ids = x.IDs
			}
			r.mu.Lock()
			r.bulks = append(r.bulks, o)
			r.mu.Unlock()
		}
		return status, h, body, err
	})
	steps := []string{"register", "dispatch", "report", "verify", "evaluate"}
	for w := range 2 {
		var incident, step int
		incident = w
		worker("action", w, func(ctx context.Context, base string, i int) (int, http.Header, []byte, error) {
			if !r.throttle(ctx, "action", 200, 200) {
				return 0, nil, nil, ctx.Err()
			}
			if step == len(steps) {
				incident, step = incident+2, 0
			}
			id := r.pool[incident%len(r.pool)]
			action := steps[step]
			status, h, body, err := r.do(ctx, base, http.MethodPost, fmt.Sprintf("/v1/incidents/%d/events", id), r.dispatcher, "application/json",
				strings.NewReader(`{"action":"`+action+`","actor":"fault test"}`))
			if err == nil {
				o := actionOutcome{incident: id, action: action, status: status}
				if status == 200 {
					var x struct{ Events []struct{ ID int64 } }
					if json.Unmarshal(body, &x) == nil && len(x.Events) == 1 {
						o.event = x.Events[0].ID
					}
				}
				if status == 200 || status == 409 {
					step++
				}
				r.mu.Lock()
				r.actions = append(r.actions, o)
				r.mu.Unlock()
			}
			return status, h, body, err
		})
	}
}

func (r *faultRig) heatmapPath() string {
	return "/v1/heatmap?res=8&category=" + strings.Join(r.cats, ",") + "&from=" + url.QueryEscape(r.from.Format(time.RFC3339)) +
		"&to=" + url.QueryEscape(r.to.Format(time.RFC3339))
}

func (r *faultRig) statsPath() string {
	return "/v1/stats?group_by=town&from=" + url.QueryEscape(r.from.Format(time.RFC3339)) + "&to=" + url.QueryEscape(r.to.Format(time.RFC3339))
}

// count is how many answers of kind in phase had one of statuses.
func (r *faultRig) count(kind string, phase int, statuses ...int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counts[kind]
	if c == nil {
		return 0
	}
	n := 0
	for _, s := range statuses {
		n += c[phase][s]
	}
	return n
}

// waitAcked waits until creates, bulk loads and lifecycle actions have been
// acknowledged at least so often in phase.
func (r *faultRig) waitAcked(phase, creates, bulks, actions int) {
	r.t.Helper()
	waitFor(r.t, 2*time.Minute, "writes "+phaseNames[phase], func() bool {
		return r.count("create", phase, 200, 201) >= creates && r.count("bulk", phase, 201) >= bulks && r.count("action", phase, 200) >= actions
	})
}

// outage follows a stop of the database (the phase set just before it):
// every kind of write meets it (503), locate keeps answering, and every
// replica says it is degraded.
func (r *faultRig) outage() {
	r.t.Helper()
	for _, k := range writeKinds {
		waitFor(r.t, time.Minute, k+" refused while the database is down", func() bool { return r.count(k, phaseDown, 503) > 0 })
	}
	before := r.count("locate", phaseDown, 200)
	waitFor(r.t, time.Minute, "locate while the database is down", func() bool { return r.count("locate", phaseDown, 200) >= before+20 })
	for _, rp := range r.replicas {
		var rd ready
		if code := getJSON(r.t, rp.svc.url+"/readyz", &rd); code != 200 || rd.Status != "degraded" {
			r.t.Errorf("replica %s readyz with the database down: %d %+v", rp.name, code, rd)
		}
	}
}

// recover waits for both replicas to be ready and for every kind of write
// to work again.
func (r *faultRig) recover() {
	r.t.Helper()
	for _, rp := range r.replicas {
		waitFor(r.t, 2*time.Minute, "replica "+rp.name+" ready again", func() bool {
			var rd ready
			return getJSON(r.t, rp.svc.url+"/readyz", &rd) == 200 && rd.Status == "ready"
		})
	}
	r.setPhase(phaseBack)
	r.waitAcked(phaseBack, 20, 2, 10)
}

// finish stops the load and checks the database and the read models.
func (r *faultRig) finish() {
	t := r.t
	t.Helper()
	r.stop()
	r.wg.Wait()
	for _, b := range r.bad {
		t.Error(b)
	}
	for _, rp := range r.replicas {
		if strings.Contains(rp.logs.String(), `"msg":"request failed"`) {
			t.Errorf("replica %s logged a failed (500) request", rp.name)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, r.connStr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	// One snapshot for the stored writes: a write still committing when
	// the load stopped (its client gave up on it) is in all of it or none.
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	r.checkStored(ctx, tx)
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	r.checkReadModels(ctx, conn)
	r.shutdown()
	for _, k := range slices.Sorted(maps.Keys(faultKinds)) {
		c := r.counts[k]
		if c == nil {
			t.Errorf("no %s requests", k)
			continue
		}
		t.Logf("%-15s %v | %v | %v", k, c[phaseUp], c[phaseDown], c[phaseBack])
	}
}

// checkStored: every acknowledged write is stored, no refused one is half
// stored, and the rollups, keys and trails agree with the incidents.
func (r *faultRig) checkStored(ctx context.Context, conn pgx.Tx) {
	t := r.t
	type stored struct {
		id     int64
		events int
	}
	byExt := map[string]stored{}
	rows, err := conn.Query(ctx, `SELECT k.external_id, i.id, (SELECT count(*) FROM incident_event e WHERE e.incident_id = i.id AND e.action = 'create')
		FROM incident_key k LEFT JOIN incident i ON i.id = k.incident_id AND i.occurred_at = k.occurred_at`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var ext string
		var id *int64
		var events int
		if err := rows.Scan(&ext, &id, &events); err != nil {
			t.Fatal(err)
		}
		if id == nil {
			t.Errorf("external id %s: key without its incident", ext)
			continue
		}
		byExt[ext] = stored{*id, events}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}

	var ackCreates, refusedCreates, refusedStored, ackLines, refusedBulks, refusedBulksStored int
	for _, c := range r.creates {
		s, ok := byExt[c.ext]
		switch c.status {
		case 200, 201:
			ackCreates++
			if !ok || s.id != c.id {
				t.Errorf("acknowledged create %s (id %d) is not stored (found %+v)", c.ext, c.id, s)
			} else if s.events != 1 {
				t.Errorf("create %s: %d create events", c.ext, s.events)
			}
		case 503:
			refusedCreates++
			if ok {
				refusedStored++ // committed, its answer lost: a retry gets 200
				if s.events != 1 {
					t.Errorf("refused create %s is half stored: %d create events", c.ext, s.events)
				}
			}
		}
	}
	for _, b := range r.bulks {
		found := 0
		for j, ext := range b.exts {
			s, ok := byExt[ext]
			if ok {
				found++
			}
			if b.status == 201 && (!ok || j >= len(b.ids) || s.id != b.ids[j]) {
				t.Errorf("acknowledged bulk line %d (%s) is not stored as its answer says (stored: %v %+v; %d ids)", j, ext, ok, s, len(b.ids))
			}
		}
		switch b.status {
		case 201:
			ackLines += len(b.exts)
		case 503:
			refusedBulks++
			if found == len(b.exts) {
				refusedBulksStored++
			} else if found != 0 {
				t.Errorf("a refused bulk load is half stored: %d of %d lines", found, len(b.exts))
			}
		}
	}
	var ackActions, refusedActions int
	var events []int64
	for _, a := range r.actions {
		switch a.status {
		case 200:
			ackActions++
			events = append(events, a.event)
		case 503:
			refusedActions++
		}
	}
	var foundEvents int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM incident_event WHERE id = ANY($1)`, events).Scan(&foundEvents); err != nil {
		t.Fatal(err)
	}
	if foundEvents != len(events) {
		t.Errorf("%d of %d acknowledged lifecycle actions are stored", foundEvents, len(events))
	}
	var incidents, keys, rolled, mismatched int
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM incident), (SELECT count(*) FROM incident_key),
		(SELECT coalesce(sum(n), 0) FROM h3_rollup, unnest(counts) AS n),
		(SELECT count(*) FROM incident i JOIN LATERAL (SELECT to_status FROM incident_event e WHERE e.incident_id = i.id ORDER BY e.id DESC LIMIT 1) l ON true
			WHERE l.to_status <> i.status)`).Scan(&incidents, &keys, &rolled, &mismatched); err != nil {
		t.Fatal(err)
	}
	if incidents != keys || incidents != len(byExt) {
		t.Errorf("%d incidents, %d keys (%d joined): every incident here has its key", incidents, keys, len(byExt))
	}
	if rolled != incidents {
		t.Errorf("the rollups count %d incidents, the table holds %d", rolled, incidents)
	}
	if mismatched != 0 {
		t.Errorf("%d incidents whose state is not that of their last event", mismatched)
	}
	t.Logf("creates: %d acknowledged, all stored; %d refused (503), of which %d committed before the connection dropped", ackCreates, refusedCreates, refusedStored)
	t.Logf("bulk loads: %d lines acknowledged, all stored; %d loads refused, %d of them whole in the database, none partly", ackLines, refusedBulks, refusedBulksStored)
	t.Logf("lifecycle actions: %d acknowledged, all stored; %d refused; %d incidents stored in all", ackActions, refusedActions, incidents)
}

// checkReadModels: each replica's heatmap, statistics and incidents tile
// catch up with everything stored — the writes committed right before the
// stop included, whose notifications the other replica may never have had.
func (r *faultRig) checkReadModels(ctx context.Context, conn *pgx.Conn) {
	t := r.t
	// Oracles: H3's own cell of every stored point, and counts by town —
	// read again at every poll, so a write still committing when the load
	// stopped (its client gave up on it) is expected once it is stored.
	var wantHeat, wantStats map[string]int64
	oracles := func() {
		wantHeat, wantStats = map[string]int64{}, map[string]int64{}
		rows, err := conn.Query(ctx, `SELECT ST_X(geom), ST_Y(geom) FROM incident WHERE occurred_at >= $1 AND occurred_at < $2 AND category = ANY($3)`,
			r.from, r.to, r.cats)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var lon, lat float64
			if err := rows.Scan(&lon, &lat); err != nil {
				t.Fatal(err)
			}
			c, err := h3.LatLngToCell(h3.LatLng{Lat: lat, Lng: lon}, 8)
			if err != nil {
				t.Fatal(err)
			}
			wantHeat[c.String()]++
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
		rows, err = conn.Query(ctx, `SELECT town_code, count(*) FROM incident WHERE occurred_at >= $1 AND occurred_at < $2 GROUP BY 1`, r.from, r.to)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var town string
			var n int64
			if err := rows.Scan(&town, &n); err != nil {
				t.Fatal(err)
			}
			wantStats[town] = n
		}
		if rows.Err() != nil {
			t.Fatal(rows.Err())
		}
	}
	// The incidents acknowledged in the tile, the last before the stop among them.
	inTile := map[int64]bool{}
	tb := r.tile.Bound()
	for _, c := range r.creates {
		if (c.status == 200 || c.status == 201) && tb.Contains(c.point) {
			inTile[c.id] = true
		}
	}
	for _, b := range r.bulks {
		for j, p := range b.points {
			if b.status == 201 && tb.Contains(p) {
				inTile[b.ids[j]] = true
			}
		}
	}

	for _, rp := range r.replicas {
		base := rp.svc.url
		var lastHeat map[string]int64
		heatOK := func() bool {
			oracles()
			status, _, body, err := r.do(ctx, base, http.MethodGet, r.heatmapPath(), r.planner, "", nil)
			var hm struct {
				Cells []struct {
					H3    string
					Count int64
				}
			}
			if err != nil || status != 200 || json.Unmarshal(body, &hm) != nil {
				return false
			}
			lastHeat = map[string]int64{}
			for _, c := range hm.Cells {
				lastHeat[c.H3] = c.Count
			}
			return maps.Equal(lastHeat, wantHeat)
		}
		waitForOr(t, time.Minute, "replica "+rp.name+"'s heatmap to hold every stored incident", heatOK, func() string {
			return fmt.Sprintf("%d cells, %d incidents; want %d cells, %d incidents\n%s\n%s", len(lastHeat), sum(lastHeat), len(wantHeat), sum(wantHeat),
				r.heatDiff(ctx, conn, lastHeat, wantHeat), r.listenerLog(rp))
		})
		var lastStats map[string]int64
		waitForOr(t, time.Minute, "replica "+rp.name+"'s statistics to count every stored incident", func() bool {
			oracles()
			status, _, body, err := r.do(ctx, base, http.MethodGet, r.statsPath(), r.planner, "", nil)
			var st struct {
				Groups []struct {
					Code  string
					Total int64
				}
			}
			if err != nil || status != 200 || json.Unmarshal(body, &st) != nil {
				return false
			}
			lastStats = map[string]int64{}
			for _, g := range st.Groups {
				if g.Total > 0 {
					lastStats[g.Code] = g.Total
				}
			}
			return maps.Equal(lastStats, wantStats)
		}, func() string { return fmt.Sprintf("%v, want %v", lastStats, wantStats) })
		var missing []int64
		waitForOr(t, time.Minute, "replica "+rp.name+"'s incidents tile to show every acknowledged incident in it", func() bool {
			status, _, body, err := r.do(ctx, base, http.MethodGet, fmt.Sprintf("/tiles/incidents/%d/%d/%d.mvt", r.tile.Z, r.tile.X, r.tile.Y), r.dispatcher, "", nil)
			if err != nil || status != 200 {
				return false
			}
			layers, err := mvt.Unmarshal(body)
			if err != nil {
				return false
			}
			shown := map[int64]bool{}
			for _, l := range layers {
				if l.Name != "incidents" {
					continue
				}
				for _, f := range l.Features {
					if id, ok := f.ID.(float64); ok {
						shown[int64(id)] = true
					}
				}
			}
			missing = missing[:0]
			for id := range inTile {
				if !shown[id] {
					missing = append(missing, id)
				}
			}
			return len(missing) == 0
		}, func() string {
			return fmt.Sprintf("%d of %d missing, e.g. %v", len(missing), len(inTile), missing[:min(len(missing), 5)])
		})
	}
	t.Logf("read models: heatmap res 8 %d cells, %d incidents; stats %d towns; tile %d/%d/%d %d acknowledged incidents, on both replicas",
		len(wantHeat), sum(wantHeat), len(wantStats), r.tile.Z, r.tile.X, r.tile.Y, len(inTile))
}

// heatDiff lists the stored incidents of the cells where got and want differ.
func (r *faultRig) heatDiff(ctx context.Context, conn *pgx.Conn, got, want map[string]int64) string {
	var b strings.Builder
	// Per category at resolution 10: the incidents of the cells that differ.
	for _, rp := range r.replicas {
		for _, cat := range r.cats {
			path := "/v1/heatmap?res=10&category=" + cat + "&from=" + url.QueryEscape(r.from.Format(time.RFC3339)) + "&to=" + url.QueryEscape(r.to.Format(time.RFC3339))
			status, _, body, err := r.do(ctx, rp.svc.url, http.MethodGet, path, r.planner, "", nil)
			var hm struct {
				Cells []struct {
					H3    string
					Count int64
				}
			}
			if err != nil || status != 200 || json.Unmarshal(body, &hm) != nil {
				fmt.Fprintf(&b, "%s %s: %d %v\n", rp.name, cat, status, err)
				continue
			}
			served := map[string]int64{}
			for _, c := range hm.Cells {
				served[c.H3] = c.Count
			}
			stored := map[string][]string{}
			rows, err := conn.Query(ctx, `SELECT h3, external_id, occurred_at, received_at FROM incident WHERE occurred_at >= $1 AND occurred_at < $2 AND category = $3`, r.from, r.to, cat)
			if err != nil {
				return err.Error()
			}
			for rows.Next() {
				var h int64
				var ext string
				var occ, rec time.Time
				if rows.Scan(&h, &ext, &occ, &rec) == nil {
					c := h3.Cell(h).String()
					stored[c] = append(stored[c], fmt.Sprintf("%s occ %s rec %s", ext, occ.In(grid.ChinaTime()).Format("01-02T15"), rec.Format("15:04:05.000")))
				}
			}
			rows.Close()
			for c, xs := range stored {
				if int64(len(xs)) != served[c] {
					fmt.Fprintf(&b, "%s %s cell %s: served %d, stored %v\n", rp.name, cat, c, served[c], xs)
				}
			}
		}
	}
	return b.String()
}

// listenerLog is what a replica logged about its database connections.
func (r *faultRig) listenerLog(rp *replica) string {
	var b strings.Builder
	for _, line := range strings.Split(rp.logs.String(), "\n") {
		if (strings.Contains(line, "listener") || strings.Contains(line, "rollup") || strings.Contains(line, "pgembed")) && !strings.Contains(line, "request refused") {
			b.WriteString(line[:min(len(line), 400)])
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// waitForOr is waitFor that says what it last saw when it times out.
func waitForOr(t *testing.T, timeout time.Duration, what string, cond func() bool, saw func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, saw())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killTree kills a postmaster and its children with SIGKILL, as a crash
// would, and waits until they are gone.
func killTree(t *testing.T, pid int) {
	t.Helper()
	pids := append(childPIDs(pid), pid)
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	for _, p := range pids {
		waitFor(t, 30*time.Second, fmt.Sprintf("process %d to die", p), func() bool { return !processAlive(p) })
	}
}

func childPIDs(pid int) []int {
	var out []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 1 && f[1] == strconv.Itoa(pid) {
				out = append(out, p)
			}
		}
	}
	return out
}

// processAlive: the process exists and is not a zombie.
func processAlive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || (s[i+2] != 'Z' && s[i+2] != 'X')
}

func readPostmasterPID(t *testing.T, dataDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "pg", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// holdDataDirLock takes the lock that pgembed's starts and stops take
// (<data dir>/pg.lock), so no restart can happen until release.
func holdDataDirLock(t *testing.T, dataDir string) (release func()) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dataDir, "pg.lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() { once.Do(func() { f.Close() }) }
	t.Cleanup(release)
	return release
}
