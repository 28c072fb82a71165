package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/citygrid/citygrid/geodata"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/intake"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/postgres"
)

func cmdSeed(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("seed", flag.ContinueOnError)
	n := fs.Int("incidents", 200_000, "number of synthetic incidents over the last 12 months")
	seed := fs.Int64("seed", 1, "random seed (the same seed gives the same history)")
	dataDir := dataDirFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 0 {
		return fmt.Errorf("--incidents must be ≥ 0")
	}
	db, err := openDatabase(ctx, *dataDir, true, log)
	if err != nil {
		return err
	}
	defer db.Close()
	st, err := seedIncidents(ctx, db.DB, *n, *seed, time.Now(), log)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "seeded %d incidents in %s (%.0f/s)\n", st.N, st.Took.Round(time.Millisecond), float64(st.N)/st.Took.Seconds())
	return nil
}

type seedStats struct {
	N    int
	Took time.Duration
}

// seedIncidents writes n synthetic incidents, assigned exactly as live ones
// are (intake: cell, town, department by the rules, H3, deadline), with
// lifecycles walked through the state machine (seedlife.go) and their
// trails, in batches of one transaction each, generating while earlier
// batches are written by two writers.
func seedIncidents(ctx context.Context, db *postgres.DB, n int, seed int64, end time.Time, log *slog.Logger) (seedStats, error) {
	start := time.Now()
	m, err := db.ActiveModel(ctx)
	if err != nil {
		return seedStats{}, err
	}
	snap, err := locate.Build(m)
	if err != nil {
		return seedStats{}, err
	}
	cal, err := db.Calendar(ctx)
	if err != nil {
		return seedStats{}, err
	}
	if err := db.EnsurePartitions(ctx, end.AddDate(-1, -1, 0), end.AddDate(0, 2, 0)); err != nil {
		return seedStats{}, err
	}
	in, err := intake.New(snap, cal)
	if err != nil {
		return seedStats{}, err
	}
	a := &seeder{in: in, end: end, rng: rand.New(rand.NewPCG(uint64(seed), 0x5eed))}

	const batchSize = 50_000
	batches := make(chan seedBatch, 2)
	errc := make(chan error, 1)
	go func() {
		defer close(batches)
		batch := newSeedBatch(batchSize)
		a.trail.reset(batchSize)
		err := geodata.SynthIncidents(m.City, n, end, seed, func(si geodata.SynthIncident) error {
			x, ok := a.assign(si)
			if a.trail.err != nil {
				return a.trail.err
			}
			if !ok {
				return nil
			}
			batch.add(x, a.trail.take())
			if len(batch.xs) == batchSize {
				select {
				case batches <- batch:
				case <-ctx.Done():
					return ctx.Err()
				}
				batch = newSeedBatch(batchSize)
				a.trail.reset(batchSize)
			}
			return nil
		})
		if err == nil && len(batch.xs) > 0 {
			batches <- batch
		}
		errc <- err
	}()
	// Two writers: while one batch is in COPY, the other updates rollups.
	var (
		mu      sync.Mutex
		written int
		werr    error
		wg      sync.WaitGroup
	)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				mu.Lock()
				failed := werr != nil
				mu.Unlock()
				if failed {
					continue
				}
				b.sortByTime()
				r, err := db.BulkCreateTrails(ctx, b.xs, b.trails)
				mu.Lock()
				if err != nil && werr == nil {
					werr = err
				} else if err == nil {
					written += len(r.IDs)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := <-errc; err != nil {
		return seedStats{}, err
	}
	if werr != nil {
		return seedStats{}, werr
	}
	if a.dropped > 0 {
		log.Warn("synthetic incidents that could not be assigned were dropped", "n", a.dropped)
	}
	return seedStats{N: written, Took: time.Since(start)}, nil
}

// seeder routes a synthetic incident the way a live one is routed and
// gives it a plausible lifecycle.
type seeder struct {
	in      *intake.Assigner
	scratch intake.Scratch
	end     time.Time
	rng     *rand.Rand
	trail   seedTrail
	dropped int
}

func (a *seeder) assign(si geodata.SynthIncident) (grid.Incident, bool) {
	received := si.OccurredAt.Add(time.Duration(1+a.rng.IntN(20)) * time.Minute)
	r := intake.Report{Category: si.Category, Point: si.Point, OccurredAt: si.OccurredAt, Source: si.Source, Description: si.Description}
	x, err := a.in.Assign(&r, received, &a.scratch)
	if err != nil {
		a.dropped++
		return x, false
	}
	cat, _ := a.in.Snapshot().Category(si.Category)
	a.lifecycle(&x, cat)
	return x, true
}
