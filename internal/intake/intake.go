// Package intake is the application service that takes a report to its
// owner: the one path from a point (and a category) to its cell, community
// and town (locate), its responsible department and the rule that chose it
// (dispatch), its H3 cell and its handling deadline (the working calendar).
// Every surface that locates or assigns — the locate answer, incident
// create, bulk load, the seeder — calls it. It composes logic packages and
// imports no adapter.
package intake

import (
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/citygrid/citygrid/internal/dispatch"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// H3Res is the resolution of the H3 cell stored with each incident.
const H3Res = 10

// Limits of a report's text fields: the description in characters (as
// GeoReport v2 limits it: a Chinese description of 4,000 characters is
// 12,000 bytes), the external id in bytes.
const (
	MaxDescription = 4000
	MaxExternalID  = 200
)

// Report is an incoming problem, its point already in WGS84.
type Report struct {
	Category    string
	Point       orb.Point
	OccurredAt  time.Time
	Source      string
	Description string
	ExternalID  string
}

// Assigner routes points and reports over one grid snapshot with its own
// rules and reference data. Immutable; safe for concurrent use when each
// goroutine passes its own Scratch.
type Assigner struct {
	snap  *locate.Snapshot
	rules *dispatch.Resolver
	cal   *grid.Calendar
}

// New builds the assigner of a snapshot; deadlines run on cal. A rule
// naming an unknown department is Invalid.
func New(snap *locate.Snapshot, cal *grid.Calendar) (*Assigner, error) {
	res, err := dispatch.New(snap.Rules, snap.Departments, snap.Categories)
	if err != nil {
		return nil, err
	}
	if cal == nil {
		cal = grid.DefaultCalendar()
	}
	return &Assigner{snap: snap, rules: res, cal: cal}, nil
}

// Snapshot is the grid snapshot the assigner routes over.
func (a *Assigner) Snapshot() *locate.Snapshot { return a.snap }

// Calendar is the working calendar deadlines run on.
func (a *Assigner) Calendar() *grid.Calendar { return a.cal }

// Scratch is per-goroutine space reused between calls. A scratch made by
// NewBatchScratch also remembers, for the points of one category that lie
// in no zone, the owner of each cell: the decision depends only on the
// category and the cell's (cell, community, town) then.
type Scratch struct {
	zones    []dispatch.ZoneRef
	memo     map[int]Owner
	memoCat  string
	memoized bool
}

// NewBatchScratch is a Scratch that memoizes owners per cell, for many
// points of mostly one category.
func NewBatchScratch() *Scratch { return &Scratch{memoized: true} }

// Owner is who owns a point for a category: the deciding rule and its
// department. OK is false when no category was asked for, or no rule
// matched (a data error the rule tests exclude for a consistent grid).
type Owner struct {
	Decision dispatch.Decision
	OK       bool
}

// Locate finds the cell of a WGS84 point (an index into the snapshot's
// Cells; -1 outside the managed area) and, with a category, its owner.
func (a *Assigner) Locate(p orb.Point, category string, s *Scratch) (cell int, o Owner) {
	cell = a.snap.CellIndex(p)
	if cell < 0 || category == "" {
		return cell, o
	}
	s.zones = s.zones[:0]
	a.snap.ZonesAt(p, func(z *grid.Zone) { s.zones = append(s.zones, dispatch.ZoneRef{Code: z.Code, Kind: z.Kind}) })
	memo := s.memoized && len(s.zones) == 0
	if memo {
		if s.memo == nil || s.memoCat != category {
			s.memo, s.memoCat = map[int]Owner{}, category
		}
		if o, ok := s.memo[cell]; ok {
			return cell, o
		}
	}
	c := &a.snap.Cells[cell]
	d, ok, _ := a.rules.Resolve(category, dispatch.Place{Cell: c.Code, Community: c.CommunityCode, Town: c.TownCode, Zones: s.zones})
	o = Owner{Decision: d, OK: ok}
	if memo {
		s.memo[cell] = o
	}
	return cell, o
}

// Check validates a report's fields; Invalid names the field.
func Check(r *Report) error {
	switch {
	case !grid.ValidCategoryCode(r.Category):
		return grid.Errorf(grid.Invalid, "category: %q: want P or E + major + minor, e.g. E0505", r.Category)
	case math.IsNaN(r.Point[0]) || math.IsNaN(r.Point[1]) || r.Point[0] < -180 || r.Point[0] > 180 || r.Point[1] < -90 || r.Point[1] > 90:
		return grid.Errorf(grid.Invalid, "lon/lat: (%v, %v) is not a point", r.Point[0], r.Point[1])
	case r.OccurredAt.IsZero():
		return grid.Errorf(grid.Invalid, "occurred_at: required (RFC 3339)")
	case !slices.Contains(grid.Sources(), r.Source):
		return grid.Errorf(grid.Invalid, "source: %q: want one of %v", r.Source, grid.Sources())
	case len(r.Description) > MaxDescription && utf8.RuneCountInString(r.Description) > MaxDescription:
		return grid.Errorf(grid.Invalid, "description: longer than %d characters", MaxDescription)
	case len(r.ExternalID) > MaxExternalID:
		return grid.Errorf(grid.Invalid, "external_id: longer than %d bytes", MaxExternalID)
	case strings.IndexByte(r.Description, 0) >= 0:
		return grid.Errorf(grid.Invalid, "description: contains a NUL character (\\u0000)")
	case strings.IndexByte(r.ExternalID, 0) >= 0:
		return grid.Errorf(grid.Invalid, "external_id: contains a NUL character (\\u0000)")
	}
	return nil
}

// Assign turns a report into a new incident (status collected) received at
// now: NotFound when the point lies outside the managed area, Invalid for
// a bad field, an unknown category or a time in the future. The deadline
// runs from receipt on the working calendar.
func (a *Assigner) Assign(r *Report, now time.Time, s *Scratch) (grid.Incident, error) {
	var x grid.Incident
	if err := Check(r); err != nil {
		return x, err
	}
	cat, ok := a.snap.Category(r.Category)
	if !ok {
		return x, grid.Errorf(grid.Invalid, "category: %q is not a known category", r.Category)
	}
	if r.OccurredAt.After(now.Add(5 * time.Minute)) {
		return x, grid.Errorf(grid.Invalid, "occurred_at: %s is in the future", r.OccurredAt.Format(time.RFC3339))
	}
	cell, o := a.Locate(r.Point, r.Category, s)
	if cell < 0 {
		return x, grid.Errorf(grid.NotFound, "point (%v, %v) is outside the managed area", r.Point[0], r.Point[1])
	}
	c := &a.snap.Cells[cell]
	if !o.OK {
		return x, grid.Errorf(grid.Internal, "no rule owns %s in cell %s", r.Category, c.Code)
	}
	h, err := h3.LatLngToCell(h3.NewLatLng(r.Point[1], r.Point[0]), H3Res)
	if err != nil {
		return x, grid.Wrap(grid.Invalid, err, "lon/lat: no H3 cell")
	}
	x = grid.Incident{
		ExternalID: r.ExternalID, Category: r.Category, Point: r.Point, OccurredAt: r.OccurredAt, ReceivedAt: now,
		Source: r.Source, Description: r.Description, Status: grid.StatusCollected,
		CellCode: c.Code, CommunityCode: c.CommunityCode, TownCode: c.TownCode,
		Department: o.Decision.Department.Code, RuleID: o.Decision.Rule.ID, GridVersion: a.snap.Version.ID,
		Deadline: a.cal.Deadline(now, cat.Limit, cat.Unit), H3: uint64(h),
	}
	return x, nil
}
