package tally

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
)

// synthetic is a source of n incidents over the year before now, by id
// in the order they occurred, in 2,213 cells of 19 towns, 40 categories
// and 38 departments.
type synthetic struct{ n int }

func (s synthetic) IDBounds(context.Context) (int64, int64, error) { return 1, int64(s.n), nil }

func (s synthetic) StatsRecords(_ context.Context, rs []grid.IDRange, fn func(*grid.StatsRecord) error) error {
	now := time.Now()
	var r grid.StatsRecord
	for _, x := range rs {
		for id := max(x.First, 1); id <= min(x.Last, int64(s.n)); id++ {
			g := rand.New(rand.NewPCG(uint64(id), 7))
			cell := g.IntN(2213)
			town := cell % 19
			// Ids in the order they were created, as the store numbers
			// them: occurrences spread over the year, a few hours late.
			at := now.Add(-365*24*time.Hour + time.Duration(float64(id)/float64(s.n)*float64(365*24*time.Hour)) - time.Duration(g.Int64N(int64(4*time.Hour))))
			r = grid.StatsRecord{ID: id, OccurredAt: at,
				Category:  []byte(fmt.Sprintf("E%04d", g.IntN(121))),
				Cell:      []byte(fmt.Sprintf("331082%03d%03d%03d", town, cell%7, cell)),
				Community: []byte(fmt.Sprintf("331082%03d%03d", town, cell%7)), Town: []byte(fmt.Sprintf("331082%03d", town)),
				Department: []byte(fmt.Sprintf("D%02d", g.IntN(38))), Status: grid.Statuses()[g.IntN(8)], Dispatched: g.IntN(2) == 0}
			r.Deadline = r.OccurredAt.Add(48 * time.Hour)
			if r.Status == grid.StatusClosed || r.Status == grid.StatusEvaluated {
				r.HandledAt, r.ClosedAt = r.OccurredAt.Add(time.Duration(g.IntN(96))*time.Hour), r.OccurredAt.Add(100*time.Hour)
			}
			if err := fn(&r); err != nil {
				return err
			}
		}
	}
	return nil
}

func (synthetic) Stats(context.Context, grid.StatsFilter) ([]grid.StatsRow, error) { return nil, nil }

var scanIncidents = flag.Int("incidents", 10_000_000, "BenchmarkScan: how many synthetic incidents")

// BenchmarkScan: statistics and the overview over 10,000,000 entries in
// memory (go test -bench Scan -benchtime 20x ./internal/tally; another
// size with -args -incidents N).
func BenchmarkScan(b *testing.B) {
	t := New(synthetic{*scanIncidents}, synthetic{}, grid.ChinaTime())
	if err := t.Load(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Logf("%d incidents, %d MB of entries", *scanIncidents, t.Bytes()>>20)
	to := time.Now().Truncate(time.Second)
	from := to.AddDate(-1, 0, 0)
	for _, g := range []string{"department", "town", "community", "cell"} {
		b.Run("stats-"+g, func(b *testing.B) {
			cpuPerOp(b, func() {
				if _, err := t.Stats(context.Background(), grid.StatsFilter{GroupBy: g, From: from, To: to}); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
	b.Run("overview-city", func(b *testing.B) {
		cpuPerOp(b, func() {
			if _, err := t.Overview(context.Background(), grid.OverviewQuery{Level: grid.LevelCity, Now: to, Days: 30, Top: 10,
				Themes: [][]string{{"E0001"}, {"E0002"}, {"E0003"}}}); err != nil {
				b.Fatal(err)
			}
		})
	})
}

// cpuPerOp reports the process's CPU time per operation, which the other
// work on a shared machine distorts less than the wall clock.
func cpuPerOp(b *testing.B, f func()) {
	var r0, r1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	for range b.N {
		f()
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}
