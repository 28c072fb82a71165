package postgres

import (
	"context"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
)

// CompactRollups merges the rollup rows of every category's day that has
// more than minRows of them into one row, and reports how many days it
// merged. Single creates add a row each, so a busy day grows by thousands
// of rows, and every reload of one of its slices reads them all; merged,
// a reload reads one row plus what came since.
//
// Each day is merged in its own statement: the rows it deletes are exactly
// the rows it sums into the new one, so counts never change and the
// heatmap read models need no notice; rows inserted meanwhile are not seen
// by the delete and stay as they are. Two replicas merging one day at once
// are safe too: the second finds the rows gone and inserts nothing.
func (db *DB) CompactRollups(ctx context.Context, minRows int) (merged int, err error) {
	defer wrap(&err, "CompactRollups")
	rows, err := db.pool.Query(ctx, `SELECT category, day FROM h3_rollup GROUP BY 1, 2 HAVING count(*) > $1`, minRows)
	if err != nil {
		return 0, db.classify(err)
	}
	todo, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (catDay, error) {
		var s catDay
		var day time.Time
		err := r.Scan(&s.cat, &day)
		s.day = grid.DateOf(day)
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

// catDay is a category's local day: the rows of its slices in every town.
type catDay struct {
	cat string
	day grid.Date
}

// compactSlice merges the rows of a category's day into one. Entries are
// summed by town, hour and cell; corrections that cancel out are dropped.
func (db *DB) compactSlice(ctx context.Context, s catDay) error {
	_, err := db.pool.Exec(ctx, `
		WITH d AS (
			DELETE FROM h3_rollup WHERE category = $1 AND day = $2 RETURNING hours, towns, cells, counts
		), e AS (
			SELECT u.town, u.hour, u.h3, sum(u.n)::integer AS n
			FROM d CROSS JOIN LATERAL unnest(d.hours, d.towns, d.cells, d.counts) AS u(hour, town, h3, n)
			GROUP BY 1, 2, 3 HAVING sum(u.n) <> 0
		)
		INSERT INTO h3_rollup (category, day, hours, towns, cells, counts)
		SELECT $1, $2, array_agg(hour ORDER BY town, hour, h3), array_agg(town ORDER BY town, hour, h3),
			array_agg(h3 ORDER BY town, hour, h3), array_agg(n ORDER BY town, hour, h3)
		FROM e HAVING count(*) > 0`, s.cat, s.day.Time())
	return db.classify(err)
}

// compactAfter is how many single creates a slice takes before this
// process merges its rows.
const compactAfter = 256

// countSingles notes single creates per category and day and merges their
// rows in the background once they have taken compactAfter of them, so a
// busy day stays a few hundred rows at most and reloading it stays cheap.
func (db *DB) countSingles(ss []grid.RollupSlice) {
	f := db.feed
	var due []catDay
	f.mu.Lock()
	for _, sl := range ss {
		s := catDay{sl.Category, sl.Day}
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
