package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/postgres"
)

// benchRow is one line of `citygrid bench`: ours and the baseline measured
// in the same run, their ratio, and the budget it is held to.
type benchRow struct {
	Workload string
	Ours     string
	Baseline string
	Ratio    string
	Budget   string
	Met      string // "yes", "no" or "—"
}

func printBench(out io.Writer, rows []benchRow) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "workload\tours\tbaseline\tratio\tbudget\tmet")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Workload, r.Ours, r.Baseline, r.Ratio, r.Budget, r.Met)
	}
	tw.Flush()
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func cmdBench(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	n := fs.Int("incidents", 1_000_000, "incidents to seed before the seeding and planner rows (the budgets are stated for 10,000,000)")
	keep := fs.String("data-dir", "", "data directory for the benchmark cluster (default: a fresh temporary one)")
	only := fs.String("only", "", "comma list of rows to run: "+strings.Join(benchRowNames, ", ")+" (default: all; the database starts either way)")
	soakFor := fs.Duration("duration", defaultSoakDuration, "how long the soak's mixed load runs (every kind of request from 8 clients against a serve-configured server; rows: 0 errors, RSS and goroutines flat, every pooled connection returned); 10m is the long run")
	profile := fs.String("cpuprofile", "", "write a CPU profile of the whole run (service and load generator share the process) to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *soakFor <= 0 {
		return fmt.Errorf("--duration %s: want a duration above 0", *soakFor)
	}
	if *profile != "" {
		f, err := os.Create(*profile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	sel, err := parseOnly(*only)
	if err != nil {
		return err
	}
	quiet := slog.New(slog.DiscardHandler)
	dir := *keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "citygrid-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		if err := os.Chmod(tmp, 0o755); err != nil {
			return err
		}
		dir = filepath.Join(tmp, "data")
	}
	var rows []benchRow

	// Cold start: a cluster never seen before, to a service ready to answer.
	fmt.Fprintln(os.Stderr, "bench: cold start …")
	start := time.Now()
	db, err := openDatabase(ctx, dir, true, quiet)
	if err != nil {
		return err
	}
	defer db.Close()
	cat := locate.NewCatalog(db.DB)
	if err := refresh(ctx, cat, quiet); err != nil {
		return err
	}
	cold := time.Since(start)
	if sel("cold") {
		r := benchRow{"cold start to ready (initdb, migrate, demo city, snapshot)",
			cold.Round(time.Millisecond).String(), "—", "—", "≤ 60s", yesNo(cold <= time.Minute)}
		if os.Getenv("DATABASE_URL") != "" {
			r.Workload = "start to ready on DATABASE_URL (migrate, demo city if empty, snapshot)"
		}
		rows = append(rows, r)
	}

	// Locating, before seeding: the 1 M-row COPY leaves autovacuum busy on
	// the same cores.
	lr, err := benchLocate(ctx, db.DB, cat, benchLocateScale, sel, os.Stderr)
	if err != nil {
		return err
	}
	rows = append(rows, lr...)
	wr, err := benchWeb(ctx, db.DB, cat, sel, os.Stderr)
	if err != nil {
		return err
	}
	rows = append(rows, wr...)
	if !sel("seed") && !sel("planner") && !sel("planner-heatmap") && !sel("planner-hotspots") && !sel("planner-stats") &&
		!sel("planner-overview") && !sel("planner-memory") && !benchTilesSelected(sel) &&
		!sel("ogc-items") && !sel("ogc-v1") && !sel("ogc-cells") {
		ir, err := benchIngest(ctx, db.DB, cat, sel, os.Stderr)
		if err != nil {
			return err
		}
		or, err := benchOpen311(ctx, db.DB, cat, sel, os.Stderr)
		if err != nil {
			return err
		}
		sr, err := benchSoak(ctx, db.DB, *soakFor, sel, os.Stderr)
		if err != nil {
			return err
		}
		printBench(out, append(append(append(rows, ir...), or...), sr...))
		return nil
	}

	// A kept data dir (--data-dir) that holds the incidents already is
	// not seeded again.
	var st seedStats
	var stored int64
	if err := db.Pool().QueryRow(ctx, `SELECT count(*) FROM incident`).Scan(&stored); err != nil {
		return err
	}
	if stored >= int64(*n) {
		fmt.Fprintf(os.Stderr, "bench: %d incidents stored already; not seeding\n", stored)
		st.N = int(stored)
	} else {
		// Seeding: generation, assignment, H3, deadline, COPY and rollups, against
		// the database's share alone: COPY of rows already assigned and encoded.
		fmt.Fprintf(os.Stderr, "bench: seeding %d incidents …\n", *n)
		st, err = seedIncidents(ctx, db.DB, *n, 7, time.Now(), quiet)
		if err != nil {
			return err
		}
		rate := float64(st.N) / st.Took.Seconds()
		base, err := rawCopyRate(ctx, db.DB, min(*n, 500_000))
		if err != nil {
			return err
		}
		// Autovacuum would take the seeded rows next, on the cores the
		// rows below are measured on.
		fmt.Fprintln(os.Stderr, "bench: vacuuming the seeded history …")
		if err := postgres.NewBaselines(db.DB).Vacuum(ctx); err != nil {
			return err
		}
		if sel("seed") {
			rows = append(rows, benchRow{fmt.Sprintf("seed %s incidents (generate, assign, H3, deadline, lifecycle, COPY with trails, rollups)", thousands(float64(st.N))),
				thousands(rate) + " rows/s", thousands(base) + " rows/s COPY alone into incident", fmt.Sprintf("%.2f×", rate/base),
				"— (a tool, not the ingest path: it writes every lifecycle trail too; ingest is the bulk rows below)", "—"})
		}
	}
	ir, err := benchIngest(ctx, db.DB, cat, sel, os.Stderr)
	if err != nil {
		return err
	}
	rows = append(rows, ir...)
	or, err := benchOpen311(ctx, db.DB, cat, sel, os.Stderr)
	if err != nil {
		return err
	}
	rows = append(rows, or...)
	pr, err := benchPlanner(ctx, db.DB, dir, cat, st.N, sel, os.Stderr)
	if err != nil {
		return err
	}
	rows = append(rows, pr...)
	tr, err := benchTiles(ctx, db.DB, cat, sel, os.Stderr)
	if err != nil {
		return err
	}
	rows = append(rows, tr...)
	gr, err := benchOGC(ctx, db.DB, cat, st.N, sel, os.Stderr)
	if err != nil {
		return err
	}
	rows = append(rows, gr...)
	// The soak last: over the seeded history, with every other row done.
	sr, err := benchSoak(ctx, db.DB, *soakFor, sel, os.Stderr)
	if err != nil {
		return err
	}
	printBench(out, append(rows, sr...))
	return nil
}

// rssBytes is this process's resident set size after returning free heap
// to the system (0 where /proc is not there).
func rssBytes() int64 {
	debug.FreeOSMemory()
	return procRSS()
}

func rss() string { return fmt.Sprintf("%d MB", rssBytes()>>20) }
