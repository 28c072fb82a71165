package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/intake"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/uber/h3-go/v4"
)

// TestSeedAssignsAndRollsUpExactly seeds a small history and checks it
// against PostGIS and a raw recount: every incident lies in the cell it
// was assigned, and the H3 rollups equal a recount of the raw rows.
func TestSeedAssignsAndRollsUpExactly(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	end := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	st, err := seedIncidents(ctx, db, 20_000, 3, end, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if st.N != 20_000 {
		t.Errorf("seeded %d, want 20000", st.N)
	}
	var wrong, outside int
	if err := db.Pool().QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE NOT ST_Covers(c.geom, i.geom)),
		       count(*) FILTER (WHERE i.occurred_at < $1::timestamptz - interval '12 months' OR i.occurred_at >= $1)
		FROM incident i JOIN cell c ON c.code = i.cell_code AND c.version_id = i.grid_version`, end).Scan(&wrong, &outside); err != nil {
		t.Fatal(err)
	}
	if wrong != 0 {
		t.Errorf("%d incidents lie outside their assigned cell", wrong)
	}
	if outside != 0 {
		t.Errorf("%d incidents outside the 12 months before %s", outside, end)
	}

	// Rollups against a recount of the raw rows.
	type key struct {
		day      string
		hour     int
		category string
		h3       int64
	}
	raw := map[key]int{}
	rows, _ := db.Pool().Query(ctx, `SELECT to_char(occurred_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD'),
		extract(hour FROM occurred_at AT TIME ZONE 'Asia/Shanghai')::int, category, h3 FROM incident`)
	for rows.Next() {
		var k key
		var c int64
		if err := rows.Scan(&k.day, &k.hour, &k.category, &c); err != nil {
			t.Fatal(err)
		}
		if h3.Cell(c).Resolution() != intake.H3Res {
			t.Fatalf("incident h3 %x has resolution %d", c, h3.Cell(c).Resolution())
		}
		k.h3 = c
		raw[k]++
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	// The base entries (resolution 10; the rest are corrections, see
	// internal/postgres).
	rows, _ = db.Pool().Query(ctx, `SELECT to_char(day, 'YYYY-MM-DD'), u.hour, category, u.h3, sum(u.n) FROM h3_rollup CROSS JOIN LATERAL unnest(hours, cells, counts) AS u(hour, h3, n)
		WHERE (u.h3 >> 52) & 15 = 10 GROUP BY 1, 2, 3, 4`)
	rolled := map[key]int{}
	for rows.Next() {
		var k key
		var n int
		if err := rows.Scan(&k.day, &k.hour, &k.category, &k.h3, &n); err != nil {
			t.Fatal(err)
		}
		rolled[k] = n
	}
	if len(raw) != len(rolled) {
		t.Errorf("rollups have %d groups, the raw rows %d", len(rolled), len(raw))
	}
	for k, n := range raw {
		if rolled[k] != n {
			t.Errorf("rollup %+v = %d, raw recount %d", k, rolled[k], n)
			break
		}
	}

	// The SQL h3_parent agrees with h3's own Parent at every coarser resolution.
	rows, _ = db.Pool().Query(ctx, `SELECT h3, h3_parent(h3, 5), h3_parent(h3, 7), h3_parent(h3, 8), h3_parent(h3, 9), h3_parent(h3, 10) FROM incident LIMIT 2000`)
	checked := 0
	for rows.Next() {
		var c int64
		var ps [5]int64
		if err := rows.Scan(&c, &ps[0], &ps[1], &ps[2], &ps[3], &ps[4]); err != nil {
			t.Fatal(err)
		}
		for i, res := range []int{5, 7, 8, 9, 10} {
			want, err := h3.Cell(c).Parent(res)
			if err != nil || int64(want) != ps[i] {
				t.Fatalf("h3_parent(%x, %d) = %x, h3 says %x (%v)", c, res, ps[i], int64(want), err)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Error("no incidents to check h3_parent on")
	}

	// The history has the seasons DOMAIN.md describes.
	var wet, dry int
	if err := db.Pool().QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE extract(month FROM occurred_at AT TIME ZONE 'Asia/Shanghai') IN (6, 8, 9)),
		       count(*) FILTER (WHERE extract(month FROM occurred_at AT TIME ZONE 'Asia/Shanghai') IN (12, 1, 2))
		FROM incident WHERE category = 'E0406'`).Scan(&wet, &dry); err != nil {
		t.Fatal(err)
	}
	if wet <= 2*dry {
		t.Errorf("water-logging: %d in Jun/Aug/Sep vs %d in Dec–Feb: want a wet-season peak", wet, dry)
	}
	var open, late int
	if err := db.Pool().QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE status IN ('dispatched', 'handled')),
		       count(*) FILTER (WHERE handled_at > deadline)
		FROM incident`).Scan(&open, &late); err != nil {
		t.Fatal(err)
	}
	if open == 0 || late == 0 {
		t.Errorf("a history needs open cases (%d) and late ones (%d)", open, late)
	}
}
