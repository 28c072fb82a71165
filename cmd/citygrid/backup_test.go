package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/pgembed"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/jackc/pgx/v5"
)

// TestBackupRestoreRoundTrip: a backup of a serving embedded cluster,
// restored into the empty cluster of another data dir, holds every row of
// every table (counts and a checksum per table: incidents, events, Open311
// requests, keys, the audit log, rollups, the grid, schema_version …), and
// a serve on it answers locate, heatmaps and statistics as the first did
// and takes the first one's keys. A restore into a database that is not
// empty is refused, saying what it holds, unless --force.
func TestBackupRestoreRoundTrip(t *testing.T) {
	requireBinaries(t)
	if os.Getenv("DATABASE_URL") != "" {
		t.Skip("runs its own embedded clusters")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	cmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, &out, quiet)
		return out.String(), err
	}
	src := traversableDir(t)
	s := startService(t, src)
	// Serving (its cluster its own) before the key commands attach to it.
	if code := getJSON(t, s.url+"/readyz", nil); code != 200 {
		t.Fatalf("readyz: %d", code)
	}
	key := func(role string) string {
		k, err := cmd("keys", "create", "--role", role, "--data-dir", src)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(k)
	}
	dispatcher, planner, app := key("dispatcher"), key("planner"), key("app")
	if _, err := cmd("keys", "revoke", "--data-dir", src, keyPrefixOf(t, key("admin"))); err != nil {
		t.Fatal(err)
	}
	writeHistory(t, s.url, dispatcher, app)

	window := "from=" + url.QueryEscape(time.Now().Add(-30*24*time.Hour).Truncate(time.Hour).Format(time.RFC3339)) +
		"&to=" + url.QueryEscape(time.Now().Truncate(time.Hour).Add(time.Hour).Format(time.RFC3339))
	answers := []string{
		"/v1/locate?lon=121.1335&lat=28.8493&crs=gcj02&category=E0505",
		"/v1/heatmap?theme=parking&res=9&" + window,
		"/v1/heatmap?theme=sanitation&res=7&" + window,
		"/v1/stats?group_by=department&" + window,
		"/v1/stats?group_by=town&interval=day&" + window,
	}
	before := serviceAnswers(t, s.url, planner, answers)

	c, err := pgembed.Start(ctx, pgembed.Options{DataDir: src, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	want := tableDigests(t, c.ConnString())
	wantAudit := auditKinds(t, c.ConnString())
	for _, kind := range []string{"cli api_key.create", "cli api_key.revoke", "system grid.activate", "dispatcher incident.create",
		"dispatcher incident.bulk", "dispatcher incident.register", "app incident.create"} {
		if wantAudit[kind] == 0 {
			t.Errorf("the source's audit log has no %q row: %v", kind, wantAudit)
		}
	}
	file := filepath.Join(t.TempDir(), "citygrid.dump")
	out, err := cmd("backup", "--data-dir", src, file)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	t.Logf("%s", strings.TrimSpace(out))
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the backup file: %v %v (want mode 0600: it holds key hashes)", fi, err)
	}
	s.shutdown(t)

	// Into the empty cluster of a new data dir.
	dst := traversableDir(t)
	out, err = cmd("restore", "--data-dir", dst, file)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	t.Logf("%s", strings.TrimSpace(out))
	d, err := pgembed.Start(ctx, pgembed.Options{DataDir: dst, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Stop(context.Background()) })
	compareDigests(t, "after the restore", want, tableDigests(t, d.ConnString()))
	// Every audit row again.
	if got := auditKinds(t, d.ConnString()); fmt.Sprint(got) != fmt.Sprint(wantAudit) {
		t.Errorf("audit rows after the restore %v, the source's %v", got, wantAudit)
	}

	// Not again into what is now full, unless --force.
	_, err = cmd("restore", "--data-dir", dst, file)
	if err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "incident ") ||
		!strings.Contains(err.Error(), "schema version") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("a restore into a full database: %v", err)
	}
	// A session on it (a serve) refuses even --force.
	conn, err := pgx.Connect(ctx, d.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cmd("restore", "--force", "--data-dir", dst, file); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a restore into a database in use: %v", err)
	}
	conn.Close(ctx)
	if _, err := cmd("restore", "--force", "--data-dir", dst, file); err != nil {
		t.Fatalf("restore --force: %v", err)
	}
	compareDigests(t, "after restore --force", want, tableDigests(t, d.ConnString()))
	// Still append-only once restored.
	if conn, err := pgx.Connect(ctx, d.ConnString()); err != nil {
		t.Fatal(err)
	} else {
		for _, q := range []string{`DELETE FROM audit_log`, `UPDATE audit_log SET actor = 'x'`, `TRUNCATE audit_log`} {
			if _, err := conn.Exec(ctx, q); err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("%s on the restored database: %v", q, err)
			}
		}
		conn.Close(ctx)
	}
	if err := d.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	// A serve on the restored database answers as before, with the old keys.
	s = startService(t, dst)
	after := serviceAnswers(t, s.url, planner, answers)
	for _, p := range answers {
		if !bytes.Equal(before[p], after[p]) {
			t.Errorf("%s after the restore:\n%.400s\nbefore:\n%.400s", p, after[p], before[p])
		}
	}
	var x struct{ ID int64 }
	status := postJSON(t, s.url+"/v1/incidents", dispatcher, `{"category":"E0505","lon":121.13,"lat":28.85,"occurred_at":"`+
		time.Now().Add(-time.Minute).Format(time.RFC3339)+`","source":"collector","external_id":"after-restore"}`, &x)
	var maxID int64
	for _, r := range want["incident"].sample {
		maxID = max(maxID, r)
	}
	if status != 201 || x.ID <= maxID {
		t.Errorf("a create on the restored database: %d, id %d (the largest restored id is %d)", status, x.ID, maxID)
	}
}

