package pgembed

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Supervision: what a long-running process (`citygrid serve`) does when the
// postmaster of its embedded cluster goes away.
//
//   - A postmaster that dies without being asked to stop — killed (SIGKILL,
//     the OOM killer) or crashed — leaves its postmaster.pid behind. The
//     supervisor restarts the cluster at once, on the same port and socket,
//     so the service's connection string stays valid; PostgreSQL replays its
//     WAL before it accepts connections, so every committed transaction is
//     there. Failed restarts are retried with backoff (250 ms doubling to
//     30 s); so are postmasters that die again within a minute of a restart.
//   - A postmaster stopped by another citygrid process as it finished (a
//     command or a serve that had started the cluster for itself: its Stop
//     leaves a note naming the postmaster it stopped) is restarted too: this
//     process still needs it, and nobody meant to take it away.
//   - Any other shutdown — pg_ctl stop in any mode, or SIGTERM, SIGINT or
//     SIGQUIT sent to the postmaster — removes postmaster.pid and is an
//     operator's decision (maintenance, a file-level copy). The supervisor
//     leaves the cluster down, says so in the log (at once and every minute),
//     and watches again as soon as a postmaster runs the cluster again,
//     whoever started it: the service then reconnects by itself.
//   - A backend that crashes is PostgreSQL's own business: the postmaster
//     resets and recovers by itself. A regular connection check only logs
//     when the server stops and starts answering.
//
// Every restart happens under the data dir lock after looking for a running
// postmaster, so two supervisors (two serves on one data dir) or a supervisor
// and another citygrid command never start two: the loser watches the
// winner's. A cluster whose directory has lost its PG_VERSION is never
// re-initialised under a running service.

// stopNoteName is the note Stop leaves in the data dir: the PID of the
// postmaster it stopped.
const stopNoteName = "pg.stopped-by-citygrid"

// Events the supervisor reports (Event.Kind).
const (
	EventGone          = "gone"           // down, and to be restarted: died, or stopped by a finished citygrid process
	EventRestarted     = "restarted"      // a new postmaster answers, after WAL recovery
	EventRestartFailed = "restart-failed" // a restart failed; retried with backoff
	EventStopped       = "stopped"        // it was stopped on purpose and is left down
	EventRunning       = "running"        // another process runs the cluster now; watched
	EventNotAnswering  = "not-answering"  // the postmaster lives but refuses connections
	EventAnswering     = "answering"      // and answers again
)

// Event is one thing the supervisor noticed or did.
type Event struct {
	Kind string
	PID  int           // the postmaster concerned
	Took time.Duration // EventRestarted: from noticing the death to ready
	Wait time.Duration // EventGone: how long the restart waits (a postmaster that died again soon)
	Err  error         // EventRestartFailed, EventNotAnswering
}

// SuperviseOptions tune Supervise; the zero value is the default.
type SuperviseOptions struct {
	Poll    time.Duration // how often the postmaster process is looked at; default 200 ms
	Check   time.Duration // how often a connection checks that it answers; default 5 s
	OnEvent func(Event)   // called from the supervisor's goroutine; optional
}

const (
	restartBackoffMin = 250 * time.Millisecond
	restartBackoffMax = 30 * time.Second
	stableAfter       = time.Minute     // a restart counts as good when it lives this long
	downNoteEvery     = time.Minute     // how often a cluster left down is mentioned
	restartTimeout    = 5 * time.Minute // recovery of a large WAL may take a while
)

// Supervise watches the cluster's postmaster until ctx ends or Stop is
// called, restarting it after a crash as described above. It blocks; run it
// in its own goroutine and end it (cancel ctx, wait for it) before Stop.
func (c *Cluster) Supervise(ctx context.Context, o SuperviseOptions) {
	poll := cmp.Or(o.Poll, 200*time.Millisecond)
	check := cmp.Or(o.Check, 5*time.Second)
	emit := func(e Event) {
		if o.OnEvent != nil {
			o.OnEvent(e)
		}
	}
	s := supervisor{c: c, emit: emit, backoff: restartBackoffMin, nextCheck: time.Now().Add(check)}
	c.log.Info("supervising the postmaster", "pid", c.PID(), "poll", poll)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if c.isStopped() {
			return
		}
		now := time.Now()
		switch {
		case s.down:
			s.whileDown(ctx, now)
		case postmasterAlive(c.PID(), c.clusterDir):
			if now.After(s.nextCheck) {
				s.checkAnswers(ctx)
				s.nextCheck = time.Now().Add(check)
			}
			if !s.upSince.IsZero() && now.Sub(s.upSince) > stableAfter {
				s.backoff, s.upSince = restartBackoffMin, time.Time{}
			}
		default:
			s.gone(ctx, now)
		}
	}
}

// supervisor is Supervise's state; used by its goroutine only.
type supervisor struct {
	c    *Cluster
	emit func(Event)

	down      bool      // stopped on purpose: left down
	downNoted time.Time // when that was last logged
	diedAt    time.Time // when the death being handled was noticed
	retryAt   time.Time // the next restart attempt after a failure
	backoff   time.Duration
	upSince   time.Time // the last restart, until it has proved stable
	nextCheck time.Time
	silent    bool // the server does not answer (reported once)

	failedChecks int // connection checks failed in a row
}

