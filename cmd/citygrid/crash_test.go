package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/pgembed"
	"github.com/jackc/pgx/v5"
)

// TestMain lets the test binary double as a `citygrid serve` process that
// a test can kill.
func TestMain(m *testing.M) {
	if dir := os.Getenv("CITYGRID_TEST_CHILD_DATA_DIR"); dir != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		ln, err := net.Listen("tcp", os.Getenv("CITYGRID_TEST_CHILD_ADDR"))
		if err == nil {
			err = serve(ctx, ln, serveOptions{DataDir: dir}, slog.New(slog.DiscardHandler))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func startChild(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CITYGRID_TEST_CHILD_DATA_DIR="+dir, "CITYGRID_TEST_CHILD_ADDR="+addr)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	url := "http://" + addr
	waitFor(t, 2*time.Minute, "the child service", func() bool {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return cmd, url
}

// TestCrashMidBulkLoad kills the service (SIGKILL) while PostgreSQL is in
// the middle of a bulk load's COPY, and finds either the whole batch or
// none of it — and rollups that agree with what is stored.
func TestCrashMidBulkLoad(t *testing.T) {
	requireBinaries(t)
	if os.Getenv("DATABASE_URL") != "" {
		t.Skip("the crash test runs on its own embedded cluster")
	}
	dir := traversableDir(t)
	child, url := startChild(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := pgembed.Start(ctx, pgembed.Options{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stopPostmaster(t, c) })
	conn, err := pgx.Connect(ctx, c.ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	var keyOut bytes.Buffer
	if err := run(ctx, []string{"keys", "create", "--role", "dispatcher", "--data-dir", dir}, &keyOut, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(keyOut.String())
	postBulk := func(url string, body io.Reader) (*http.Response, error) {
		req, err := http.NewRequest(http.MethodPost, url+"/v1/incidents/bulk", body)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-ndjson")
		req.Header.Set("Authorization", "Bearer "+key)
		return http.DefaultClient.Do(req)
	}

	const n = 200_000
	var body bytes.Buffer
	for i := range n {
		fmt.Fprintf(&body, `{"category":"E0505","lon":%.6f,"lat":%.6f,"occurred_at":"2026-05-%02dT%02d:00:00+08:00","source":"camera","external_id":"crash-%d"}`+"\n",
			121.10+float64(i%300)*0.0002, 28.83+float64(i/300%200)*0.0002, 1+i%28, 8+i%10, i)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := postBulk(url, &body)
		if err == nil {
			resp.Body.Close()
		}
	}()
	waitFor(t, 2*time.Minute, "the COPY to start", func() bool {
		var active int
		_ = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'copy%incident%' AND state = 'active'`).Scan(&active)
		return active > 0
	})
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	<-done

	counts := func() (int, int) {
		var stored, rolled int
		waitFor(t, time.Minute, "the aborted load to end", func() bool {
			var busy int
			_ = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'copy%incident%' AND state <> 'idle' AND pid <> pg_backend_pid()`).Scan(&busy)
			return busy == 0
		})
		if err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM incident), (SELECT coalesce(sum(n), 0) FROM h3_rollup, unnest(counts) AS n),
			(SELECT count(*) FROM incident_key WHERE external_id LIKE 'crash-%')`).Scan(&stored, &rolled, new(int)); err != nil {
			t.Fatal(err)
		}
		return stored, rolled
	}
	stored, rolled := counts()
	if stored != 0 && stored != n {
		t.Fatalf("after the crash %d of %d incidents are stored: a half-written batch", stored, n)
	}
	if rolled != stored {
		t.Errorf("rollups count %d, incidents %d", rolled, stored)
	}
	// A restarted service serves on, and the retried batch completes it.
	child, url = startChild(t, dir)
	defer func() { _ = child.Process.Signal(syscall.SIGTERM); _ = child.Wait() }()
	var retry bytes.Buffer
	for i := range 1000 {
		fmt.Fprintf(&retry, `{"category":"E0505","lon":121.1,"lat":28.84,"occurred_at":"2026-05-01T08:00:00+08:00","source":"camera","external_id":"crash-%d"}`+"\n", i)
	}
	resp, err := postBulk(url, &retry)
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("bulk after restart: %v %v", resp, err)
	}
	resp.Body.Close()
	after, rolledAfter := counts()
	want := n
	if stored == 0 {
		want = 1000
	}
	if after != want || rolledAfter != after {
		t.Errorf("after the retry: %d incidents (want %d), rollups %d", after, want, rolledAfter)
	}
	t.Logf("the crash left %d of %d incidents", stored, n)
}

// stopPostmaster ends a cluster whose owner died: a fast shutdown by signal.
func stopPostmaster(t *testing.T, c *pgembed.Cluster) {
	t.Helper()
	pid := c.PID()
	if pid <= 0 {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGINT)
	waitFor(t, time.Minute, "the postmaster to stop", func() bool {
		_, err := os.Stat(filepath.Join(c.Dir(), "postmaster.pid"))
		return os.IsNotExist(err)
	})
}
