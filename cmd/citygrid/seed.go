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
	"github.com/citygrid/citygrid/internal/dispatch"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/uber/h3-go/v4"
)

// IncidentH3Res is the resolution of the H3 cell stored with each incident.
const IncidentH3Res = 10

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
// are (cell, town, department by the rules, H3, deadline), in batches of
// one transaction each, generating the next batch while one is written.
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
	res, err := dispatch.New(m.City.Rules, m.City.Departments, m.City.Categories)
	if err != nil {
		return seedStats{}, err
	}
	if err := db.EnsurePartitions(ctx, end.AddDate(-1, -1, 0), end.AddDate(0, 2, 0)); err != nil {
		return seedStats{}, err
	}
	a := &assigner{snap: snap, res: res, cal: grid.DefaultCalendar(), end: end, rng: rand.New(rand.NewPCG(uint64(seed), 0x5eed))}

	const batchSize = 50_000
	batches := make(chan []postgres.SeedIncident, 2)
	errc := make(chan error, 1)
	go func() {
		defer close(batches)
		batch := make([]postgres.SeedIncident, 0, batchSize)
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
				batch = make([]postgres.SeedIncident, 0, batchSize)
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
				slices.SortFunc(b, func(x, y postgres.SeedIncident) int { return x.OccurredAt.Compare(y.OccurredAt) })
				err := db.CopyIncidents(ctx, b)
				mu.Lock()
				if err != nil && werr == nil {
					werr = err
				} else if err == nil {
					written += len(b)
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
	if a.outside > 0 {
		log.Warn("synthetic incidents outside every cell were dropped", "n", a.outside)
	}
	return seedStats{N: written, Took: time.Since(start)}, nil
}

// assigner routes a synthetic incident the way a live one is routed and
// gives it a plausible lifecycle.
type assigner struct {
	snap    *locate.Snapshot
	res     *dispatch.Resolver
	cal     *grid.Calendar
	end     time.Time
	rng     *rand.Rand
	zones   []dispatch.ZoneRef
	outside int
}

func (a *assigner) assign(si geodata.SynthIncident) (postgres.SeedIncident, bool) {
	var x postgres.SeedIncident
	pl, ok := a.snap.Locate(si.Point)
	if !ok {
		a.outside++
		return x, false
	}
	a.zones = a.zones[:0]
	a.snap.ZonesAt(si.Point, func(z *grid.Zone) { a.zones = append(a.zones, dispatch.ZoneRef{Code: z.Code, Kind: z.Kind}) })
	d, ok, _ := a.res.Resolve(si.Category, dispatch.Place{Cell: pl.Cell.Code, Community: pl.Community.Code, Town: pl.Town.Code, Zones: a.zones})
	if !ok {
		a.outside++
		return x, false
	}
	cat, ok := a.res.Category(si.Category)
	if !ok {
		a.outside++
		return x, false
	}
	cell, err := h3.LatLngToCell(h3.NewLatLng(si.Point[1], si.Point[0]), IncidentH3Res)
	if err != nil {
		a.outside++
		return x, false
	}
	x.Category, x.Point, x.OccurredAt, x.Source, x.Description = si.Category, si.Point, si.OccurredAt, si.Source, si.Description
	x.CellCode, x.CommunityCode, x.TownCode = pl.Cell.Code, pl.Community.Code, pl.Town.Code
	x.Department, x.RuleID, x.GridVersion = d.Department.Code, d.Rule.ID, a.snap.Version.ID
	x.H3 = uint64(cell)
	a.lifecycle(&x, cat)
	return x, true
}

// lifecycle gives a seeded incident its trail summary: most old cases are
// closed and evaluated, recent ones still open; each department keeps its
// deadlines at its own rate, so evaluation ratios differ between them.
func (a *assigner) lifecycle(x *postgres.SeedIncident, cat *grid.Category) {
	r := a.rng
	reg := x.OccurredAt.Add(time.Duration(2+r.IntN(28)) * time.Minute)
	disp := reg.Add(time.Duration(5+r.IntN(55)) * time.Minute)
	x.RegisteredAt, x.DispatchedAt = &reg, &disp
	x.Deadline = a.cal.Deadline(disp, cat.Limit, cat.Unit)
	if r.IntN(100) < 3 {
		x.Status = "cancelled"
		x.DispatchedAt = nil
		return
	}
	h := fnv.New32a()
	h.Write([]byte(x.Department))
	onTime := 70 + int(h.Sum32()%28) // 70–97 % of cases handled in time
	span := x.Deadline.Sub(disp)
	var handled time.Time
	if r.IntN(100) < onTime {
		handled = disp.Add(time.Duration(r.Float64() * float64(span)))
	} else {
		x.Supervised = true
		handled = x.Deadline.Add(time.Duration(r.Float64() * float64(span+24*time.Hour)))
	}
	if r.IntN(100) < 4 {
		x.Extensions = 1
		x.Deadline = a.cal.Deadline(x.Deadline, cat.Limit, cat.Unit)
	}
	closed := handled.Add(time.Duration(30+r.IntN(600)) * time.Minute)
	if r.IntN(100) < 5 {
		x.Reworks = 1
		closed = closed.Add(time.Duration(2+r.IntN(24)) * time.Hour)
	}
	switch {
	case !handled.Before(a.end):
		x.Status = "dispatched"
	case !closed.Before(a.end):
		x.Status, x.HandledAt = "handled", &handled
	default:
		x.Status, x.HandledAt, x.ClosedAt = "closed", &handled, &closed
		if a.end.Sub(closed) > 72*time.Hour {
			x.Status = "evaluated"
		}
		if r.IntN(100) < 2 {
			x.Status, x.HandledAt, x.ClosedAt = "parked", nil, nil
		}
	}
}
