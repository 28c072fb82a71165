package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/httpapi"
)

// startTimeoutServer serves h on loopback with serve's http.Server and the
// given timeouts.
func startTimeoutServer(t *testing.T, st serverTimeouts) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	hs := httpServer(h, st)
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return ln.Addr().String()
}

// trickle opens a connection, sends head at once, then tail one byte per
// tick until the server cuts the connection or tail is sent. It reports
// how many bytes of tail went out before the cut, and whether there was
// one.
func trickle(addr, head, tail string, tick time.Duration) (sent int, cut bool, err error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, false, err
	}
	defer conn.Close()
	closed := make(chan struct{})
	go func() { // the server's close (or its answer, then its close)
		_, _ = io.Copy(io.Discard, conn)
		close(closed)
	}()
	if _, err := io.WriteString(conn, head); err != nil {
		return 0, false, err
	}
	t := time.NewTicker(tick)
	defer t.Stop()
	for sent < len(tail) {
		select {
		case <-closed:
			return sent, true, nil
		case <-t.C:
			if _, err := conn.Write([]byte{tail[sent]}); err != nil {
				return sent, true, nil
			}
			sent++
		}
	}
	return sent, false, nil
}

// TestSlowClientsAreCut: slowloris clients — headers or a body one byte per
// tick — are disconnected long before they finish, while ordinary
// requests keep being answered; headers past MaxHeaderBytes are refused,
// and an idle keep-alive connection is closed.
func TestSlowClientsAreCut(t *testing.T) {
	t.Parallel()
	st := serverTimeouts{Header: 300 * time.Millisecond, Read: time.Second, Write: 5 * time.Second, Idle: time.Second, MaxHeaderBytes: 16 << 10}
	addr := startTimeoutServer(t, st)
	// 200 bytes at 100 ms each would take 20 s: 20–66× the timeouts.
	const tick = 100 * time.Millisecond
	tail := strings.Repeat("x", 200)
	slow := []struct{ what, head, tail string }{
		{"headers", "GET / HTTP/1.1\r\nHost: citygrid\r\nX-Slow: ", tail},
		{"body", "POST / HTTP/1.1\r\nHost: citygrid\r\nContent-Length: 200\r\n\r\n", tail},
	}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		c := slow[i%2]
		wg.Add(1)
		go func() {
			defer wg.Done()
			sent, cut, err := trickle(addr, c.head, c.tail, tick)
			switch {
			case err != nil:
				errs <- fmt.Errorf("slow %s: %v", c.what, err)
			case !cut:
				errs <- fmt.Errorf("slow %s: all %d bytes went through, never cut", c.what, sent)
			}
		}()
	}
	// Meanwhile the service answers everyone else.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}
	for i := range 50 {
		resp, err := client.Get("http://" + addr + "/")
		if err != nil {
			t.Fatalf("ordinary request %d during the slow clients: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "ok" {
			t.Fatalf("ordinary request %d: %d %q", i, resp.StatusCode, b)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	// Headers beyond MaxHeaderBytes (and the 4 KB net/http allows past
	// it): 431. Twice the limit, not more: a request that still has bytes
	// to write when the server has answered and hung up fails to write
	// (broken pipe) before it reads the answer.
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("y", 2*st.MaxHeaderBytes))
	if resp, err := client.Do(req); err != nil {
		t.Errorf("oversized headers: %v", err)
	} else {
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("oversized headers: %d, want 431", resp.StatusCode)
		}
	}

	// An idle keep-alive connection is closed by the server.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: citygrid\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second)) // a bound for a broken server, not the test's clock
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("idle keep-alive connection: read %v, want the server's close (EOF)", err)
	}
}

