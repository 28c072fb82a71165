package tiles

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/uber/h3-go/v4"

	"github.com/citygrid/citygrid/internal/grid"
)

func tileOf(n int) Tile {
	b := make([]byte, n)
	return Tile{Data: b, ETag: ETag(b)}
}

func key(layers string, z, x, y uint32, filter, scope string) Key {
	return Key{Layers: layers, Z: z, X: x, Y: y, Filter: filter, Scope: scope}
}

// check verifies the cache's bookkeeping: bytes, list, map and index agree.
func (c *Cache) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var bytes int64
	for el := c.lru.Front(); el != nil; el = el.Next() {
		e := el.Value.(*entry)
		bytes += e.size
		if c.entries[e.key] != el {
			t.Fatalf("%v: list and map disagree", e.key)
		}
	}
	if bytes != c.bytes || c.lru.Len() != len(c.entries) {
		t.Fatalf("bytes %d (counted %d), list %d, map %d", c.bytes, bytes, c.lru.Len(), len(c.entries))
	}
	if c.bytes > c.max {
		t.Fatalf("bytes %d over the bound %d", c.bytes, c.max)
	}
	indexed := 0
	for layer, ix := range c.index {
		for z, tiles := range ix.byZoom {
			n := 0
			for xy, es := range tiles {
				for _, e := range es {
					if _, ok := c.entries[e.key]; !ok || e.key.Z != uint32(z) || [2]uint32{e.key.X, e.key.Y} != xy ||
						!slices.Contains(e.layers, layer) {
						t.Fatalf("stale index entry %v under %s", e.key, layer)
					}
					n++
				}
			}
			if n != ix.count[z] {
				t.Fatalf("%s z%d: count %d, indexed %d", layer, z, ix.count[z], n)
			}
			indexed += n
		}
	}
	want := 0
	for _, el := range c.entries {
		want += len(el.Value.(*entry).layers)
	}
	if indexed != want {
		t.Fatalf("index holds %d entries, want %d", indexed, want)
	}
}

func TestCacheLRUByBytes(t *testing.T) {
	k := func(i uint32) Key { return key("cells", 14, i, 0, "", "public") }
	one := NewCache(1 << 20)
	one.Put(k(0), tileOf(1000))
	size := one.Stats().Bytes
	if size < 1000 {
		t.Fatalf("an entry of 1000 bytes counts %d", size)
	}

	c := NewCache(3 * size)
	for i := uint32(1); i <= 3; i++ {
		c.Put(k(i), tileOf(1000))
	}
	if _, ok := c.Get(k(1)); !ok { // k1 is now the most recent
		t.Fatal("k1 missing")
	}
	c.Put(k(4), tileOf(1000)) // evicts k2, the least recent
	if got, want := c.Keys(), []Key{k(4), k(1), k(3)}; !slices.Equal(got, want) {
		t.Fatalf("keys %v, want %v", got, want)
	}
	if _, ok := c.Get(k(2)); ok {
		t.Fatal("k2 survived")
	}
	c.Put(k(3), tileOf(1000)) // a replacement, not an eviction
	s := c.Stats()
	if s.Hits != 1 || s.Misses != 1 || s.Evictions[EvictedLRU] != 1 || s.Entries != 3 || s.Bytes != 3*size || s.MaxBytes != 3*size {
		t.Fatalf("stats %+v", s)
	}
	c.Put(k(9), tileOf(int(4*size))) // larger than the cache: not stored
	if _, ok := c.Get(k(9)); ok || c.Stats().Entries != 3 {
		t.Fatal("a tile larger than the cache was stored")
	}
	c.Clear()
	if s := c.Stats(); s.Entries != 0 || s.Bytes != 0 || s.Evictions[EvictedClear] != 3 {
		t.Fatalf("after Clear: %+v", s)
	}
	c.check(t)
	if NewCache(0).Stats().MaxBytes != DefaultCacheBytes {
		t.Fatal("default size")
	}
}

