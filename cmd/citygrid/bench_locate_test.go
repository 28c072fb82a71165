package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/locate"
	"github.com/citygrid/citygrid/internal/pgtest"
	"github.com/paulmach/orb"
)

// tinyLocateScale runs every locate row in a few seconds: it proves the
// rows work, not how fast anything is.
var tinyLocateScale = locateScale{
	Points:        20_000,
	AllCoreDur:    100 * time.Millisecond,
	SQLConns:      2,
	SQLWarmup:     50 * time.Millisecond,
	SQLMinDur:     200 * time.Millisecond,
	SQLMinQueries: 50,
	SQLMaxDur:     5 * time.Second,
	HTTPClients:   4,
	HTTPWarmup:    100 * time.Millisecond,
	HTTPDur:       300 * time.Millisecond,
	BatchPoints:   2_000,
	BatchRuns:     5,
	BatchSQLRuns:  1,
}

// TestBenchLocateRows runs the locate rows at a tiny scale against the demo
// city and checks the table's shape; timings are not asserted.
func TestBenchLocateRows(t *testing.T) {
	t.Parallel()
	db := pgtest.New(t, pgtest.Demo)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cat := locate.NewCatalog(db)
	if _, err := cat.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	all, _ := parseOnly("")
	rows, err := benchLocate(ctx, db, cat, tinyLocateScale, all, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"locate in process", "locate in process, all cores", "locate over HTTP, single point", "locate batch"}
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d: %+v", len(rows), len(want), rows)
	}
	for i, r := range rows {
		if !strings.HasPrefix(r.Workload, want[i]) {
			t.Errorf("row %d is %q, want %q…", i, r.Workload, want[i])
		}
		if r.Ours == "" || r.Baseline == "" || r.Ratio == "" || r.Budget == "" {
			t.Errorf("row %d has an empty column: %+v", i, r)
		}
		if r.Met != "yes" && r.Met != "no" {
			t.Errorf("row %d: met %q", i, r.Met)
		}
	}
	if !strings.Contains(rows[2].Ours, " 0 errors") {
		t.Errorf("HTTP row had errors: %s", rows[2].Ours)
	}
	if !strings.Contains(rows[2].Baseline, "PostGIS") {
		t.Errorf("HTTP row's baseline lacks the PostGIS context: %s", rows[2].Baseline)
	}
	var out bytes.Buffer
	printBench(&out, rows)
	if n := strings.Count(out.String(), "\n"); n != len(rows)+1 {
		t.Errorf("table has %d lines, want %d:\n%s", n, len(rows)+1, out.String())
	}

	// --only picks rows: the batch alone.
	only, err := parseOnly("locate-batch")
	if err != nil {
		t.Fatal(err)
	}
	rows, err = benchLocate(ctx, db, cat, tinyLocateScale, only, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || !strings.HasPrefix(rows[0].Workload, "locate batch") {
		t.Errorf("--only locate-batch gave %+v", rows)
	}
}

// benchServerForTest serves the demo city as the bench does, until the
// test ends.
func benchServerForTest(t *testing.T, ctx context.Context) (string, *locate.Snapshot) {
	t.Helper()
	db := pgtest.New(t, pgtest.Demo)
	cat := locate.NewCatalog(db)
	if _, err := cat.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	base, _, stop, err := startBenchServer(ctx, db, cat)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return base, cat.Current()
}

