package httpapi_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/uber/h3-go/v4"
)

// TestTownKeyAnalysesCountItsTownOnly: with incidents in several towns, a
// key scoped to one town sees in heatmaps (every resolution), hot spots and
// emerging hot spots only its town's incidents — exactly h3's cells of
// them — and no cell outside its town's study area.
func TestTownKeyAnalysesCountItsTownOnly(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	seedHeat(t, f, 900)
	ctx := context.Background()
	const window = "from=2026-01-01T00:00:00%2B08:00&to=2026-07-01T00:00:00%2B08:00"
	var town string
	var others int
	if err := f.db.Pool().QueryRow(ctx, `SELECT town_code, (SELECT count(DISTINCT town_code) FROM incident) - 1 FROM incident
		WHERE category IN ('E0505', 'E0506') GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`).Scan(&town, &others); err != nil {
		t.Fatal(err)
	}
	if others == 0 {
		t.Fatal("the seeded incidents lie in one town: nothing to leak")
	}
	rows, err := f.db.Pool().Query(ctx, `SELECT ST_Y(geom), ST_X(geom) FROM incident
		WHERE category IN ('E0505', 'E0506') AND town_code = $1 AND occurred_at >= '2026-01-01T00:00:00+08:00' AND occurred_at < '2026-07-01T00:00:00+08:00'`, town)
	if err != nil {
		t.Fatal(err)
	}
	var own []h3.LatLng
	for rows.Next() {
		var ll h3.LatLng
		if err := rows.Scan(&ll.Lat, &ll.Lng); err != nil {
			t.Fatal(err)
		}
		own = append(own, ll)
	}
	if rows.Err() != nil || len(own) == 0 {
		t.Fatalf("own incidents: %d, %v", len(own), rows.Err())
	}
	key, err := f.db.CreateAPIKey(ctx, "planner", town, "town scope test")
	if err != nil {
		t.Fatal(err)
	}

	for res := 5; res <= 10; res++ {
		want := map[string]int64{}
		for _, ll := range own {
			c, err := h3.LatLngToCell(ll, res)
			if err != nil {
				t.Fatal(err)
			}
			want[c.String()]++
		}
		resp, b := f.getAs(t, fmt.Sprintf("/v1/heatmap?theme=parking&res=%d&%s", res, window), key)
		if resp.StatusCode != 200 {
			t.Fatalf("heatmap res %d: %d %s", res, resp.StatusCode, b)
		}
		got := decode[struct {
			Total int64
			Cells []struct {
				H3    string
				Count int64
			}
		}](t, b)
		if got.Total != int64(len(own)) || len(got.Cells) != len(want) {
			t.Errorf("res %d: total %d in %d cells, want %d in %d", res, got.Total, len(got.Cells), len(own), len(want))
		}
		for _, c := range got.Cells {
			if want[c.H3] != c.Count {
				t.Errorf("res %d: cell %s counts %d, want %d", res, c.H3, c.Count, want[c.H3])
			}
		}
	}

	snap := f.cat.Current()
	for _, path := range []string{"/v1/hotspots?theme=parking&res=8&", "/v1/hotspots/emerging?theme=parking&res=8&step=month&all=true&"} {
		study, err := hexbin.StudyCells(snap.Town(town).Geometry, 8)
		if err != nil {
			t.Fatal(err)
		}
		in := map[string]bool{}
		for _, c := range study {
			in[c.String()] = true
		}
		resp, b := f.getAs(t, path+window, key)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		got := decode[struct {
			Cells []struct {
				H3    string
				Count float64
			}
		}](t, b)
		var sum float64
		for _, c := range got.Cells {
			if !in[c.H3] {
				t.Errorf("%s: cell %s lies outside town %s's study area", path, c.H3, town)
			}
			sum += c.Count
		}
		if len(got.Cells) == 0 || sum > float64(len(own)) {
			t.Errorf("%s: %d cells counting %v, want at most the town's %d", path, len(got.Cells), sum, len(own))
		}
	}
}
