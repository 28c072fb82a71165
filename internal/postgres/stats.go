package postgres

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/jackc/pgx/v5"
)

// statsKeys maps a grouping to the incident column it groups by: the only
// identifiers a statistics query takes from its filter, and only from here.
var statsKeys = map[string]string{
	"cell":       "cell_code",
	"community":  "community_code",
	"town":       "town_code",
	"department": "department_code",
}

// statsIntervals are the date_trunc fields a series may use.
var statsIntervals = map[string]string{"day": "day", "week": "week", "month": "month"}

// statsCounters counts, per group, category and whether they are due,
// the incidents in the window and the evaluation counters of DOMAIN.md.
// An incident is due to handle (and due to close) when it is not
// cancelled and was dispatched: dispatched_at is set, or its state lies
// past dispatch (handled, closed, evaluated), or it was parked from
// dispatched. Only the rows of due incidents feed the counters, so no
// ratio exceeds 1; grouping by due evaluates it once per incident.
const statsCounters = `SELECT %KEY%, category,
	status <> 'cancelled' AND (dispatched_at IS NOT NULL
		OR status IN ('handled', 'closed', 'evaluated')
		OR (status = 'parked' AND coalesce(parked_from, '') = 'dispatched')) AS due,
	count(*),
	count(handled_at),
	count(*) FILTER (WHERE handled_at <= deadline),
	count(closed_at),
	count(closed_at) FILTER (WHERE handled_at <= deadline),
	count(*) FILTER (WHERE reworks > 0),
	count(*) FILTER (WHERE extensions > 0)
FROM incident
WHERE %WHERE%
GROUP BY 1, 2, 3`

// Stats counts the incidents of a window per cell, community, town or
// department, with the evaluation counters of each group (see
// statsCounters for their definitions) and, with an interval, a series of
// counts per local (China time) day, ISO week or month. Groups come by
// total, largest first, then by code; f.Top keeps the first ones. Series
// are dense: every bucket meeting the window, zeros included; the first
// and last may be cut by the window. Every query reads one snapshot, so
// categories and series add up to the totals. Categories, when not nil,
// restricts the count (empty: nothing matches). An unknown grouping or
// interval, or an empty window, is Invalid; a lost database Unavailable.
func (db *DB) Stats(ctx context.Context, f grid.StatsFilter) (out []grid.StatsRow, err error) {
	defer wrap(&err, "Stats(%s)", f.GroupBy)
	key, ok := statsKeys[f.GroupBy]
	if !ok {
		return nil, grid.Errorf(grid.Invalid, "group_by: %q: want cell, community, town or department", f.GroupBy)
	}
	interval, ok := statsIntervals[f.Interval]
	if !ok && f.Interval != "" {
		return nil, grid.Errorf(grid.Invalid, "interval: %q: want day, week or month", f.Interval)
	}
	if !f.From.Before(f.To) {
		return nil, grid.Errorf(grid.Invalid, "from: must be before to")
	}
	args := []any{f.From, f.To}
	where := []string{"occurred_at >= $1", "occurred_at < $2"}
	if f.Categories != nil {
		args = append(args, f.Categories)
		where = append(where, "category = ANY($"+strconv.Itoa(len(args))+")")
	}
	if f.Town != "" {
		args = append(args, f.Town)
		where = append(where, "town_code = $"+strconv.Itoa(len(args)))
	}

	// One read-only snapshot for every query. Planner queries may use
	// parallel workers, which the pool turns off for the request path, and
	// are planned for their own window: a cached generic plan guesses the
	// window small and scans every month by index, without workers. A
	// minute is far more than a 3-year window needs: past it, 503.
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, db.classify(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	if _, err := tx.Exec(ctx, `SELECT set_config('max_parallel_workers_per_gather', '2', true),
		set_config('plan_cache_mode', 'force_custom_plan', true), set_config('statement_timeout', '60s', true)`); err != nil {
		return nil, db.classify(err)
	}

	q := strings.NewReplacer("%KEY%", key, "%WHERE%", strings.Join(where, " AND ")).Replace(statsCounters)
	rows, err := tx.Query(ctx, q, args...)
	if err != nil {
		return nil, db.classify(err)
	}
	byKey := map[string]*grid.StatsRow{}
	var (
		k, cat string
		due    bool
		c      [7]int64
	)
	_, err = pgx.ForEachRow(rows, []any{&k, &cat, &due, &c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6]}, func() error {
		r := byKey[k]
		if r == nil {
			r = &grid.StatsRow{Key: k, ByCategory: map[string]int64{}}
			byKey[k] = r
		}
		r.Total += c[0]
		r.ByCategory[cat] += c[0]
		if due {
			r.DueToHandle += c[0]
			r.Handled += c[1]
			r.HandledOnTime += c[2]
			r.Closed += c[3]
			r.ClosedOnTime += c[4]
			r.Reworked += c[5]
			r.Extended += c[6]
		}
		return nil
	})
	if err != nil {
		return nil, db.classify(err)
	}
	out = make([]grid.StatsRow, 0, len(byKey))
	for _, r := range byKey {
		r.DueToClose = r.DueToHandle
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b grid.StatsRow) int {
		return cmp.Or(cmp.Compare(b.Total, a.Total), cmp.Compare(a.Key, b.Key))
	})
	trimmed := f.Top > 0 && len(out) > f.Top
	if trimmed {
		out = out[:f.Top]
	}
	if interval == "" || len(out) == 0 {
		return out, nil
	}
	if err := db.statsSeries(ctx, tx, key, interval, where, args, trimmed, out); err != nil {
		return nil, err
	}
	return out, nil
}

