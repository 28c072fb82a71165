// Command gen writes the synthetic Linhai (临海) demo city of citygrid:
// towns, communities, cells, zones, facilities, departments, categories,
// responsibility rules and hotspot anchors. The output is deterministic.
//
//	go run ./geodata/gen -out geodata/linhai
//
// Every polygon is a union of bricks of one lattice (75 m), traced through
// the lattice's vertices and simplified consistently along shared edges, so
// cells tile their community, communities their town and towns the city
// exactly. Names and codes of the 19 towns are real; all shapes are made up.
package main

import (
	"flag"
	"fmt"
	"log"
	"math"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
)

func main() {
	out := flag.String("out", "geodata/linhai", "output directory")
	flag.Parse()
	if err := run(*out); err != nil {
		log.Fatal(err)
	}
}

// locator finds the polygon of a set containing a point, by bucket grid.
type locator struct {
	rings  [][][2]int64
	x0, y0 int64
	size   int64
	cells  map[int64][]int
}

func newLocator(rings [][][2]int64, size int64) *locator {
	l := &locator{rings: rings, size: size, cells: map[int64][]int{}}
	l.x0, l.y0 = math.MaxInt64, math.MaxInt64
	for _, r := range rings {
		x0, y0, _, _ := ringBBox(r)
		l.x0, l.y0 = min(l.x0, x0), min(l.y0, y0)
	}
	for i, r := range rings {
		x0, y0, x1, y1 := ringBBox(r)
		for bx := (x0 - l.x0) / size; bx <= (x1-l.x0)/size; bx++ {
			for by := (y0 - l.y0) / size; by <= (y1-l.y0)/size; by++ {
				k := bx<<32 | by
				l.cells[k] = append(l.cells[k], i)
			}
		}
	}
	return l
}

func (l *locator) find(p [2]int64) int {
	if p[0] < l.x0 || p[1] < l.y0 {
		return -1
	}
	k := (p[0]-l.x0)/l.size<<32 | (p[1]-l.y0)/l.size
	for _, i := range l.cells[k] {
		if pip(l.rings[i], float64(p[0]), float64(p[1])) {
			return i
		}
	}
	return -1
}

