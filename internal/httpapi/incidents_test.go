package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/uber/h3-go/v4"
)

type incident struct {
	ID          int64
	ExternalID  string `json:"external_id"`
	Status      string
	Lon, Lat    float64
	Cell        codeName
	Town        codeName
	Department  codeName
	GridVersion int64 `json:"grid_version"`
	Deadline    time.Time
	ReceivedAt  time.Time `json:"received_at"`
	H3          string
	Reworks     int
	Extensions  int
	Supervised  bool
	Allowed     []string `json:"allowed_actions"`
	Events      []struct {
		Action, From, To, Actor string
	}
}

func (f *fixture) create(t *testing.T, body map[string]any) (int, incident) {
	t.Helper()
	resp, b := f.post(t, "/v1/incidents", body)
	if resp.StatusCode >= 300 {
		return resp.StatusCode, incident{}
	}
	return resp.StatusCode, decode[incident](t, b)
}

func (f *fixture) newIncident(t *testing.T, extra ...string) incident {
	t.Helper()
	lon, lat := f.interior(t, "331082001001001")
	body := map[string]any{"category": "E0505", "lon": lon, "lat": lat, "occurred_at": time.Now().Add(-time.Hour).Format(time.RFC3339), "source": "collector"}
	if len(extra) > 0 {
		body["external_id"] = extra[0]
	}
	code, x := f.create(t, body)
	if code != 201 {
		t.Fatalf("create: %d", code)
	}
	return x
}

func (f *fixture) act(t *testing.T, id int64, action string) (*http.Response, []byte) {
	t.Helper()
	return f.post(t, fmt.Sprintf("/v1/incidents/%d/events", id), map[string]any{"action": action, "actor": "tester"})
}

