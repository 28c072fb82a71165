// Package locate is the jurisdiction index: an immutable snapshot of one
// grid version — cells, communities, towns and zones in an R-tree with exact
// point-in-polygon — swapped atomically when the active version changes.
//
// Points on shared edges and vertices: a point covered by several cells
// (boundary included) belongs to the one with the smallest code. Every point
// of the city so resolves to exactly one cell; points outside to none.
package locate

import (
	"sort"
	"sync/atomic"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
	"github.com/tidwall/rtree"
)

// Snapshot is an immutable index of one grid version. Safe for concurrent use.
type Snapshot struct {
	Version     grid.Version
	Cells       []grid.Cell // sorted by code
	Towns       []grid.Town
	Communities []grid.Community
	Boundary    orb.MultiPolygon // the city
	CityName    string
	Synthetic   bool // demo data (grid.City.Synthetic)
	// Reference data read in the same transaction as the grid, so rules
	// and places never come from different moments.
	Rules       []grid.Rule
	Departments []grid.Department
	Categories  []grid.Category
	categories  map[string]*grid.Category
	departments map[string]*grid.Department
	communities map[string]*grid.Community
	towns       map[string]*grid.Town
	Zones       []grid.Zone
	cellTree    rtree.RTreeG[int32] // bounding boxes, for area queries
	cellIdx     *polyIndex          // point → cell, the hot path
	zoneIdx     *polyIndex
	cellIndex   map[string]int32
	cellComm    []*grid.Community // by cell index
	cellTown    []*grid.Town
}

// BucketDegrees is the side of the lookup grid's buckets (about 50 m):
// small enough that most urban buckets lie inside one cell.
const BucketDegrees = 0.0005

// Place is where a point lies: its cell, community, town and zones.
type Place struct {
	Cell      *grid.Cell
	Community *grid.Community
	Town      *grid.Town
}

// Build indexes a grid model. The model is not modified.
func Build(m *grid.Model) (*Snapshot, error) {
	c := m.City
	s := &Snapshot{
		Version:     m.Version,
		Cells:       append([]grid.Cell(nil), c.Cells...),
		Zones:       append([]grid.Zone(nil), c.Zones...),
		Towns:       c.Towns,
		Boundary:    c.Boundary,
		CityName:    c.Name,
		Synthetic:   c.Synthetic,
		Communities: c.Communities,
		Rules:       c.Rules,
		Departments: c.Departments,
		Categories:  c.Categories,
		categories:  make(map[string]*grid.Category, len(c.Categories)),
		departments: make(map[string]*grid.Department, len(c.Departments)),
		communities: make(map[string]*grid.Community, len(c.Communities)),
		towns:       make(map[string]*grid.Town, len(c.Towns)),
		cellIndex:   make(map[string]int32, len(c.Cells)),
	}
	sort.Slice(s.Cells, func(i, j int) bool { return s.Cells[i].Code < s.Cells[j].Code })
	for i := range s.Categories {
		s.categories[s.Categories[i].Code] = &s.Categories[i]
	}
	for i := range s.Departments {
		s.departments[s.Departments[i].Code] = &s.Departments[i]
	}
	for i := range c.Towns {
		t := c.Towns[i]
		s.towns[t.Code] = &t
	}
	for i := range c.Communities {
		m := c.Communities[i]
		s.communities[m.Code] = &m
	}
	for i := range s.Cells {
		x := &s.Cells[i]
		if _, ok := s.communities[x.CommunityCode]; !ok {
			return nil, grid.Errorf(grid.Invalid, "cell %s: community %s is not in the grid", x.Code, x.CommunityCode)
		}
		if _, ok := s.towns[x.TownCode]; !ok {
			return nil, grid.Errorf(grid.Invalid, "cell %s: town %s is not in the grid", x.Code, x.TownCode)
		}
		s.cellComm = append(s.cellComm, s.communities[x.CommunityCode])
		s.cellTown = append(s.cellTown, s.towns[x.TownCode])
		b := x.Geometry.Bound()
		s.cellTree.Insert(b.Min, b.Max, int32(i))
		s.cellIndex[x.Code] = int32(i)
	}
	cells := make([]orb.MultiPolygon, len(s.Cells))
	for i := range s.Cells {
		cells[i] = s.Cells[i].Geometry
	}
	zones := make([]orb.MultiPolygon, len(s.Zones))
	for i := range s.Zones {
		zones[i] = s.Zones[i].Geometry
	}
	s.cellIdx = newPolyIndex(cells, BucketDegrees)
	s.zoneIdx = newPolyIndex(zones, BucketDegrees)
	return s, nil
}

