package grid

import (
	"slices"
	"strings"
)

// Capability is something a caller may do or see. Every surface (the JSON
// API, tiles, OGC API Features, Open311) asks Principal.Can, so a rule
// holds everywhere; the HTTP adapter's permission table says which
// capability each route needs.
type Capability string

const (
	// ReadIncidents: incident points, descriptions and trails (the JSON
	// incident endpoints, the incidents tile layer and OGC collection,
	// every Open311 request).
	ReadIncidents Capability = "read incidents"
	// WriteIncidents: create, bulk-load and move incidents through the
	// lifecycle.
	WriteIncidents Capability = "write incidents"
	// Analyse: statistics, hot spots, emerging hot spots, the overview.
	Analyse Capability = "analyse"
	// SeeSensitive: the positions of cameras, gas companies and gas points
	// and water-logging sensors, and heatmap cells with small counts.
	SeeSensitive Capability = "see sensitive places"
	// Report: create a report through Open311.
	Report Capability = "report"
	// ReadOwnReports: read the Open311 requests this key created (a key
	// that may ReadIncidents reads them all).
	ReadOwnReports Capability = "read own reports"
	// Administer: import grid versions, read the audit log.
	Administer Capability = "administer"
)

// Capabilities lists every capability, in the order the permission table
// shows them.
func Capabilities() []Capability {
	return []Capability{ReadIncidents, WriteIncidents, Analyse, SeeSensitive, Report, ReadOwnReports, Administer}
}

// capabilities is what each role may do; the public (no key) may do none
// of these: it reads the city's geography, public facilities and heatmaps
// with small counts hidden.
func capabilities(role string) []Capability {
	switch role {
	case RoleApp:
		return []Capability{Report, ReadOwnReports}
	case RolePlanner:
		return []Capability{ReadIncidents, Analyse, SeeSensitive, ReadOwnReports}
	case RoleDispatcher:
		return []Capability{ReadIncidents, WriteIncidents, Analyse, SeeSensitive, Report, ReadOwnReports}
	case RoleAdmin:
		return Capabilities()
	}
	return nil
}

// Can reports whether the caller has capability c. A key scoped to a town
// has the capabilities of its role, within its town.
func (p Principal) Can(c Capability) bool { return slices.Contains(capabilities(p.Role), c) }

// Need is the error of a caller without capability c: Unauthorized for
// the public, Forbidden for a key; nil when it has c (or c is "").
func (p Principal) Need(c Capability) error {
	if c == "" || p.Can(c) {
		return nil
	}
	roles := strings.Join(RolesWith(c), ", ")
	if p.Public() {
		return Errorf(Unauthorized, "this needs an API key that may %s (role %s): send Authorization: Bearer <key>", c, roles)
	}
	return Errorf(Forbidden, "a key of role %s may not %s: that needs role %s", p.Role, c, roles)
}

// RolesWith lists the roles that have capability c.
func RolesWith(c Capability) []string {
	var out []string
	for _, r := range Roles() {
		if slices.Contains(capabilities(r), c) {
			out = append(out, r)
		}
	}
	return out
}

// PublicFacilityKinds lists the facility kinds anyone may see: public
// toilets and refuse transfer stations. The others — cameras, gas
// companies and distribution points, water-logging sensors — need
// SeeSensitive.
func PublicFacilityKinds() []string { return []string{FacilityToilet, FacilityTransferStation} }

// MaySeeFacilityKind reports whether the caller may see facilities of kind.
func (p Principal) MaySeeFacilityKind(kind string) bool {
	return p.Can(SeeSensitive) || slices.Contains(PublicFacilityKinds(), kind)
}

// FacilityKinds is what a caller asking for facilities of kind ("" any)
// may be shown: nil (every kind) or a list of kinds. Asking for a kind it
// may not see is Need(SeeSensitive)'s error.
func (p Principal) FacilityKinds(kind string) ([]string, error) {
	switch {
	case kind != "" && !p.MaySeeFacilityKind(kind):
		return nil, p.Need(SeeSensitive)
	case kind != "":
		return []string{kind}, nil
	case p.Can(SeeSensitive):
		return nil, nil
	}
	return PublicFacilityKinds(), nil
}

// Idempotency keys (external ids) live in the namespace of the caller's
// scope: a key scoped to a town keeps its own, so that a retry finds its
// first incident while another town's id of the same spelling stays
// invisible — an answer never tells that an id exists outside the town.
// Reserved prefixes cannot be sent by callers.
const townIDPrefix = "town:"

// ReservedExternalID reports whether an external id as sent by a caller
// uses a namespace prefix that only the service writes.
func ReservedExternalID(id string) bool {
	return strings.HasPrefix(id, townIDPrefix) || strings.HasPrefix(id, "open311:")
}

// ExternalIDOf is the stored form of an external id the caller sent.
func (p Principal) ExternalIDOf(id string) string {
	if id == "" || p.Town == "" {
		return id
	}
	return townIDPrefix + p.Town + ":" + id
}

// ShownExternalID is how a stored external id is shown to the caller: its
// own namespace's prefix taken off.
func (p Principal) ShownExternalID(stored string) string {
	if p.Town == "" {
		return stored
	}
	if id, ok := strings.CutPrefix(stored, townIDPrefix+p.Town+":"); ok {
		return id
	}
	return stored
}
