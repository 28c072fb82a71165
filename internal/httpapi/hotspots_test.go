package httpapi_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/uber/h3-go/v4"
)

// cityPoints returns interior points of cells, spread over the city.
func cityPoints(t *testing.T, f *fixture) [][2]float64 {
	t.Helper()
	var xs, ys []float64
	if err := f.db.Pool().QueryRow(context.Background(), `SELECT array_agg(ST_X(p) ORDER BY c), array_agg(ST_Y(p) ORDER BY c)
		FROM (SELECT code c, ST_PointOnSurface(geom) p FROM cell WHERE version_id = (SELECT id FROM grid_version WHERE active)) s`).Scan(&xs, &ys); err != nil {
		t.Fatal(err)
	}
	pts := make([][2]float64, len(xs))
	for i := range xs {
		pts[i] = [2]float64{xs[i], ys[i]}
	}
	return pts
}

// TestHotspotsAndEmerging: a background of parking reports spread over the
// city every month, and a cluster that appears only in the last two
// months. Gi* finds the cluster hot over the whole study area, and the
// emerging analysis calls it a consecutive hot spot.
func TestHotspotsAndEmerging(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	pts := cityPoints(t, f)
	r := rand.New(rand.NewPCG(9, 10))
	cst := time.FixedZone("CST", 8*3600)
	// Rural (the last town's cells are large): the background is thin there.
	hot := pts[len(pts)-1]
	var sb strings.Builder
	for m := 1; m <= 6; m++ {
		for range 200 {
			p := pts[r.IntN(len(pts))]
			at := time.Date(2026, time.Month(m), 1+r.IntN(27), 8+r.IntN(10), 0, 0, 0, cst)
			fmt.Fprintf(&sb, `{"category":"E0505","lon":%v,"lat":%v,"occurred_at":%q,"source":"camera"}`+"\n", p[0], p[1], at.Format(time.RFC3339))
		}
		if m >= 5 {
			for range 80 {
				at := time.Date(2026, time.Month(m), 1+r.IntN(27), 8+r.IntN(10), 0, 0, 0, cst)
				fmt.Fprintf(&sb, `{"category":"E0505","lon":%v,"lat":%v,"occurred_at":%q,"source":"camera"}`+"\n",
					hot[0]+(r.Float64()-0.5)*0.002, hot[1]+(r.Float64()-0.5)*0.002, at.Format(time.RFC3339))
			}
		}
	}
	if resp, b := f.post(t, "/v1/incidents/bulk", sb.String()); resp.StatusCode != 201 {
		t.Fatalf("bulk: %s", b)
	}
	hotCell, _ := h3.LatLngToCell(h3.NewLatLng(hot[1], hot[0]), 8)

	resp, b := f.get(t, "/v1/hotspots?theme=parking&res=8&from=2026-01-01T00:00:00%2B08:00&to=2026-07-01T00:00:00%2B08:00")
	if resp.StatusCode != 200 {
		t.Fatalf("hotspots: %d %s", resp.StatusCode, b)
	}
	hs := decode[struct {
		Res, K int
		Cells  []struct {
			H3    string
			Count float64
			Z, P  float64
			Bin   int
		}
	}](t, b)
	var total float64
	bins := map[int]int{}
	found := false
	for _, c := range hs.Cells {
		total += c.Count
		bins[c.Bin]++
		if c.H3 == hotCell.String() {
			found = true
			if c.Bin != 3 || c.Z < 3 {
				t.Errorf("the cluster's cell: %+v, want a 99 %% hot spot", c)
			}
		}
	}
	if !found {
		t.Fatalf("the cluster's cell %s is not in the study area", hotCell)
	}
	if hs.Res != 8 || hs.K != 1 || len(hs.Cells) < 1500 || bins[0] < len(hs.Cells)/2 {
		t.Errorf("study of %d cells, bins %v", len(hs.Cells), bins)
	}
	if total < 1300 || total > 1360 {
		t.Errorf("the study area counts %v of 1360 incidents", total)
	}

	resp, b = f.get(t, "/v1/hotspots/emerging?theme=parking&res=8&step=month&from=2026-01-01T00:00:00%2B08:00&to=2026-07-01T00:00:00%2B08:00")
	if resp.StatusCode != 200 {
		t.Fatalf("emerging: %d %s", resp.StatusCode, b)
	}
	em := decode[struct {
		Steps int
		Cells []struct {
			H3       string
			Class    string
			HotSteps int `json:"hot_steps"`
		}
	}](t, b)
	if em.Steps != 6 {
		t.Errorf("%d steps, want 6 months", em.Steps)
	}
	class := ""
	for _, c := range em.Cells {
		if c.H3 == hotCell.String() {
			class = c.Class
		}
	}
	if class != "consecutive_hot_spot" {
		t.Errorf("the cluster's cell is %q, want consecutive_hot_spot", class)
	}
	for _, c := range []struct{ q, field string }{
		{"theme=parking&k=0", "k"}, {"theme=parking&k=9", "k"}, {"res=8", "theme"},
	} {
		resp, b := f.get(t, "/v1/hotspots?"+c.q)
		wantProblem(t, resp, b, 400, c.field)
	}
	for _, c := range []struct{ q, field string }{
		{"theme=parking&step=day", "step"},
		{"theme=parking&step=month&from=2026-05-01T00:00:00Z&to=2026-06-01T00:00:00Z", "from"},
	} {
		resp, b := f.get(t, "/v1/hotspots/emerging?"+c.q)
		wantProblem(t, resp, b, 400, c.field)
	}
}
