package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// Heatmap counts incidents per H3 cell in SQL. Resolutions 5–9 read the
// hourly rollups (parents of their resolution-9 cells); resolution 10,
// finer than the rollups, reads the incidents' own cells. Windows are in
// whole hours of China time, the rollups' grain. The service answers
// resolutions 5–9 from its in-memory read model (hexbin.Heat) and comes
// here for resolution 10 and while that model loads.
func (db *DB) Heatmap(ctx context.Context, q grid.HeatQuery) (out []grid.HeatCell, err error) {
	defer wrap(&err, "Heatmap(res %d)", q.Res)
	if q.Res < 5 || q.Res > 10 {
		return nil, grid.Errorf(grid.Invalid, "res: %d: want 5…10", q.Res)
	}
	from, to := q.From.In(cst), q.To.In(cst)
	args := []any{q.Categories, q.Res}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var sql string
	if q.Res <= 9 {
		// The rollup entries of the window: the slices of its days, then
		// their hours.
		first, last := arg(dayOf(from)), arg(dayOf(to))
		w := []string{"(day, hour) >= (" + first + "::date, " + arg(int16(from.Hour())) + "::smallint)",
			"(day, hour) < (" + last + "::date, " + arg(int16(to.Hour())) + "::smallint)"}
		if len(q.Hours) > 0 {
			w = append(w, "hour = ANY("+arg(toInt16(q.Hours))+"::smallint[])")
		}
		if len(q.Weekdays) > 0 {
			w = append(w, "extract(isodow FROM day)::int = ANY("+arg(q.Weekdays)+"::int[])")
		}
		sql = `SELECT CASE WHEN $2::int = 9 THEN h3 ELSE h3_parent(h3, $2) END AS c, sum(n) FROM (
			SELECT r.day, u.hour, u.h3, u.n FROM h3_rollup r
			CROSS JOIN LATERAL unnest(r.hours, r.cells, r.counts) AS u(hour, h3, n)
			WHERE r.category = ANY($1) AND r.day BETWEEN ` + first + `::date AND ` + last + `::date) e
			WHERE ` + strings.Join(w, " AND ") + ` GROUP BY 1`
	} else {
		w := []string{"category = ANY($1)", "$2::int = 10", "occurred_at >= " + arg(q.From), "occurred_at < " + arg(q.To)}
		local := "(occurred_at AT TIME ZONE 'Asia/Shanghai')"
		if len(q.Hours) > 0 {
			w = append(w, "extract(hour FROM "+local+")::int = ANY("+arg(q.Hours)+"::int[])")
		}
		if len(q.Weekdays) > 0 {
			w = append(w, "extract(isodow FROM "+local+")::int = ANY("+arg(q.Weekdays)+"::int[])")
		}
		sql = `SELECT h3 AS c, count(*) FROM incident WHERE ` + strings.Join(w, " AND ") + ` GROUP BY 1`
	}
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, db.classify(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	// A planner query over a year: parallel workers help here.
	if _, err := tx.Exec(ctx, `SET LOCAL max_parallel_workers_per_gather = 2`); err != nil {
		return nil, db.classify(err)
	}
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, db.classify(err)
	}
	var c, n int64
	_, err = pgx.ForEachRow(rows, []any{&c, &n}, func() error {
		out = append(out, grid.HeatCell{H3: uint64(c), Count: n})
		return nil
	})
	return out, db.classify(err)
}

func dayOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func toInt16(xs []int) []int16 {
	out := make([]int16, len(xs))
	for i, x := range xs {
		out[i] = int16(x)
	}
	return out
}

// RollupRows streams the rollup rows of the given slices (every row when
// slices is nil) from one snapshot.
func (db *DB) RollupRows(ctx context.Context, slices []grid.RollupSlice, fn func(s grid.RollupSlice, hour int, cell uint64, n int64) error) (err error) {
	defer wrap(&err, "RollupRows(%d slices)", len(slices))
	if slices != nil && len(slices) == 0 {
		return nil
	}
	sql := `SELECT category, day, hours, cells, counts FROM h3_rollup`
	var args []any
	if slices != nil {
		cats := make([]string, len(slices))
		days := make([]time.Time, len(slices))
		for i, s := range slices {
			cats[i] = s.Category
			days[i] = s.Day.Time()
		}
		sql = `SELECT r.category, r.day, r.hours, r.cells, r.counts
			FROM unnest($1::text[], $2::date[]) AS s(category, day)
			JOIN h3_rollup r ON r.category = s.category COLLATE "C" AND r.day = s.day`
		args = []any{cats, days}
	}
	rows, err := db.pool.Query(ctx, sql, args...)
	if err != nil {
		return db.classify(err)
	}
	var (
		cat    string
		day    pgtype.Date
		hours  []int16
		cells  []int64
		counts []int32
	)
	_, err = pgx.ForEachRow(rows, []any{&cat, &day, &hours, &cells, &counts}, func() error {
		s := grid.RollupSlice{Category: cat, Day: grid.DateOf(day.Time)}
		if len(cells) != len(hours) || len(counts) != len(hours) {
			return fmt.Errorf("rollup row %v: arrays of %d hours, %d cells, %d counts", s, len(hours), len(cells), len(counts))
		}
		for i := range cells {
			if err := fn(s, int(hours[i]), uint64(cells[i]), int64(counts[i])); err != nil {
				return err
			}
		}
		return nil
	})
	return db.classify(err)
}
