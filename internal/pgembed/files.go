package pgembed

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Names inside the service's data dir.
const (
	clusterSubdir = "pg"          // the PostgreSQL data directory
	initSubdir    = "pg.init"     // initdb works here, then it is renamed to pg
	lockName      = "pg.lock"     // flock serialising init, start and stop
	passwordName  = "pg-password" // the superuser's password, mode 0600
	initPwName    = "pg.initpw"   // the password handed to initdb, removed after
	runSubdir     = "run"         // the unix socket directory, when its path is short

	confName       = "citygrid.conf" // settings rewritten on every start
	startupLogName = "startup.log"   // pg_ctl -l: what the postmaster says before its logger runs
	logSubdir      = "log"           // the logging collector's directory, in the cluster dir
)

// superuser is the cluster's superuser role.
const superuser = "citygrid"

// maxSocketDirLen keeps "<dir>/.s.PGSQL.<port>" within the 107 bytes a unix
// socket path may have.
const maxSocketDirLen = 107 - len("/.s.PGSQL.65535")

// socketDirFor picks the unix socket directory for a data dir: <dataDir>/run
// when that path is short enough, else a directory under /tmp named after a
// hash of the data dir, so that each data dir keeps its own.
func socketDirFor(dataDir string) string {
	d := filepath.Join(dataDir, runSubdir)
	if len(d) <= maxSocketDirLen {
		return d
	}
	sum := sha256.Sum256([]byte(dataDir))
	return filepath.Join("/tmp", "citygrid-pg-"+hex.EncodeToString(sum[:6]))
}

// prepareSocketDir creates the socket directory owned by the account with mode
// 0700. A directory outside the data dir (under /tmp) must not be a symlink
// and must belong to the account already if it exists.
func prepareSocketDir(dir, dataDir string, a *account) error {
	if len(dir) > maxSocketDirLen {
		return fmt.Errorf("pgembed: unix socket directory %s is too long (%d bytes, at most %d); use a shorter data dir or TMPDIR", dir, len(dir), maxSocketDirLen)
	}
	if strings.HasPrefix(dir, dataDir+string(filepath.Separator)) {
		return a.mkdir(dir, 0o700)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("pgembed: %w", err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("pgembed: unix socket directory %s is not a directory", dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if ok && int(st.Uid) != a.uid && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("pgembed: unix socket directory %s belongs to uid %d, not to %s; remove it", dir, st.Uid, a)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("pgembed: %w", err)
	}
	return a.chown(dir)
}

// removeStaleSockets deletes leftover socket and socket lock files of a
// postmaster that is gone. Only called under the data dir lock, when no
// postmaster of this cluster runs, on the cluster's private socket directory.
func removeStaleSockets(dir string) {
	names, _ := filepath.Glob(filepath.Join(dir, ".s.PGSQL.*"))
	for _, n := range names {
		os.Remove(n)
	}
}

// pidFile is what postmaster.pid says about a running postmaster.
type pidFile struct {
	pid       int
	dataDir   string
	port      int
	socketDir string
	listen    string
	status    string
}

// readPidFile parses DataDir/pg/postmaster.pid. Lines: PID, data directory,
// start time, port, first socket directory, first listen address, shared
// memory key, status.
func readPidFile(path string) (pidFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return pidFile{}, err
	}
	lines := strings.Split(string(b), "\n")
	line := func(i int) string {
		if i < len(lines) {
			return strings.TrimSpace(lines[i])
		}
		return ""
	}
	var pf pidFile
	pf.pid, err = strconv.Atoi(line(0))
	if err != nil || pf.pid <= 0 {
		return pidFile{}, fmt.Errorf("pgembed: %s: bad PID line %q", path, line(0))
	}
	pf.dataDir = line(1)
	pf.port, _ = strconv.Atoi(line(3))
	pf.socketDir = line(4)
	pf.listen = line(5)
	pf.status = line(7)
	return pf, nil
}

// postmasterAlive reports whether pid is a live postmaster of clusterDir. A
// dead PID, or one reused by a process that is not a postgres serving this
// directory, means the pid file is stale.
func postmasterAlive(pid int, clusterDir string) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	if stat, err := os.ReadFile(filepath.Join(proc, "stat")); err == nil {
		// "pid (comm) S ...": a zombie is dead but not yet reaped.
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) {
			if st := stat[i+2]; st == 'Z' || st == 'X' {
				return false
			}
		}
	}
	if comm, err := os.ReadFile(filepath.Join(proc, "comm")); err == nil {
		name := strings.TrimSpace(string(comm))
		if name != "postgres" && name != "postmaster" {
			return false
		}
	}
	if cwd, err := os.Readlink(filepath.Join(proc, "cwd")); err == nil {
		want := clusterDir
		if r, err := filepath.EvalSymlinks(clusterDir); err == nil {
			want = r
		}
		if filepath.Clean(strings.TrimSuffix(cwd, " (deleted)")) != want {
			return false
		}
	}
	return true
}

