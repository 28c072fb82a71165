package tiles

import (
	"container/list"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/maptile"
	"github.com/uber/h3-go/v4"

	"github.com/citygrid/citygrid/internal/grid"
)

// DefaultCacheBytes is the size of a Cache built with no size.
const DefaultCacheBytes = 64 << 20

// Key names one cached tile: the same layers of the same tile drawn with
// the same filter for the same audience.
type Key struct {
	// Layers is the canonical layer list, comma-separated (LayerKey).
	Layers  string
	Z, X, Y uint32
	// Res is the H3 resolution of a heatmap tile; 0 means TileRes(Z).
	Res int
	// Filter is the normalised filter (FilterKey, Window.Key): every
	// query parameter that changes the tile, and nothing else.
	Filter string
	// Scope is whose view it is: "public", or e.g. a town code for a
	// town-scoped key.
	Scope string
}

// NewKey builds the key of a tile.
func NewKey(layers []string, t maptile.Tile, filter, scope string) Key {
	return Key{Layers: LayerKey(layers), Z: uint32(t.Z), X: t.X, Y: t.Y, Filter: filter, Scope: scope}
}

// LayerKey is the canonical form of a layer list in a key; give it the
// result of ParseLayers so that equal sets give equal keys.
func LayerKey(layers []string) string { return strings.Join(layers, ",") }

// Tile is the tile the key names.
func (k Key) Tile() maptile.Tile { return maptile.New(k.X, k.Y, maptile.Zoom(k.Z)) }

func (k Key) String() string {
	return fmt.Sprintf("%s/%d/%d/%d?res=%d&filter=%s&scope=%s", k.Layers, k.Z, k.X, k.Y, k.Res, k.Filter, k.Scope)
}

// Eviction reasons, as counted in CacheStats.Evictions.
const (
	EvictedLRU     = "lru"     // room for newer tiles
	EvictedWrite   = "write"   // EvictPoint, EvictBound: the data under the tile changed
	EvictedLayer   = "layer"   // EvictLayer: a layer changed everywhere (a new grid version)
	EvictedClear   = "clear"   // Clear
	EvictedExpired = "expired" // the tile's Expires passed
)

// CacheStats is a snapshot of a cache's counters, for metrics.
type CacheStats struct {
	Hits   uint64 // answered from the cache
	Misses uint64 // loaded (GetOrLoad) or not found (Get)
	Shared uint64 // misses that waited for another caller's load of the same key
	// LoadErrors counts loads that failed (their results are not cached).
	LoadErrors uint64
	// Evictions counts evicted tiles by reason (EvictedLRU, …).
	Evictions map[string]uint64
	Entries   int
	Bytes     int64
	MaxBytes  int64
}

// Cache is a bounded LRU cache of encoded tiles with precise invalidation:
// every entry is indexed under each of its layers by its tile, so the
// tiles a write touches are found and evicted directly — under every
// filter and scope — without a scan. Concurrent misses of one key load it
// once (GetOrLoad). Safe for concurrent use.
type Cache struct {
	mu       sync.Mutex
	max      int64
	bytes    int64
	lru      *list.List // of *entry, most recent first
	entries  map[Key]*list.Element
	index    map[string]*layerIndex
	flights  map[Key]*flight
	now      func() time.Time
	hits     uint64
	misses   uint64
	shared   uint64
	loadErrs uint64
	evicted  map[string]uint64
}

type entry struct {
	key      Key
	tile     Tile
	size     int64
	layers   []string
	res      int // heatmap: the resolution drawn
	countRes int // incidents: the resolution of its counts (Tile.CountRes), 0 for points
}

// resOf is the H3 resolution at which layer is drawn in e as counts per
// cell, or 0 when it is drawn as itself (points, polygons).
func (e *entry) resOf(layer string) int {
	switch layer {
	case LayerHeatmap:
		return e.res
	case LayerIncidents:
		return e.countRes
	}
	return 0
}

// layerIndex finds the entries of one layer by zoom and tile.
type layerIndex struct {
	byZoom [MaxZoom + 1]map[[2]uint32][]*entry
	count  [MaxZoom + 1]int
	// res counts the entries per zoom and H3 resolution of their counts
	// (entry.resOf; 0: drawn as itself).
	res [MaxZoom + 1][16]int
}

type flight struct {
	done  chan struct{}
	tile  Tile
	err   error
	stale bool // an eviction matched the key while it loaded
}

// entryOverhead approximates the memory of an entry beyond its bytes.
const entryOverhead = 256