// TestBenchHTTPCountsErrors: answers other than 200 are counted and fail
// the row, however fast they came.
func TestBenchHTTPCountsErrors(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base, snap := benchServerForTest(t, ctx)
	rng := rand.New(rand.NewPCG(1, 1))
	pts := randomInside(rng, snap, cityBound(snap), 8)
	pts = append(pts, orb.Point{0, 0}) // outside the city: 404
	// Long enough that requests complete on a loaded machine under -race.
	h, err := measureHTTP(ctx, locateURLs(base, pts, benchCategory), 2, 10*time.Millisecond, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if h.Errors == 0 || !strings.Contains(h.FirstError, "HTTP 404") {
		t.Fatalf("errors %d (first %q), want 404s counted", h.Errors, h.FirstError)
	}
	h.Rate, h.P99 = 1e9, time.Microsecond // fast, and still failed
	if r := httpRow(h, tinyLocateScale, sqlStats{}); r.Met != "no" || !strings.Contains(r.Ours, "404") {
		t.Errorf("row with errors: %+v", r)
	}
}

func TestParseOnly(t *testing.T) {
	sel, err := parseOnly("locate, seed")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{"cold": false, "seed": true, "locate-process": true, "locate-http": true, "locate-batch": true} {
		if sel(name) != want {
			t.Errorf("--only locate,seed: %s selected %v", name, !want)
		}
	}
	sel, _ = parseOnly("locate-http")
	if sel("locate-batch") || !sel("locate-http") || sel("cold") {
		t.Error("--only locate-http selects other rows")
	}
	sel, _ = parseOnly("")
	for _, n := range benchRowNames {
		if !sel(n) {
			t.Errorf("default does not select %s", n)
		}
	}
	if _, err := parseOnly("locate,warp"); err == nil {
		t.Error("unknown row accepted")
	}
}

// TestBatchDecodingPaths: POST /v1/locate answers the same bytes whether
// the body takes the batch's fast decoder (the usual shape) or
// encoding/json (here forced by a key spelled in capitals, which JSON
// matches case-insensitively) — bad points, outside points and number
// spellings included.
func TestBatchDecodingPaths(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	base, snap := benchServerForTest(t, ctx)
	rng := rand.New(rand.NewPCG(2, 2))
	var pts []string
	for _, p := range randomPoints(rng, cityBound(snap), 3000) {
		pts = append(pts, "["+strconv.FormatFloat(p[0], 'f', -1, 64)+", "+strconv.FormatFloat(p[1], 'e', -1, 64)+"]")
	}
	pts = append(pts, `[200,28]`, `[121,-91]`, `[-0,0]`, `[1.21E2,2.9e+1]`, `[ 0 , 0 ]`)
	for _, category := range []string{"", `"category":"E0505",`, `"category":"E0406",`} {
		for _, crs := range []string{"wgs84", "gcj02"} {
			body := func(key string) string {
				return fmt.Sprintf(`{"crs":%q,%s%q:[%s]}`, crs, category, key, strings.Join(pts, ","))
			}
			fast, slow := post(t, base, body("points")), post(t, base, body("Points"))
			if !bytes.Equal(fast, slow) {
				t.Fatalf("category %s crs %s: the two decoders' answers differ", category, crs)
			}
			if !bytes.Contains(fast, []byte(`"status":400`)) || !bytes.Contains(fast, []byte(`"status":404`)) || !bytes.Contains(fast, []byte(`"cell":`)) {
				t.Fatalf("answer lacks some kinds of item: %.300s", fast)
			}
		}
	}
	// A large answer leaves in chunks: its items are those of small
	// batches answered in one write each.
	body := func(pts []string) string {
		return `{"crs":"wgs84","category":"E0505","points":[` + strings.Join(pts, ",") + `]}`
	}
	var whole struct{ Results []json.RawMessage }
	if err := json.Unmarshal(post(t, base, body(pts)), &whole); err != nil {
		t.Fatal(err)
	}
	if len(whole.Results) != len(pts) {
		t.Fatalf("%d results for %d points", len(whole.Results), len(pts))
	}
	for i := 0; i < len(pts); i += 50 {
		var part struct{ Results []json.RawMessage }
		if err := json.Unmarshal(post(t, base, body(pts[i:min(i+50, len(pts))])), &part); err != nil {
			t.Fatal(err)
		}
		for j, r := range part.Results {
			w := whole.Results[i+j]
			if !bytes.Equal(pointIndex.ReplaceAll(r, nil), pointIndex.ReplaceAll(w, nil)) { // error details name the index
				t.Fatalf("point %d: %s in the large batch, %s in a small one", i+j, w, r)
			}
		}
	}

	// Bodies the fast decoder refuses get encoding/json's answers.
	for body, want := range map[string]string{
		`{"points":[[1,2]]} x`:         "trailing data",
		`{"points":[[1e999,2]]}`:       "want float64",
		`{"points":[[1,2]],"extra":1}`: "unknown field",
		`{"crs":"wgs84"}`:              "required",
	} {
		resp, err := http.Post(base+"/v1/locate", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), want) {
			t.Errorf("%s: HTTP %d %s, want 400 mentioning %q", body, resp.StatusCode, b, want)
		}
	}
}

var pointIndex = regexp.MustCompile(`points\[[0-9]+\]`)

func post(t *testing.T, base, body string) []byte {
	t.Helper()
	resp, err := http.Post(base+"/v1/locate", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d: %s", resp.StatusCode, b)
	}
	return b
}
