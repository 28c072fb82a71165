package grid_test

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
)

// lifecycleTable is the state machine of DESIGN.md and DOMAIN.md written
// out on its own: state → allowed action → next state. Every pair not
// listed is disallowed. Unpark leads back to the state parked from.
func lifecycleTable() map[string]map[string]string {
	return map[string]map[string]string{
		grid.StatusCollected:  {grid.ActRegister: grid.StatusRegistered, grid.ActDismiss: grid.StatusCancelled},
		grid.StatusRegistered: {grid.ActDismiss: grid.StatusCancelled, grid.ActDispatch: grid.StatusDispatched, grid.ActPark: grid.StatusParked},
		grid.StatusDispatched: {grid.ActReturn: grid.StatusRegistered, grid.ActReport: grid.StatusHandled, grid.ActExtend: grid.StatusDispatched,
			grid.ActSupervise: grid.StatusDispatched, grid.ActPark: grid.StatusParked},
		grid.StatusHandled:   {grid.ActVerify: grid.StatusClosed, grid.ActReject: grid.StatusDispatched, grid.ActSupervise: grid.StatusHandled},
		grid.StatusClosed:    {grid.ActEvaluate: grid.StatusEvaluated},
		grid.StatusEvaluated: {},
		grid.StatusCancelled: {},
		grid.StatusParked:    {grid.ActUnpark: "parked from"},
	}
}

// tableAllowed lists the table's actions of a state in the order of grid.Actions.
func tableAllowed(status string) []string {
	var out []string
	for _, a := range grid.Actions() {
		if _, ok := lifecycleTable()[status][a]; ok {
			out = append(out, a)
		}
	}
	return out
}

// lifeCalendar works the default hours with Monday 2026-05-11 a holiday,
// so an extension over the weekend has to skip it.
func lifeCalendar() *grid.Calendar {
	cal := grid.DefaultCalendar()
	cal.Holidays[grid.Date{Year: 2026, Month: time.May, Day: 11}] = true
	return cal
}

func at(cal *grid.Calendar, day, hour, minute int) time.Time {
	return time.Date(2026, time.May, day, hour, minute, 0, 0, cal.Loc)
}

func ptr(t time.Time) *time.Time { return &t }

// caseIn is a case as it stands in a state after the usual steps (Friday
// 2026-05-08, China time), with a rework and an extension behind it where
// it has been dispatched, so counters are seen to add rather than set.
func caseIn(cal *grid.Calendar, status string) grid.Case {
	c := grid.Case{Status: status, Deadline: at(cal, 8, 16, 30),
		Category: grid.Category{Code: "E0102", Limit: 4, Unit: grid.WorkingHours}}
	switch status {
	case grid.StatusCollected:
		return c
	case grid.StatusCancelled:
		c.RegisteredAt = ptr(at(cal, 8, 9, 10))
		return c
	case grid.StatusRegistered:
		c.RegisteredAt = ptr(at(cal, 8, 9, 10))
		return c
	}
	c.RegisteredAt, c.DispatchedAt = ptr(at(cal, 8, 9, 10)), ptr(at(cal, 8, 9, 30))
	c.Reworks, c.Extensions = 1, 1
	switch status {
	case grid.StatusParked:
		c.ParkedFrom = grid.StatusDispatched
	case grid.StatusHandled:
		c.HandledAt = ptr(at(cal, 8, 11, 0))
	case grid.StatusClosed, grid.StatusEvaluated:
		c.HandledAt, c.ClosedAt = ptr(at(cal, 8, 11, 0)), ptr(at(cal, 8, 12, 0))
		c.Supervised = true
	}
	return c
}

// deepCopy copies the case with its own timestamps, so a change made
// through a pointer shows in the comparison.
func deepCopy(c grid.Case) grid.Case {
	for _, p := range []**time.Time{&c.RegisteredAt, &c.DispatchedAt, &c.HandledAt, &c.ClosedAt} {
		if *p != nil {
			*p = ptr(**p)
		}
	}
	return c
}

func showTime(t *time.Time) string {
	if t == nil {
		return "nil"
	}
	return t.Format(time.RFC3339)
}

