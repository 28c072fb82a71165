package grid

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/paulmach/orb"
)

// A Cond is a filter expression over the properties of a feature: what
// the OGC API's property parameters and CQL2 filters become before they
// reach a store. The postgres adapter compiles it to SQL over a column
// whitelist; the grid collections evaluate it in memory with Eval. Both
// follow SQL's three-valued logic: a comparison with a missing (NULL)
// property is unknown, and a feature is selected only when the whole
// condition is true.
type Cond interface{ isCond() }

// And holds when every condition does (an empty And holds).
type And []Cond

// Or holds when any condition does (an empty Or does not).
type Or []Cond

// Not negates a condition.
type Not struct{ C Cond }

// Bool is a constant condition (TRUE or FALSE).
type Bool bool

// Compare compares a property with a value: a string, a float64, a bool
// or a time.Time, of the property's type.
type Compare struct {
	Prop  string
	Op    Op
	Value any
}

// IsNull holds when the property is missing.
type IsNull struct{ Prop string }

// In holds when the property equals one of the values.
type In struct {
	Prop   string
	Values []any
}

// Like matches a text property against a pattern: % any run, _ one
// character, \ escapes the next one; case-sensitive.
type Like struct {
	Prop    string
	Pattern string
}

// Intersects holds when the feature's geometry meets Geometry (WGS84
// lon/lat; an orb.Bound for a box), boundaries included.
type Intersects struct{ Geometry orb.Geometry }

func (And) isCond()        {}
func (Or) isCond()         {}
func (Not) isCond()        {}
func (Bool) isCond()       {}
func (Compare) isCond()    {}
func (IsNull) isCond()     {}
func (In) isCond()         {}
func (Like) isCond()       {}
func (Intersects) isCond() {}

// Op is a comparison operator.
type Op string

// The comparison operators.
const (
	Eq Op = "="
	Ne Op = "<>"
	Lt Op = "<"
	Le Op = "<="
	Gt Op = ">"
	Ge Op = ">="
)

// PropType is the type of a queryable property.
type PropType string

// Property types, named as JSON Schema names them (a time is a string of
// format date-time).
const (
	TypeText    PropType = "string"
	TypeNumber  PropType = "number"
	TypeBool    PropType = "boolean"
	TypeTime    PropType = "date-time"
	TypeInteger PropType = "integer"
)

// Queryable is a property a filter may name.
type Queryable struct {
	Name        string
	Type        PropType
	Description string
	Enum        []string // the values a text property takes, when they are a fixed set
}

// The incident properties a filter may name: the queryables of the
// incident collection, and the column whitelist of the store.
const (
	IncidentID          = "id"
	IncidentCategory    = "category"
	IncidentStatus      = "status"
	IncidentSource      = "source"
	IncidentCell        = "cell"
	IncidentCommunity   = "community"
	IncidentTown        = "town"
	IncidentDepartment  = "department"
	IncidentOccurredAt  = "occurred_at"
	IncidentReceivedAt  = "received_at"
	IncidentDeadline    = "deadline"
	IncidentClosedAt    = "closed_at"
	IncidentSupervised  = "supervised"
	IncidentReworks     = "reworks"
	IncidentExtensions  = "extensions"
	IncidentGridVersion = "grid_version"
	IncidentExternalID  = "external_id"
)

// IncidentQueryables lists the incident properties filters may name.
func IncidentQueryables() []Queryable {
	return []Queryable{
		{IncidentID, TypeInteger, "incident id", nil},
		{IncidentCategory, TypeText, "category code, e.g. E0505", nil},
		{IncidentStatus, TypeText, "lifecycle state", Statuses()},
		{IncidentSource, TypeText, "who or what reported it", Sources()},
		{IncidentCell, TypeText, "15-digit grid cell code", nil},
		{IncidentCommunity, TypeText, "12-digit community code", nil},
		{IncidentTown, TypeText, "9-digit town code", nil},
		{IncidentDepartment, TypeText, "responsible department code", nil},
		{IncidentOccurredAt, TypeTime, "when it happened", nil},
		{IncidentReceivedAt, TypeTime, "when it was received", nil},
		{IncidentDeadline, TypeTime, "handling deadline", nil},
		{IncidentClosedAt, TypeTime, "when it was closed (null while open)", nil},
		{IncidentSupervised, TypeBool, "flagged for supervision", nil},
		{IncidentReworks, TypeInteger, "times verification sent it back", nil},
		{IncidentExtensions, TypeInteger, "deadline extensions", nil},
		{IncidentGridVersion, TypeInteger, "grid version it was assigned under", nil},
		{IncidentExternalID, TypeText, "the reporter's idempotency key (null when none)", nil},
	}
}

// FacilityQueryables lists the facility properties filters may name.
func FacilityQueryables() []Queryable {
	return []Queryable{
		{"code", TypeText, "facility code", nil},
		{"kind", TypeText, "facility kind", FacilityKinds()},
		{"name", TypeText, "name", nil},
	}
}

