package postgres_test

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/citygrid/citygrid/internal/postgres"
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// Metres to degrees near the old town (28.85° N).
const (
	degLat = 1 / 110_850.0
	degLng = 1 / 97_100.0
)

func toLatLng(p orb.Point) h3.LatLng { return h3.NewLatLng(p[1], p[0]) }

// nearEdges returns points a few centimetres either side of edges of cells
// of resolution res around the old town, and at and around their vertices:
// where latLngToCell and the parent of a finer cell part ways. Each edge
// crossing is found by bisection with latLngToCell itself, so the points
// straddle H3's own boundary whatever the shape of its edges.
func nearEdges(t *testing.T, r *rand.Rand, res, n int) []orb.Point {
	t.Helper()
	spread := 0.004 * math.Pow(math.Sqrt(7), float64(10-res)) // a few cells of res
	var out []orb.Point
	for len(out) < n {
		c, err := h3.LatLngToCell(h3.NewLatLng(28.85+r.NormFloat64()*spread/2, 121.13+r.NormFloat64()*spread), res)
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Boundary()
		if err != nil {
			t.Fatal(err)
		}
		ctr, err := c.LatLng()
		if err != nil {
			t.Fatal(err)
		}
		if r.IntN(4) == 0 { // a vertex, and points 3 cm around it
			v := b[r.IntN(len(b))]
			out = append(out, orb.Point{v.Lng, v.Lat})
			for k := range 6 {
				a := float64(k)*math.Pi/3 + 0.3
				out = append(out, orb.Point{v.Lng + 0.03*degLng*math.Cos(a), v.Lat + 0.03*degLat*math.Sin(a)})
			}
			continue
		}
		i := r.IntN(len(b))
		f := 0.05 + 0.9*r.Float64()
		m := [2]float64{b[i].Lng + f*(b[(i+1)%len(b)].Lng-b[i].Lng), b[i].Lat + f*(b[(i+1)%len(b)].Lat-b[i].Lat)}
		at := func(s float64) orb.Point { return orb.Point{ctr.Lng + s*(m[0]-ctr.Lng), ctr.Lat + s*(m[1]-ctr.Lat)} }
		in := func(s float64) bool {
			x, err := h3.LatLngToCell(toLatLng(at(s)), res)
			if err != nil {
				t.Fatal(err)
			}
			return x == c
		}
		lo, hi := 0.9, 1.1
		if !in(lo) || in(hi) {
			continue
		}
		for range 60 {
			if mid := (lo + hi) / 2; in(mid) {
				lo = mid
			} else {
				hi = mid
			}
		}
		// Along the ray from the centre: metres per unit of s.
		dx, dy := (m[0]-ctr.Lng)/degLng, (m[1]-ctr.Lat)/degLat
		perM := 1 / math.Hypot(dx, dy)
		for _, cm := range []float64{0, 2, 5} {
			out = append(out, at(lo-cm/100*perM), at(hi+cm/100*perM))
		}
	}
	return out
}

type rawIncident struct {
	category, town string
	at             time.Time
	point          orb.Point
}

