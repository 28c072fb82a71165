package grid

import (
	"fmt"
	"slices"
	"time"
)

// Incident states: the 7-step closed loop (七步闭环) — collect, register
// (立案), dispatch, handle and report back, (supervise), verify and close,
// evaluate — plus cancelled and parked (挂账).
const (
	StatusCollected  = "collected"
	StatusRegistered = "registered"
	StatusDispatched = "dispatched"
	StatusHandled    = "handled"
	StatusClosed     = "closed"
	StatusEvaluated  = "evaluated"
	StatusCancelled  = "cancelled"
	StatusParked     = "parked"
)

// Statuses lists every state.
func Statuses() []string {
	return []string{StatusCollected, StatusRegistered, StatusDispatched, StatusHandled,
		StatusClosed, StatusEvaluated, StatusCancelled, StatusParked}
}

// Lifecycle actions.
const (
	ActRegister  = "register"  // collected → registered (立案)
	ActDismiss   = "dismiss"   // collected, registered → cancelled (不予立案)
	ActDispatch  = "dispatch"  // registered → dispatched
	ActReturn    = "return"    // dispatched → registered: the department bounces it (退回)
	ActReport    = "report"    // dispatched → handled: handled and reported back
	ActVerify    = "verify"    // handled → closed (核实结案)
	ActReject    = "reject"    // handled → dispatched: verification failed, rework (返工)
	ActExtend    = "extend"    // dispatched: the deadline moves by one more time limit (延期)
	ActSupervise = "supervise" // dispatched, handled: flagged for supervision (督办)
	ActPark      = "park"      // registered, dispatched → parked (挂账)
	ActUnpark    = "unpark"    // parked → the state it was parked from
	ActEvaluate  = "evaluate"  // closed → evaluated (综合评价)
)

// EventCreate is the first event of every trail: the incident stored, in
// StatusCollected. It is not an action.
const EventCreate = "create"

// Actions lists every action.
func Actions() []string {
	return []string{ActRegister, ActDismiss, ActDispatch, ActReturn, ActReport, ActVerify,
		ActReject, ActExtend, ActSupervise, ActPark, ActUnpark, ActEvaluate}
}

// transition is the state machine: the state action leads to from
// status, whether it is allowed there, and whether the action is known at
// all. ActUnpark leads to "": the state the incident was parked from. A
// switch rather than a table, so Apply allocates nothing to look it up.
func transition(action, status string) (to string, allowed, known bool) {
	switch action {
	case ActRegister:
		return StatusRegistered, status == StatusCollected, true
	case ActDismiss:
		return StatusCancelled, status == StatusCollected || status == StatusRegistered, true
	case ActDispatch:
		return StatusDispatched, status == StatusRegistered, true
	case ActReturn:
		return StatusRegistered, status == StatusDispatched, true
	case ActReport:
		return StatusHandled, status == StatusDispatched, true
	case ActVerify:
		return StatusClosed, status == StatusHandled, true
	case ActReject:
		return StatusDispatched, status == StatusHandled, true
	case ActExtend:
		return StatusDispatched, status == StatusDispatched, true
	case ActSupervise:
		return status, status == StatusDispatched || status == StatusHandled, true
	case ActPark:
		return StatusParked, status == StatusRegistered || status == StatusDispatched, true
	case ActUnpark:
		return "", status == StatusParked, true
	case ActEvaluate:
		return StatusEvaluated, status == StatusClosed, true
	}
	return "", false, false
}

// AllowedActions lists the actions allowed in a state, in a fixed order.
func AllowedActions(status string) []string {
	var out []string
	for _, a := range Actions() {
		if _, ok, _ := transition(a, status); ok {
			out = append(out, a)
		}
	}
	return out
}

// Case is the part of an incident the lifecycle reads and changes.
type Case struct {
	Status       string
	ParkedFrom   string
	Deadline     time.Time
	Category     Category
	RegisteredAt *time.Time
	DispatchedAt *time.Time
	HandledAt    *time.Time
	ClosedAt     *time.Time
	Reworks      int
	Extensions   int
	Supervised   bool
}

// TransitionError is the Conflict a disallowed action gets: it names the
// state and the actions allowed in it.
type TransitionError struct {
	Action, Status string
	Allowed        []string
}

func (e *TransitionError) Error() string {
	return "action " + e.Action + " is not allowed in state " + e.Status
}

