package featcache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/paulmach/orb"
)

// Store is an incident store whose writes evict the answers they change
// before they return, and tell the other replicas through Notifier (nil:
// one replica alone).
type Store struct {
	grid.IncidentStore
	Cache    *Cache
	Notifier *Notifier
}

func (s Store) changed(b *orb.Bound) {
	s.Cache.Evict(b)
	if s.Notifier != nil {
		s.Notifier.Changed(b)
	}
}

func pointBound(p orb.Point) *orb.Bound { return &orb.Bound{Min: p, Max: p} }

// CreateIncident stores x and evicts the answers around it.
func (s Store) CreateIncident(ctx context.Context, x *grid.Incident, actor string) (bool, error) {
	created, err := s.IncidentStore.CreateIncident(ctx, x, actor)
	if created || err != nil {
		s.changed(pointBound(x.Point))
	}
	return created, err
}

// BulkCreate stores xs and evicts the answers meeting their box.
func (s Store) BulkCreate(ctx context.Context, xs []grid.Incident) (grid.BulkResult, error) {
	res, err := s.IncidentStore.BulkCreate(ctx, xs)
	var b *orb.Bound
	for i := range xs {
		b = extend(b, xs[i].Point)
	}
	if b != nil {
		s.changed(b)
	}
	return res, err
}

// BulkStream stores a stream and evicts the answers meeting its box.
func (s Store) BulkStream(ctx context.Context, next func() (*grid.Incident, error)) (grid.BulkResult, error) {
	var b *orb.Bound
	res, err := s.IncidentStore.BulkStream(ctx, func() (*grid.Incident, error) {
		x, err := next()
		if x != nil {
			b = extend(b, x.Point)
		}
		return x, err
	})
	if b != nil {
		s.changed(b)
	}
	return res, err
}

// Transition applies an action and evicts the answers around the incident.
func (s Store) Transition(ctx context.Context, id int64, action, actor, note string, now time.Time, cal *grid.Calendar) (grid.Incident, grid.Event, error) {
	x, ev, err := s.IncidentStore.Transition(ctx, id, action, actor, note, now, cal)
	switch {
	case err == nil:
		s.changed(pointBound(x.Point))
	case grid.KindOf(err) != grid.NotFound && grid.KindOf(err) != grid.Conflict && grid.KindOf(err) != grid.Invalid:
		s.changed(nil) // the outcome is unknown, and so is the place
	}
	return x, ev, err
}

// FlagOverdue flags overdue incidents; it reports ids only, so any flag
// evicts every answer.
func (s Store) FlagOverdue(ctx context.Context, now time.Time) ([]int64, error) {
	ids, err := s.IncidentStore.FlagOverdue(ctx, now)
	if len(ids) > 0 || err != nil {
		s.changed(nil)
	}
	return ids, err
}

func extend(b *orb.Bound, p orb.Point) *orb.Bound {
	if b == nil {
		return pointBound(p)
	}
	x := b.Extend(p)
	return &x
}

// Notifier tells other replicas where this one's writes changed
// incidents: boxes are merged and sent at most every 20 ms after the
// first, so concurrent writes do not queue on the notification lock.
// Payload: "origin;minlon,minlat,maxlon,maxlat" or "origin;*".
type Notifier struct {
	origin string
	send   func(ctx context.Context, payload string) error

	mu        sync.Mutex
	pending   *orb.Bound
	all       bool
	scheduled bool
}

// NewNotifier sends with send (the store's NOTIFY).
func NewNotifier(send func(ctx context.Context, payload string) error) *Notifier {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return &Notifier{origin: hex.EncodeToString(b), send: send}
}

// Origin names this replica in its payloads.
func (n *Notifier) Origin() string { return n.origin }

// Changed queues a changed area (nil: anywhere).
func (n *Notifier) Changed(b *orb.Bound) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if b == nil {
		n.all = true
	} else if n.pending == nil {
		x := *b
		n.pending = &x
	} else {
		x := n.pending.Union(*b)
		n.pending = &x
	}
	if !n.scheduled {
		n.scheduled = true
		time.AfterFunc(20*time.Millisecond, n.flush)
	}
}

func (n *Notifier) flush() {
	n.mu.Lock()
	b, all := n.pending, n.all
	n.pending, n.all, n.scheduled = nil, false, false
	n.mu.Unlock()
	if !all && b == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.send(ctx, encode(n.origin, b, all)); err != nil {
		// The database is away: try again in a second (the other replicas'
		// listeners lose their connection too, and empty their caches).
		time.AfterFunc(time.Second, func() {
			if all {
				n.Changed(nil)
			} else {
				n.Changed(b)
			}
		})
	}
}

func encode(origin string, b *orb.Bound, all bool) string {
	if all || b == nil {
		return origin + ";*"
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	return origin + ";" + f(b.Min[0]) + "," + f(b.Min[1]) + "," + f(b.Max[0]) + "," + f(b.Max[1])
}

// Decode reads a payload: the origin, and the changed box (nil: anywhere).
func Decode(p string) (origin string, b *orb.Bound, err error) {
	origin, rest, ok := strings.Cut(p, ";")
	if !ok {
		return origin, nil, fmt.Errorf("incident notification %q: no ';'", p)
	}
	if rest == "*" {
		return origin, nil, nil
	}
	parts := strings.Split(rest, ",")
	if len(parts) != 4 {
		return origin, nil, fmt.Errorf("incident notification %q: want 4 numbers", p)
	}
	var v [4]float64
	for i, s := range parts {
		if v[i], err = strconv.ParseFloat(s, 64); err != nil {
			return origin, nil, fmt.Errorf("incident notification %q: %v", p, err)
		}
	}
	return origin, &orb.Bound{Min: orb.Point{v[0], v[1]}, Max: orb.Point{v[2], v[3]}}, nil
}

// Follow is what a replica's listener calls: for another replica's
// notification on the incident channel, the box it names is evicted (an
// unreadable one evicts everything); own notifications are skipped.
func (c *Cache) Follow(n *Notifier, payload string) {
	origin, b, err := Decode(payload)
	if err != nil {
		c.Evict(nil)
		return
	}
	if n != nil && origin == n.origin {
		return
	}
	c.Evict(b)
}

// Expiry is when a page of incidents goes out of date by itself: the
// first deadline after now of an open incident on it, when its overdue
// flag turns (zero: never).
func Expiry(xs []grid.Incident, now time.Time) time.Time {
	var t time.Time
	for i := range xs {
		if d := xs[i].Deadline; grid.Open(xs[i].Status) && d.After(now) && (t.IsZero() || d.Before(t)) {
			t = d
		}
	}
	return t
}

// Requests is a service request store (Open311) whose creates — each
// makes an incident — evict the answers around the incident as Store's do.
type Requests struct {
	grid.ServiceRequestStore
	Cache    *Cache
	Notifier *Notifier
}

// CreateServiceRequest stores the request and its incident, then evicts.
func (s Requests) CreateServiceRequest(ctx context.Context, x *grid.Incident, r *grid.ServiceRequest, actor string) (bool, error) {
	created, err := s.ServiceRequestStore.CreateServiceRequest(ctx, x, r, actor)
	if created || err != nil {
		Store{Cache: s.Cache, Notifier: s.Notifier}.changed(pointBound(x.Point))
	}
	return created, err
}
