package pgembed

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// supervised runs c.Supervise until the test ends, its events on a channel.
func supervised(t *testing.T, c *Cluster) <-chan Event {
	t.Helper()
	events := make(chan Event, 64)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Supervise(ctx, SuperviseOptions{Poll: 50 * time.Millisecond, Check: 200 * time.Millisecond, OnEvent: func(e Event) {
			t.Logf("supervisor of %p: %s pid %d %v", c, e.Kind, e.PID, e.Err)
			events <- e
		}})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return events
}

// await waits for an event of kind, failing on a timeout; other kinds are
// skipped unless they are in fatal.
func await(t *testing.T, events <-chan Event, kind string, fatal ...string) Event {
	t.Helper()
	timeout := time.After(90 * time.Second)
	for {
		select {
		case e := <-events:
			if e.Kind == kind {
				return e
			}
			for _, f := range fatal {
				if e.Kind == f {
					t.Fatalf("supervisor: %s (pid %d, %v) while waiting for %s", e.Kind, e.PID, e.Err, kind)
				}
			}
		case <-timeout:
			t.Fatalf("no %s event within 90 s", kind)
		}
	}
}

// crash kills the postmaster and its children with SIGKILL, as the OOM
// killer or a power cut of the process tree would, and waits until they are
// gone.
func crash(t *testing.T, pid int) {
	t.Helper()
	pids := append(childrenOf(pid), pid)
	for _, p := range pids {
		_ = syscall.Kill(p, syscall.SIGKILL)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range pids {
		for syscall.Kill(p, 0) == nil && !zombie(p) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d survived SIGKILL", p)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

func childrenOf(pid int) []int {
	var out []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(stat)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, p)
		}
	}
	return out
}

func zombie(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return true
	}
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && (s[i+2] == 'Z' || s[i+2] == 'X')
}

// durableRow commits a row with synchronous_commit on (the Fast clusters
// of tests turn it off), so that a crash cannot take it.
func durableRow(t *testing.T, c *Cluster, name string) {
	t.Helper()
	conn := connect(t, c.ConnString())
	ctx := context.Background()
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS kept (name text PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SET synchronous_commit = on`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO kept VALUES ($1)`, name); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
}

func hasRow(t *testing.T, c *Cluster, name string) bool {
	t.Helper()
	conn := connect(t, c.ConnString())
	defer conn.Close(context.Background())
	return queryInt(t, conn, `SELECT count(*) FROM kept WHERE name = $1`, name) == 1
}

