package postgres

import (
	"context"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
)

// CompactRollups merges the rollup rows of every slice that has more than
// minRows of them into one row per slice, and reports how many slices it
// merged. Single creates add a row each, so a busy day's slice grows by
// thousands of rows, and every reload of it reads them all; merged, a
// reload reads one row plus what came since.
//
// Each slice is merged in its own statement: the rows it deletes are
// exactly the rows it sums into the new one, so counts never change and
// the heatmap read models need no notice; rows inserted meanwhile are not
// seen by the delete and stay as they are. Two replicas merging one slice
// at once are safe too: the second finds the rows gone and inserts
// nothing.
func (db *DB) CompactRollups(ctx context.Context, minRows int) (merged int, err error) {
	defer wrap(&err, "CompactRollups")
	rows, err := db.pool.Query(ctx, `SELECT category, day, town FROM h3_rollup GROUP BY 1, 2, 3 HAVING count(*) > $1`, minRows)
	if err != nil {
		return 0, db.classify(err)
	}
	todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (grid.RollupSlice, error) {
		var s grid.RollupSlice
		var day time.Time
		err := r.Scan(&s.Category, &day, &s.Town)
		s.Day = grid.DateOf(day)
		return s, err
	})
	if err != nil {
		return 0, db.classify(err)
	}
	for _, s := range todo {
		if err := db.compactSlice(ctx, s); err != nil {
			return merged, err
		}
		merged++
	}
	return merged, nil
}

// compactSlice merges the rows of one slice into one. Entries are summed
// by hour and cell; corrections that cancel out are dropped.
func (db *DB) compactSlice(ctx context.Context, s grid.RollupSlice) error {
	_, err := db.pool.Exec(ctx, `
		WITH d AS (
			DELETE FROM h3_rollup WHERE category = $1 AND day = $2 AND town = $3 RETURNING hours, cells, counts
		), e AS (
			SELECT u.hour, u.h3, sum(u.n)::integer AS n
			FROM d CROSS JOIN LATERAL unnest(d.hours, d.cells, d.counts) AS u(hour, h3, n)
			GROUP BY 1, 2 HAVING sum(u.n) <> 0
		)
		INSERT INTO h3_rollup (category, day, town, hours, cells, counts)
		SELECT $1, $2, $3, array_agg(hour ORDER BY hour, h3), array_agg(h3 ORDER BY hour, h3), array_agg(n ORDER BY hour, h3)
		FROM e HAVING count(*) > 0`, s.Category, s.Day.Time(), s.Town)
	return db.classify(err)
}

// compactAfter is how many single creates a slice takes before this
// process merges its rows.
const compactAfter = 256

// countSingles notes single creates per slice and merges a slice's rows in
// the background once it has taken compactAfter of them, so a busy day's
// slice stays a few hundred rows at most and reloading it stays cheap.
func (db *DB) countSingles(ss []grid.RollupSlice) {
	f := db.feed
	var due []grid.RollupSlice
	f.mu.Lock()
	for _, s := range ss {
		f.singles[s]++
		if f.singles[s] >= compactAfter && !f.compacting[s] {
			f.compacting[s] = true
			due = append(due, s)
		}
	}
	f.mu.Unlock()
	for _, s := range due {
		f.merges.Add(1)
		go func() {
			defer f.merges.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			err := db.compactSlice(ctx, s)
			f.mu.Lock()
			delete(f.compacting, s)
			if err == nil {
				delete(f.singles, s)
			}
			f.mu.Unlock()
		}()
	}
}