// CellIndex finds the cell containing p (WGS84), by the smallest-code rule
// on shared boundaries; -1 when p is outside every cell.
func (s *Snapshot) CellIndex(p orb.Point) int {
	return s.cellIdx.first(p[0], p[1])
}

// CellIndexBrute is CellIndex by R-tree and orb/planar alone: the plain
// method the fast index is checked against.
func (s *Snapshot) CellIndexBrute(p orb.Point) int {
	best := int32(-1)
	s.cellTree.Search(p, p, func(_, _ [2]float64, i int32) bool {
		if (best < 0 || i < best) && planar.MultiPolygonContains(s.Cells[i].Geometry, p) {
			best = i
		}
		return true
	})
	return int(best)
}

// CellsIn calls fn for every cell whose bounding box meets b.
func (s *Snapshot) CellsIn(b orb.Bound, fn func(c *grid.Cell) bool) {
	s.cellTree.Search(b.Min, b.Max, func(_, _ [2]float64, i int32) bool { return fn(&s.Cells[i]) })
}

// CellsMeeting calls fn for every cell whose polygon meets g (boundary
// included): the cells that hold every point of g the grid covers, so a
// spatial filter on incidents can go through their cell codes.
func (s *Snapshot) CellsMeeting(g orb.Geometry, fn func(c *grid.Cell) bool) {
	b := g.Bound()
	s.cellTree.Search(b.Min, b.Max, func(_, _ [2]float64, i int32) bool {
		if grid.GeometriesIntersect(s.Cells[i].Geometry, g) {
			return fn(&s.Cells[i])
		}
		return true
	})
}

// Locate resolves p to its place; ok is false outside the managed area.
func (s *Snapshot) Locate(p orb.Point) (Place, bool) {
	i := s.CellIndex(p)
	if i < 0 {
		return Place{}, false
	}
	return Place{Cell: &s.Cells[i], Community: s.cellComm[i], Town: s.cellTown[i]}, true
}

// ZonesAt calls fn for every zone covering p (boundary included).
func (s *Snapshot) ZonesAt(p orb.Point, fn func(z *grid.Zone)) {
	s.zoneIdx.each(p[0], p[1], func(i int) { fn(&s.Zones[i]) })
}

// CellByCode returns a cell of this snapshot.
func (s *Snapshot) CellByCode(code string) (*grid.Cell, bool) {
	i, ok := s.cellIndex[code]
	if !ok {
		return nil, false
	}
	return &s.Cells[i], true
}

// Community returns a community of this snapshot.
func (s *Snapshot) Community(code string) *grid.Community { return s.communities[code] }

// Town returns a town of this snapshot.
func (s *Snapshot) Town(code string) *grid.Town { return s.towns[code] }

// Category returns a category known to this snapshot's reference data.
func (s *Snapshot) Category(code string) (*grid.Category, bool) {
	c, ok := s.categories[code]
	return c, ok
}

// Department returns a department known to this snapshot's reference data.
func (s *Snapshot) Department(code string) (*grid.Department, bool) {
	d, ok := s.departments[code]
	return d, ok
}

// ThemeCategories lists the category codes of a heatmap theme, in the
// order of the reference data; nil for an unknown theme.
func (s *Snapshot) ThemeCategories(theme string) []string {
	var out []string
	for _, c := range s.Categories {
		if c.Theme == theme {
			out = append(out, c.Code)
		}
	}
	return out
}

// Index holds the current snapshot; readers never block and see either the
// old or the new snapshot whole.
type Index struct {
	cur atomic.Pointer[Snapshot]
}

// Current returns the snapshot in force, or nil before the first Swap.
func (x *Index) Current() *Snapshot { return x.cur.Load() }

// Swap installs s and returns the snapshot it replaced.
func (x *Index) Swap(s *Snapshot) *Snapshot { return x.cur.Swap(s) }
