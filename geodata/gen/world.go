package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
)

// townDef is one of the 19 towns/streets: real name and NBS code, a
// synthetic seat and a target share of the city's area.
type townDef struct {
	code, name, kind string
	lon, lat         float64 // seat
	area             float64 // target, km² (normalised to the city's area)
	comms            int     // communities; 0 = by area
}

var townDefs = []townDef{
	{"331082001", "古城街道", "street", 121.118, 28.853, 16, 14},
	{"331082002", "大洋街道", "street", 121.142, 28.878, 26, 15},
	{"331082003", "江南街道", "street", 121.120, 28.822, 30, 15},
	{"331082004", "大田街道", "street", 121.190, 28.875, 48, 17},
	{"331082005", "邵家渡街道", "street", 121.205, 28.830, 45, 16},
	{"331082100", "汛桥镇", "town", 121.270, 28.905, 95, 0},
	{"331082101", "东塍镇", "town", 121.230, 28.970, 125, 0},
	{"331082103", "汇溪镇", "town", 121.080, 28.955, 150, 0},
	{"331082104", "小芝镇", "town", 121.400, 28.910, 130, 0},
	{"331082105", "河头镇", "town", 121.010, 28.915, 120, 0},
	{"331082106", "白水洋镇", "town", 120.930, 28.870, 175, 0},
	{"331082107", "括苍镇", "town", 120.990, 28.780, 200, 0},
	{"331082108", "永丰镇", "town", 121.050, 28.840, 110, 0},
	{"331082109", "尤溪镇", "town", 121.140, 28.752, 125, 0},
	{"331082110", "涌泉镇", "town", 121.260, 28.752, 120, 0},
	{"331082111", "沿江镇", "town", 121.310, 28.810, 95, 0},
	{"331082112", "杜桥镇", "town", 121.460, 28.800, 165, 0},
	{"331082113", "上盘镇", "town", 121.580, 28.910, 90, 0},
	{"331082114", "桃渚镇", "town", 121.600, 28.810, 120, 0},
}

const (
	totalCells = 2213
	urbanLon   = 121.13
	urbanLat   = 28.85
)

type townRec struct {
	def   townDef
	seed  int32
	tiles []int32
	comms []int // community indices
}

type commRec struct {
	town     int
	code     string
	name     string
	village  bool
	tiles    []int32
	cells    []int // cell indices
	cx, cy   float64
	ncells   int
	cellBase int
}

type cellRec struct {
	comm   int
	code   string
	name   string
	tiles  []int32
	cx, cy float64
}

type world struct {
	L       *lattice
	g       *grower
	inCity  []int32 // 0 inside, -1 outside
	cityT   []int32 // bricks of the city
	townLab []int32
	commLab []int32
	cellLab []int32
	dens    []float32 // cells per km² wanted at each brick
	towns   []townRec
	comms   []commRec
	cells   []cellRec
	names   *namer
}

func (w *world) tileKm2() float64 { return w.L.w * w.L.h / 1e6 }

