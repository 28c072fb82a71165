package grid_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/paulmach/orb"
)

// FuzzReadImport: ReadImport, which reads the files of `citygrid import`
// and of POST /v1/grid/versions, never panics. What it accepts is complete
// and consistent: a supported source system, a trimmed note of UTF-8
// without NUL, and features each with a trimmed code and name, a code
// unique in the file, valid at the level it was given and as the file
// writes it (9 digits for a town of kind town or street, 12 for a
// community, 14 or 15 for a cell, all in the county; a zone, with a code of
// 1 to 32 ASCII letters, digits, _ or -, exactly when its kind is a zone
// kind), and a polygon or multipolygon whose rings are closed and have at
// least four positions, in file order. A refusal is Invalid (the options,
// or not a FeatureCollection) or Rejected, whose details each name a
// feature of the file, at most MaxImportProblems of them, the message
// counting them all and quoting the first.
func FuzzReadImport(f *testing.F) {
	sq := `{"type":"Polygon","coordinates":[[[121,28],[121.1,28],[121.1,28.1],[121,28]]]}`
	feature := func(props, geom string) string {
		return `{"type":"Feature","properties":` + props + `,"geometry":` + geom + `}`
	}
	fc := func(fs ...string) string {
		return `{"type":"FeatureCollection","features":[` + strings.Join(fs, ",") + `]}`
	}
	for _, s := range [][5]string{
		{fc(feature(`{"code":"331082001","name":"古城街道"}`, sq)), "", "", "", ""},
		{fc(feature(`{"code":"331082101","name":"大洋","kind":"town"}`, sq), feature(`{"code":"331082101001","name":"社区"}`, sq),
			feature(`{"code":"331082101001001","name":"网格"}`, `{"type":"MultiPolygon","coordinates":[[[[121,28],[121.1,28],[121.1,28.1],[121,28]]]]}`)),
			"EPSG:4490", "", "", " survey 2024 "},
		{fc(feature(`{"id":33108200100101,"label":" c "}`, sq)), "gcj02", "id", "label", ""},
		{fc(feature(`{"code":"PARK-1","name":"公园","kind":"park"}`, sq), feature(`{"code":"331082001","name":"x","kind":"park"}`, sq)), "4549", "", "", ""},
		{fc(feature(`{"code":"331082001","name":"a"}`, sq), feature(`{"code":"331082001","name":"b"}`, sq)), "", "", "", ""},
		{fc(feature(`{"code":"123","name":"a"}`, sq), feature(`{"name":"b"}`, sq), feature(`{"code":"331082001001001"}`, `null`), `null`), "", "", "", ""},
		{fc(feature(`{"code":"330000001","name":"a","kind":"village"}`, `{"type":"Point","coordinates":[121,28]}`)), "", "", "", ""},
		{fc(feature(`{"code":3.31082001e8,"name":7}`, sq)), "", "", "", ""},
		{fc(feature(`{"code":331082001.6,"name":"a"}`, sq)), "", "", "", ""},
		{fc(feature(`{"code":"331082001001","name":"a"}`, `{"type":"Polygon","coordinates":[[[121,28],[121.1,28],[121,28]]]}`)), "", "", "", ""},
		{fc(feature(`{"code":"公园一","name":"a","kind":"park"}`, sq)), "", "", "", ""},
		{fc(feature(`{"code":7}`, `null`)), "", "", "", ""},
		{fc(), "", "", "", ""},
		{fc(feature(`{"code":"331082001","name":"a"}`, sq)), "bd09", "a\nb", "", "\u0000"},
		{`{"type":"Feature","properties":{},"geometry":null}`, "", "", "", ""},
		{`null`, "", "", "", ""},
		{`[1,2]`, "", "", "", ""},
		{``, "", "", "", ""},
	} {
		f.Add([]byte(s[0]), s[1], s[2], s[3], s[4])
	}
	feat := regexp.MustCompile(`^feature (\d+)[ :]`)
	zoneCode := regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	f.Fuzz(func(t *testing.T, b []byte, crs, codeField, nameField, note string) {
		req, err := grid.ReadImport(grid.ImportFile{Data: b, CRS: crs, CodeField: codeField, NameField: nameField, Note: note})
		if err != nil {
			var ge *grid.Error
			if !errors.As(err, &ge) || ge.Kind != grid.Invalid && ge.Kind != grid.Rejected || ge.Message == "" {
				t.Fatalf("ReadImport: %v (%T), want an *grid.Error, Invalid or Rejected", err, err)
			}
			if ge.Kind == grid.Invalid && len(ge.Details) > 0 {
				t.Fatalf("Invalid with details %q", ge.Details)
			}
			if len(ge.Details) == 0 {
				return // the options, or the file as a whole
			}
			if len(ge.Details) > grid.MaxImportProblems || !strings.Contains(ge.Message, ge.Details[0]) {
				t.Fatalf("message %q does not quote the first of %d details", ge.Message, len(ge.Details))
			}
			var n int
			if _, err := fmt.Sscanf(ge.Message[strings.Index(ge.Message, ": ")+2:], "%d problem(s)", &n); err != nil ||
				n < len(ge.Details) || n > len(ge.Details) && len(ge.Details) != grid.MaxImportProblems {
				t.Fatalf("message %q does not count its %d details", ge.Message, len(ge.Details))
			}
			for _, d := range ge.Details {
				if !feat.MatchString(d) {
					t.Fatalf("problem %q names no feature", d)
				}
			}
			return
		}
		if !slices.Contains([]int{4326, 4490, 4549}, req.SRID) || req.GCJ02 && req.SRID != 4326 {
			t.Fatalf("crs %q read as SRID %d, gcj02 %v", crs, req.SRID, req.GCJ02)
		}
		if req.Note != strings.TrimSpace(note) || len(req.Note) > grid.MaxImportNote || !utf8.ValidString(req.Note) || strings.ContainsRune(req.Note, 0) {
			t.Fatalf("note %q accepted as %q", note, req.Note)
		}
		fs := req.Features
		if len(fs) == 0 {
			t.Fatal("accepted an import with no features")
		}
		codes := fileCodes(t, b, codeField)
		seen := map[string]bool{}
		for i, x := range fs {
			if i > 0 && x.Index <= fs[i-1].Index {
				t.Fatalf("features out of file order: %d after %d", x.Index, fs[i-1].Index)
			}
			if x.Code == "" || x.Code != strings.TrimSpace(x.Code) || x.Name == "" || x.Name != strings.TrimSpace(x.Name) || strings.ContainsRune(x.Name, 0) {
				t.Fatalf("feature %d: code %q, name %q", x.Index, x.Code, x.Name)
			}
			if x.Index >= len(codes) || !codeMatches(codes[x.Index], x.Code) {
				t.Fatalf("feature %d: code %q, but the file says %v", x.Index, x.Code, codes)
			}
			if seen[x.Code] {
				t.Fatalf("feature %d: code %s accepted twice", x.Index, x.Code)
			}
			seen[x.Code] = true
			checkArea(t, x)
			digits := func(n ...int) bool {
				for _, c := range x.Code {
					if c < '0' || c > '9' {
						return false
					}
				}
				for _, k := range n {
					if len(x.Code) == k {
						return strings.HasPrefix(x.Code, grid.CountyCode)
					}
				}
				return false
			}
			isZone := grid.ZoneKindRank(x.Kind) > 0
			var ok bool
			switch x.Level {
			case grid.LevelZone:
				ok = isZone && zoneCode.MatchString(x.Code)
			case grid.LevelTown:
				ok = !isZone && digits(9) && (x.Kind == "town" || x.Kind == "street")
			case grid.LevelCommunity:
				ok = !isZone && digits(12)
			case grid.LevelCell:
				ok = !isZone && digits(14, 15)
			}
			if !ok {
				t.Fatalf("feature %d: code %q (kind %q) accepted as a %s", x.Index, x.Code, x.Kind, x.Level)
			}
		}
	})
}

