package grid

import (
	"context"
	"fmt"
	"time"
)

// Model is the grid model of one version, as the in-memory read models need it.
type Model struct {
	Version Version
	City    *City
}

// GridStore is the system of record for the grid model. Methods return
// *Error of kind NotFound when a code or version does not exist, and
// Unavailable when the database cannot be reached.
type GridStore interface {
	// Versions lists every grid version, newest first.
	Versions(ctx context.Context) ([]Version, error)
	// Cell returns a cell of the given version (0: the active one).
	Cell(ctx context.Context, version int64, code string) (Cell, error)
	// ActiveModel loads the whole active grid model with its reference data.
	ActiveModel(ctx context.Context) (*Model, error)
	// Model loads the grid model of one version (NotFound if none).
	Model(ctx context.Context, version int64) (*Model, error)
	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// ImportGrid reads, validates and writes an import file as the new
	// active version, with its audit row, in one transaction, or writes
	// nothing: Invalid for bad options or a body that is not a GeoJSON
	// FeatureCollection, Rejected (every problem in Details) for a file
	// that breaks the grid's rules.
	ImportGrid(ctx context.Context, f ImportFile) (Version, error)
}

// FacilityFilter selects facilities; zero fields select everything.
type FacilityFilter struct {
	Kind  string
	Kinds []string    // any of these kinds (with Kind, both must hold); nil: any
	BBox  *[4]float64 // min lon, min lat, max lon, max lat (WGS84)
	Limit int
	After string // keyset: codes greater than this
}

// FacilityDistance is a facility and its geodesic distance from a point.
type FacilityDistance struct {
	Facility
	Meters float64
}

// FacilityStore reads the facilities (cameras, gas points, toilets, …).
type FacilityStore interface {
	// Facilities lists facilities in code order.
	Facilities(ctx context.Context, f FacilityFilter) ([]Facility, error)
	// NearestFacilities returns up to k facilities of a kind ("" any) within
	// maxMeters of p (WGS84), nearest first, with geodesic distances on the
	// WGS84 spheroid.
	NearestFacilities(ctx context.Context, p [2]float64, kind string, k int, maxMeters float64) ([]FacilityDistance, error)
}

// IncidentFilter selects incidents; zero fields select everything.
// Results come newest first (id descending); After continues a page.
type IncidentFilter struct {
	Categories []string
	Statuses   []string
	Cells      []string // e.g. the cells meeting a bbox
	BBox       *[4]float64
	Town       string
	Department string
	From, To   time.Time
	Overdue    bool // open and past the deadline
	Limit      int
	After      int64
}

// BulkResult reports a bulk create: ids of the new incidents, and for
// lines whose external id was seen before, the existing incident's id.
type BulkResult struct {
	IDs        []int64
	Duplicates map[int]int64 // line index → existing id
}

// IncidentStore is the system of record of incidents and their trail.
// Every write is one transaction; Conflict comes with a *TransitionError's
// allowed actions in Details.
type IncidentStore interface {
	// CreateIncident stores x (fills ID) with its creation event and
	// rollups; when x.ExternalID was seen before it returns the first
	// incident and created == false.
	CreateIncident(ctx context.Context, x *Incident, actor string) (created bool, err error)
	// BulkCreate stores every incident or none.
	BulkCreate(ctx context.Context, xs []Incident) (BulkResult, error)
	// BulkStream stores the incidents next yields (nil at the end) in one
	// transaction, writing them as they come; an error from next abandons
	// the batch, nothing is written, and that error is returned.
	BulkStream(ctx context.Context, next func() (*Incident, error)) (BulkResult, error)
	// Incident returns one incident and its trail (NotFound if none).
	Incident(ctx context.Context, id int64) (Incident, []Event, error)
	// FindIncidents lists incidents matching f.
	FindIncidents(ctx context.Context, f IncidentFilter) ([]Incident, error)
	// Transition applies a lifecycle action under a row lock, appending the
	// event in the same transaction.
	Transition(ctx context.Context, id int64, action, actor, note string, now time.Time, cal *Calendar) (Incident, Event, error)
	// FlagOverdue flags open incidents past their deadline for supervision
	// and returns their ids.
	FlagOverdue(ctx context.Context, now time.Time) ([]int64, error)
	// Calendar loads the working calendar's holidays and make-up days.
	Calendar(ctx context.Context) (*Calendar, error)
}

