package httpapi

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/citygrid/citygrid/internal/dispatch"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/locate"
)

// view is what the HTTP layer derives once per grid snapshot: the rule
// resolver over the snapshot's own rules, and JSON fragments of every cell
// and department, so answering a lookup is copying bytes.
type view struct {
	snap      *locate.Snapshot
	res       *dispatch.Resolver
	placeJSON [][]byte          // per cell: "cell":{…},"community":{…},"town":{…},"grid_version":N
	deptJSON  map[string][]byte // "department":{…}
	ruleJSON  map[int64][]byte  // "rule":{… without the closing brace
	maxItem   int               // the longest locate object appendResult writes
}

func newView(s *locate.Snapshot) (*view, error) {
	res, err := dispatch.New(s.Rules, s.Departments, s.Categories)
	if err != nil {
		return nil, err
	}
	v := &view{snap: s, res: res, placeJSON: make([][]byte, len(s.Cells)),
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

// themeCategories lists the categories of a heatmap theme.
func (v *view) themeCategories(theme string) []string {
	var out []string
	for _, c := range v.snap.Categories {
		if c.Theme == theme {
			out = append(out, c.Code)
		}
	}
	return out
}

// categoryFilter reads the category (comma list) and theme parameters into
// one category list: nil when neither is given; with both, the theme's
// categories that were asked for (an empty, non-nil list matches nothing).
func (v *view) categoryFilter(category, theme string) ([]string, error) {
	var cats []string
	if category != "" {
		for _, k := range strings.Split(category, ",") {
			if _, ok := v.res.Category(k); !ok {
				return nil, invalid("category", "%q is not a known category", k)
			}
			cats = append(cats, k)
		}
	}
	if theme != "" {
		th := v.themeCategories(theme)
		if len(th) == 0 {
			return nil, invalid("theme", "%q: want parking, waterlogging or sanitation", theme)
		}
		if cats != nil {
			th = slices.DeleteFunc(th, func(k string) bool { return !slices.Contains(cats, k) })
			if th == nil {
				th = []string{}
			}
		}
		cats = th
	}
	return cats, nil
}

// views caches the view of the last few snapshots; lookups read an
// immutable list without locking.
type views struct {
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
	v, err := newView(s)
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

// resolve locates a WGS84 point and, with a category, finds its owner.
// zones is scratch space reused by the caller; memo, when not nil, carries
// decisions between the points of one batch (one category).
func (v *view) resolve(lon, lat float64, category string, zones []dispatch.ZoneRef, memo cellDecisions) (cell int, d dispatch.Decision, hasDept bool, _ []dispatch.ZoneRef) {
	p := [2]float64{lon, lat}
	cell = v.snap.CellIndex(p)
	if cell < 0 || category == "" {
		return cell, d, false, zones
	}
	zones = zones[:0]
	v.snap.ZonesAt(p, func(z *grid.Zone) { zones = append(zones, dispatch.ZoneRef{Code: z.Code, Kind: z.Kind}) })
	if len(zones) == 0 && memo != nil {
		if m, ok := memo[cell]; ok {
			return cell, m.d, m.ok, zones
		}
	}
	c := &v.snap.Cells[cell]
	d, ok, _ := v.res.Resolve(category, dispatch.Place{Cell: c.Code, Community: c.CommunityCode, Town: c.TownCode, Zones: zones})
	if len(zones) == 0 && memo != nil {
		memo[cell] = cellDecision{d, ok}
	}
	return cell, d, ok, zones
}

// cellDecisions memoizes, within one batch, the owner of the points of a
// cell that lie in no zone: Resolve depends only on the category and the
// place, and a place without zones is its cell's (cell, community, town).
type cellDecisions map[int]cellDecision

type cellDecision struct {
	d  dispatch.Decision
	ok bool
}

// appendResult writes one locate object.
func (v *view) appendResult(b []byte, cell int, d dispatch.Decision, hasDept bool) []byte {
	b = append(b, '{')
	b = append(b, v.placeJSON[cell]...)
	if hasDept {
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
