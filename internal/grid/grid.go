// Package grid is the domain of citygrid: the grid model (towns, communities,
// cells, zones), departments, categories, responsibility rules, facilities and
// incidents, their codes and the error kinds every layer shares. It imports
// only the standard library and orb; adapters depend on it, never the reverse.
package grid

import (
	"time"

	"github.com/paulmach/orb"
)

// CountyCode is the administrative code of the reference city (临海市).
const CountyCode = "331082"

// Town is a town or street (乡镇/街道), the locality that owns whatever no
// department does (属地兜底).
type Town struct {
	Code     string // 9 digits: county + 3-digit town
	Name     string
	Kind     string // "street" or "town"
	Geometry orb.MultiPolygon
}

// Community is a community or village (社区/村) inside one town.
type Community struct {
	Code     string // 12 digits: town + 3-digit community
	Name     string
	TownCode string
	Geometry orb.MultiPolygon
}

// Cell is a grid cell (单元网格), the smallest unit of jurisdiction. Cells tile
// their community without gaps or overlaps.
type Cell struct {
	Code          string // 15 digits (14 accepted on import)
	Name          string
	CommunityCode string
	TownCode      string
	Geometry      orb.MultiPolygon
}

// Zone kinds: responsibility areas that are not cells.
const (
	ZoneUrbanCore    = "urban_core"
	ZonePark         = "park"
	ZoneArterialRoad = "arterial_road"
	ZoneScenicArea   = "scenic_area"
	ZoneRiverBank    = "river_bank"
)

// ZoneKinds lists every valid zone kind, the most specific first: when a
// point lies in zones of several kinds, rules of the earlier kind win.
func ZoneKinds() []string {
	return []string{ZoneScenicArea, ZonePark, ZoneRiverBank, ZoneArterialRoad, ZoneUrbanCore}
}

// ZoneKindRank ranks a zone kind for rule precedence: higher is more
// specific; 0 for an unknown kind.
func ZoneKindRank(kind string) int {
	ks := ZoneKinds()
	for i, k := range ks {
		if k == kind {
			return len(ks) - i
		}
	}
	return 0
}

// Zone is a responsibility zone (urban core, park, arterial road, scenic area,
// river bank) whose rules take precedence over cell and town rules.
type Zone struct {
	Code     string
	Name     string
	Kind     string
	Geometry orb.MultiPolygon
}

// Department kinds: a functional department (职能部门) or a town's own office,
// which owns the town's fallback responsibilities.
const (
	DeptFunctional = "department"
	DeptTown       = "town"
)

// Department is an owner of responsibilities.
type Department struct {
	Code     string
	Name     string
	Kind     string // DeptFunctional or DeptTown
	TownCode string // set when Kind == DeptTown
}

// Time limit units for handling deadlines.
const (
	WorkingHours = "working_hours"
	WorkingDays  = "working_days"
)

// Category is a part (部件) or event (事件) class, e.g. E0505 机动车乱停放.
type Category struct {
	Code      string // P|E + 2-digit major + 2-digit minor
	Name      string
	MajorName string
	Limit     int    // handling time limit, in Unit
	Unit      string // WorkingHours or WorkingDays
	Theme     string // heatmap theme (parking, waterlogging, sanitation) or ""
}

// Kind reports "part" or "event".
func (c Category) Kind() string {
	if len(c.Code) > 0 && c.Code[0] == 'P' {
		return "part"
	}
	return "event"
}

// Rule scopes, from the most to the least specific.
const (
	ScopeZone      = "zone"      // one zone, by code
	ScopeZoneKind  = "zone_kind" // every zone of a kind
	ScopeCell      = "cell"
	ScopeCommunity = "community"
	ScopeTown      = "town"
	ScopeCity      = "city"
)

// Rule assigns a department to categories matching Pattern in a place scope.
// Pattern is a category code ("E0505"), a class prefix with '*' ("E05*",
// "E*") or "*". Higher Priority wins among rules of the same precedence.
type Rule struct {
	ID         int64
	Pattern    string
	Scope      string
	ScopeCode  string // zone/cell/community/town code or zone kind; "" for city
	Department string
	Priority   int
	Fallback   bool // a town's common (兜底) responsibility
	Note       string
}

// Facility kinds.
const (
	FacilityCamera          = "camera"
	FacilityGasCompany      = "gas_company"
	FacilityGasPoint        = "gas_point"
	FacilityToilet          = "toilet"
	FacilityTransferStation = "transfer_station"
	FacilityWaterlogSensor  = "waterlog_sensor"
)

// FacilityKinds lists every valid facility kind.
func FacilityKinds() []string {
	return []string{FacilityCamera, FacilityGasCompany, FacilityGasPoint,
		FacilityToilet, FacilityTransferStation, FacilityWaterlogSensor}
}

// Facility is a point asset: camera, gas point, toilet, transfer station…
type Facility struct {
	Code  string
	Kind  string
	Name  string
	Point orb.Point
	Attrs map[string]string
}

// City is one whole grid model, as loaded from the demo data or an import.
type City struct {
	Code        string
	Name        string
	Synthetic   bool
	Boundary    orb.MultiPolygon
	Towns       []Town
	Communities []Community
	Cells       []Cell
	Zones       []Zone
	Departments []Department
	Categories  []Category
	Rules       []Rule
	Facilities  []Facility
}

// Version is one import of the grid model.
type Version struct {
	ID          int64
	CreatedAt   time.Time
	ActivatedAt *time.Time
	Active      bool
	Source      string
	Note        string
	Cells       int
	Communities int
	Towns       int
	Zones       int
}

// Incident is a reported problem and the state of its case.
type Incident struct {
	ID            int64
	ExternalID    string
	Category      string
	Point         orb.Point // WGS84
	OccurredAt    time.Time
	ReceivedAt    time.Time
	Source        string
	Description   string
	Status        string
	CellCode      string
	CommunityCode string
	TownCode      string
	Department    string
	RuleID        int64
	GridVersion   int64
	Deadline      time.Time
	H3            uint64 // resolution 10
	RegisteredAt  *time.Time
	DispatchedAt  *time.Time
	HandledAt     *time.Time
	ClosedAt      *time.Time
	Reworks       int
	Extensions    int
	Supervised    bool
	ParkedFrom    string
}

// Event is one step of an incident's lifecycle trail.
type Event struct {
	ID         int64
	IncidentID int64
	At         time.Time
	Action     string
	From, To   string
	Actor      string
	Note       string
}

// Sources of reports: who or what reported a problem.
const (
	SourceCollector = "collector" // a patrol collector (采集员)
	SourceCamera    = "camera"    // video analysis
	SourceHotline   = "hotline"   // the 12345 hotline
	SourceApp       = "app"       // a citizens' app (城管通, Open311 clients)
	SourceSensor    = "sensor"    // an IoT sensor (water level, bin fill)
	SourceOther     = "other"
)

// Sources lists every source; the incident table's CHECK holds the same.
func Sources() []string {
	return []string{SourceCollector, SourceCamera, SourceHotline, SourceApp, SourceSensor, SourceOther}
}
