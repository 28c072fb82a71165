package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/postgres"
)

func cmdMigrate(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	dataDir := dataDirFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	db, err := openDatabase(ctx, *dataDir, false, log)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintln(out, "migrated")
	return nil
}

const keysUsage = `usage:
  citygrid keys create --role dispatcher|planner|admin|app [--town CODE] [--expires RFC3339|--ttl DURATION] [--note TEXT]
  citygrid keys list
  citygrid keys revoke ID|PREFIX`

func cmdKeys(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	if len(args) == 0 {
		return errors.New(keysUsage)
	}
	fs := flag.NewFlagSet("keys "+args[0], flag.ContinueOnError)
	dataDir := dataDirFlag(fs)
	var run func(db *postgres.DB) error
	switch args[0] {
	case "create":
		role := fs.String("role", "", "dispatcher, planner, admin or app (a citizens' app: Open311 reports and its own requests)")
		town := fs.String("town", "", "scope the key to one town (9-digit code)")
		note := fs.String("note", "", "what the key is for")
		expires := fs.String("expires", "", "when the key stops working (RFC 3339)")
		ttl := fs.Duration("ttl", 0, "how long the key works from now (e.g. 2160h for 90 days)")
		run = func(db *postgres.DB) error {
			var until time.Time
			switch {
			case *expires != "" && *ttl != 0:
				return errors.New("give --expires or --ttl, not both")
			case *expires != "":
				t, err := time.Parse(time.RFC3339, *expires)
				if err != nil {
					return fmt.Errorf("--expires %q: want RFC 3339, e.g. 2027-01-01T00:00:00+08:00", *expires)
				}
				until = t
			case *ttl < 0:
				return errors.New("--ttl must be positive")
			case *ttl > 0:
				until = time.Now().Add(*ttl)
			}
			key, err := db.CreateAPIKeyUntil(ctx, *role, *town, *note, until)
			if err != nil {
				return err
			}
			fmt.Fprintln(out, key)
			return nil
		}
	case "list":
		run = func(db *postgres.DB) error {
			ks, err := db.APIKeys(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "id\tprefix\trole\ttown\tcreated\texpires\tstate\tnote")
			for _, k := range ks {
				state, expiry := "active", "never"
				if k.ExpiresAt != nil {
					expiry = k.ExpiresAt.Format(time.RFC3339)
					if !k.ExpiresAt.After(time.Now()) {
						state = "expired"
					}
				}
				if k.RevokedAt != nil {
					state = "revoked " + k.RevokedAt.Format(time.RFC3339)
				}
				town := k.Town
				if town == "" {
					town = "all"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Prefix, k.Role, town, k.CreatedAt.Format(time.RFC3339), expiry, state, k.Note)
			}
			return tw.Flush()
		}
	case "revoke":
		run = func(db *postgres.DB) error {
			if fs.NArg() != 1 {
				return errors.New("usage: citygrid keys revoke ID|PREFIX")
			}
			k, err := db.RevokeAPIKey(ctx, fs.Arg(0))
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "key %d (%s, %s) revoked at %s\n", k.ID, k.Prefix, k.Role, k.RevokedAt.Format(time.RFC3339))
			return nil
		}
	default:
		return errors.New(keysUsage)
	}
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if args[0] != "revoke" && fs.NArg() > 0 {
		return fmt.Errorf("keys %s: unexpected %q\n%s", args[0], fs.Arg(0), keysUsage)
	}
	db, err := openDatabase(ctx, *dataDir, true, log)
	if err != nil {
		return err
	}
	defer db.Close()
	return run(db.DB)
}

func cmdImport(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	crs := fs.String("crs", "EPSG:4326", "source CRS: EPSG:4326, EPSG:4490 (CGCS2000), EPSG:4549 (CGCS2000 / 3-degree GK CM 120E) or gcj02")
	codeField := fs.String("code-field", "code", "property holding the code")
	nameField := fs.String("name-field", "name", "property holding the name")
	note := fs.String("note", "", "a note on the new version")
	dataDir := dataDirFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: citygrid import [--crs …] [--note TEXT] FILE")
	}
	file := fs.Arg(0)
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, *dataDir, true, log)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := db.ImportGrid(ctx, grid.ImportFile{Data: data, CRS: *crs, CodeField: *codeField, NameField: *nameField,
		Source: filepath.Base(file), Note: *note})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "grid version %d active: %d towns, %d communities, %d cells, %d zones\n", v.ID, v.Towns, v.Communities, v.Cells, v.Zones)
	return nil
}