// gone handles a postmaster that is no longer alive.
func (s *supervisor) gone(ctx context.Context, now time.Time) {
	c := s.c
	if c.isStopped() { // our own Stop
		return
	}
	dead := c.PID()
	pf, err := readPidFile(c.pidPath())
	if errors.Is(err, os.ErrNotExist) {
		// A start by another process removes a stale pid file before its
		// postmaster writes the new one, and holds the data dir lock
		// meanwhile: look again under the lock.
		release, lerr := lockDataDir(ctx, c.dataDir)
		if lerr != nil {
			return // ctx ended
		}
		pf, err = readPidFile(c.pidPath())
		release()
	}
	byCitygrid := errors.Is(err, os.ErrNotExist) && stoppedByCitygrid(c.dataDir, dead)
	switch {
	case err == nil && pf.pid != dead && postmasterAlive(pf.pid, c.clusterDir):
		s.adopt(pf.pid)
		return
	case errors.Is(err, os.ErrNotExist) && !byCitygrid:
		s.down, s.downNoted = true, now
		c.log.Warn("the embedded cluster was shut down (pg_ctl stop or a shutdown signal); leaving it down as whoever stopped it meant, and watching for it to run again",
			"pid", dead, "start", "pg_ctl start -D "+c.clusterDir+" (as its OS user), or restart the service")
		s.emit(Event{Kind: EventStopped, PID: dead})
		return
	}
	// Died without a shutdown, or stopped by a citygrid process that is done
	// with it: restart, unless a failed attempt asks to wait.
	if s.diedAt.IsZero() {
		s.diedAt = now
		reason := "its postmaster died without being asked to stop (killed or crashed)"
		if byCitygrid {
			reason = "another citygrid process stopped it as it finished, and this one still needs it"
		}
		var wait time.Duration
		if !s.upSince.IsZero() { // died again soon after a restart: back off
			wait = s.backoff
			s.retryAt = now.Add(wait)
			s.backoff = min(2*s.backoff, restartBackoffMax)
		}
		c.log.Warn("the embedded cluster is down: restarting it", "pid", dead, "why", reason, "in", wait)
		s.emit(Event{Kind: EventGone, PID: dead, Wait: wait})
	}
	if now.Before(s.retryAt) {
		return
	}
	s.restart(ctx)
}

// restart starts the cluster again and reports how it went.
func (s *supervisor) restart(ctx context.Context) {
	c := s.c
	// Once begun, a restart completes even if ctx ends: a postmaster
	// half-started and forgotten would outlive the service.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), restartTimeout)
	defer cancel()
	logOffset := newestLogSize(c.clusterDir)
	pid, adopted, err := c.restart(rctx)
	switch {
	case errors.Is(err, errClusterStopped):
		return
	case err != nil:
		s.retryAt = time.Now().Add(s.backoff)
		c.log.Error("restarting the embedded cluster failed; retrying", "err", err, "in", s.backoff)
		s.emit(Event{Kind: EventRestartFailed, Err: err})
		s.backoff = min(2*s.backoff, restartBackoffMax)
		return
	case adopted:
		s.adopt(pid)
		return
	}
	took := time.Since(s.diedAt)
	c.log.Info("restarted the embedded cluster", "pid", pid, "took", took.Round(time.Millisecond),
		"recovery", recoveryNote(c.clusterDir, logOffset))
	s.emit(Event{Kind: EventRestarted, PID: pid, Took: took})
	s.diedAt, s.retryAt, s.upSince = time.Time{}, time.Time{}, time.Now()
	s.silent, s.failedChecks = false, 0
}

// whileDown waits for someone to start the cluster again.
func (s *supervisor) whileDown(ctx context.Context, now time.Time) {
	c := s.c
	pf, err := readPidFile(c.pidPath())
	switch {
	case err == nil && postmasterAlive(pf.pid, c.clusterDir):
		if pf.status == "ready" {
			s.adopt(pf.pid)
		}
	case err == nil:
		// A postmaster started since has died without a shutdown: a crash.
		s.down = false
		c.setPID(pf.pid)
		s.gone(ctx, now)
	case now.Sub(s.downNoted) >= downNoteEvery:
		s.downNoted = now
		c.log.Warn("the embedded cluster is still shut down; the service answers what it can without it", "dir", c.clusterDir)
	}
}

// adopt watches a postmaster another process started.
func (s *supervisor) adopt(pid int) {
	c := s.c
	c.adopt(pid)
	c.log.Info("the embedded cluster runs again, started by another process; watching it", "pid", pid)
	s.emit(Event{Kind: EventRunning, PID: pid})
	s.down, s.diedAt, s.retryAt, s.silent, s.failedChecks = false, time.Time{}, time.Time{}, false, 0
}

