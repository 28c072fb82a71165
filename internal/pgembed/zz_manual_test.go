package pgembed

import (
	"context"
	"os"
	"syscall"
	"testing"
	"time"
)

func TestZZShared(t *testing.T) {
	dir := os.Getenv("ZZ_DIR")
	if dir == "" {
		t.Skip()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := Start(ctx, Options{DataDir: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("RESULT owned=%v pid=%d port=%d", c.Owned(), c.PID(), c.Port())
	time.Sleep(2 * time.Second)
	if err := c.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestZZCrash(t *testing.T) {
	if os.Getenv("ZZ_CRASH") == "" {
		t.Skip()
	}
	dir := dataDir(t)
	c := start(t, Options{DataDir: dir, Fast: true})
	conn := connect(t, c.ConnString())
	_ = conn
	syscall.Kill(c.PID(), syscall.SIGKILL)
	time.Sleep(20 * time.Millisecond)
	c2 := start(t, Options{DataDir: dir, Fast: true})
	t.Logf("after crash owned=%v", c2.Owned())
	conn2 := connect(t, c2.ConnString())
	if queryInt(t, conn2, "SELECT 1") != 1 {
		t.Fatal()
	}
	c.stopped = true
}
