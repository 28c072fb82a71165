package postgres_test

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// TestSmallBoxesAsPostGIS: incidents in a small box, read through their H3
// cells (OGC items and GET /v1/incidents, whole and page by page), are
// those ST_Intersects finds, newest first. Many points lie a hair from
// the edges of their H3 cells, and box edges run through points.
func TestSmallBoxesAsPostGIS(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := ctxT(t)
	rng := rand.New(rand.NewPCG(5, 8))
	area := orb.Bound{Min: orb.Point{121.17, 28.85}, Max: orb.Point{121.20, 28.88}}
	at := time.Now().UTC().Add(-48 * time.Hour)
	var xs []grid.Incident
	add := func(p orb.Point) {
		h, err := h3.LatLngToCell(h3.NewLatLng(p[1], p[0]), 10)
		if err != nil {
			t.Fatal(err)
		}
		x := demoIncident(t, at.Add(-time.Duration(rng.IntN(400*24))*time.Hour))
		x.Point, x.H3 = p, uint64(h)
		xs = append(xs, x)
	}
	for range 2000 {
		add(orb.Point{area.Min[0] + rng.Float64()*(area.Max[0]-area.Min[0]), area.Min[1] + rng.Float64()*(area.Max[1]-area.Min[1])})
	}
	for range 300 { // next to the edges and corners of H3 cells
		c, err := h3.LatLngToCell(h3.NewLatLng(area.Min[1]+rng.Float64()*(area.Max[1]-area.Min[1]), area.Min[0]+rng.Float64()*(area.Max[0]-area.Min[0])), 10)
		if err != nil {
			t.Fatal(err)
		}
		ring, err := c.Boundary()
		if err != nil {
			t.Fatal(err)
		}
		v, u := ring[rng.IntN(len(ring))], ring[rng.IntN(len(ring))]
		f := rng.Float64()
		d := (rng.Float64() - 0.5) * 2e-7
		add(orb.Point{v.Lng + f*(u.Lng-v.Lng) + d, v.Lat + f*(u.Lat-v.Lat) - d})
	}
	if _, err := db.BulkCreate(ctx, xs); err != nil {
		t.Fatal(err)
	}

	oracle := func(b orb.Bound) []int64 {
		rows, _ := db.Pool().Query(ctx, `SELECT id FROM incident WHERE ST_Intersects(geom, ST_MakeEnvelope($1, $2, $3, $4, 4326)) ORDER BY id DESC`,
			b.Min[0], b.Min[1], b.Max[0], b.Max[1])
		ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	ogc := func(b orb.Bound, limit int, cells []string) []int64 {
		var out []int64
		after := ""
		for pages := 0; pages < 100; pages++ {
			page, err := db.IncidentFeatures(ctx, grid.FeatureQuery{Where: grid.Intersects{Geometry: b}, Cells: cells, Limit: limit, After: after})
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range page {
				out = append(out, x.ID)
			}
			if len(page) < limit {
				return out
			}
			after = itoa(page[len(page)-1].ID)
		}
		t.Fatal("too many pages")
		return nil
	}
	v1 := func(b orb.Bound, limit int, cells []string) []int64 {
		var out []int64
		var after int64
		for pages := 0; pages < 100; pages++ {
			page, err := db.FindIncidents(ctx, grid.IncidentFilter{BBox: &[4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}, Cells: cells, Limit: limit, After: after})
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range page {
				out = append(out, x.ID)
			}
			if len(page) < limit {
				return out
			}
			after = page[len(page)-1].ID
		}
		t.Fatal("too many pages")
		return nil
	}
	for i := range 80 {
		w, h := 0.00005+rng.Float64()*0.012, 0.00005+rng.Float64()*0.012
		x0, y0 := area.Min[0]+rng.Float64()*((area.Max[0]-area.Min[0])-w), area.Min[1]+rng.Float64()*((area.Max[1]-area.Min[1])-h)
		b := orb.Bound{Min: orb.Point{x0, y0}, Max: orb.Point{x0 + w, y0 + h}}
		if i%3 == 0 { // edges through two incidents
			p, q := xs[rng.IntN(len(xs))].Point, xs[rng.IntN(len(xs))].Point
			b = orb.Bound{Min: orb.Point{min(p[0], q[0]), min(p[1], q[1])}, Max: orb.Point{max(p[0], q[0]), max(p[1], q[1])}}
		}
		if _, ok := postgres.H3Cover(b); !ok {
			continue // too large for the H3 read: not what this test is about
		}
		exp := oracle(b)
		limit := 1 + rng.IntN(80)
		if got := ogc(b, limit, []string{xs[0].CellCode}); !slices.Equal(got, exp) {
			t.Fatalf("OGC items in %v, pages of %d: %d incidents, ST_Intersects %d", b, limit, len(got), len(exp))
		}
		if got := v1(b, limit, nil); !slices.Equal(got, exp) {
			t.Fatalf("/v1 incidents in %v, pages of %d: %d incidents, ST_Intersects %d", b, limit, len(got), len(exp))
		}
		if got := v1(b, limit, []string{"331082001001002"}); len(got) != 0 {
			t.Fatalf("/v1 incidents in %v of another cell: %d incidents", b, len(got))
		}
		if got := ogc(b, limit, []string{"331082001001002"}); len(got) != 0 {
			t.Fatalf("OGC items in %v through another cell: %d incidents", b, len(got))
		}
	}
	town := orb.Bound{Min: orb.Point{121.1, 28.8}, Max: orb.Point{121.2, 28.9}}
	if _, ok := postgres.H3Cover(town); ok {
		t.Errorf("%v (107 km²) is read through H3 cells, which hold far more than its grid cells", town)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