// cellAreaAt is the wanted cell area (km²) at a metric point: ~0.045 km²
// (about 210 m across) in the urban core, ~0.3 km² in town seats, ~1.5–2 km²
// in the countryside (larger in the western mountains).
func (w *world) cellAreaAt(x, y float64, street bool) float64 {
	rural := 1.45
	if x < -22000 {
		rural += 0.5 * math.Min(1, (-22000-x)/12000)
	}
	ux, uy := toXY(urbanLon, urbanLat)
	du := math.Hypot(x-ux, y-uy) / 1000
	a := rural
	au := 0.045 * math.Exp(math.Log(rural/0.045)*clamp((du-2.2)/6.5, 0, 1))
	if !street {
		// the city's density stops at the streets' borders
		au *= 4
	}
	a = math.Min(a, au)
	for _, t := range townDefs[5:] {
		sx, sy := toXY(t.lon, t.lat)
		ds := math.Hypot(x-sx, y-sy) / 1000
		as := 0.28 * math.Exp(math.Log(rural/0.28)*clamp((ds-0.8)/3.2, 0, 1))
		a = math.Min(a, as)
	}
	return a
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// outline is a rough, hand-drawn outline of mainland Linhai (not its real
// boundary): narrow in the western hills, wider in the middle, with bays on
// the eastern coast and an indentation on the south-east border.
var outline = []float64{
	121.700, 28.855, 121.680, 28.905, 121.625, 28.960, 121.560, 28.945, 121.515, 28.930, 121.450, 28.985,
	121.340, 29.030, 121.230, 29.050, 121.130, 29.025, 121.040, 29.000, 120.960, 28.960, 120.885, 28.925,
	120.848, 28.865, 120.870, 28.795, 120.930, 28.735, 121.030, 28.712, 121.120, 28.690, 121.200, 28.712,
	121.260, 28.718, 121.320, 28.770, 121.375, 28.745, 121.440, 28.728, 121.510, 28.716, 121.585, 28.738,
	121.665, 28.780,
}

// buildCity marks the bricks of the city: the outline, smoothed and made
// ragged by a displacement field (more on the coast), simply connected.
func (w *world) buildCity() {
	L := w.L
	n := L.ntiles()
	w.inCity = make([]int32, n)
	ctrl := lls(outline...)
	for i := range ctrl {
		ctrl[i].x *= 0.95
		ctrl[i].y *= 0.95
	}
	ctrl = append(ctrl, ctrl[0], ctrl[1], ctrl[2])
	curve := spline(ctrl, 150)
	// keep one lap of the closed curve
	first := curve[0]
	var ring [][2]int64
	for i, p := range curve {
		if i > 10 && math.Hypot(p.x-first.x, p.y-first.y) < 100 {
			break
		}
		ring = append(ring, [2]int64{int64(p.x), int64(p.y)})
	}
	ring = append(ring, ring[0])
	for t := int32(0); t < int32(n); t++ {
		x, y := L.center(t)
		coast := clamp((x-18000)/12000, 0, 1)
		amp := 600 + 1400*coast
		dx := amp * fbm(x, y, 6000, 6, 5)
		dy := amp * fbm(x, y, 6000, 6, 6)
		if pip(ring, x+dx, y+dy) {
			w.inCity[t] = 0
		} else {
			w.inCity[t] = -1
		}
	}
	w.keepLargest(w.inCity)
	w.fillHoles(w.inCity)
	for t := int32(0); t < int32(n); t++ {
		if w.inCity[t] == 0 {
			w.cityT = append(w.cityT, t)
		}
	}
	if ls := w.g.loops(w.cityT, w.inCity, 0); len(ls) != 1 {
		panic(fmt.Sprintf("city boundary has %d loops", len(ls)))
	}
}

// keepLargest keeps the largest connected set of bricks labelled 0.
func (w *world) keepLargest(lab []int32) {
	L := w.L
	comp := make([]int32, len(lab))
	for i := range comp {
		comp[i] = -1
	}
	var sizes []int
	var stack []int32
	for t := int32(0); t < int32(len(lab)); t++ {
		if lab[t] != 0 || comp[t] >= 0 {
			continue
		}
		id := int32(len(sizes))
		sz := 0
		stack = append(stack[:0], t)
		comp[t] = id
		for len(stack) > 0 {
			u := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			sz++
			for e := 0; e < 6; e++ {
				v := L.nb(u, e)
				if v >= 0 && lab[v] == 0 && comp[v] < 0 {
					comp[v] = id
					stack = append(stack, v)
				}
			}
		}
		sizes = append(sizes, sz)
	}
	best := 0
	for i, s := range sizes {
		if s > sizes[best] {
			best = i
		}
	}
	for t := range lab {
		if lab[t] == 0 && comp[t] != int32(best) {
			lab[t] = -1
		}
	}
}

// fillHoles turns outside bricks not reachable from the lattice border into city.
func (w *world) fillHoles(lab []int32) {
	L := w.L
	seen := make([]bool, len(lab))
	var stack []int32
	for t := int32(0); t < int32(len(lab)); t++ {
		i, j := int(t)%L.ni, int(t)/L.ni
		if (i == 0 || j == 0 || i == L.ni-1 || j == L.nj-1) && lab[t] < 0 {
			seen[t] = true
			stack = append(stack, t)
		}
	}
	for len(stack) > 0 {
		u := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for e := 0; e < 6; e++ {
			v := L.nb(u, e)
			if v >= 0 && lab[v] < 0 && !seen[v] {
				seen[v] = true
				stack = append(stack, v)
			}
		}
	}
	for t := range lab {
		if lab[t] < 0 && !seen[t] {
			lab[t] = 0
		}
	}
}

// buildTowns grows the 19 towns from their seats, tuning each seat's head
// start so that the areas come near their targets, then lets the borders
// meander.
func (w *world) buildTowns() {
	L := w.L
	n := L.ntiles()
	cost := make([]float32, n)
	for _, t := range w.cityT {
		x, y := L.center(t)
		cost[t] = float32(math.Exp(1.1 * fbm(x, y, 9000, 5, 21)))
	}
	seeds := make([]int32, len(townDefs))
	tot := 0.0
	for i, d := range townDefs {
		x, y := toXY(d.lon, d.lat)
		seeds[i] = L.tileAt(x, y)
		if seeds[i] < 0 || w.inCity[seeds[i]] != 0 {
			panic("town seat outside the city: " + d.name)
		}
		tot += d.area
	}
	cityKm2 := float64(len(w.cityT)) * w.tileKm2()
	heads := make([]float64, len(townDefs))
	for i := range heads {
		heads[i] = 800 * math.Sqrt(townDefs[i].area/tot*cityKm2/math.Pi)
	}
	w.townLab = make([]int32, n)
	bestHeads, bestWorst := append([]float64(nil), heads...), math.Inf(1)
	for it := 0; it < 30; it++ {
		w.g.grow(w.cityT, w.inCity, 0, seeds, heads, cost, w.townLab)
		cnt := make([]float64, len(townDefs))
		for _, t := range w.cityT {
			cnt[w.townLab[t]]++
		}
		worst := 0.0
		for i := range heads {
			target := townDefs[i].area / tot * cityKm2
			got := cnt[i] * w.tileKm2()
			worst = math.Max(worst, math.Abs(math.Log(got/target)))
		}
		if worst < bestWorst {
			bestWorst = worst
			copy(bestHeads, heads)
		}
		for i := range heads {
			target := townDefs[i].area / tot * cityKm2
			got := cnt[i] * w.tileKm2()
			heads[i] += 0.2 * 1000 * (math.Sqrt(target/math.Pi) - math.Sqrt(got/math.Pi))
		}
	}
	fmt.Printf("towns: every area within ×%.2f of its target\n", math.Exp(bestWorst))
	w.g.grow(w.cityT, w.inCity, 0, seeds, bestHeads, cost, w.townLab)
	w.g.meander(w.cityT, w.inCity, 0, w.townLab, seeds, 1500, 8000, 77)
	groups := byLabel(w.cityT, w.townLab, len(townDefs))
	for i, d := range townDefs {
		w.towns = append(w.towns, townRec{def: d, seed: seeds[i], tiles: groups[i]})
		if ls := w.g.loops(groups[i], w.townLab, int32(i)); len(ls) != 1 {
			panic(fmt.Sprintf("town %s has %d boundary loops", d.name, len(ls)))
		}
	}
}

// buildCommunities splits each town into communities of roughly equal
// "weight" (denser places get smaller communities), retrying a town until
// every community is simply connected.
func (w *world) buildCommunities() {
	L := w.L
	n := L.ntiles()
	w.commLab = make([]int32, n)
	for i := range w.commLab {
		w.commLab[i] = -1
	}
	cost := make([]float32, n)
	mass := make([]float32, n)
	for _, t := range w.cityT {
		x, y := L.center(t)
		d := float64(w.dens[t])
		cost[t] = float32(math.Pow(d, 0.3) * (1 + 0.3*fbm(x, y, 2500, 3, 33)))
		mass[t] = float32(math.Pow(d, 0.6))
	}
	out := make([]int32, n)
	for ti := range w.towns {
		tr := &w.towns[ti]
		k := tr.def.comms
		if k == 0 {
			km2 := float64(len(tr.tiles)) * w.tileKm2()
			k = int(math.Round(km2 / 9))
			k = max(10, min(25, k))
		}
		base := len(w.comms)
		ok := false
		for attempt := 0; attempt < 50 && !ok; attempt++ {
			rng := rand.New(rand.NewPCG(uint64(1000+ti), uint64(attempt)))
			seeds := w.g.lloyd(tr.tiles, w.townLab, int32(ti), k, cost, mass, rng, 6, out)
			w.g.meander(tr.tiles, w.townLab, int32(ti), out, seeds, 350, 2500, uint64(300+attempt))
			for _, t := range tr.tiles {
				w.commLab[t] = int32(base) + out[t]
			}
			groups := byLabel(tr.tiles, out, k)
			ok = true
			for l := 0; l < k && ok; l++ {
				if len(groups[l]) < 40 || len(w.g.loops(groups[l], w.commLab, int32(base+l))) != 1 {
					ok = false
				}
			}
			if ok {
				for l := 0; l < k; l++ {
					w.comms = append(w.comms, commRec{town: ti, tiles: groups[l]})
					tr.comms = append(tr.comms, base+l)
				}
			}
		}
		if !ok {
			panic("cannot partition " + tr.def.name)
		}
	}
}

// allocateCells gives each community its number of cells so that the city
// has exactly totalCells, in proportion to the wanted density.
func (w *world) allocateCells() {
	want := make([]float64, len(w.comms))
	sum := 0.0
	for i, c := range w.comms {
		for _, t := range c.tiles {
			want[i] += float64(w.dens[t]) * w.tileKm2()
		}
		sum += want[i]
	}
	const minTiles = 4
	caps := make([]int, len(w.comms))
	for i, c := range w.comms {
		caps[i] = len(c.tiles) / minTiles
	}
	s := float64(totalCells) / sum
	type rem struct {
		i int
		f float64
	}
	got := 0
	var rems []rem
	for i := range w.comms {
		v := want[i] * s
		k := int(math.Floor(v))
		k = max(1, min(caps[i], k))
		w.comms[i].ncells = k
		got += k
		rems = append(rems, rem{i, v - math.Floor(v)})
	}
	sort.SliceStable(rems, func(a, b int) bool { return rems[a].f > rems[b].f })
	for got != totalCells {
		moved := false
		for _, r := range rems {
			if got == totalCells {
				break
			}
			c := &w.comms[r.i]
			if got < totalCells && c.ncells < caps[r.i] {
				c.ncells++
				got++
				moved = true
			} else if got > totalCells && c.ncells > 1 {
				c.ncells--
				got--
				moved = true
			}
		}
		if !moved {
			panic("cannot allocate cells")
		}
	}
}

// buildCells splits each community into its cells.
func (w *world) buildCells() {
	L := w.L
	n := L.ntiles()
	w.cellLab = make([]int32, n)
	for i := range w.cellLab {
		w.cellLab[i] = -1
	}
	cost := make([]float32, n)
	for _, t := range w.cityT {
		x, y := L.center(t)
		cost[t] = float32(math.Sqrt(float64(w.dens[t])) * (1 + 0.2*fbm(x, y, 900, 2, 44)))
	}
	out := make([]int32, n)
	for ci := range w.comms {
		c := &w.comms[ci]
		k := c.ncells
		base := len(w.cells)
		ok := false
		for attempt := 0; attempt < 80 && !ok; attempt++ {
			rng := rand.New(rand.NewPCG(uint64(5000+ci), uint64(attempt)))
			if k == 1 {
				for _, t := range c.tiles {
					out[t] = 0
				}
			} else {
				w.g.lloyd(c.tiles, w.commLab, int32(ci), k, cost, w.dens, rng, 5, out)
			}
			for _, t := range c.tiles {
				w.cellLab[t] = int32(base) + out[t]
			}
			groups := byLabel(c.tiles, out, k)
			ok = true
			for l := 0; l < k && ok; l++ {
				if len(groups[l]) < 3 || len(w.g.loops(groups[l], w.cellLab, int32(base+l))) != 1 {
					ok = false
				}
			}
			if ok {
				c.cellBase = base
				for l := 0; l < k; l++ {
					w.cells = append(w.cells, cellRec{comm: ci, tiles: groups[l]})
					c.cells = append(c.cells, base+l)
				}
			}
		}
		if !ok {
			panic(fmt.Sprintf("cannot partition community %d of %s", ci, w.towns[c.town].def.name))
		}
	}
}

func (w *world) centroid(tiles []int32) (float64, float64) {
	sx, sy := 0.0, 0.0
	for _, t := range tiles {
		x, y := w.L.center(t)
		sx += x
		sy += y
	}
	return sx / float64(len(tiles)), sy / float64(len(tiles))
}

// readingOrder sorts items west to east within bands, bands north to south
// (the order of cell sequence numbers, DOMAIN.md).
func readingOrder(idx []int, xy func(i int) (float64, float64), band float64) {
	top := math.Inf(-1)
	for _, i := range idx {
		_, y := xy(i)
		top = math.Max(top, y)
	}
	key := func(i int) (int, float64) {
		x, y := xy(i)
		return int(math.Floor((top - y) / band)), x
	}
	sort.SliceStable(idx, func(a, b int) bool {
		ba, xa := key(idx[a])
		bb, xb := key(idx[b])
		if ba != bb {
			return ba < bb
		}
		return xa < xb
	})
}

// assignCodes names and numbers communities and cells. Communities (社区)
// take codes from 001, villages (村) from 201, as in the statistical
// division codes; cells are numbered in reading order within a community.
func (w *world) assignCodes() {
	w.names = newNamer()
	for ti := range w.towns {
		tr := &w.towns[ti]
		seatComm := int(w.commLab[tr.seed])
		var urban, village []int
		for _, ci := range tr.comms {
			c := &w.comms[ci]
			c.cx, c.cy = w.centroid(c.tiles)
			c.village = w.cellAreaAt(c.cx, c.cy, tr.def.kind == "street") > 0.33 && ci != seatComm
			if c.village {
				village = append(village, ci)
			} else {
				urban = append(urban, ci)
			}
		}
		band := math.Sqrt(float64(len(tr.tiles))/float64(len(tr.comms))) * w.L.w
		xy := func(i int) (float64, float64) { return w.comms[i].cx, w.comms[i].cy }
		readingOrder(urban, xy, band)
		readingOrder(village, xy, band)
		for k, ci := range urban {
			c := &w.comms[ci]
			c.code = fmt.Sprintf("%s%03d", tr.def.code, k+1)
			if ci == seatComm && tr.def.kind == "town" {
				c.name = strings.TrimSuffix(tr.def.name, "镇") + "社区"
				w.names.take(c.name)
			} else {
				c.name = w.names.community(true)
			}
		}
		for k, ci := range village {
			c := &w.comms[ci]
			c.code = fmt.Sprintf("%s%03d", tr.def.code, 201+k)
			c.name = w.names.community(false)
		}
	}
	for ci := range w.comms {
		c := &w.comms[ci]
		for _, k := range c.cells {
			w.cells[k].cx, w.cells[k].cy = w.centroid(w.cells[k].tiles)
		}
		idx := append([]int(nil), c.cells...)
		band := math.Sqrt(float64(len(c.tiles))/float64(len(c.cells))) * w.L.w
		readingOrder(idx, func(i int) (float64, float64) { return w.cells[i].cx, w.cells[i].cy }, band)
		for k, i := range idx {
			w.cells[i].code = fmt.Sprintf("%s%03d", c.code, k+1)
			w.cells[i].name = fmt.Sprintf("%s-%s-第%03d网格", w.towns[c.town].def.name, c.name, k+1)
		}
	}
}
