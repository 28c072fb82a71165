package postgres_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/jackc/pgx/v5"
)

// ranked is one facility of the brute-force oracle.
type ranked struct {
	Code, Kind string
	Meters     float64
}

// bruteNearest ranks every facility by its geodesic distance from p, with
// nothing but ST_Distance on geography: the independent oracle.
func bruteNearest(t *testing.T, db *postgres.DB, p [2]float64) []ranked {
	t.Helper()
	rows, _ := db.Pool().Query(ctxT(t), `
		SELECT code, kind, ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography) AS d
		FROM facility ORDER BY d, code`, p[0], p[1])
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[ranked])
	if err != nil {
		t.Fatal(err)
	}
	return all
}

// want picks the oracle's answer to (kind, k, maxMeters).
func want(all []ranked, kind string, k int, maxMeters float64) []ranked {
	var out []ranked
	for _, r := range all {
		if len(out) == k || r.Meters > maxMeters {
			break
		}
		if kind == "" || r.Kind == kind {
			out = append(out, r)
		}
	}
	return out
}

// haversine is the great-circle distance on the mean-radius sphere.
func haversine(a, b [2]float64) float64 {
	const r = 6371008.8
	rad := math.Pi / 180
	dlat, dlon := (b[1]-a[1])*rad, (b[0]-a[0])*rad
	h := math.Sin(dlat/2)*math.Sin(dlat/2) + math.Cos(a[1]*rad)*math.Cos(b[1]*rad)*math.Sin(dlon/2)*math.Sin(dlon/2)
	return 2 * r * math.Asin(math.Sqrt(h))
}

func checkNearest(t *testing.T, db *postgres.DB, all []ranked, p [2]float64, kind string, k int, maxMeters float64) {
	t.Helper()
	got, err := db.NearestFacilities(ctxT(t), p, kind, k, maxMeters)
	if err != nil {
		t.Fatalf("NearestFacilities(%v, %q, %d, %v): %v", p, kind, k, maxMeters, err)
	}
	exp := want(all, kind, k, maxMeters)
	if len(got) != len(exp) {
		t.Fatalf("NearestFacilities(%v, %q, %d, %v): %d facilities, brute force %d", p, kind, k, maxMeters, len(got), len(exp))
	}
	for i, g := range got {
		e := exp[i]
		if g.Code != e.Code || math.Abs(g.Meters-e.Meters) > 1e-6 {
			t.Fatalf("NearestFacilities(%v, %q, %d, %v)[%d] = %s at %.9f m, brute force %s at %.9f m",
				p, kind, k, maxMeters, i, g.Code, g.Meters, e.Code, e.Meters)
		}
		if g.Meters > maxMeters || (kind != "" && g.Kind != kind) {
			t.Fatalf("%s (%s) at %v m breaks kind %q, max %v m", g.Code, g.Kind, g.Meters, kind, maxMeters)
		}
		if h := haversine(p, g.Point); math.Abs(h-g.Meters) > 0.005*g.Meters+1e-6 {
			t.Fatalf("%s: %v m geodesic, %v m haversine: more than 0.5 %% apart", g.Code, g.Meters, h)
		}
	}
}

// TestNearestFacilitiesAgreesWithBruteForce: for 240 random points in the
// city and many kinds, k and max distances, the KNN-then-geodesic query
// returns exactly what ranking every facility by ST_Distance returns.
func TestNearestFacilitiesAgreesWithBruteForce(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	rows, _ := db.Pool().Query(ctxT(t), `
		SELECT ST_X(d.geom), ST_Y(d.geom)
		FROM city c, ST_Dump(ST_GeneratePoints(c.geom, 240, 20260501)) d
		WHERE c.version_id = (SELECT id FROM grid_version WHERE active)`)
	points, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]float64, error) {
		var p [2]float64
		err := r.Scan(&p[0], &p[1])
		return p, err
	})
	if err != nil || len(points) != 240 {
		t.Fatalf("%d points: %v", len(points), err)
	}
	kinds := append(grid.FacilityKinds(), "")
	ks := []int{1, 2, 5, 17, 100}
	maxes := []float64{postgres.MaxNearestMeters, 5000, 800, 150}
	const workers = 4
	for w := range workers {
		t.Run(fmt.Sprint("part", w), func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := w; i < len(points); i += workers {
				p := points[i]
				all := bruteNearest(t, db, p)
				for j := range 5 {
					kind := kinds[(i+j)%len(kinds)]
					checkNearest(t, db, all, p, kind, ks[rng.IntN(len(ks))], maxes[rng.IntN(len(maxes))])
				}
				// A facility's own position: distance 0 first.
				f := all[rng.IntN(len(all))]
				var at [2]float64
				if err := db.Pool().QueryRow(ctxT(t), `SELECT ST_X(geom), ST_Y(geom) FROM facility WHERE code = $1`, f.Code).Scan(&at[0], &at[1]); err != nil {
					t.Fatal(err)
				}
				got, err := db.NearestFacilities(ctxT(t), at, f.Kind, 1, 1)
				if err != nil || len(got) != 1 || got[0].Meters != 0 {
					t.Fatalf("nearest %s to its own position: %+v, %v", f.Kind, got, err)
				}
			}
		})
	}
}

