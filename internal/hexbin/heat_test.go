package hexbin

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/uber/h3-go/v4"
)

// memRollups is an in-memory rollup table whose reads can be paused, to
// land a write in the middle of a reload.
type memRollups struct {
	mu    sync.Mutex
	rows  []memRow
	pause chan chan struct{} // a read sends a channel here and waits for it to close
}

type memRow struct {
	s    grid.RollupSlice
	hour int
	cell uint64
	n    int64
}

func (m *memRollups) add(r memRow) {
	m.mu.Lock()
	m.rows = append(m.rows, r)
	m.mu.Unlock()
}

func (m *memRollups) RollupRows(ctx context.Context, want []grid.RollupSlice, fn func(grid.RollupSlice, int, uint64, int64) error) error {
	m.mu.Lock()
	rows := append([]memRow(nil), m.rows...) // the snapshot
	m.mu.Unlock()
	if m.pause != nil {
		resume := make(chan struct{})
		m.pause <- resume
		<-resume
	}
	for _, r := range rows {
		if want != nil && !containsSlice(want, r.s) {
			continue
		}
		if err := fn(r.s, r.hour, r.cell, r.n); err != nil {
			return err
		}
	}
	return nil
}

// containsSlice reports whether s is on the category and day of one of ss:
// a store reads every town's slices of a category's day.
func containsSlice(ss []grid.RollupSlice, s grid.RollupSlice) bool {
	for _, x := range ss {
		if x.Category == s.Category && x.Day == s.Day {
			return true
		}
	}
	return false
}

type noFallback struct{ t *testing.T }

func (f noFallback) Heatmap(context.Context, grid.HeatQuery) ([]grid.HeatCell, error) {
	f.t.Error("the query went to the fallback store")
	return nil, nil
}

// TestHeatWriteDuringReloadIsNotLost: a write that commits while a slice is
// being reloaded (after the reload's snapshot) keeps the slice dirty, so the
// next query sees it, while the query that raced it answers after one
// reload; counts split over several packed entries add up.
func TestHeatWriteDuringReloadIsNotLost(t *testing.T) {
	ctx := context.Background()
	loc := time.FixedZone("CST", 8*3600)
	cell, err := h3.LatLngToCell(h3.NewLatLng(28.85, 121.13), 10)
	if err != nil {
		t.Fatal(err)
	}
	day := grid.Date{Year: 2026, Month: 3, Day: 2}
	s := grid.RollupSlice{Category: "E0505", Day: day, Town: "331082001"}
	src := &memRollups{}
	src.add(memRow{s, 9, uint64(cell), 300}) // more than one packed entry holds
	heat := NewHeat(src, noFallback{t}, loc)
	if err := heat.Load(ctx); err != nil {
		t.Fatal(err)
	}
	q := grid.HeatQuery{Categories: []string{"E0505"}, Res: 9,
		From: time.Date(2026, 3, 2, 0, 0, 0, 0, loc), To: time.Date(2026, 3, 3, 0, 0, 0, 0, loc)}
	count := func() int64 {
		cs, err := heat.Heatmap(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		for _, c := range cs {
			n += c.Count
		}
		return n
	}
	if n := count(); n != 300 {
		t.Fatalf("after load: %d, want 300", n)
	}

	// A write commits; the reload it causes takes its snapshot, then a
	// second write commits and is reported before the reload finishes.
	src.add(memRow{s, 10, uint64(cell), 1})
	heat.Invalidate([]grid.RollupSlice{s})
	src.pause = make(chan chan struct{})
	done := make(chan int64)
	go func() { done <- count() }()
	resume := <-src.pause // the reload has its snapshot (301)
	src.add(memRow{s, 11, uint64(cell), 1})
	heat.Invalidate([]grid.RollupSlice{s})
	close(resume)
	// That query began before the second write committed: 301 is its
	// answer, after one reload, however busy the writers are.
	select {
	case n := <-done:
		if n != 301 {
			t.Fatalf("the query that raced the write: %d, want 301", n)
		}
	case r := <-src.pause:
		close(r)
		t.Fatal("a query reloaded a slice again for a write that committed after it began")
	}
	// The next query must not miss the second write: it reloads.
	go func() { done <- count() }()
	select {
	case n := <-done:
		t.Fatalf("answered %d without reloading the slice a write touched during the last reload", n)
	case r := <-src.pause:
		close(r)
	}
	if n := <-done; n != 302 {
		t.Fatalf("after the racing write: %d, want 302", n)
	}
	src.pause = nil
	if n := count(); n != 302 {
		t.Fatalf("later: %d, want 302", n)
	}

	q.Categories = []string{"E0505", "E0505"}
	if n := count(); n != 302 {
		t.Errorf("a category named twice: %d, want 302", n)
	}
	q.Categories = []string{"E0505"}

	// Hour and weekday filters: 2026-03-02 is a Monday.
	q.Hours = []int{10, 11}
	if n := count(); n != 2 {
		t.Errorf("hours 10–11: %d, want 2", n)
	}
	q.Hours, q.Weekdays = nil, []int{2, 3, 4, 5, 6, 7}
	if n := count(); n != 0 {
		t.Errorf("weekdays but Monday: %d, want 0", n)
	}
}

type failingRollups struct{}

func (failingRollups) RollupRows(context.Context, []grid.RollupSlice, func(grid.RollupSlice, int, uint64, int64) error) error {
	return errors.New("database unreachable")
}

// TestHeatLoadFailure: a failed load is reported, not waited on forever,
// and queries keep going to the fallback store.
func TestHeatLoadFailure(t *testing.T) {
	heat := NewHeat(failingRollups{}, fallbackCount{}, time.UTC)
	heat.Start(context.Background())
	if err := heat.Wait(context.Background()); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("Wait after a failed load: %v", err)
	}
	if ok, err := heat.Ready(); ok || err == nil {
		t.Errorf("Ready after a failed load: %v %v", ok, err)
	}
	cs, err := heat.Heatmap(context.Background(), grid.HeatQuery{Categories: []string{"E0505"}, Res: 8,
		From: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)})
	if err != nil || len(cs) != 1 || cs[0].Count != 42 {
		t.Errorf("query after a failed load: %v %v, want the fallback's answer", cs, err)
	}
}

