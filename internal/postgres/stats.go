package postgres

import (
	"cmp"
	"context"
	"encoding/binary"
	"fmt"
	"math"
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
	catAt := map[[2]string]int{} // (key, category) → its index in the row's ByCategory
	var (
		k, cat string
		due    bool
		c      [7]int64
	)
	_, err = pgx.ForEachRow(rows, []any{&k, &cat, &due, &c[0], &c[1], &c[2], &c[3], &c[4], &c[5], &c[6]}, func() error {
		r := byKey[k]
		if r == nil {
			r = &grid.StatsRow{Key: k}
			byKey[k] = r
		}
		r.Total += c[0]
		i, ok := catAt[[2]string{k, cat}]
		if !ok {
			i = len(r.ByCategory.Codes)
			catAt[[2]string{k, cat}] = i
			r.ByCategory.Codes, r.ByCategory.N = append(r.ByCategory.Codes, cat), append(r.ByCategory.N, 0)
		}
		r.ByCategory.N[i] += c[0]
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

// statsRecordSQL reads what grid.StatsRecord holds, in its order.
const statsRecordSQL = `SELECT id, occurred_at, category, cell_code, community_code, town_code, department_code, status,
	coalesce(parked_from, ''), deadline, dispatched_at IS NOT NULL, handled_at, closed_at, reworks, extensions, supervised FROM incident`

// IDBounds returns the smallest and largest incident id (0, 0 when there
// is none).
func (db *DB) IDBounds(ctx context.Context) (first, last int64, err error) {
	defer wrap(&err, "IDBounds")
	err = db.pool.QueryRow(ctx, `SELECT coalesce(min(id), 0), coalesce(max(id), 0) FROM incident`).Scan(&first, &last)
	return first, last, db.classify(err)
}

// StatsRecords calls fn with the statistics record of every incident
// whose id lies in one of ranges (every incident when ranges is nil), from
// one snapshot. Rows are decoded from PostgreSQL's binary format without
// allocating: the record's codes point into the read buffer.
func (db *DB) StatsRecords(ctx context.Context, ranges []grid.IDRange, fn func(*grid.StatsRecord) error) (err error) {
	defer wrap(&err, "StatsRecords")
	q, args := statsRecordSQL, []any{pgx.QueryResultFormats{pgx.BinaryFormatCode}}
	switch {
	case ranges == nil:
	case len(ranges) == 1:
		q += ` WHERE id BETWEEN $1 AND $2`
		args = append(args, ranges[0].First, ranges[0].Last)
	default:
		lo, hi := make([]int64, len(ranges)), make([]int64, len(ranges))
		for i, r := range ranges {
			lo[i], hi[i] = r.First, r.Last
		}
		q = strings.Replace(q, "FROM incident", `FROM unnest($1::bigint[], $2::bigint[]) AS r(lo, hi) JOIN incident ON id BETWEEN r.lo AND r.hi`, 1)
		args = append(args, lo, hi)
	}
	pool := db.pool
	if ranges == nil {
		pool = db.batch // every incident: a long read, outside the request path's statement timeout
	}
	rows, err := pool.Query(ctx, q, args...)
	if err != nil {
		return db.classify(err)
	}
	defer rows.Close()
	var r grid.StatsRecord
	for rows.Next() {
		v := rows.RawValues()
		if len(v) != 16 {
			return fmt.Errorf("stats record: %d columns", len(v))
		}
		if err := decodeStatsRecord(v, &r); err != nil {
			return err
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return db.classify(rows.Err())
}

// decodeStatsRecord reads one binary row of statsRecordSQL.
func decodeStatsRecord(v [][]byte, r *grid.StatsRecord) error {
	i8 := func(b []byte) (int64, error) {
		if len(b) != 8 {
			return 0, fmt.Errorf("stats record: want 8 bytes, have %d", len(b))
		}
		return int64(binary.BigEndian.Uint64(b)), nil
	}
	ts := func(b []byte) (time.Time, error) { // NULL: zero
		if b == nil {
			return time.Time{}, nil
		}
		us, err := i8(b)
		if err != nil {
			return time.Time{}, err
		}
		if us == math.MaxInt64 || us == math.MinInt64 {
			return time.Time{}, fmt.Errorf("stats record: an infinite timestamp")
		}
		return time.UnixMicro(us + 946_684_800_000_000), nil // PostgreSQL counts from 2000-01-01
	}
	i4 := func(b []byte) (int, error) {
		if len(b) != 4 {
			return 0, fmt.Errorf("stats record: want 4 bytes, have %d", len(b))
		}
		return int(int32(binary.BigEndian.Uint32(b))), nil
	}
	var err error
	if r.ID, err = i8(v[0]); err != nil {
		return err
	}
	if r.OccurredAt, err = ts(v[1]); err != nil {
		return err
	}
	r.Category, r.Cell, r.Community, r.Town, r.Department = v[2], v[3], v[4], v[5], v[6]
	if r.Status, err = statusOf(v[7]); err != nil {
		return err
	}
	if len(v[8]) == 0 {
		r.ParkedFrom = ""
	} else if r.ParkedFrom, err = statusOf(v[8]); err != nil {
		return err
	}
	if r.Deadline, err = ts(v[9]); err != nil {
		return err
	}
	r.Dispatched = len(v[10]) == 1 && v[10][0] == 1
	if r.HandledAt, err = ts(v[11]); err != nil {
		return err
	}
	if r.ClosedAt, err = ts(v[12]); err != nil {
		return err
	}
	if r.Reworks, err = i4(v[13]); err != nil {
		return err
	}
	if r.Extensions, err = i4(v[14]); err != nil {
		return err
	}
	r.Supervised = len(v[15]) == 1 && v[15][0] == 1
	return nil
}

// statusOf returns the domain's constant for a status's bytes, without
// allocating.
func statusOf(b []byte) (string, error) {
	switch string(b) {
	case grid.StatusCollected:
		return grid.StatusCollected, nil
	case grid.StatusRegistered:
		return grid.StatusRegistered, nil
	case grid.StatusDispatched:
		return grid.StatusDispatched, nil
	case grid.StatusHandled:
		return grid.StatusHandled, nil
	case grid.StatusClosed:
		return grid.StatusClosed, nil
	case grid.StatusEvaluated:
		return grid.StatusEvaluated, nil
	case grid.StatusCancelled:
		return grid.StatusCancelled, nil
	case grid.StatusParked:
		return grid.StatusParked, nil
	}
	return "", fmt.Errorf("stats record: unknown status %q", b)
}
