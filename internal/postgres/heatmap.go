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

// Heatmap counts incidents per H3 cell in SQL, from the rollups: at
// resolution r the base entries (resolution 10) count in their parents at
// r and the corrections of resolution r where they lie, so every
// resolution is latLngToCell's answer (see grid.RollupSource). Windows are
// whole hours of China time, the rollups' grain, and towns 9-digit codes
// (Invalid otherwise). The service answers from its in-memory read model
// (hexbin.Heat) and comes here while that model loads.
func (db *DB) Heatmap(ctx context.Context, q grid.HeatQuery) (out []grid.HeatCell, err error) {
	defer wrap(&err, "Heatmap(res %d)", q.Res)
	if q.Res < coarsest || q.Res > baseRes {
		return nil, grid.Errorf(grid.Invalid, "res: %d: want %d…%d", q.Res, coarsest, baseRes)
	}
	from, to := q.From.In(cst), q.To.In(cst)
	if from.Truncate(time.Hour) != from || to.Truncate(time.Hour) != to {
		return nil, grid.Errorf(grid.Invalid, "window %s – %s: want whole hours", q.From, q.To)
	}
	if !from.Before(to) {
		return nil, nil
	}
	args := []any{q.Categories, q.Res}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	// The slices of the window's days, then the entries of its hours that
	// count at res.
	first, last := arg(dayOf(from)), arg(dayOf(to))
	days := []string{"r.category = ANY($1)", "r.day BETWEEN " + first + "::date AND " + last + "::date"}
	var towns []int32
	for _, t := range q.Towns {
		n, err := townNumber(t)
		if err != nil {
			return nil, err
		}
		towns = append(towns, n)
	}
	w := []string{"(day, hour) >= (" + first + "::date, " + arg(int16(from.Hour())) + "::smallint)",
		"(day, hour) < (" + last + "::date, " + arg(int16(to.Hour())) + "::smallint)",
		"(h3 >> 52) & 15 IN (" + strconv.Itoa(baseRes) + ", $2)"}
	if len(towns) > 0 {
		w = append(w, "town = ANY("+arg(towns)+"::int[])")
	}
	if len(q.Hours) > 0 {
		w = append(w, "hour = ANY("+arg(toInt16(q.Hours))+"::smallint[])")
	}
	if len(q.Weekdays) > 0 {
		w = append(w, "extract(isodow FROM day)::int = ANY("+arg(q.Weekdays)+"::int[])")
	}
	sql := `SELECT h3_parent(h3, $2::int) AS c, sum(n) FROM (
			SELECT r.day, u.hour, u.town, u.h3, u.n FROM h3_rollup r
			CROSS JOIN LATERAL unnest(r.hours, r.towns, r.cells, r.counts) AS u(hour, town, h3, n)
			WHERE ` + strings.Join(days, " AND ") + `) e
		WHERE ` + strings.Join(w, " AND ") + ` GROUP BY 1 HAVING sum(n) <> 0`
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
		if n < 0 {
			return fmt.Errorf("rollups: cell %x sums to %d", c, n)
		}
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

// RollupRows streams the rollup entries of the given slices' categories
// and days in every town (a row holds a category's day), or every entry
// when slices is nil, from one snapshot.
func (db *DB) RollupRows(ctx context.Context, slices []grid.RollupSlice, fn func(s grid.RollupSlice, hour int, cell uint64, n int64) error) (err error) {
	defer wrap(&err, "RollupRows(%d slices)", len(slices))
	if slices != nil && len(slices) == 0 {
		return nil
	}
	sql := `SELECT category, day, hours, towns, cells, counts FROM h3_rollup`
	var args []any
	if slices != nil {
		type catDay struct {
			cat string
			day grid.Date
		}
		seen := map[catDay]bool{}
		var cats []string
		var days []time.Time
		for _, s := range slices {
			if k := (catDay{s.Category, s.Day}); !seen[k] {
				seen[k] = true
				cats, days = append(cats, s.Category), append(days, s.Day.Time())
			}
		}
		sql = `SELECT r.category, r.day, r.hours, r.towns, r.cells, r.counts
			FROM unnest($1::text[], $2::date[]) AS s(category, day)
			JOIN h3_rollup r ON r.category = s.category COLLATE "C" AND r.day = s.day`
		args = []any{cats, days}
	}
	pool := db.pool
	if slices == nil {
		pool = db.batch // every row: a long read, outside the request path's statement timeout
	}
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return db.classify(err)
	}
	var (
		s      grid.RollupSlice
		day    pgtype.Date
		hours  []int16
		towns  []int32
		cells  []int64
		counts []int32
		codes  = townCodes{}
	)
	_, err = pgx.ForEachRow(rows, []any{&s.Category, &day, &hours, &towns, &cells, &counts}, func() error {
		s.Day = grid.DateOf(day.Time)
		if len(towns) != len(hours) || len(cells) != len(hours) || len(counts) != len(hours) {
			return fmt.Errorf("rollup row %s %v: arrays of %d hours, %d towns, %d cells, %d counts", s.Category, s.Day, len(hours), len(towns), len(cells), len(counts))
		}
		for i := range cells {
			s.Town = codes.code(towns[i])
			if err := fn(s, int(hours[i]), uint64(cells[i]), int64(counts[i])); err != nil {
				return err
			}
		}
		return nil
	})
	return db.classify(err)
}