func TestCreateIncident(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lon, lat := f.interior(t, "331082001001001")
	glon, glat := coord.WGS84ToGCJ02(lon, lat)
	code, x := f.create(t, map[string]any{"category": "E0406", "lon": glon, "lat": glat, "crs": "gcj02",
		"occurred_at": "2026-06-18T09:30:00+08:00", "source": "app", "description": "积水 30 cm", "external_id": "app-1"})
	if code != 201 {
		t.Fatalf("create: %d", code)
	}
	if x.ID == 0 || x.Status != "collected" || x.Cell.Code != "331082001001001" || x.Town.Name != "古城街道" || x.Department.Code == "" || x.GridVersion == 0 {
		t.Errorf("created %+v", x)
	}
	if !x.Deadline.After(x.ReceivedAt) {
		t.Errorf("deadline %s is not after receipt %s", x.Deadline, x.ReceivedAt)
	}
	c := h3.CellFromString(x.H3)
	if !c.IsValid() || c.Resolution() != 10 {
		t.Errorf("h3 %q is not a resolution-10 cell", x.H3)
	}
	if want, _ := h3.LatLngToCell(h3.NewLatLng(lat, lon), 10); c != want {
		t.Errorf("h3 %s, want %s (of the WGS84 point)", c, want)
	}
	if !slices.Equal(x.Allowed, []string{"register", "dismiss"}) {
		t.Errorf("allowed actions %v", x.Allowed)
	}
	// The same answer as locate, for the same department.
	_, b := f.get(t, fmt.Sprintf("/v1/locate?lon=%v&lat=%v&category=E0406", lon, lat))
	if l := decode[locateResult](t, b); l.Department.Code != x.Department.Code {
		t.Errorf("incident department %s, locate says %s", x.Department.Code, l.Department.Code)
	}
	// Retrying with the same external id returns the first incident.
	code, y := f.create(t, map[string]any{"category": "E0406", "lon": lon, "lat": lat,
		"occurred_at": "2026-06-18T09:31:00+08:00", "source": "app", "external_id": "app-1"})
	if code != 200 || y.ID != x.ID {
		t.Errorf("retry: %d id %d, want 200 id %d", code, y.ID, x.ID)
	}
	var n int
	if err := f.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM incident WHERE external_id = 'app-1'`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d rows for one external id (%v)", n, err)
	}
	// The trail begins with the creation.
	_, b = f.get(t, fmt.Sprintf("/v1/incidents/%d?crs=gcj02", x.ID))
	got := decode[incident](t, b)
	if len(got.Events) != 1 || got.Events[0].Action != "create" || got.Events[0].To != "collected" {
		t.Errorf("trail %+v", got.Events)
	}
	if d := (got.Lon-glon)*(got.Lon-glon) + (got.Lat-glat)*(got.Lat-glat); d > 1e-14 {
		t.Errorf("gcj02 output (%v, %v), input was (%v, %v)", got.Lon, got.Lat, glon, glat)
	}
}

func TestCreateIncidentRejects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lon, lat := f.interior(t, "331082001001001")
	base := func() map[string]any {
		return map[string]any{"category": "E0505", "lon": lon, "lat": lat, "occurred_at": "2026-06-18T09:30:00+08:00", "source": "collector"}
	}
	for _, c := range []struct {
		edit    func(m map[string]any)
		status  int
		mention string
	}{
		{func(m map[string]any) { delete(m, "lon") }, 400, "lon"},
		{func(m map[string]any) { m["lat"] = "28.8" }, 400, "lat"},
		{func(m map[string]any) { m["lat"] = 95.0 }, 400, "lat"},
		{func(m map[string]any) { m["category"] = "E9999" }, 400, "category"},
		{func(m map[string]any) { m["category"] = "parking" }, 400, "category"},
		{func(m map[string]any) { m["crs"] = "utm" }, 400, "crs"},
		{func(m map[string]any) { m["occurred_at"] = "yesterday" }, 400, "occurred_at"},
		{func(m map[string]any) { delete(m, "occurred_at") }, 400, "occurred_at"},
		{func(m map[string]any) { m["occurred_at"] = "2099-01-01T00:00:00Z" }, 400, "future"},
		{func(m map[string]any) { m["source"] = "pigeon" }, 400, "source"},
		{func(m map[string]any) { m["priority"] = 1 }, 400, "priority"},
		{func(m map[string]any) { m["lon"], m["lat"] = 116.4, 39.9 }, 404, "outside"},
	} {
		m := base()
		c.edit(m)
		resp, b := f.post(t, "/v1/incidents", m)
		wantProblem(t, resp, b, c.status, c.mention)
	}
	for _, body := range []string{``, `{`, `[]`, `{"category":"E0505"} {}`} {
		resp, b := f.post(t, "/v1/incidents", body)
		wantProblem(t, resp, b, 400, "body")
	}
	var n int
	if err := f.db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM incident`).Scan(&n); err != nil || n != 0 {
		t.Errorf("rejected creates wrote %d incidents (%v)", n, err)
	}
	for _, p := range []string{"/v1/incidents/abc", "/v1/incidents/0"} {
		resp, b := f.get(t, p)
		wantProblem(t, resp, b, 400, "id")
	}
	resp, b := f.get(t, "/v1/incidents/999999")
	wantProblem(t, resp, b, 404, "999999")
}

// TestIdempotentConcurrentRetries: the same create retried concurrently
// yields one row and one id.
func TestIdempotentConcurrentRetries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	lon, lat := f.interior(t, "331082002001001")
	body := map[string]any{"category": "E0102", "lon": lon, "lat": lat, "occurred_at": "2026-06-18T09:30:00+08:00",
		"source": "hotline", "external_id": "12345-2026-000001"}
	var wg sync.WaitGroup
	ids := make([]int64, 16)
	codes := make([]int, 16)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], ids[i] = func() (int, int64) { c, x := f.create(t, body); return c, x.ID }()
		}()
	}
	wg.Wait()
	created := 0
	for i := range ids {
		if ids[i] != ids[0] || ids[i] == 0 {
			t.Errorf("retry %d got id %d, first %d", i, ids[i], ids[0])
		}
		if codes[i] == 201 {
			created++
		} else if codes[i] != 200 {
			t.Errorf("retry %d: status %d", i, codes[i])
		}
	}
	if created != 1 {
		t.Errorf("%d retries created an incident, want exactly 1", created)
	}
	var n, rolled int
	ctx := context.Background()
	if err := f.db.Pool().QueryRow(ctx, `SELECT count(*) FROM incident`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d incidents stored (%v)", n, err)
	}
	if err := f.db.Pool().QueryRow(ctx, `SELECT coalesce(sum(n), 0) FROM h3_rollup, unnest(counts) AS n`).Scan(&rolled); err != nil || rolled != 1 {
		t.Errorf("rollups count %d (%v)", rolled, err)
	}
}

