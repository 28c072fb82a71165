package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/uber/h3-go/v4"
)

// rebuildRollups writes the rollup rows of the incidents that migration 007
// left without any (h3_rollup_rebuild says which), with the same entries a
// write gives a new incident (rollupOf): the points are stored, so
// latLngToCell is computed here as it is on the write path. It works a
// local month per transaction, committing its progress with the rows, so
// an interrupted rebuild resumes where it stopped; replicas migrating at
// once take turns on the progress row's lock. When done it tells every
// replica to reload its heatmaps.
func rebuildRollups(ctx context.Context, pool *pgxpool.Pool) (err error) {
	defer wrap(&err, "rebuild rollups")
	var pending bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM h3_rollup_rebuild)`).Scan(&pending); err != nil || !pending {
		return err
	}
	for {
		done, err := rebuildMonth(ctx, pool)
		if err != nil {
			return err
		}
		if done {
			break
		}
	}
	_, err = pool.Exec(ctx, `SELECT pg_notify($1, $2)`, RollupChannel, "rebuild;*")
	return err
}

// rebuildMonth counts one local month of the incidents left to rebuild and
// reports whether none is left.
func rebuildMonth(ctx context.Context, pool *pgxpool.Pool) (done bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var through int64
		var next, last *time.Time
		err := tx.QueryRow(ctx, `SELECT through, next, last FROM h3_rollup_rebuild FOR UPDATE`).Scan(&through, &next, &last)
		if errors.Is(err, pgx.ErrNoRows) { // another replica finished it
			done = true
			return nil
		}
		if err != nil {
			return err
		}
		if next == nil {
			if err := tx.QueryRow(ctx, `SELECT min(occurred_at), max(occurred_at) FROM incident WHERE id <= $1`, through).Scan(&next, &last); err != nil {
				return err
			}
			if next == nil {
				done = true
				_, err := tx.Exec(ctx, `DELETE FROM h3_rollup_rebuild`)
				return err
			}
			l := next.In(cst)
			first := time.Date(l.Year(), l.Month(), 1, 0, 0, 0, 0, cst)
			next = &first
		}
		from := next.In(cst)
		to := time.Date(from.Year(), from.Month()+1, 1, 0, 0, 0, 0, cst)
		if err := rebuildRange(ctx, tx, through, from, to); err != nil {
			return err
		}
		if to.After(*last) {
			done = true
			_, err := tx.Exec(ctx, `DELETE FROM h3_rollup_rebuild`)
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE h3_rollup_rebuild SET next = $1, last = $2`, to, *last)
		return err
	})
	return done, err
}

// rebuildRange writes the rollup rows of the incidents with id ≤ through
// that occurred in [from, to), whole local days. They are read in time
// order so that only one day's entries are held as a map at a time.
func rebuildRange(ctx context.Context, tx pgx.Tx, through int64, from, to time.Time) error {
	rows, err := tx.Query(ctx, `SELECT category, town_code, occurred_at, h3, ST_X(geom), ST_Y(geom) FROM incident
		WHERE occurred_at >= $1 AND occurred_at < $2 AND id <= $3 ORDER BY occurred_at`, from, to, through)
	if err != nil {
		return err
	}
	var (
		in    rollupInput
		cell  int64
		day   = int32(-1 << 31)
		roll  = map[rollupKey]int{}
		out   []rollupRow
		add   = func(k rollupKey, n int) { roll[k] += n }
		flush = func() {
			out = append(out, rollupRows(roll)...)
			clear(roll)
		}
	)
	_, err = pgx.ForEachRow(rows, []any{&in.category, &in.town, &in.at, &cell, &in.point[0], &in.point[1]}, func() error {
		if d := dayNumberOf(in.at.In(cst)); d != day {
			flush()
			day = d
		}
		in.h3 = h3.Cell(cell)
		return rollupOf(in, add)
	})
	if err != nil {
		return err
	}
	flush()
	return copyRollupRows(ctx, tx, out)
}
