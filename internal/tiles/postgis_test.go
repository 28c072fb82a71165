package tiles_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb/encoding/wkb"

	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/tiles"
)

// PostGIS is the oracle for the simplified cells: at each zoom every
// polygon is valid, the cells do not overlap (the area of their union is
// the sum of their areas) and leave no gap (the union has no hole the
// union of the source cells lacks). Zooms 3–6 are where the demo cells
// lose vertices; 8, 11 and 14 keep them all.
func TestSimplifiedCellsInPostGIS(t *testing.T) {
	city, g := demoGrid(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.URL(t, pgtest.Empty))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, `CREATE TEMP TABLE simple (z int, code text, geom geometry(MultiPolygon, 4326))`); err != nil {
		t.Fatal(err)
	}
	zooms := []int{0, 3, 4, 5, 6, 8, 11, 14, 16}
	var zs []int32
	var codes []string
	var geoms [][]byte
	for _, z := range zooms {
		for _, c := range city.Cells {
			mp, ok := g.Geometry(tiles.LayerCells, c.Code, z)
			if !ok {
				t.Fatalf("z%d cell %s: nothing left", z, c.Code)
			}
			b, err := wkb.Marshal(mp)
			if err != nil {
				t.Fatal(err)
			}
			zs, codes, geoms = append(zs, int32(z)), append(codes, c.Code), append(geoms, b)
		}
	}
	if _, err := conn.Exec(ctx, `INSERT INTO simple SELECT z, code, ST_SetSRID(ST_GeomFromWKB(g), 4326)
		FROM unnest($1::int[], $2::text[], $3::bytea[]) AS u(z, code, g)`, zs, codes, geoms); err != nil {
		t.Fatal(err)
	}

	rows, err := conn.Query(ctx, `SELECT z, code, ST_IsValidReason(geom) FROM simple WHERE NOT ST_IsValid(geom) ORDER BY z, code LIMIT 10`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var z int
		var code, reason string
		if err := rows.Scan(&z, &code, &reason); err != nil {
			t.Fatal(err)
		}
		t.Errorf("z%d cell %s is invalid: %s", z, code, reason)
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}

	// Holes in the union of the source cells: the baseline.
	var srcHoles int
	var srcWKB [][]byte
	for _, c := range city.Cells {
		b, _ := wkb.Marshal(c.Geometry)
		srcWKB = append(srcWKB, b)
	}
	if err := conn.QueryRow(ctx, `SELECT coalesce(sum(ST_NumInteriorRings(d.geom)), 0)
		FROM ST_Dump((SELECT ST_Union(ST_SetSRID(ST_GeomFromWKB(g), 4326)) FROM unnest($1::bytea[]) g)) d`, srcWKB).Scan(&srcHoles); err != nil {
		t.Fatal(err)
	}
	for _, z := range zooms {
		var union, sum float64
		var n int
		if err := conn.QueryRow(ctx, `WITH u AS (SELECT ST_Union(geom) AS geom FROM simple WHERE z = $1)
			SELECT (SELECT ST_Area(geom) FROM u), (SELECT sum(ST_Area(geom)) FROM simple WHERE z = $1),
				(SELECT coalesce(sum(ST_NumInteriorRings(d.geom)), 0) FROM u, ST_Dump(u.geom) d)`, z).Scan(&union, &sum, &n); err != nil {
			t.Fatal(err)
		}
		t.Logf("z%d: union %.9g, sum %.9g, holes %d (source %d)", z, union, sum, n, srcHoles)
		if rel := math.Abs(union-sum) / sum; rel > 1e-9 {
			t.Errorf("z%d: union %.12g vs sum of areas %.12g (relative %.2g): cells overlap", z, union, sum, rel)
		}
		if n > srcHoles {
			t.Errorf("z%d: the union of the cells has %d holes, the source %d: gaps between cells", z, n, srcHoles)
		}
	}
}

// The area_m2 attribute agrees with PostGIS's geodesic area on the
// spheroid (the attribute is spherical, hence the tolerance).
func TestAreaAttributeInPostGIS(t *testing.T) {
	city, _ := demoGrid(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgtest.URL(t, pgtest.Empty))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	_, g := demoGrid(t)
	tile := oldTown(13)
	l, err := g.Layer(tiles.LayerCells, tile, tiles.GridFilter{})
	if err != nil {
		t.Fatal(err)
	}
	src := map[string][]byte{}
	for _, c := range city.Cells {
		b, _ := wkb.Marshal(c.Geometry)
		src[c.Code] = b
	}
	for _, f := range l.Features {
		code := f.Properties["code"].(string)
		var want float64
		if err := conn.QueryRow(ctx, `SELECT ST_Area(ST_SetSRID(ST_GeomFromWKB($1), 4326)::geography)`, src[code]).Scan(&want); err != nil {
			t.Fatal(err)
		}
		got := float64(f.Properties["area_m2"].(int64))
		if math.Abs(got-want)/want > 0.005 {
			t.Errorf("cell %s: area_m2 %.0f, PostGIS %.0f", code, got, want)
		}
	}
}