// Required is a geometry every feature c selects must meet, when c
// requires an intersection (alone, or as one of its conjuncts).
func Required(c Cond) (orb.Geometry, bool) {
	switch c := c.(type) {
	case Intersects:
		return c.Geometry, true
	case And:
		for _, x := range c {
			if g, ok := Required(x); ok {
				return g, true
			}
		}
	}
	return nil, false
}

// FeatureQuery selects the features of a collection: the condition, a
// time window on the collection's time property (occurred_at for
// incidents; zero ends are open, From inclusive, To inclusive), a town
// scope, and a keyset page.
type FeatureQuery struct {
	Where    Cond // nil: every feature
	From, To time.Time
	Town     string // "" every town
	// Cells, when not nil, are cell codes that hold every incident the
	// spatial part of Where can select (from the grid snapshot): the store
	// may use its cell index with them. An empty list selects nothing.
	Cells []string
	Limit int
	After string // keyset: incidents with smaller ids, facilities with greater codes
}

// FeatureStore reads the incident and facility collections of the OGC API.
// A condition naming an unknown property is Invalid.
type FeatureStore interface {
	// IncidentFeatures lists incidents matching q, newest (highest id) first.
	IncidentFeatures(ctx context.Context, q FeatureQuery) ([]Incident, error)
	// IncidentsSince returns the earliest occurrence time stored, or the
	// zero time when there is no incident; it may be earlier than the
	// true minimum (the start of the oldest monthly partition holding any).
	IncidentsSince(ctx context.Context) (time.Time, error)
	// FacilityFeatures lists facilities matching q in code order.
	FacilityFeatures(ctx context.Context, q FeatureQuery) ([]Facility, error)
	// CountFacilities counts the facilities matching q (Limit and After ignored).
	CountFacilities(ctx context.Context, q FeatureQuery) (int64, error)
	// Facility returns one facility (NotFound if none).
	Facility(ctx context.Context, code string) (Facility, error)
}

// CheckCond checks that c names only properties of qs with values of
// their types: Invalid naming the first one that does not fit.
func CheckCond(c Cond, qs []Queryable) error {
	types := make(map[string]PropType, len(qs))
	for _, q := range qs {
		types[q.Name] = q.Type
	}
	var check func(c Cond) error
	prop := func(name string) (PropType, error) {
		t, ok := types[name]
		if !ok {
			names := make([]string, len(qs))
			for i, q := range qs {
				names[i] = q.Name
			}
			return "", Errorf(Invalid, "unknown property %q: the queryables are %s", name, strings.Join(names, ", "))
		}
		return t, nil
	}
	value := func(name string, t PropType, v any) error {
		ok := false
		switch v.(type) {
		case string:
			ok = t == TypeText
		case float64:
			ok = t == TypeNumber || t == TypeInteger
		case bool:
			ok = t == TypeBool
		case time.Time:
			ok = t == TypeTime
		}
		if !ok {
			return Errorf(Invalid, "property %q is a %s: %v (%T) does not compare with it", name, t, v, v)
		}
		return nil
	}
	check = func(c Cond) error {
		switch c := c.(type) {
		case nil, Bool, Intersects:
			return nil
		case And:
			for _, x := range c {
				if err := check(x); err != nil {
					return err
				}
			}
		case Or:
			for _, x := range c {
				if err := check(x); err != nil {
					return err
				}
			}
		case Not:
			return check(c.C)
		case Compare:
			t, err := prop(c.Prop)
			if err != nil {
				return err
			}
			switch c.Op {
			case Eq, Ne, Lt, Le, Gt, Ge:
			default:
				return Errorf(Invalid, "unknown comparison %q", c.Op)
			}
			return value(c.Prop, t, c.Value)
		case IsNull:
			_, err := prop(c.Prop)
			return err
		case In:
			t, err := prop(c.Prop)
			if err != nil {
				return err
			}
			for _, v := range c.Values {
				if err := value(c.Prop, t, v); err != nil {
					return err
				}
			}
		case Like:
			t, err := prop(c.Prop)
			if err != nil {
				return err
			}
			if t != TypeText {
				return Errorf(Invalid, "property %q is a %s: LIKE takes text", c.Prop, t)
			}
		default:
			return Errorf(Invalid, "unsupported condition %T", c)
		}
		return nil
	}
	return check(c)
}

// tri is a truth value of SQL's three-valued logic.
type tri int8

const (
	triFalse tri = iota
	triTrue
	triUnknown
)

func triOf(b bool) tri {
	if b {
		return triTrue
	}
	return triFalse
}

// Eval evaluates c for one feature: props returns a property's value
// (false: missing, i.e. NULL) and geom is the feature's geometry. Values
// are compared as CheckCond allows; text orders by bytes (COLLATE "C").
func Eval(c Cond, props func(name string) (any, bool), geom orb.Geometry) bool {
	return eval(c, props, geom) == triTrue
}

