package main

import (
	"context"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
)

// settleMemory waits until every read model has its first full load in
// (wait, one function each), then gives back to the system the memory the
// loads used only while reading, and — unless the operator set GOMEMLIMIT —
// sets the Go runtime's soft memory limit to what is live then, plus what
// the caches may grow to (cacheBytes), plus a margin (a quarter of the live
// heap, at least 64 MB). Without a limit the heap grows to twice what is
// live before the collector runs (GOGC's default), and the read models are
// most of what is live, so a serving replica would hold twice their size.
// The limit is soft: past it the collector runs more often, never more than
// half the CPU, and nothing fails. A load that fails leaves the settings as
// they are (queries go to SQL until a reload succeeds).
func settleMemory(ctx context.Context, log *slog.Logger, cacheBytes int64, wait ...func(context.Context) error) {
	for _, w := range wait {
		if err := w(ctx); err != nil {
			return
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	live := heapLive()
	limit := "GOMEMLIMIT " + os.Getenv("GOMEMLIMIT")
	if os.Getenv("GOMEMLIMIT") == "" {
		n := live + cacheBytes + max(live/4, 64<<20)
		debug.SetMemoryLimit(n)
		limit = strconv.FormatInt(n>>20, 10) + " MB"
	}
	log.Info("read models loaded; memory settled", "heap_live_mb", live>>20, "rss_mb", procRSS()>>20, "memory_limit", limit)
}

// heapLive is the heap the last collection found live, in bytes.
func heapLive() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// procRSS is this process's resident set size in bytes (0 where /proc
// does not tell).
func procRSS() int64 { return statusRSS("/proc/self/status") }

// statusRSS reads VmRSS from a /proc/PID/status file, in bytes.
func statusRSS(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}
