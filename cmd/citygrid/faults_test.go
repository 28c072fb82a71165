package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/pgembed"
)

// syncBuffer is a log sink for a service under test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// TestWritesWhileTheDatabaseStops: creates keep coming while the database
// stops. Every answer is a success or a 503 with Retry-After — never a
// 500 — no answer shows the driver's error, and the log holds the cause of
// every 503 with its request id.
func TestWritesWhileTheDatabaseStops(t *testing.T) {
	requireBinaries(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c, err := pgembed.Start(ctx, pgembed.Options{DataDir: traversableDir(t), Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(context.Background()) })
	t.Setenv("DATABASE_URL", c.ConnString())
	var logs syncBuffer
	s := startServiceLog(t, traversableDir(t), slog.New(slog.NewJSONHandler(&logs, nil)))
	var r ready
	waitFor(t, time.Minute, "the service", func() bool { return getJSON(t, s.url+"/readyz", &r) == 200 })
	var keyOut bytes.Buffer
	if err := run(ctx, []string{"keys", "create", "--role", "dispatcher"}, &keyOut, slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(keyOut.String())

	type answer struct {
		status     int
		retryAfter string
		requestID  string
		body       string
	}
	var (
		mu      sync.Mutex
		answers []answer
		wg      sync.WaitGroup
		stopped = make(chan struct{})
	)
	client := &http.Client{Timeout: 30 * time.Second}
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				body := fmt.Sprintf(`{"category":"E0505","lon":121.13,"lat":28.85,"occurred_at":"%s","source":"collector","external_id":"fault-%d-%d"}`,
					time.Now().Add(-time.Minute).Format(time.RFC3339), w, i)
				req, _ := http.NewRequest("POST", s.url+"/v1/incidents", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+key)
				resp, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				mu.Lock()
				answers = append(answers, answer{resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("X-Request-Id"), string(b)})
				mu.Unlock()
				select {
				case <-stopped:
					if resp.StatusCode == http.StatusServiceUnavailable {
						return // the stop has reached this writer
					}
				default:
				}
			}
		}()
	}
	waitFor(t, time.Minute, "writes before the stop", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(answers) >= 50
	})
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	close(stopped)
	wg.Wait()

	log := logs.String()
	var ok, unavailable int
	for _, a := range answers {
		switch a.status {
		case http.StatusCreated, http.StatusOK:
			ok++
		case http.StatusServiceUnavailable:
			unavailable++
			if a.retryAfter == "" {
				t.Errorf("503 without Retry-After: %s", a.body)
			}
			for _, internal := range []string{"dial", "connect", "SQLSTATE", "postgres", "unix", "EOF", "terminating"} {
				if strings.Contains(a.body, internal) {
					t.Errorf("503 shows internals (%q): %s", internal, a.body)
				}
			}
			if !strings.Contains(log, `"request_id":"`+a.requestID+`"`) {
				t.Errorf("503 of request %s is not in the log", a.requestID)
			}
		default:
			t.Errorf("status %d: %s", a.status, a.body)
		}
	}
	if ok == 0 || unavailable == 0 {
		t.Fatalf("%d created, %d unavailable: the stop did not fall under the writes", ok, unavailable)
	}
	// The cause is in the log: the driver's words for a stopped server.
	if !strings.Contains(log, "request refused: unavailable") ||
		!(strings.Contains(log, "connect") || strings.Contains(log, "terminating") || strings.Contains(log, "57P01") || strings.Contains(log, "EOF")) {
		t.Errorf("the log does not hold the cause:\n%.3000s", log)
	}
	t.Logf("%d created, %d refused with 503", ok, unavailable)
}
