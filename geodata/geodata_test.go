package geodata

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/citygrid/citygrid/internal/dispatch"
	"github.com/citygrid/citygrid/internal/grid"
)

var (
	cityOnce sync.Once
	cityVal  *grid.City
	cityErr  error
)

func testCity(tb testing.TB) *grid.City {
	tb.Helper()
	cityOnce.Do(func() { cityVal, cityErr = Linhai() })
	if cityErr != nil {
		tb.Fatal(cityErr)
	}
	return cityVal
}

var realTowns = map[string]string{
	"331082001": "古城街道", "331082002": "大洋街道", "331082003": "江南街道", "331082004": "大田街道",
	"331082005": "邵家渡街道", "331082100": "汛桥镇", "331082101": "东塍镇", "331082103": "汇溪镇",
	"331082104": "小芝镇", "331082105": "河头镇", "331082106": "白水洋镇", "331082107": "括苍镇",
	"331082108": "永丰镇", "331082109": "尤溪镇", "331082110": "涌泉镇", "331082111": "沿江镇",
	"331082112": "杜桥镇", "331082113": "上盘镇", "331082114": "桃渚镇",
}

func TestLinhaiCounts(t *testing.T) {
	c := testCity(t)
	if !c.Synthetic || c.Code != grid.CountyCode || c.Name != "临海市" {
		t.Fatalf("city %s %s synthetic=%v", c.Code, c.Name, c.Synthetic)
	}
	if len(c.Towns) != 19 {
		t.Fatalf("%d towns", len(c.Towns))
	}
	for _, tw := range c.Towns {
		if realTowns[tw.Code] != tw.Name {
			t.Errorf("town %s %s: not a real town of Linhai", tw.Code, tw.Name)
		}
		want := "town"
		if tw.Code <= "331082005" {
			want = "street"
		}
		if tw.Kind != want {
			t.Errorf("town %s: kind %q, want %q", tw.Code, tw.Kind, want)
		}
	}
	if len(c.Cells) != 2213 {
		t.Errorf("%d cells, want 2213", len(c.Cells))
	}
	perTown := map[string]int{}
	for _, m := range c.Communities {
		perTown[m.TownCode]++
	}
	for _, tw := range c.Towns {
		n := perTown[tw.Code]
		lo, hi := 10, 25
		if tw.Kind == "street" {
			lo, hi = 8, 20
		}
		if n < lo || n > hi {
			t.Errorf("town %s: %d communities, want %d–%d", tw.Name, n, lo, hi)
		}
	}

	functional, townDepts := 0, map[string]bool{}
	for _, d := range c.Departments {
		switch d.Kind {
		case grid.DeptFunctional:
			functional++
		case grid.DeptTown:
			if realTowns[d.TownCode] == "" || townDepts[d.TownCode] {
				t.Errorf("town department %s: town %q", d.Code, d.TownCode)
			}
			townDepts[d.TownCode] = true
		default:
			t.Errorf("department %s: kind %q", d.Code, d.Kind)
		}
	}
	if functional != 38 || len(townDepts) != 19 {
		t.Errorf("%d functional departments (want 38), %d town offices (want 19)", functional, len(townDepts))
	}

	specific, fallback := 0, 0
	ids := map[int64]bool{}
	deptOf := map[string]grid.Department{}
	for _, d := range c.Departments {
		deptOf[d.Code] = d
	}
	withRule := map[string]bool{}
	scopes := map[string]bool{}
	for _, r := range c.Rules {
		if ids[r.ID] || r.ID < 1 || r.ID > 140 {
			t.Errorf("rule id %d: duplicate or out of 1..140", r.ID)
		}
		ids[r.ID] = true
		scopes[r.Scope] = true
		if r.Fallback {
			fallback++
			d := deptOf[r.Department]
			if r.Pattern != "*" || r.Scope != grid.ScopeTown || realTowns[r.ScopeCode] == "" || d.Kind != grid.DeptTown || d.TownCode != r.ScopeCode {
				t.Errorf("fallback rule %d: %+v", r.ID, r)
			}
			continue
		}
		specific++
		withRule[r.Department] = true
	}
	if specific != 121 || fallback != 19 {
		t.Errorf("%d rules and %d fallbacks, want 121 and 19", specific, fallback)
	}
	for _, d := range c.Departments {
		if d.Kind == grid.DeptFunctional && !withRule[d.Code] {
			t.Errorf("department %s %s holds no rule", d.Code, d.Name)
		}
	}
	for _, s := range []string{grid.ScopeCity, grid.ScopeZoneKind, grid.ScopeZone, grid.ScopeTown, grid.ScopeCommunity, grid.ScopeCell} {
		if !scopes[s] {
			t.Errorf("no rule of scope %s", s)
		}
	}

	kinds := map[string]int{}
	for _, f := range c.Facilities {
		kinds[f.Kind]++
	}
	if kinds[grid.FacilityCamera] != 4097 || kinds[grid.FacilityGasCompany] != 7 || kinds[grid.FacilityGasPoint] != 21 {
		t.Errorf("facilities: %v", kinds)
	}
	for k, rng := range map[string][2]int{grid.FacilityToilet: {120, 180}, grid.FacilityTransferStation: {30, 50}, grid.FacilityWaterlogSensor: {50, 70}} {
		if n := kinds[k]; n < rng[0] || n > rng[1] {
			t.Errorf("%d %s, want %d–%d", n, k, rng[0], rng[1])
		}
	}

	zk := map[string]int{}
	for _, z := range c.Zones {
		zk[z.Kind]++
	}
	if zk[grid.ZoneUrbanCore] != 1 || zk[grid.ZoneScenicArea] != 1 || zk[grid.ZonePark] < 6 || zk[grid.ZoneArterialRoad] < 8 || zk[grid.ZoneRiverBank] < 3 {
		t.Errorf("zones: %v", zk)
	}
}

