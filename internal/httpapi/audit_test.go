package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
)

type auditEntry struct {
	ID        int64
	At        time.Time
	KeyID     *int64 `json:"key_id"`
	Role      string
	Actor     string
	Action    string
	Target    string
	Town      *string
	Detail    map[string]any
	Addr      string
	RequestID string `json:"request_id"`
}

type auditPage struct {
	Entries []auditEntry
	Next    string
}

func countRows(t *testing.T, f *fixture, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// keyOf creates a key of role (scoped to town unless "") and returns it
// with its id.
func (f *fixture) keyOf(t *testing.T, role, town string) (string, int64) {
	t.Helper()
	key, err := f.db.CreateAPIKey(context.Background(), role, town, "audit test")
	if err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := f.db.Pool().QueryRow(context.Background(), `SELECT max(id) FROM api_key`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return key, id
}

// auditOf is the audit log's rows of one request, as GET /v1/audit gives them.
func (f *fixture) auditOf(t *testing.T, requestID string) []auditEntry {
	t.Helper()
	if requestID == "" {
		t.Fatal("the answer carried no X-Request-Id")
	}
	return decode[auditPage](t, mustStatus(t, 200)(f.get(t, "/v1/audit?request_id="+url.QueryEscape(requestID)))).Entries
}

// TestAuditEveryWriteOverHTTP: each kind of write made over HTTP has
// exactly one audit row, with the key, its role, the client's address and
// the request id its answer carried; a write that is refused (400, 409)
// or changes nothing (a retry) has none, and changed nothing.
func TestAuditEveryWriteOverHTTP(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key, keyID := f.keyOf(t, grid.RoleDispatcher, "")
	lon, lat := f.interior(t, "331082001001001")
	at := time.Now().Add(-time.Hour).Format(time.RFC3339)
	body := fmt.Sprintf(`{"category":"E0505","lon":%v,"lat":%v,"occurred_at":%q,"source":"collector","external_id":"audit-1"}`, lon, lat, at)
	one := func(what string, resp *http.Response, b []byte, status int, action, target string) auditEntry {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("%s: %d %s", what, resp.StatusCode, b)
		}
		rows := f.auditOf(t, resp.Header.Get("X-Request-Id"))
		if len(rows) != 1 {
			t.Fatalf("%s: %d audit rows %+v, want 1", what, len(rows), rows)
		}
		r := rows[0]
		if r.KeyID == nil || *r.KeyID != keyID || r.Role != grid.RoleDispatcher || r.Actor != fmt.Sprintf("api_key:%d", keyID) ||
			r.Action != action || (target != "" && r.Target != target) || r.Addr != "127.0.0.1" || time.Since(r.At) > time.Minute {
			t.Errorf("%s: audit row %+v, want key %d, action %s, target %s from 127.0.0.1", what, r, keyID, action, target)
		}
		return r
	}

	resp, b := f.postAs(t, "/v1/incidents", body, key)
	x := decode[incident](t, b)
	r := one("create", resp, b, 201, "incident.create", "incident:"+strconv.FormatInt(x.ID, 10))
	if r.Town == nil || *r.Town != "331082001" || r.Detail["category"] != "E0505" || r.Detail["via"] != "api" {
		t.Errorf("create row: %+v", r)
	}
	// A retry finds its first incident and changes nothing: no row.
	resp, b = f.postAs(t, "/v1/incidents", body, key)
	if resp.StatusCode != 200 || decode[incident](t, b).ID != x.ID || len(f.auditOf(t, resp.Header.Get("X-Request-Id"))) != 0 {
		t.Errorf("a retry: %d %s, audited", resp.StatusCode, b)
	}

	resp, b = f.postAs(t, fmt.Sprintf("/v1/incidents/%d/events", x.ID), `{"action":"register","actor":"desk 3"}`, key)
	r = one("register", resp, b, 200, "incident.register", "incident:"+strconv.FormatInt(x.ID, 10))
	if r.Detail["from"] != "collected" || r.Detail["to"] != "registered" || r.Detail["actor"] != "desk 3" {
		t.Errorf("register row: %+v", r)
	}

	var lines strings.Builder
	for i := range 3 {
		fmt.Fprintf(&lines, `{"category":"E0102","lon":%v,"lat":%v,"occurred_at":%q,"source":"camera"}`+"\n", lon, lat, time.Now().Add(-time.Duration(i+2)*time.Hour).Format(time.RFC3339))
	}
	resp, b = f.do(t, http.MethodPost, "/v1/incidents/bulk", strings.NewReader(lines.String()), "Content-Type", "application/x-ndjson", "Authorization", bearer(key))
	bulk := decode[struct{ IDs []int64 }](t, b)
	r = one("bulk", resp, b, 201, "incident.bulk", "")
	if r.Detail["count"] != 3.0 || len(bulk.IDs) != 3 || fmt.Sprint(r.Detail["ids"]) != fmt.Sprintf("[[%d %d]]", bulk.IDs[0], bulk.IDs[2]) {
		t.Errorf("bulk row %+v for ids %v", r, bulk.IDs)
	}

	form := url.Values{"service_code": {"E0406"}, "lat": {fmt.Sprint(lat)}, "long": {fmt.Sprint(lon)}, "attribute[depth_cm]": {"12"}, "api_key": {key}}
	resp, b = f.do(t, http.MethodPost, "/open311/v2/requests.json", strings.NewReader(form.Encode()), "Content-Type", "application/x-www-form-urlencoded")
	req := decode[[]struct {
		ID string `json:"service_request_id"`
	}](t, b)
	r = one("open311", resp, b, 200, "incident.create", "incident:"+req[0].ID)
	if r.Detail["via"] != "open311" || r.Detail["category"] != "E0406" {
		t.Errorf("open311 row: %+v", r)
	}

	// Refused writes: no row, no change.
	audits, incidents := countRows(t, f, `SELECT count(*) FROM audit_log`), countRows(t, f, `SELECT count(*) FROM incident`)
	for _, w := range []struct {
		what, path, body, contentType string
		status                        int
	}{
		{"bad create", "/v1/incidents", `{"category":"E0505","lon":500,"lat":28,"occurred_at":"2026-01-01T00:00:00Z"}`, "application/json", 400},
		{"disallowed action", fmt.Sprintf("/v1/incidents/%d/events", x.ID), `{"action":"verify"}`, "application/json", 409},
		{"bulk with a bad line", "/v1/incidents/bulk", lines.String() + `{"category":"E0505"}` + "\n", "application/x-ndjson", 400},
	} {
		resp, b := f.do(t, http.MethodPost, w.path, strings.NewReader(w.body), "Content-Type", w.contentType, "Authorization", bearer(key))
		if resp.StatusCode != w.status {
			t.Errorf("%s: %d %s, want %d", w.what, resp.StatusCode, b, w.status)
		}
		if rows := f.auditOf(t, resp.Header.Get("X-Request-Id")); len(rows) != 0 {
			t.Errorf("%s: audited %+v", w.what, rows)
		}
	}
	if a, n := countRows(t, f, `SELECT count(*) FROM audit_log`), countRows(t, f, `SELECT count(*) FROM incident`); a != audits || n != incidents {
		t.Errorf("refused writes: audit rows %d→%d, incidents %d→%d", audits, a, incidents, n)
	}
	if got := decode[incident](t, mustStatus(t, 200)(f.get(t, fmt.Sprintf("/v1/incidents/%d", x.ID)))); got.Status != "registered" {
		t.Errorf("after the refused action: %s", got.Status)
	}
}

// TestAuditEndpoint: the filters select what they name, bad parameters are
// 400s naming them, and keyset pages, read while others write, give every
// row that was there once, newest first, none twice.
func TestAuditEndpoint(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	key, keyID := f.keyOf(t, grid.RoleDispatcher, "")
	lon, lat := f.interior(t, "331082001001001")
	create := func(i int) int64 {
		body := fmt.Sprintf(`{"category":"E0505","lon":%v,"lat":%v,"occurred_at":%q,"source":"collector"}`, lon, lat, time.Now().Add(-time.Duration(i+1)*time.Minute).Format(time.RFC3339))
		resp, b := f.postAs(t, "/v1/incidents", body, key)
		if resp.StatusCode != 201 {
			t.Errorf("create: %d %s", resp.StatusCode, b)
			return 0
		}
		return decode[incident](t, b).ID
	}
	start := time.Now().Add(-time.Second)
	var ids []int64
	for i := range 5 {
		ids = append(ids, create(i))
	}
	if resp, b := f.act(t, ids[0], "register"); resp.StatusCode != 200 {
		t.Fatalf("register: %d %s", resp.StatusCode, b)
	}
	page := func(q string) auditPage {
		t.Helper()
		return decode[auditPage](t, mustStatus(t, 200)(f.get(t, "/v1/audit?"+q)))
	}
	for _, c := range []struct {
		q    string
		want func(auditEntry) bool
		n    int
	}{
		{fmt.Sprintf("key_id=%d", keyID), func(e auditEntry) bool { return e.KeyID != nil && *e.KeyID == keyID }, 5},
		{"action=incident.register", func(e auditEntry) bool { return e.Action == "incident.register" }, 1},
		{"target=incident:" + strconv.FormatInt(ids[0], 10), func(e auditEntry) bool { return e.Target == "incident:"+strconv.FormatInt(ids[0], 10) }, 2},
		{fmt.Sprintf("key_id=%d&action=incident.create&limit=1000", keyID), func(e auditEntry) bool { return e.Action == "incident.create" }, 5},
		{"from=" + url.QueryEscape(start.Format(time.RFC3339)) + "&action=incident.create", func(e auditEntry) bool { return !e.At.Before(start) }, 5},
		{"to=" + url.QueryEscape(start.Format(time.RFC3339)), func(e auditEntry) bool { return e.At.Before(start) }, -1},
		{"action=incident.create&request_id=none", nil, 0},
	} {
		got := page(c.q).Entries
		if c.n >= 0 && len(got) != c.n {
			t.Errorf("%s: %d rows, want %d", c.q, len(got), c.n)
		}
		for _, e := range got {
			if !c.want(e) {
				t.Errorf("%s: row %+v", c.q, e)
			}
		}
	}
	for _, c := range []struct{ q, names string }{
		{"key_id=abc", "key_id"}, {"key_id=0", "key_id"}, {"from=yesterday", "from"}, {"to=2300-01-01T00:00:00Z", "to"},
		{"from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "from"}, {"limit=0", "limit"}, {"limit=1001", "limit"},
		{"after=bogus", "after"}, {"after=" + url.QueryEscape("YXVkaXQ6LTE"), "after"}, {"action=" + strings.Repeat("a", 201), "action"},
		{"target=%00", "target"}, {"request_id=%ff", "request_id"}, {"actor=x", "actor"},
	} {
		resp, b := f.get(t, "/v1/audit?"+c.q)
		wantProblem(t, resp, b, 400, c.names)
	}

	// Pages of 3 while 20 incidents are created: every row there before
	// the first page is read exactly once, and ids only go down.
	var before []int64
	rows, err := f.db.Pool().Query(context.Background(), `SELECT id FROM audit_log ORDER BY id DESC`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		before = append(before, id)
	}
	rows.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20 {
			create(10 + i)
		}
	}()
	seen := map[int64]bool{}
	last := int64(1 << 62)
	q := "limit=3"
	for pages := 0; ; pages++ {
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
		resp, b := f.get(t, "/v1/audit?"+q)
		p := decode[auditPage](t, mustStatus(t, 200)(resp, b))
		for _, e := range p.Entries {
			if seen[e.ID] || e.ID >= last {
				t.Fatalf("row %d after %d (seen before: %v)", e.ID, last, seen[e.ID])
			}
			seen[e.ID], last = true, e.ID
		}
		if p.Next == "" {
			if len(p.Entries) == 3 {
				t.Fatal("a full page without next")
			}
			break
		}
		nq := url.Values{"limit": {"3"}, "after": {p.Next}}
		if link := resp.Header.Get("Link"); link != "</v1/audit?"+nq.Encode()+`>; rel="next"` {
			t.Errorf("Link %q, want the next page of after=%s", link, p.Next)
		}
		q = nq.Encode()
	}
	wg.Wait()
	for _, id := range before {
		if !seen[id] {
			t.Errorf("row %d, there before paging, was skipped", id)
		}
	}
}

// TestAuditTownScope: an admin key scoped to a town sees its town's rows
// only; an unscoped one sees them all.
func TestAuditTownScope(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var other string
	if err := f.db.Pool().QueryRow(context.Background(), `SELECT code FROM cell WHERE town_code <> '331082001'
		AND version_id = (SELECT id FROM grid_version WHERE active) ORDER BY code LIMIT 1`).Scan(&other); err != nil {
		t.Fatal(err)
	}
	mine, _ := f.keyOf(t, grid.RoleAdmin, "331082001")
	created := map[string]string{} // town → incident id
	for _, cell := range []string{"331082001001001", other} {
		lon, lat := f.interior(t, cell)
		body := fmt.Sprintf(`{"category":"E0505","lon":%v,"lat":%v,"occurred_at":%q,"source":"collector"}`, lon, lat, time.Now().Add(-time.Hour).Format(time.RFC3339))
		resp, b := f.post(t, "/v1/incidents", body)
		if resp.StatusCode != 201 {
			t.Fatalf("create in %s: %d %s", cell, resp.StatusCode, b)
		}
		x := decode[incident](t, b)
		created[x.Town.Code] = "incident:" + strconv.FormatInt(x.ID, 10)
	}
	scoped := decode[auditPage](t, mustStatus(t, 200)(f.getAs(t, "/v1/audit?limit=1000", mine))).Entries
	found := false
	for _, e := range scoped {
		if e.Town == nil || *e.Town != "331082001" {
			t.Errorf("a key of town 331082001 sees %+v", e)
		}
		found = found || e.Target == created["331082001"]
	}
	if !found {
		t.Errorf("a key of town 331082001 does not see the create of incident %s: %+v", created["331082001"], scoped)
	}
	all := decode[auditPage](t, mustStatus(t, 200)(f.get(t, "/v1/audit?action=incident.create"))).Entries
	if len(all) != 2 {
		t.Errorf("an unscoped admin sees %d creates, want 2: %+v", len(all), all)
	}
}
