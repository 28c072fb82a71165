package main

import (
	"fmt"
	"hash/fnv"
	"slices"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
)

// The lifecycles of seeded incidents. Each synthetic history is a plan of
// actions at plausible times, applied through grid.Apply with the working
// calendar as live actions are, so an incident's stored state is what its
// stored trail leads to. The history stops at the seed's end: whatever
// would happen later has not happened, which leaves recent cases open.

// Who acts in a seeded history. Supervision of overdue cases is the
// service's own (FlagOverdue), with its actor and note.
const (
	seedActorCreate     = "seed"
	seedActorDispatcher = "dispatcher"
	seedActorSupervisor = "supervisor"
	seedActorEvaluator  = "evaluator"
	seedActorSystem     = "system"
	seedNoteOverdue     = "overdue"
)

// seedTrail holds the events of the batch being generated.
type seedTrail struct {
	evs  []grid.Event
	mark int   // where the latest incident's events begin
	err  error // the first plan the lifecycle refused: a bug in the plan
}

// take returns the events added since the last take.
func (s *seedTrail) take() []grid.Event {
	evs := s.evs[s.mark:len(s.evs):len(s.evs)]
	s.mark = len(s.evs)
	return evs
}

// reset starts a new batch of about n incidents; the events taken so far
// stay with the batch that holds them.
func (s *seedTrail) reset(n int) {
	s.evs, s.mark = make([]grid.Event, 0, 8*n), 0
}

// seedBatch is a batch of seeded incidents with their trails: trails[i] is
// the trail of xs[i].
type seedBatch struct {
	xs     []grid.Incident
	trails [][]grid.Event
}

func newSeedBatch(n int) seedBatch {
	return seedBatch{xs: make([]grid.Incident, 0, n), trails: make([][]grid.Event, 0, n)}
}

func (b *seedBatch) add(x grid.Incident, trail []grid.Event) {
	b.xs = append(b.xs, x)
	b.trails = append(b.trails, trail)
}