type fallbackCount struct{}

func (fallbackCount) Heatmap(context.Context, grid.HeatQuery) ([]grid.HeatCell, error) {
	return []grid.HeatCell{{H3: 1, Count: 42}}, nil
}

// TestHeatTownScopedReload: a query for one town reloads a block only when
// a write touched that town's slice, and then sees the write; queries for
// every town reload on any write.
func TestHeatTownScopedReload(t *testing.T) {
	ctx := context.Background()
	loc := time.FixedZone("CST", 8*3600)
	cell, err := h3.LatLngToCell(h3.NewLatLng(28.85, 121.13), 10)
	if err != nil {
		t.Fatal(err)
	}
	day := grid.Date{Year: 2026, Month: 3, Day: 2}
	a := grid.RollupSlice{Category: "E0505", Day: day, Town: "331082001"}
	b := grid.RollupSlice{Category: "E0505", Day: day, Town: "331082002"}
	src := &memRollups{}
	src.add(memRow{a, 9, uint64(cell), 5})
	src.add(memRow{b, 9, uint64(cell), 7})
	heat := NewHeat(src, noFallback{t}, loc)
	if err := heat.Load(ctx); err != nil {
		t.Fatal(err)
	}
	q := grid.HeatQuery{Categories: []string{"E0505"}, Res: 8, Towns: []string{a.Town},
		From: time.Date(2026, 3, 2, 0, 0, 0, 0, loc), To: time.Date(2026, 3, 3, 0, 0, 0, 0, loc)}
	count := func(q grid.HeatQuery) (n int64, reloaded bool) {
		src.pause = make(chan chan struct{})
		done := make(chan []grid.HeatCell)
		go func() {
			cs, err := heat.Heatmap(ctx, q)
			if err != nil {
				t.Error(err)
			}
			done <- cs
		}()
		var cs []grid.HeatCell
		select {
		case r := <-src.pause:
			reloaded = true
			close(r)
			cs = <-done
		case cs = <-done:
		}
		src.pause = nil
		for _, c := range cs {
			n += c.Count
		}
		return n, reloaded
	}
	if n, reloaded := count(q); n != 5 || reloaded {
		t.Fatalf("town a after load: %d (reloaded %v), want 5 without a reload", n, reloaded)
	}
	src.add(memRow{b, 10, uint64(cell), 1})
	heat.Invalidate([]grid.RollupSlice{b})
	if n, reloaded := count(q); n != 5 || reloaded {
		t.Errorf("town a after a write in town b: %d (reloaded %v), want 5 without a reload", n, reloaded)
	}
	src.add(memRow{a, 10, uint64(cell), 2})
	heat.Invalidate([]grid.RollupSlice{a})
	if n, reloaded := count(q); n != 7 || !reloaded {
		t.Errorf("town a after a write in town a: %d (reloaded %v), want 7 after a reload", n, reloaded)
	}
	src.add(memRow{b, 11, uint64(cell), 1})
	heat.Invalidate([]grid.RollupSlice{b})
	q.Towns = nil
	if n, reloaded := count(q); n != 16 || !reloaded {
		t.Errorf("every town after a write in town b: %d (reloaded %v), want 16 after a reload", n, reloaded)
	}
	src.add(memRow{a, 12, uint64(cell), 3})
	heat.Invalidate([]grid.RollupSlice{{Category: "E0505", Day: day}}) // every town
	q.Towns = []string{a.Town}
	if n, reloaded := count(q); n != 10 || !reloaded {
		t.Errorf("town a after a write reported for every town: %d (reloaded %v), want 10 after a reload", n, reloaded)
	}
}

