package main

import (
	"context"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
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
// are (intake: cell, town, department by the rules, H3, deadline), in
// batches of one transaction each, generating while earlier batches are
// written by two writers.
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
	batches := make(chan []grid.Incident, 2)
	errc := make(chan error, 1)
	go func() {
		defer close(batches)
		batch := make([]grid.Incident, 0, batchSize)
		err := geodata.SynthIncidents(m.City, n, end, seed, func(si geodata.SynthIncident) error {
			x, ok := a.assign(si)
			if !ok {
				return nil
			}
			batch = append(batch, x)
			if len(batch) == batchSize {
				select {
				case batches <- batch:
				case <-ctx.Done():
					return ctx.Err()
				}
				batch = make([]grid.Incident, 0, batchSize)
			}
			return nil
		})
		if err == nil && len(batch) > 0 {
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
				slices.SortFunc(b, func(x, y grid.Incident) int { return x.OccurredAt.Compare(y.OccurredAt) })
				r, err := db.BulkCreate(ctx, b)
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

// lifecycle gives a seeded incident its trail summary: most old cases are
// closed and evaluated, recent ones still open; each department keeps its
// deadlines at its own rate, so evaluation ratios differ between them.
func (a *seeder) lifecycle(x *grid.Incident, cat *grid.Category) {
	r := a.rng
	cal := a.in.Calendar()
	reg := x.ReceivedAt.Add(time.Duration(2+r.IntN(28)) * time.Minute)
	disp := reg.Add(time.Duration(5+r.IntN(55)) * time.Minute)
	x.RegisteredAt, x.DispatchedAt = &reg, &disp
	if r.IntN(100) < 3 {
		x.Status = grid.StatusCancelled
		x.DispatchedAt = nil
		return
	}
	h := fnv.New32a()
	h.Write([]byte(x.Department))
	onTime := 70 + int(h.Sum32()%28) // 70–97 % of cases handled in time
	span := x.Deadline.Sub(disp)
	if span < time.Hour {
		span = time.Hour
	}
	var handled time.Time
	if r.IntN(100) < onTime {
		handled = disp.Add(time.Duration(r.Float64() * float64(span)))
	} else {
		x.Supervised = true
		handled = x.Deadline.Add(time.Duration(r.Float64() * float64(span+24*time.Hour)))
	}
	if r.IntN(100) < 4 {
		x.Extensions = 1
		x.Deadline = cal.Deadline(x.Deadline, cat.Limit, cat.Unit)
	}
	closed := handled.Add(time.Duration(30+r.IntN(600)) * time.Minute)
	if r.IntN(100) < 5 {
		x.Reworks = 1
		closed = closed.Add(time.Duration(2+r.IntN(24)) * time.Hour)
	}
	switch {
	case !handled.Before(a.end):
		x.Status = grid.StatusDispatched
	case !closed.Before(a.end):
		x.Status, x.HandledAt = grid.StatusHandled, &handled
	default:
		x.Status, x.HandledAt, x.ClosedAt = grid.StatusClosed, &handled, &closed
		if a.end.Sub(closed) > 72*time.Hour {
			x.Status = grid.StatusEvaluated
		}
		if r.IntN(100) < 2 {
			x.Status, x.HandledAt, x.ClosedAt, x.ParkedFrom = grid.StatusParked, nil, nil, grid.StatusDispatched
		}
	}
}
