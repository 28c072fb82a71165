package geodata

import (
	"math"
	"math/bits"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/citygrid/citygrid/internal/grid"
)

// SynthIncident is one synthetic reported problem.
type SynthIncident struct {
	Category    string
	Point       orb.Point // WGS84, strictly inside the city boundary
	OccurredAt  time.Time // in China Standard Time (UTC+8)
	Source      string    // collector, camera, hotline or app
	Description string
}

// SynthIncidents generates n synthetic incidents over the 12 months before
// end and hands each to emit, stopping at emit's first error (returned as
// is). The history has structure a planner would recognise: illegal parking
// (E0505, some E0506) along the commercial streets of the urban core and
// town seats; road water-logging (E0406) at low points, peaking in the plum
// rains (梅雨, June) and the typhoon season (August–September) with a few
// storm days; sanitation (E0102, E0103, E0104 and overflowing bins P0301)
// around markets and villages; a background of other classes spread over the
// cells (so denser where cells are small). Reports cluster in working hours
// and on weekdays, by source. The output depends only on (city, n, end,
// seed). Generation allocates nothing per incident.
//
// Errors: grid.Invalid for n < 0 or a city without a boundary; whatever
// emit returns.
func SynthIncidents(city *grid.City, n int, end time.Time, seed int64, emit func(SynthIncident) error) error {
	if n < 0 {
		return grid.Errorf(grid.Invalid, "synthetic incidents: n = %d", n)
	}
	if city == nil || len(city.Boundary) == 0 {
		return grid.Errorf(grid.Invalid, "synthetic incidents: the city has no boundary")
	}
	if n == 0 {
		return nil
	}
	anchors, err := LinhaiAnchors()
	if err != nil {
		return err
	}
	s, err := newSynth(city, anchors, end, seed)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		if err := emit(s.next()); err != nil {
			return err
		}
	}
	return nil
}

// Theme groups of the generator.
const (
	gParking = iota
	gWater
	gSanitation
	gWinter
	gOther
	nGroups
)

// Where a point is drawn.
const (
	kStreet = iota
	kLow
	kMarket
	kVillage
	kCell
	nKinds
)

var sources = [4]string{grid.SourceCollector, grid.SourceCamera, grid.SourceHotline, grid.SourceApp}

type catDef struct {
	code   string
	group  int
	weight float64
	descs  []string
}

var synthCats = []catDef{
	{"E0505", gParking, 80, []string{"机动车占用人行道停放", "机动车违停占用消防通道", "路口机动车乱停放", "车辆占道停放影响通行"}},
	{"E0506", gParking, 20, []string{"共享单车乱停放", "电动自行车占用盲道", "非机动车堆放堵塞通道"}},
	{"E0406", gWater, 100, []string{"道路积水约20厘米", "下穿通道积水车辆无法通行", "路口积水影响通行", "强降雨后路面积水"}},
	{"E0102", gSanitation, 40, []string{"路边暴露垃圾未清运", "垃圾散落路面", "生活垃圾堆放在绿化带"}},
	{"E0103", gSanitation, 20, []string{"建筑垃圾堆积", "渣土堆放未覆盖", "积存垃圾散发异味"}},
	{"E0104", gSanitation, 25, []string{"路面油污未清理", "市场周边道路不洁", "路面泥浆污染"}},
	{"P0301", gSanitation, 15, []string{"垃圾箱满溢", "垃圾桶满溢未及时清运", "果皮箱破损满溢"}},
	{"E0407", gWinter, 100, []string{"桥面结冰", "道路积雪结冰"}},
	{"E0101", gOther, 4, []string{"违规搭建雨棚", "屋顶违章加层", "私自圈占公共用地搭建"}},
	{"E0105", gOther, 2, []string{"河道漂浮垃圾", "水面漂浮物"}},
	{"E0106", gOther, 3, []string{"绿地内垃圾杂物", "绿化带被踩踏脏乱"}},
	{"E0201", gOther, 8, []string{"电线杆张贴小广告", "墙面喷涂小广告", "散发非法小广告"}},
	{"E0301", gOther, 3, []string{"夜间施工噪声扰民", "工地违规夜间作业"}},
	{"E0302", gOther, 3, []string{"工地未覆盖扬尘", "渣土车带泥上路"}},
	{"E0401", gOther, 1, []string{"路面塌陷", "人行道局部下沉"}},
	{"E0402", gOther, 1, []string{"自来水管破裂漏水", "消防栓漏水"}},
	{"E0403", gOther, 0.3, []string{"燃气管道泄漏气味"}},
	{"E0404", gOther, 2, []string{"下水道堵塞冒水", "雨水口堵塞"}},
	{"E0405", gOther, 1, []string{"架空线缆脱落", "通信线缆垂落"}},
	{"E0501", gOther, 5, []string{"流动摊贩占道经营", "无照游商兜售"}},
	{"E0502", gOther, 1, []string{"流浪乞讨人员"}},
	{"E0503", gOther, 2, []string{"占道废品收购"}},
	{"E0504", gOther, 6, []string{"店外经营占道", "商铺占道摆放商品"}},
	{"P0101", gOther, 1, []string{"上水井盖缺失", "上水井盖破损"}},
	{"P0102", gOther, 1, []string{"污水井盖破损", "污水井盖松动"}},
	{"P0103", gOther, 1.5, []string{"雨水篦子缺失", "雨水井盖破损"}},
	{"P0107", gOther, 3, []string{"路灯不亮", "路灯杆倾斜"}},
	{"P0202", gOther, 0.8, []string{"公交站亭破损"}},
	{"P0203", gOther, 0.8, []string{"交通标志牌倾斜", "交通标志被遮挡"}},
	{"P0205", gOther, 1, []string{"道路护栏破损"}},
	{"P0302", gOther, 1, []string{"公厕设施损坏", "公厕卫生差"}},
	{"P0402", gOther, 1.5, []string{"行道树倒伏", "行道树枝叶遮挡信号灯"}},
	{"P0403", gOther, 1, []string{"绿地缺株死苗"}},
}

