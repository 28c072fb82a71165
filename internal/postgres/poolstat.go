package postgres

import (
	"context"

	"github.com/jackc/pgx/v5/pgxpool"
)

// PoolStat is one pool's connections at a moment.
type PoolStat struct {
	Name     string // "request", or "batch" for the long-work pool
	Acquired int32  // in use by a caller now
	Idle     int32
	Total    int32 // open: acquired, idle and being opened
	Max      int32 // the pool's MaxConns
}

// PoolStats reports the request pool and, when it is a pool of its own
// (a statement timeout is set), the batch pool. Connections a listener
// took out of the pool for good (LISTEN) are in neither.
func (db *DB) PoolStats() []PoolStat {
	stat := func(name string, s *pgxpool.Stat) PoolStat {
		return PoolStat{Name: name, Acquired: s.AcquiredConns(), Idle: s.IdleConns(), Total: s.TotalConns(), Max: s.MaxConns()}
	}
	out := []PoolStat{stat("request", db.pool.Stat())}
	if db.batch != db.pool {
		out = append(out, stat("batch", db.batch.Stat()))
	}
	return out
}

// WaitMerges waits for the background merges of busy rollup slices
// started so far (a single create starts one when its slice has taken
// enough single rows); each holds a connection while it runs. Call it
// once no more writes are coming.
func (db *DB) WaitMerges() { db.feed.merges.Wait() }

// Settle waits, once no more writes are coming, for the work writes leave
// running in the background on the pool: the merges of busy rollup slices
// and the coalesced notifications to the other replicas (sent some 20 ms
// after a write; while the database is away, retried every second until
// it is back). Then every connection the store itself took is back in its
// pool. It returns ctx's error if ctx ends first.
func (db *DB) Settle(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		db.feed.merges.Wait()
		db.feed.timers.Wait()
		db.tiles.timers.Wait()
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
