// Package intake assigns an incoming report: its cell, community and town
// (locate), its owner (dispatch), its H3 cell and its handling deadline.
// It composes the logic packages for the HTTP adapter and the seeder alike,
// and imports no adapter.
package intake

import (
	"math"
	"slices"
	"time"

	"github.com/citygrid/citygrid/internal/dispatch"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/paulmach/orb"
	"github.com/uber/h3-go/v4"
)

// H3Res is the resolution of the H3 cell stored with each incident.
const H3Res = 10

// Report is an incoming problem, its point already in WGS84.
type Report struct {
	Category    string
	Point       orb.Point
	OccurredAt  time.Time
	Source      string
	Description string
	ExternalID  string
}

// Assigner routes reports against one grid snapshot. Safe for concurrent
// use when each goroutine passes its own scratch.
type Assigner struct {
	Snap *locate.Snapshot
	Res  *dispatch.Resolver
	Cal  *grid.Calendar
}

// Scratch is per-goroutine space reused between calls.
type Scratch struct{ zones []dispatch.ZoneRef }

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
	case len(r.Description) > 4000:
		return grid.Errorf(grid.Invalid, "description: longer than 4000 bytes")
	case len(r.ExternalID) > 200:
		return grid.Errorf(grid.Invalid, "external_id: longer than 200 bytes")
	}
	return nil
}

// Assign turns a report into a new incident (status collected) received at
// now: NotFound when the point lies outside the managed area, Invalid for
// a bad field or an unknown category. The deadline runs from receipt.
func (a *Assigner) Assign(r *Report, now time.Time, s *Scratch) (grid.Incident, error) {
	var x grid.Incident
	if err := Check(r); err != nil {
		return x, err
	}
	cat, ok := a.Res.Category(r.Category)
	if !ok {
		return x, grid.Errorf(grid.Invalid, "category: %q is not a known category", r.Category)
	}
	if r.OccurredAt.After(now.Add(5 * time.Minute)) {
		return x, grid.Errorf(grid.Invalid, "occurred_at: %s is in the future", r.OccurredAt.Format(time.RFC3339))
	}
	pl, ok := a.Snap.Locate(r.Point)
	if !ok {
		return x, grid.Errorf(grid.NotFound, "point (%v, %v) is outside the managed area", r.Point[0], r.Point[1])
	}
	s.zones = s.zones[:0]
	a.Snap.ZonesAt(r.Point, func(z *grid.Zone) { s.zones = append(s.zones, dispatch.ZoneRef{Code: z.Code, Kind: z.Kind}) })
	d, ok, _ := a.Res.Resolve(r.Category, dispatch.Place{Cell: pl.Cell.Code, Community: pl.Community.Code, Town: pl.Town.Code, Zones: s.zones})
	if !ok {
		return x, grid.Errorf(grid.Internal, "no rule owns %s in cell %s", r.Category, pl.Cell.Code)
	}
	h, err := h3.LatLngToCell(h3.NewLatLng(r.Point[1], r.Point[0]), H3Res)
	if err != nil {
		return x, grid.Errorf(grid.Invalid, "lon/lat: no H3 cell: %v", err)
	}
	x = grid.Incident{
		ExternalID: r.ExternalID, Category: r.Category, Point: r.Point, OccurredAt: r.OccurredAt, ReceivedAt: now,
		Source: r.Source, Description: r.Description, Status: grid.StatusCollected,
		CellCode: pl.Cell.Code, CommunityCode: pl.Community.Code, TownCode: pl.Town.Code,
		Department: d.Department.Code, RuleID: d.Rule.ID, GridVersion: a.Snap.Version.ID,
		Deadline: a.Cal.Deadline(now, cat.Limit, cat.Unit), H3: uint64(h),
	}
	return x, nil
}