// Shares of the groups in the history.
var groupWeight = [nGroups]float64{gParking: 38, gWater: 6, gSanitation: 27, gWinter: 0.2, gOther: 28.8}

// Where each group's points come from (kStreet, kLow, kMarket, kVillage, kCell).
var groupKinds = [nGroups][nKinds]float64{
	gParking:    {85, 0, 0, 0, 15},
	gWater:      {0, 88, 0, 0, 12},
	gSanitation: {0, 0, 40, 35, 25},
	gWinter:     {0, 0, 0, 0, 100},
	gOther:      {0, 0, 0, 0, 100},
}

// Source mix per group: collector, camera, hotline, app.
var groupSources = [nGroups][4]float64{
	gParking:    {30, 45, 8, 17},
	gWater:      {25, 15, 35, 25},
	gSanitation: {55, 10, 15, 20},
	gWinter:     {40, 20, 30, 10},
	gOther:      {60, 5, 20, 15},
}

// Weekday and weekend factors per source.
var sourceWeek = [4][2]float64{{1, 0.3}, {1, 1.05}, {1, 0.75}, {0.9, 1.15}}

// Hour-of-day profiles per source (local time).
var sourceHours = [4][24]float64{
	{0, 0, 0, 0, 0, 0, 0.05, 0.4, 1, 1, 0.95, 0.6, 0.15, 0.3, 0.9, 1, 0.95, 0.6, 0.15, 0.05, 0.02, 0, 0, 0},
	{0.25, 0.15, 0.1, 0.08, 0.08, 0.15, 0.4, 0.9, 1, 0.8, 0.7, 0.85, 0.9, 0.7, 0.7, 0.75, 0.85, 1, 1, 0.85, 0.7, 0.6, 0.45, 0.35},
	{0.05, 0.03, 0.02, 0.02, 0.02, 0.05, 0.15, 0.5, 0.9, 1, 1, 0.8, 0.5, 0.6, 0.9, 0.95, 0.9, 0.75, 0.55, 0.5, 0.45, 0.35, 0.2, 0.1},
	{0.1, 0.05, 0.03, 0.02, 0.02, 0.05, 0.2, 0.5, 0.7, 0.75, 0.8, 0.7, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 1, 1, 0.9, 0.6, 0.3},
}

// Spread of points around their anchors, metres.
const (
	streetSigma  = 25
	lowSigma     = 70
	marketSigma  = 90
	villageSigma = 300
)