// NewCache builds a cache holding up to maxBytes of tiles (≤ 0:
// DefaultCacheBytes).
func NewCache(maxBytes int64) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultCacheBytes
	}
	return &Cache{max: maxBytes, lru: list.New(), entries: map[Key]*list.Element{},
		index: map[string]*layerIndex{}, flights: map[Key]*flight{}, now: time.Now, evicted: map[string]uint64{}}
}

// Get returns a cached tile.
func (c *Cache) Get(k Key) (Tile, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.lookup(k); e != nil {
		c.hits++
		return e.tile, true
	}
	c.misses++
	return Tile{}, false
}

// Put stores a tile. A tile larger than the whole cache, or already
// expired, is not stored. Put cannot know whether the data changed while
// the tile was drawn; GetOrLoad can, and is the way to fill the cache.
func (c *Cache) Put(k Key, t Tile) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.put(k, t)
}

// GetOrLoad returns the cached tile of k, or loads it: concurrent callers
// missing the same key wait for one load. The load runs on its own with
// ctx's values but not its cancellation, so a caller that gives up (ctx
// done: its error is returned) leaves the load to finish for the others
// and the cache. A load's error is returned to every waiter and nothing is
// cached; a panic in load becomes a grid.Internal error. If an eviction
// matches the key while it loads, the result is returned but not cached:
// it may predate the write. cached reports whether the tile came from the
// cache without a load.
func (c *Cache) GetOrLoad(ctx context.Context, k Key, load func(ctx context.Context) (Tile, error)) (t Tile, cached bool, err error) {
	c.mu.Lock()
	if e := c.lookup(k); e != nil {
		c.hits++
		c.mu.Unlock()
		return e.tile, true, nil
	}
	f, waiting := c.flights[k]
	if waiting {
		c.shared++
	} else {
		c.misses++
		f = &flight{done: make(chan struct{})}
		c.flights[k] = f
		go c.load(context.WithoutCancel(ctx), k, f, load)
	}
	c.mu.Unlock()
	select {
	case <-f.done:
		return f.tile, false, f.err
	case <-ctx.Done():
		return Tile{}, false, ctx.Err()
	}
}

func (c *Cache) load(ctx context.Context, k Key, f *flight, load func(ctx context.Context) (Tile, error)) {
	defer close(f.done)
	func() {
		defer func() {
			if r := recover(); r != nil {
				f.err = grid.Errorf(grid.Internal, "tiles: loading %s: panic: %v", k, r)
			}
		}()
		f.tile, f.err = load(ctx)
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.flights, k)
	if f.err != nil {
		c.loadErrs++
		return
	}
	if !f.stale {
		c.put(k, f.tile)
	}
}

// EvictPoint evicts the cached tiles of the given layers (composites
// containing any of them included) that a change at lon, lat touches, at
// every zoom and under every filter and scope; it returns how many it
// evicted. For point layers (and grid layers) those are the tiles whose
// area with its buffer contains the point. For a layer drawn as counts per
// H3 cell — the heatmap, and the incidents of a tile drawn as counts
// (Tile.CountRes) — they are the tiles whose buffered area meets the bound
// of the H3 cell containing the point at the resolution each cached tile
// was drawn at, since a point changes the count of that whole cell. Loads
// in flight for a matching key are not cached when they finish.
func (c *Cache) EvictPoint(layers []string, lon, lat float64) int {
	p := orb.Point{lon, lat}
	ll := h3.NewLatLng(lat, lon)
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, layer := range layers {
		bounds := map[int]orb.Bound{0: {Min: p, Max: p}}
		at := func(res int) orb.Bound {
			b, ok := bounds[res]
			if !ok {
				b = hexBound(ll, res, p)
				bounds[res] = b
			}
			return b
		}
		n += c.evictIn(layer, func(res int) orb.Bound { return at(res) })
		c.markFlights(func(k Key) bool {
			if !hasLayer(k, layer) {
				return false
			}
			switch layer {
			case LayerHeatmap:
				return tileMeets(k.Tile(), at(heatRes(k)))
			case LayerIncidents: // points or counts: not known before the load
				return tileMeets(k.Tile(), at(CountRes(int(k.Z))))
			}
			return tileMeets(k.Tile(), at(0))
		})
	}
	return n
}