func run(dir string) error {
	t0 := time.Now()
	xmin, ymin := toXY(120.83, 28.66)
	xmax, ymax := toXY(121.71, 29.07)
	L := newLattice(75, 75, xmin, xmax, ymin, ymax)
	w := &world{L: L, g: newGrower(L)}
	w.buildCity()
	w.buildTowns()
	w.dens = make([]float32, L.ntiles())
	for _, t := range w.cityT {
		x, y := L.center(t)
		w.dens[t] = float32(1 / w.cellAreaAt(x, y, w.towns[w.townLab[t]].def.kind == "street"))
	}
	w.buildCommunities()
	w.allocateCells()
	w.buildCells()
	w.assignCodes()
	fmt.Printf("partition: %d towns, %d communities, %d cells (%s)\n", len(w.towns), len(w.comms), len(w.cells), time.Since(t0).Round(time.Millisecond))

	tp := newTopo(w)
	tp.run(0.75 * L.w)
	cellRings := make([][][2]int64, len(w.cells))
	for i := range w.cells {
		cellRings[i] = tp.ring(w.g.loops(w.cells[i].tiles, w.cellLab, int32(i))[0])
	}
	commRings := make([][][2]int64, len(w.comms))
	for i := range w.comms {
		commRings[i] = tp.ring(w.g.loops(w.comms[i].tiles, w.commLab, int32(i))[0])
	}
	townRings := make([][][2]int64, len(w.towns))
	for i := range w.towns {
		townRings[i] = tp.ring(w.g.loops(w.towns[i].tiles, w.townLab, int32(i))[0])
	}
	cityRing := tp.ring(w.g.loops(w.cityT, w.inCity, 0)[0])

	// Exact tiling, in integer micro-degrees: the areas of the parts add up
	// to the area of the whole with no rounding at all.
	var townSum int64
	for ti, t := range w.towns {
		var commSum int64
		for _, ci := range t.comms {
			var cellSum int64
			for _, k := range w.comms[ci].cells {
				cellSum += ringArea2(cellRings[k])
			}
			if cellSum != ringArea2(commRings[ci]) {
				return fmt.Errorf("community %s: cells do not add up", w.comms[ci].code)
			}
			commSum += ringArea2(commRings[ci])
		}
		if commSum != ringArea2(townRings[ti]) {
			return fmt.Errorf("town %s: communities do not add up", t.def.code)
		}
		townSum += commSum
	}
	if townSum != ringArea2(cityRing) {
		return fmt.Errorf("towns do not add up to the city")
	}

	printStats(w)
	zones, roads := buildZones(cityRing)
	var core, scenic [][2]int64
	for _, z := range zones {
		switch z.kind {
		case grid.ZoneUrbanCore:
			core = z.ring
		case grid.ZoneScenicArea:
			scenic = z.ring
		}
	}
	cellLoc := newLocator(cellRings, 2000)
	cellAtE6 := func(p [2]int64) int { return cellLoc.find(p) }
	pl := &placer{
		rng:  rand.New(rand.NewPCG(7, 331082)),
		city: cityRing,
		core: core,
		comm: func(p [2]int64) int {
			if c := cellAtE6(p); c >= 0 {
				return w.cells[c].comm
			}
			return -1
		},
		town: func(p [2]int64) int {
			if c := cellAtE6(p); c >= 0 {
				return w.comms[w.cells[c].comm].town
			}
			return -1
		},
		names: func(ci int) string { return w.comms[ci].name },
	}
	facs, anch := buildFacilities(pl, w, roads, scenic)

	// Communities for community-scope rules.
	lowCount := map[int]int{}
	for _, lp := range anch.LowPoints {
		p := [2]int64{e6(lp.Point[0]), e6(lp.Point[1])}
		if pip(core, float64(p[0]), float64(p[1])) {
			continue
		}
		if c := pl.comm(p); c >= 0 {
			lowCount[c]++
		}
	}
	var lowComms []int
	for c := range lowCount {
		lowComms = append(lowComms, c)
	}
	sort.Slice(lowComms, func(a, b int) bool {
		ca, cb := lowComms[a], lowComms[b]
		if lowCount[ca] != lowCount[cb] {
			return lowCount[ca] > lowCount[cb]
		}
		return w.comms[ca].code < w.comms[cb].code
	})
	var streetVillages []int
	for ci, c := range w.comms {
		if c.village && w.towns[c.town].def.kind == "street" {
			streetVillages = append(streetVillages, ci)
		}
	}
	sort.Slice(streetVillages, func(a, b int) bool { return w.comms[streetVillages[a]].code < w.comms[streetVillages[b]].code })
	cellAt := func(lon, lat float64) int { return cellAtE6([2]int64{e6(lon), e6(lat)}) }
	depts := departments(w)
	cats := categories()
	rules := buildRules(w, zones, cellAt, lowComms, streetVillages)

	// Places: every cell with every combination of the zones meeting it
	// that can share a point (the zones meet pairwise).
	meets := func(a, b [][2]int64) bool {
		ax0, ay0, ax1, ay1 := ringBBox(a)
		bx0, by0, bx1, by1 := ringBBox(b)
		if ax1 < bx0 || bx1 < ax0 || ay1 < by0 || by1 < ay0 {
			return false
		}
		return ringsCross(a, b) || pip(b, float64(a[0][0]), float64(a[0][1])) || pip(a, float64(b[0][0]), float64(b[0][1]))
	}
	zmeet := map[[2]string]bool{}
	for _, a := range zones {
		for _, b := range zones {
			zmeet[[2]string{a.code, b.code}] = a.code == b.code || meets(a.ring, b.ring)
		}
	}
	var places []place
	maxZ := 0
	for ci, cr := range cellRings {
		var zs []zoneRec
		for _, z := range zones {
			if meets(cr, z.ring) {
				zs = append(zs, z)
			}
		}
		maxZ = max(maxZ, len(zs))
		c := w.cells[ci]
	subsets:
		for mask := 0; mask < 1<<len(zs); mask++ {
			p := place{cell: c.code, comm: w.comms[c.comm].code, town: w.towns[w.comms[c.comm].town].def.code}
			for k, z := range zs {
				if mask&(1<<k) != 0 {
					for _, y := range p.zones {
						if !zmeet[[2]string{y.code, z.code}] {
							continue subsets
						}
					}
					p.zones = append(p.zones, z)
				}
			}
			places = append(places, p)
		}
	}
	if err := checkRules(cats, rules, places); err != nil {
		return fmt.Errorf("ambiguous rules: %w", err)
	}
	fmt.Printf("rules: %d, unambiguous over %d places (up to %d zones per cell)\n", len(rules), len(places), maxZ)

	if err := validate(w, depts, facs); err != nil {
		return err
	}
	return write(dir, w, cityRing, townRings, commRings, cellRings, zones, facs, depts, cats, rules, anch, t0)
}

func validate(w *world, depts []deptRec, facs []facRec) error {
	seen := map[string]bool{}
	for _, t := range w.towns {
		if !grid.ValidTownCode(t.def.code) || seen[t.def.code] {
			return fmt.Errorf("bad town code %s", t.def.code)
		}
		seen[t.def.code] = true
	}
	for _, c := range w.comms {
		if !grid.ValidCommunityCode(c.code) || seen[c.code] || !strings.HasPrefix(c.code, w.towns[c.town].def.code) {
			return fmt.Errorf("bad community code %s", c.code)
		}
		seen[c.code] = true
	}
	for _, c := range w.cells {
		if err := grid.CheckCellCode(c.code, w.comms[c.comm].code); err != nil || seen[c.code] {
			return fmt.Errorf("bad cell code %s: %v", c.code, err)
		}
		seen[c.code] = true
	}
	fseen := map[string]bool{}
	for _, f := range facs {
		if fseen[f.code] {
			return fmt.Errorf("duplicate facility %s", f.code)
		}
		fseen[f.code] = true
	}
	dseen := map[string]bool{}
	for _, d := range depts {
		if dseen[d.Code] {
			return fmt.Errorf("duplicate department %s", d.Code)
		}
		dseen[d.Code] = true
	}
	return nil
}