type synth struct {
	rng  wyrand
	in   inside
	mx   float64 // degrees per metre, east
	my   float64 // degrees per metre, north
	norm [1024]float64

	groups  alias
	kinds   [nGroups]alias
	cats    [nGroups]alias
	catIdx  [nGroups][]int
	codes   []string
	descs   [][]string
	srcs    [nGroups]alias
	days    [nGroups][4]alias
	hours   [4]alias
	dayUnix []int64
	from    int64 // first second of the window
	to      int64 // end, exclusive
	loc     *time.Location

	segs     []segment // commercial street segments
	segPick  alias
	lows     []orb.Point
	lowPick  alias
	mkts     []orb.Point
	mktPick  alias
	vills    []orb.Point
	villPick alias
	cells    []box
	cellPick alias
	safe     []orb.Point // points known to be strictly inside
}

type segment struct{ ax, ay, dx, dy, nx, ny float64 }
type box struct{ cx, cy, hx, hy float64 }

func newSynth(city *grid.City, a *Anchors, end time.Time, seed int64) (*synth, error) {
	s := &synth{rng: wyrand(uint64(seed)*0x9E3779B97F4A7C15 + 0x2545F4914F6CDD1D)}
	s.in = newInside(city.Boundary)
	lat := city.Boundary.Bound().Center().Lat()
	s.my = 1 / 110834.0
	s.mx = 1 / (111320 * math.Cos(lat*math.Pi/180))
	for i := range s.norm {
		s.norm[i] = math.Sqrt2 * math.Erfinv(2*(float64(i)+0.5)/float64(len(s.norm))-1)
	}

	// Anchors inside the city.
	var segW []float64
	for _, st := range a.CommercialStreets {
		for i := 1; i < len(st.Line); i++ {
			p, q := st.Line[i-1], st.Line[i]
			if !s.in.contains(p[0], p[1]) || !s.in.contains(q[0], q[1]) {
				continue
			}
			dx, dy := (q[0]-p[0])/s.mx, (q[1]-p[1])/s.my
			l := math.Hypot(dx, dy)
			if l == 0 {
				continue
			}
			s.segs = append(s.segs, segment{p[0], p[1], q[0] - p[0], q[1] - p[1], -dy / l, dx / l})
			segW = append(segW, l*st.Weight)
		}
	}
	s.segPick = newAlias(segW)
	spots := func(xs []Spot) ([]orb.Point, alias) {
		var pts []orb.Point
		var ws []float64
		for _, x := range xs {
			if s.in.contains(x.Point[0], x.Point[1]) {
				pts = append(pts, x.Point)
				ws = append(ws, x.Weight)
			}
		}
		return pts, newAlias(ws)
	}
	s.lows, s.lowPick = spots(a.LowPoints)
	s.mkts, s.mktPick = spots(a.Markets)
	var vw []float64
	for _, c := range city.Communities {
		if !strings.HasSuffix(c.Name, "村") {
			continue
		}
		p, _ := planar.CentroidArea(c.Geometry)
		if s.in.contains(p[0], p[1]) {
			s.vills = append(s.vills, p)
			vw = append(vw, 1)
		}
	}
	s.villPick = newAlias(vw)
	var cw []float64
	for _, c := range city.Cells {
		b := c.Geometry.Bound()
		s.cells = append(s.cells, box{(b.Min[0] + b.Max[0]) / 2, (b.Min[1] + b.Max[1]) / 2, (b.Max[0] - b.Min[0]) / 2, (b.Max[1] - b.Min[1]) / 2})
		cw = append(cw, 1)
		if p, _ := planar.CentroidArea(c.Geometry); planar.MultiPolygonContains(c.Geometry, p) && s.in.contains(p[0], p[1]) {
			s.safe = append(s.safe, p)
		}
	}
	if len(s.cells) == 0 {
		b := city.Boundary.Bound()
		s.cells = append(s.cells, box{(b.Min[0] + b.Max[0]) / 2, (b.Min[1] + b.Max[1]) / 2, (b.Max[0] - b.Min[0]) / 2, (b.Max[1] - b.Min[1]) / 2})
		cw = append(cw, 1)
	}
	s.cellPick = newAlias(cw)
	if len(s.safe) == 0 {
		// a point inside: scan the boundary's box
		b := city.Boundary.Bound()
		for i := 1; i < 64 && len(s.safe) == 0; i++ {
			for j := 1; j < 64; j++ {
				x, y := b.Min[0]+(b.Max[0]-b.Min[0])*float64(i)/64, b.Min[1]+(b.Max[1]-b.Min[1])*float64(j)/64
				if s.in.contains(x, y) {
					s.safe = append(s.safe, orb.Point{x, y})
					break
				}
			}
		}
		if len(s.safe) == 0 {
			return nil, grid.Errorf(grid.Invalid, "synthetic incidents: the city boundary encloses no area")
		}
	}

	// Categories the city knows (all of them when it lists none).
	known := map[string]bool{}
	for _, c := range city.Categories {
		known[c.Code] = true
	}
	var gw [nGroups]float64
	var cws [nGroups][]float64
	for _, c := range synthCats {
		if len(known) > 0 && !known[c.code] {
			continue
		}
		s.catIdx[c.group] = append(s.catIdx[c.group], len(s.codes))
		s.codes = append(s.codes, c.code)
		s.descs = append(s.descs, c.descs)
		cws[c.group] = append(cws[c.group], c.weight)
		gw[c.group] = groupWeight[c.group]
	}
	if len(s.codes) == 0 {
		return nil, grid.Errorf(grid.Invalid, "synthetic incidents: the city has none of the generated categories")
	}
	s.groups = newAlias(gw[:])
	for g := 0; g < nGroups; g++ {
		s.cats[g] = newAlias(cws[g])
		s.srcs[g] = newAlias(groupSources[g][:])
		kw := groupKinds[g]
		for k, n := range [nKinds]int{len(s.segs), len(s.lows), len(s.mkts), len(s.vills), 1} {
			if n == 0 {
				kw[k] = 0
			}
		}
		s.kinds[g] = newAlias(kw[:])
	}
	for src := range sources {
		s.hours[src] = newAlias(sourceHours[src][:])
	}

	// Days of the window, in China Standard Time.
	s.loc = grid.ChinaTime()
	e := end.In(s.loc)
	start := e.AddDate(-1, 0, 0)
	s.from, s.to = start.Unix(), e.Unix()
	day0 := time.Date(start.Year(), start.Month(), start.Day(), 0, 0, 0, 0, s.loc)
	var dates []time.Time
	for d := day0; d.Before(e); d = d.AddDate(0, 0, 1) {
		dates = append(dates, d)
		s.dayUnix = append(s.dayUnix, d.Unix())
	}
	// A few storm days in the rainy seasons, drawn from the seed.
	storm := make([]float64, len(dates))
	for i := range storm {
		storm[i] = 1
	}
	for k := 0; k < 12; k++ {
		i := int(s.rng.next() % uint64(len(dates)))
		if m := dates[i].Month(); m >= time.June && m <= time.September {
			storm[i] = 3 + 5*s.rng.float()
		}
	}
	for g := 0; g < nGroups; g++ {
		for src := range sources {
			w := make([]float64, len(dates))
			for i, d := range dates {
				we := 0
				if wd := d.Weekday(); wd == time.Saturday || wd == time.Sunday {
					we = 1
				}
				w[i] = seasonal(g, d) * sourceWeek[src][we]
				if g == gParking && we == 1 {
					w[i] *= 1.15
				}
				if g == gWater {
					w[i] *= storm[i]
				}
			}
			s.days[g][src] = newAlias(w)
		}
	}
	return s, nil
}

