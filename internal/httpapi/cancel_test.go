package httpapi_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestCancelledRequestsUnderLoad: many clients hang up while their
// requests wait for a pooled connection or run; afterwards the service
// still answers (a pool that leaked connections to cancelled requests
// would hang here).
func TestCancelledRequestsUnderLoad(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+i%5)*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/v1/grid/versions", nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
	}
	wg.Wait()
	for _, p := range []string{"/v1/grid/versions", "/readyz", "/v1/incidents?limit=5"} {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+p, nil)
		req.Header.Set("Authorization", "Bearer "+f.key)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err != nil {
			t.Fatalf("%s after cancelled load: %v", p, err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s after cancelled load: %d", p, resp.StatusCode)
		}
	}
	// Every connection went back to the pool.
	deadline := time.Now().Add(10 * time.Second)
	for f.db.Pool().Stat().AcquiredConns() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still held after the cancelled requests", f.db.Pool().Stat().AcquiredConns())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