// statsSeries fills the series of the groups in out, counting per local
// bucket; when only some groups were kept, only theirs are counted.
func (db *DB) statsSeries(ctx context.Context, tx pgx.Tx, key, interval string, where []string, args []any, onlyKept bool, out []grid.StatsRow) error {
	// The buckets meeting [from, to): the local days, ISO weeks or months
	// of date_trunc(interval, local occurred_at).
	rows, err := tx.Query(ctx, `SELECT b AT TIME ZONE `+chinaTime+` FROM generate_series(
			date_trunc($1, $2::timestamptz AT TIME ZONE `+chinaTime+`),
			$3::timestamptz AT TIME ZONE `+chinaTime+` - interval '1 microsecond',
			('1 ' || $1)::interval) AS b`, interval, args[0], args[1])
	if err != nil {
		return db.classify(err)
	}
	starts, err := pgx.CollectRows(rows, pgx.RowTo[time.Time])
	if err != nil {
		return db.classify(err)
	}
	group := make(map[string]int, len(out))
	for i := range out {
		group[out[i].Key] = i
		out[i].Series = make([]grid.SeriesPoint, len(starts))
		for j, t := range starts {
			out[i].Series[j].Start = t
		}
	}
	if onlyKept {
		keys := make([]string, len(out))
		for i := range out {
			keys[i] = out[i].Key
		}
		args = append(args, keys)
		where = append(where, key+" = ANY($"+strconv.Itoa(len(args))+")")
	}
	// Each incident finds its bucket by binary search among the bucket
	// starts (width_bucket: 0 before the second start, j from the
	// (j+1)-th), the same buckets as converting every occurred_at to local
	// time and truncating it, at a third of the cost. The window's end
	// closes the list, so it is never empty.
	args = append(args, append(starts[1:len(starts):len(starts)], args[1].(time.Time)))
	rows, err = tx.Query(ctx, `SELECT `+key+`, width_bucket(occurred_at, $`+strconv.Itoa(len(args))+`::timestamptz[]) AS b, count(*)
		FROM incident WHERE `+strings.Join(where, " AND ")+` GROUP BY 1, 2`, args...)
	if err != nil {
		return db.classify(err)
	}
	var (
		k    string
		j, n int64
	)
	_, err = pgx.ForEachRow(rows, []any{&k, &j, &n}, func() error {
		i, ok := group[k]
		if !ok {
			return nil
		}
		if j < 0 || j >= int64(len(starts)) {
			return fmt.Errorf("series bucket %d of %s is not in the window", j, k)
		}
		out[i].Series[j].Count += n
		return nil
	})
	return db.classify(err)
}