// TestServerTimeoutsFollowTheDeadline: serve's timeouts leave a handler
// at its deadline time to answer.
func TestServerTimeoutsFollowTheDeadline(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, 5 * time.Second, time.Minute} {
		st := defaultServerTimeouts(d)
		want := d
		if want == 0 {
			want = httpapi.DefaultRequestTimeout
		}
		if !(st.Read > want && st.Write > st.Read && st.Header > 0 && st.Header <= st.Read && st.Idle > 0 && st.MaxHeaderBytes > 0) {
			t.Errorf("request deadline %v: timeouts %+v", d, st)
		}
		hs := httpServer(nil, st)
		if hs.ReadHeaderTimeout != st.Header || hs.ReadTimeout != st.Read || hs.WriteTimeout != st.Write || hs.IdleTimeout != st.Idle || hs.MaxHeaderBytes != st.MaxHeaderBytes {
			t.Errorf("http.Server does not carry %+v", st)
		}
	}
}

// TestLimitFlags: serve's limit flags start from the environment, else the
// defaults; flags override; a bad value names its flag or variable.
func TestLimitFlags(t *testing.T) {
	parse := func(args ...string) (*limitOptions, error) {
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		o, err := limitFlags(fs)
		if err != nil {
			return nil, err
		}
		return o, fs.Parse(args)
	}
	o, err := parse()
	if err != nil {
		t.Fatal(err)
	}
	if o.PerAddr != (httpapi.Rate{Rate: httpapi.DefaultRatePerAddr, Burst: httpapi.DefaultBurstPerAddr}) ||
		o.PerKey != (httpapi.Rate{Rate: httpapi.DefaultRatePerKey, Burst: httpapi.DefaultBurstPerKey}) ||
		len(o.Exempt) != 2 || !o.Exempt[0].Contains(net.ParseIP("127.0.0.1")) || !o.Exempt[1].Contains(net.ParseIP("::1")) ||
		len(o.TrustedProxies) != 0 || o.StatementTimeout != 10*time.Second || o.Expensive != 2*runtime.GOMAXPROCS(0) ||
		o.ExpensiveWait != httpapi.DefaultExpensiveWait || o.RequestTimeout != httpapi.DefaultRequestTimeout || o.BatchTimeout != httpapi.DefaultBatchTimeout {
		t.Errorf("defaults: %+v", o)
	}

	t.Setenv("CITYGRID_RATE_PER_ADDR", "5")
	t.Setenv("CITYGRID_TRUSTED_PROXY", "10.0.0.1")
	t.Setenv("CITYGRID_STATEMENT_TIMEOUT", "0")
	o, err = parse("--burst-per-addr", "9", "--rate-exempt", "", "--rate-per-key", "0.5")
	if err != nil {
		t.Fatal(err)
	}
	if o.PerAddr != (httpapi.Rate{Rate: 5, Burst: 9}) || o.PerKey.Rate != 0.5 || len(o.Exempt) != 0 || o.StatementTimeout != 0 ||
		len(o.TrustedProxies) != 1 || o.TrustedProxies[0].String() != "10.0.0.1/32" {
		t.Errorf("environment and flags: %+v", o)
	}
	if o, err = parse("--trusted-proxy", "10.1.0.0/16, 2001:db8::1"); err != nil || len(o.TrustedProxies) != 2 || o.TrustedProxies[1].String() != "2001:db8::1/128" {
		t.Errorf("--trusted-proxy list: %v %+v", err, o)
	}

	for _, args := range [][]string{
		{"--rate-per-addr", "-1"}, {"--burst-per-key", "0"}, {"--trusted-proxy", "10.0.0.0/33"},
		{"--request-timeout", "0"}, {"--expensive-wait", "soon"}, {"--max-expensive", "0"},
	} {
		if _, err := parse(args...); err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(args[0], "--")) {
			t.Errorf("%v: %v, want an error naming the flag", args, err)
		}
	}
	t.Setenv("CITYGRID_BURST_PER_KEY", "many")
	if _, err := parse(); err == nil || !strings.Contains(err.Error(), "CITYGRID_BURST_PER_KEY") {
		t.Errorf("a bad environment value: %v, want an error naming it", err)
	}
}
