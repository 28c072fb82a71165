package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/citygrid/citygrid/internal/intake"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"
)

var batchSeeds = []string{
	`{"crs":"wgs84","category":"E0505","points":[[121.1301,28.85],[121.2,28.9]]}`,
	` { "points" : [ [ -0.5e1 , 1E-2 ] , [0,-0] ] , "at" : "2026-06-18T09:30:00+08:00" } `,
	`{"points":[]}`,
	`{}`,
	`{"points":null}`,
	`{"points":[[1,2,3]]}`,
	`{"points":[[1]]}`,
	`{"points":[[1e999,0]]}`,
	`{"points":[[01,2]]}`,
	`{"points":[[1.,2]]}`,
	`{"points":[[1,2]],"points":[[3,4]]}`,
	`{"CRS":"gcj02","points":[[1,2]]}`,
	`{"crs":"gcj\u0030","points":[[1,2]]}`,
	`{"crs":"gcj02","points":[[1,2]]}]`,
	`{"crs":"gcj02","points":[[1,2]]}}`,
	`{"crs":"gcj02","points":[[1,2]]} {}`,
	`{"category":"临海","points":[[1,2]]}`,
	`{"points":[[4.9406564584124654e-324,1.7976931348623157e308]]}`,
	`{"points":[[1,2],]}`,
	`[]`,
}

// TestBatchDecoderFastPath: the usual batch shapes take the fast path.
func TestBatchDecoderFastPath(t *testing.T) {
	for _, s := range batchSeeds[:3] {
		if _, ok := decodeBatchFast([]byte(s)); !ok {
			t.Errorf("%s: declined", s)
		}
	}
	for _, s := range batchSeeds {
		checkBatchDecoder(t, []byte(s))
	}
}

// checkBatchDecoder: whenever the fast path accepts a batch, encoding/json
// (DecodeStrict) accepts it and makes the same request — floats bit for
// bit, the same strings, nil and empty lists alike; a declined batch
// leaves the request zero. Whatever DecodeStrict accepts is one valid JSON
// text.
func checkBatchDecoder(t *testing.T, b []byte) {
	t.Helper()
	var std batchRequest
	stdErr := param.DecodeStrict(b, &std, "not a locate batch")
	if stdErr == nil && !json.Valid(b) {
		t.Fatalf("%q: DecodeStrict accepted what is not one JSON text", b)
	}
	fast, ok := decodeBatchFast(b)
	if !ok {
		if fast.CRS != "" || fast.Category != "" || fast.At != "" || fast.Points != nil {
			t.Fatalf("%q: declined, but the request is %+v", b, fast)
		}
		return
	}
	if stdErr != nil {
		t.Fatalf("%q: the fast path accepted what encoding/json refuses: %v", b, stdErr)
	}
	if fast.CRS != std.CRS || fast.Category != std.Category || fast.At != std.At ||
		(fast.Points == nil) != (std.Points == nil) || len(fast.Points) != len(std.Points) {
		t.Fatalf("%q: fast %+v, encoding/json %+v", b, fast, std)
	}
	for i := range fast.Points {
		p, q := fast.Points[i], std.Points[i]
		if len(p) != len(q) {
			t.Fatalf("%q: point %d: fast %v, encoding/json %v", b, i, p, q)
		}
		for j := range p {
			if math.Float64bits(p[j]) != math.Float64bits(q[j]) {
				t.Fatalf("%q: point %d: fast %v, encoding/json %v", b, i, p, q)
			}
		}
	}
}

func FuzzBatchDecoder(f *testing.F) {
	for _, s := range batchSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkBatchDecoder)
}