// TestNearestFacilitiesWorldwide checks the candidate box where degrees
// and metres part most: near the poles, across the antimeridian, at the
// equator, with facilities of our own scattered around each place.
func TestNearestFacilitiesWorldwide(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Empty)
	ctx := ctxT(t)
	centres := [][2]float64{{179.97, 10}, {-179.99, -45}, {12, 89.8}, {-60, -89.95}, {0, 0}, {100, 75}, {-150, 60}}
	rng := rand.New(rand.NewPCG(1, 2))
	b := &pgx.Batch{}
	n := 0
	for _, c := range centres {
		for range 150 {
			// Up to about 60 km away, in any direction.
			lat := c[1] + (rng.Float64()*2-1)*0.55
			lat = math.Max(-90, math.Min(90, lat))
			lon := c[0] + (rng.Float64()*2-1)*0.55/math.Max(math.Cos(lat*math.Pi/180), 0.02)
			lon = math.Mod(lon+540, 360) - 180
			n++
			b.Queue(`INSERT INTO facility (code, kind, name, geom) VALUES ($1, $2, '', ST_SetSRID(ST_MakePoint($3, $4), 4326))`,
				fmt.Sprintf("W%05d", n), grid.FacilityKinds()[n%2], lon, lat)
		}
	}
	if err := db.Pool().SendBatch(ctx, b).Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range centres {
		for range 6 {
			lat := math.Max(-90, math.Min(90, c[1]+(rng.Float64()*2-1)*0.4))
			lon := math.Mod(c[0]+(rng.Float64()*2-1)*0.4+540, 360) - 180
			p := [2]float64{lon, lat}
			all := bruteNearest(t, db, p)
			for _, k := range []int{1, 7, 100} {
				for _, m := range []float64{postgres.MaxNearestMeters, 10_000} {
					for _, kind := range []string{"", grid.FacilityKinds()[1]} {
						got, err := db.NearestFacilities(ctx, p, kind, k, m)
						if err != nil {
							t.Fatal(err)
						}
						exp := want(all, kind, k, m)
						if len(got) != len(exp) {
							t.Fatalf("%v %q k=%d max %v: %d facilities, brute force %d", p, kind, k, m, len(got), len(exp))
						}
						for i := range got {
							if got[i].Code != exp[i].Code || math.Abs(got[i].Meters-exp[i].Meters) > 1e-6 {
								t.Fatalf("%v %q k=%d max %v [%d]: %s at %v m, brute force %s at %v m",
									p, kind, k, m, i, got[i].Code, got[i].Meters, exp[i].Code, exp[i].Meters)
							}
						}
					}
				}
			}
		}
	}
}

// TestNearestFacilitiesOnCircles puts facilities on a geodesic circle
// (ST_Project every 3° of azimuth) and asks for them all: the candidate box
// must hold the whole circle, whose widest point in longitude lies poleward
// of the centre.
func TestNearestFacilitiesOnCircles(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Empty)
	ctx := ctxT(t)
	for _, c := range []struct {
		centre [2]float64
		radius float64
	}{
		{[2]float64{121.13, 28.85}, 50}, {[2]float64{121.13, 28.85}, 5000}, {[2]float64{121.13, 28.85}, 49_000},
		{[2]float64{0, 0}, 49_000}, {[2]float64{30, 60}, 49_000}, {[2]float64{-70, 80}, 49_000},
		{[2]float64{10, 89}, 20_000}, {[2]float64{10, 89}, 49_000}, {[2]float64{-100, -89.3}, 30_000},
		{[2]float64{179.9, -20}, 30_000}, {[2]float64{-179.95, 70}, 10_000},
	} {
		if _, err := db.Pool().Exec(ctx, `DELETE FROM facility`); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Pool().Exec(ctx, `INSERT INTO facility (code, kind, geom)
			SELECT 'C' || a, 'toilet', ST_Project(ST_SetSRID(ST_MakePoint($1, $2), 4326)::geography, $3, radians(a))::geometry
			FROM generate_series(0, 357, 3) a`, c.centre[0], c.centre[1], c.radius); err != nil {
			t.Fatal(err)
		}
		all := bruteNearest(t, db, c.centre)
		for _, k := range []int{1, 10, 100} {
			got, err := db.NearestFacilities(ctx, c.centre, "toilet", k, postgres.MaxNearestMeters)
			if err != nil {
				t.Fatal(err)
			}
			exp := want(all, "toilet", k, postgres.MaxNearestMeters)
			if len(got) != len(exp) || len(got) != k {
				t.Fatalf("circle of %v m around %v, k=%d: %d facilities, brute force %d", c.radius, c.centre, k, len(got), len(exp))
			}
			for i := range got {
				if got[i].Code != exp[i].Code || math.Abs(got[i].Meters-exp[i].Meters) > 1e-6 {
					t.Fatalf("circle of %v m around %v, k=%d [%d]: %s at %v m, brute force %s at %v m",
						c.radius, c.centre, k, i, got[i].Code, got[i].Meters, exp[i].Code, exp[i].Meters)
				}
			}
		}
	}
}