// checkArea checks that an accepted geometry is an area GeoJSON allows: a
// polygon or multipolygon, not empty, each ring closed and of at least
// four positions.
func checkArea(t *testing.T, x grid.ImportFeature) {
	t.Helper()
	var polys []orb.Polygon
	switch g := x.Geometry.(type) {
	case orb.Polygon:
		polys = []orb.Polygon{g}
	case orb.MultiPolygon:
		polys = g
	default:
		t.Fatalf("feature %d: geometry %T", x.Index, x.Geometry)
	}
	if len(polys) == 0 {
		t.Fatalf("feature %d: empty geometry", x.Index)
	}
	for _, p := range polys {
		if len(p) == 0 {
			t.Fatalf("feature %d: empty polygon", x.Index)
		}
		for _, r := range p {
			if len(r) < 4 || r[0] != r[len(r)-1] {
				t.Fatalf("feature %d: ring %v", x.Index, r)
			}
		}
	}
}

// fileCodes reads each feature's code property as the file writes it
// (numbers as their literal text), independently of orb's decoder.
func fileCodes(t *testing.T, b []byte, codeField string) []any {
	t.Helper()
	if codeField == "" {
		codeField = "code"
	}
	var doc struct {
		Features []struct {
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("ParseImport accepted what encoding/json refuses: %v", err)
	}
	codes := make([]any, len(doc.Features))
	for i, f := range doc.Features {
		codes[i] = f.Properties[codeField]
	}
	return codes
}

// codeMatches reports whether an accepted code is the file's: a string
// up to surrounding space, or a number that is an integer written out
// (above 2^53 a float64 need not hold the literal's integer).
func codeMatches(file any, code string) bool {
	switch v := file.(type) {
	case string:
		return strings.TrimSpace(v) == code
	case json.Number:
		r, ok := new(big.Rat).SetString(v.String())
		if !ok || !r.IsInt() {
			return false
		}
		return r.Num().CmpAbs(big.NewInt(1<<53)) > 0 || r.Num().String() == code
	}
	return true // other JSON values: written with fmt, and no code of a level
}

// TestImportNumericCodes: a code written as a JSON number is read as the
// integer it is; a fractional one is malformed, not rounded to a code.
func TestImportNumericCodes(t *testing.T) {
	doc := func(code string) []byte {
		return []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"code":` + code +
			`,"name":"a"},"geometry":{"type":"Polygon","coordinates":[[[121,28],[121.1,28],[121.1,28.1],[121,28]]]}}]}`)
	}
	for c, want := range map[string]string{"331082001": "331082001", "3.31082001e8": "331082001", "331082001001001": "331082001001001"} {
		fs, err := grid.ParseImport(doc(c), "", "")
		if err != nil || len(fs) != 1 || fs[0].Code != want {
			t.Errorf("code %s: %+v, %v; want %s", c, fs, err, want)
		}
	}
	for _, c := range []string{"331082001.6", "331082000.5", "-331082001"} {
		if _, err := grid.ParseImport(doc(c), "", ""); grid.KindOf(err) != grid.Rejected || !strings.Contains(err.Error(), "malformed code") {
			t.Errorf("code %s: %v, want malformed code", c, err)
		}
	}
}