// seasonal is the relative daily rate of a group on a date.
func seasonal(g int, d time.Time) float64 {
	doy := float64(d.YearDay())
	bump := func(center, width float64) float64 {
		x := math.Abs(doy - center)
		x = math.Min(x, 365-x)
		return math.Exp(-(x / width) * (x / width))
	}
	festival := 0.0 // around the Spring Festival (late January – mid February)
	if (d.Month() == time.January && d.Day() >= 20) || (d.Month() == time.February && d.Day() <= 20) {
		festival = 1
	}
	switch g {
	case gParking:
		w := 1 + 0.2*festival
		if d.Month() == time.October && d.Day() <= 7 {
			w += 0.4 // National Day holiday
		}
		return w
	case gWater:
		return 0.12 + 0.3*bump(120, 20) + 2.6*bump(172, 13) + 2.2*bump(240, 22)
	case gSanitation:
		return 1 + 0.3*bump(205, 25) + 0.4*festival
	case gWinter:
		if (d.Month() == time.December && d.Day() >= 15) || d.Month() == time.January || (d.Month() == time.February && d.Day() <= 20) {
			return 1
		}
		return 0
	}
	return 1 + 0.1*math.Sin(2*math.Pi*(doy-80)/365)
}

func (s *synth) next() SynthIncident {
	r := &s.rng
	g := s.groups.sample(r.next())
	ci := s.catIdx[g][s.cats[g].sample(r.next())]
	src := s.srcs[g].sample(r.next())
	var t int64
	for try := 0; ; try++ {
		d := s.days[g][src].sample(r.next())
		h := s.hours[src].sample(r.next())
		t = s.dayUnix[d] + int64(h)*3600 + int64(r.next()%3600)
		if t >= s.from && t < s.to {
			break
		}
		if try == 16 {
			t = s.from + int64(r.next()%uint64(s.to-s.from))
			break
		}
	}
	ds := s.descs[ci]
	return SynthIncident{
		Category:    s.codes[ci],
		Point:       s.point(s.kinds[g].sample(r.next())),
		OccurredAt:  time.Unix(t, 0).In(s.loc),
		Source:      sources[src],
		Description: ds[int((r.next()>>32)*uint64(len(ds))>>32)],
	}
}

