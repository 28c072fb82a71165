package postgres_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
)

// quotedList reads the quoted words of a SQL list: 'a', 'b' → [a b].
func quotedList(s string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`'([a-z_]+)'`).FindAllStringSubmatch(s, -1) {
		out = append(out, m[1])
	}
	return out
}

// The database spells the domain's vocabulary as the domain does: the
// open states of the partial index and of the queries that use it, the
// sources and states of the incident table's CHECKs, and China time.
func TestVocabularyInSQL(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Empty)
	ctx := ctxT(t)

	var indexDef string
	if err := db.Pool().QueryRow(ctx, `SELECT pg_get_indexdef('incident_open'::regclass)`).Scan(&indexDef); err != nil {
		t.Fatal(err)
	}
	_, pred, ok := strings.Cut(indexDef, " WHERE ")
	if !ok || !slices.Equal(quotedList(pred), grid.OpenStatuses()) {
		t.Errorf("incident_open: %s; want the states %v", indexDef, grid.OpenStatuses())
	}
	if got := quotedList(postgres.OpenStatusSQL()); !slices.Equal(got, grid.OpenStatuses()) {
		t.Errorf("open-state predicate %s lists %v, want %v", postgres.OpenStatusSQL(), got, grid.OpenStatuses())
	}
	// The queries' predicate is one the planner proves the index's from.
	tx, err := db.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read only
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off`); err != nil {
		t.Fatal(err)
	}
	var plan strings.Builder
	rows, err := tx.Query(ctx, `EXPLAIN SELECT id FROM incident WHERE `+postgres.OpenStatusSQL()+` AND deadline < now()`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	// Every partition scan goes through its part of incident_open.
	ri, err := db.Pool().Query(ctx, `SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = 'incident_open'::regclass`)
	if err != nil {
		t.Fatal(err)
	}
	parts := map[string]bool{}
	for ri.Next() {
		var name string
		if err := ri.Scan(&name); err != nil {
			t.Fatal(err)
		}
		parts[name] = true
	}
	used := regexp.MustCompile(`Index Scan using (\S+)`).FindAllStringSubmatch(plan.String(), -1)
	if len(parts) == 0 || len(used) != len(parts) || strings.Contains(plan.String(), "Seq Scan") {
		t.Errorf("the open-state query does not go through incident_open's %d parts:\n%s", len(parts), plan.String())
	}
	for _, u := range used {
		if !parts[u[1]] {
			t.Errorf("the open-state query uses %s, not a part of incident_open", u[1])
		}
	}

	for col, want := range map[string][]string{"source": grid.Sources(), "status": grid.Statuses()} {
		var def string
		if err := db.Pool().QueryRow(ctx, `SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
			WHERE c.conrelid = 'incident'::regclass AND c.contype = 'c' AND pg_get_constraintdef(c.oid) LIKE '%(' || $1 || ' = ANY%'`, col).Scan(&def); err != nil {
			t.Fatalf("CHECK on %s: %v", col, err)
		}
		if got := quotedList(def); !slices.Equal(got, want) {
			t.Errorf("CHECK on %s lists %v, want %v", col, got, want)
		}
	}

	for _, at := range []time.Time{
		time.Date(2026, 6, 30, 16, 30, 0, 0, time.UTC), // 00:30 the next day, local
		time.Date(1988, 7, 1, 12, 0, 0, 0, time.UTC),   // a summer of China's daylight saving years
	} {
		var local time.Time
		if err := db.Pool().QueryRow(ctx, `SELECT $1::timestamptz AT TIME ZONE `+postgres.ChinaTimeSQL, at).Scan(&local); err != nil {
			t.Fatal(err)
		}
		want := at.In(grid.ChinaTime())
		if got := local.Format("2006-01-02 15:04:05"); got != want.Format("2006-01-02 15:04:05") {
			t.Errorf("%s in China time: SQL says %s, Go %s", at, got, want.Format("2006-01-02 15:04:05"))
		}
	}
}
