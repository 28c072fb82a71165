package open311

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
)

// Datatypes of GeoReport v2 attributes.
const (
	typeString   = "string"
	typeNumber   = "number"
	typeDatetime = "datetime"
	typeText     = "text"
	typeSingle   = "singlevaluelist"
	typeMulti    = "multivaluelist"
)

// Attribute is one question a service asks beside its description
// (GeoReport's service definition), with the checks its answers get. The
// checks the wire format cannot carry (a pattern, a range, a length) are
// spelled out in DatatypeDescription.
type Attribute struct {
	Code                string
	Variable            bool // false: shown to the user, not asked
	Datatype            string
	Required            bool
	Order               int
	Description         string
	DatatypeDescription string
	Values              []Value // the choices of a list

	normalize func(string) string // string: applied before the checks, and stored so
	pattern   *regexp.Regexp      // string: the whole normalised answer matches
	min, max  float64             // number: the closed range
	maxLen    int                 // string, text: characters (default 200 and 4,000)
}

// Value is one choice of a list attribute.
type Value struct{ Key, Name string }

// plateRE is a Chinese motor-vehicle plate: a province, the issuing
// office's letter, then five serial characters (six for new-energy
// vehicles) or four and 挂 (trailer), 学 (learner) or 警 (police). Serials
// skip I and O.
var plateRE = regexp.MustCompile(`^[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-Z](?:[A-HJ-NP-Z0-9]{5,6}|[A-HJ-NP-Z0-9]{4}[挂学警])$`)

// normalizePlate drops the separators people type (浙J·12345, 浙J 12345,
// 浙J-12345) and upper-cases the letters.
func normalizePlate(s string) string {
	s = strings.Map(func(r rune) rune {
		switch r {
		case ' ', '·', '•', '.', '-', '　':
			return -1
		}
		return r
	}, s)
	return strings.ToUpper(s)
}

func plate(code string, required bool, order int) Attribute {
	return Attribute{Code: code, Variable: true, Datatype: typeString, Required: required, Order: order,
		Description:         "车牌号",
		DatatypeDescription: "车牌号码，如 浙J12345（新能源车 浙JD12345）",
		normalize:           normalizePlate, pattern: plateRE}
}

// Definition is the list of attributes of a service (a category code), in
// order; nil for a service that asks nothing beyond the description. The
// one table of them: services.json's metadata, the service definitions and
// the checks of POST requests all read it.
func Definition(category string) []Attribute {
	switch category {
	case "E0505": // 机动车乱停放
		return []Attribute{
			plate("plate", true, 1),
			{Code: "parked_since", Variable: true, Datatype: typeDatetime, Order: 2,
				Description:         "发现时车辆已停放的起始时间（可不填）",
				DatatypeDescription: "ISO 8601 时间，须带时区，如 2026-06-18T09:30:00+08:00"},
		}
	case "E0506": // 非机动车乱停放: electric bikes carry plates too
		return []Attribute{plate("plate", false, 1)}
	case "E0406": // 道路积水
		return []Attribute{
			{Code: "depth_cm", Variable: true, Datatype: typeNumber, Required: true, Order: 1,
				Description:         "积水深度（厘米）",
				DatatypeDescription: "1 到 300 之间的数字，如 15", min: 1, max: 300},
			{Code: "safety", Variable: false, Datatype: typeText, Order: 2,
				Description: "积水较深时请勿涉水通行，远离路灯杆、配电箱等带电设施。"},
		}
	case "P0301": // 垃圾箱
		return []Attribute{
			{Code: "fill", Variable: true, Datatype: typeSingle, Required: true, Order: 1,
				Description: "垃圾箱满溢程度", DatatypeDescription: "选一项",
				Values: []Value{{"full", "已满"}, {"overflowing", "满溢，垃圾散落在外"}}},
			{Code: "defects", Variable: true, Datatype: typeMulti, Order: 2,
				Description: "垃圾箱的其他问题（可多选，可不填）", DatatypeDescription: "可选多项",
				Values: []Value{{"damaged", "箱体破损"}, {"no_lid", "缺盖"}, {"odour", "异味"}}},
		}
	}
	return nil
}