// StatsFilter selects the incidents a statistics query counts.
type StatsFilter struct {
	GroupBy    string // cell, community, town or department
	Categories []string
	From, To   time.Time
	Interval   string // "", day, week or month: adds a time series per group
	Top        int    // 0: every group
	Town       string // a town-scoped caller sees only its town
}

// CategoryCounts are a group's incidents per category: N[i] of
// Codes[i], no code listed twice. A count may be 0: the rows of one
// answer may share one Codes, each with its own N (a year by cell is
// 2,213 groups of some 100 categories, which maps would hold in 14 MB).
type CategoryCounts struct {
	Codes []string
	N     []int64
}

// Map is the counts that are not 0, by code.
func (c CategoryCounts) Map() map[string]int64 {
	m := map[string]int64{}
	for i, k := range c.Codes {
		if c.N[i] != 0 {
			m[k] += c.N[i]
		}
	}
	return m
}

// String writes the counts that are not 0 as fmt writes Map.
func (c CategoryCounts) String() string { return fmt.Sprint(c.Map()) }

// StatsRow is one group's counts and evaluation ratios (DOMAIN.md).
type StatsRow struct {
	Key, Name     string
	Total         int64
	ByCategory    CategoryCounts
	DueToHandle   int64 // dispatched (entered the handling loop), not cancelled
	Handled       int64
	HandledOnTime int64
	DueToClose    int64
	Closed        int64
	ClosedOnTime  int64
	Reworked      int64
	Extended      int64
	Series        []SeriesPoint
}

// SeriesPoint is a count in one time bucket.
type SeriesPoint struct {
	Start time.Time
	Count int64
}

// StatsStore answers planner statistics.
type StatsStore interface {
	Stats(ctx context.Context, f StatsFilter) ([]StatsRow, error)
}

// HeatQuery selects what a heatmap counts. From and To are whole hours
// (of China time, the rollups' grain); stores answer Invalid otherwise.
type HeatQuery struct {
	Categories []string
	Res        int // H3 resolution 5…10
	From, To   time.Time
	Hours      []int    // local hours of day 0…23; empty: all
	Weekdays   []int    // ISO weekdays 1 (Monday)…7; empty: all
	Towns      []string // town codes whose incidents count; empty: every town
}

// HeatCell is an H3 cell and its incident count.
type HeatCell struct {
	H3    uint64
	Count int64
}

// HeatmapStore counts incidents per H3 cell from the rollups. At every
// resolution r an incident counts in the cell that H3's latLngToCell
// gives its point at r (not the parent of a finer cell: H3 cells do not
// nest exactly).
type HeatmapStore interface {
	Heatmap(ctx context.Context, q HeatQuery) ([]HeatCell, error)
}

// RollupSlice names the H3 rollup entries of one category in one town on
// one local (China time) day: the unit in which writes report what they
// touched and the heatmap read model reloads. Town "" in a report is every
// town of that category and day.
type RollupSlice struct {
	Category string
	Day      Date
	Town     string
}

