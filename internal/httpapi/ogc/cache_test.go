package ogc_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/api"
	"github.com/citygrid/citygrid/internal/featcache"
	"github.com/citygrid/citygrid/internal/httpapi"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/postgres"
)

// replica is one cached replica of the service over a shared database,
// wired as serve wires it.
type replica struct {
	url   string
	cache *featcache.Cache
}

func newReplica(t *testing.T, db *postgres.DB) *replica {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cat := locate.NewCatalog(db)
	if _, err := cat.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	cache := featcache.New(0)
	n := featcache.NewNotifier(db.NotifyIncidents)
	connected := make(chan struct{}, 1)
	go db.ListenIncidents(ctx, postgres.IncidentEvents{
		Incident: func(p string) { cache.Follow(n, p) },
		Created:  func() { cache.Evict(nil) },
		Connected: func() {
			cache.Evict(nil)
			cache.SetLive(true)
			select {
			case connected <- struct{}{}:
			default:
			}
		},
		Lost: func() { cache.SetLive(false) },
	}, slog.New(slog.DiscardHandler))
	<-connected
	store := featcache.Store{IncidentStore: db, Cache: cache, Notifier: n}
	s := httpapi.New(httpapi.Config{Store: db, Incidents: store, Cache: cache, Keys: db, Facilities: db, Features: db, Catalog: cat, OpenAPI: api.OpenAPI})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)
	return &replica{url: srv.URL, cache: cache}
}

// waitEvicted waits until r's cache has evicted more than before: another
// replica's notification has arrived.
func waitEvicted(t *testing.T, r *replica, before uint64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.cache.Stats().Evicted <= before {
		if time.Now().After(deadline) {
			t.Fatal("the other replica's write never reached this cache")
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not standing in for it
	}
}

// TestCacheNeverStale: a page answered from the cache the second time is
// evicted by every write that changes it — on the replica that wrote, before
// the write returns; on another replica, when its notification arrives.
func TestCacheNeverStale(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	a, b := newReplica(t, f.db), newReplica(t, f.db)
	const box = "121.10,28.83,121.16,28.87"
	pages := []string{"/ogc/collections/incidents/items?limit=1000&bbox=" + box, "/v1/incidents?f=geojson&limit=1000&bbox=" + box}
	read := func(r *replica, path string) featureCollection {
		t.Helper()
		fc, _ := f.items(t, r.url+path, f.admin)
		return fc
	}
	status := func(fc featureCollection, id int64) string {
		for _, x := range fc.Features {
			if fmt.Sprint(x.ID) == fmt.Sprint(id) {
				s, _ := x.Properties["status"].(string)
				return s
			}
		}
		return ""
	}
	for _, r := range []*replica{a, b} {
		for _, p := range pages {
			read(r, p)
			hits := r.cache.Stats().Hits
			read(r, p)
			if r.cache.Stats().Hits != hits+1 {
				t.Fatalf("%s: the second read was not a hit", p)
			}
		}
	}
	// A create inside the box, through replica a.
	var lon, lat float64
	if err := f.db.Pool().QueryRow(context.Background(), `SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM cell
		WHERE version_id = (SELECT id FROM grid_version WHERE active) AND ST_Within(geom, ST_MakeEnvelope(121.10, 28.83, 121.16, 28.87, 4326)) LIMIT 1) s`).Scan(&lon, &lat); err != nil {
		t.Fatal(err)
	}
	before := b.cache.Stats().Evicted
	resp, body := f.do(t, "POST", a.url+"/v1/incidents", strings.NewReader(fmt.Sprintf(`{"category":"E0505","lon":%v,"lat":%v,"occurred_at":%q,"source":"app"}`,
		lon, lat, time.Now().Add(-time.Minute).Format(time.RFC3339))), "Authorization", "Bearer "+f.admin, "Content-Type", "application/json")
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	id := decode[struct{ ID int64 }](t, body).ID
	for _, p := range pages {
		if s := status(read(a, p), id); s != "collected" {
			t.Errorf("replica a, %s: the new incident reads %q right after its create", p, s)
		}
	}
	waitEvicted(t, b, before)
	for _, p := range pages {
		if s := status(read(b, p), id); s != "collected" {
			t.Errorf("replica b, %s: the new incident reads %q after the notification", p, s)
		}
	}
	// A lifecycle action through replica b changes the status in both.
	for _, r := range []*replica{a, b} {
		for _, p := range pages {
			read(r, p) // cached again
		}
	}
	before = a.cache.Stats().Evicted
	resp, body = f.do(t, "POST", fmt.Sprintf("%s/v1/incidents/%d/events", b.url, id), strings.NewReader(`{"action":"register"}`),
		"Authorization", "Bearer "+f.admin, "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("register: %d %s", resp.StatusCode, body)
	}
	for _, p := range pages {
		if s := status(read(b, p), id); s != "registered" {
			t.Errorf("replica b, %s: %q right after register", p, s)
		}
	}
	waitEvicted(t, a, before)
	for _, p := range pages {
		if s := status(read(a, p), id); s != "registered" {
			t.Errorf("replica a, %s: %q after the notification", p, s)
		}
	}
	// A page elsewhere in the city is not evicted by these writes.
	far := "/ogc/collections/incidents/items?limit=1000&bbox=121.60,28.95,121.70,29.05"
	read(a, far)
	hits := a.cache.Stats().Hits
	resp, _ = f.do(t, "POST", fmt.Sprintf("%s/v1/incidents/%d/events", a.url, id), strings.NewReader(`{"action":"dispatch"}`),
		"Authorization", "Bearer "+f.admin, "Content-Type", "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("dispatch: %d", resp.StatusCode)
	}
	read(a, far)
	if a.cache.Stats().Hits != hits+1 {
		t.Error("a write far away evicted a page it could not change")
	}
}
