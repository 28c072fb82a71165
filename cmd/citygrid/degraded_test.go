package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/pgembed"
)

// TestDegradedMode: with the database down, locate keeps answering from
// the snapshot and /readyz says degraded; when the database returns the
// service is ready again and catches up with a version imported since.
func TestDegradedMode(t *testing.T) {
	requireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	dbDir := traversableDir(t)
	c, err := pgembed.Start(ctx, pgembed.Options{DataDir: dbDir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	t.Setenv("DATABASE_URL", c.ConnString())

	s := startService(t, traversableDir(t))
	var r ready
	if code := getJSON(t, s.url+"/readyz", &r); code != 200 || r.Status != "ready" {
		t.Fatalf("readyz: %d %+v", code, r)
	}
	first := r.GridVersion
	locateURL := s.url + "/v1/locate?lon=121.13&lat=28.85&category=E0505"
	var loc struct {
		Cell        struct{ Code string }
		GridVersion int64 `json:"grid_version"`
	}
	if code := getJSON(t, locateURL, &loc); code != 200 || loc.Cell.Code == "" {
		t.Fatalf("locate before: %d %+v", code, loc)
	}
	cell := loc.Cell.Code

	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if code := getJSON(t, locateURL, &loc); code != 200 || loc.Cell.Code != cell {
			t.Fatalf("locate with the database down: %d %+v", code, loc)
		}
	}
	if code := getJSON(t, s.url+"/readyz", &r); code != 200 || r.Status != "degraded" || r.Database != "unreachable" {
		t.Errorf("readyz with the database down: %d %+v", code, r)
	}

	c, err = pgembed.Start(ctx, pgembed.Options{DataDir: dbDir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.ConnString(); got != os.Getenv("DATABASE_URL") {
		t.Fatalf("the cluster came back elsewhere: %s", got)
	}
	waitFor(t, 60*time.Second, "ready again", func() bool {
		getJSON(t, s.url+"/readyz", &r)
		return r.Status == "ready"
	})

	// A version imported now reaches the service: its listener reconnected.
	file := filepath.Join(t.TempDir(), "cells.geojson")
	writeDemoCells(t, file, "（复）")
	if err := run(ctx, []string{"import", file}, io.Discard, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the new grid version", func() bool {
		getJSON(t, s.url+"/readyz", &r)
		return r.GridVersion != first
	})
	if code := getJSON(t, locateURL, &loc); code != 200 || loc.GridVersion == first {
		t.Errorf("locate after catching up: %d %+v", code, loc)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