// checkAnswers connects once to see that the server answers, and logs when
// that changes. A postmaster that lives but does not answer (crash recovery
// after a backend died, a full connection table) is left alone.
func (s *supervisor) checkAnswers(ctx context.Context) {
	c := s.c
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := c.ping(cctx)
	if ctx.Err() != nil || (err != nil && !postmasterAlive(c.PID(), c.clusterDir)) {
		return // ending, or it died: the next poll sees to that
	}
	if err != nil {
		if s.failedChecks++; s.failedChecks < 2 { // one refusal is a moment (shutting down, starting)
			return
		}
	} else {
		s.failedChecks = 0
	}
	switch {
	case err != nil && !s.silent:
		s.silent = true
		c.log.Warn("the embedded cluster's postmaster runs but does not answer", "pid", c.PID(), "err", err)
		s.emit(Event{Kind: EventNotAnswering, PID: c.PID(), Err: err})
	case err == nil && s.silent:
		s.silent = false
		c.log.Info("the embedded cluster answers again", "pid", c.PID())
		s.emit(Event{Kind: EventAnswering, PID: c.PID()})
	}
}

func (c *Cluster) ping(ctx context.Context) error {
	cfg, err := pgx.ParseConfig(c.ConnStringFor("postgres"))
	if err != nil {
		return err
	}
	cfg.ConnectTimeout = 5 * time.Second
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	return conn.Ping(ctx)
}

// errClusterStopped: Stop was called; nothing is restarted any more.
var errClusterStopped = errors.New("pgembed: the cluster was stopped")

// restart starts the cluster's postmaster again under the data dir lock, on
// the same port, or adopts one that another process started meanwhile. It
// holds c.mu throughout, so a Stop waits for it and then stops what it
// started.
func (c *Cluster) restart(ctx context.Context) (pid int, adopted bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return 0, false, errClusterStopped
	}
	if !isFile(filepath.Join(c.clusterDir, "PG_VERSION")) {
		return 0, false, fmt.Errorf("pgembed: %s holds no cluster any more (no PG_VERSION); not initialising a new, empty one under a running service", c.clusterDir)
	}
	release, err := lockDataDir(ctx, c.dataDir)
	if err != nil {
		return 0, false, err
	}
	defer release()
	// A fresh Cluster value for the start: the fields readers use without
	// the lock (port, socket, password) must not be written, and they come
	// out the same.
	n := &Cluster{inst: c.inst, acct: c.acct, log: c.log, dataDir: c.dataDir, clusterDir: c.clusterDir,
		database: c.database, fast: c.fast, host: c.host}
	pf, running, err := n.findRunning(ctx)
	if err != nil {
		return 0, false, err
	}
	if running {
		c.pid, c.owned = pf.pid, false
		return pf.pid, true, nil
	}
	if err := n.start(ctx, c.port); err != nil {
		return 0, false, err
	}
	if n.port != c.port || n.socketDir != c.socketDir {
		// Cannot happen (the port is asked for, the socket follows the data
		// dir); the service's connection string would be wrong.
		c.log.Error("the restarted cluster listens elsewhere", "port", n.port, "socket_dir", n.socketDir)
	}
	c.pid, c.owned = n.pid, true
	return n.pid, false, nil
}

func (c *Cluster) isStopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped
}

func (c *Cluster) setPID(pid int) {
	c.mu.Lock()
	c.pid = pid
	c.mu.Unlock()
}

// adopt makes pid, started by another process, the postmaster this Cluster
// follows; its Stop leaves it alone.
func (c *Cluster) adopt(pid int) {
	c.mu.Lock()
	if c.pid != pid {
		c.pid, c.owned = pid, false
	}
	c.mu.Unlock()
}

// noteStop records, before Stop shuts pid down, that a citygrid process did.
func noteStop(dataDir string, pid int) {
	_ = os.WriteFile(filepath.Join(dataDir, stopNoteName), []byte(strconv.Itoa(pid)+"\n"), 0o644)
}

// stoppedByCitygrid reports whether Stop of a citygrid process shut pid down.
func stoppedByCitygrid(dataDir string, pid int) bool {
	b, err := os.ReadFile(filepath.Join(dataDir, stopNoteName))
	if err != nil {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err == nil && n == pid
}

func newestLogSize(clusterDir string) int64 {
	if n := newestLog(filepath.Join(clusterDir, logSubdir)); n != "" {
		return fileSize(n)
	}
	return 0
}

// recoveryNote picks what the server logged about its crash recovery since
// offset in its newest log: "redo done at …", or that none was needed.
func recoveryNote(clusterDir string, offset int64) string {
	n := newestLog(filepath.Join(clusterDir, logSubdir))
	if n == "" {
		return ""
	}
	if fileSize(n) < offset { // a new log file (rotation): read it whole
		offset = 0
	}
	var notes []string
	sc := bufio.NewScanner(strings.NewReader(readFrom(n, offset)))
	for sc.Scan() {
		line := sc.Text()
		for _, s := range []string{"automatic recovery in progress", "redo done at", "redo is not required", "database system is ready"} {
			if i := strings.Index(line, s); i >= 0 {
				notes = append(notes, line[i:])
			}
		}
	}
	return strings.Join(notes, "; ")
}
