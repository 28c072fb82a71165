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
// loads used only while reading, and — unless the operator set GOGC —
// lets the heap grow past what is live by about headroom before the
// collector runs, instead of by all of it (GOGC's default of 100).
// The read models are most of what is live and hold no pointers, so a
// collection costs little beside them while a replica at the default
// would hold twice their size. A load that fails leaves the settings as
// they are (queries go to SQL until a reload succeeds).
func settleMemory(ctx context.Context, log *slog.Logger, headroom int64, wait ...func(context.Context) error) {
	for _, w := range wait {
		if err := w(ctx); err != nil {
			return
		}
	}
	runtime.GC()
	debug.FreeOSMemory()
	live := heapLive()
	gogc, by := os.Getenv("GOGC"), "environment"
	if gogc == "" {
		pct := gcPercent(live, headroom)
		debug.SetGCPercent(pct)
		gogc, by = strconv.Itoa(pct), "serve"
	}
	log.Info("read models loaded; memory settled", "heap_live_mb", live>>20, "rss_mb", procRSS()>>20, "gc_percent", gogc, "gc_percent_set_by", by)
}

// gcPercent is the GOGC that lets a heap of live bytes grow by about
// headroom between collections: 10 at least, 100 at most.
func gcPercent(live, headroom int64) int {
	return int(min(max(headroom*100/max(live, 1), 10), 100))
}

// gcHeadroom is how far serve lets the heap grow past what is live.
const gcHeadroom = 32 << 20

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