// TestLifecyclePaths walks incidents through every path of the state
// machine, then tries every disallowed action in every state.
func TestLifecyclePaths(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	walk := func(x incident, actions ...string) incident {
		t.Helper()
		for _, a := range actions {
			resp, b := f.act(t, x.ID, a)
			if resp.StatusCode != 200 {
				t.Fatalf("%s on %d (%s): %d %s", a, x.ID, x.Status, resp.StatusCode, b)
			}
			x = decode[incident](t, b)
		}
		return x
	}
	// The closed loop, with supervision and an extension on the way.
	x := f.newIncident(t)
	before := x.Deadline
	x = walk(x, "register", "dispatch", "extend", "supervise", "report", "supervise", "verify", "evaluate")
	if x.Status != "evaluated" || x.Extensions != 1 || !x.Supervised || !x.Deadline.After(before) {
		t.Errorf("closed loop: %+v (deadline before extension %s)", x, before)
	}
	_, b := f.get(t, fmt.Sprintf("/v1/incidents/%d", x.ID))
	full := decode[incident](t, b)
	var trail []string
	for _, e := range full.Events {
		trail = append(trail, e.Action+":"+e.From+">"+e.To)
		if e.Action != "create" && e.Actor != "tester" {
			t.Errorf("event %s by %q", e.Action, e.Actor)
		}
	}
	want := []string{"create:>collected", "register:collected>registered", "dispatch:registered>dispatched", "extend:dispatched>dispatched",
		"supervise:dispatched>dispatched", "report:dispatched>handled", "supervise:handled>handled", "verify:handled>closed", "evaluate:closed>evaluated"}
	if !slices.Equal(trail, want) {
		t.Errorf("trail\n%v\nwant\n%v", trail, want)
	}
	// Rework: verification fails, the department handles it again.
	x = walk(f.newIncident(t), "register", "dispatch", "report", "reject")
	if x.Status != "dispatched" || x.Reworks != 1 {
		t.Errorf("after reject: %+v", x)
	}
	if x = walk(x, "report", "reject", "report", "verify"); x.Status != "closed" || x.Reworks != 2 {
		t.Errorf("after a second rework: %+v", x)
	}
	// Bounce-back: the department returns it, the dispatcher sends it on.
	if x = walk(f.newIncident(t), "register", "dispatch", "return"); x.Status != "registered" {
		t.Errorf("after return: %s", x.Status)
	}
	if x = walk(x, "dispatch", "report"); x.Status != "handled" {
		t.Errorf("after re-dispatch: %s", x.Status)
	}
	// Parking returns to where it was.
	if x = walk(f.newIncident(t), "register", "park", "unpark"); x.Status != "registered" {
		t.Errorf("unpark from registered: %s", x.Status)
	}
	if x = walk(f.newIncident(t), "register", "dispatch", "park"); x.Status != "parked" {
		t.Errorf("park: %s", x.Status)
	}
	if x = walk(x, "unpark"); x.Status != "dispatched" {
		t.Errorf("unpark from dispatched: %s", x.Status)
	}
	// Dismissal, before or after registration.
	if x = walk(f.newIncident(t), "dismiss"); x.Status != "cancelled" {
		t.Errorf("dismiss: %s", x.Status)
	}
	if x = walk(f.newIncident(t), "register", "dismiss"); x.Status != "cancelled" {
		t.Errorf("dismiss after registration: %s", x.Status)
	}

	// Every rejection: each state, each action it does not allow.
	reach := map[string][]string{
		"collected": nil, "registered": {"register"}, "dispatched": {"register", "dispatch"},
		"handled": {"register", "dispatch", "report"}, "closed": {"register", "dispatch", "report", "verify"},
		"evaluated": {"register", "dispatch", "report", "verify", "evaluate"}, "cancelled": {"dismiss"},
		"parked": {"register", "park"},
	}
	for state, path := range reach {
		x := walk(f.newIncident(t), path...)
		if x.Status != state {
			t.Fatalf("reached %s, want %s", x.Status, state)
		}
		for _, a := range grid.Actions() {
			if slices.Contains(grid.AllowedActions(state), a) {
				continue
			}
			resp, b := f.act(t, x.ID, a)
			wantProblem(t, resp, b, 409, state)
			p := decode[struct{ Errors []string }](t, b)
			if !slices.Equal(p.Errors, grid.AllowedActions(state)) {
				t.Errorf("%s in %s: allowed %v, want %v", a, state, p.Errors, grid.AllowedActions(state))
			}
		}
		_, b := f.get(t, fmt.Sprintf("/v1/incidents/%d", x.ID))
		if after := decode[incident](t, b); after.Status != state || len(after.Events) != len(path)+1 {
			t.Errorf("rejected actions changed incident in %s: now %s with %d events", state, after.Status, len(after.Events))
		}
	}
	resp, b := f.act(t, x.ID, "teleport")
	wantProblem(t, resp, b, 400, "action")
	resp, b = f.post(t, "/v1/incidents/999999/events", map[string]any{"action": "register"})
	wantProblem(t, resp, b, 404, "999999")
}