func TestCodes(t *testing.T) {
	c := testCity(t)
	seen := map[string]bool{}
	unique := func(what, code string) {
		if seen[what+code] {
			t.Errorf("%s %s: duplicate", what, code)
		}
		seen[what+code] = true
	}
	towns := map[string]bool{}
	for _, tw := range c.Towns {
		if !grid.ValidTownCode(tw.Code) || !strings.HasPrefix(tw.Code, grid.CountyCode) {
			t.Errorf("town code %s", tw.Code)
		}
		unique("town", tw.Code)
		towns[tw.Code] = true
	}
	comms := map[string]grid.Community{}
	for _, m := range c.Communities {
		if !grid.ValidCommunityCode(m.Code) || !strings.HasPrefix(m.Code, m.TownCode) || !towns[m.TownCode] {
			t.Errorf("community %s in town %s", m.Code, m.TownCode)
		}
		if !strings.HasSuffix(m.Name, "社区") && !strings.HasSuffix(m.Name, "村") {
			t.Errorf("community %s: name %q", m.Code, m.Name)
		}
		unique("community", m.Code)
		comms[m.Code] = m
	}
	cells := map[string]bool{}
	for _, x := range c.Cells {
		if err := grid.CheckCellCode(x.Code, x.CommunityCode); err != nil {
			t.Error(err)
		}
		m, ok := comms[x.CommunityCode]
		if !ok || m.TownCode != x.TownCode || !strings.HasPrefix(x.Code, x.TownCode) {
			t.Errorf("cell %s: community %s, town %s", x.Code, x.CommunityCode, x.TownCode)
		}
		if !strings.HasPrefix(x.Name, realTowns[x.TownCode]+"-"+m.Name+"-第") || !strings.HasSuffix(x.Name, "网格") {
			t.Errorf("cell %s: name %q", x.Code, x.Name)
		}
		unique("cell", x.Code)
		cells[x.Code] = true
	}
	zones := map[string]bool{}
	for _, z := range c.Zones {
		if grid.ZoneKindRank(z.Kind) == 0 || z.Code == "" || z.Name == "" {
			t.Errorf("zone %s %s: kind %q", z.Code, z.Name, z.Kind)
		}
		unique("zone", z.Code)
		zones[z.Code] = true
	}
	cats := map[string]grid.Category{}
	for _, x := range c.Categories {
		if !grid.ValidCategoryCode(x.Code) || x.Limit <= 0 || (x.Unit != grid.WorkingHours && x.Unit != grid.WorkingDays) || x.Name == "" || x.MajorName == "" {
			t.Errorf("category %+v", x)
		}
		unique("category", x.Code)
		cats[x.Code] = x
	}
	for _, code := range strings.Fields(`E0101 E0102 E0103 E0104 E0105 E0106 E0201 E0301 E0302 E0401 E0402 E0403
		E0404 E0405 E0406 E0407 E0501 E0502 E0503 E0504 E0505 E0506 P0101 P0301`) {
		if _, ok := cats[code]; !ok {
			t.Errorf("category %s missing", code)
		}
	}
	themes := map[string]string{"E0505": "parking", "E0506": "parking", "E0406": "waterlogging",
		"E0102": "sanitation", "E0103": "sanitation", "E0104": "sanitation", "P0301": "sanitation"}
	for code, x := range cats {
		if x.Theme != themes[code] {
			t.Errorf("category %s: theme %q, want %q", code, x.Theme, themes[code])
		}
	}
	for code, want := range map[string][2]any{"E0102": {4, grid.WorkingHours}, "E0406": {4, grid.WorkingHours}, "E0101": {15, grid.WorkingDays}} {
		if x := cats[code]; x.Limit != want[0] || x.Unit != want[1] {
			t.Errorf("category %s: limit %d %s", code, x.Limit, x.Unit)
		}
	}
	depts := map[string]bool{}
	for _, d := range c.Departments {
		unique("department", d.Code)
		depts[d.Code] = true
	}
	for _, r := range c.Rules {
		if !grid.ValidPattern(r.Pattern) || !depts[r.Department] {
			t.Errorf("rule %d: pattern %q department %q", r.ID, r.Pattern, r.Department)
		}
		ok := false
		switch r.Scope {
		case grid.ScopeCity:
			ok = r.ScopeCode == ""
		case grid.ScopeZoneKind:
			ok = grid.ZoneKindRank(r.ScopeCode) > 0
		case grid.ScopeZone:
			ok = zones[r.ScopeCode]
		case grid.ScopeTown:
			ok = towns[r.ScopeCode]
		case grid.ScopeCommunity:
			_, ok = comms[r.ScopeCode]
		case grid.ScopeCell:
			ok = cells[r.ScopeCode]
		}
		if !ok {
			t.Errorf("rule %d: scope %s %q", r.ID, r.Scope, r.ScopeCode)
		}
	}
	companies := map[string]int{}
	for _, f := range c.Facilities {
		unique("facility", f.Code)
		if f.Kind == grid.FacilityGasCompany {
			companies[f.Code] = 0
		}
	}
	for _, f := range c.Facilities {
		switch f.Kind {
		case grid.FacilityGasPoint:
			if _, ok := companies[f.Attrs["company"]]; !ok {
				t.Errorf("gas point %s: company %q", f.Code, f.Attrs["company"])
			}
			companies[f.Attrs["company"]]++
		case grid.FacilityCamera:
			if f.Attrs["direction"] == "" || f.Attrs["owner"] == "" {
				t.Errorf("camera %s: attrs %v", f.Code, f.Attrs)
			}
		}
		if f.Name == "" {
			t.Errorf("facility %s: no name", f.Code)
		}
	}
	for code, n := range companies {
		if n != 3 {
			t.Errorf("gas company %s: %d points, want 3", code, n)
		}
	}
}

