package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/geodata"
	"github.com/citygrid/citygrid/internal/pgembed"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/paulmach/orb/geojson"
)

// traversableDir makes a temporary data directory the postgres account can
// reach when the tests run as root.
func traversableDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	for p := d; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(d, "data")
}

func requireBinaries(t *testing.T) {
	t.Helper()
	if _, err := pgembed.FindBinaries(); err != nil {
		if os.Getenv("CITYGRID_TESTDB") == "required" {
			t.Fatalf("PostGIS required: %v", err)
		}
		t.Skip(err)
	}
}

type service struct {
	url  string
	done chan error
	stop context.CancelFunc
}

// startService runs `citygrid serve` in-process on a free port. Requests
// made before it is ready wait in the listener's backlog.
func startService(t *testing.T, dataDir string) *service {
	t.Helper()
	return startServiceLog(t, dataDir, slog.New(slog.DiscardHandler))
}

// startServiceLog is startService with the service's log going to log.
func startServiceLog(t *testing.T, dataDir string, log *slog.Logger) *service {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &service{url: "http://" + ln.Addr().String(), done: make(chan error, 1), stop: cancel}
	go func() { s.done <- serve(ctx, ln, serveOptions{DataDir: dataDir}, log) }()
	t.Cleanup(func() { s.shutdown(t) })
	return s
}

func (s *service) shutdown(t *testing.T) {
	t.Helper()
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(time.Minute):
		t.Errorf("serve did not stop within a minute")
	}
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	c := &http.Client{Timeout: 3 * time.Minute}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v: %s", url, err, b)
		}
	}
	return resp.StatusCode
}

type versions struct {
	Versions []struct {
		ID     int64
		Active bool
		Cells  int
		Source string
	}
}

type ready struct {
	Status      string
	Database    string
	GridVersion int64 `json:"grid_version"`
	Cells       int
}

// TestServeImportRestart: serve starts the embedded cluster and loads the
// demo city; an import run beside it attaches to the same cluster and its
// new version reaches the running service by NOTIFY; after a restart the
// import is still there.
func TestServeImportRestart(t *testing.T) {
	requireBinaries(t)
	dir := traversableDir(t)
	s := startService(t, dir)

	var r ready
	if code := getJSON(t, s.url+"/readyz", &r); code != 200 || r.Cells != 2213 || r.Status != "ready" {
		t.Fatalf("readyz: %d %+v", code, r)
	}
	first := r.GridVersion

	// An import of the demo cells, written by `citygrid import` while the
	// service runs.
	city, err := geodata.Linhai()
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cells.geojson")
	writeDemoCells(t, file, "（新）")
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := run(ctx, []string{"import", "--data-dir", dir, file}, &out, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatalf("import: %v", err)
	}
	if !strings.Contains(out.String(), "2213 cells") {
		t.Errorf("import said %q", out.String())
	}

	// The running service swaps to the new version on NOTIFY.
	deadline := time.Now().Add(30 * time.Second)
	for getJSON(t, s.url+"/readyz", &r); r.GridVersion == first; getJSON(t, s.url+"/readyz", &r) {
		if time.Now().After(deadline) {
			t.Fatalf("the service still serves grid version %d 30 s after an import", first)
		}
		time.Sleep(20 * time.Millisecond)
	}

	s.shutdown(t)
	if _, err := os.Stat(filepath.Join(dir, "pg", "postmaster.pid")); !os.IsNotExist(err) {
		t.Errorf("the embedded cluster still runs after serve stopped (postmaster.pid: %v)", err)
	}

	s = startService(t, dir)
	var v versions
	if code := getJSON(t, s.url+"/v1/grid/versions", &v); code != 200 {
		t.Fatalf("versions: %d", code)
	}
	if len(v.Versions) != 2 || !v.Versions[0].Active || v.Versions[0].ID != r.GridVersion || !strings.Contains(v.Versions[0].Source, "cells.geojson") {
		t.Fatalf("after restart: %+v", v)
	}
	var cell struct{ Name string }
	getJSON(t, s.url+"/v1/grid/cells/"+city.Cells[0].Code, &cell)
	if !strings.HasSuffix(cell.Name, "（新）") {
		t.Errorf("cell name after restart: %q, want the imported one", cell.Name)
	}
}

// writeDemoCells writes the demo city's cells as an import file, each name
// followed by suffix.
func writeDemoCells(t *testing.T, file, suffix string) {
	t.Helper()
	city, err := geodata.Linhai()
	if err != nil {
		t.Fatal(err)
	}
	fc := geojson.NewFeatureCollection()
	for _, c := range city.Cells {
		f := geojson.NewFeature(c.Geometry)
		f.Properties["code"], f.Properties["name"] = c.Code, c.Name+suffix
		fc.Append(f)
	}
	b, err := fc.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCommandLineErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	for _, args := range [][]string{
		nil,
		{"frobnicate"},
		{"import"},
		{"keys"},
		{"keys", "create", "--role", "emperor", "--data-dir", "/nonexistent/x"},
	} {
		if err := run(ctx, args, io.Discard, log); err == nil {
			t.Errorf("citygrid %v: want an error", args)
		}
	}
	var out bytes.Buffer
	if err := run(ctx, []string{"help"}, &out, log); err != nil || !strings.Contains(out.String(), "citygrid serve") {
		t.Errorf("help: %v %q", err, out.String())
	}
}

// TestKeysCommands: keys create, list and revoke from the command line;
// the list never shows a secret.
func TestKeysCommands(t *testing.T) {
	t.Setenv("DATABASE_URL", pgtest.URL(t, pgtest.Demo))
	ctx := context.Background()
	quiet := slog.New(slog.DiscardHandler)
	cmd := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, &out, quiet)
		return out.String(), err
	}
	key, err := cmd("keys", "create", "--role", "planner", "--town", "331082001", "--ttl", "720h", "--note", "district centre")
	if err != nil {
		t.Fatal(err)
	}
	key = strings.TrimSpace(key)
	prefix := keyPrefixOf(t, key)
	list, err := cmd("keys", "list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(list, prefix) || !strings.Contains(list, "331082001") || !strings.Contains(list, "active") ||
		!strings.Contains(list, "district centre") || strings.Contains(list, key) {
		t.Fatalf("list:\n%s", list)
	}
	if out, err := cmd("keys", "revoke", prefix); err != nil || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke: %q %v", out, err)
	}
	if list, _ = cmd("keys", "list"); !strings.Contains(list, "revoked") {
		t.Fatalf("list after revoke:\n%s", list)
	}
	for _, bad := range [][]string{
		{"keys"}, {"keys", "rotate"}, {"keys", "revoke"}, {"keys", "revoke", "nope"},
		{"keys", "create", "--role", "planner", "--ttl", "1h", "--expires", "2030-01-01T00:00:00Z"},
		{"keys", "create", "--role", "planner", "--expires", "tomorrow"},
		{"keys", "create", "--role", "planner", "--expires", "2001-01-01T00:00:00Z"},
		{"keys", "create", "--role", "mayor"},
	} {
		if _, err := cmd(bad...); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// keyPrefixOf reads the public prefix of "cg_<prefix>_<secret>".
func keyPrefixOf(t *testing.T, key string) string {
	t.Helper()
	parts := strings.Split(key, "_")
	if len(parts) != 3 || parts[0] != "cg" {
		t.Fatalf("key %q", key)
	}
	return parts[1]
}