// caseDiff names the fields in which got differs from want.
func caseDiff(got, want grid.Case) string {
	var d []string
	field := func(name string, g, w any) {
		if g != w {
			d = append(d, fmt.Sprintf("%s %v, want %v", name, g, w))
		}
	}
	field("status", got.Status, want.Status)
	field("parked_from", got.ParkedFrom, want.ParkedFrom)
	field("deadline", got.Deadline.UTC(), want.Deadline.UTC())
	field("category", got.Category, want.Category)
	field("registered_at", showTime(got.RegisteredAt), showTime(want.RegisteredAt))
	field("dispatched_at", showTime(got.DispatchedAt), showTime(want.DispatchedAt))
	field("handled_at", showTime(got.HandledAt), showTime(want.HandledAt))
	field("closed_at", showTime(got.ClosedAt), showTime(want.ClosedAt))
	field("reworks", got.Reworks, want.Reworks)
	field("extensions", got.Extensions, want.Extensions)
	field("supervised", got.Supervised, want.Supervised)
	return fmt.Sprint(d)
}

// expected is what an allowed action makes of before, by the rules of the
// lifecycle: each action sets its own timestamp or counter and nothing else.
func expected(t *testing.T, before grid.Case, action, to string, now time.Time, cal *grid.Calendar) grid.Case {
	t.Helper()
	w := deepCopy(before)
	w.Status = to
	switch action {
	case grid.ActRegister:
		w.RegisteredAt = ptr(now)
	case grid.ActDispatch:
		w.DispatchedAt = ptr(now)
	case grid.ActReport:
		w.HandledAt = ptr(now)
	case grid.ActVerify:
		w.ClosedAt = ptr(now)
	case grid.ActReject:
		w.Reworks++
		w.HandledAt = nil
	case grid.ActReturn:
		w.DispatchedAt = nil
	case grid.ActExtend:
		w.Extensions++
		w.Deadline = cal.Deadline(before.Deadline, before.Category.Limit, before.Category.Unit)
		// Independently: 1 h left on Friday, then the weekend and the
		// Monday holiday pass, and 3 h fall on Tuesday morning.
		if want := at(cal, 12, 11, 30); !w.Deadline.Equal(want) {
			t.Fatalf("the calendar extends %s by 4 working hours to %s, want %s", before.Deadline, w.Deadline, want)
		}
	case grid.ActSupervise:
		w.Supervised = true
	case grid.ActPark:
		w.ParkedFrom = before.Status
	case grid.ActUnpark:
		w.Status, w.ParkedFrom = before.ParkedFrom, ""
	}
	return w
}

// TestApplyEveryStateAndAction applies each of the 12 actions in each of
// the 8 states: allowed ones move to the table's state and set what the
// action sets; disallowed ones are a Conflict naming the allowed actions
// and leave the case as it was.
func TestApplyEveryStateAndAction(t *testing.T) {
	t.Parallel()
	cal := lifeCalendar()
	now := at(cal, 8, 15, 0)
	if got := len(grid.Statuses()) * len(grid.Actions()); got != 8*12 {
		t.Fatalf("%d states × actions, want 96", got)
	}
	table := lifecycleTable()
	pairs := 0
	for _, status := range grid.Statuses() {
		if _, ok := table[status]; !ok {
			t.Fatalf("state %q is missing from the test's table", status)
		}
		for _, action := range grid.Actions() {
			pairs++
			t.Run(status+"/"+action, func(t *testing.T) {
				before := caseIn(cal, status)
				c := deepCopy(before)
				err := grid.Apply(&c, action, now, cal)
				to, allowed := table[status][action]
				if allowed {
					if err != nil {
						t.Fatalf("allowed action refused: %v", err)
					}
					if action == grid.ActUnpark {
						to = before.ParkedFrom
					}
					if d := caseDiff(c, expected(t, before, action, to, now, cal)); d != "[]" {
						t.Errorf("after %s in %s: %s", action, status, d)
					}
					return
				}
				if err == nil {
					t.Fatalf("disallowed action applied: now %s", c.Status)
				}
				if k := grid.KindOf(err); k != grid.Conflict {
					t.Errorf("kind %s, want %s", k, grid.Conflict)
				}
				var ge *grid.Error
				if !errors.As(err, &ge) {
					t.Fatalf("%v is not a *grid.Error", err)
				}
				if !slices.Equal(ge.Details, grid.AllowedActions(status)) || !slices.Equal(ge.Details, tableAllowed(status)) {
					t.Errorf("details %v, want the allowed actions %v", ge.Details, tableAllowed(status))
				}
				var te *grid.TransitionError
				if !errors.As(err, &te) {
					t.Fatalf("errors.As finds no *TransitionError in %v", err)
				}
				if te.Action != action || te.Status != status || !slices.Equal(te.Allowed, tableAllowed(status)) {
					t.Errorf("transition error (%s, %s, %v), want (%s, %s, %v)", te.Action, te.Status, te.Allowed, action, status, tableAllowed(status))
				}
				if d := caseDiff(c, before); d != "[]" {
					t.Errorf("a refused action changed the case: %s", d)
				}
			})
		}
	}
	if pairs != 96 {
		t.Errorf("%d pairs tried, want 96", pairs)
	}
}