// TestSuperviseRestartsAfterACrash: SIGKILL of the postmaster and its
// children is followed by a restart on the same port and socket, through
// WAL recovery, with the committed row still there; Stop then stops the new
// postmaster and ends supervision.
func TestSuperviseRestartsAfterACrash(t *testing.T) {
	needPostgres(t)
	t.Parallel()
	c := start(t, Options{DataDir: dataDir(t), Database: "crash", Fast: true})
	conn := c.ConnString()
	events := supervised(t, c)
	durableRow(t, c, "before the crash")

	old := c.PID()
	crash(t, old)
	if e := await(t, events, EventGone); e.Wait != 0 {
		t.Errorf("the first restart waits %v", e.Wait)
	}
	e := await(t, events, EventRestarted, EventRestartFailed)
	if e.PID == old || c.PID() != e.PID || !c.Owned() {
		t.Fatalf("after the restart: event pid %d, PID() %d (crashed %d), owned %v", e.PID, c.PID(), old, c.Owned())
	}
	if c.ConnString() != conn {
		t.Fatalf("the connection string changed: %s, was %s", c.ConnString(), conn)
	}
	if !hasRow(t, c, "before the crash") {
		t.Fatal("the committed row is gone after the restart")
	}
	if note := recoveryNote(c.Dir(), 0); !strings.Contains(note, "automatic recovery in progress") {
		t.Errorf("the server log does not show a crash recovery: %q", note)
	}

	// Dead again right after its restart: the next restart waits, longer
	// each time, until a postmaster has lived a minute.
	var waits []time.Duration
	for range 2 {
		crash(t, c.PID())
		waits = append(waits, await(t, events, EventGone).Wait)
		await(t, events, EventRestarted, EventRestartFailed)
	}
	if waits[0] != restartBackoffMin || waits[1] != 2*restartBackoffMin {
		t.Errorf("restarts after quick deaths waited %v, want %v then %v", waits, restartBackoffMin, 2*restartBackoffMin)
	}
	if !hasRow(t, c, "before the crash") {
		t.Fatal("the committed row is gone after three crashes")
	}
	stop(t, c)
	if _, err := os.Stat(filepath.Join(c.Dir(), "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("postmaster.pid after Stop: %v", err)
	}
}

// TestSuperviseRespectsAShutdown: a fast shutdown (SIGINT, what pg_ctl stop
// -m fast sends) is left alone; a postmaster started again by someone else
// is watched, and restarted when it crashes.
func TestSuperviseRespectsAShutdown(t *testing.T) {
	needPostgres(t)
	t.Parallel()
	dir := dataDir(t)
	opts := Options{DataDir: dir, Database: "shutdown", Fast: true}
	c := start(t, opts)
	events := supervised(t, c)
	old := c.PID()
	if err := syscall.Kill(old, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	e := await(t, events, EventStopped, EventGone, EventRestarted)
	if e.PID != old {
		t.Fatalf("stopped event for pid %d, want %d", e.PID, old)
	}
	if _, err := os.Stat(filepath.Join(c.Dir(), "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("the cluster runs again after a shutdown the supervisor should respect (postmaster.pid: %v)", err)
	}

	// The operator starts it again: the supervisor follows the new postmaster.
	op := start(t, opts)
	if !op.Owned() {
		t.Fatal("the operator's start attached to something")
	}
	e = await(t, events, EventRunning, EventGone, EventRestarted)
	if e.PID != op.PID() || c.PID() != op.PID() || c.Owned() {
		t.Fatalf("watching pid %d (owned %v), the operator's is %d", c.PID(), c.Owned(), op.PID())
	}
	durableRow(t, c, "after the operator's start")

	// It crashes: the supervisor restarts it, and owns the new one.
	crash(t, op.PID())
	await(t, events, EventGone, EventStopped)
	e = await(t, events, EventRestarted, EventRestartFailed)
	if !c.Owned() || c.PID() != e.PID {
		t.Fatalf("after restarting the operator's cluster: owned %v pid %d, event %d", c.Owned(), c.PID(), e.PID)
	}
	if !hasRow(t, c, "after the operator's start") {
		t.Fatal("the committed row is gone")
	}
	stop(t, op) // the operator's postmaster is gone: nothing to do
	if queryInt(t, connect(t, c.ConnString()), "SELECT 1") != 1 {
		t.Fatal("the operator's Stop took the supervisor's postmaster down")
	}
}

// TestSuperviseTakesOverFromAFinishedProcess: two processes share a
// cluster; when the one that started it stops it as it finishes, the
// other's supervisor starts it again and owns it. Two supervisors racing
// on a crash start one postmaster.
func TestSuperviseTakesOverFromAFinishedProcess(t *testing.T) {
	needPostgres(t)
	t.Parallel()
	dir := dataDir(t)
	opts := Options{DataDir: dir, Database: "handover", Fast: true}
	first := start(t, opts)
	second := start(t, opts)
	if second.Owned() {
		t.Fatal("the second Start owns the cluster")
	}
	firstEvents := supervised(t, first)
	secondEvents := supervised(t, second)
	durableRow(t, first, "shared")

	// Both supervise; a crash is restarted by one and adopted by the other.
	crash(t, first.PID())
	var restarted, adopted int
	timeout := time.After(90 * time.Second)
	for restarted+adopted < 2 {
		var e Event
		select {
		case e = <-firstEvents:
		case e = <-secondEvents:
		case <-timeout:
			t.Fatalf("within 90 s of the crash: %d restarted, %d adopted", restarted, adopted)
		}
		switch e.Kind {
		case EventRestarted:
			restarted++
		case EventRunning:
			adopted++
		case EventStopped, EventRestartFailed:
			t.Fatalf("a supervisor: %s (%v)", e.Kind, e.Err)
		}
	}
	if restarted != 1 || adopted != 1 || first.PID() != second.PID() || first.Owned() == second.Owned() {
		t.Fatalf("after the crash: %d restarted, %d adopted; pids %d %d, owned %v %v",
			restarted, adopted, first.PID(), second.PID(), first.Owned(), second.Owned())
	}
	owner, other, otherEvents := first, second, secondEvents
	if second.Owned() {
		owner, other, otherEvents = second, first, firstEvents
	}

	// The owner finishes and stops the cluster; the other takes over.
	stop(t, owner)
	e := await(t, otherEvents, EventRestarted, EventStopped, EventRestartFailed)
	if !other.Owned() || other.PID() != e.PID {
		t.Fatalf("after the owner's Stop: owned %v pid %d, event %d", other.Owned(), other.PID(), e.PID)
	}
	if !hasRow(t, other, "shared") {
		t.Fatal("the row is gone")
	}
	stop(t, other)
	if _, err := os.Stat(filepath.Join(dir, clusterSubdir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("postmaster.pid after the last Stop: %v", err)
	}
}
