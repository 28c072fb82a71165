package postgres

import (
	"cmp"
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
	"github.com/jackc/pgx/v5/pgconn"
)

// RollupChannel tells every replica which rollup slices (category × town
// × local day) a committed write touched, so that in-memory heatmap read
// models reload them. Payload: "origin;cat@town+town=day[-day],…;cat@…"
// with days as YYYYMMDD (the towns of one group share the same days; town
// "*" is every town, a slice with Town ""), or "origin;*" for everything.
// A long list takes several notifications.
const RollupChannel = "citygrid_rollup"

const (
	// maxPayload keeps a notification under PostgreSQL's 8,000-byte limit.
	maxPayload = 7900
	// maxNotifies bounds the notifications of one write; past it, one
	// "everything" is cheaper for the listeners.
	maxNotifies = 16
)

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
	singles    map[catDay]int  // single creates since the day was last merged
	compacting map[catDay]bool // merges running
	merges     sync.WaitGroup  // the same, for Close
	timers     sync.WaitGroup  // coalesced NOTIFYs scheduled or being sent, for Settle
}

func newRollupFeed() *rollupFeed {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &rollupFeed{origin: hex.EncodeToString(b), pending: map[grid.RollupSlice]struct{}{},
		singles: map[catDay]int{}, compacting: map[catDay]bool{}}
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
		f.timers.Add(1)
		time.AfterFunc(wait, func() {
			defer f.timers.Done()
			db.flushNotify()
		})
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
	if err := notifySlices(ctx, db.pool, f.origin, ss); err != nil {
		// The database is away: keep the slices and try again in a second.
		// (Other replicas' listeners lose their connection too, and reload
		// everything when it is back.)
		db.notifyAfter(ss, time.Second)
	}
}

// encodeSlices renders the payloads of ss: per category and town, runs of
// consecutive days; towns with the same runs in one group. When that takes
// more than maxNotifies payloads, the towns are dropped ("cat@*=…": every
// town of those days, as a bulk load spread over a year touches), and
// past that it is everything.
func encodeSlices(origin string, ss []grid.RollupSlice) []string {
	days := map[catTown][]time.Time{}
	for _, s := range ss {
		k := catTown{s.Category, s.Town}
		days[k] = append(days[k], s.Day.Time())
	}
	if out, ok := encodeGroups(origin, days); ok {
		return out
	}
	anyTown := map[catTown][]time.Time{}
	for k, ds := range days {
		k.town = "*"
		anyTown[k] = append(anyTown[k], ds...)
	}
	if out, ok := encodeGroups(origin, anyTown); ok {
		return out
	}
	return []string{origin + ";*"}
}

// catTown is a category in a town ("*": every town).
type catTown struct{ cat, town string }

// encodeGroups renders days per category and town in at most maxNotifies
// payloads, or reports that they do not fit.
func encodeGroups(origin string, days map[catTown][]time.Time) ([]string, bool) {
	type group struct {
		cat   string
		runs  string
		towns []string
	}
	groups := map[[2]string]*group{}
	for ct, ds := range days {
		slices.SortFunc(ds, func(a, b time.Time) int { return a.Compare(b) })
		runs := dayRuns(slices.Compact(ds))
		g := groups[[2]string{ct.cat, runs}]
		if g == nil {
			g = &group{cat: ct.cat, runs: runs}
			groups[[2]string{ct.cat, runs}] = g
		}
		g.towns = append(g.towns, ct.town)
	}
	sorted := make([]*group, 0, len(groups))
	for _, g := range groups {
		slices.Sort(g.towns)
		sorted = append(sorted, g)
	}
	slices.SortFunc(sorted, func(a, b *group) int {
		return cmp.Or(strings.Compare(a.cat, b.cat), strings.Compare(a.towns[0], b.towns[0]))
	})
	var out []string
	var b strings.Builder
	b.WriteString(origin)
	next := func() bool { // the payload so far goes out; false if it holds nothing
		if b.Len() == len(origin) {
			return false
		}
		out = append(out, b.String())
		b.Reset()
		b.WriteString(origin)
		return true
	}
	for _, g := range sorted {
		head := ";" + g.cat + "@" + strings.Join(g.towns, "+") + "="
		// A group too long for one payload goes out in pieces of its runs.
		for runs := g.runs; runs != ""; {
			room := maxPayload - b.Len() - len(head)
			piece := runs
			if len(piece) > room {
				cut := -1
				if room > 0 {
					cut = strings.LastIndexByte(piece[:room+1], ',')
				}
				if cut <= 0 { // not even one run fits: the next payload
					if !next() {
						return nil, false // the head alone is too long
					}
					continue
				}
				piece = piece[:cut]
			}
			b.WriteString(head + piece)
			runs = strings.TrimPrefix(runs[len(piece):], ",")
		}
		if len(out) >= maxNotifies {
			return nil, false
		}
	}
	if !next() && len(out) == 0 {
		out = append(out, origin)
	}
	return out, len(out) <= maxNotifies
}

// notifySlices sends the notifications of ss: at commit when ex is a
// transaction.
func notifySlices(ctx context.Context, ex interface {
	Exec(context.Context, string, ...any) (pgconn.CommandTag, error)
}, origin string, ss []grid.RollupSlice) error {
	if len(ss) == 0 {
		return nil
	}
	_, err := ex.Exec(ctx, `SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p`, RollupChannel, encodeSlices(origin, ss))
	return err
}

// dayRuns renders sorted distinct days as runs: "20260101-20260103,20260105".
func dayRuns(days []time.Time) string {
	var b strings.Builder
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
		key, days, ok := strings.Cut(part, "=")
		cat, towns, ok2 := strings.Cut(key, "@")
		if !ok || !ok2 || cat == "" || towns == "" {
			return origin, false, nil, fmt.Errorf("rollup notification %q: want cat@town=days in %q", p, part)
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
			for _, town := range strings.Split(towns, "+") {
				if town == "" {
					return origin, false, nil, fmt.Errorf("rollup notification %q: empty town in %q", p, part)
				}
				if town == "*" {
					town = "" // every town
				}
				for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
					ss = append(ss, grid.RollupSlice{Category: cat, Day: grid.DateOf(d), Town: town})
				}
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
