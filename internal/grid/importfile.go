package grid

import (
	"fmt"
	"strconv"
	"strings"

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

// ImportRequest is a parsed grid import: features in the source CRS
// (SRID 4326, 4490 or 4549; GCJ-02 input is converted to 4326 before).
type ImportRequest struct {
	Source   string
	SRID     int
	Features []ImportFeature
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

// SupportedSRIDs are the source systems an import may declare.
func SupportedSRIDs() []int { return []int{4326, 4490, 4549} }

// ParseImport reads a GeoJSON FeatureCollection of towns, communities,
// cells or zones. Properties "code" and "name" are required (codeField and
// nameField rename them for a city's own files). Every problem is reported
// at once, each naming the feature's code or position: an Invalid *Error
// whose Details list them.
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
	if len(fc.Features) == 0 {
		return nil, Errorf(Invalid, "the FeatureCollection has no features")
	}
	var problems []string
	seen := map[string]int{}
	out := make([]ImportFeature, 0, len(fc.Features))
	for i, f := range fc.Features {
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
		case ZoneKindRank(kind) > 0:
			level = LevelZone
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
		if j, dup := seen[code]; dup {
			problems = append(problems, fmt.Sprintf("%s: duplicate code, first at feature %d", where, j))
			continue
		}
		seen[code] = i
		if f.Geometry == nil {
			problems = append(problems, fmt.Sprintf("%s: no geometry", where))
			continue
		}
		switch f.Geometry.(type) {
		case orb.Polygon, orb.MultiPolygon:
		default:
			problems = append(problems, fmt.Sprintf("%s: geometry is %s, want Polygon or MultiPolygon", where, f.Geometry.GeoJSONType()))
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
		return nil, &Error{Kind: Invalid, Message: fmt.Sprintf("import rejected: %d problem(s): %s", len(problems), problems[0]), Details: problems}
	}
	return out, nil
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