// TestHeatReloadRacingAFullLoad: a query finds a slice stale; before its
// reload starts, a reconnect invalidates everything, the full load takes
// its snapshot, and a write commits. The full load must not leave the
// slice clean without that write: the reload that lost the race does not
// install (nor clear the slice's marks), and the write is counted.
func TestHeatReloadRacingAFullLoad(t *testing.T) {
	ctx := context.Background()
	loc := time.FixedZone("CST", 8*3600)
	cell, err := h3.LatLngToCell(h3.NewLatLng(28.85, 121.13), 10)
	if err != nil {
		t.Fatal(err)
	}
	s := grid.RollupSlice{Category: "E0505", Day: grid.Date{Year: 2026, Month: 3, Day: 2}, Town: "331082001"}
	src := &memRollups{}
	src.add(memRow{s, 9, uint64(cell), 1})
	heat := NewHeat(src, noFallback{t}, loc)
	if err := heat.Load(ctx); err != nil {
		t.Fatal(err)
	}
	src.add(memRow{s, 10, uint64(cell), 1})
	heat.Invalidate([]grid.RollupSlice{s})
	heat.mu.RLock()
	seen := heat.epoch // what the query saw when it found the slice stale
	heat.mu.RUnlock()

	src.pause = make(chan chan struct{})
	heat.InvalidateAll(ctx)
	resumeLoad := <-src.pause // the full load has its snapshot (2)
	src.add(memRow{s, 11, uint64(cell), 1})
	heat.Invalidate([]grid.RollupSlice{s})
	done := make(chan error, 1)
	go func() { done <- heat.reload(ctx, []grid.RollupSlice{s}, seen) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case r := <-src.pause: // it read (3) and will install over what the full load brings
		close(r)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	close(resumeLoad)
	if err := heat.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	src.pause = nil
	cs, err := heat.Heatmap(ctx, grid.HeatQuery{Categories: []string{"E0505"}, Res: 9,
		From: time.Date(2026, 3, 2, 0, 0, 0, 0, loc), To: time.Date(2026, 3, 3, 0, 0, 0, 0, loc)})
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, c := range cs {
		n += c.Count
	}
	if n != 3 {
		t.Fatalf("after the race: %d incidents, want 3", n)
	}
}