// fuzzAssigner is a small grid in memory: one town of two cells side by
// side (0.01° squares from 121.10 E, 28.80 N) and categories of every
// kind of rule, enough for bulk lines to be assigned.
func fuzzAssigner(tb testing.TB) *intake.Assigner {
	tb.Helper()
	sq := func(lon, lat, d float64) orb.MultiPolygon {
		return orb.MultiPolygon{{{{lon, lat}, {lon + d, lat}, {lon + d, lat + d}, {lon, lat + d}, {lon, lat}}}}
	}
	const town, comm = "331082001", "331082001001"
	city := &grid.City{
		Code: grid.CountyCode, Name: "test", Boundary: sq(121.10, 28.80, 0.02),
		Towns:       []grid.Town{{Code: town, Name: "古城街道", Kind: "street", Geometry: sq(121.10, 28.80, 0.02)}},
		Communities: []grid.Community{{Code: comm, Name: "A", TownCode: town, Geometry: sq(121.10, 28.80, 0.02)}},
		Cells: []grid.Cell{
			{Code: comm + "001", Name: "A1", CommunityCode: comm, TownCode: town, Geometry: sq(121.10, 28.80, 0.01)},
			{Code: comm + "002", Name: "A2", CommunityCode: comm, TownCode: town, Geometry: sq(121.11, 28.80, 0.01)},
		},
		Departments: []grid.Department{
			{Code: "D03", Name: "交警", Kind: grid.DeptFunctional},
			{Code: town, Name: "古城街道办", Kind: grid.DeptTown, TownCode: town},
		},
		Categories: []grid.Category{
			{Code: "E0505", Name: "机动车乱停放", Limit: 4, Unit: grid.WorkingHours, Theme: "parking"},
			{Code: "E0406", Name: "道路积水", Limit: 2, Unit: grid.WorkingHours, Theme: "waterlogging"},
		},
		Rules: []grid.Rule{
			{ID: 1, Pattern: "E05*", Scope: grid.ScopeCity, Department: "D03"},
			{ID: 2, Pattern: "*", Scope: grid.ScopeTown, ScopeCode: town, Department: town, Fallback: true},
		},
	}
	snap, err := locate.Build(&grid.Model{Version: grid.Version{ID: 1}, City: city})
	if err != nil {
		tb.Fatal(err)
	}
	a, err := intake.New(snap, grid.DefaultCalendar())
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// FuzzBulkBody runs NDJSON bodies through the bulk load's parsing as the
// handler does (splitLines, the workers' decoder, the report's checks and
// assignment) and checks it against a line-by-line oracle: the body split
// at '\n', a line blank when it holds only JSON whitespace, each other line
// decoded by encoding/json. The problems name exactly the bad lines by
// their numbers, in order; without problems the incidents are those of the
// oracle, in line order, and every field passes validation.
func FuzzBulkBody(f *testing.F) {
	line := `{"category":"E0505","lon":121.105,"lat":28.805,"occurred_at":"2026-06-18T09:30:00+08:00","source":"camera","external_id":"a"}`
	for _, s := range []string{
		line,
		line + "\n" + strings.Replace(line, "E0505", "E0406", 1) + "\n",
		"\n\n" + line + "\r\n  \n\t" + line + "\n",
		line + "\n{\"category\":\"E0505\"}\n" + line + "\nnot json\n",
		"\u00a0\n" + line,
		"\v" + line + "\f",
		`{"category":"E0505","lon":121.115,"lat":28.805,"crs":"gcj02","occurred_at":"2026-06-18T09:30:00Z","description":"占道\u0000"}`,
		`{"category":"E0505","lon":122,"lat":28.805,"occurred_at":"2026-06-18T09:30:00+08:00"}`,
		`{"category":"X","lon":121.105,"lat":28.805,"occurred_at":"2126-06-18T09:30:00+08:00"}`,
		`{"category":"E0505","lon":121.105,"lat":28.805,"occurred_at":"2026-06-18T09:30:00+08:00"}}`,
		"",
		"\n",
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Add([]byte(line), uint8(2))
	a := fuzzAssigner(f)
	now := time.Date(2026, 6, 18, 12, 0, 0, 0, grid.ChinaTime())
	towns := []string{"", "331082001", "331082002"}
	f.Fuzz(func(t *testing.T, body []byte, townSel uint8) {
		who := grid.Principal{Role: grid.RoleDispatcher, Town: towns[int(townSel)%len(towns)]}
		lines, err := splitLines(body)
		if err != nil {
			// Only the limits refuse a body: a line or a count too long.
			if !strings.HasPrefix(grid.MessageOf(err), "body: ") || len(body) <= maxLineBytes {
				t.Fatalf("splitLines: %v", err)
			}
			return
		}
		// The oracle.
		var wantLines []bulkLine
		var wantProblems []string
		var wantXs []grid.Incident
		for i, raw := range bytes.Split(body, []byte{'\n'}) {
			b := bytes.Trim(raw, " \t\r")
			if len(b) == 0 {
				continue
			}
			wantLines = append(wantLines, bulkLine{i + 1, b})
			var in incidentIn
			err := param.DecodeStrict(b, &in, "not valid JSON")
			var r intake.Report
			if err == nil {
				r, err = in.report()
			}
			var x grid.Incident
			if err == nil {
				var s intake.Scratch
				r.ExternalID = who.ExternalIDOf(r.ExternalID)
				x, err = a.Assign(&r, now, &s)
			}
			if err == nil {
				err = outsideTown(who.Town, x.TownCode)
			}
			if err != nil {
				if len(wantProblems) < 1000 {
					wantProblems = append(wantProblems, "line "+strconv.Itoa(i+1)+": "+grid.MessageOf(err))
				}
				continue
			}
			wantXs = append(wantXs, x)
		}
		if len(lines) != len(wantLines) {
			t.Fatalf("%q: %d lines, want %d", body, len(lines), len(wantLines))
		}
		for i := range lines {
			if lines[i].n != wantLines[i].n || !bytes.Equal(lines[i].b, wantLines[i].b) {
				t.Fatalf("%q: line %d %q, want line %d %q", body, lines[i].n, lines[i].b, wantLines[i].n, wantLines[i].b)
			}
		}

		p := &bulkParser{lines: lines, a: a, now: now, who: who}
		p.start(2)
		var xs []grid.Incident
		for {
			x, err := p.next()
			if err != nil {
				if !errors.Is(err, errBadLines) || len(wantProblems) == 0 {
					t.Fatalf("%q: next: %v", body, err)
				}
				break
			}
			if x == nil {
				break
			}
			xs = append(xs, *x)
		}
		problems := p.finish()
		if !slices.Equal(problems, wantProblems) {
			t.Fatalf("%q: problems\n%q\nwant\n%q", body, problems, wantProblems)
		}
		if len(problems) > 0 {
			return
		}
		if len(xs) != len(wantXs) {
			t.Fatalf("%q: %d incidents, want %d", body, len(xs), len(wantXs))
		}
		for i := range xs {
			if !sameIncident(xs[i], wantXs[i]) {
				t.Fatalf("%q: incident %d\n%+v\nwant\n%+v", body, i, xs[i], wantXs[i])
			}
			checkIncidentFields(t, &xs[i], now)
		}
	})
}

func sameIncident(a, b grid.Incident) bool {
	return a.Category == b.Category && a.Point == b.Point && a.OccurredAt.Equal(b.OccurredAt) && a.Source == b.Source &&
		a.Description == b.Description && a.ExternalID == b.ExternalID && a.CellCode == b.CellCode && a.H3 == b.H3 &&
		a.Department == b.Department && a.Deadline.Equal(b.Deadline)
}

// checkIncidentFields checks an accepted incident's fields against the
// documented limits, independently of intake.Check.
func checkIncidentFields(t *testing.T, x *grid.Incident, now time.Time) {
	t.Helper()
	c := x.Category
	if len(c) != 5 || (c[0] != 'P' && c[0] != 'E') || strings.Trim(c[1:], "0123456789") != "" {
		t.Fatalf("category %q", c)
	}
	lon, lat := x.Point[0], x.Point[1]
	if !(lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90) {
		t.Fatalf("point %v", x.Point)
	}
	if x.OccurredAt.Before(param.MinTime) || !x.OccurredAt.Before(param.MaxTime) || x.OccurredAt.After(now.Add(5*time.Minute)) {
		t.Fatalf("occurred_at %s", x.OccurredAt)
	}
	if !slices.Contains(grid.Sources(), x.Source) {
		t.Fatalf("source %q", x.Source)
	}
	if !utf8.ValidString(x.Description) || utf8.RuneCountInString(x.Description) > intake.MaxDescription || strings.ContainsRune(x.Description, 0) {
		t.Fatalf("description %q", x.Description)
	}
	if !utf8.ValidString(x.ExternalID) || len(x.ExternalID) > intake.MaxExternalID || strings.ContainsRune(x.ExternalID, 0) {
		t.Fatalf("external_id %q", x.ExternalID)
	}
	if x.CellCode == "" || x.Department == "" || x.H3 == 0 || x.Status != grid.StatusCollected {
		t.Fatalf("incident not assigned: %+v", x)
	}
}

// FuzzTileWindow: datetime= of incident and heatmap tiles becomes a
// non-empty window of whole UTC hours that covers what was asked; a
// refusal names datetime.
func FuzzTileWindow(f *testing.F) {
	for _, s := range []string{"", "2026-06-18T09:30:00+08:00", "2026-06-01T00:00:00Z/2026-06-18T00:00:00Z", "../2026-06-18T00:00:00Z",
		"2026-06-01T00:00:00Z/..", "2026-06-01T00:00:00Z/", "2026-06-18T01:00:00Z/2026-06-18T00:59:59Z", "2199-12-31T23:59:59Z/..", "../.."} {
		f.Add(s)
	}
	now := time.Date(2026, 6, 18, 12, 34, 56, 0, grid.ChinaTime())
	f.Fuzz(func(t *testing.T, v string) {
		w, relative, err := tileWindow(v, now)
		if err != nil {
			if grid.KindOf(err) != grid.Invalid || !strings.HasPrefix(grid.MessageOf(err), "datetime: ") {
				t.Fatalf("tileWindow(%q): %v", v, err)
			}
			return
		}
		for _, x := range []time.Time{w.From, w.To} {
			if x.Location() != time.UTC || !x.Truncate(time.Hour).Equal(x) {
				t.Fatalf("tileWindow(%q) = %s: not whole UTC hours", v, w.Key())
			}
		}
		if !w.From.Before(w.To) {
			t.Fatalf("tileWindow(%q) = %s: empty", v, w.Key())
		}
		from, to, err := param.Interval("datetime", v)
		if v == "" { // the last 30 days up to the end of this hour
			from, to, err = w.To.Add(-incidentWindow), time.Time{}, nil
			if !w.From.Equal(from) {
				t.Fatalf("tileWindow(\"\") = %s", w.Key())
			}
		}
		if err != nil {
			t.Fatalf("tileWindow(%q) accepted what Interval refuses: %v", v, err)
		}
		if !from.IsZero() && w.From.After(from) || !to.IsZero() && !w.To.After(to) {
			t.Fatalf("tileWindow(%q) = %s does not cover %s … %s", v, w.Key(), from, to)
		}
		if relative != to.IsZero() || relative && !w.To.Equal(now.UTC().Truncate(time.Hour).Add(time.Hour)) {
			t.Fatalf("tileWindow(%q) = %s, relative %v", v, w.Key(), relative)
		}
	})
}

// FuzzRequestParams: the shared query and header parsers of the JSON API
// (params.go) never panic, refuse with an error naming the parameter, and
// what they accept is within their bounds: lon/lat in range and the
// numbers sent; integers in their range; crs and f as sent; statuses of
// the lifecycle; tile coordinates of the pyramid; body types among those
// taken.
func FuzzRequestParams(f *testing.F) {
	for _, s := range [][2]string{
		{"lon=121.13&lat=28.85&k=5&crs=gcj02&f=geojson&status=collected,closed&z=14&x=13705&y=6876.mvt", "application/json"},
		{"lon=181&lat=0&k=0&crs=EPSG:4326&f=xml&status=open&z=23&x=0&y=0", "application/x-ndjson; charset=utf-8"},
		{"lon=1e-400&lat=NaN&k=1001&f=json&status=&z=0&x=0&y=0.mvt", "text/plain"},
		{"lon=&lat=1&k=%2B7&status=collected,,closed&z=1&x=1&y=2.mvt", "application/JSON"},
		{"k=-1&crs=bd09ll&y=1", "multipart/form-data; boundary="},
		{"%zz", ""},
	} {
		f.Add(s[0], s[1])
	}
	e := echo.New()
	f.Fuzz(func(t *testing.T, query, contentType string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.RawQuery = query
		req.Header.Set(echo.HeaderContentType, contentType)
		req.Header.Set(echo.HeaderAccept, "application/geo+json")
		c := e.NewContext(req, httptest.NewRecorder())
		q := req.URL.Query()
		names := func(err error, fields ...string) {
			t.Helper()
			for _, name := range fields {
				if grid.KindOf(err) == grid.Invalid && strings.HasPrefix(grid.MessageOf(err), name+": ") {
					return
				}
			}
			t.Fatalf("%q: %v does not name %v", query, err, fields)
		}

		if lon, lat, err := parseLonLat(c); err != nil {
			names(err, "lon", "lat")
		} else if x, _ := strconv.ParseFloat(q.Get("lon"), 64); x != lon || !(lon >= -180 && lon <= 180 && lat >= -90 && lat <= 90) {
			t.Fatalf("%q: lon/lat %v, %v", query, lon, lat)
		}

		if n, err := parseInt(c, "k", 42, 1, 1000); err != nil {
			names(err, "k")
		} else if q.Get("k") == "" && n != 42 || q.Get("k") != "" && (n < 1 || n > 1000) {
			t.Fatalf("%q: k = %d", query, n)
		}

		if o, err := parseOutput(c); err != nil {
			names(err, "crs", "f")
		} else {
			want, werr := coord.ParseCRS(q.Get("crs"))
			fv := q.Get("f")
			if werr != nil || o.crs != want || o.geojson != (fv == "geojson" || fv == "") || fv != "" && fv != "json" && fv != "geojson" {
				t.Fatalf("%q: output %+v", query, o)
			}
		}

		if st, err := statusFilter(q.Get("status")); err != nil {
			names(err, "status")
		} else if q.Get("status") == "" && st != nil || q.Get("status") != "" && len(st) != strings.Count(q.Get("status"), ",")+1 {
			t.Fatalf("%q: statuses %q", query, st)
		} else {
			for _, s := range st {
				if !slices.Contains(grid.Statuses(), s) {
					t.Fatalf("%q: status %q", query, s)
				}
			}
		}

		c.SetParamNames("z", "x", "y")
		c.SetParamValues(q.Get("z"), q.Get("x"), q.Get("y"))
		if z, x, y, err := tileCoords(c); err != nil {
			if grid.KindOf(err) != grid.NotFound {
				names(err, "z", "x", "y")
			} else if strings.HasSuffix(q.Get("y"), ".mvt") {
				t.Fatalf("%q: %v", query, err)
			}
		} else if !strings.HasSuffix(q.Get("y"), ".mvt") || z < 0 || z > param.MaxZoom || x < 0 || y < 0 || x >= 1<<z || y >= 1<<z {
			t.Fatalf("%q: tile %d/%d/%d", query, z, x, y)
		}

		if err := requireBody(c, mimeJSON, mimeNDJSON); err != nil {
			var he *echo.HTTPError
			if !errors.As(err, &he) || he.Code != http.StatusUnsupportedMediaType {
				t.Fatalf("Content-Type %q: %v, want 415", contentType, err)
			}
		} else if contentType != "" {
			mt, _, err := mime.ParseMediaType(contentType)
			if err != nil || mt != mimeJSON && mt != mimeNDJSON {
				t.Fatalf("Content-Type %q accepted", contentType)
			}
		}
	})
}
