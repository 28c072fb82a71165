package featcache

import (
	"testing"
	"time"

	"github.com/paulmach/orb"
)

func box(x0, y0, x1, y1 float64) *orb.Bound {
	return &orb.Bound{Min: orb.Point{x0, y0}, Max: orb.Point{x1, y1}}
}

func TestEviction(t *testing.T) {
	c := New(1 << 20)
	c.SetLive(true)
	put := func(key string, area *orb.Bound) {
		t.Helper()
		if !c.Put(c.Begin(), key, area, time.Time{}, Answer{Body: []byte(key)}) {
			t.Fatalf("put %s refused", key)
		}
	}
	put("west", box(121.0, 28.8, 121.1, 28.9))
	put("east", box(121.3, 28.8, 121.4, 28.9))
	put("city", nil)
	c.EvictPoints(orb.Point{121.05, 28.85})
	if _, ok := c.Get("west"); ok {
		t.Error("an answer holding the point survived")
	}
	if _, ok := c.Get("city"); ok {
		t.Error("an answer of anywhere survived a write")
	}
	if a, ok := c.Get("east"); !ok || string(a.Body) != "east" {
		t.Error("an answer away from the write was evicted")
	}
	c.EvictPoints(orb.Point{121.4, 28.9}) // on the edge
	if _, ok := c.Get("east"); ok {
		t.Error("an answer whose edge holds the point survived")
	}
}

// TestOverlappedLoad: a load during which a write evicted its area is
// answered but not stored; one elsewhere is stored.
func TestOverlappedLoad(t *testing.T) {
	c := New(1 << 20)
	c.SetLive(true)
	tk := c.Begin()
	c.EvictPoints(orb.Point{121.05, 28.85})
	if c.Put(tk, "west", box(121.0, 28.8, 121.1, 28.9), time.Time{}, Answer{}) {
		t.Error("a load overlapped by a write was stored")
	}
	if !c.Put(tk, "east", box(121.3, 28.8, 121.4, 28.9), time.Time{}, Answer{}) {
		t.Error("a load away from the write was refused")
	}
	if c.Put(tk, "city", nil, time.Time{}, Answer{}) {
		t.Error("a load of anywhere overlapped by a write was stored")
	}
	old := c.Begin()
	for range keptEvictions + 1 {
		c.EvictPoints(orb.Point{0, 0})
	}
	if c.Put(old, "east2", box(121.3, 28.8, 121.4, 28.9), time.Time{}, Answer{}) {
		t.Error("a load older than the evictions kept was stored")
	}
}

func TestExpiryAndLiveness(t *testing.T) {
	now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	c := New(1 << 20)
	c.SetClock(func() time.Time { return now })
	if c.Put(c.Begin(), "k", nil, time.Time{}, Answer{}) {
		t.Error("stored before the cache is live")
	}
	c.SetLive(true)
	if !c.Put(c.Begin(), "k", nil, now.Add(time.Hour), Answer{}) {
		t.Fatal("refused")
	}
	if _, ok := c.Get("k"); !ok {
		t.Error("miss before the deadline")
	}
	now = now.Add(time.Hour)
	if _, ok := c.Get("k"); ok {
		t.Error("answered at the deadline, when an overdue flag turns")
	}
	c.Put(c.Begin(), "k", nil, time.Time{}, Answer{})
	c.SetLive(false)
	if _, ok := c.Get("k"); ok {
		t.Error("answered while off")
	}
	c.SetLive(true)
	if _, ok := c.Get("k"); ok {
		t.Error("an answer survived the cache being off")
	}
}

func TestBounded(t *testing.T) {
	c := New(64 << 10)
	c.SetLive(true)
	for i := range 100 {
		c.Put(c.Begin(), string(rune('a'+i%26))+string(rune('a'+i/26)), nil, time.Time{}, Answer{Body: make([]byte, 4<<10)})
	}
	if s := c.Stats(); s.Bytes > 64<<10 || s.Entries == 0 || s.Entries > 16 {
		t.Errorf("stats %+v", s)
	}
}

func TestPayloads(t *testing.T) {
	for _, c := range []struct {
		b   *orb.Bound
		all bool
	}{{box(121.1, 28.8, 121.2, 28.9), false}, {nil, true}} {
		o, b, err := Decode(encode("abc", c.b, c.all))
		if err != nil || o != "abc" || (b == nil) != c.all || (b != nil && *b != *c.b) {
			t.Errorf("round trip of %v: %q %v %v", c.b, o, b, err)
		}
	}
	for _, p := range []string{"", "abc", "abc;1,2,3", "abc;1,2,x,4"} {
		if _, _, err := Decode(p); err == nil {
			t.Errorf("Decode(%q) accepted", p)
		}
	}
}