// attributeCodeRE is what an attribute code may look like in a form key.
var attributeCodeRE = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// checkAnswers validates the attribute[CODE] values sent for a service
// against its definition and returns them normalised (empty answers
// dropped: an optional argument sent empty is not sent). Every problem is
// reported: the first as the message, the others as details.
func checkAnswers(service string, defs []Attribute, sent map[string][]string) (map[string][]string, error) {
	var problems []string
	bad := func(code, format string, args ...any) {
		problems = append(problems, fmt.Sprintf("attribute[%s]: ", code)+fmt.Sprintf(format, args...))
	}
	out := map[string][]string{}
	for _, code := range sortedKeys(sent) {
		i := slices.IndexFunc(defs, func(a Attribute) bool { return a.Code == code })
		if i < 0 {
			bad(code, "service %s has no such attribute (%s)", service, codesOf(defs))
			continue
		}
		a := &defs[i]
		if !a.Variable {
			bad(code, "is shown to the user, not asked: send nothing for it")
			continue
		}
		var vals []string
		for _, v := range sent[code] {
			if v != "" {
				vals = append(vals, v)
			}
		}
		if len(vals) == 0 {
			continue
		}
		if len(vals) > 1 && a.Datatype != typeMulti {
			bad(code, "%d values for a %s attribute: send one", len(vals), a.Datatype)
			continue
		}
		for j, v := range vals {
			nv, err := a.check(v)
			if err != "" {
				bad(code, "%s", err)
				continue
			}
			vals[j] = nv
		}
		if a.Datatype == typeMulti {
			slices.Sort(vals)
			if len(slices.Compact(slices.Clone(vals))) != len(vals) {
				bad(code, "a value is given twice")
			}
		}
		out[code] = vals
	}
	for _, a := range defs {
		if a.Required && len(out[a.Code]) == 0 && !slices.ContainsFunc(problems, func(p string) bool { return strings.HasPrefix(p, "attribute["+a.Code+"]") }) {
			bad(a.Code, "required (%s)", a.Description)
		}
	}
	if len(problems) > 0 {
		return nil, &grid.Error{Kind: grid.Invalid, Message: problems[0], Details: problems[1:]}
	}
	return out, nil
}

// check validates one answer and returns it normalised, or what is wrong.
func (a *Attribute) check(v string) (string, string) {
	ctl := isControl
	if a.Datatype == typeText {
		ctl = isControlInText
	}
	if strings.ContainsFunc(v, ctl) {
		return "", "contains a control character"
	}
	switch a.Datatype {
	case typeString, typeText:
		limit := a.maxLen
		if limit == 0 {
			limit = 200
			if a.Datatype == typeText {
				limit = 4000
			}
		}
		if n := utf8.RuneCountInString(v); n > limit {
			return "", fmt.Sprintf("%d characters, at most %d", n, limit)
		}
		if a.normalize != nil {
			v = a.normalize(v)
		}
		if a.pattern != nil && !a.pattern.MatchString(v) {
			return "", fmt.Sprintf("%q is not of the form asked: %s", v, a.DatatypeDescription)
		}
		return v, ""
	case typeNumber:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return "", fmt.Sprintf("%q is not a number", v)
		}
		if (a.min != 0 || a.max != 0) && (f < a.min || f > a.max) {
			return "", fmt.Sprintf("%v is outside %v…%v", f, a.min, a.max)
		}
		return strconv.FormatFloat(f, 'f', -1, 64), ""
	case typeDatetime:
		t, err := param.Time("value", v)
		if err != nil {
			return "", fmt.Sprintf("%q: want ISO 8601 with a time zone, e.g. 2026-06-18T09:30:00+08:00", v)
		}
		return t.Format(time.RFC3339), ""
	case typeSingle, typeMulti:
		if !slices.ContainsFunc(a.Values, func(x Value) bool { return x.Key == v }) {
			keys := make([]string, len(a.Values))
			for i, x := range a.Values {
				keys[i] = x.Key
			}
			return "", fmt.Sprintf("%q is not one of %s", v, strings.Join(keys, ", "))
		}
		return v, ""
	}
	return "", "unknown datatype " + a.Datatype
}

func codesOf(defs []Attribute) string {
	if len(defs) == 0 {
		return "it asks none"
	}
	var cs []string
	for _, a := range defs {
		if a.Variable {
			cs = append(cs, a.Code)
		}
	}
	return "its attributes: " + strings.Join(cs, ", ")
}

// wire is the attribute as a service definition writes it.
func (a *Attribute) wire() attributeWire {
	w := attributeWire{Variable: a.Variable, Code: a.Code, Datatype: a.Datatype, Required: a.Required,
		DatatypeDescription: text(a.DatatypeDescription), Order: a.Order, Description: a.Description}
	for _, v := range a.Values {
		w.Values = append(w.Values, valueWire(v))
	}
	return w
}

// isControl reports the characters no single-line text may hold: C0
// controls (NUL, line breaks) and DEL.
func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// isControlInText is isControl for text that may run over several lines.
func isControlInText(r rune) bool { return isControl(r) && r != '\n' && r != '\r' && r != '\t' }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
