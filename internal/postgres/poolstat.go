package postgres

import "github.com/jackc/pgx/v5/pgxpool"

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
