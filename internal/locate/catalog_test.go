package locate_test

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/paulmach/orb"
)

// reimport writes the active cells again as a new version whose cell names
// carry mark, and returns it.
func reimport(t *testing.T, db *postgres.DB, mark string) grid.Version {
	t.Helper()
	ctx := context.Background()
	var doc []byte
	if err := db.Pool().QueryRow(ctx, `
		SELECT json_build_object('type', 'FeatureCollection', 'features', json_agg(json_build_object(
		  'type', 'Feature', 'properties', json_build_object('code', code, 'name', split_part(name, '#', 1) || $1::text),
		  'geometry', ST_AsGeoJSON(geom, 9)::json)))
		FROM cell WHERE version_id = (SELECT id FROM grid_version WHERE active)`, mark).Scan(&doc); err != nil {
		t.Fatal(err)
	}
	v, err := db.ImportGrid(ctx, grid.ImportFile{Data: doc, Source: "test" + mark})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestSwapUnderLoad hammers lookups from many goroutines while new grid
// versions are imported and swapped in. Every answer must come whole from
// one snapshot: the cell's name carries the mark of the version it was
// imported with, and must match the snapshot's version. Run with -race.
func TestSwapUnderLoad(t *testing.T) {
	db := pgtest.New(t, pgtest.Demo)
	ctx := context.Background()
	cat := locate.NewCatalog(db)
	if _, err := cat.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	first := cat.Current().Version.ID
	marks := sync.Map{} // version id → mark
	marks.Store(first, "")

	var stop atomic.Bool
	var lookups, torn atomic.Int64
	seen := sync.Map{}
	var wg sync.WaitGroup
	pts := []orb.Point{{121.13, 28.85}, {121.10, 28.87}, {121.30, 28.80}, {121.5, 28.9}}
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; !stop.Load(); i++ {
				s := cat.Current()
				pl, ok := s.Locate(pts[i%len(pts)])
				if !ok {
					continue
				}
				lookups.Add(1)
				seen.Store(s.Version.ID, true)
				mark, known := marks.Load(s.Version.ID)
				if !known {
					continue
				}
				m := mark.(string)
				if (m == "" && strings.Contains(pl.Cell.Name, "#")) || (m != "" && !strings.HasSuffix(pl.Cell.Name, m)) {
					torn.Add(1)
				}
				if pl.Town == nil || pl.Community == nil || !strings.HasPrefix(pl.Cell.Code, pl.Community.Code) || pl.Community.TownCode != pl.Town.Code {
					torn.Add(1)
				}
			}
		}()
	}
	for k := range 2 {
		mark := "#" + string(rune('a'+k))
		v := reimport(t, db, mark)
		marks.Store(v.ID, mark)
		swapped, err := cat.Refresh(ctx)
		if err != nil || !swapped {
			t.Fatalf("refresh after import: swapped %v, %v", swapped, err)
		}
		if got := cat.Current().Version.ID; got != v.ID {
			t.Fatalf("current version %d, want %d", got, v.ID)
		}
	}
	stop.Store(true)
	wg.Wait()
	if torn.Load() != 0 {
		t.Errorf("%d of %d lookups mixed two versions", torn.Load(), lookups.Load())
	}
	n := 0
	seen.Range(func(_, _ any) bool { n++; return true })
	if n < 2 {
		t.Errorf("lookups saw %d versions: the swap happened outside the load", n)
	}
	// As at a moment before the first import: the demo version, rebuilt.
	vs, _ := db.Versions(ctx)
	old := vs[len(vs)-1]
	s, err := cat.At(ctx, old.ActivatedAt.Add(time.Millisecond))
	if err != nil || s.Version.ID != first {
		t.Fatalf("At(first activation): %v, %v", s, err)
	}
	if _, err := cat.At(ctx, old.ActivatedAt.Add(-time.Hour)); grid.KindOf(err) != grid.NotFound {
		t.Errorf("At(before any version): %v, want NotFound", err)
	}
}
