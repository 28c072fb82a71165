package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
)

// Heatmap counts incidents per H3 cell. Resolutions 5–9 read the hourly
// rollups (parents of their resolution-9 cells); resolution 10, finer than
// the rollups, reads the incidents' own cells. Windows are in whole hours
// of China time, the rollups' grain.
func (db *DB) Heatmap(ctx context.Context, q grid.HeatQuery) (out []grid.HeatCell, err error) {
	defer wrap(&err, "Heatmap(res %d)", q.Res)
	if q.Res < 5 || q.Res > 10 {
		return nil, grid.Errorf(grid.Invalid, "res: %d: want 5…10", q.Res)
	}
	from, to := q.From.In(cst), q.To.In(cst)
	args := []any{q.Categories, q.Res}
	var where []string
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, strings.ReplaceAll(cond, "$?", "$"+strconv.Itoa(len(args))))
	}
	var sql string
	if q.Res <= 9 {
		add("(day, hour) >= ($?::date, ", dayOf(from))
		args = append(args, int16(from.Hour()))
		where[len(where)-1] += "$" + strconv.Itoa(len(args)) + "::smallint)"
		add("(day, hour) < ($?::date, ", dayOf(to))
		args = append(args, int16(to.Hour()))
		where[len(where)-1] += "$" + strconv.Itoa(len(args)) + "::smallint)"
		if len(q.Hours) > 0 {
			add("hour = ANY($?::smallint[])", toInt16(q.Hours))
		}
		if len(q.Weekdays) > 0 {
			add("extract(isodow FROM day)::int = ANY($?::int[])", q.Weekdays)
		}
		h := "h3"
		if q.Res < 9 {
			h = "h3_parent(h3, $2)"
		}
		sql = `SELECT ` + h + ` AS c, sum(n) FROM h3_rollup WHERE category = ANY($1) AND $2::int > 0 AND ` + strings.Join(where, " AND ") + ` GROUP BY 1`
	} else {
		add("occurred_at >= $?", q.From)
		add("occurred_at < $?", q.To)
		local := "(occurred_at AT TIME ZONE 'Asia/Shanghai')"
		if len(q.Hours) > 0 {
			add("extract(hour FROM "+local+")::int = ANY($?::int[])", q.Hours)
		}
		if len(q.Weekdays) > 0 {
			add("extract(isodow FROM "+local+")::int = ANY($?::int[])", q.Weekdays)
		}
		sql = `SELECT h3 AS c, count(*) FROM incident WHERE category = ANY($1) AND $2::int > 0 AND ` + strings.Join(where, " AND ") + ` GROUP BY 1`
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
