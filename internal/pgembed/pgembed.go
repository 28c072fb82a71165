// Package pgembed runs the private PostgreSQL + PostGIS cluster that
// `citygrid serve` uses when no DATABASE_URL is given, and that tests use.
//
// The cluster lives in <data dir>/pg. The first Start initdb's it (superuser
// "citygrid", UTF8, a random password kept in <data dir>/pg-password), later
// starts reuse it. The server listens on 127.0.0.1 at a free port and on a
// private unix socket (mode 0700); the socket is trusted, TCP needs the
// password. When the process is root, the cluster belongs to and runs as the
// "postgres" OS user, because PostgreSQL refuses to run as root.
//
// Start, Stop and initialisation of one data dir are serialised with a file
// lock (<data dir>/pg.lock). When the cluster is already running — started by
// another process such as a running `citygrid serve`, or another test binary —
// Start attaches to it: the returned Cluster is not Owned and its Stop does
// nothing. The system's own cluster and port 5432 are never touched.
package pgembed

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// systemPort is the port of the system's own cluster; never used here.
const systemPort = 5432

// defaultTimeout bounds Start and Stop when their context has no deadline.
const defaultTimeout = 2 * time.Minute

// startAttempts is how often Start tries another port when the chosen one was
// taken between picking and binding it.
const startAttempts = 5

// Options configure Start.
type Options struct {
	DataDir  string       // the service's data dir; the cluster lives in DataDir/pg
	Database string       // database to ensure exists, with PostGIS; default "citygrid"
	Port     int          // 0 = pick a free loopback port (keeping the last one when free)
	Fast     bool         // tests: fsync=off, synchronous_commit=off, full_page_writes=off
	Logger   *slog.Logger // nil = discard
}

// Cluster is a running embedded cluster, started or attached to by Start.
type Cluster struct {
	inst       install
	acct       *account
	log        *slog.Logger
	dataDir    string
	clusterDir string
	database   string
	fast       bool

	socketDir string // "" when the server has no unix socket
	host      string // loopback TCP address
	port      int
	pid       int
	password  string
	owned     bool

	mu      sync.Mutex
	stopped bool
}

// Start starts the cluster of o.DataDir, creating it on first use, or attaches
// to it when it already runs; then it ensures o.Database exists with the
// PostGIS extension. Without a deadline on ctx it gives up after two minutes.
func Start(ctx context.Context, o Options) (*Cluster, error) {
	if o.DataDir == "" {
		return nil, errors.New("pgembed: Options.DataDir is empty")
	}
	dataDir, err := filepath.Abs(o.DataDir)
	if err != nil {
		return nil, fmt.Errorf("pgembed: data dir: %w", err)
	}
	if o.Database == "" {
		o.Database = "citygrid"
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Port < 0 || o.Port > 65535 {
		return nil, fmt.Errorf("pgembed: port %d out of range", o.Port)
	}
	if o.Port == systemPort {
		return nil, fmt.Errorf("pgembed: port %d belongs to the system's PostgreSQL; choose another or 0", systemPort)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
	}

	inst, err := findInstall()
	if err != nil {
		return nil, err
	}
	clusterDir := filepath.Join(dataDir, clusterSubdir)
	acct, err := serverAccount(clusterDir)
	if err != nil {
		return nil, err
	}
	if err := makeDataDir(dataDir, acct); err != nil {
		return nil, err
	}
	if err := acct.checkTraversable(dataDir); err != nil {
		return nil, err
	}

	release, err := lockDataDir(ctx, dataDir)
	if err != nil {
		return nil, err
	}
	defer release()

	c := &Cluster{
		inst:       inst,
		acct:       acct,
		log:        o.Logger.With("component", "pgembed", "dir", clusterDir),
		dataDir:    dataDir,
		clusterDir: clusterDir,
		database:   o.Database,
		fast:       o.Fast,
		host:       "127.0.0.1",
	}
	pf, running, err := c.findRunning(ctx)
	if err != nil {
		return nil, err
	}
	if running {
		err = c.attach(ctx, pf, o.Port)
		if errors.Is(err, errPostmasterGone) {
			c.log.Info("the running postmaster exited while attaching; starting the cluster", "pid", pf.pid)
			c.pid, c.port, c.socketDir = 0, 0, ""
			err = c.start(ctx, o.Port)
		}
	} else {
		err = c.start(ctx, o.Port)
	}
	if err == nil {
		err = c.EnsureDatabase(ctx, o.Database)
	}
	if err != nil {
		if c.owned {
			sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if serr := c.pgCtlStop(sctx); serr != nil {
				c.log.Warn("stopping the cluster after a failed start", "err", serr)
			}
		}
		return nil, err
	}
	return c, nil
}

// makeDataDir creates the data dir if needed; directories it creates are made
// 0755 so that the cluster's OS user can traverse them.
func makeDataDir(dataDir string, a *account) error {
	var missing []string
	for d := dataDir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("pgembed: data dir: %w", err)
		}
		missing = append(missing, d)
		if d == filepath.Dir(d) {
			break
		}
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return fmt.Errorf("pgembed: data dir: %w", err)
	}
	if a.setuid {
		for _, d := range missing {
			if err := os.Chmod(d, 0o755); err != nil {
				return fmt.Errorf("pgembed: data dir: %w", err)
			}
		}
	}
	return nil
}