// TestBackupRestoreOutsideDatabase: with DATABASE_URL, a backup taken
// while incidents keep coming is one consistent snapshot, and restores into
// an empty database without PostGIS (the restore creates the extension);
// a restore into a migrated database is refused, naming what it holds; a
// file that is not a backup is refused.
func TestBackupRestoreOutsideDatabase(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	quiet := slog.New(slog.DiscardHandler)
	srcURL := pgtest.URL(t, pgtest.Demo)
	t.Setenv("DATABASE_URL", srcURL)
	s := startService(t, traversableDir(t))
	var keyOut bytes.Buffer
	if err := run(ctx, []string{"keys", "create", "--role", "dispatcher"}, &keyOut, quiet); err != nil {
		t.Fatal(err)
	}
	dispatcher := strings.TrimSpace(keyOut.String())

	// Writers keep going while the backup runs.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var created atomic.Int64
	for w := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := fmt.Sprintf(`{"category":"E0102","lon":121.13,"lat":28.85,"occurred_at":%q,"source":"collector","external_id":"busy-%d-%d"}`,
					time.Now().Add(-time.Minute).Format(time.RFC3339), w, i)
				if postJSON(t, s.url+"/v1/incidents", dispatcher, body, nil) == 201 {
					created.Add(1)
				}
			}
		})
	}
	waitFor(t, time.Minute, "writes before the backup", func() bool { return created.Load() >= 50 })
	file := filepath.Join(t.TempDir(), "busy.dump")
	var out bytes.Buffer
	err := run(ctx, []string{"backup", file}, &out, quiet)
	atBackup := created.Load()
	waitFor(t, time.Minute, "writes after the backup", func() bool { return created.Load() >= atBackup+20 })
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	t.Logf("%s (with %d creates acknowledged by its end)", strings.TrimSpace(out.String()), atBackup)

	// An empty database, without PostGIS.
	admin, err := pgx.Connect(ctx, pgtest.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	name := fmt.Sprintf("restore_%d_%d", os.Getpid(), time.Now().UnixNano()%1e9)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)") })
	dstURL := strings.Replace(pgtest.AdminURL(t), "/postgres?", "/"+name+"?", 1)
	if dstURL == pgtest.AdminURL(t) {
		t.Fatalf("cannot name database %s in %s", name, dstURL)
	}
	t.Setenv("DATABASE_URL", dstURL)
	out.Reset()
	if err := run(ctx, []string{"restore", file}, &out, quiet); err != nil {
		t.Fatalf("restore: %v", err)
	}
	t.Logf("%s", strings.TrimSpace(out.String()))
	got := tableDigests(t, dstURL)
	var postgis string
	conn, err := pgx.Connect(ctx, dstURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, `SELECT extversion FROM pg_extension WHERE extname = 'postgis'`).Scan(&postgis); err != nil {
		t.Fatalf("PostGIS after the restore: %v", err)
	}
	var incidents, keys, rolled, creates int64
	if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM incident), (SELECT count(*) FROM incident_key),
		(SELECT coalesce(sum(n), 0) FROM h3_rollup, unnest(counts) AS n),
		(SELECT count(*) FROM incident_event WHERE action = 'create')`).Scan(&incidents, &keys, &rolled, &creates); err != nil {
		t.Fatal(err)
	}
	// One snapshot: every incident with its key, its create event and its
	// rollup entry; none acknowledged before the backup began is missing.
	if incidents != keys || incidents != rolled || incidents != creates || incidents < 50 || incidents > created.Load() {
		t.Errorf("the busy backup: %d incidents, %d keys, %d rolled up, %d create events (%d created in all)", incidents, keys, rolled, creates, created.Load())
	}
	t.Logf("the busy backup holds %d incidents (PostGIS %s); %d tables", incidents, postgis, len(got))

	// Into a migrated database: refused, saying what is there.
	t.Setenv("DATABASE_URL", pgtest.URL(t, pgtest.Demo))
	err = run(ctx, []string{"restore", file}, io.Discard, quiet)
	if err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "grid_version 1 rows") {
		t.Errorf("a restore into a migrated database: %v", err)
	}
	// Not a backup.
	junk := filepath.Join(t.TempDir(), "junk.dump")
	if err := os.WriteFile(junk, []byte("PGDMP? no"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run(ctx, []string{"restore", junk}, io.Discard, quiet); err == nil || !strings.Contains(err.Error(), "not a backup") {
		t.Errorf("restoring a file that is no backup: %v", err)
	}
	for _, args := range [][]string{{"backup"}, {"restore"}, {"backup", "/nonexistent/dir/x.dump"}, {"restore", "/nonexistent.dump"}} {
		if err := run(ctx, args, io.Discard, quiet); err == nil {
			t.Errorf("citygrid %v: no error", args)
		}
	}
}

func TestLibpqConn(t *testing.T) {
	for _, c := range []struct{ in, conn, env string }{
		{"postgres://u:p%40ss@db.example:5433/city?sslmode=require&pool_max_conns=8", "postgres://u@db.example:5433/city?sslmode=require", "PGPASSWORD=p@ss"},
		{"postgres://citygrid:pw@/citygrid?host=%2Ftmp%2Frun&port=5999&sslmode=disable", "postgres://citygrid@/citygrid?host=%2Ftmp%2Frun&port=5999&sslmode=disable", "PGPASSWORD=pw"},
		{"host=db user=u password=secret dbname=city statement_cache_capacity=0", "host='db' user='u' dbname='city'", "PGPASSWORD=secret"},
		{`host=db password='a\'b c' dbname=x`, "host='db' dbname='x'", `PGPASSWORD=a'b c`},
	} {
		conn, env, err := libpqConn(c.in)
		if err != nil || conn != c.conn || strings.Join(env, " ") != c.env {
			t.Errorf("libpqConn(%q) = %q %q %v, want %q %q", c.in, conn, env, err, c.conn, c.env)
		}
	}
}