// fill caches every variant of the given layer sets for the tiles around
// p at zooms 0–18.
func fill(c *Cache, p orb.Point, layerSets []string, res int) []Key {
	var keys []Key
	seen := map[Key]bool{}
	for z := 0; z <= 18; z++ {
		at := maptile.At(p, maptile.Zoom(z))
		n := int64(1) << z
		for dx := int64(-2); dx <= 2; dx++ {
			for dy := int64(-2); dy <= 2; dy++ {
				x, y := int64(at.X)+dx, int64(at.Y)+dy
				if x < 0 || y < 0 || x >= n || y >= n {
					continue
				}
				for _, ls := range layerSets {
					for _, f := range []string{"", "theme=parking"} {
						for _, s := range []string{"public", "331082001"} {
							k := key(ls, uint32(z), uint32(x), uint32(y), f, s)
							k.Res = res
							if !seen[k] {
								seen[k] = true
								keys = append(keys, k)
								c.Put(k, tileOf(10))
							}
						}
					}
				}
			}
		}
	}
	return keys
}

func remaining(c *Cache) map[Key]bool {
	out := map[Key]bool{}
	for _, k := range c.Keys() {
		out[k] = true
	}
	return out
}

// EvictPoint evicts exactly the tiles of the given layers whose buffered
// area contains the point, at every zoom, under every filter and scope;
// orb's tile bounds (the inverse projection) are the oracle.
func TestEvictPointIsExact(t *testing.T) {
	// A point 30 tile units inside a corner of a z14 tile: within the
	// buffer of its neighbours at z14 and z15, not beyond.
	corner := maptile.At(orb.Point{121.13, 28.85}, 14).Bound()
	du := (corner.Max[0] - corner.Min[0]) * 30 / 4096
	p := orb.Point{corner.Min[0] + du, corner.Max[1] - du}
	c := NewCache(1 << 30)
	keys := fill(c, p, []string{"incidents", "facilities", "cells,incidents", "towns"}, 0)
	n := c.EvictPoint([]string{LayerIncidents}, p[0], p[1])
	left := remaining(c)
	evicted, neighbours := 0, 0
	for _, k := range keys {
		b := k.Tile().Bound(64.0 / 4096)
		want := slices.Contains([]string{"incidents", "cells,incidents"}, k.Layers) && b.Contains(p)
		if left[k] == want {
			t.Errorf("%v: evicted %v, want %v", k, !left[k], want)
		}
		if want {
			evicted++
			if !k.Tile().Bound().Contains(p) {
				neighbours++
			}
		}
	}
	if n != evicted || c.Stats().Evictions[EvictedWrite] != uint64(evicted) {
		t.Fatalf("EvictPoint returned %d, stats %d, want %d", n, c.Stats().Evictions[EvictedWrite], evicted)
	}
	if neighbours == 0 {
		t.Fatal("no tile was evicted for its buffer alone: the test point misses the buffers")
	}
	c.check(t)
}

// For the heatmap, the tiles meeting the hexagon around the point go, at
// the resolution each tile was drawn at.
func TestEvictPointHeatmap(t *testing.T) {
	p := orb.Point{121.1312, 28.8517}
	c := NewCache(1 << 30)
	keys := fill(c, p, []string{"heatmap", "cells,heatmap", "cells"}, 0)
	keys = append(keys, fill(c, p, []string{"heatmap"}, 10)...) // drawn at res 10 whatever the zoom
	c.EvictPoint([]string{LayerHeatmap}, p[0], p[1])
	left := remaining(c)
	beyond := 0
	for _, k := range keys {
		res := k.Res
		if res == 0 {
			res = TileRes(int(k.Z))
		}
		cell, _ := h3.LatLngToCell(h3.NewLatLng(p[1], p[0]), res)
		hex, _ := cell.Boundary()
		hb := orb.Bound{Min: p, Max: p}
		for _, v := range hex {
			hb = hb.Extend(orb.Point{v.Lng, v.Lat})
		}
		tb := k.Tile().Bound(64.0 / 4096)
		want := k.Layers != "cells" && tb.Intersects(hb)
		if left[k] == want {
			t.Errorf("%v: evicted %v, want %v", k, !left[k], want)
		}
		if want && !tb.Contains(p) {
			beyond++
		}
	}
	if beyond == 0 {
		t.Fatal("no tile evicted for the hexagon beyond the point: the test shows nothing")
	}
	c.check(t)
}

