// Package dispatch decides which department owns a (category, place):
// among the rules whose pattern matches the category and whose scope covers
// the place, the one of highest grid.Precedence wins — a zone-specific rule
// over a cell/community rule over a town rule over the city default — and
// the towns' fallback rules (属地兜底) make every point of the city owned.
package dispatch

import (
	"github.com/citygrid/citygrid/internal/grid"
)

// ZoneRef is a zone a point lies in.
type ZoneRef struct {
	Code, Kind string
}

// Place is what the rules look at: the point's cell, community, town and zones.
type Place struct {
	Cell, Community, Town string
	Zones                 []ZoneRef
}

// Decision is the owner of a (category, place) and the rule that chose it.
type Decision struct {
	Rule       *grid.Rule
	Department *grid.Department
	Precedence grid.Precedence
	ZoneCode   string // the zone the rule matched through, if any
}

// Resolver holds the rules and departments; immutable, safe for concurrent use.
type Resolver struct {
	rules []grid.Rule
	depts map[string]*grid.Department
	cats  map[string]*grid.Category
	byCat map[string][]int32 // known category → indexes of the rules whose pattern matches it
}

// New builds a resolver. Rules naming an unknown department are an Invalid error.
func New(rules []grid.Rule, depts []grid.Department, cats []grid.Category) (*Resolver, error) {
	r := &Resolver{rules: append([]grid.Rule(nil), rules...), depts: map[string]*grid.Department{}, cats: map[string]*grid.Category{}}
	for i := range depts {
		d := depts[i]
		r.depts[d.Code] = &d
	}
	for i := range cats {
		c := cats[i]
		r.cats[c.Code] = &c
	}
	for _, x := range r.rules {
		if _, ok := r.depts[x.Department]; !ok {
			return nil, grid.Errorf(grid.Invalid, "rule %d: unknown department %s", x.ID, x.Department)
		}
		if !grid.ValidPattern(x.Pattern) {
			return nil, grid.Errorf(grid.Invalid, "rule %d: bad category pattern %q", x.ID, x.Pattern)
		}
	}
	r.byCat = make(map[string][]int32, len(r.cats))
	for code := range r.cats {
		for i := range r.rules {
			if grid.MatchPattern(r.rules[i].Pattern, code) {
				r.byCat[code] = append(r.byCat[code], int32(i))
			}
		}
	}
	return r, nil
}

// Resolve picks the owner. ok is false when no rule matches; ambiguous is
// true when two matching rules share the top precedence (a data error the
// tests rule out for the demo city; the lower rule id then wins).
func (r *Resolver) Resolve(category string, p Place) (d Decision, ok, ambiguous bool) {
	idx, known := r.byCat[category]
	if !known {
		return r.resolveSlow(category, p)
	}
	for _, i := range idx {
		x := &r.rules[i]
		d, ok, ambiguous = r.consider(x, p, d, ok, ambiguous)
	}
	return d, ok, ambiguous
}

// resolveSlow serves categories the resolver was not built with.
func (r *Resolver) resolveSlow(category string, p Place) (d Decision, ok, ambiguous bool) {
	for i := range r.rules {
		x := &r.rules[i]
		if grid.MatchPattern(x.Pattern, category) {
			d, ok, ambiguous = r.consider(x, p, d, ok, ambiguous)
		}
	}
	return d, ok, ambiguous
}

// consider folds one rule whose pattern matches into the running decision.
func (r *Resolver) consider(x *grid.Rule, p Place, d Decision, ok, ambiguous bool) (Decision, bool, bool) {
	z, match := Match(x, p)
	if !match {
		return d, ok, ambiguous
	}
	prec := grid.PrecedenceOf(*x, z.Kind)
	switch {
	case !ok || d.Precedence.Less(prec):
		d = Decision{Rule: x, Department: r.depts[x.Department], Precedence: prec, ZoneCode: z.Code}
		ok, ambiguous = true, false
	case !prec.Less(d.Precedence):
		ambiguous = true
	}
	return d, ok, ambiguous
}

// Match reports whether a rule's place scope covers p, whatever its
// category pattern. A zone or zone-kind rule matches through the most
// specific zone of p it names (grid.ZoneKindRank), returned as zone.
func Match(x *grid.Rule, p Place) (zone ZoneRef, ok bool) {
	switch x.Scope {
	case grid.ScopeCity:
		return zone, true
	case grid.ScopeTown:
		return zone, x.ScopeCode == p.Town
	case grid.ScopeCommunity:
		return zone, x.ScopeCode == p.Community
	case grid.ScopeCell:
		return zone, x.ScopeCode == p.Cell
	case grid.ScopeZone, grid.ScopeZoneKind:
		best := 0
		for _, z := range p.Zones {
			if (x.Scope == grid.ScopeZone && z.Code == x.ScopeCode) || (x.Scope == grid.ScopeZoneKind && z.Kind == x.ScopeCode) {
				if k := grid.ZoneKindRank(z.Kind); k > best || !ok {
					best, zone, ok = k, z, true
				}
			}
		}
	}
	return zone, ok
}

// Top lists the rules that share the top precedence for (category, p):
// one rule when the owner is clear, none when no rule matches, several
// when the data are ambiguous. Without fallbacks, the towns' fallback rules
// are left out, which shows whether the specific rules alone are
// unambiguous. It is the plain form of Resolve, for checking rule sets.
func Top(rules []grid.Rule, category string, p Place, fallbacks bool) []*grid.Rule {
	var top []*grid.Rule
	var best grid.Precedence
	for i := range rules {
		x := &rules[i]
		if (x.Fallback && !fallbacks) || !grid.MatchPattern(x.Pattern, category) {
			continue
		}
		z, ok := Match(x, p)
		if !ok {
			continue
		}
		prec := grid.PrecedenceOf(*x, z.Kind)
		switch {
		case len(top) == 0 || best.Less(prec):
			top, best = append(top[:0], x), prec
		case !prec.Less(best):
			top = append(top, x)
		}
	}
	return top
}