// writeHistory writes a little of everything through the API: bulk loads,
// single creates, lifecycle actions and Open311 requests.
func writeHistory(t *testing.T, base, dispatcher, app string) {
	t.Helper()
	cats := []string{"E0505", "E0506", "E0102", "E0406", "P0101"}
	var body bytes.Buffer
	for i := range 600 {
		at := time.Now().Add(-time.Duration(1+i*7%(29*24)) * time.Hour)
		fmt.Fprintf(&body, `{"category":%q,"lon":%.6f,"lat":%.6f,"occurred_at":%q,"source":"camera","external_id":"hist-%d"}`+"\n",
			cats[i%len(cats)], 121.10+float64(i%30)*0.002, 28.83+float64(i/30)*0.002, at.Format(time.RFC3339), i)
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/incidents/bulk", &body)
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Authorization", "Bearer "+dispatcher)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var bulk struct{ IDs []int64 }
	err = json.NewDecoder(resp.Body).Decode(&bulk)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 201 || len(bulk.IDs) != 600 {
		t.Fatalf("bulk: %d %v", resp.StatusCode, err)
	}
	for i := range 20 {
		var x struct{ ID int64 }
		if s := postJSON(t, base+"/v1/incidents", dispatcher, fmt.Sprintf(`{"category":"E0505","lon":121.13,"lat":28.85,"occurred_at":%q,"source":"hotline","description":"第%d号","external_id":"one-%d"}`,
			time.Now().Add(-time.Duration(i)*time.Hour).Format(time.RFC3339), i, i), &x); s != 201 {
			t.Fatalf("create: %d", s)
		}
	}
	for _, id := range bulk.IDs[:40] {
		for _, a := range []string{"register", "dispatch", "report", "verify"} {
			if s := postJSON(t, fmt.Sprintf("%s/v1/incidents/%d/events", base, id), dispatcher, `{"action":"`+a+`","note":"`+a+` 备注"}`, nil); s != 200 {
				t.Fatalf("%s: %d", a, s)
			}
		}
	}
	for i := range 5 {
		form := url.Values{"api_key": {app}, "service_code": {"E0505"}, "lat": {"28.8493"}, "long": {"121.1335"},
			"description": {fmt.Sprintf("占用人行道 %d", i)}, "email": {"citizen@example.com"}, "attribute[plate]": {"浙J1234" + fmt.Sprint(i)}}
		resp, err := http.PostForm(base+"/open311/v2/requests.json", form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 && resp.StatusCode != 201 {
			t.Fatalf("open311: %d %s", resp.StatusCode, b)
		}
	}
}

// postJSON posts body with a key and decodes the answer into v (if any).
func postJSON(t *testing.T, url, key, body string, v any) int {
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer resp.Body.Close()
	if v != nil {
		_ = json.NewDecoder(resp.Body).Decode(v)
	}
	return resp.StatusCode
}

// serviceAnswers reads each path with a planner's key.
func serviceAnswers(t *testing.T, base, key string, paths []string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range paths {
		req, _ := http.NewRequest(http.MethodGet, base+p, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, b)
		}
		out[p] = b
	}
	return out
}

// auditKinds counts the audit rows by "role action", of rows that name
// who made them fully: a key's rows carry its id and a request id, the
// command line's the OS user.
func auditKinds(t *testing.T, dsn string) map[string]int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT role || ' ' || action, count(*)::int FROM audit_log
		WHERE CASE role WHEN 'cli' THEN key_id IS NULL AND actor <> '' AND actor <> 'cli'
		                WHEN 'system' THEN key_id IS NULL AND actor = 'system'
		                ELSE key_id IS NOT NULL AND request_id <> '' AND addr <> '' END
		GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	var k string
	var n int
	if _, err := pgx.ForEachRow(rows, []any{&k, &n}, func() error { out[k] = n; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

type tableDigest struct {
	rows   int64
	md5    string
	sample []int64 // incident: every id
}

// tableDigests counts the rows of every table of the public schema (a
// partitioned table as one) and hashes them in a fixed order.
func tableDigests(t *testing.T, dsn string) map[string]tableDigest {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
		  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')`)
	if err != nil {
		t.Fatal(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tableDigest{}
	for _, n := range names {
		q := fmt.Sprintf(`SELECT count(*), coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text)), '') FROM %s t`, pgx.Identifier{n}.Sanitize())
		var d tableDigest
		if err := conn.QueryRow(ctx, q).Scan(&d.rows, &d.md5); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		out[n] = d
	}
	var ids []int64
	if err := conn.QueryRow(ctx, `SELECT coalesce(array_agg(id), '{}') FROM incident`).Scan(&ids); err != nil {
		t.Fatal(err)
	}
	d := out["incident"]
	d.sample = ids
	out["incident"] = d
	return out
}

func compareDigests(t *testing.T, when string, want, got map[string]tableDigest) {
	t.Helper()
	for _, must := range []string{"incident", "incident_event", "incident_key", "open311_request", "api_key", "audit_log", "h3_rollup", "grid_version", "cell", "schema_version"} {
		if want[must].rows == 0 {
			t.Errorf("the source holds no %s rows: the round trip proves nothing about them", must)
		}
	}
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: table %s missing", when, name)
		case g.rows != w.rows || g.md5 != w.md5:
			t.Errorf("%s: table %s has %d rows (checksum %s), the source %d (%s)", when, name, g.rows, g.md5, w.rows, w.md5)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: table %s is new", when, name)
		}
	}
	t.Logf("%s: %d tables equal, incident %d rows, incident_event %d, open311_request %d, api_key %d, audit_log %d",
		when, len(want), want["incident"].rows, want["incident_event"].rows, want["open311_request"].rows, want["api_key"].rows, want["audit_log"].rows)
}