func TestEvictBound(t *testing.T) {
	p := orb.Point{121.1312, 28.8517}
	c := NewCache(1 << 30)
	keys := fill(c, p, []string{"incidents", "cells"}, 0)
	b := orb.Bound{Min: orb.Point{p[0] - 0.01, p[1] - 0.01}, Max: orb.Point{p[0] + 0.01, p[1] + 0.01}}
	c.EvictBound([]string{"incidents"}, b)
	left := remaining(c)
	for _, k := range keys {
		want := k.Layers == "incidents" && k.Tile().Bound(64.0/4096).Intersects(b)
		if left[k] == want {
			t.Errorf("%v: evicted %v, want %v", k, !left[k], want)
		}
	}
	c.check(t)
}

func TestEvictLayerTakesComposites(t *testing.T) {
	c := NewCache(1 << 20)
	for _, ls := range []string{"cells", "towns,cells", "cells,heatmap", "towns", "incidents"} {
		c.Put(key(ls, 12, 1, 2, "", "public"), tileOf(10))
		c.Put(key(ls, 13, 2, 4, "f", "331082001"), tileOf(10))
	}
	if n := c.EvictLayer("cells"); n != 6 {
		t.Fatalf("evicted %d, want 6", n)
	}
	for _, k := range c.Keys() {
		if slices.Contains([]string{"cells", "towns,cells", "cells,heatmap"}, k.Layers) {
			t.Fatalf("%v survived", k)
		}
	}
	if s := c.Stats(); s.Entries != 4 || s.Evictions[EvictedLayer] != 6 {
		t.Fatalf("stats %+v", s)
	}
	c.check(t)
}

func TestCacheExpiry(t *testing.T) {
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	c := NewCache(1 << 20)
	c.now = func() time.Time { return now }
	k := key("incidents", 14, 1, 1, "", "public")
	tl := tileOf(10)
	tl.Expires = now.Add(time.Minute)
	c.Put(k, tl)
	if _, ok := c.Get(k); !ok {
		t.Fatal("fresh tile missing")
	}
	now = now.Add(time.Minute)
	if _, ok := c.Get(k); ok {
		t.Fatal("expired tile served")
	}
	if s := c.Stats(); s.Evictions[EvictedExpired] != 1 || s.Entries != 0 {
		t.Fatalf("stats %+v", s)
	}
	c.Put(k, tl) // already expired: not stored
	if c.Stats().Entries != 0 {
		t.Fatal("an expired tile was stored")
	}
}

// waitFor spins until cond holds; the test's own timeout bounds it.
func waitFor(cond func() bool) {
	for !cond() {
		runtime.Gosched()
	}
}

func TestGetOrLoadLoadsOnce(t *testing.T) {
	c := NewCache(1 << 20)
	k := key("cells", 14, 1, 1, "", "public")
	release := make(chan struct{})
	var loads atomic.Int32
	load := func(context.Context) (Tile, error) {
		loads.Add(1)
		<-release
		return tileOf(10), nil
	}
	const n = 8
	var wg sync.WaitGroup
	results := make([]Tile, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tl, _, err := c.GetOrLoad(context.Background(), k, load)
			if err != nil {
				t.Error(err)
			}
			results[i] = tl
		}()
	}
	waitFor(func() bool { s := c.Stats(); return s.Misses+s.Shared == n })
	close(release)
	wg.Wait()
	if loads.Load() != 1 {
		t.Fatalf("%d loads, want 1", loads.Load())
	}
	for _, r := range results {
		if r.ETag != results[0].ETag || len(r.Data) != 10 {
			t.Fatalf("results differ: %+v", r)
		}
	}
	if s := c.Stats(); s.Misses != 1 || s.Shared != n-1 {
		t.Fatalf("stats %+v", s)
	}
	if _, cached, _ := c.GetOrLoad(context.Background(), k, load); !cached || loads.Load() != 1 {
		t.Fatal("the loaded tile was not cached")
	}
}