// lockDataDir takes an exclusive flock on DataDir/pg.lock, polling until ctx
// ends. Each call opens its own descriptor, so goroutines of one process
// exclude each other as processes do.
func lockDataDir(ctx context.Context, dataDir string) (release func(), err error) {
	path := filepath.Join(dataDir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("pgembed: lock: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("pgembed: lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("pgembed: waiting for the lock %s (another process is starting or stopping this cluster): %w", path, ctx.Err())
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// loadOrCreatePassword returns the superuser password from DataDir/pg-password,
// generating it (mode 0600) when missing; created reports a new one.
func loadOrCreatePassword(dataDir string) (pw string, created bool, err error) {
	path := filepath.Join(dataDir, passwordName)
	b, err := os.ReadFile(path)
	if err == nil {
		if pw := strings.TrimSpace(string(b)); pw != "" {
			return pw, false, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("pgembed: read password: %w", err)
	}
	var raw [24]byte
	if _, err := io.ReadFull(rand.Reader, raw[:]); err != nil {
		return "", false, fmt.Errorf("pgembed: generate password: %w", err)
	}
	pw = base64.RawURLEncoding.EncodeToString(raw[:])
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(pw+"\n"), 0o600); err != nil {
		return "", false, fmt.Errorf("pgembed: write password: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", false, fmt.Errorf("pgembed: write password: %w", err)
	}
	return pw, true, nil
}

// freePort asks the kernel for a free loopback TCP port.
func freePort() (int, error) {
	for range 10 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, fmt.Errorf("pgembed: pick a port: %w", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		if port != systemPort {
			return port, nil
		}
	}
	return 0, errors.New("pgembed: pick a port: no free port")
}

// portFree reports whether port can be bound on loopback right now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

var confPortRE = regexp.MustCompile(`(?m)^\s*port\s*=\s*(\d+)`)

// configuredPort is the port the last start wrote into citygrid.conf; 0 if none.
func configuredPort(clusterDir string) int {
	b, err := os.ReadFile(filepath.Join(clusterDir, confName))
	if err != nil {
		return 0
	}
	m := confPortRE.FindSubmatch(b)
	if m == nil {
		return 0
	}
	p, _ := strconv.Atoi(string(m[1]))
	return p
}

// pgQuote quotes s as a configuration-file or SQL string literal.
func pgQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// settings renders citygrid.conf, tuned for a 2-core, 24 GiB machine that
// also runs the service.
func settings(port int, socketDir string, fast bool) string {
	dsm := "posix"
	var fs syscall.Statfs_t
	if err := syscall.Statfs("/dev/shm", &fs); err != nil || uint64(fs.Blocks)*uint64(fs.Bsize) < 1<<30 {
		// A small /dev/shm (common in containers) breaks parallel hash joins.
		dsm = "mmap"
	}
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	p("# Written by citygrid on every start of the embedded cluster; edits here are lost.")
	p("# For lasting changes use ALTER SYSTEM (postgresql.auto.conf is read after this file).")
	p("")
	p("# Connections: loopback TCP with passwords, a private unix socket without.")
	p("listen_addresses = '127.0.0.1'")
	p("port = %d", port)
	p("unix_socket_directories = %s", pgQuote(socketDir))
	p("unix_socket_permissions = 0700")
	p("password_encryption = 'scram-sha-256'")
	p("max_connections = 200")
	p("superuser_reserved_connections = 3")
	p("")
	p("# Memory (24 GiB machine, shared with the service).")
	p("shared_buffers = 512MB")
	p("effective_cache_size = 12GB")
	p("work_mem = 16MB")
	p("maintenance_work_mem = 256MB")
	p("dynamic_shared_memory_type = %s", dsm)
	p("")
	p("# CPU (2 cores). Request-path connections may lower max_parallel_workers_per_gather.")
	p("max_worker_processes = 8")
	p("max_parallel_workers = 2")
	p("max_parallel_workers_per_gather = 2")
	p("max_parallel_maintenance_workers = 2")
	p("jit = off")
	p("")
	p("# Storage and WAL (SSD).")
	p("random_page_cost = 1.1")
	p("effective_io_concurrency = 200")
	p("wal_buffers = 64MB")
	p("wal_compression = lz4")
	p("checkpoint_timeout = 15min")
	p("min_wal_size = 256MB")
	p("max_wal_size = 4GB")
	p("checkpoint_completion_target = 0.9")
	if fast {
		p("")
		p("# Fast mode (tests): no durability across a crash of the machine or the server.")
		p("fsync = off")
		p("synchronous_commit = off")
		p("full_page_writes = off")
	}
	p("")
	p("# Logging, to files under the cluster directory.")
	p("logging_collector = on")
	p("log_directory = %s", pgQuote(logSubdir))
	p("log_filename = 'postgresql-%%a.log'")
	p("log_rotation_age = 1d")
	p("log_rotation_size = 0")
	p("log_truncate_on_rotation = on")
	p("log_line_prefix = '%%m [%%p] %%q%%u@%%d '")
	p("log_min_duration_statement = 2s")
	p("log_lock_waits = on")
	p("log_temp_files = 64MB")
	p("")
	p("timezone = 'UTC'")
	p("log_timezone = 'UTC'")
	return b.String()
}

// hbaConf is pg_hba.conf. Local (unix socket) connections are trusted: the
// socket directory and the socket are mode 0700, so only the cluster's OS user
// (and root) can reach them. Loopback TCP needs the password.
const hbaConf = `# Written by citygrid for its embedded cluster.
# Unix-socket connections are trusted only because the socket directory and the
# socket are mode 0700 (unix_socket_permissions): just the cluster's OS user and
# root can reach them. TCP is loopback-only and needs the superuser's password.
# TYPE  DATABASE        USER            ADDRESS                 METHOD
local   all             all                                     trust
host    all             all             127.0.0.1/32            scram-sha-256
local   replication     all                                     trust
host    replication     all             127.0.0.1/32            scram-sha-256
`

// includeLine hooks citygrid.conf into postgresql.conf.
const includeLine = "include_if_exists 'citygrid.conf'"

// logTail returns the last lines of the startup log from offset on, and of
// the newest collector log file.
func logTail(clusterDir string, startupOffset int64) string {
	var parts []string
	if s := readFrom(filepath.Join(clusterDir, logSubdir, startupLogName), startupOffset); strings.TrimSpace(s) != "" {
		parts = append(parts, tailLines(s, 20))
	}
	if newest := newestLog(filepath.Join(clusterDir, logSubdir)); newest != "" {
		if s := readFrom(newest, -1); strings.TrimSpace(s) != "" {
			parts = append(parts, "("+newest+")\n"+tailLines(s, 20))
		}
	}
	return strings.Join(parts, "\n")
}

// readFrom reads a file from offset; a negative offset reads its last 16 KiB.
func readFrom(path string, offset int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if offset < 0 {
		if fi, err := f.Stat(); err == nil && fi.Size() > 16<<10 {
			offset = fi.Size() - 16<<10
		} else {
			offset = 0
		}
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return string(b)
}

func newestLog(dir string) string {
	names, _ := filepath.Glob(filepath.Join(dir, "postgresql-*.log"))
	type nt struct {
		name string
		t    time.Time
	}
	var all []nt
	for _, n := range names {
		if fi, err := os.Stat(n); err == nil {
			all = append(all, nt{n, fi.ModTime()})
		}
	}
	if len(all) == 0 {
		return ""
	}
	sort.Slice(all, func(i, j int) bool { return all[i].t.After(all[j].t) })
	return all[0].name
}

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}