func TestNearestFacilitiesInvalid(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Empty)
	city := [2]float64{121.13, 28.85}
	for _, c := range []struct {
		p    [2]float64
		kind string
		k    int
		m    float64
	}{
		{[2]float64{181, 0}, "", 1, 100},
		{[2]float64{0, -90.5}, "", 1, 100},
		{[2]float64{math.NaN(), 0}, "", 1, 100},
		{city, "bench", 1, 100},
		{city, "Camera", 1, 100},
		{city, "", 0, 100},
		{city, "", -1, 100},
		{city, "", postgres.MaxNearestK + 1, 100},
		{city, "", 1, 0},
		{city, "", 1, -5},
		{city, "", 1, math.NaN()},
		{city, "", 1, math.Inf(1)},
		{city, "", 1, postgres.MaxNearestMeters + 0.5},
	} {
		_, err := db.NearestFacilities(context.Background(), c.p, c.kind, c.k, c.m)
		if grid.KindOf(err) != grid.Invalid {
			t.Errorf("NearestFacilities(%v, %q, %d, %v): %v, want invalid", c.p, c.kind, c.k, c.m, err)
		}
	}
	got, err := db.NearestFacilities(context.Background(), city, "", postgres.MaxNearestK, postgres.MaxNearestMeters)
	if err != nil || len(got) != 0 {
		t.Errorf("no facilities at all: %v, %v", got, err)
	}
}

// TestFacilitiesPagesAndBoxes walks every camera by keyset pages and checks
// box filters against ST_Intersects on the envelope.
func TestFacilitiesPagesAndBoxes(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := ctxT(t)
	var seen []string
	after := ""
	for pages := 0; ; pages++ {
		fs, err := db.Facilities(ctx, grid.FacilityFilter{Kind: grid.FacilityCamera, Limit: 500, After: after})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range fs {
			if f.Kind != grid.FacilityCamera || f.Attrs == nil {
				t.Fatalf("%+v", f)
			}
			seen = append(seen, f.Code)
		}
		if len(fs) < 500 {
			break
		}
		after = fs[len(fs)-1].Code
		if pages > 20 {
			t.Fatal("too many pages")
		}
	}
	if len(seen) != 4097 || !slices.IsSorted(seen) || len(slices.Compact(slices.Clone(seen))) != 4097 {
		t.Errorf("paged %d cameras (sorted %v), want 4097 once each", len(seen), slices.IsSorted(seen))
	}
	all, err := db.Facilities(ctx, grid.FacilityFilter{})
	if err != nil || len(all) != count(t, db, `SELECT count(*) FROM facility`) {
		t.Fatalf("all facilities: %d, %v", len(all), err)
	}

	var env [4]float64
	if err := db.Pool().QueryRow(ctx, `SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom)::geometry e FROM facility) s`).
		Scan(&env[0], &env[1], &env[2], &env[3]); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 60 {
		x0, x1 := env[0]+rng.Float64()*(env[2]-env[0]), env[0]+rng.Float64()*(env[2]-env[0])
		y0, y1 := env[1]+rng.Float64()*(env[3]-env[1]), env[1]+rng.Float64()*(env[3]-env[1])
		b := [4]float64{min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)}
		if i%4 == 0 {
			// Edges through two facilities (edges are inside), or a hair
			// inside them (far below the float4 of index boxes).
			p, q := all[rng.IntN(len(all))].Point, all[rng.IntN(len(all))].Point
			b = [4]float64{min(p[0], q[0]), min(p[1], q[1]), max(p[0], q[0]), max(p[1], q[1])}
			if i%8 == 4 {
				b = [4]float64{b[0] + 1e-9, b[1] + 1e-9, b[2] - 1e-9, b[3] - 1e-9}
			}
		}
		kind := ""
		if i%3 == 0 {
			kind = grid.FacilityKinds()[i%len(grid.FacilityKinds())]
		}
		rows, _ := db.Pool().Query(ctx, `SELECT code FROM facility
			WHERE ST_Intersects(geom, ST_MakeEnvelope($1, $2, $3, $4, 4326)) AND ($5 = '' OR kind = $5) ORDER BY code`,
			b[0], b[1], b[2], b[3], kind)
		exp, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		fs, err := db.Facilities(ctx, grid.FacilityFilter{Kind: kind, BBox: &b})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range fs {
			got = append(got, f.Code)
		}
		if !slices.Equal(got, exp) {
			t.Fatalf("box %v kind %q: %d facilities, ST_Intersects %d", b, kind, len(got), len(exp))
		}
	}

	for _, f := range []grid.FacilityFilter{
		{Kind: "bench"},
		{Limit: -1},
		{BBox: &[4]float64{121, 29, 120, 30}},
		{BBox: &[4]float64{121, 29, 122, math.NaN()}},
		{BBox: &[4]float64{math.Inf(-1), 29, 122, 30}},
	} {
		if _, err := db.Facilities(ctx, f); grid.KindOf(err) != grid.Invalid {
			t.Errorf("Facilities(%+v): %v, want invalid", f, err)
		}
	}
}