func write(dir string, w *world, cityRing [][2]int64, townRings, commRings, cellRings [][][2]int64, zones []zoneRec,
	facs []facRec, depts []deptRec, cats []catRec, rules []ruleRec, anch anchorsFile, t0 time.Time) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	total := 0
	report := func(name string, n int, err error) error {
		if err != nil {
			return err
		}
		total += n
		fmt.Printf("  %-20s %9d bytes\n", name, n)
		return nil
	}
	n, err := writeFC(dir, "boundary.geojson", []feature{{props: map[string]any{"code": grid.CountyCode, "name": "临海市"}, ring: cityRing}})
	if err := report("boundary.geojson", n, err); err != nil {
		return err
	}
	var fs []feature
	for i, t := range w.towns {
		fs = append(fs, feature{props: map[string]any{"code": t.def.code, "name": t.def.name, "kind": t.def.kind}, ring: townRings[i]})
	}
	n, err = writeFC(dir, "towns.geojson", fs)
	if err := report("towns.geojson", n, err); err != nil {
		return err
	}
	order := func(n int, code func(i int) string) []int {
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		sort.Slice(idx, func(a, b int) bool { return code(idx[a]) < code(idx[b]) })
		return idx
	}
	fs = fs[:0]
	for _, i := range order(len(w.comms), func(i int) string { return w.comms[i].code }) {
		c := w.comms[i]
		fs = append(fs, feature{props: map[string]any{"code": c.code, "name": c.name, "town_code": w.towns[c.town].def.code}, ring: commRings[i]})
	}
	n, err = writeFC(dir, "communities.geojson", fs)
	if err := report("communities.geojson", n, err); err != nil {
		return err
	}
	fs = fs[:0]
	for _, i := range order(len(w.cells), func(i int) string { return w.cells[i].code }) {
		c := w.cells[i]
		fs = append(fs, feature{props: map[string]any{"code": c.code, "name": c.name, "community_code": w.comms[c.comm].code,
			"town_code": w.towns[w.comms[c.comm].town].def.code}, ring: cellRings[i]})
	}
	n, err = writeFC(dir, "cells.geojson", fs)
	if err := report("cells.geojson", n, err); err != nil {
		return err
	}
	fs = fs[:0]
	for _, z := range zones {
		fs = append(fs, feature{props: map[string]any{"code": z.code, "name": z.name, "kind": z.kind}, ring: z.ring})
	}
	n, err = writeFC(dir, "zones.geojson", fs)
	if err := report("zones.geojson", n, err); err != nil {
		return err
	}
	fs = fs[:0]
	sort.Slice(facs, func(a, b int) bool { return facs[a].code < facs[b].code })
	for _, f := range facs {
		props := map[string]any{"code": f.code, "name": f.name, "kind": f.kind}
		for k, v := range f.attrs {
			props[k] = v
		}
		fs = append(fs, feature{props: props, pt: f.pt})
	}
	n, err = writeFC(dir, "facilities.geojson", fs)
	if err := report("facilities.geojson", n, err); err != nil {
		return err
	}
	n, err = writeJSON(dir, "departments.json", "departments", depts)
	if err := report("departments.json", n, err); err != nil {
		return err
	}
	n, err = writeJSON(dir, "categories.json", "categories", cats)
	if err := report("categories.json", n, err); err != nil {
		return err
	}
	n, err = writeJSON(dir, "rules.json", "rules", rules)
	if err := report("rules.json", n, err); err != nil {
		return err
	}
	n, err = writeAnchors(dir, anch)
	if err := report("anchors.json", n, err); err != nil {
		return err
	}
	kinds := map[string]int{}
	for _, f := range facs {
		kinds[f.kind]++
	}
	fmt.Printf("  total %d bytes; facilities %v; done in %s\n", total, kinds, time.Since(t0).Round(time.Millisecond))
	return nil
}

func printStats(w *world) {
	km2 := w.tileKm2()
	fmt.Printf("city %.0f km²\n", float64(len(w.cityT))*km2)
	for _, t := range w.towns {
		var sizes []float64
		for _, ci := range t.comms {
			for _, k := range w.comms[ci].cells {
				sizes = append(sizes, float64(len(w.cells[k].tiles))*km2)
			}
		}
		sort.Float64s(sizes)
		q := func(f float64) float64 { return sizes[int(f*float64(len(sizes)-1))] }
		fmt.Printf("  %-6s %-6s %6.1f km² %3d communities %4d cells, cell km² p10 %.3f p50 %.3f p90 %.3f\n",
			t.def.name, t.def.kind, float64(len(t.tiles))*km2, len(t.comms), len(sizes), q(0.1), q(0.5), q(0.9))
	}
}
