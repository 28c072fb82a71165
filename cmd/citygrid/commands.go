package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/paulmach/orb"
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

func cmdKeys(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("usage: citygrid keys create --role dispatcher|planner|admin [--town CODE]")
	}
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	role := fs.String("role", "", "dispatcher, planner or admin")
	town := fs.String("town", "", "scope the key to one town (9-digit code)")
	note := fs.String("note", "", "what the key is for")
	dataDir := dataDirFlag(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	db, err := openDatabase(ctx, *dataDir, true, log)
	if err != nil {
		return err
	}
	defer db.Close()
	key, err := db.CreateAPIKey(ctx, *role, *town, *note)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, key)
	return nil
}

func cmdImport(ctx context.Context, args []string, out io.Writer, log *slog.Logger) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	crs := fs.String("crs", "EPSG:4326", "source CRS: EPSG:4326, EPSG:4490 (CGCS2000), EPSG:4549 (CGCS2000 / 3-degree GK CM 120E) or gcj02")
	codeField := fs.String("code-field", "code", "property holding the code")
	nameField := fs.String("name-field", "name", "property holding the name")
	dataDir := dataDirFlag(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("usage: citygrid import [--crs …] FILE")
	}
	file := fs.Arg(0)
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	req, err := importRequest(data, *crs, *codeField, *nameField, filepath.Base(file))
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, *dataDir, true, log)
	if err != nil {
		return err
	}
	defer db.Close()
	v, err := db.ImportGrid(ctx, req)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "grid version %d active: %d towns, %d communities, %d cells, %d zones\n", v.ID, v.Towns, v.Communities, v.Cells, v.Zones)
	return nil
}

// importRequest parses an import file; GCJ-02 input is converted to WGS84
// here, the EPSG systems by PostGIS.
func importRequest(data []byte, crs, codeField, nameField, source string) (grid.ImportRequest, error) {
	feats, err := grid.ParseImport(data, codeField, nameField)
	if err != nil {
		return grid.ImportRequest{}, err
	}
	req := grid.ImportRequest{Source: "import: " + source, Features: feats}
	switch c := strings.ToUpper(strings.TrimSpace(crs)); c {
	case "EPSG:4326", "WGS84", "4326":
		req.SRID = 4326
	case "EPSG:4490", "CGCS2000", "4490":
		req.SRID = 4490
	case "EPSG:4549", "4549":
		req.SRID = 4549
	case "GCJ02", "GCJ-02":
		req.SRID = 4326
		for i := range req.Features {
			req.Features[i].Geometry = mapPoints(req.Features[i].Geometry, coord.GCJ02ToWGS84)
		}
	default:
		return req, grid.Errorf(grid.Invalid, "crs %q: want EPSG:4326, EPSG:4490, EPSG:4549 or gcj02", crs)
	}
	return req, nil
}

func mapPoints(g orb.Geometry, f func(lon, lat float64) (float64, float64)) orb.Geometry {
	conv := func(r orb.Ring) {
		for i, p := range r {
			r[i][0], r[i][1] = f(p[0], p[1])
		}
	}
	switch g := g.(type) {
	case orb.Polygon:
		for _, r := range g {
			conv(r)
		}
	case orb.MultiPolygon:
		for _, p := range g {
			for _, r := range p {
				conv(r)
			}
		}
	}
	return g
}