func (s *synth) gauss() float64 {
	v := s.rng.next()
	i := v >> 54
	f := float64(v>>22&0xffffffff) / (1 << 32)
	a := s.norm[i]
	if i+1 < uint64(len(s.norm)) {
		return a + (s.norm[i+1]-a)*f
	}
	return a
}

func (s *synth) point(kind int) orb.Point {
	r := &s.rng
	for try := 0; try < 32; try++ {
		var x, y float64
		switch kind {
		case kStreet:
			sg := &s.segs[s.segPick.sample(r.next())]
			t, o := r.float(), s.gauss()*streetSigma
			x, y = sg.ax+sg.dx*t+sg.nx*o*s.mx, sg.ay+sg.dy*t+sg.ny*o*s.my
		case kLow:
			p := s.lows[s.lowPick.sample(r.next())]
			x, y = p[0]+s.gauss()*lowSigma*s.mx, p[1]+s.gauss()*lowSigma*s.my
		case kMarket:
			p := s.mkts[s.mktPick.sample(r.next())]
			x, y = p[0]+s.gauss()*marketSigma*s.mx, p[1]+s.gauss()*marketSigma*s.my
		case kVillage:
			p := s.vills[s.villPick.sample(r.next())]
			x, y = p[0]+s.gauss()*villageSigma*s.mx, p[1]+s.gauss()*villageSigma*s.my
		default:
			b := &s.cells[s.cellPick.sample(r.next())]
			x, y = b.cx+(2*r.float()-1)*b.hx, b.cy+(2*r.float()-1)*b.hy
		}
		if s.in.contains(x, y) {
			return orb.Point{x, y}
		}
	}
	return s.safe[r.next()%uint64(len(s.safe))]
}

// wyrand is a small, fast 64-bit generator (wyhash's wyrand).
type wyrand uint64

func (r *wyrand) next() uint64 {
	*r += 0xa0761d6478bd642f
	hi, lo := bits.Mul64(uint64(*r), uint64(*r^0xe7037ed1a0b428db))
	return hi ^ lo
}

func (r *wyrand) float() float64 { return float64(r.next()>>11) / (1 << 53) }

// alias samples an index in O(1) with probability proportional to its
// weight (Vose's alias method). An alias of no positive weight samples 0.
type alias struct {
	prob  []uint64 // threshold on 32 random bits, in [0, 2^32]
	alias []uint32
	n     uint64
}

func newAlias(w []float64) alias {
	n := len(w)
	a := alias{prob: make([]uint64, max(n, 1)), alias: make([]uint32, max(n, 1)), n: uint64(max(n, 1))}
	tot := 0.0
	for _, x := range w {
		if x > 0 {
			tot += x
		}
	}
	if tot == 0 {
		return a // every threshold 0, every alias 0
	}
	p := make([]float64, n)
	var small, large []int
	for i, x := range w {
		p[i] = math.Max(x, 0) / tot * float64(n)
		if p[i] < 1 {
			small = append(small, i)
		} else {
			large = append(large, i)
		}
	}
	for len(small) > 0 && len(large) > 0 {
		l, g := small[len(small)-1], large[len(large)-1]
		small = small[:len(small)-1]
		a.prob[l] = uint64(p[l] * (1 << 32))
		a.alias[l] = uint32(g)
		p[g] -= 1 - p[l]
		if p[g] < 1 {
			large = large[:len(large)-1]
			small = append(small, g)
		}
	}
	for _, i := range large {
		a.prob[i] = 1 << 32
	}
	for _, i := range small {
		a.prob[i] = 1 << 32
	}
	return a
}