// A write while a tile loads: the result is served but not cached.
func TestGetOrLoadDropsWhatAWriteOvertook(t *testing.T) {
	c := NewCache(1 << 20)
	p := orb.Point{121.1312, 28.8517}
	at := maptile.At(p, 14)
	k := key("incidents", 14, at.X, at.Y, "", "public")
	other := key("incidents", 14, at.X+3, at.Y, "", "public")
	started := make(chan struct{}, 2)
	release := make(chan struct{})
	load := func(context.Context) (Tile, error) {
		started <- struct{}{}
		<-release
		return tileOf(10), nil
	}
	var wg sync.WaitGroup
	for _, kk := range []Key{k, other} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := c.GetOrLoad(context.Background(), kk, load); err != nil {
				t.Error(err)
			}
		}()
	}
	<-started
	<-started
	c.EvictPoint([]string{LayerIncidents}, p[0], p[1])
	close(release)
	wg.Wait()
	if got := c.Keys(); !slices.Equal(got, []Key{other}) {
		t.Fatalf("cached %v, want only the tile the write did not touch", got)
	}
}

func TestGetOrLoadErrors(t *testing.T) {
	c := NewCache(1 << 20)
	k := key("cells", 1, 0, 0, "", "public")
	boom := errors.New("boom")
	if _, _, err := c.GetOrLoad(context.Background(), k, func(context.Context) (Tile, error) { return Tile{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("err %v", err)
	}
	_, _, err := c.GetOrLoad(context.Background(), k, func(context.Context) (Tile, error) { panic("bug") })
	if grid.KindOf(err) != grid.Internal {
		t.Fatalf("panic: %v", err)
	}
	if s := c.Stats(); s.Entries != 0 || s.LoadErrors != 2 {
		t.Fatalf("stats %+v", s)
	}
}

// A caller that gives up gets its context's error; the load goes on and
// fills the cache for the next caller.
func TestGetOrLoadCallerGivesUp(t *testing.T) {
	c := NewCache(1 << 20)
	k := key("incidents", 14, 1, 1, "", "public")
	release := make(chan struct{})
	done := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		defer close(done)
		_, _, err := c.GetOrLoad(ctx, k, func(ctx context.Context) (Tile, error) {
			<-release
			return tileOf(10), ctx.Err()
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err %v, want context.Canceled", err)
		}
	}()
	waitFor(func() bool { return c.Stats().Misses == 1 })
	cancel()
	<-done
	close(release)
	waitFor(func() bool { _, ok := c.Get(k); return ok })
}

// Gets, puts, loads and evictions from many goroutines (run with -race);
// the bookkeeping must agree afterwards.
func TestCacheConcurrent(t *testing.T) {
	c := NewCache(40 * 1024)
	p := orb.Point{121.1312, 28.8517}
	layerSets := []string{"incidents", "cells", "cells,incidents", "heatmap", "facilities,incidents"}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for i := 0; i < 3000; i++ {
				z := uint32(10 + r.IntN(6))
				at := maptile.At(p, maptile.Zoom(z))
				k := key(layerSets[r.IntN(len(layerSets))], z, at.X+uint32(r.IntN(3)), at.Y+uint32(r.IntN(3)), fmt.Sprint(r.IntN(3)), "public")
				switch op := r.IntN(100); {
				case op < 40:
					c.Get(k)
				case op < 60:
					c.Put(k, tileOf(100+r.IntN(900)))
				case op < 85:
					_, _, err := c.GetOrLoad(context.Background(), k, func(context.Context) (Tile, error) { return tileOf(200), nil })
					if err != nil {
						t.Error(err)
						return
					}
				case op < 97:
					c.EvictPoint([]string{"incidents", "heatmap"}, p[0]+r.Float64()*0.01, p[1]+r.Float64()*0.01)
				case op < 99:
					c.EvictLayer(layerSets[r.IntN(len(layerSets))])
				default:
					c.Clear()
				}
			}
		}()
	}
	wg.Wait()
	c.check(t)
	s := c.Stats()
	if s.Hits == 0 || s.Evictions[EvictedWrite] == 0 || s.Evictions[EvictedLRU] == 0 {
		t.Fatalf("the workload did not exercise the cache: %+v", s)
	}
}
