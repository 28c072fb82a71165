package main

import (
	"context"
	"log/slog"
	"sync"

	"github.com/citygrid/citygrid/internal/featcache"
	"github.com/citygrid/citygrid/internal/postgres"
)

// startFeatureCache builds the cache of incident answers and the incident
// and service request stores whose writes evict from it and tell the other
// replicas (every path that writes incidents goes through one of them). The cache
// answers only while its listener hears the other replicas' writes: it is
// turned on at each (re)connect and off, emptied, when the connection is
// lost. The listener runs in bg and ends with ctx.
func startFeatureCache(ctx context.Context, bg *sync.WaitGroup, db *postgres.DB, log *slog.Logger) (*featcache.Cache, featcache.Store, featcache.Requests) {
	cache := featcache.New(0)
	n := featcache.NewNotifier(db.NotifyIncidents)
	bg.Go(func() {
		db.ListenIncidents(ctx, postgres.IncidentEvents{
			Incident:  func(p string) { cache.Follow(n, p) },
			Created:   func() { cache.Evict(nil) },
			Connected: func() { cache.Evict(nil); cache.SetLive(true) },
			Lost:      func() { cache.SetLive(false) },
		}, log)
	})
	return cache, featcache.Store{IncidentStore: db, Cache: cache, Notifier: n},
		featcache.Requests{ServiceRequestStore: db, Cache: cache, Notifier: n}
}
