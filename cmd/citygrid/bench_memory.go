package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serveMemory is what benchServeMemory measured of a `citygrid serve`.
type serveMemory struct {
	loaded    time.Duration // until both read models were loaded
	settled   int64         // RSS once they were (bytes)
	peak      int64         // the most RSS while the queries ran
	gcPercent string
	queries   int
}

var (
	serveAddrLine    = regexp.MustCompile(`msg="citygrid serving" addr=(\S+)`)
	serveSettledLine = regexp.MustCompile(`msg="read models loaded; memory settled".* gc_percent=(\S+)`)
)

// serveReadiness is the body of base's /readyz ("" if it cannot be read).
func serveReadiness(ctx context.Context, base string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return ""
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return string(b)
}

// benchServeMemory starts `citygrid serve` on the cluster of dataDir (it
// attaches to the one running), waits until it has loaded every read model
// and settled its memory, then sends the paths (with key) from four clients
// for d, sampling its RSS every 50 ms, and stops it.
func benchServeMemory(ctx context.Context, dataDir, key string, paths []string, d time.Duration) (serveMemory, error) {
	var m serveMemory
	exe, err := os.Executable()
	if err != nil {
		return m, err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "serve", "--data-dir", dataDir, "--addr", "127.0.0.1:0")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return m, err
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return m, err
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	addr, settled := make(chan string, 1), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if g := serveAddrLine.FindStringSubmatch(sc.Text()); g != nil {
				addr <- g[1]
			}
			if g := serveSettledLine.FindStringSubmatch(sc.Text()); g != nil {
				settled <- g[1]
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	var base string
	select {
	case base = <-addr:
	case <-ctx.Done():
		return m, errors.New("bench: citygrid serve did not start in 10 minutes")
	}
	// Until it settles, its readiness says whether a load failed.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for m.gcPercent == "" {
		select {
		case m.gcPercent = <-settled:
		case <-tick.C:
			if st := serveReadiness(ctx, base); strings.Contains(st, "failed") {
				return m, fmt.Errorf("bench: citygrid serve: a read model did not load: %s", st)
			}
		case <-ctx.Done():
			return m, errors.New("bench: citygrid serve did not load its read models in 10 minutes")
		}
	}
	m.loaded = time.Since(start)
	status := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status"
	m.settled = statusRSS(status)
	m.peak = m.settled

	client := &http.Client{Transport: benchTransport(4), Timeout: time.Minute}
	qctx, stop := context.WithTimeout(ctx, d)
	defer stop()
	var mu sync.Mutex
	var qerr error
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; qctx.Err() == nil; i++ {
				req, _ := http.NewRequestWithContext(qctx, http.MethodGet, base+paths[i%len(paths)], nil)
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := client.Do(req)
				if err != nil {
					continue // the deadline, mostly; a failure shows in the count
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				mu.Lock()
				if resp.StatusCode != http.StatusOK && qerr == nil {
					qerr = fmt.Errorf("bench: serve: %s: %d", paths[i%len(paths)], resp.StatusCode)
				}
				m.queries++
				mu.Unlock()
			}
		})
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for qctx.Err() == nil {
		select {
		case <-t.C:
			m.peak = max(m.peak, statusRSS(status))
		case <-qctx.Done():
		}
	}
	wg.Wait()
	m.peak = max(m.peak, statusRSS(status))
	return m, qerr
}
