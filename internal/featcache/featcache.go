// Package featcache keeps encoded answers of incident reads (OGC items,
// GET /v1/incidents) in memory and evicts what writes change: a page of
// incidents in a 1 km² box costs PostgreSQL several milliseconds (the
// incident table has no GiST index, so ingest stays fast), and GIS desks
// ask for the same pages again and again.
//
// What it promises. An answer is stored with the WGS84 area its query can
// select (nil: anywhere) and the moment it goes out of date by itself (an
// open incident's deadline passing turns its overdue flag). A write made
// through Store (every write path of the service) evicts, before it
// returns, every answer whose area holds a changed incident; a write whose
// outcome is unknown (an error) evicts too. Other replicas hear of it by a
// notification after commit (Notifier, coalesced over 20 ms, as the
// heatmap read model's single creates are) and of their bulk loads and
// creates by the rollup notifications; until a replica's listener is
// connected, and whenever it is lost, that replica's cache is off and
// empty. A load that an eviction overlapped is answered but not stored.
// Answers a replica serves can so lag another replica's write only by
// the notification's delay, as its heatmaps do; on the replica that wrote,
// never.
package featcache

import (
	"container/list"
	"sync"
	"time"

	"github.com/paulmach/orb"
)

// DefaultBytes is the size of a cache built with no size.
const DefaultBytes = 64 << 20

// Answer is a stored response.
type Answer struct {
	Body        []byte
	ContentType string
	ContentCRS  string // the Content-Crs header, when the answer has one
}

// Stats are a cache's counters.
type Stats struct {
	Hits, Misses, Stored, Refused, Evicted uint64
	Entries                                int
	Bytes                                  int64
}

type entry struct {
	key     string
	area    *orb.Bound // nil: anywhere
	expires time.Time  // zero: not by itself
	a       Answer
	size    int64
}

// eviction is one recent eviction, for loads that overlapped it.
type eviction struct {
	gen  uint64
	area *orb.Bound // nil: everything
}

const keptEvictions = 512

// Cache is a bounded LRU of answers. Safe for concurrent use.
type Cache struct {
	mu      sync.Mutex
	max     int64
	bytes   int64
	lru     *list.List // of *entry, most recent first
	entries map[string]*list.Element
	live    bool
	gen     uint64
	recent  []eviction // the last keptEvictions evictions, oldest first
	now     func() time.Time
	st      Stats
}

// New builds a cache of up to maxBytes (≤ 0: DefaultBytes). It starts
// off: SetLive(true) once the notifications of other replicas' writes
// arrive (a cache for one process alone may be set live at once).
func New(maxBytes int64) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultBytes
	}
	return &Cache{max: maxBytes, lru: list.New(), entries: map[string]*list.Element{}, now: time.Now}
}

// SetClock replaces the cache's clock (tests).
func (c *Cache) SetClock(now func() time.Time) {
	c.mu.Lock()
	c.now = now
	c.mu.Unlock()
}

// SetLive turns the cache on or off; off, it is emptied and neither
// answers nor stores.
func (c *Cache) SetLive(live bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.live = live
	if !live {
		c.evictLocked(nil)
	}
}

// Ticket marks the start of a load: Put stores its answer only if no
// eviction since could have touched it.
type Ticket struct {
	gen  uint64
	live bool
}

// Begin starts a load.
func (c *Cache) Begin() Ticket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Ticket{gen: c.gen, live: c.live}
}

// Get returns the answer stored under key.
func (c *Cache) Get(key string) (Answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live {
		return Answer{}, false
	}
	el, ok := c.entries[key]
	if !ok {
		c.st.Misses++
		return Answer{}, false
	}
	e := el.Value.(*entry)
	if !e.expires.IsZero() && !c.now().Before(e.expires) {
		c.remove(el)
		c.st.Misses++
		return Answer{}, false
	}
	c.lru.MoveToFront(el)
	c.st.Hits++
	return e.a, true
}

// Put stores an answer loaded since t: area is the WGS84 box its query can
// select (nil: anywhere), expires when it goes out of date by itself (zero:
// never). It is refused when an eviction since t may have changed it.
func (c *Cache) Put(t Ticket, key string, area *orb.Bound, expires time.Time, a Answer) bool {
	size := int64(len(a.Body)+len(key)) + 256
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.live || !t.live || size > c.max/4 || (!expires.IsZero() && !c.now().Before(expires)) || c.overlapped(t, area) {
		c.st.Refused++
		return false
	}
	if el, ok := c.entries[key]; ok {
		c.remove(el)
	}
	var ar *orb.Bound
	if area != nil {
		b := *area
		ar = &b
	}
	c.entries[key] = c.lru.PushFront(&entry{key: key, area: ar, expires: expires, a: a, size: size})
	c.bytes += size
	c.st.Stored++
	for c.bytes > c.max {
		c.remove(c.lru.Back())
	}
	return true
}

// overlapped reports whether an eviction after t may touch area.
func (c *Cache) overlapped(t Ticket, area *orb.Bound) bool {
	if t.gen == c.gen {
		return false
	}
	if len(c.recent) == 0 || c.recent[0].gen > t.gen+1 {
		return true // older than what is kept: assume the worst
	}
	for _, ev := range c.recent {
		if ev.gen > t.gen && meets(ev.area, area) {
			return true
		}
	}
	return false
}

func meets(a, b *orb.Bound) bool { return a == nil || b == nil || a.Intersects(*b) }

// Evict removes every answer whose area meets b (nil: every answer).
func (c *Cache) Evict(b *orb.Bound) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evictLocked(b)
}

// EvictPoints removes every answer whose area holds one of pts.
func (c *Cache) EvictPoints(pts ...orb.Point) {
	if len(pts) == 0 {
		return
	}
	b := orb.Bound{Min: pts[0], Max: pts[0]}
	for _, p := range pts[1:] {
		b = b.Extend(p)
	}
	c.Evict(&b)
}

func (c *Cache) evictLocked(b *orb.Bound) {
	c.gen++
	var area *orb.Bound
	if b != nil {
		x := *b
		area = &x
	}
	c.recent = append(c.recent, eviction{gen: c.gen, area: area})
	if len(c.recent) > keptEvictions {
		c.recent = c.recent[len(c.recent)-keptEvictions:]
	}
	for el := c.lru.Front(); el != nil; {
		next := el.Next()
		if meets(b, el.Value.(*entry).area) {
			c.remove(el)
			c.st.Evicted++
		}
		el = next
	}
}

func (c *Cache) remove(el *list.Element) {
	e := el.Value.(*entry)
	c.lru.Remove(el)
	delete(c.entries, e.key)
	c.bytes -= e.size
}

// Stats returns the counters.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.st
	s.Entries, s.Bytes = len(c.entries), c.bytes
	return s
}
