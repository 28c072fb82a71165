package postgres

import (
	"context"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
)

// Baselines is the bench store: it serves `citygrid bench` only, for the
// baselines that need this package's own machinery. Nothing the service
// runs calls it; baselines written in plain SQL live with the bench, on
// the pool (DB.Pool).
type Baselines struct{ db *DB }

// NewBaselines returns the bench store over db.
func NewBaselines(db *DB) *Baselines { return &Baselines{db: db} }

// RawCopyRate is the database's share of a bulk load alone, in rows per
// second: COPY of xs, already assigned, through the bulk path's own binary
// encoder into the incident table itself (its partitions, indexes and
// checks), in a transaction that is then rolled back. Nothing else
// (decoding, assignment, keys, rollups, commit) is in it.
func (b *Baselines) RawCopyRate(ctx context.Context, xs []grid.Incident) (rate float64, err error) {
	defer wrap(&err, "RawCopyRate(%d)", len(xs))
	tx, err := b.db.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // the point
	start := time.Now()
	if _, err := copyIncidents(ctx, tx, &copyReader{next: each(xs)}); err != nil {
		return 0, err
	}
	return float64(len(xs)) / time.Since(start).Seconds(), nil
}

// Vacuum does now what autovacuum would do later to the incidents, their
// trail and the rollups after a large load, so that measurements taken
// next do not share the cores with it.
func (b *Baselines) Vacuum(ctx context.Context) (err error) {
	defer wrap(&err, "vacuum")
	_, err = b.db.batch.Exec(ctx, `VACUUM (ANALYZE) incident, incident_event, incident_key, h3_rollup`)
	return b.db.classify(err)
}
