package locate

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
)

// Catalog keeps the snapshot of the active grid version, swapped atomically
// by Refresh, and builds snapshots of earlier versions on demand for
// lookups "as at" a past moment. Lookups in flight finish on the snapshot
// they started with.
type Catalog struct {
	store grid.GridStore
	Index

	timeline atomic.Pointer[[]grid.Version] // activated versions, by activation time

	mu    sync.Mutex // guards past and refreshing
	past  map[int64]*Snapshot
	order []int64 // of past, oldest use first
}

// pastKept bounds the snapshots of earlier versions held in memory.
const pastKept = 4

// NewCatalog makes an empty catalog over store; call Refresh to load it.
func NewCatalog(store grid.GridStore) *Catalog {
	return &Catalog{store: store, past: map[int64]*Snapshot{}}
}

// Refresh loads the version list and, when the active version changed,
// builds its snapshot and swaps it in. On failure the snapshot in force
// stays: lookups go on answering from it (degraded mode).
func (c *Catalog) Refresh(ctx context.Context) (swapped bool, err error) {
	vs, err := c.store.Versions(ctx)
	if err != nil {
		return false, err
	}
	var tl []grid.Version
	var active int64
	for _, v := range vs {
		if v.ActivatedAt != nil {
			tl = append(tl, v)
		}
		if v.Active {
			active = v.ID
		}
	}
	sort.Slice(tl, func(i, j int) bool { return tl[i].ActivatedAt.Before(*tl[j].ActivatedAt) })
	c.timeline.Store(&tl)
	if active == 0 {
		return false, grid.Errorf(grid.Unavailable, "no active grid version")
	}
	if cur := c.Current(); cur != nil && cur.Version.ID == active {
		return false, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.Current(); cur != nil && cur.Version.ID == active {
		return false, nil
	}
	m, err := c.store.Model(ctx, active)
	if err != nil {
		return false, err
	}
	s, err := Build(m)
	if err != nil {
		return false, err
	}
	if old := c.Swap(s); old != nil {
		c.remember(old)
	}
	return true, nil
}

// remember keeps a replaced snapshot for "as at" lookups. Callers hold mu.
func (c *Catalog) remember(s *Snapshot) {
	if _, ok := c.past[s.Version.ID]; !ok {
		c.order = append(c.order, s.Version.ID)
	}
	c.past[s.Version.ID] = s
	for len(c.order) > pastKept {
		delete(c.past, c.order[0])
		c.order = c.order[1:]
	}
}

// VersionAt returns the id of the version that was active at t, or 0 when
// none was.
func (c *Catalog) VersionAt(t time.Time) int64 {
	tl := c.timeline.Load()
	if tl == nil {
		return 0
	}
	var id int64
	for _, v := range *tl {
		if v.ActivatedAt.After(t) {
			break
		}
		id = v.ID
	}
	return id
}

// At returns the snapshot of the version active at t: NotFound when no
// version was active then.
func (c *Catalog) At(ctx context.Context, t time.Time) (*Snapshot, error) {
	id := c.VersionAt(t)
	if id == 0 {
		return nil, grid.Errorf(grid.NotFound, "no grid version was active at %s", t.Format(time.RFC3339))
	}
	if cur := c.Current(); cur != nil && cur.Version.ID == id {
		return cur, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.past[id]; ok {
		return s, nil
	}
	m, err := c.store.Model(ctx, id)
	if err != nil {
		return nil, err
	}
	s, err := Build(m)
	if err != nil {
		return nil, err
	}
	c.remember(s)
	return s, nil
}
