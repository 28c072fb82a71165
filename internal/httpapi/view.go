package httpapi

import (
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/intake"
	"github.com/citygrid/citygrid/internal/locate"
)

// view is what the HTTP layer derives once per grid snapshot: the
// assignment service over the snapshot's own rules, and JSON fragments of
// every cell and department, so answering a lookup is copying bytes.
type view struct {
	snap      *locate.Snapshot
	assign    *intake.Assigner
	placeJSON [][]byte          // per cell: "cell":{…},"community":{…},"town":{…},"grid_version":N
	deptJSON  map[string][]byte // "department":{…}
	ruleJSON  map[int64][]byte  // "rule":{… without the closing brace
	maxItem   int               // the longest locate object appendResult writes
}

func newView(s *locate.Snapshot, cal *grid.Calendar) (*view, error) {
	a, err := intake.New(s, cal)
	if err != nil {
		return nil, err
	}
	v := &view{snap: s, assign: a, placeJSON: make([][]byte, len(s.Cells)),
		deptJSON: map[string][]byte{}, ruleJSON: map[int64][]byte{}}
	cn := func(b []byte, key, code, name string) []byte {
		b = append(b, '"')
		b = append(b, key...)
		b = append(b, `":{"code":`...)
		b = appendJSONString(b, code)
		b = append(b, `,"name":`...)
		b = appendJSONString(b, name)
		return append(b, '}')
	}
	for i := range s.Cells {
		c := &s.Cells[i]
		b := cn(nil, "cell", c.Code, c.Name)
		b = append(b, ',')
		if m := s.Community(c.CommunityCode); m != nil {
			b = cn(b, "community", m.Code, m.Name)
		}
		b = append(b, ',')
		if t := s.Town(c.TownCode); t != nil {
			b = cn(b, "town", t.Code, t.Name)
		}
		b = append(b, `,"grid_version":`...)
		b = strconv.AppendInt(b, s.Version.ID, 10)
		v.placeJSON[i] = b
	}
	for _, d := range s.Departments {
		v.deptJSON[d.Code] = cn(nil, "department", d.Code, d.Name)
	}
	for _, r := range s.Rules {
		b := []byte(`"rule":{"id":`)
		b = strconv.AppendInt(b, r.ID, 10)
		b = append(b, `,"pattern":`...)
		b = appendJSONString(b, r.Pattern)
		b = append(b, `,"scope":`...)
		b = appendJSONString(b, r.Scope)
		if r.ScopeCode != "" {
			b = append(b, `,"scope_code":`...)
			b = appendJSONString(b, r.ScopeCode)
		}
		b = append(b, `,"priority":`...)
		b = strconv.AppendInt(b, int64(r.Priority), 10)
		b = append(b, `,"fallback":`...)
		b = strconv.AppendBool(b, r.Fallback)
		v.ruleJSON[r.ID] = b
	}
	// The batch sizes its answer by the longest item: place, department,
	// rule, a zone code (at most 32 characters), braces and commas.
	var place, dept, rule int
	for _, b := range v.placeJSON {
		place = max(place, len(b))
	}
	for _, b := range v.deptJSON {
		dept = max(dept, len(b))
	}
	for _, b := range v.ruleJSON {
		rule = max(rule, len(b))
	}
	v.maxItem = place + dept + rule + len(`{,,,"zone":""}}`) + 32
	return v, nil
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// views caches the view of the last few snapshots; lookups read an
// immutable list without locking.
type views struct {
	cal  *grid.Calendar
	list atomic.Pointer[[]*view]
	mu   sync.Mutex
}

func (vs *views) get(s *locate.Snapshot) (*view, error) {
	if l := vs.list.Load(); l != nil {
		for _, v := range *l {
			if v.snap == s {
				return v, nil
			}
		}
	}
	vs.mu.Lock()
	defer vs.mu.Unlock()
	var cur []*view
	if l := vs.list.Load(); l != nil {
		cur = *l
		for _, v := range cur {
			if v.snap == s {
				return v, nil
			}
		}
	}
	v, err := newView(s, vs.cal)
	if err != nil {
		return nil, err
	}
	next := append([]*view{v}, cur...)
	if len(next) > 6 {
		next = next[:6]
	}
	vs.list.Store(&next)
	return v, nil
}

// appendResult writes one locate object.
func (v *view) appendResult(b []byte, cell int, o intake.Owner) []byte {
	b = append(b, '{')
	b = append(b, v.placeJSON[cell]...)
	if o.OK {
		d := o.Decision
		b = append(b, ',')
		b = append(b, v.deptJSON[d.Department.Code]...)
		b = append(b, ',')
		b = append(b, v.ruleJSON[d.Rule.ID]...)
		if d.ZoneCode != "" {
			// Zone codes are [A-Za-z0-9_-] (a table constraint): no escaping.
			b = append(b, `,"zone":"`...)
			b = append(b, d.ZoneCode...)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}