// EvictBound is EvictPoint for a change over an area (WGS84): the cached
// tiles of the given layers whose buffered area meets b, at every zoom.
// For tiles drawn as counts per H3 cell, b is first widened by the reach
// of a cell of the resolution drawn, so that every cell a point of b lies
// in is covered.
func (c *Cache) EvictBound(layers []string, b orb.Bound) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, layer := range layers {
		widened := func(res int) orb.Bound {
			if res == 0 {
				return b
			}
			return reachBound(b, res)
		}
		n += c.evictIn(layer, widened)
		c.markFlights(func(k Key) bool {
			if !hasLayer(k, layer) {
				return false
			}
			switch layer {
			case LayerHeatmap:
				return tileMeets(k.Tile(), widened(heatRes(k)))
			case LayerIncidents:
				return tileMeets(k.Tile(), widened(CountRes(int(k.Z))))
			}
			return tileMeets(k.Tile(), b)
		})
	}
	return n
}

func hasLayer(k Key, layer string) bool { return slices.Contains(strings.Split(k.Layers, ","), layer) }

// evictIn evicts the entries of a layer whose buffered tile meets
// boundAt(res), res being the resolution of the entry's counts (0: drawn
// as itself), at every zoom.
func (c *Cache) evictIn(layer string, boundAt func(res int) orb.Bound) int {
	ix := c.index[layer]
	if ix == nil {
		return 0
	}
	n := 0
	for z := 0; z <= MaxZoom; z++ {
		if ix.count[z] == 0 {
			continue
		}
		for res, cnt := range ix.res[z] {
			if cnt > 0 {
				n += c.evictAt(layer, z, boundAt(res), res)
			}
		}
	}
	return n
}

// hexBound is the WGS84 bound of the res-r H3 cell containing ll, and of
// the res-r parent of its resolution-10 cell where that differs (H3 cells
// do not nest: counts taken by parent, as from stored resolution-10
// cells, may put the point there); the point itself if H3 cannot say.
func hexBound(ll h3.LatLng, res int, p orb.Point) orb.Bound {
	b := orb.Bound{Min: p, Max: p}
	cell, err := h3.LatLngToCell(ll, res)
	if err != nil {
		return b
	}
	cells := []h3.Cell{cell}
	if res < 10 {
		if c10, err := h3.LatLngToCell(ll, 10); err == nil {
			if parent, err := c10.Parent(res); err == nil && parent != cell {
				cells = append(cells, parent)
			}
		}
	}
	for _, c := range cells {
		hex, err := c.Boundary()
		if err != nil {
			continue
		}
		for _, v := range hex {
			b = b.Extend(orb.Point{v.Lng, v.Lat})
		}
	}
	return b
}

// evictAt evicts the entries of a layer at zoom z whose buffered tile
// meets b and whose counts are of resolution res (entry.resOf).
func (c *Cache) evictAt(layer string, z int, b orb.Bound, res int) int {
	ix := c.index[layer]
	x0, y0, x1, y1 := tileRange(b, z)
	tiles := ix.byZoom[z]
	var victims []*entry
	collect := func(es []*entry) {
		for _, e := range es {
			if e.resOf(layer) == res {
				victims = append(victims, e)
			}
		}
	}
	if span := (x1 - x0 + 1) * (y1 - y0 + 1); span > int64(len(tiles)) {
		for xy, es := range tiles {
			if int64(xy[0]) >= x0 && int64(xy[0]) <= x1 && int64(xy[1]) >= y0 && int64(xy[1]) <= y1 {
				collect(es)
			}
		}
	} else {
		for x := x0; x <= x1; x++ {
			for y := y0; y <= y1; y++ {
				collect(tiles[[2]uint32{uint32(x), uint32(y)}])
			}
		}
	}
	for _, e := range victims {
		c.remove(e, EvictedWrite)
	}
	return len(victims)
}

// tileRange is the range of tiles at zoom z whose area with its buffer
// meets b (inclusive, clamped to the world).
func tileRange(b orb.Bound, z int) (x0, y0, x1, y1 int64) {
	n := math.Exp2(float64(z))
	buf := float64(Buffer) / Extent
	lo, hi := mercator(orb.Point{b.Min[0], b.Max[1]}), mercator(orb.Point{b.Max[0], b.Min[1]})
	last := int64(n) - 1
	clamp := func(v int64) int64 { return max(0, min(last, v)) }
	return clamp(int64(math.Ceil(lo[0]*n - 1 - buf))), clamp(int64(math.Ceil(lo[1]*n - 1 - buf))),
		clamp(int64(math.Floor(hi[0]*n + buf))), clamp(int64(math.Floor(hi[1]*n + buf)))
}

// tileMeets reports whether b meets tile t with its buffer.
func tileMeets(t maptile.Tile, b orb.Bound) bool {
	x0, y0, x1, y1 := tileRange(b, int(t.Z))
	return int64(t.X) >= x0 && int64(t.X) <= x1 && int64(t.Y) >= y0 && int64(t.Y) <= y1
}