// TestConcurrentTransitions: of two dispatchers acting on one incident at
// once, exactly one wins.
func TestConcurrentTransitions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for round := range 5 {
		x := f.newIncident(t)
		f.act(t, x.ID, "register")
		var wg sync.WaitGroup
		codes := make([]int, 4)
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, _ := f.act(t, x.ID, "dispatch")
				codes[i] = resp.StatusCode
			}()
		}
		wg.Wait()
		slices.Sort(codes)
		if !slices.Equal(codes, []int{200, 409, 409, 409}) {
			t.Errorf("round %d: statuses %v, want one 200 and three 409", round, codes)
		}
		_, b := f.get(t, fmt.Sprintf("/v1/incidents/%d", x.ID))
		if n := len(decode[incident](t, b).Events); n != 3 {
			t.Errorf("round %d: %d events, want create, register, one dispatch", round, n)
		}
	}
}

func TestBulkIncidents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	lon, lat := f.interior(t, "331082003001001")
	line := func(i int, ext string) string {
		return fmt.Sprintf(`{"category":"E0505","lon":%v,"lat":%v,"occurred_at":"2026-0%d-1%dT10:00:00+08:00","source":"camera","external_id":%q}`,
			lon+float64(i%50)*1e-5, lat+float64(i%30)*1e-5, 1+i%9, i%10, ext)
	}
	var sb strings.Builder
	for i := range 2000 {
		ext := ""
		if i%2 == 0 {
			ext = fmt.Sprintf("cam-%d", i)
		}
		sb.WriteString(line(i, ext) + "\n")
	}
	resp, b := f.post(t, "/v1/incidents/bulk", sb.String())
	if resp.StatusCode != 201 {
		t.Fatalf("bulk: %d %s", resp.StatusCode, b[:min(300, len(b))])
	}
	out := decode[struct {
		Created, Duplicates int
		IDs                 []int64
	}](t, b)
	if out.Created != 2000 || len(out.IDs) != 2000 || out.Duplicates != 0 {
		t.Errorf("bulk: %+v", out)
	}
	var raw, rolled int
	if err := f.db.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM incident), (SELECT sum(n) FROM h3_rollup, unnest(counts) AS n)`).Scan(&raw, &rolled); err != nil {
		t.Fatal(err)
	}
	if raw != 2000 || rolled != 2000 {
		t.Errorf("stored %d incidents, rollups count %d", raw, rolled)
	}
	// Bad lines: every one named by number, nothing written.
	var bad strings.Builder
	for i := range 10 {
		switch i {
		case 2:
			bad.WriteString(`{"category":"E0505","lon":121.1}` + "\n")
		case 6:
			bad.WriteString(`not json` + "\n")
		case 8:
			bad.WriteString(`{"category":"E0505","lon":116.4,"lat":39.9,"occurred_at":"2026-01-01T00:00:00Z","source":"app"}` + "\n")
		default:
			bad.WriteString(line(i, "") + "\n")
		}
	}
	resp, b = f.post(t, "/v1/incidents/bulk", bad.String())
	wantProblem(t, resp, b, 400, "line 3")
	p := decode[struct{ Errors []string }](t, b)
	if len(p.Errors) != 3 || !strings.HasPrefix(p.Errors[1], "line 7") || !strings.HasPrefix(p.Errors[2], "line 9") {
		t.Errorf("bad lines reported: %v", p.Errors)
	}
	if err := f.db.Pool().QueryRow(ctx, `SELECT count(*) FROM incident`).Scan(&raw); err != nil || raw != 2000 {
		t.Errorf("a rejected batch wrote: %d incidents", raw)
	}
	// Ids come back in line order.
	for _, i := range []int{0, 1, 1998} {
		var ext *string
		if err := f.db.Pool().QueryRow(ctx, `SELECT external_id FROM incident WHERE id = $1`, out.IDs[i]).Scan(&ext); err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("cam-%d", i); (i%2 == 0) != (ext != nil) || (ext != nil && *ext != want) {
			t.Errorf("ids[%d] is the incident with external id %v", i, ext)
		}
	}
	// A large batch, decoded in chunks on several workers and streamed:
	// bad lines far apart (and blank lines) are all reported by number, and
	// the rows already copied when the first bad line was met are not kept.
	bad.Reset()
	for i := range 9000 {
		switch {
		case i == 7000:
			bad.WriteString(`{"category":"E9999","lon":121.1,"lat":28.8,"occurred_at":"2026-01-01T00:00:00Z"}` + "\n")
		case i == 8990:
			bad.WriteString(`{"category":"E0505"` + "\n")
		case i%1000 == 999:
			bad.WriteString("\n")
		default:
			bad.WriteString(line(i, "") + "\n")
		}
	}
	resp, b = f.post(t, "/v1/incidents/bulk", bad.String())
	wantProblem(t, resp, b, 400, "line 7001")
	p = decode[struct{ Errors []string }](t, b)
	if len(p.Errors) != 2 || !strings.HasPrefix(p.Errors[0], "line 7001") || !strings.HasPrefix(p.Errors[1], "line 8991") {
		t.Errorf("bad lines reported: %v", p.Errors)
	}
	if err := f.db.Pool().QueryRow(ctx, `SELECT count(*) FROM incident`).Scan(&raw); err != nil || raw != 2000 {
		t.Errorf("a rejected large batch wrote: %d incidents", raw)
	}
	// Retrying keyed lines stores only the new ones.
	var again strings.Builder
	again.WriteString(line(0, "cam-0") + "\n" + line(1, "cam-new") + "\n" + line(2, "cam-new") + "\n")
	resp, b = f.post(t, "/v1/incidents/bulk", again.String())
	out = decode[struct {
		Created, Duplicates int
		IDs                 []int64
	}](t, b)
	if resp.StatusCode != 201 || out.Created != 1 || out.Duplicates != 2 {
		t.Errorf("retry: %d %+v", resp.StatusCode, out)
	}
	resp, b = f.post(t, "/v1/incidents/bulk", "\n\n")
	wantProblem(t, resp, b, 400, "no incidents")
}

func TestFindIncidents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	var sb strings.Builder
	cells := []string{"331082001001001", "331082002001001", "331082101001001"}
	for i := range 300 {
		lon, lat := f.interior(t, cells[i%3])
		cat := []string{"E0505", "E0406", "E0102"}[i%3]
		fmt.Fprintf(&sb, `{"category":%q,"lon":%v,"lat":%v,"occurred_at":"2026-05-%02dT10:00:00+08:00","source":"collector"}`+"\n", cat, lon, lat, 1+i%28)
	}
	if resp, b := f.post(t, "/v1/incidents/bulk", sb.String()); resp.StatusCode != 201 {
		t.Fatalf("bulk: %s", b)
	}
	type page struct {
		Incidents []incident
		Next      string
	}
	// Pagination walks every incident once, newest id first.
	seen := map[int64]bool{}
	next := "/v1/incidents?limit=70"
	for next != "" {
		_, b := f.get(t, next)
		p := decode[page](t, b)
		for i, x := range p.Incidents {
			if seen[x.ID] {
				t.Fatalf("incident %d twice", x.ID)
			}
			seen[x.ID] = true
			if i > 0 && x.ID >= p.Incidents[i-1].ID {
				t.Fatalf("order broken at %d", x.ID)
			}
		}
		next = p.Next
	}
	if len(seen) != 300 {
		t.Errorf("pagination saw %d of 300", len(seen))
	}
	count := func(q string) int {
		t.Helper()
		resp, b := f.get(t, "/v1/incidents?limit=1000&"+q)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", q, resp.StatusCode, b)
		}
		return len(decode[page](t, b).Incidents)
	}
	sql := func(where string, args ...any) int {
		var n int
		if err := f.db.Pool().QueryRow(ctx, `SELECT count(*) FROM incident WHERE `+where, args...).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct{ q, where string }{
		{"theme=parking", "category IN ('E0505', 'E0506')"},
		{"category=E0406", "category = 'E0406'"},
		{"town=331082002", "town_code = '331082002'"},
		{"cell=331082101001001", "cell_code = '331082101001001'"},
		{"status=collected", "status = 'collected'"},
		{"from=2026-05-10T00:00:00%2B08:00&to=2026-05-20T00:00:00%2B08:00", "occurred_at >= '2026-05-10T00:00:00+08:00' AND occurred_at < '2026-05-20T00:00:00+08:00'"},
		{"bbox=121.0,28.7,121.2,28.9", "ST_Intersects(geom, ST_MakeEnvelope(121.0, 28.7, 121.2, 28.9, 4326))"},
		{"theme=sanitation&town=331082101", "category IN ('E0102', 'E0103', 'E0104', 'P0301') AND town_code = '331082101'"},
	} {
		if got, want := count(c.q), sql(c.where); got != want || want == 0 && c.q != "status=collected" {
			t.Errorf("%s: %d incidents, PostGIS says %d", c.q, got, want)
		}
	}
	resp, b := f.get(t, "/v1/incidents?f=geojson&limit=5&crs=bd09")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/geo+json" || !strings.Contains(string(b), `"FeatureCollection"`) {
		t.Errorf("geojson: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, c := range []struct{ q, field string }{
		{"theme=noise", "theme"}, {"status=open", "status"}, {"from=x", "from"}, {"bbox=1,2,3", "bbox"},
		{"bbox=121.2,28.7,121.0,28.9", "bbox"}, {"limit=0", "limit"}, {"limit=5000", "limit"}, {"after=-3", "after"},
		{"town=12", "town"}, {"department=NOPE", "department"}, {"category=E9999", "category"}, {"crs=x", "crs"},
		{"from=2026-05-02T00:00:00Z&to=2026-05-01T00:00:00Z", "from"}, {"overdue=maybe", "overdue"}, {"cell=1", "cell"},
	} {
		resp, b := f.get(t, "/v1/incidents?"+c.q)
		wantProblem(t, resp, b, 400, c.field)
	}
}

func TestOverdueFlagged(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	x := f.newIncident(t)
	y := f.newIncident(t)
	f.act(t, y.ID, "dismiss")
	ids, err := f.db.FlagOverdue(context.Background(), x.Deadline.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ids, []int64{x.ID}) {
		t.Errorf("flagged %v, want only the open incident %d", ids, x.ID)
	}
	_, b := f.get(t, fmt.Sprintf("/v1/incidents/%d", x.ID))
	got := decode[incident](t, b)
	if !got.Supervised || got.Events[len(got.Events)-1].Action != "supervise" || got.Events[len(got.Events)-1].Actor != "system" {
		t.Errorf("after flagging: %+v", got)
	}
	if ids, _ := f.db.FlagOverdue(context.Background(), x.Deadline.Add(time.Hour)); len(ids) != 0 {
		t.Errorf("flagged again: %v", ids)
	}
}