// micro converts a ring to integer micro-degrees; the files hold 6 decimals.
func micro(r orb.Ring) [][2]int64 {
	out := make([][2]int64, len(r))
	for i, p := range r {
		out[i] = [2]int64{int64(math.Round(p[0] * 1e6)), int64(math.Round(p[1] * 1e6))}
	}
	return out
}

func orient(a, b, c [2]int64) int64 {
	v := (b[0]-a[0])*(c[1]-a[1]) - (b[1]-a[1])*(c[0]-a[0])
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

func onSeg(a, b, p [2]int64) bool {
	return min(a[0], b[0]) <= p[0] && p[0] <= max(a[0], b[0]) && min(a[1], b[1]) <= p[1] && p[1] <= max(a[1], b[1])
}

func segsMeet(a, b, c, d [2]int64) bool {
	o1, o2, o3, o4 := orient(a, b, c), orient(a, b, d), orient(c, d, a), orient(c, d, b)
	if o1 != o2 && o3 != o4 {
		return true
	}
	return (o1 == 0 && onSeg(a, b, c)) || (o2 == 0 && onSeg(a, b, d)) || (o3 == 0 && onSeg(c, d, a)) || (o4 == 0 && onSeg(c, d, b))
}

// simpleRing reports whether a closed ring is simple: segments meet only
// where consecutive ones share their vertex.
func simpleRing(r [][2]int64) bool {
	n := len(r) - 1
	seen := map[[2]int64]bool{}
	for _, p := range r[:n] {
		if seen[p] {
			return false
		}
		seen[p] = true
	}
	for i := 0; i < n; i++ {
		a, b := r[i], r[i+1]
		for j := i + 1; j < n; j++ {
			c, d := r[j], r[j+1]
			if max(a[0], b[0]) < min(c[0], d[0]) || max(c[0], d[0]) < min(a[0], b[0]) ||
				max(a[1], b[1]) < min(c[1], d[1]) || max(c[1], d[1]) < min(a[1], b[1]) {
				continue
			}
			if j == i+1 || (i == 0 && j == n-1) {
				// the shared vertex is the only common point unless they fold back
				p, q, s := b, a, d
				if j != i+1 {
					p, q, s = a, b, c
				}
				if orient(p, q, s) == 0 && (q[0]-p[0])*(s[0]-p[0])+(q[1]-p[1])*(s[1]-p[1]) > 0 {
					return false
				}
				continue
			}
			if segsMeet(a, b, c, d) {
				return false
			}
		}
	}
	return true
}

func checkPolygon(t *testing.T, what string, g orb.MultiPolygon) {
	t.Helper()
	if len(g) != 1 || len(g[0]) != 1 {
		t.Errorf("%s: want one polygon with one ring", what)
		return
	}
	r := g[0][0]
	if len(r) < 4 || !r.Closed() {
		t.Errorf("%s: ring of %d points, closed=%v", what, len(r), r.Closed())
		return
	}
	if r.Orientation() != orb.CCW {
		t.Errorf("%s: exterior ring not counter-clockwise", what)
	}
	if !simpleRing(micro(r)) {
		t.Errorf("%s: ring not simple", what)
	}
}

func TestGeometryValid(t *testing.T) {
	c := testCity(t)
	checkPolygon(t, "boundary", c.Boundary)
	b := c.Boundary.Bound()
	if b.Min[0] < 120.83 || b.Max[0] > 121.71 || b.Min[1] < 28.66 || b.Max[1] > 29.07 {
		t.Errorf("boundary %v outside Linhai's mainland extent", b)
	}
	km2 := planar.Area(c.Boundary) * 111.32 * 110.83 * math.Cos(28.86*math.Pi/180)
	if km2 < 1500 || km2 > 2200 {
		t.Errorf("city area %.0f km²", km2)
	}
	for _, x := range c.Towns {
		checkPolygon(t, "town "+x.Code, x.Geometry)
	}
	for _, x := range c.Communities {
		checkPolygon(t, "community "+x.Code, x.Geometry)
	}
	for _, x := range c.Cells {
		checkPolygon(t, "cell "+x.Code, x.Geometry)
	}
	for _, z := range c.Zones {
		checkPolygon(t, "zone "+z.Code, z.Geometry)
		for _, p := range z.Geometry[0][0] {
			if !planar.MultiPolygonContains(c.Boundary, p) {
				t.Errorf("zone %s: vertex %v outside the city", z.Code, p)
				break
			}
		}
		if ringsMeet(micro(z.Geometry[0][0]), micro(c.Boundary[0][0])) {
			t.Errorf("zone %s crosses the city boundary", z.Code)
		}
	}
}

type edgeKey [2][2]int64

// checkTiling verifies that parts tile a whole exactly: every edge of a
// part is either shared, reversed, with exactly one other part, or is an
// edge of the whole with the same direction, and every edge of the whole is
// used once. Together with simple, counter-clockwise rings this rules out
// gaps, overlaps and T-junctions.
func checkTiling(t *testing.T, what string, whole orb.Ring, parts []orb.Ring) {
	t.Helper()
	outer := map[edgeKey]int{}
	w := micro(whole)
	for i := 0; i+1 < len(w); i++ {
		outer[edgeKey{w[i], w[i+1]}]++
	}
	inner := map[edgeKey]int{}
	for _, p := range parts {
		r := micro(p)
		for i := 0; i+1 < len(r); i++ {
			inner[edgeKey{r[i], r[i+1]}]++
		}
	}
	for e, n := range inner {
		rev := edgeKey{e[1], e[0]}
		switch {
		case n != 1:
			t.Errorf("%s: edge %v used %d times", what, e, n)
		case outer[e] == 1:
			outer[e] = -1 // matched
		case inner[rev] == 1:
		default:
			t.Errorf("%s: edge %v has no neighbour and is not on the outline", what, e)
			return
		}
	}
	for e, n := range outer {
		if n != -1 {
			t.Errorf("%s: outline edge %v not covered", what, e)
			return
		}
	}
	sum := 0.0
	for _, p := range parts {
		_, a := planar.CentroidArea(p)
		sum += a
	}
	_, a := planar.CentroidArea(whole)
	if math.Abs(sum-a) > 1e-9*a {
		t.Errorf("%s: parts' area %.12g, whole %.12g", what, sum, a)
	}
}

func TestExactTiling(t *testing.T) {
	c := testCity(t)
	cellsOf := map[string][]orb.Ring{}
	for _, x := range c.Cells {
		cellsOf[x.CommunityCode] = append(cellsOf[x.CommunityCode], x.Geometry[0][0])
	}
	commsOf := map[string][]orb.Ring{}
	for _, m := range c.Communities {
		checkTiling(t, "community "+m.Code, m.Geometry[0][0], cellsOf[m.Code])
		commsOf[m.TownCode] = append(commsOf[m.TownCode], m.Geometry[0][0])
	}
	var towns []orb.Ring
	for _, tw := range c.Towns {
		checkTiling(t, "town "+tw.Code, tw.Geometry[0][0], commsOf[tw.Code])
		towns = append(towns, tw.Geometry[0][0])
	}
	checkTiling(t, "city", c.Boundary[0][0], towns)
}

// interiorPoint returns a point strictly inside a polygon: the centroid if
// it is inside, else the middle of the widest inside run of a horizontal
// line through it.
func interiorPoint(g orb.MultiPolygon) orb.Point {
	p, _ := planar.CentroidArea(g)
	if planar.MultiPolygonContains(g, p) {
		return p
	}
	r := g[0][0]
	var xs []float64
	for i := 0; i+1 < len(r); i++ {
		a, b := r[i], r[i+1]
		if (a[1] > p[1]) != (b[1] > p[1]) {
			xs = append(xs, a[0]+(p[1]-a[1])*(b[0]-a[0])/(b[1]-a[1]))
		}
	}
	sort.Float64s(xs)
	best, bw := p, -1.0
	for i := 0; i+1 < len(xs); i += 2 {
		if w := xs[i+1] - xs[i]; w > bw {
			best, bw = orb.Point{(xs[i] + xs[i+1]) / 2, p[1]}, w
		}
	}
	return best
}

func TestNoOverlaps(t *testing.T) {
	c := testCity(t)
	bounds := make([]orb.Bound, len(c.Cells))
	for i, x := range c.Cells {
		bounds[i] = x.Geometry.Bound()
	}
	comms := map[string]orb.MultiPolygon{}
	for _, m := range c.Communities {
		comms[m.Code] = m.Geometry
	}
	towns := map[string]orb.MultiPolygon{}
	for _, tw := range c.Towns {
		towns[tw.Code] = tw.Geometry
	}
	for i, x := range c.Cells {
		p := interiorPoint(x.Geometry)
		n := 0
		for j, y := range c.Cells {
			if bounds[j].Contains(p) && planar.MultiPolygonContains(y.Geometry, p) {
				n++
				if j != i {
					t.Errorf("interior point of cell %s lies in cell %s too", x.Code, y.Code)
				}
			}
		}
		if n != 1 {
			t.Errorf("interior point of cell %s lies in %d cells", x.Code, n)
		}
		if !planar.MultiPolygonContains(comms[x.CommunityCode], p) || !planar.MultiPolygonContains(towns[x.TownCode], p) ||
			!planar.MultiPolygonContains(c.Boundary, p) {
			t.Errorf("cell %s lies outside its community, town or city", x.Code)
		}
	}
}

func TestFacilitiesInside(t *testing.T) {
	c := testCity(t)
	for _, f := range c.Facilities {
		if !planar.MultiPolygonContains(c.Boundary, f.Point) {
			t.Errorf("facility %s at %v outside the city", f.Code, f.Point)
		}
	}
	a, err := LinhaiAnchors()
	if err != nil {
		t.Fatal(err)
	}
	if len(a.CommercialStreets) < 10 || len(a.LowPoints) < 40 || len(a.Markets) < 20 {
		t.Errorf("anchors: %d streets, %d low points, %d markets", len(a.CommercialStreets), len(a.LowPoints), len(a.Markets))
	}
	for _, s := range a.LowPoints {
		if !planar.MultiPolygonContains(c.Boundary, s.Point) {
			t.Errorf("low point %s outside the city", s.Name)
		}
	}
}

func ringsMeet(a, b [][2]int64) bool {
	for i := 0; i+1 < len(a); i++ {
		p, q := a[i], a[i+1]
		for j := 0; j+1 < len(b); j++ {
			r, s := b[j], b[j+1]
			if max(p[0], q[0]) < min(r[0], s[0]) || max(r[0], s[0]) < min(p[0], q[0]) ||
				max(p[1], q[1]) < min(r[1], s[1]) || max(r[1], s[1]) < min(p[1], q[1]) {
				continue
			}
			if segsMeet(p, q, r, s) {
				return true
			}
		}
	}
	return false
}

// polygonsMeet reports whether two simple polygons share any point.
func polygonsMeet(a, b orb.MultiPolygon) bool {
	if !a.Bound().Intersects(b.Bound()) {
		return false
	}
	return ringsMeet(micro(a[0][0]), micro(b[0][0])) ||
		planar.MultiPolygonContains(a, b[0][0][0]) || planar.MultiPolygonContains(b, a[0][0][0])
}

// TestRulesUnambiguous checks, for every category and every cell with every
// combination of the zones meeting it that can share a point, that the
// matching rule of highest precedence is unique: with the towns' fallbacks
// taking part, and among the specific rules alone.
func TestRulesUnambiguous(t *testing.T) {
	c := testCity(t)
	meet := make([][]bool, len(c.Zones))
	for i, a := range c.Zones {
		meet[i] = make([]bool, len(c.Zones))
		for j, b := range c.Zones {
			meet[i][j] = i == j || polygonsMeet(a.Geometry, b.Geometry)
		}
	}
	comms := map[string]string{}
	for _, m := range c.Communities {
		comms[m.Code] = m.TownCode
	}
	places := 0
	for _, cell := range c.Cells {
		var zs []int
		for i, z := range c.Zones {
			if polygonsMeet(cell.Geometry, z.Geometry) {
				zs = append(zs, i)
			}
		}
	subsets:
		for mask := 0; mask < 1<<len(zs); mask++ {
			var in []int
			for k, zi := range zs {
				if mask&(1<<k) == 0 {
					continue
				}
				for _, y := range in {
					if !meet[y][zi] {
						continue subsets
					}
				}
				in = append(in, zi)
			}
			places++
			dp := dispatch.Place{Cell: cell.Code, Community: cell.CommunityCode, Town: cell.TownCode}
			for _, zi := range in {
				dp.Zones = append(dp.Zones, dispatch.ZoneRef{Code: c.Zones[zi].Code, Kind: c.Zones[zi].Kind})
			}
			for _, cat := range c.Categories {
				for _, withFallbacks := range []bool{true, false} {
					top := dispatch.Top(c.Rules, cat.Code, dp, withFallbacks)
					if withFallbacks && len(top) == 0 {
						t.Fatalf("%s in cell %s: no rule", cat.Code, cell.Code)
					}
					if len(top) > 1 {
						t.Fatalf("%s in cell %s with zones %v: rules %d and %d share the top precedence",
							cat.Code, cell.Code, in, top[0].ID, top[1].ID)
					}
				}
			}
		}
	}
	if places < len(c.Cells) {
		t.Fatalf("%d places", places)
	}
}

var testEnd = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func synthHash(t *testing.T, c *grid.City, n int, seed int64) uint64 {
	t.Helper()
	h := fnv.New64a()
	var buf []byte
	err := SynthIncidents(c, n, testEnd, seed, func(s SynthIncident) error {
		buf = buf[:0]
		buf = append(buf, s.Category...)
		buf = append(buf, s.Source...)
		buf = append(buf, s.Description...)
		buf = s.OccurredAt.AppendFormat(buf, time.RFC3339)
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(s.Point[0]))
		buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(s.Point[1]))
		h.Write(buf)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return h.Sum64()
}

func TestSynthDeterministic(t *testing.T) {
	c := testCity(t)
	a, b := synthHash(t, c, 50_000, 7), synthHash(t, c, 50_000, 7)
	if a != b {
		t.Fatal("same seed, different incidents")
	}
	if synthHash(t, c, 50_000, 8) == a {
		t.Fatal("different seeds, same incidents")
	}
}

func TestSynthErrors(t *testing.T) {
	c := testCity(t)
	if err := SynthIncidents(c, -1, testEnd, 1, func(SynthIncident) error { return nil }); grid.KindOf(err) != grid.Invalid {
		t.Errorf("n < 0: %v", err)
	}
	if err := SynthIncidents(&grid.City{}, 1, testEnd, 1, func(SynthIncident) error { return nil }); grid.KindOf(err) != grid.Invalid {
		t.Errorf("no boundary: %v", err)
	}
	stop := errors.New("stop")
	n := 0
	err := SynthIncidents(c, 100, testEnd, 1, func(SynthIncident) error {
		n++
		if n == 10 {
			return stop
		}
		return nil
	})
	if err != stop || n != 10 {
		t.Errorf("emit error: %v after %d", err, n)
	}
}

func TestSynthStructure(t *testing.T) {
	c := testCity(t)
	a, err := LinhaiAnchors()
	if err != nil {
		t.Fatal(err)
	}
	cats := map[string]bool{}
	for _, x := range c.Categories {
		cats[x.Code] = true
	}
	const n = 300_000
	from := testEnd.AddDate(-1, 0, 0)
	ring := c.Boundary[0][0]
	var (
		byCat                    = map[string]int{}
		waterJJAS, waterDJF      int
		work, night              int
		weekday, weekend         int
		parking, parkingNear     int
		water, waterNear         int
		sources                  = map[string]int{}
		outside, bad, seen       int
		days                     = map[time.Weekday]map[string]bool{}
		nearStreet, nearLow      = nearFunc(a.CommercialStreets, 150), nearSpots(a.LowPoints, 300)
		sanitation, sanitationMk int
		nearMarket               = nearSpots(a.Markets, 400)
	)
	err = SynthIncidents(c, n, testEnd, 42, func(s SynthIncident) error {
		byCat[s.Category]++
		sources[s.Source]++
		if !cats[s.Category] || s.Description == "" {
			bad++
		}
		if s.OccurredAt.Before(from) || !s.OccurredAt.Before(testEnd) {
			bad++
		}
		seen++
		if !strictlyInside(ring, s.Point) || (seen%10 == 0 && !planar.MultiPolygonContains(c.Boundary, s.Point)) {
			outside++
		}
		lt := s.OccurredAt.In(time.FixedZone("CST", 8*3600))
		if days[lt.Weekday()] == nil {
			days[lt.Weekday()] = map[string]bool{}
		}
		days[lt.Weekday()][lt.Format("2006-01-02")] = true
		if h := lt.Hour(); h >= 8 && h < 18 {
			work++
		} else if h < 6 {
			night++
		}
		if wd := lt.Weekday(); wd == time.Saturday || wd == time.Sunday {
			weekend++
		} else {
			weekday++
		}
		switch s.Category {
		case "E0406":
			water++
			if nearLow(s.Point) {
				waterNear++
			}
			switch lt.Month() {
			case time.June, time.July, time.August, time.September:
				waterJJAS++
			case time.December, time.January, time.February:
				waterDJF++
			}
		case "E0505", "E0506":
			parking++
			if parking%5 == 0 && nearStreet(s.Point) {
				parkingNear++
			}
		case "E0102", "E0103", "E0104", "P0301":
			sanitation++
			if sanitation%5 == 0 && nearMarket(s.Point) {
				sanitationMk++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if bad > 0 || outside > 0 {
		t.Fatalf("%d incidents with a bad category, time or description; %d points outside the city", bad, outside)
	}
	for _, src := range []string{grid.SourceCollector, grid.SourceCamera, grid.SourceHotline, grid.SourceApp} {
		if sources[src] == 0 {
			t.Errorf("no incidents from %s", src)
		}
	}
	if len(sources) != 4 {
		t.Errorf("sources %v", sources)
	}
	for _, code := range []string{"E0505", "E0506", "E0406", "E0102", "E0103", "E0104", "P0301", "E0201"} {
		if byCat[code] == 0 {
			t.Errorf("no %s incidents", code)
		}
	}
	if byCat["E0505"] < 3*byCat["E0506"] {
		t.Errorf("E0505 %d vs E0506 %d", byCat["E0505"], byCat["E0506"])
	}
	// per day: Jun–Sep has 122 days, Dec–Feb about 90
	if float64(waterJJAS)/122 < 4*float64(waterDJF)/90 {
		t.Errorf("water-logging: %d in Jun–Sep vs %d in Dec–Feb", waterJJAS, waterDJF)
	}
	if work < 4*night {
		t.Errorf("%d incidents in working hours vs %d at night", work, night)
	}
	wdDays, weDays := 0, 0
	for wd, ds := range days {
		if wd == time.Saturday || wd == time.Sunday {
			weDays += len(ds)
		} else {
			wdDays += len(ds)
		}
	}
	if float64(weekday)/float64(wdDays) < 1.15*float64(weekend)/float64(weDays) {
		t.Errorf("weekday rate %.0f/day vs weekend %.0f/day", float64(weekday)/float64(wdDays), float64(weekend)/float64(weDays))
	}
	if f := float64(parkingNear) / float64(parking/5); f < 0.6 {
		t.Errorf("only %.0f%% of parking incidents near a commercial street", 100*f)
	}
	if f := float64(waterNear) / float64(water); f < 0.7 {
		t.Errorf("only %.0f%% of water-logging incidents near a low point", 100*f)
	}
	if f := float64(sanitationMk) / float64(sanitation/5); f < 0.3 {
		t.Errorf("only %.0f%% of sanitation incidents near a market", 100*f)
	}
}

const mPerDeg = 111_320.0

// strictlyInside is a plain even–odd test that also rejects points on an edge.
func strictlyInside(r orb.Ring, p orb.Point) bool {
	in := false
	for i := 0; i+1 < len(r); i++ {
		a, b := r[i], r[i+1]
		cross := (b[0]-a[0])*(p[1]-a[1]) - (b[1]-a[1])*(p[0]-a[0])
		if cross == 0 && min(a[0], b[0]) <= p[0] && p[0] <= max(a[0], b[0]) && min(a[1], b[1]) <= p[1] && p[1] <= max(a[1], b[1]) {
			return false
		}
		if (a[1] > p[1]) != (b[1] > p[1]) && p[0] < a[0]+(p[1]-a[1])*(b[0]-a[0])/(b[1]-a[1]) {
			in = !in
		}
	}
	return in
}

func nearSpots(spots []Spot, m float64) func(orb.Point) bool {
	return func(p orb.Point) bool {
		for _, s := range spots {
			dx := (p[0] - s.Point[0]) * mPerDeg * math.Cos(p[1]*math.Pi/180)
			dy := (p[1] - s.Point[1]) * mPerDeg
			if dx*dx+dy*dy < m*m {
				return true
			}
		}
		return false
	}
}

func nearFunc(streets []Street, m float64) func(orb.Point) bool {
	return func(p orb.Point) bool {
		k := math.Cos(p[1] * math.Pi / 180)
		for _, s := range streets {
			for i := 1; i < len(s.Line); i++ {
				a, b := s.Line[i-1], s.Line[i]
				q := orb.Point{p[0] * k, p[1]}
				d := planar.DistanceFromSegment(orb.Point{a[0] * k, a[1]}, orb.Point{b[0] * k, b[1]}, q)
				if d*mPerDeg < m {
					return true
				}
			}
		}
		return false
	}
}

func BenchmarkSynthIncidents(b *testing.B) {
	c := testCity(b)
	n := 0
	b.ResetTimer()
	err := SynthIncidents(c, b.N, testEnd, 1, func(SynthIncident) error { n++; return nil })
	if err != nil || n != b.N {
		b.Fatal(err, n)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "incidents/s")
}

func BenchmarkLinhai(b *testing.B) {
	for b.Loop() {
		if _, err := Linhai(); err != nil {
			b.Fatal(err)
		}
	}
}