// storedIncidents reads back what the incident table holds: the oracle's
// input, independent of the rollups.
func storedIncidents(t *testing.T, db *postgres.DB) []rawIncident {
	t.Helper()
	rows, err := db.Pool().Query(ctxT(t), `SELECT category, town_code, occurred_at, ST_X(geom), ST_Y(geom) FROM incident`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []rawIncident
	for rows.Next() {
		var x rawIncident
		if err := rows.Scan(&x.category, &x.town, &x.at, &x.point[0], &x.point[1]); err != nil {
			t.Fatal(err)
		}
		out = append(out, x)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// latLngToCellCounts is the oracle: incidents of q per latLngToCell of
// their points at q.Res.
func latLngToCellCounts(t *testing.T, xs []rawIncident, q grid.HeatQuery) map[h3.Cell]int64 {
	t.Helper()
	cst := grid.ChinaTime()
	want := map[h3.Cell]int64{}
	for _, x := range xs {
		lt := x.at.In(cst)
		wd := int(lt.Weekday())
		if wd == 0 {
			wd = 7
		}
		if !slices.Contains(q.Categories, x.category) || (len(q.Towns) > 0 && !slices.Contains(q.Towns, x.town)) ||
			x.at.Before(q.From) || !x.at.Before(q.To) ||
			(len(q.Hours) > 0 && !slices.Contains(q.Hours, lt.Hour())) || (len(q.Weekdays) > 0 && !slices.Contains(q.Weekdays, wd)) {
			continue
		}
		c, err := h3.LatLngToCell(toLatLng(x.point), q.Res)
		if err != nil {
			t.Fatal(err)
		}
		want[c]++
	}
	return want
}

func cellCounts(cs []grid.HeatCell) map[h3.Cell]int64 {
	m := make(map[h3.Cell]int64, len(cs))
	for _, c := range cs {
		m[h3.Cell(c.H3)] = c.Count
	}
	return m
}

func diff(got, want map[h3.Cell]int64) string {
	for c, n := range want {
		if got[c] != n {
			return fmt.Sprintf("%s: %d, latLngToCell %d", c, got[c], n)
		}
	}
	for c, n := range got {
		if want[c] != n {
			return fmt.Sprintf("%s: %d, latLngToCell %d", c, n, want[c])
		}
	}
	return ""
}

var (
	heatCats  = []string{"E0505", "E0506", "E0406"}
	heatTowns = []string{"331082001", "331082002", "331082003", "331082004"}
)

// heatIncident is an incident at p on one of the first days of March 2026.
func heatIncident(t *testing.T, r *rand.Rand, p orb.Point) grid.Incident {
	t.Helper()
	c, err := h3.LatLngToCell(toLatLng(p), 10)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, grid.ChinaTime()).Add(time.Duration(r.IntN(6*24*60)) * time.Minute)
	town := heatTowns[r.IntN(len(heatTowns))]
	return grid.Incident{Category: heatCats[r.IntN(len(heatCats))], Point: p, OccurredAt: at, ReceivedAt: at.Add(time.Minute),
		Source: "camera", Status: grid.StatusCollected, CellCode: town + "001001", CommunityCode: town + "001", TownCode: town,
		Department: "D01", GridVersion: 1, Deadline: at.Add(4 * time.Hour), H3: uint64(c)}
}

// heatPoints are clusters over the old town and points next to cell edges
// and vertices of every resolution 5…10.
func heatPoints(t *testing.T, r *rand.Rand, clustered int) []orb.Point {
	t.Helper()
	var pts []orb.Point
	centres := []orb.Point{{121.130, 28.850}, {121.137, 28.846}, {121.122, 28.855}, {121.141, 28.858}}
	for range clustered {
		c := centres[r.IntN(len(centres))]
		pts = append(pts, orb.Point{c[0] + r.NormFloat64()*300*degLng, c[1] + r.NormFloat64()*300*degLat})
	}
	for res := 5; res <= 10; res++ {
		pts = append(pts, nearEdges(t, r, res, 90)...)
	}
	r.Shuffle(len(pts), func(i, j int) { pts[i], pts[j] = pts[j], pts[i] })
	return pts
}

// TestHeatmapsAreLatLngToCell: heatmaps at every resolution 5…10 — from the
// in-memory read model and from the SQL rollups — equal latLngToCell's
// counts over the stored points, over random windows, hour and weekday
// filters, category sets and town sets, with points placed next to cell
// edges and vertices of every resolution. The model is loaded before most
// writes, which come at once as single creates, bulk loads (with repeated
// external ids) and rollup merges while heatmaps are read; Gi* inputs at
// resolutions 8 and 9 are the same counts.
func TestHeatmapsAreLatLngToCell(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := ctxT(t)
	r := rand.New(rand.NewPCG(11, 12))
	pts := heatPoints(t, r, 1500)
	// The data must exercise corrections at every resolution.
	for res := 5; res <= 9; res++ {
		off := 0
		for _, p := range pts {
			c10, _ := h3.LatLngToCell(toLatLng(p), 10)
			c, _ := h3.LatLngToCell(toLatLng(p), res)
			if hexbin.Parent(c10, res) != c {
				off++
			}
		}
		if off < 30 {
			t.Fatalf("res %d: only %d of %d points lie outside the parent of their resolution-10 cell", res, off, len(pts))
		}
	}
	xs := make([]grid.Incident, len(pts))
	for i, p := range pts {
		xs[i] = heatIncident(t, r, p)
	}
	heat := hexbin.NewHeat(db, db, grid.ChinaTime())
	db.OnRollupChange(heat.Invalidate)
	first := xs[:len(xs)/4]
	if _, err := db.BulkCreate(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := heat.Load(ctx); err != nil {
		t.Fatal(err)
	}

	rest := xs[len(xs)/4:]
	singles, bulks := rest[:len(rest)/3], rest[len(rest)/3:]
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(singles); i += 4 {
				x := singles[i]
				if i%10 == 0 { // a retry: stored once
					x.ExternalID = fmt.Sprintf("single-%d", i)
					y := x
					if _, err := db.CreateIncident(ctx, &y, "test"); err != nil {
						errs <- err
						return
					}
				}
				if _, err := db.CreateIncident(ctx, &x, "test"); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < len(bulks); i += 400 {
			batch := slices.Clone(bulks[i:min(i+400, len(bulks))])
			for j := range batch {
				if j%7 == 0 { // keyed; repeated in this batch and in the next
					batch[j].ExternalID = fmt.Sprintf("bulk-%d", i+j)
				}
			}
			for j := 0; j < len(batch); j += 7 {
				batch = append(batch, batch[j])
			}
			if i > 0 {
				prev := bulks[i-400]
				prev.ExternalID = fmt.Sprintf("bulk-%d", i-400)
				batch = append(batch, prev)
			}
			if _, err := db.BulkCreate(ctx, batch); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Add(1)
	go func() { // merges racing everything else
		defer wg.Done()
		for range 15 {
			if _, err := db.CompactRollups(ctx, 2); err != nil {
				errs <- err
				return
			}
		}
	}()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	during := grid.HeatQuery{Categories: heatCats, Res: 8, From: time.Date(2026, 3, 1, 0, 0, 0, 0, grid.ChinaTime()), To: time.Date(2026, 3, 8, 0, 0, 0, 0, grid.ChinaTime())}
reading:
	for { // a reader meanwhile: every answer comes without error
		select {
		case <-done:
			break reading
		default:
		}
		if _, err := heat.Heatmap(ctx, during); err != nil {
			t.Fatalf("heatmap during writes: %v", err)
		}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	db.WaitMerges()
	if ok, err := heat.Ready(); !ok || err != nil {
		t.Fatalf("read model not ready: %v", err)
	}

	raw := storedIncidents(t, db)
	if want := len(xs); len(raw) != want {
		t.Fatalf("%d incidents stored, want %d", len(raw), want)
	}
	cst := grid.ChinaTime()
	check := func(q grid.HeatQuery) {
		t.Helper()
		want := latLngToCellCounts(t, raw, q)
		mem, err := heat.Heatmap(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if d := diff(cellCounts(mem), want); d != "" {
			t.Errorf("memory, %+v: %s", q, d)
		}
		sq, err := db.Heatmap(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if d := diff(cellCounts(sq), want); d != "" {
			t.Errorf("SQL, %+v: %s", q, d)
		}
	}
	whole := grid.HeatQuery{Categories: heatCats, From: time.Date(2026, 3, 1, 0, 0, 0, 0, cst), To: time.Date(2026, 3, 8, 0, 0, 0, 0, cst)}
	for res := 5; res <= 10; res++ {
		q := whole
		q.Res = res
		check(q)
	}
	for i := range 60 {
		q := grid.HeatQuery{Res: 5 + i%6}
		for _, c := range heatCats {
			if r.IntN(2) == 0 {
				q.Categories = append(q.Categories, c)
			}
		}
		if len(q.Categories) == 0 {
			q.Categories = []string{"E0406"}
		}
		switch i % 4 {
		case 1:
			q.Towns = []string{heatTowns[r.IntN(len(heatTowns))]}
		case 2:
			q.Towns = []string{heatTowns[0], heatTowns[2], "331082999"}
		case 3:
			if i%8 == 3 {
				q.Towns = []string{"331082999"} // a town without incidents
			}
		}
		q.From = time.Date(2026, 3, 1, 0, 0, 0, 0, cst).Add(time.Duration(r.IntN(5*24)) * time.Hour)
		q.To = q.From.Add(time.Duration(1+r.IntN(4*24)) * time.Hour)
		if r.IntN(3) == 0 {
			a := r.IntN(20)
			q.Hours = []int{a, a + 1, a + 2, a + 3}
		}
		if r.IntN(3) == 0 {
			q.Weekdays = []int{1, 2, 3, 4, 5}
		}
		check(q)
	}

	// Gi* inputs: the study's counts at resolutions 8 and 9.
	for _, res := range []int{8, 9} {
		q := whole
		q.Res = res
		want := latLngToCellCounts(t, raw, q)
		st, err := hexbin.NewStudy(slices.Collect(maps.Keys(want)), 1)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := heat.Heatmap(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float64, st.Len())
		for _, c := range cs {
			i, ok := st.Index(h3.Cell(c.H3))
			if !ok {
				t.Fatalf("res %d: cell %s is not in the study area", res, h3.Cell(c.H3))
			}
			got[i] += float64(c.Count)
		}
		for i := range got {
			if got[i] != float64(want[st.Cell(i)]) {
				t.Fatalf("res %d: Gi* input of %s is %v, latLngToCell %d", res, st.Cell(i), got[i], want[st.Cell(i)])
			}
		}
		if _, err := st.GiStar(got); err != nil {
			t.Fatal(err)
		}
	}

	// Not whole hours: refused by both paths.
	q := whole
	q.Res, q.From = 8, q.From.Add(time.Minute)
	if _, err := heat.Heatmap(ctx, q); grid.KindOf(err) != grid.Invalid {
		t.Errorf("memory, a window off the hour: %v", err)
	}
	if _, err := db.Heatmap(ctx, q); grid.KindOf(err) != grid.Invalid {
		t.Errorf("SQL, a window off the hour: %v", err)
	}
}

// TestRollupRowsAreExactDeltas: a single create writes one row holding the
// base entry and its corrections, and the rollups sum to latLngToCell at
// every resolution; no entry is zero.
func TestRollupRowsAreExactDeltas(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx := ctxT(t)
	r := rand.New(rand.NewPCG(21, 22))
	pts := nearEdges(t, r, 8, 12)
	for _, p := range pts {
		x := heatIncident(t, r, p)
		if _, err := db.CreateIncident(ctx, &x, "test"); err != nil {
			t.Fatal(err)
		}
	}
	var rows, zero int
	if err := db.Pool().QueryRow(ctx, `SELECT count(*), (SELECT count(*) FROM h3_rollup, unnest(counts) n WHERE n = 0) FROM h3_rollup`).Scan(&rows, &zero); err != nil {
		t.Fatal(err)
	}
	if rows != len(pts) || zero != 0 {
		t.Errorf("%d rollup rows for %d creates, %d zero entries", rows, len(pts), zero)
	}
	byRes := map[int]map[h3.Cell]int64{}
	if err := db.RollupRows(ctx, nil, func(s grid.RollupSlice, hour int, cell uint64, n int64) error {
		c := h3.Cell(cell)
		for res := 5; res <= 10; res++ {
			if byRes[res] == nil {
				byRes[res] = map[h3.Cell]int64{}
			}
			switch {
			case c.Resolution() == 10:
				byRes[res][hexbin.Parent(c, res)] += n
			case c.Resolution() == res:
				byRes[res][c] += n
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for res := 5; res <= 10; res++ {
		want := map[h3.Cell]int64{}
		for _, p := range pts {
			c, _ := h3.LatLngToCell(toLatLng(p), res)
			want[c]++
		}
		got := maps.Clone(byRes[res])
		maps.DeleteFunc(got, func(_ h3.Cell, n int64) bool { return n == 0 })
		if d := diff(got, want); d != "" {
			t.Errorf("res %d: %s", res, d)
		}
	}
}