// Apply performs action on c at time now, using cal for extended
// deadlines. An unknown action is Invalid; a disallowed one a Conflict:
// an *Error whose Details list the allowed actions and whose cause is the
// *TransitionError (errors.As finds it).
func Apply(c *Case, action string, now time.Time, cal *Calendar) error {
	to, ok, known := transition(action, c.Status)
	if !known {
		return Errorf(Invalid, "action %q: want one of %v", action, Actions())
	}
	if !ok {
		te := &TransitionError{Action: action, Status: c.Status, Allowed: AllowedActions(c.Status)}
		return &Error{Kind: Conflict, Message: fmt.Sprintf("%s; allowed in %s: %v", te.Error(), c.Status, te.Allowed),
			Details: te.Allowed, Cause: te}
	}
	e := effectOf(action)
	if p := c.stamp(e.Stamp); p != nil {
		*p = &now
	}
	if p := c.stamp(e.Clear); p != nil {
		*p = nil
	}
	if e.Rework {
		c.Reworks++
	}
	if e.Extend {
		c.Extensions++
		c.Deadline = cal.Deadline(c.Deadline, c.Category.Limit, c.Category.Unit)
	}
	if e.Supervise {
		c.Supervised = true
	}
	if e.Park {
		c.ParkedFrom = c.Status
	}
	if e.Unpark {
		to = UnparkTo(c.ParkedFrom)
		c.ParkedFrom = ""
	}
	c.Status = to
	return nil
}

// The times an action stamps or clears.
const (
	StampRegistered = "registered"
	StampDispatched = "dispatched"
	StampHandled    = "handled"
	StampClosed     = "closed"
)

// Effect is what an action does to a case besides moving its state, as
// data: Apply applies it, and a store may apply it in one statement
// (Plan).
type Effect struct {
	Stamp     string // the time set to the action's moment (Stamp*), or ""
	Clear     string // the time cleared (Stamp*), or ""
	Rework    bool   // reworks + 1
	Extend    bool   // extensions + 1, and the deadline moves by one more time limit (needs the calendar)
	Supervise bool   // flagged for supervision
	Park      bool   // parked_from := the current state
	Unpark    bool   // the state becomes UnparkTo(parked_from); parked_from cleared
}

func effectOf(action string) Effect {
	switch action {
	case ActRegister:
		return Effect{Stamp: StampRegistered}
	case ActDispatch:
		return Effect{Stamp: StampDispatched}
	case ActReport:
		return Effect{Stamp: StampHandled}
	case ActVerify:
		return Effect{Stamp: StampClosed}
	case ActReject:
		return Effect{Rework: true, Clear: StampHandled}
	case ActReturn:
		return Effect{Clear: StampDispatched}
	case ActExtend:
		return Effect{Extend: true}
	case ActSupervise:
		return Effect{Supervise: true}
	case ActPark:
		return Effect{Park: true}
	case ActUnpark:
		return Effect{Unpark: true}
	}
	return Effect{}
}

// stamp is the field a Stamp* names; nil for "".
func (c *Case) stamp(name string) **time.Time {
	switch name {
	case StampRegistered:
		return &c.RegisteredAt
	case StampDispatched:
		return &c.DispatchedAt
	case StampHandled:
		return &c.HandledAt
	case StampClosed:
		return &c.ClosedAt
	}
	return nil
}

// UnparkTo is the state an unpark leads to from the state an incident was
// parked from: that state, or registered when it is not one.
func UnparkTo(parkedFrom string) string {
	if slices.Contains(Statuses(), parkedFrom) {
		return parkedFrom
	}
	return StatusRegistered
}

// Plan is an action as data, for a store that applies it in one
// statement: the states it is allowed in, the state each leads to (for
// unpark, "": UnparkTo of the state parked from), and its effect. It is
// the same state machine Apply runs.
type Plan struct {
	Action   string
	From, To []string
	Effect
}

// PlanOf returns the plan of an action; Invalid for an unknown one, as
// Apply.
func PlanOf(action string) (Plan, error) {
	if _, _, known := transition(action, ""); !known {
		return Plan{}, Errorf(Invalid, "action %q: want one of %v", action, Actions())
	}
	p := Plan{Action: action, Effect: effectOf(action)}
	for _, st := range StatesAllowing(action) {
		to, _, _ := transition(action, st)
		p.From, p.To = append(p.From, st), append(p.To, to)
	}
	return p, nil
}

// OpenStatuses lists the states that still need work: the supervision
// queue. The partial index incident_open (migration 003) and the queries
// that use it spell the same list, in this order.
func OpenStatuses() []string {
	return []string{StatusCollected, StatusRegistered, StatusDispatched, StatusHandled, StatusParked}
}

// StatesAllowing lists the states in which action is allowed, in the order
// of Statuses.
func StatesAllowing(action string) []string {
	var out []string
	for _, st := range Statuses() {
		if slices.Contains(AllowedActions(st), action) {
			out = append(out, st)
		}
	}
	return out
}

// Open reports whether a state still needs work.
func Open(status string) bool { return slices.Contains(OpenStatuses(), status) }

// Overdue reports whether an incident in status with deadline is overdue
// at now: still open and strictly past its deadline. The store's
// overdue filter (GET /v1/incidents?overdue=true) selects the same.
func Overdue(status string, deadline, now time.Time) bool {
	return Open(status) && !deadline.IsZero() && now.After(deadline)
}
