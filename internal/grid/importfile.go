package grid

import (
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// Import levels, decided by the code: 9 digits a town, 12 a community,
// 14 or 15 a cell; a feature whose "kind" is a zone kind is a zone.
const (
	LevelTown      = "town"
	LevelCommunity = "community"
	LevelCell      = "cell"
	LevelZone      = "zone"
)

// ImportFeature is one polygon of a grid import, in the source CRS.
type ImportFeature struct {
	Index    int // position in the file, from 0
	Level    string
	Code     string
	Name     string
	Kind     string // town: street|town; zone: a zone kind
	Geometry orb.Geometry
}

// ImportFile is a grid import as an operator hands it over, on the
// command line or over HTTP: the GeoJSON and how to read it.
type ImportFile struct {
	Data []byte
	// CRS names the source system (ImportCRS); "" is EPSG:4326.
	CRS string
	// CodeField and NameField name the properties holding each feature's
	// code and name ("" is "code" and "name").
	CodeField, NameField string
	// Source says where the file came from (a file name); Note is the
	// operator's note on the version (at most MaxImportNote bytes).
	Source, Note string
}

// MaxImportNote bounds an import's note, in bytes.
const MaxImportNote = 1000

// MaxImportProblems bounds how many problems a rejected import lists (and
// how many each of the store's checks looks for); its message counts every
// problem found.
const MaxImportProblems = 200

// ImportCRS reads the name of an import's source system: EPSG:4326
// (WGS84, also "" and 4326), EPSG:4490 (CGCS2000), EPSG:4549 (CGCS2000 /
// 3-degree Gauss-Krüger CM 120E) or gcj02, in any case. GCJ-02 comes back
// as SRID 4326 with gcj02 set: its points are converted to WGS84 before
// PostGIS sees them. An unknown name is Invalid.
func ImportCRS(name string) (srid int, gcj02 bool, err error) {
	switch strings.ToUpper(strings.TrimSpace(name)) {
	case "", "EPSG:4326", "WGS84", "4326":
		return 4326, false, nil
	case "EPSG:4490", "CGCS2000", "4490":
		return 4490, false, nil
	case "EPSG:4549", "4549":
		return 4549, false, nil
	case "GCJ02", "GCJ-02":
		return 4326, true, nil
	}
	return 0, false, Errorf(Invalid, "crs %q: want EPSG:4326, EPSG:4490, EPSG:4549 or gcj02", name)
}

// ImportRequest is a parsed grid import: features in the source CRS
// (SRID 4326, 4490 or 4549; with GCJ02 set, in GCJ-02 still, to be
// converted to WGS84 before they are stored).
type ImportRequest struct {
	Source   string
	CRS      string // the source system as ImportCRS read it, for the audit log
	SRID     int
	GCJ02    bool
	Note     string
	Features []ImportFeature
}

// ReadImport checks an import file's options and parses its GeoJSON
// (ParseImport). A bad option, or a body that is not a GeoJSON
// FeatureCollection, is Invalid; a FeatureCollection whose features break
// the rules is Rejected, listing every problem.
func ReadImport(f ImportFile) (ImportRequest, error) {
	srid, gcj, err := ImportCRS(f.CRS)
	if err != nil {
		return ImportRequest{}, err
	}
	for _, o := range []struct{ name, v string }{{"code field", f.CodeField}, {"name field", f.NameField}} {
		if len(o.v) > 100 || strings.ContainsFunc(o.v, unicode.IsControl) {
			return ImportRequest{}, Errorf(Invalid, "%s %q: want a property name of at most 100 bytes", o.name, o.v)
		}
	}
	if len(f.Note) > MaxImportNote || strings.IndexByte(f.Note, 0) >= 0 || !utf8.ValidString(f.Note) {
		return ImportRequest{}, Errorf(Invalid, "note: want UTF-8 text of at most %d bytes, without NUL", MaxImportNote)
	}
	if f.Source == "" {
		f.Source = "file"
	}
	feats, err := ParseImport(f.Data, f.CodeField, f.NameField)
	if err != nil {
		return ImportRequest{}, err
	}
	crs := fmt.Sprintf("EPSG:%d", srid)
	if gcj {
		crs = "gcj02"
	}
	return ImportRequest{Source: "import: " + f.Source, CRS: crs, SRID: srid, GCJ02: gcj,
		Note: strings.TrimSpace(f.Note), Features: feats}, nil
}

// Levels lists the levels present, in hierarchy order.
func (r *ImportRequest) Levels() []string {
	seen := map[string]bool{}
	for _, f := range r.Features {
		seen[f.Level] = true
	}
	var out []string
	for _, l := range []string{LevelTown, LevelCommunity, LevelCell, LevelZone} {
		if seen[l] {
			out = append(out, l)
		}
	}
	return out
}

// ParseImport reads a GeoJSON FeatureCollection of towns, communities,
// cells or zones. Properties "code" and "name" are required (codeField and
// nameField rename them for a city's own files). Data that is not a
// GeoJSON FeatureCollection is Invalid. Otherwise every problem is
// reported at once, each naming the feature's code or position: a Rejected
// *Error whose Details list them (the first MaxImportProblems).
func ParseImport(data []byte, codeField, nameField string) ([]ImportFeature, error) {
	if codeField == "" {
		codeField = "code"
	}
	if nameField == "" {
		nameField = "name"
	}
	fc, err := geojson.UnmarshalFeatureCollection(data)
	if err != nil {
		return nil, Errorf(Invalid, "not a GeoJSON FeatureCollection: %v", err)
	}
	if fc.Type != "FeatureCollection" { // the JSON null
		return nil, Errorf(Invalid, "not a GeoJSON FeatureCollection")
	}
	if len(fc.Features) == 0 {
		return nil, Errorf(Rejected, "import rejected, nothing written: the FeatureCollection has no features")
	}
	var problems []string
	seen := map[string]int{}
	out := make([]ImportFeature, 0, len(fc.Features))
	for i, f := range fc.Features {
		if f == nil {
			problems = append(problems, fmt.Sprintf("feature %d: null, want a Feature", i))
			continue
		}
		code := strings.TrimSpace(propString(f.Properties, codeField))
		name := strings.TrimSpace(propString(f.Properties, nameField))
		kind := strings.TrimSpace(propString(f.Properties, "kind"))
		where := fmt.Sprintf("feature %d", i)
		if code != "" {
			where = fmt.Sprintf("feature %d (code %s)", i, code)
		}
		var level string
		switch {
		case code == "":
			problems = append(problems, fmt.Sprintf("%s: no %q property", where, codeField))
			continue
		case ZoneKindRank(kind) > 0 && ValidZoneCode(code):
			level = LevelZone
		case ZoneKindRank(kind) > 0:
			problems = append(problems, fmt.Sprintf("%s: malformed zone code: want 1 to 32 ASCII letters, digits, '_' or '-'", where))
			continue
		case ValidTownCode(code):
			level = LevelTown
		case ValidCommunityCode(code):
			level = LevelCommunity
		case ValidCellCode(code):
			level = LevelCell
		default:
			problems = append(problems, fmt.Sprintf("%s: malformed code: want 9 digits (town), 12 (community), 15 or 14 (cell), or a zone with a kind of %s", where, strings.Join(ZoneKinds(), ", ")))
			continue
		}
		if level != LevelZone && code[:6] != CountyCode {
			problems = append(problems, fmt.Sprintf("%s: code does not begin with the county code %s", where, CountyCode))
		}
		if name == "" {
			problems = append(problems, fmt.Sprintf("%s: no %q property", where, nameField))
		}
		if strings.IndexByte(name, 0) >= 0 {
			problems = append(problems, fmt.Sprintf("%s: the name contains a NUL character", where))
		}
		if j, dup := seen[code]; dup {
			problems = append(problems, fmt.Sprintf("%s: duplicate code, first at feature %d", where, j))
			continue
		}
		seen[code] = i
		if f.Geometry == nil {
			problems = append(problems, fmt.Sprintf("%s: no geometry", where))
			continue
		}
		if p := polygonProblem(f.Geometry); p != "" {
			problems = append(problems, fmt.Sprintf("%s: %s", where, p))
			continue
		}
		if level == LevelTown && kind == "" {
			kind = "town"
			if len(code) == 9 && code[6] == '0' {
				kind = "street" // 001–099 are streets (街道) in the statistical division codes
			}
		}
		if level == LevelTown && kind != "town" && kind != "street" {
			problems = append(problems, fmt.Sprintf("%s: kind %q: want town or street", where, kind))
		}
		out = append(out, ImportFeature{Index: i, Level: level, Code: code, Name: name, Kind: kind, Geometry: f.Geometry})
	}
	if len(problems) > 0 {
		return nil, ImportRejected(problems)
	}
	return out, nil
}

// ImportRejected is the error of an import that breaks the rules: Rejected,
// its message counting the problems and quoting the first, its Details
// listing the first MaxImportProblems. Nothing was written.
func ImportRejected(problems []string) *Error {
	msg := fmt.Sprintf("import rejected, nothing written: %d problem(s); first: %s", len(problems), problems[0])
	if len(problems) > MaxImportProblems {
		problems = problems[:MaxImportProblems]
	}
	return &Error{Kind: Rejected, Message: msg, Details: problems}
}

// polygonProblem says what keeps g from being stored as an area, or "":
// it must be a Polygon or MultiPolygon, not empty, with rings closed and
// of at least four positions (RFC 7946 §3.1.6). Validity (self-
// intersections, holes outside their shell) is PostGIS's to judge.
func polygonProblem(g orb.Geometry) string {
	var polys []orb.Polygon
	switch g := g.(type) {
	case orb.Polygon:
		polys = []orb.Polygon{g}
	case orb.MultiPolygon:
		polys = g
	default:
		return fmt.Sprintf("geometry is %s, want Polygon or MultiPolygon", g.GeoJSONType())
	}
	if len(polys) == 0 {
		return "empty geometry"
	}
	for i, p := range polys {
		if len(p) == 0 {
			return fmt.Sprintf("polygon %d is empty", i+1)
		}
		for j, r := range p {
			switch {
			case len(r) < 4:
				return fmt.Sprintf("polygon %d, ring %d: %d positions, want at least 4", i+1, j+1, len(r))
			case !r.Closed():
				return fmt.Sprintf("polygon %d, ring %d is not closed: its last position differs from its first", i+1, j+1)
			}
		}
	}
	return ""
}

func propString(p geojson.Properties, key string) string {
	v, ok := p[key]
	if !ok || v == nil {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case float64: // a code written as a number: 331082001, not 331082001.6
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}