// RollupSource reads the H3 rollups: signed incident counts per slice,
// local hour and H3 cell. Rows are additive: one slice may hold several
// rows for the same hour and cell, and their counts add up.
//
// A cell of resolution 10 is a base entry: the incident's own cell
// (latLngToCell at 10), counted at every resolution in its parent. A cell
// of a coarser resolution r (5…9) is a correction that counts at r only:
// for an incident whose latLngToCell at r is not the parent of its
// resolution-10 cell, +1 at the cell that holds its point and −1 at that
// parent. Summed that way, every resolution is H3's own answer.
type RollupSource interface {
	// RollupRows calls fn for every rollup entry of the given slices'
	// categories and days, in every town (the unit in which stores keep
	// and read rollups), or for every entry when slices is nil, from one
	// consistent snapshot.
	RollupRows(ctx context.Context, slices []RollupSlice, fn func(s RollupSlice, hour int, cell uint64, n int64) error) error
}

// Roles an API key may carry. Public callers need no key.
const (
	RoleDispatcher = "dispatcher"
	RolePlanner    = "planner"
	RoleAdmin      = "admin"
	// RoleApp is a citizens' app (the public 城管通, civic Open311 clients):
	// it creates reports through Open311 and reads the ones it created,
	// nothing else. It is not staff.
	RoleApp = "app"
)

// Roles lists every role a key may be created with.
func Roles() []string { return []string{RoleDispatcher, RolePlanner, RoleAdmin, RoleApp} }

// Principal is who calls: a role and an optional town scope. The zero
// value is the public.
type Principal struct {
	Role    string // "", dispatcher, planner, admin or app
	Town    string
	Expires *time.Time // when the key stops being valid; nil: never
	KeyID   int64      // the key's id; 0 for the public
}

// Public reports whether the caller presented no key.
func (p Principal) Public() bool { return p.Role == "" }

// KeyStore resolves API keys.
type KeyStore interface {
	// Principal returns the role of a key: Unauthorized when unknown or revoked.
	Principal(ctx context.Context, key string) (Principal, error)
}

// ServiceRequest is what a report made through Open311 GeoReport v2 keeps
// beside its incident: the key that created it (so an app reads its own),
// what the client said of the place and media, the answers to the
// service's attributes, and who reported. Contact is written, never read
// back by any store method.
type ServiceRequest struct {
	KeyID      int64
	Address    string              // address_string, as sent with the point
	AddressID  string              // address_id, as sent with the point
	MediaURL   string              // an absolute http(s) URL
	Attributes map[string][]string // attribute code → values
	Contact    Contact
}

// Contact is who reported, as the client sent it: kept for the operations
// centre to call back, never shown in any answer.
type Contact struct {
	Email, FirstName, LastName, Phone, DeviceID, AccountID string
}

// ServiceRequestFilter selects service requests, newest first. When IDs
// is set it overrides Categories, Statuses, From and To (GeoReport: the id
// list overrides every other argument); KeyID and Town, the caller's
// access, always apply.
type ServiceRequestFilter struct {
	IDs        []int64
	Categories []string
	Statuses   []string
	From, To   time.Time // occurred_at within [From, To]; zero: open
	KeyID      int64     // > 0: only the requests this key created through Open311
	Town       string    // a town-scoped caller sees only its town
	Limit      int       // 1…1000
}

// ServiceRequestRecord is an incident as Open311 shows it: the incident,
// its Open311 side data (nil when it came another way; Contact left
// empty), when its trail last moved and the last note of a lifecycle
// action.
type ServiceRequestRecord struct {
	Incident   Incident
	Request    *ServiceRequest
	UpdatedAt  time.Time
	StatusNote string
}

// ServiceRequestStore keeps reports made through Open311.
type ServiceRequestStore interface {
	// CreateServiceRequest stores x as CreateIncident does and r beside it,
	// in the same statement. When x.ExternalID was seen before it returns
	// the first incident and created == false; Conflict when that incident
	// was not created through Open311 by the same key.
	CreateServiceRequest(ctx context.Context, x *Incident, r *ServiceRequest, actor string) (created bool, err error)
	// FindServiceRequests lists the incidents f selects, newest first.
	FindServiceRequests(ctx context.Context, f ServiceRequestFilter) ([]ServiceRequestRecord, error)
}
