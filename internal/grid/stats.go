package grid

import (
	"context"
	"time"
)

// IDRange is the incident ids First…Last, both included: the unit in
// which writes report which incidents they changed (a bulk load's ids come
// from the sequence in a few runs).
type IDRange struct{ First, Last int64 }

// StatsRecord is what the statistics and the overview read of one
// incident. The code fields are only valid during the call that passes
// the record (stores hand out their read buffers).
type StatsRecord struct {
	ID                                          int64
	OccurredAt, Deadline                        time.Time
	HandledAt, ClosedAt                         time.Time // zero: not set
	Category, Cell, Community, Town, Department []byte
	Status, ParkedFrom                          string
	Dispatched                                  bool // dispatched_at is set
	Reworks, Extensions                         int
	Supervised                                  bool
}

// The counters of GET /v1/stats, defined once here for every path that
// counts them in Go (the read model and the tests' recounts); the SQL
// path in internal/postgres (statsCounters) spells the same.

// Due reports whether an incident is due to handle and due to close: not
// cancelled and dispatched — dispatched_at set, or its state past dispatch
// (handled, closed, evaluated), or parked from dispatched.
func (r *StatsRecord) Due() bool {
	if r.Status == StatusCancelled {
		return false
	}
	switch r.Status {
	case StatusHandled, StatusClosed, StatusEvaluated:
		return true
	case StatusParked:
		if r.ParkedFrom == StatusDispatched {
			return true
		}
	}
	return r.Dispatched
}

// Handled: handled_at is set. HandledOnTime: handled_at ≤ deadline.
func (r *StatsRecord) Handled() bool { return !r.HandledAt.IsZero() }

// HandledOnTime reports handled_at ≤ deadline.
func (r *StatsRecord) HandledOnTime() bool { return r.Handled() && !r.HandledAt.After(r.Deadline) }

// Closed reports closed_at set (closed or evaluated).
func (r *StatsRecord) Closed() bool { return !r.ClosedAt.IsZero() }

// ClosedOnTime reports closed and handled_at ≤ deadline.
func (r *StatsRecord) ClosedOnTime() bool { return r.Closed() && r.HandledOnTime() }

// StatsSource reads the statistics records of incidents.
type StatsSource interface {
	// StatsRecords calls fn for every incident whose id lies in one of
	// ranges (every incident when ranges is nil), in any order.
	StatsRecords(ctx context.Context, ranges []IDRange, fn func(*StatsRecord) error) error
	// IDBounds returns the smallest and largest incident id (0, 0 when
	// there is none).
	IDBounds(ctx context.Context) (first, last int64, err error)
}

// LevelCity is the overview's whole city (with LevelTown and
// LevelCommunity).
const LevelCity = "city"

// OverviewQuery asks for the big screen's figures of one unit and its
// children: the city (Code "") and its towns, a town and its communities,
// or a community alone.
type OverviewQuery struct {
	Level  string
	Code   string
	Now    time.Time  // whole seconds
	Themes [][]string // category sets counted apart (by_theme), in order
	Days   int        // the daily series: this many local days up to today
	Top    int        // the cells with the most new incidents this month
}

// OverviewCounts are a period's figures: new (occurred in the period),
// closed (closed in the period), overdue (still open, its deadline passed
// within the period and before now) and supervised (occurred in the
// period and flagged for supervision).
type OverviewCounts struct {
	New, Closed, Overdue, Supervised int64
}

// OverviewPeriod is a period's counts, in all and per theme.
type OverviewPeriod struct {
	OverviewCounts
	ByTheme []OverviewCounts // in the order of OverviewQuery.Themes
}

// OverviewUnit is one unit's figures: today and this month (China time),
// and the month's due-to-close and closed-on-time counts (stats'
// definitions over the incidents that occurred this month).
type OverviewUnit struct {
	Today, Month             OverviewPeriod
	DueToClose, ClosedOnTime int64
}

// OverviewDay is one local day of the daily series.
type OverviewDay struct {
	Day         Date
	New, Closed int64
}

// CodeCount is a code and a count.
type CodeCount struct {
	Code  string
	Count int64
}

// Overview is the answer to an OverviewQuery. Children holds the units
// one level down that have any incident, by code.
type Overview struct {
	Unit     OverviewUnit
	Children map[string]OverviewUnit
	TopCells []CodeCount // most new incidents this month first, then by code
	Daily    []OverviewDay
}

// OverviewStore answers the big screen.
type OverviewStore interface {
	Overview(ctx context.Context, q OverviewQuery) (Overview, error)
}
