package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
)

// RollupChannel tells every replica which rollup slices (category × local
// day) a committed write touched, so that in-memory heatmap read models
// reload them. Payload: "origin;cat=day[-day],…;cat=…" with days as
// YYYYMMDD, or "origin;*" for everything.
const RollupChannel = "citygrid_rollup"

// maxPayload keeps a notification under PostgreSQL's 8,000-byte limit.
const maxPayload = 7900

// rollupFeed reports touched slices: to this process's listener at once
// after commit, and to the other replicas by NOTIFY — inside the bulk
// transaction (a batch is rare and large), and for single creates in one
// NOTIFY per short interval after commit, so that concurrent creates do
// not queue on the notification lock at commit.
type rollupFeed struct {
	origin string

	mu         sync.Mutex
	local      func([]grid.RollupSlice)
	pending    map[grid.RollupSlice]struct{}
	scheduled  bool
	singles    map[grid.RollupSlice]int  // single creates since the slice was last merged
	compacting map[grid.RollupSlice]bool // merges running
	merges     sync.WaitGroup            // the same, for Close
}

func newRollupFeed() *rollupFeed {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &rollupFeed{origin: hex.EncodeToString(b), pending: map[grid.RollupSlice]struct{}{},
		singles: map[grid.RollupSlice]int{}, compacting: map[grid.RollupSlice]bool{}}
}

// OnRollupChange registers f to hear of the slices this process's writes
// touched, once they have committed (before the write returns).
func (db *DB) OnRollupChange(f func([]grid.RollupSlice)) {
	db.feed.mu.Lock()
	db.feed.local = f
	db.feed.mu.Unlock()
}

func (db *DB) committed(ss []grid.RollupSlice) {
	db.feed.mu.Lock()
	f := db.feed.local
	db.feed.mu.Unlock()
	if f != nil {
		f(ss)
	}
}

// createdOne reports a single create's slice once it has committed: to this
// process at once, to the other replicas in the next coalesced NOTIFY, and
// to the merging of busy slices.
func (db *DB) createdOne(s grid.RollupSlice) {
	ss := []grid.RollupSlice{s}
	db.committed(ss)
	db.notifyLater(ss)
	db.countSingles(ss)
}

// notifyLater queues slices for the next coalesced NOTIFY.
func (db *DB) notifyLater(ss []grid.RollupSlice) { db.notifyAfter(ss, 20*time.Millisecond) }

func (db *DB) notifyAfter(ss []grid.RollupSlice, wait time.Duration) {
	f := db.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range ss {
		f.pending[s] = struct{}{}
	}
	if !f.scheduled {
		f.scheduled = true
		time.AfterFunc(wait, db.flushNotify)
	}
}

func (db *DB) flushNotify() {
	f := db.feed
	f.mu.Lock()
	ss := make([]grid.RollupSlice, 0, len(f.pending))
	for s := range f.pending {
		ss = append(ss, s)
	}
	clear(f.pending)
	f.scheduled = false
	f.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, RollupChannel, encodeSlices(f.origin, ss)); err != nil {
		// The database is away: keep the slices and try again in a second.
		// (Other replicas' listeners lose their connection too, and reload
		// everything when it is back.)
		db.notifyAfter(ss, time.Second)
	}
}

// encodeSlices renders a payload: per category, runs of consecutive days.
func encodeSlices(origin string, ss []grid.RollupSlice) string {
	byCat := map[string][]time.Time{}
	for _, s := range ss {
		byCat[s.Category] = append(byCat[s.Category], s.Day.Time())
	}
	cats := make([]string, 0, len(byCat))
	for c := range byCat {
		cats = append(cats, c)
	}
	slices.Sort(cats)
	var b strings.Builder
	b.WriteString(origin)
	for _, c := range cats {
		days := byCat[c]
		slices.SortFunc(days, func(a, b time.Time) int { return a.Compare(b) })
		days = slices.Compact(days)
		b.WriteString(";" + c + "=")
		for i := 0; i < len(days); {
			j := i
			for j+1 < len(days) && days[j+1].Equal(days[j].AddDate(0, 0, 1)) {
				j++
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(days[i].Format("20060102"))
			if j > i {
				b.WriteString("-" + days[j].Format("20060102"))
			}
			i = j + 1
		}
	}
	if b.Len() > maxPayload {
		return origin + ";*"
	}
	return b.String()
}

// decodeSlices reads a payload; all reports "*".
func decodeSlices(p string) (origin string, all bool, ss []grid.RollupSlice, err error) {
	parts := strings.Split(p, ";")
	origin = parts[0]
	for _, part := range parts[1:] {
		if part == "*" {
			return origin, true, nil, nil
		}
		cat, days, ok := strings.Cut(part, "=")
		if !ok {
			return origin, false, nil, fmt.Errorf("rollup notification %q: no '=' in %q", p, part)
		}
		for _, run := range strings.Split(days, ",") {
			a, b, _ := strings.Cut(run, "-")
			if b == "" {
				b = a
			}
			from, err1 := time.Parse("20060102", a)
			to, err2 := time.Parse("20060102", b)
			if err1 != nil || err2 != nil || to.Before(from) || to.Sub(from) > 4000*24*time.Hour {
				return origin, false, nil, fmt.Errorf("rollup notification %q: bad day run %q", p, run)
			}
			for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
				ss = append(ss, grid.RollupSlice{Category: cat, Day: grid.DateOf(d)})
			}
		}
	}
	return origin, false, ss, nil
}

// ListenRollups calls onChange with the slices that other replicas' writes
// touched, and with all=true after every (re)connect, since notifications
// sent while disconnected are lost. This process's own writes are reported
// through OnRollupChange instead. It returns when ctx ends.
func (db *DB) ListenRollups(ctx context.Context, onChange func(ss []grid.RollupSlice, all bool), log *slog.Logger) {
	db.listen(ctx, RollupChannel, func(p string) {
		origin, all, ss, err := decodeSlices(p)
		if err != nil {
			log.Warn("unreadable rollup notification; reloading every slice", "err", err)
			onChange(nil, true)
			return
		}
		if origin != db.feed.origin {
			onChange(ss, all)
		}
	}, func() { onChange(nil, true) }, log)
}
