package postgres

import (
	"context"
	"errors"
	"slices"

	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/uber/h3-go/v4"
)

// rebuildRollups writes the rollup rows of the incidents that migration 007
// left without any (h3_rollup_rebuild says which), with the same entries a
// write gives a new incident (rollupOf): the points are stored, so
// latLngToCell is computed here as it is on the write path. It works one
// incident partition per transaction, committing its progress with the
// rows, so an interrupted rebuild resumes where it stopped; replicas
// migrating at once take turns on the progress row's lock. When done it
// tells every replica to reload its heatmaps.
func rebuildRollups(ctx context.Context, pool *pgxpool.Pool, ex *hexbin.Exact) (err error) {
	defer wrap(&err, "rebuild rollups")
	var pending bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM h3_rollup_rebuild)`).Scan(&pending); err != nil || !pending {
		return err
	}
	for {
		done, err := rebuildPartition(ctx, pool, ex)
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

// rebuildPartition counts the incidents of one partition not done yet and
// reports whether none is left.
func rebuildPartition(ctx context.Context, pool *pgxpool.Pool, ex *hexbin.Exact) (finished bool, err error) {
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		var through int64
		var done []string
		err := tx.QueryRow(ctx, `SELECT through, done FROM h3_rollup_rebuild FOR UPDATE`).Scan(&through, &done)
		if errors.Is(err, pgx.ErrNoRows) { // another replica finished it
			finished = true
			return nil
		}
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
			WHERE i.inhparent = 'incident'::regclass ORDER BY 1`)
		if err != nil {
			return err
		}
		parts, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		i := slices.IndexFunc(parts, func(p string) bool { return !slices.Contains(done, p) })
		if i < 0 {
			finished = true
			_, err := tx.Exec(ctx, `DELETE FROM h3_rollup_rebuild`)
			return err
		}
		if err := rebuildRows(ctx, tx, ex, parts[i], through); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE h3_rollup_rebuild SET done = array_append(done, $1)`, parts[i])
		return err
	})
	return finished, err
}

// rebuildRows writes the rollup rows of the incidents with id ≤ through in
// one partition. They are read in time order, so that one local day's
// entries are held at a time and each slice gets one row (two for the day
// that straddles the partition's bound).
func rebuildRows(ctx context.Context, tx pgx.Tx, ex *hexbin.Exact, partition string, through int64) error {
	if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '256MB'`); err != nil { // the sort, in memory
		return err
	}
	rows, err := tx.Query(ctx, `SELECT category, town_code, occurred_at, h3, ST_X(geom), ST_Y(geom) FROM `+
		pgx.Identifier{partition}.Sanitize()+` WHERE id <= $1 ORDER BY occurred_at`, through)
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
		return rollupOf(ex, in, add)
	})
	if err != nil {
		return err
	}
	flush()
	return copyRollupRows(ctx, tx, out)
}