func eval(c Cond, props func(string) (any, bool), geom orb.Geometry) tri {
	switch c := c.(type) {
	case nil:
		return triTrue
	case Bool:
		return triOf(bool(c))
	case And:
		out := triTrue
		for _, x := range c {
			switch eval(x, props, geom) {
			case triFalse:
				return triFalse
			case triUnknown:
				out = triUnknown
			}
		}
		return out
	case Or:
		out := triFalse
		for _, x := range c {
			switch eval(x, props, geom) {
			case triTrue:
				return triTrue
			case triUnknown:
				out = triUnknown
			}
		}
		return out
	case Not:
		switch eval(c.C, props, geom) {
		case triTrue:
			return triFalse
		case triFalse:
			return triTrue
		}
		return triUnknown
	case Compare:
		v, ok := props(c.Prop)
		if !ok {
			return triUnknown
		}
		k, ok := compareValues(v, c.Value)
		if !ok {
			return triUnknown
		}
		switch c.Op {
		case Eq:
			return triOf(k == 0)
		case Ne:
			return triOf(k != 0)
		case Lt:
			return triOf(k < 0)
		case Le:
			return triOf(k <= 0)
		case Gt:
			return triOf(k > 0)
		case Ge:
			return triOf(k >= 0)
		}
		return triUnknown
	case IsNull:
		_, ok := props(c.Prop)
		return triOf(!ok)
	case In:
		v, ok := props(c.Prop)
		if !ok {
			return triUnknown
		}
		for _, x := range c.Values {
			if k, ok := compareValues(v, x); ok && k == 0 {
				return triTrue
			}
		}
		return triFalse
	case Like:
		v, ok := props(c.Prop)
		if !ok {
			return triUnknown
		}
		s, ok := v.(string)
		if !ok {
			return triUnknown
		}
		return triOf(LikeMatch(c.Pattern, s))
	case Intersects:
		if geom == nil {
			return triUnknown
		}
		return triOf(GeometriesIntersect(geom, c.Geometry))
	}
	return triUnknown
}

// compareValues orders a feature's value against a literal of the same
// type; ok is false when they do not compare.
func compareValues(a, b any) (int, bool) {
	switch a := a.(type) {
	case string:
		b, ok := b.(string)
		return strings.Compare(a, b), ok
	case float64:
		b, ok := b.(float64)
		if !ok || math.IsNaN(a) || math.IsNaN(b) {
			return 0, false
		}
		switch {
		case a < b:
			return -1, true
		case a > b:
			return 1, true
		}
		return 0, true
	case int64:
		return compareValues(float64(a), b)
	case int:
		return compareValues(float64(a), b)
	case bool:
		b, ok := b.(bool)
		if !ok {
			return 0, false
		}
		switch {
		case a == b:
			return 0, true
		case !a:
			return -1, true
		}
		return 1, true
	case time.Time:
		b, ok := b.(time.Time)
		return a.Compare(b), ok
	}
	return 0, false
}

// LikeMatch matches s against a LIKE pattern: % any run of characters, _
// exactly one, \ takes the next character literally.
func LikeMatch(pattern, s string) bool {
	p, t := []rune(pattern), []rune(s)
	// Iterative matching with backtracking to the last %.
	pi, ti, star, mark := 0, 0, -1, 0
	for ti < len(t) {
		if pi < len(p) {
			switch {
			case p[pi] == '%':
				star, mark = pi, ti
				pi++
				continue
			case p[pi] == '\\' && pi+1 < len(p) && p[pi+1] == t[ti]:
				pi += 2
				ti++
				continue
			case p[pi] == '_' || (p[pi] != '\\' && p[pi] == t[ti]):
				pi++
				ti++
				continue
			}
		}
		if star < 0 {
			return false
		}
		pi, mark = star+1, mark+1
		ti = mark
	}
	for pi < len(p) && p[pi] == '%' {
		pi++
	}
	return pi == len(p)
}

// CondString writes c for messages and logs.
func CondString(c Cond) string {
	switch c := c.(type) {
	case nil:
		return "TRUE"
	case Bool:
		if c {
			return "TRUE"
		}
		return "FALSE"
	case And:
		return joinConds(c, " AND ")
	case Or:
		return joinConds(c, " OR ")
	case Not:
		return "NOT (" + CondString(c.C) + ")"
	case Compare:
		return fmt.Sprintf("%s %s %v", c.Prop, c.Op, c.Value)
	case IsNull:
		return c.Prop + " IS NULL"
	case In:
		return fmt.Sprintf("%s IN %v", c.Prop, c.Values)
	case Like:
		return fmt.Sprintf("%s LIKE %q", c.Prop, c.Pattern)
	case Intersects:
		return fmt.Sprintf("S_INTERSECTS(geometry, %s)", c.Geometry.GeoJSONType())
	}
	return fmt.Sprintf("%T", c)
}

func joinConds(cs []Cond, sep string) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = "(" + CondString(c) + ")"
	}
	return strings.Join(parts, sep)
}