func (c *Cluster) pidPath() string    { return filepath.Join(c.clusterDir, "postmaster.pid") }
func (c *Cluster) startupLog() string { return filepath.Join(c.clusterDir, logSubdir, startupLogName) }
func (c *Cluster) pgCtl() string      { return c.inst.bin("pg_ctl") }
func (c *Cluster) timeoutSecs(ctx context.Context) string {
	secs := 60
	if dl, ok := ctx.Deadline(); ok {
		secs = max(int(time.Until(dl).Seconds()), 1)
	}
	return strconv.Itoa(secs)
}

// findRunning reads postmaster.pid. It reports a live postmaster once it is
// ready, waits while one starts or stops, and treats a pid file whose process
// is gone (or is not this cluster's postmaster) as stale.
func (c *Cluster) findRunning(ctx context.Context) (pidFile, bool, error) {
	badReads := 0
	for {
		pf, err := readPidFile(c.pidPath())
		switch {
		case errors.Is(err, os.ErrNotExist):
			return pidFile{}, false, nil
		case err != nil:
			// Possibly being written right now; give it a moment.
			if badReads++; badReads > 20 {
				c.log.Warn("ignoring an unreadable postmaster.pid", "err", err)
				return pidFile{}, false, nil
			}
		case !postmasterAlive(pf.pid, c.clusterDir):
			c.log.Info("stale postmaster.pid: its process is gone", "pid", pf.pid)
			return pidFile{}, false, nil
		case pf.status == "ready" || pf.status == "standby":
			return pf, true, nil
		case pf.status == "" && pf.port > 0 && pf.socketDir != "":
			// A server that does not report its status: let the connection tell.
			return pf, true, nil
		}
		select {
		case <-ctx.Done():
			return pidFile{}, false, fmt.Errorf("pgembed: postmaster %d of %s is running but not ready (status %q): %w",
				pf.pid, c.clusterDir, pf.status, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// attach adopts a running postmaster: port, socket and listen address come
// from its pid file.
func (c *Cluster) attach(ctx context.Context, pf pidFile, wantPort int) error {
	c.pid, c.port, c.socketDir = pf.pid, pf.port, pf.socketDir
	if pf.listen != "" && pf.listen != "*" {
		c.host = pf.listen
	}
	if wantPort != 0 && wantPort != c.port {
		c.log.Warn("cluster already runs on another port; using it", "port", c.port, "requested", wantPort)
	}
	pw, created, err := loadOrCreatePassword(c.dataDir)
	if err != nil {
		return err
	}
	c.password = pw
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	if created {
		if err := c.setPassword(ctx); err != nil {
			return err
		}
	}
	c.log.Info("attached to running cluster", "pid", c.pid, "port", c.port, "socket_dir", c.socketDir)
	return nil
}

// start initialises the cluster if needed and starts its postmaster.
func (c *Cluster) start(ctx context.Context, wantPort int) error {
	pw, created, err := loadOrCreatePassword(c.dataDir)
	if err != nil {
		return err
	}
	c.password = pw
	if !isFile(filepath.Join(c.clusterDir, "PG_VERSION")) {
		if err := c.initdb(ctx); err != nil {
			return err
		}
		created = false
	}
	if err := c.acct.checkTraversable(c.clusterDir); err != nil {
		return err
	}

	c.socketDir = socketDirFor(c.dataDir)
	if err := prepareSocketDir(c.socketDir, c.dataDir, c.acct); err != nil {
		return err
	}
	// No postmaster of this cluster runs (we hold the lock and checked), so
	// its pid file and socket lock files are leftovers of a crash.
	if err := os.Remove(c.pidPath()); err == nil {
		c.log.Info("removed stale postmaster.pid")
	}
	removeStaleSockets(c.socketDir)
	if err := c.acct.mkdir(filepath.Join(c.clusterDir, logSubdir), 0o700); err != nil {
		return err
	}
	if err := c.ensureInclude(); err != nil {
		return err
	}

	t0 := time.Now()
	freshPort := false
	shmemWaits := 0
	for attempt := 1; ; attempt++ {
		port := wantPort
		if port == 0 {
			if p := configuredPort(c.clusterDir); !freshPort && p > 0 && p != systemPort && portFree(p) {
				port = p
			} else if port, err = freePort(); err != nil {
				return err
			}
		}
		if err := c.acct.writeFile(filepath.Join(c.clusterDir, confName), []byte(settings(port, c.socketDir, c.fast)), 0o600); err != nil {
			return err
		}
		offset := fileSize(c.startupLog())
		_, err := c.acct.run(ctx, c.pgCtl(), "start", "-D", c.clusterDir, "-l", c.startupLog(), "-w", "-t", c.timeoutSecs(ctx))
		if err == nil {
			c.port = port
			break
		}
		tail := logTail(c.clusterDir, offset)
		var ce *cmdError
		if errors.As(err, &ce) {
			ce.log = tail
		}
		switch {
		case ctx.Err() != nil:
		case wantPort == 0 && attempt < startAttempts && bindFailed(tail):
			c.log.Warn("port taken; retrying with another", "port", port, "attempt", attempt)
			freshPort = true
			c.cleanAfterFailedStart()
			continue
		case shmemBusy(tail) && shmemWaits < 40:
			// Backends of a crashed postmaster still hold its shared memory;
			// they exit on their own within moments.
			shmemWaits++
			c.log.Warn("shared memory of a previous postmaster still in use; waiting", "wait", shmemWaits)
			c.cleanAfterFailedStart()
			select {
			case <-ctx.Done():
			case <-time.After(250 * time.Millisecond):
			}
			attempt--
			continue
		}
		return err
	}
	c.owned = true
	if pf, err := readPidFile(c.pidPath()); err == nil {
		c.pid = pf.pid
	}
	os.Remove(filepath.Join(c.dataDir, stopNoteName)) // about a postmaster before this one
	if err := c.waitReady(ctx); err != nil {
		return err
	}
	if created {
		if err := c.setPassword(ctx); err != nil {
			return err
		}
	}
	c.log.Info("started cluster", "pid", c.pid, "port", c.port, "socket_dir", c.socketDir,
		"fast", c.fast, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// cleanAfterFailedStart removes what a postmaster that failed to start may
// have left behind before the next attempt.
func (c *Cluster) cleanAfterFailedStart() {
	if pf, err := readPidFile(c.pidPath()); err == nil && postmasterAlive(pf.pid, c.clusterDir) {
		return
	}
	os.Remove(c.pidPath())
	removeStaleSockets(c.socketDir)
}

// shmemBusy tells from the server log whether processes of a previous
// postmaster still hold the cluster's shared memory.
func shmemBusy(log string) bool {
	return strings.Contains(log, "pre-existing shared memory block")
}

// bindFailed tells from the server log whether the start failed because the
// port (or its socket lock) was taken.
func bindFailed(log string) bool {
	for _, s := range []string{"could not bind", "Address already in use", "could not create any TCP/IP sockets",
		"could not create lock file", "is another postmaster"} {
		if strings.Contains(log, s) {
			return true
		}
	}
	return false
}

// initdb creates the cluster in a scratch directory and renames it into
// place, so an interrupted initdb never leaves a half-made cluster behind.
func (c *Cluster) initdb(ctx context.Context) error {
	t0 := time.Now()
	tmp := filepath.Join(c.dataDir, initSubdir)
	pwFile := filepath.Join(c.dataDir, initPwName)
	defer os.Remove(pwFile)
	if err := c.acct.writeFile(pwFile, []byte(c.password+"\n"), 0o600); err != nil {
		return err
	}
	run := func(locale string) error {
		if err := os.RemoveAll(tmp); err != nil {
			return fmt.Errorf("pgembed: %w", err)
		}
		if err := c.acct.mkdir(tmp, 0o700); err != nil {
			return err
		}
		// Byte-wise collation: codes are ASCII digits, and libc's
		// collation makes every text comparison (and index insert) slower.
		args := []string{"-D", tmp, "-U", superuser, "-E", "UTF8", "--locale=" + locale, "--lc-collate=C",
			"--auth-local=trust", "--auth-host=scram-sha-256", "--pwfile=" + pwFile}
		if c.inst.major == 0 || c.inst.major >= 14 {
			args = append(args, "--no-instructions")
		}
		if c.fast {
			args = append(args, "--no-sync")
		}
		_, err := c.acct.run(ctx, c.inst.bin("initdb"), args...)
		return err
	}
	err := run("C.UTF-8")
	if err != nil && strings.Contains(strings.ToLower(err.Error()), "locale") && ctx.Err() == nil {
		c.log.Warn("initdb: locale C.UTF-8 unavailable; using C", "err", err)
		err = run("C")
	}
	if err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := c.acct.writeFile(filepath.Join(tmp, "pg_hba.conf"), []byte(hbaConf), 0o600); err != nil {
		return err
	}
	if err := appendInclude(filepath.Join(tmp, "postgresql.conf"), c.acct); err != nil {
		return err
	}
	if err := os.Rename(tmp, c.clusterDir); err != nil {
		return fmt.Errorf("pgembed: initdb: %w", err)
	}
	if !c.fast {
		if d, err := os.Open(c.dataDir); err == nil {
			d.Sync()
			d.Close()
		}
	}
	c.log.Info("initialised cluster", "user", c.acct.name, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// ensureInclude makes postgresql.conf read citygrid.conf.
func (c *Cluster) ensureInclude() error {
	return appendInclude(filepath.Join(c.clusterDir, "postgresql.conf"), c.acct)
}

func appendInclude(conf string, a *account) error {
	b, err := os.ReadFile(conf)
	if err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	if strings.Contains(string(b), includeLine) {
		return nil
	}
	s := strings.TrimRight(string(b), "\n") + "\n\n# citygrid's settings (rewritten on every start).\n" + includeLine + "\n"
	return a.writeFile(conf, []byte(s), 0o600)
}

// errPostmasterGone: the postmaster exited while we waited for it.
var errPostmasterGone = errors.New("postmaster exited")

// waitReady connects until the server answers or ctx ends.
func (c *Cluster) waitReady(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(c.ConnStringFor("postgres"))
	if err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	cfg.ConnectTimeout = 5 * time.Second
	delay := 10 * time.Millisecond
	for {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			err = conn.Ping(ctx)
			conn.Close(context.Background())
			if err == nil {
				return nil
			}
		}
		if c.pid > 0 && !postmasterAlive(c.pid, c.clusterDir) {
			return &cmdError{cmd: "connect to " + c.where(), err: fmt.Errorf("%w (last error: %v)", errPostmasterGone, err),
				log: logTail(c.clusterDir, -1)}
		}
		select {
		case <-ctx.Done():
			return &cmdError{cmd: "connect to " + c.where(), err: fmt.Errorf("%w (last error: %v)", ctx.Err(), err),
				log: logTail(c.clusterDir, -1)}
		case <-time.After(delay):
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}

func (c *Cluster) where() string {
	if c.socketDir != "" {
		return fmt.Sprintf("socket %s port %d", c.socketDir, c.port)
	}
	return net.JoinHostPort(c.host, strconv.Itoa(c.port))
}

// setPassword stores the current password in the cluster (used when the
// password file had to be recreated for an existing cluster).
func (c *Cluster) setPassword(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, c.ConnStringFor("postgres"))
	if err != nil {
		return fmt.Errorf("pgembed: set password: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "ALTER ROLE "+pgx.Identifier{superuser}.Sanitize()+" PASSWORD "+pgQuote(c.password)); err != nil {
		return fmt.Errorf("pgembed: set password: %w", err)
	}
	c.log.Info("superuser password reset from a new password file")
	return nil
}

// EnsureDatabase creates the database name if it is missing and makes sure
// the PostGIS extension is installed in it.
func (c *Cluster) EnsureDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, c.ConnStringFor("postgres"))
	if err != nil {
		return fmt.Errorf("pgembed: ensure database %q: %w", name, err)
	}
	var exists bool
	err = conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists)
	if err == nil && !exists {
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		if pgCode(err) == "42P04" { // duplicate_database: created meanwhile
			err = nil
		}
		if err == nil {
			c.log.Info("created database", "database", name)
		}
	}
	conn.Close(context.Background())
	if err != nil {
		return fmt.Errorf("pgembed: ensure database %q: %w", name, err)
	}

	conn, err = pgx.Connect(ctx, c.ConnStringFor(name))
	if err != nil {
		return fmt.Errorf("pgembed: ensure database %q: %w", name, err)
	}
	defer conn.Close(context.Background())
	for range 3 {
		_, err = conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS postgis")
		switch pgCode(err) {
		case "23505", "42710": // created concurrently by another session
			continue
		}
		break
	}
	if err != nil {
		return fmt.Errorf("pgembed: CREATE EXTENSION postgis in %q: %w (is postgresql-%d-postgis-3 installed?)", name, err, c.inst.major)
	}
	return nil
}

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// Stop shuts the postmaster down (pg_ctl stop -m fast) when this Cluster
// started it (or its supervisor restarted it); for an attached cluster it
// does nothing. Either way it ends supervision. Stop is idempotent.
func (c *Cluster) Stop(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return nil
	}
	if !c.owned {
		c.stopped = true // nothing to shut down; ends a supervisor
		return nil
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultTimeout)
		defer cancel()
	}
	release, err := lockDataDir(ctx, c.dataDir)
	if err != nil {
		return err
	}
	defer release()
	if pf, err := readPidFile(c.pidPath()); err != nil || pf.pid != c.pid || !postmasterAlive(pf.pid, c.clusterDir) {
		// Already stopped (or crashed), or stopped and started again by someone else.
		c.stopped = true
		return nil
	}
	t0 := time.Now()
	// Tells the supervisors of other processes (another serve attached to
	// this cluster) that it was a citygrid process finishing, not an operator.
	noteStop(c.dataDir, c.pid)
	if err := c.pgCtlStop(ctx); err != nil {
		return err
	}
	c.stopped = true
	if !strings.HasPrefix(c.socketDir, c.dataDir+string(filepath.Separator)) {
		os.Remove(c.socketDir) // the per-data-dir directory under /tmp, when empty
	}
	c.log.Info("stopped cluster", "pid", c.pid, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

func (c *Cluster) pgCtlStop(ctx context.Context) error {
	offset := fileSize(c.startupLog())
	_, err := c.acct.run(ctx, c.pgCtl(), "stop", "-D", c.clusterDir, "-m", "fast", "-w", "-t", c.timeoutSecs(ctx))
	if err != nil {
		if _, serr := os.Stat(c.pidPath()); errors.Is(serr, os.ErrNotExist) {
			return nil
		}
		var ce *cmdError
		if errors.As(err, &ce) {
			ce.log = logTail(c.clusterDir, offset)
		}
		return err
	}
	return nil
}

// ConnString is the pgx connection string for Options.Database: the unix
// socket, as the superuser, with its password.
func (c *Cluster) ConnString() string { return c.ConnStringFor(c.database) }

// ConnStringFor is ConnString for another database of the cluster.
func (c *Cluster) ConnStringFor(db string) string {
	if c.socketDir == "" {
		return c.TCPConnStringFor(db)
	}
	q := url.Values{}
	q.Set("host", c.socketDir)
	q.Set("port", strconv.Itoa(c.port))
	q.Set("sslmode", "disable")
	u := url.URL{Scheme: "postgres", User: c.userinfo(), Path: "/" + db, RawQuery: q.Encode()}
	return u.String()
}

// TCPConnStringFor is the connection string for db over loopback TCP with
// password authentication, for clients that cannot reach the socket (which
// only the cluster's OS user and root can).
func (c *Cluster) TCPConnStringFor(db string) string {
	u := url.URL{Scheme: "postgres", User: c.userinfo(), Host: net.JoinHostPort(c.host, strconv.Itoa(c.port)),
		Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

func (c *Cluster) userinfo() *url.Userinfo {
	if c.password == "" {
		return url.User(superuser)
	}
	return url.UserPassword(superuser, c.password)
}

// Owned reports whether this process started the postmaster (and Stop stops it).
func (c *Cluster) Owned() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owned
}

// Port is the server's loopback TCP port (also part of the socket's name).
func (c *Cluster) Port() int { return c.port }

// PID is the postmaster's process ID (after a restart by Supervise, the new one's).
func (c *Cluster) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pid
}

// Dir is the cluster's data directory (DataDir/pg).
func (c *Cluster) Dir() string { return c.clusterDir }

// SocketDir is the unix socket directory; "" when the server has none.
func (c *Cluster) SocketDir() string { return c.socketDir }

// LogDir is where the server writes its logs.
func (c *Cluster) LogDir() string { return filepath.Join(c.clusterDir, logSubdir) }

// Database is the database Start ensured.
func (c *Cluster) Database() string { return c.database }