// TestUnparkReturnsWhereParked parks a registered and a dispatched case
// and unparks each back to where it was.
func TestUnparkReturnsWhereParked(t *testing.T) {
	t.Parallel()
	cal := lifeCalendar()
	for _, from := range []string{grid.StatusRegistered, grid.StatusDispatched} {
		c := caseIn(cal, from)
		before := deepCopy(c)
		if err := grid.Apply(&c, grid.ActPark, at(cal, 8, 14, 0), cal); err != nil {
			t.Fatal(err)
		}
		if c.Status != grid.StatusParked || c.ParkedFrom != from {
			t.Errorf("parked from %s: status %s, parked from %q", from, c.Status, c.ParkedFrom)
		}
		if err := grid.Apply(&c, grid.ActUnpark, at(cal, 8, 15, 0), cal); err != nil {
			t.Fatal(err)
		}
		if d := caseDiff(c, before); d != "[]" {
			t.Errorf("park and unpark from %s: %s", from, d)
		}
	}
}

// TestApplyUnknownAction: an action outside the lifecycle is Invalid in
// every state, not a Conflict, and changes nothing.
func TestApplyUnknownAction(t *testing.T) {
	t.Parallel()
	cal := lifeCalendar()
	for _, status := range grid.Statuses() {
		for _, action := range []string{"approve", "", "Register"} {
			before := caseIn(cal, status)
			c := deepCopy(before)
			err := grid.Apply(&c, action, at(cal, 8, 15, 0), cal)
			if k := grid.KindOf(err); k != grid.Invalid {
				t.Errorf("%q in %s: kind %s (%v), want %s", action, status, k, err, grid.Invalid)
			}
			var te *grid.TransitionError
			if errors.As(err, &te) {
				t.Errorf("%q in %s: an unknown action carries a transition error", action, status)
			}
			if d := caseDiff(c, before); d != "[]" {
				t.Errorf("%q in %s changed the case: %s", action, status, d)
			}
		}
	}
}

// TestAllowedActionsMatchTable: the allowed actions of every state are the
// table's, in the order of grid.Actions; an unknown state allows none.
func TestAllowedActionsMatchTable(t *testing.T) {
	t.Parallel()
	table := lifecycleTable()
	if len(table) != len(grid.Statuses()) {
		t.Errorf("the table has %d states, grid.Statuses %d", len(table), len(grid.Statuses()))
	}
	for _, status := range grid.Statuses() {
		got, want := grid.AllowedActions(status), tableAllowed(status)
		if !slices.Equal(got, want) {
			t.Errorf("AllowedActions(%s) = %v, want %v", status, got, want)
		}
		for a := range table[status] {
			if !slices.Contains(grid.Actions(), a) {
				t.Errorf("the table's action %q is not in grid.Actions", a)
			}
		}
	}
	if got := grid.AllowedActions("lost"); len(got) != 0 {
		t.Errorf("AllowedActions of an unknown state = %v, want none", got)
	}
}
