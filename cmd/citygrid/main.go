// Command citygrid is the grid-management service and its tools:
// serve, migrate, seed, import, keys, backup, restore and bench.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"os/user"
	"syscall"

	"github.com/citygrid/citygrid/internal/grid"
)

const usage = `citygrid — grid management: jurisdiction, incidents, heatmaps, tiles.

Usage:
  citygrid serve   [--addr 127.0.0.1:8080] [--min-public-count 3] [--data-dir DIR]
  citygrid migrate [--data-dir DIR]
  citygrid seed    [--incidents N] [--data-dir DIR]
  citygrid import  [--crs EPSG:4326|EPSG:4490|EPSG:4549|gcj02] [--note TEXT] [--data-dir DIR] FILE
  citygrid keys create --role dispatcher|planner|admin|app [--town CODE] [--expires T|--ttl D] [--data-dir DIR]
  citygrid keys list   [--data-dir DIR]
  citygrid keys revoke [--data-dir DIR] ID|PREFIX
  citygrid backup  [--data-dir DIR] FILE
  citygrid restore [--force] [--data-dir DIR] FILE
  citygrid bench   [--incidents N] [--only ROWS] [--duration D] [--data-dir DIR] [--cpuprofile FILE]

Without DATABASE_URL every command uses the private PostGIS cluster under
--data-dir (default $CITYGRID_DATA_DIR, else ./.citygrid), starting it when
no serve runs it already.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(ctx, os.Args[1:], os.Stdout, log); err != nil {
		var ge *grid.Error
		if errors.As(err, &ge) && len(ge.Details) > 0 {
			fmt.Fprintln(os.Stderr, "citygrid:", ge.Message)
			for _, d := range ge.Details {
				fmt.Fprintln(os.Stderr, "  -", d)
			}
		} else {
			fmt.Fprintln(os.Stderr, "citygrid:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		fmt.Fprint(out, usage)
		return errors.New("no command given")
	}
	cmd, rest := args[0], args[1:]
	// What an operator runs is recorded in the audit log as theirs; serve
	// and bench act as the service itself (grid.WhoOf's default), their
	// HTTP requests as their keys.
	op := grid.WithWho(ctx, grid.CLIWho(osUser()))
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, log)
	case "migrate":
		return cmdMigrate(op, rest, out, log)
	case "seed":
		return cmdSeed(op, rest, out, log)
	case "import":
		return cmdImport(op, rest, out, log)
	case "keys":
		return cmdKeys(op, rest, out, log)
	case "backup":
		return cmdBackup(ctx, rest, out, log)
	case "restore":
		return cmdRestore(op, rest, out, log)
	case "bench":
		return cmdBench(ctx, rest, out, log)
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q (try citygrid help)", cmd)
}

// osUser names who runs the command, for the audit log.
func osUser() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return u.Username
	}
	return os.Getenv("USER")
}
