package postgres

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// IncidentChannel tells every replica where another replica's writes
// changed incidents, so their caches of incident answers evict them; the
// payload is the writer's (package featcache encodes it).
const IncidentChannel = "citygrid_incident"

// NotifyIncidents sends a payload on IncidentChannel.
func (db *DB) NotifyIncidents(ctx context.Context, payload string) error {
	_, err := db.pool.Exec(ctx, `SELECT pg_notify($1, $2)`, IncidentChannel, payload)
	return classify(err)
}

// IncidentEvents are what ListenIncidents reports.
type IncidentEvents struct {
	// Incident is a payload of IncidentChannel.
	Incident func(payload string)
	// Created is another replica's (or a seeder's) committed create or
	// bulk load, from the rollup notifications, which carry no places.
	Created func()
	// Connected follows every (re)connect; Lost a lost connection:
	// notifications sent meanwhile are lost, so a cache must not answer.
	Connected, Lost func()
}

// ListenIncidents holds one connection listening on IncidentChannel and
// RollupChannel until ctx ends, reconnecting with backoff.
func (db *DB) ListenIncidents(ctx context.Context, ev IncidentEvents, log *slog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := db.listenIncidentsOnce(ctx, ev, func() { backoff = 100 * time.Millisecond })
		ev.Lost()
		if ctx.Err() != nil {
			return
		}
		log.Warn("incident listener lost its connection; retrying", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (db *DB) listenIncidentsOnce(ctx context.Context, ev IncidentEvents, connected func()) error {
	pc, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	conn := pc.Hijack()                    // it carries a LISTEN: never back to the pool
	defer conn.Close(context.Background()) //nolint:errcheck
	if _, err := conn.Exec(ctx, "LISTEN "+IncidentChannel+"; LISTEN "+RollupChannel); err != nil {
		return err
	}
	connected()
	ev.Connected()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		switch n.Channel {
		case IncidentChannel:
			ev.Incident(n.Payload)
		case RollupChannel:
			// This process's own creates evict as they return.
			if origin, _, _ := strings.Cut(n.Payload, ";"); origin != db.feed.origin {
				ev.Created()
			}
		}
	}
}
