package main

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/pgtest"
)

// TestPartitionsAhead: the partitions 13 months ahead are created again
// when missing, by replicas at once, and a month already there is left.
func TestPartitionsAhead(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	now := time.Now().UTC()
	month := func(k int) string {
		m := time.Date(now.Year(), now.Month()+time.Month(k), 1, 0, 0, 0, 0, time.UTC)
		return fmt.Sprintf("incident_%04d%02d", m.Year(), int(m.Month()))
	}
	exists := func(name string) bool {
		var ok bool
		if err := db.Pool().QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, name).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, k := range []int{8, 12} {
		if _, err := db.Pool().Exec(ctx, `DROP TABLE `+month(k)); err != nil {
			t.Fatal(err)
		}
	}
	if exists(month(13)) || exists(month(12)) {
		t.Fatalf("%s or %s exists before the job ran", month(12), month(13))
	}
	ahead := partitionsAhead(db)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() { errs[i] = ahead(ctx) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
	for k := range 14 {
		if !exists(month(k)) {
			t.Errorf("%s is missing", month(k))
		}
	}
	if err := ahead(ctx); err != nil {
		t.Errorf("again: %v", err)
	}
}
