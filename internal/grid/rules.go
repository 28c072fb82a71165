package grid

// ScopeRank orders rule scopes: a zone-specific rule over a cell/community
// rule over a town rule over the city default. Higher wins; 0 is unknown.
func ScopeRank(scope string) int {
	switch scope {
	case ScopeZone:
		return 6
	case ScopeZoneKind:
		return 5
	case ScopeCell:
		return 4
	case ScopeCommunity:
		return 3
	case ScopeTown:
		return 2
	case ScopeCity:
		return 1
	}
	return 0
}

// Precedence is the sort key that decides between rules matching the same
// (category, place): scope first, then the zone kind for zone rules, then
// how specific the category pattern is, then the rule's own priority.
// Two matching rules with equal Precedence are ambiguous: a data error.
type Precedence struct {
	Scope, ZoneKind, Pattern, Priority int
}

// Less reports whether p loses to q.
func (p Precedence) Less(q Precedence) bool {
	if p.Scope != q.Scope {
		return p.Scope < q.Scope
	}
	if p.ZoneKind != q.ZoneKind {
		return p.ZoneKind < q.ZoneKind
	}
	if p.Pattern != q.Pattern {
		return p.Pattern < q.Pattern
	}
	return p.Priority < q.Priority
}

// PrecedenceOf computes a rule's precedence; zoneKind is the kind of the zone
// the rule matched through ("" for non-zone scopes). A town's fallback rule
// (属地兜底) ranks below the city default: it owns only what no specific
// rule does.
func PrecedenceOf(r Rule, zoneKind string) Precedence {
	p := Precedence{Scope: ScopeRank(r.Scope), Pattern: PatternSpecificity(r.Pattern), Priority: r.Priority}
	if r.Fallback {
		p.Scope = 0
	}
	if r.Scope == ScopeZone || r.Scope == ScopeZoneKind {
		p.ZoneKind = ZoneKindRank(zoneKind)
	}
	return p
}