// sortByTime orders the batch by occurrence, each trail with its
// incident, so partitions and the time index fill in order. It sorts an
// index and moves each incident once: swapping whole incidents costs more
// than the rest of generating them.
func (b *seedBatch) sortByTime() {
	order := make([]int32, len(b.xs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(i, j int32) int { return b.xs[i].OccurredAt.Compare(b.xs[j].OccurredAt) })
	sorted := newSeedBatch(len(b.xs))
	for _, i := range order {
		sorted.add(b.xs[i], b.trails[i])
	}
	*b = sorted
}

// onTimeRate is the share of cases a department handles within its
// deadlines, 70–97 %, fixed per department so their ratios differ.
func onTimeRate(department string) int {
	h := fnv.New32a()
	h.Write([]byte(department))
	return 70 + int(h.Sum32()%28)
}

// lifecycle walks a seeded incident through its synthetic history: created
// when received; about 3 % dismissed (不予立案); the rest registered and
// dispatched, some returned by the department and dispatched again (退回),
// some extended (延期) or parked for weeks (挂账), handled on time at the
// department's rate, verified, some sent back for rework (返工), and
// evaluated. A case whose deadline passes before the department has
// reported it handled is flagged for supervision (督办) at the next
// minute, so the cases handled late are the supervised ones. The state
// reached is set on x, the events are added to the seeder's trail.
func (a *seeder) lifecycle(x *grid.Incident, cat *grid.Category) {
	w := walk{
		c:   grid.Case{Status: grid.StatusCollected, Deadline: x.Deadline, Category: *cat},
		end: a.end, cal: a.in.Calendar(), trail: &a.trail,
	}
	w.event(x.ReceivedAt, grid.EventCreate, "", seedActorCreate, x.Source)
	a.plan(&w, x.Department)
	w.superviseBefore(a.end)
	c := &w.c
	x.Status, x.ParkedFrom, x.Deadline = c.Status, c.ParkedFrom, c.Deadline
	x.RegisteredAt, x.DispatchedAt, x.HandledAt, x.ClosedAt = c.RegisteredAt, c.DispatchedAt, c.HandledAt, c.ClosedAt
	x.Reworks, x.Extensions, x.Supervised = c.Reworks, c.Extensions, c.Supervised
}

// plan draws the history's steps and their times; it stops at the first
// step past the end.
func (a *seeder) plan(w *walk, dept string) {
	r := a.rng
	minutes := func(lo, hi int) time.Duration { return time.Duration(lo+r.IntN(hi-lo)) * time.Minute }
	within := func(d time.Duration) time.Duration {
		return time.Duration(r.Float64() * float64(d)).Truncate(time.Second)
	}

	t := w.last.Add(minutes(2, 30))
	if r.IntN(100) < 3 { // not taken on: at once, or after a look
		if r.IntN(2) == 0 {
			if !w.do(grid.ActRegister, t, seedActorDispatcher, "") {
				return
			}
			t = t.Add(minutes(10, 240))
		}
		w.do(grid.ActDismiss, t, seedActorDispatcher, "")
		return
	}
	if !w.do(grid.ActRegister, t, seedActorDispatcher, "") {
		return
	}
	parked := r.IntN(200) < 5 // 2.5 %: a fifth before dispatch, the rest by the department
	if parked && r.IntN(5) == 0 {
		parked = false
		if !w.park(t.Add(minutes(10, 120)), minutes(3*24*60, 40*24*60), seedActorDispatcher) {
			return
		}
		t = w.last
	}
	t = t.Add(minutes(5, 60))
	if !w.do(grid.ActDispatch, t, seedActorDispatcher, "") {
		return
	}
	if r.IntN(100) < 4 { // not ours: back to the centre, dispatched again
		t = t.Add(minutes(10, 240))
		if !w.do(grid.ActReturn, t, dept, "not in our remit") {
			return
		}
		t = t.Add(minutes(10, 120))
		if !w.do(grid.ActDispatch, t, seedActorDispatcher, "") {
			return
		}
	}
	onTime := r.IntN(100) < onTimeRate(dept)
	if r.IntN(100) < 4 { // more time asked for before the deadline
		left := max(w.c.Deadline.Sub(t), time.Hour)
		t = t.Add(time.Minute + within(left*4/5))
		if !w.do(grid.ActExtend, t, dept, "") {
			return
		}
	}
	if parked {
		if !w.park(t.Add(minutes(60, 48*60)), minutes(3*24*60, 60*24*60), dept) {
			return
		}
		t = w.last
	}
	span := max(w.c.Deadline.Sub(t), time.Hour)
	handled := t.Add(time.Minute + within(span))
	if !onTime {
		handled = w.c.Deadline.Add(time.Minute + within(span+24*time.Hour))
	}
	if !handled.After(t) { // a case taken up again after its deadline
		handled = t.Add(minutes(30, 3*24*60))
	}
	if !w.do(grid.ActReport, handled, dept, "") {
		return
	}
	checked := handled.Add(minutes(30, 630))
	if r.IntN(100) < 5 { // not fixed: back to the department
		if !w.do(grid.ActReject, checked, seedActorSupervisor, "not fixed") {
			return
		}
		again := checked.Add(minutes(2*60, 26*60))
		if !w.do(grid.ActReport, again, dept, "") {
			return
		}
		checked = again.Add(minutes(30, 630))
	}
	if !w.do(grid.ActVerify, checked, seedActorSupervisor, "") {
		return
	}
	w.do(grid.ActEvaluate, checked.Add(minutes(24*60, 72*60)), seedActorEvaluator, "")
}

// walk is one case on its way through the lifecycle.
type walk struct {
	c     grid.Case
	last  time.Time // the latest event's time
	end   time.Time
	cal   *grid.Calendar
	trail *seedTrail
}

// do applies action at t and records it, first flagging the case for
// supervision if its deadline passed before t (superviseBefore). At or
// past the end it does nothing and reports false.
func (w *walk) do(action string, t time.Time, actor, note string) bool {
	w.superviseBefore(t)
	if !t.Before(w.end) {
		return false
	}
	return w.apply(action, t, actor, note)
}

// park parks the case at t and takes it up again after d (by the
// dispatcher) if that is before the end.
func (w *walk) park(t time.Time, d time.Duration, actor string) bool {
	return w.do(grid.ActPark, t, actor, "") && w.do(grid.ActUnpark, t.Add(d), seedActorDispatcher, "")
}

// superviseBefore flags an overdue dispatched case for supervision, as the
// service's minute-by-minute check does, if that falls before t: at the
// first minute past both its deadline and its latest event.
func (w *walk) superviseBefore(t time.Time) {
	if w.c.Supervised || w.c.Status != grid.StatusDispatched {
		return
	}
	flag := w.c.Deadline
	if w.last.After(flag) {
		flag = w.last
	}
	flag = flag.Truncate(time.Minute).Add(time.Minute)
	if flag.Before(t) && flag.Before(w.end) {
		w.apply(grid.ActSupervise, flag, seedActorSystem, seedNoteOverdue)
	}
}

func (w *walk) apply(action string, t time.Time, actor, note string) bool {
	if w.trail.err != nil {
		return false
	}
	from := w.c.Status
	if !t.After(w.last) {
		w.trail.err = fmt.Errorf("seed: %s at %s is not after the previous event at %s", action, t, w.last)
		return false
	}
	if err := grid.Apply(&w.c, action, t, w.cal); err != nil {
		w.trail.err = fmt.Errorf("seed: %w", err)
		return false
	}
	w.event(t, action, from, actor, note)
	return true
}

func (w *walk) event(t time.Time, action, from, actor, note string) {
	w.trail.evs = append(w.trail.evs, grid.Event{At: t, Action: action, From: from, To: w.c.Status, Actor: actor, Note: note})
	w.last = t
}