// EvictLayer evicts every cached tile containing layer, composites
// included — for a new grid version, say — and returns how many.
func (c *Cache) EvictLayer(layer string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var victims []*entry
	if ix := c.index[layer]; ix != nil {
		for _, tiles := range ix.byZoom {
			for _, es := range tiles {
				victims = append(victims, es...)
			}
		}
	}
	for _, e := range victims {
		c.remove(e, EvictedLayer)
	}
	c.markFlights(func(k Key) bool { return hasLayer(k, layer) })
	return len(victims)
}

// Clear evicts everything.
func (c *Cache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.lru.Len() > 0 {
		c.remove(c.lru.Front().Value.(*entry), EvictedClear)
	}
	c.markFlights(func(Key) bool { return true })
}

// Keys lists the cached keys, most recently used first.
func (c *Cache) Keys() []Key {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Key, 0, c.lru.Len())
	for el := c.lru.Front(); el != nil; el = el.Next() {
		out = append(out, el.Value.(*entry).key)
	}
	return out
}

// Stats is a snapshot of the counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev := make(map[string]uint64, 5)
	for _, r := range []string{EvictedLRU, EvictedWrite, EvictedLayer, EvictedClear, EvictedExpired} {
		ev[r] = c.evicted[r]
	}
	return CacheStats{Hits: c.hits, Misses: c.misses, Shared: c.shared, LoadErrors: c.loadErrs,
		Evictions: ev, Entries: c.lru.Len(), Bytes: c.bytes, MaxBytes: c.max}
}

// lookup finds a live entry and marks it used; an expired one is evicted.
func (c *Cache) lookup(k Key) *entry {
	el, ok := c.entries[k]
	if !ok {
		return nil
	}
	e := el.Value.(*entry)
	if !e.tile.Expires.IsZero() && !c.now().Before(e.tile.Expires) {
		c.remove(e, EvictedExpired)
		return nil
	}
	c.lru.MoveToFront(el)
	return e
}

func (c *Cache) put(k Key, t Tile) {
	if !t.Expires.IsZero() && !c.now().Before(t.Expires) {
		return
	}
	size := int64(len(t.Data)+len(t.Gzip)+len(t.ETag)+len(k.Layers)+len(k.Filter)+len(k.Scope)) + entryOverhead
	if size > c.max {
		return
	}
	if el, ok := c.entries[k]; ok {
		c.remove(el.Value.(*entry), "")
	}
	e := &entry{key: k, tile: t, size: size, layers: strings.Split(k.Layers, ","), res: heatRes(k), countRes: t.CountRes}
	if e.countRes < 0 || e.countRes > 15 {
		e.countRes = 0
	}
	c.entries[k] = c.lru.PushFront(e)
	c.bytes += size
	xy := [2]uint32{k.X, k.Y}
	for _, l := range e.layers {
		ix := c.index[l]
		if ix == nil {
			ix = &layerIndex{}
			c.index[l] = ix
		}
		if ix.byZoom[k.Z] == nil {
			ix.byZoom[k.Z] = map[[2]uint32][]*entry{}
		}
		ix.byZoom[k.Z][xy] = append(ix.byZoom[k.Z][xy], e)
		ix.count[k.Z]++
		ix.res[k.Z][e.resOf(l)]++
	}
	for c.bytes > c.max {
		c.remove(c.lru.Back().Value.(*entry), EvictedLRU)
	}
}

// remove drops an entry everywhere; reason "" is a replacement, not counted.
func (c *Cache) remove(e *entry, reason string) {
	el, ok := c.entries[e.key]
	if !ok || el.Value.(*entry) != e {
		return // already gone (listed twice among victims)
	}
	c.lru.Remove(el)
	delete(c.entries, e.key)
	c.bytes -= e.size
	xy := [2]uint32{e.key.X, e.key.Y}
	for _, l := range e.layers {
		ix := c.index[l]
		tiles := ix.byZoom[e.key.Z]
		es := slices.DeleteFunc(tiles[xy], func(x *entry) bool { return x == e })
		if len(es) == 0 {
			delete(tiles, xy)
		} else {
			tiles[xy] = es
		}
		ix.count[e.key.Z]--
		ix.res[e.key.Z][e.resOf(l)]--
	}
	if reason != "" {
		c.evicted[reason]++
	}
}

func (c *Cache) markFlights(match func(Key) bool) {
	for k, f := range c.flights {
		if match(k) {
			f.stale = true
		}
	}
}

// heatRes is the H3 resolution a key's heatmap is drawn at.
func heatRes(k Key) int {
	if k.Res > 0 && k.Res < 16 {
		return k.Res
	}
	return TileRes(int(k.Z))
}
