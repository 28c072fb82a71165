package postgres_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// TestCreateWhoseAnswerIsLost: the connection of a create breaks while
// the server still works on it (here: waiting on a lock the test holds),
// and the server then commits it. The caller got an error, and the write
// is reported to the read models all the same — else every heatmap would
// miss it until its listener reconnected; a retry with the same external
// id finds it.
func TestCreateWhoseAnswerIsLost(t *testing.T) {
	dsn := pgtest.URL(t, pgtest.Demo)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	proxy := newCutProxy(t, dsn)
	db, err := postgres.Open(ctx, proxy.url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mu sync.Mutex
	var reported []grid.RollupSlice
	db.OnRollupChange(func(ss []grid.RollupSlice) {
		mu.Lock()
		reported = append(reported, ss...)
		mu.Unlock()
	})
	// A create first, so that the connection has the statement prepared: the
	// one below then sends all of it at once, and blocks executing it.
	x := demoIncident(t, time.Now().Add(-time.Hour).Truncate(time.Second))
	w := x
	w.ExternalID = "warm-up"
	if _, err := db.CreateIncident(ctx, &w, "test"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	reported = nil
	mu.Unlock()
	direct, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer direct.Close(ctx)
	lock, err := direct.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx) //nolint:errcheck
	if _, err := lock.Exec(ctx, `LOCK TABLE incident_key IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}

	x.ExternalID = "answer-lost"
	done := make(chan error, 1)
	go func() {
		y := x
		_, err := db.CreateIncident(ctx, &y, "test")
		done <- err
	}()
	watch, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	waitUntil(t, "the create to wait on the lock", func() bool {
		var n int
		err := watch.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO incident_key%'`).Scan(&n)
		return err == nil && n > 0
	})
	proxy.cut() // the caller's side of the connection breaks
	if err := <-done; err == nil {
		t.Fatal("the create answered although its connection broke")
	} else if grid.KindOf(err) != grid.Unavailable {
		t.Errorf("the create's error is not Unavailable (a 503): %v", err)
	}
	if err := lock.Commit(ctx); err != nil { // the server goes on, and commits
		t.Fatal(err)
	}
	var id int64
	waitUntil(t, "the server to commit the create", func() bool {
		return watch.QueryRow(ctx, `SELECT incident_id FROM incident_key WHERE external_id = 'answer-lost'`).Scan(&id) == nil
	})
	want := grid.RollupSlice{Category: x.Category, Day: grid.DateOf(x.OccurredAt.In(grid.ChinaTime())), Town: x.TownCode}
	mu.Lock()
	got := append([]grid.RollupSlice(nil), reported...)
	mu.Unlock()
	found := false
	for _, s := range got {
		found = found || s == want
	}
	if !found {
		t.Fatalf("the committed create was not reported to the read models: %v, want %v", got, want)
	}
	// The caller's retry finds the first incident.
	proxy.open()
	y := x
	created, err := db.CreateIncident(ctx, &y, "test")
	if err != nil || created || y.ID != id {
		t.Fatalf("retry: created %v, id %d (stored %d), %v", created, y.ID, id, err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cutProxy forwards TCP connections to the server of a connection string;
// cut breaks the client side of every connection (and refuses new ones)
// while the server side stays open, as a network failure does.
type cutProxy struct {
	url    string
	ln     net.Listener
	target func() (net.Conn, error)

	mu      sync.Mutex
	refuse  bool
	clients []net.Conn
}

func newCutProxy(t *testing.T, dsn string) *cutProxy {
	t.Helper()
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	network, addr := "tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
	if filepath.IsAbs(cfg.Host) {
		network, addr = "unix", filepath.Join(cfg.Host, ".s.PGSQL."+strconv.Itoa(int(cfg.Port)))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := url.URL{Scheme: "postgres", User: url.UserPassword(cfg.User, cfg.Password), Host: ln.Addr().String(),
		Path: "/" + cfg.Database, RawQuery: "sslmode=disable"}
	p := &cutProxy{url: u.String(), ln: ln, target: func() (net.Conn, error) { return net.Dial(network, addr) }}
	var servers []net.Conn
	var smu sync.Mutex
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		smu.Lock()
		for _, s := range servers {
			s.Close()
		}
		smu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			refuse := p.refuse
			if !refuse {
				p.clients = append(p.clients, c)
			}
			p.mu.Unlock()
			if refuse {
				c.Close()
				continue
			}
			s, err := p.target()
			if err != nil {
				c.Close()
				continue
			}
			smu.Lock()
			servers = append(servers, s)
			smu.Unlock()
			go func() { _, _ = io.Copy(s, c) }() // the server side is not closed when the client side goes
			go func() { _, _ = io.Copy(c, s); c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = true
	for _, c := range p.clients {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // a reset, not a goodbye
		}
		c.Close()
	}
	p.clients = nil
}

func (p *cutProxy) open() {
	p.mu.Lock()
	p.refuse = false
	p.mu.Unlock()
}