func (a *alias) sample(r uint64) int {
	i := (r >> 32) * a.n >> 32
	if r&0xffffffff < a.prob[i] {
		return int(i)
	}
	return int(a.alias[i])
}

// inside is an exact, fast point-in-boundary test: a raster of the
// boundary's box says "in", "out" or "near an edge"; near an edge the point
// is ray-cast against the edges of its raster row only. Points on an edge
// are outside (strictly inside is what callers need).
type inside struct {
	x0, y0, kx, ky float64
	nx, ny         int
	state          []uint8 // 0 out, 1 in, 2 near an edge
	rowOff         []int32
	edges          []edge
}

type edge struct{ ax, ay, bx, by float64 }

func newInside(mp orb.MultiPolygon) inside {
	b := mp.Bound()
	in := inside{x0: b.Min[0], y0: b.Min[1], nx: 256, ny: 256}
	w, h := b.Max[0]-b.Min[0], b.Max[1]-b.Min[1]
	if w > h {
		in.ny = max(16, int(256*h/w))
	} else {
		in.nx = max(16, int(256*w/h))
	}
	in.kx, in.ky = float64(in.nx)/w, float64(in.ny)/h
	in.state = make([]uint8, in.nx*in.ny)
	rows := make([][]edge, in.ny)
	cell := func(v, o, k float64, n int) int { return max(0, min(n-1, int((v-o)*k))) }
	for _, poly := range mp {
		for _, ring := range poly {
			for i := 0; i+1 < len(ring); i++ {
				e := edge{ring[i][0], ring[i][1], ring[i+1][0], ring[i+1][1]}
				x0, x1 := cell(math.Min(e.ax, e.bx), in.x0, in.kx, in.nx), cell(math.Max(e.ax, e.bx), in.x0, in.kx, in.nx)
				y0, y1 := cell(math.Min(e.ay, e.by), in.y0, in.ky, in.ny), cell(math.Max(e.ay, e.by), in.y0, in.ky, in.ny)
				for y := y0; y <= y1; y++ {
					rows[y] = append(rows[y], e)
					for x := x0; x <= x1; x++ {
						in.state[y*in.nx+x] = 2
					}
				}
			}
		}
	}
	in.rowOff = make([]int32, in.ny+1)
	for y, r := range rows {
		in.edges = append(in.edges, r...)
		in.rowOff[y+1] = int32(len(in.edges))
	}
	for y := 0; y < in.ny; y++ {
		for x := 0; x < in.nx; x++ {
			if in.state[y*in.nx+x] == 2 {
				continue
			}
			cx, cy := in.x0+(float64(x)+0.5)/in.kx, in.y0+(float64(y)+0.5)/in.ky
			if in.cast(y, cx, cy) {
				in.state[y*in.nx+x] = 1
			}
		}
	}
	return in
}

func (in *inside) contains(x, y float64) bool {
	fx, fy := (x-in.x0)*in.kx, (y-in.y0)*in.ky
	if !(fx >= 0 && fy >= 0) { // also rejects NaN
		return false
	}
	ix, iy := int(fx), int(fy)
	if ix >= in.nx || iy >= in.ny {
		return false
	}
	switch in.state[iy*in.nx+ix] {
	case 0:
		return false
	case 1:
		return true
	}
	return in.cast(iy, x, y)
}

// cast is an even–odd ray cast to the east against the edges of one row.
func (in *inside) cast(row int, x, y float64) bool {
	c := false
	for _, e := range in.edges[in.rowOff[row]:in.rowOff[row+1]] {
		if (e.ay > y) != (e.by > y) {
			xi := e.ax + (y-e.ay)*(e.bx-e.ax)/(e.by-e.ay)
			if x == xi {
				return false
			}
			if x < xi {
				c = !c
			}
		} else if e.ay == y && e.by == y {
			if (x-e.ax)*(x-e.bx) <= 0 {
				return false // on a horizontal edge
			}
		} else if (e.ay == y && x == e.ax) || (e.by == y && x == e.bx) {
			return false // on a vertex
		}
	}
	return c
}
