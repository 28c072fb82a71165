package pgembed

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// needPostgres skips (or, with CITYGRID_TESTDB=required, fails) when the
// PostgreSQL server binaries or PostGIS are missing.
func needPostgres(t *testing.T) {
	t.Helper()
	if _, err := FindBinaries(); err != nil {
		if os.Getenv("CITYGRID_TESTDB") == "required" {
			t.Fatalf("CITYGRID_TESTDB=required but PostgreSQL is unavailable: %v", err)
		}
		t.Skipf("PostgreSQL unavailable: %v", err)
	}
}

// dataDir makes a fresh data dir that the cluster's OS user can traverse
// (t.TempDir is mode 0700, which the "postgres" user cannot enter when the
// test runs as root).
func dataDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "pgembed-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func start(t *testing.T, o Options) *Cluster {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	t0 := time.Now()
	c, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start took %v (owned=%v port=%d pid=%d)", time.Since(t0).Round(time.Millisecond), c.Owned(), c.Port(), c.PID())
	t.Cleanup(func() { stop(t, c) })
	return c
}

func stop(t *testing.T, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.Stop(ctx); err != nil {
		t.Errorf("Stop: %v", err)
	}
}

func connect(t *testing.T, connString string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, connString)
	if err != nil {
		t.Fatalf("connect %s: %v", connString, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func queryInt(t *testing.T, conn *pgx.Conn, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestFindBinaries(t *testing.T) {
	needPostgres(t)
	dir, err := FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"initdb", "pg_ctl", "postgres"} {
		if !isFile(filepath.Join(dir, b)) {
			t.Errorf("%s missing from %s", b, dir)
		}
	}
	t.Logf("binaries in %s", dir)
}

// TestLifecycle: first start, PostGIS, a row that survives a stop and a
// restart, attaching while running, and stale pid files.
func TestLifecycle(t *testing.T) {
	needPostgres(t)
	t.Parallel()
	dir := dataDir(t)
	opts := Options{DataDir: dir, Database: "lifecycle", Fast: true}

	c1 := start(t, opts)
	if !c1.Owned() {
		t.Fatal("first Start: Owned() = false")
	}
	if c1.Port() == 0 || c1.Port() == systemPort {
		t.Fatalf("port %d", c1.Port())
	}
	if fi, err := os.Stat(filepath.Join(dir, passwordName)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", fi, err)
	}

	conn := connect(t, c1.ConnString())
	var postgis string
	if err := conn.QueryRow(context.Background(), "SELECT PostGIS_Version()").Scan(&postgis); err != nil {
		t.Fatalf("PostGIS_Version: %v", err)
	}
	t.Logf("PostGIS %s", postgis)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `CREATE TABLE place (name text PRIMARY KEY, geom geometry(Point, 4326))`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO place VALUES ('gate', ST_SetSRID(ST_MakePoint(120.15, 30.28), 4326))`); err != nil {
		t.Fatal(err)
	}

	// Loopback TCP needs (and accepts) the password.
	tcp := connect(t, c1.TCPConnStringFor("lifecycle"))
	if n := queryInt(t, tcp, "SELECT count(*) FROM place"); n != 1 {
		t.Fatalf("over TCP: %d rows", n)
	}
	bad := strings.Replace(c1.TCPConnStringFor("lifecycle"), c1.password, "wrong", 1)
	if conn, err := pgx.Connect(ctx, bad); err == nil {
		conn.Close(ctx)
		t.Fatal("TCP connection with a wrong password succeeded")
	}

	// A second Start while running attaches.
	c2 := start(t, Options{DataDir: dir, Database: "lifecycle", Fast: true})
	if c2.Owned() {
		t.Fatal("second Start: Owned() = true")
	}
	if c2.Port() != c1.Port() || c2.PID() != c1.PID() {
		t.Fatalf("attached to port %d pid %d, want %d %d", c2.Port(), c2.PID(), c1.Port(), c1.PID())
	}
	conn2 := connect(t, c2.ConnString())
	if n := queryInt(t, conn2, "SELECT count(*) FROM place WHERE ST_X(geom) = 120.15"); n != 1 {
		t.Fatalf("attached: %d rows", n)
	}
	conn2.Close(ctx)
	stop(t, c2) // no-op
	if queryInt(t, conn, "SELECT 1") != 1 {
		t.Fatal("server gone after the attached cluster's Stop")
	}

	// Attaching with another database creates it, with PostGIS.
	c3 := start(t, Options{DataDir: dir, Database: "other"})
	conn3 := connect(t, c3.ConnString())
	if queryInt(t, conn3, "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'") != 1 {
		t.Fatal("postgis missing in the second database")
	}
	conn3.Close(ctx)

	conn.Close(ctx)
	tcp.Close(ctx)
	stop(t, c1)
	if _, err := os.Stat(filepath.Join(c1.Dir(), "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("postmaster.pid after Stop: %v", err)
	}
	stop(t, c1) // idempotent

	// Restart: no initdb, the row is still there.
	c4 := start(t, opts)
	if !c4.Owned() {
		t.Fatal("restart: Owned() = false")
	}
	conn4 := connect(t, c4.ConnString())
	if n := queryInt(t, conn4, "SELECT count(*) FROM place"); n != 1 {
		t.Fatalf("after restart: %d rows", n)
	}
	conn4.Close(ctx)
	stop(t, c4)

	// A stale pid file whose process is dead must not block a start.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	writeStalePid(t, c4, dead.Process.Pid)
	c5 := start(t, opts)
	if !c5.Owned() {
		t.Fatal("start over a stale pid file (dead process): Owned() = false")
	}
	conn5 := connect(t, c5.ConnString())
	if n := queryInt(t, conn5, "SELECT count(*) FROM place"); n != 1 {
		t.Fatalf("after stale pid: %d rows", n)
	}
	conn5.Close(ctx)
	stop(t, c5)

	// Nor one whose PID was reused by an unrelated live process (this test).
	writeStalePid(t, c5, os.Getpid())
	c6 := start(t, opts)
	if !c6.Owned() {
		t.Fatal("start over a stale pid file (reused PID): Owned() = false")
	}

	// A crashed postmaster (SIGKILL) is recovered by the next Start, and the
	// crashed cluster's Stop is a no-op.
	if err := syscall.Kill(c6.PID(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); postmasterAlive(c6.PID(), c6.Dir()) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	c7 := start(t, opts)
	if !c7.Owned() || c7.PID() == c6.PID() {
		t.Fatalf("start after a crash: owned=%v pid=%d (crashed pid %d)", c7.Owned(), c7.PID(), c6.PID())
	}
	stop(t, c6)
	conn7 := connect(t, c7.ConnString())
	if n := queryInt(t, conn7, "SELECT count(*) FROM place"); n != 1 {
		t.Fatalf("after crash: %d rows", n)
	}
	conn7.Close(ctx)
	stop(t, c7)
}

func writeStalePid(t *testing.T, c *Cluster, pid int) {
	t.Helper()
	content := fmt.Sprintf("%d\n%s\n%d\n%d\n%s\n127.0.0.1\n  1234567   7654321\nready   \n",
		pid, c.Dir(), time.Now().Unix(), c.Port(), c.SocketDir())
	path := filepath.Join(c.Dir(), "postmaster.pid")
	if err := c.acct.writeFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentStart: several Starts racing on a fresh data dir make one
// cluster; everyone else attaches to it.
func TestConcurrentStart(t *testing.T) {
	needPostgres(t)
	t.Parallel()
	// A data dir this long puts the unix socket under /tmp instead.
	dir := filepath.Join(dataDir(t), strings.Repeat("d", 100))
	const n = 6
	clusters := make([]*Cluster, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		wg.Go(func() {
			clusters[i], errs[i] = Start(ctx, Options{DataDir: dir, Fast: true, Logger: testLogger(t)})
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range clusters {
			if c != nil && !c.Owned() {
				stop(t, c)
			}
		}
		for _, c := range clusters {
			if c != nil && c.Owned() {
				stop(t, c)
			}
		}
	})
	owned := 0
	for i, c := range clusters {
		if errs[i] != nil {
			t.Fatalf("Start %d: %v", i, errs[i])
		}
		if c.Owned() {
			owned++
		}
		if c.PID() != clusters[0].PID() || c.Port() != clusters[0].Port() {
			t.Errorf("Start %d: pid %d port %d, Start 0: pid %d port %d", i, c.PID(), c.Port(), clusters[0].PID(), clusters[0].Port())
		}
		conn := connect(t, c.ConnString())
		if queryInt(t, conn, "SELECT count(*) FROM pg_extension WHERE extname = 'postgis'") != 1 {
			t.Errorf("Start %d: no postgis", i)
		}
		conn.Close(context.Background())
	}
	if owned != 1 {
		t.Fatalf("%d clusters owned, want exactly 1", owned)
	}
	if sd := clusters[0].SocketDir(); sd != socketDirFor(dir) || !strings.HasPrefix(sd, "/tmp/") {
		t.Errorf("socket dir %q, want %q under /tmp", sd, socketDirFor(dir))
	}
}

func TestSocketDirFor(t *testing.T) {
	short := "/var/lib/citygrid"
	if got := socketDirFor(short); got != "/var/lib/citygrid/run" {
		t.Errorf("socketDirFor(%q) = %q", short, got)
	}
	long := "/" + strings.Repeat("very-long-directory-name/", 5) + "data"
	got := socketDirFor(long)
	if !strings.HasPrefix(got, "/tmp/citygrid-pg-") || len(got)+len("/.s.PGSQL.65535") > 107 {
		t.Errorf("socketDirFor(long) = %q", got)
	}
	if got != socketDirFor(long) || got == socketDirFor(long+"2") {
		t.Error("socketDirFor(long) is not a stable per-data-dir name")
	}
}

// TestUntraversableParent: as root, a data dir below a directory the
// "postgres" user cannot enter is refused with an error naming it.
func TestUntraversableParent(t *testing.T) {
	needPostgres(t)
	if os.Geteuid() != 0 {
		t.Skip("only meaningful as root")
	}
	t.Parallel()
	parent := dataDir(t)
	locked := filepath.Join(parent, "locked")
	if err := os.Mkdir(locked, 0o700); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{DataDir: filepath.Join(locked, "data"), Fast: true})
	if err == nil {
		c.Stop(ctx)
		t.Fatal("Start succeeded below a 0700 root directory")
	}
	if !strings.Contains(err.Error(), locked) || !strings.Contains(err.Error(), "not traversable") {
		t.Fatalf("error does not name %s: %v", locked, err)
	}
}

func TestRejectsSystemPort(t *testing.T) {
	_, err := Start(context.Background(), Options{DataDir: t.TempDir(), Port: 5432})
	if err == nil || !strings.Contains(err.Error(), "5432") {
		t.Fatalf("Start with port 5432: %v", err)
	}
}
