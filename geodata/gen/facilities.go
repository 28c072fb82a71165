package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

type facRec struct {
	code, kind, name string
	pt               [2]int64
	attrs            map[string]string
}

type spot struct {
	Name     string     `json:"name"`
	TownCode string     `json:"town_code"`
	Weight   float64    `json:"weight"`
	Point    [2]float64 `json:"point"`
}

type street struct {
	Name     string       `json:"name"`
	TownCode string       `json:"town_code"`
	Weight   float64      `json:"weight"`
	Line     [][2]float64 `json:"line"`
}

type anchorsFile struct {
	CityGrid          map[string]any `json:"citygrid"`
	CommercialStreets []street       `json:"commercial_streets"`
	LowPoints         []spot         `json:"low_points"`
	Markets           []spot         `json:"markets"`
}

func e6pt(p xy) [2]float64 {
	q := p.e6()
	return [2]float64{float64(q[0]) / 1e6, float64(q[1]) / 1e6}
}

// placer finds where points fall and draws points in places.
type placer struct {
	rng   *rand.Rand
	city  [][2]int64
	core  [][2]int64
	comm  func(p [2]int64) int // community index or -1
	town  func(p [2]int64) int
	names func(ci int) string
}

func (pl *placer) inCity(p xy) bool {
	q := p.e6()
	return pip(pl.city, float64(q[0]), float64(q[1]))
}

func (pl *placer) gauss(c xy, sigma float64) xy {
	for {
		p := xy{c.x + pl.rng.NormFloat64()*sigma, c.y + pl.rng.NormFloat64()*sigma}
		if pl.inCity(p) && pl.comm(p.e6()) >= 0 {
			return p
		}
	}
}

func (pl *placer) inRing(r [][2]int64) xy {
	x0, y0, x1, y1 := ringBBox(r)
	for {
		x := float64(x0) + pl.rng.Float64()*float64(x1-x0)
		y := float64(y0) + pl.rng.Float64()*float64(y1-y0)
		if pip(r, x, y) {
			p := ll(x/1e6, y/1e6)
			if pl.inCity(p) && pl.comm(p.e6()) >= 0 {
				return p
			}
		}
	}
}

// along returns a point on a polyline chosen uniformly by length, and the
// bearing there.
func along(rng *rand.Rand, pts []xy) (xy, float64) {
	tot := 0.0
	for i := 1; i < len(pts); i++ {
		tot += math.Hypot(pts[i].x-pts[i-1].x, pts[i].y-pts[i-1].y)
	}
	r := rng.Float64() * tot
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		l := math.Hypot(b.x-a.x, b.y-a.y)
		if r <= l || i == len(pts)-1 {
			t := math.Min(1, r/l)
			return xy{a.x + (b.x-a.x)*t, a.y + (b.y-a.y)*t}, math.Atan2(b.x-a.x, b.y-a.y)
		}
		r -= l
	}
	return pts[0], 0
}

func polyLen(pts []xy) float64 {
	s := 0.0
	for i := 1; i < len(pts); i++ {
		s += math.Hypot(pts[i].x-pts[i-1].x, pts[i].y-pts[i-1].y)
	}
	return s
}

var compass = []string{"N", "NE", "E", "SE", "S", "SW", "W", "NW"}

func bearingName(b float64) string {
	d := math.Mod(b*180/math.Pi+360, 360)
	return compass[int(math.Round(d/45))%8]
}

func pick[T any](rng *rand.Rand, xs []T, ws []float64) T {
	tot := 0.0
	for _, w := range ws {
		tot += w
	}
	r := rng.Float64() * tot
	for i, w := range ws {
		if r < w {
			return xs[i]
		}
		r -= w
	}
	return xs[len(xs)-1]
}

var urbanStreets = []struct {
	name   string
	weight float64
	pts    []float64
}{
	{"紫阳街", 3, []float64{121.1262, 28.8470, 121.1268, 28.8530, 121.1275, 28.8590}},
	{"回浦路", 2, []float64{121.1150, 28.8630, 121.1300, 28.8615, 121.1420, 28.8610}},
	{"东湖路", 1.5, []float64{121.1330, 28.8500, 121.1360, 28.8580, 121.1380, 28.8650}},
	{"赤城路", 2, []float64{121.1100, 28.8545, 121.1250, 28.8540, 121.1400, 28.8530}},
	{"崇和路", 1.5, []float64{121.1450, 28.8640, 121.1470, 28.8720, 121.1480, 28.8800}},
	{"大洋路商业街", 2, []float64{121.1380, 28.8740, 121.1420, 28.8800, 121.1430, 28.8860}},
	{"银泰城商圈", 2.5, []float64{121.1520, 28.8790, 121.1600, 28.8780}},
	{"柏叶中路", 1.5, []float64{121.1150, 28.8755, 121.1300, 28.8740}},
	{"江南街", 1.5, []float64{121.1100, 28.8230, 121.1250, 28.8200, 121.1380, 28.8190}},
	{"大田商贸街", 1, []float64{121.1820, 28.8780, 121.1950, 28.8760}},
	{"邵家渡老街", 1, []float64{121.1990, 28.8320, 121.2080, 28.8300}},
	{"巾子山路", 1, []float64{121.1180, 28.8500, 121.1230, 28.8520}},
}

// buildFacilities places cameras, gas companies and their points, toilets,
// transfer stations and water-logging sensors, and the hotspot anchors.
func buildFacilities(pl *placer, w *world, roads []line, scenic [][2]int64) ([]facRec, anchorsFile) {
	rng := pl.rng
	var facs []facRec
	var anch anchorsFile
	seat := func(ti int) xy { d := w.towns[ti].def; return ll(d.lon, d.lat) }
	townCode := func(p xy) string {
		if t := pl.town(p.e6()); t >= 0 {
			return w.towns[t].def.code
		}
		return ""
	}
	commName := func(p xy) string {
		if c := pl.comm(p.e6()); c >= 0 {
			return pl.names(c)
		}
		return "临海"
	}
	counts := map[string]int{}
	uniq := func(base string) string {
		counts[base]++
		if n := counts[base]; n > 1 {
			return fmt.Sprintf("%s(%d)", base, n)
		}
		return base
	}
	ruralTowns := []int{}
	for i, t := range w.towns {
		if t.def.kind == "town" {
			ruralTowns = append(ruralTowns, i)
		}
	}

	// Commercial streets: the old town and new town, and one main street
	// in each town seat.
	var streets []line
	for _, s := range urbanStreets {
		c := spline(lls(s.pts...), 40)
		streets = append(streets, line{name: s.name, pts: c})
		anch.CommercialStreets = append(anch.CommercialStreets, street{s.name, townCode(c[0]), s.weight, linePts(c)})
	}
	suffix := []string{"大街", "老街", "中路", "商业街"}
	for _, ti := range ruralTowns {
		c := seat(ti)
		ang := rng.Float64() * math.Pi
		half := 350 + rng.Float64()*300
		ctrl := []xy{{c.x - half*math.Cos(ang), c.y - half*math.Sin(ang)}, c, {c.x + half*math.Cos(ang) + 60, c.y + half*math.Sin(ang) - 40}}
		pts := spline(ctrl, 40)
		name := strings.TrimSuffix(w.towns[ti].def.name, "镇") + suffix[rng.IntN(len(suffix))]
		streets = append(streets, line{name: name, pts: pts})
		anch.CommercialStreets = append(anch.CommercialStreets, street{name, w.towns[ti].def.code, 0.6 + 0.8*rng.Float64(), linePts(pts)})
	}

	// Low points: along the river through the city, and in the coastal
	// and riverside plains.
	river := roads[len(roads)-1].pts
	var core []xy
	x1, _ := toXY(121.06, 0)
	x2, _ := toXY(121.25, 0)
	for _, p := range river {
		if p.x >= x1 && p.x <= x2 {
			core = append(core, p)
		}
	}
	var lows []xy
	for len(lows) < 32 {
		p, b := along(rng, core)
		side := 1.0
		if rng.IntN(2) == 0 {
			side = -1
		}
		d := side * (180 + rng.Float64()*1300)
		q := xy{p.x - math.Cos(b)*d, p.y + math.Sin(b)*d}
		if pl.inCity(q) && pl.comm(q.e6()) >= 0 {
			lows = append(lows, q)
		}
	}
	plains := map[string]int{"杜桥镇": 8, "沿江镇": 5, "汛桥镇": 4, "桃渚镇": 3, "上盘镇": 3, "东塍镇": 3, "小芝镇": 2}
	for _, ti := range ruralTowns {
		for k := 0; k < plains[w.towns[ti].def.name]; k++ {
			lows = append(lows, pl.gauss(seat(ti), 1300))
		}
	}
	for i, p := range lows {
		name := uniq(commName(p) + "易涝点")
		anch.LowPoints = append(anch.LowPoints, spot{name, townCode(p), math.Round((0.5+1.5*rng.Float64())*100) / 100, e6pt(p)})
		q := xy{p.x + rng.NormFloat64()*8, p.y + rng.NormFloat64()*8}
		facs = append(facs, facRec{fmt.Sprintf("3310820604%06d", i+1), "waterlog_sensor", name + "积水监测仪", q.e6(),
			map[string]string{"low_point": name, "alert_cm": fmt.Sprint(15 + 5*rng.IntN(3))}})
	}

	// Markets.
	var markets []xy
	for len(markets) < 16 {
		markets = append(markets, pl.inRing(pl.core))
	}
	extra := map[string]int{"杜桥镇": 2, "汛桥镇": 1, "东塍镇": 1}
	for _, ti := range ruralTowns {
		for k := 0; k < 1+extra[w.towns[ti].def.name]; k++ {
			markets = append(markets, pl.gauss(seat(ti), 500+float64(k)*900))
		}
	}
	for _, p := range markets {
		stem := strings.TrimSuffix(strings.TrimSuffix(commName(p), "社区"), "村")
		anch.Markets = append(anch.Markets, spot{uniq(stem + "农贸市场"), townCode(p), math.Round((0.6+1.4*rng.Float64())*100) / 100, e6pt(p)})
	}

	// Cameras: along the arterial roads, in the urban core (denser on the
	// commercial streets) and around the town seats.
	arts := roads[:len(roads)-1]
	artW := make([]float64, len(arts))
	for i, r := range arts {
		artW[i] = polyLen(r.pts)
	}
	streetW := make([]float64, len(urbanStreets))
	for i := range streetW {
		streetW[i] = polyLen(streets[i].pts)
	}
	ncam := 0
	camera := func(p xy, dir, owner, place string) {
		ncam++
		facs = append(facs, facRec{fmt.Sprintf("3310820602%06d", ncam), "camera", uniq(place + "视频监控"), p.e6(),
			map[string]string{"direction": dir, "owner": owner}})
	}
	for ncam < 1700 {
		r := pick(rng, arts, artW)
		p, b := along(rng, r.pts)
		side := []float64{-1, 1}[rng.IntN(2)]
		d := side * (10 + rng.Float64()*12)
		q := xy{p.x - math.Cos(b)*d, p.y + math.Sin(b)*d}
		if !pl.inCity(q) || pl.comm(q.e6()) < 0 {
			continue
		}
		if side < 0 {
			b += math.Pi
		}
		camera(q, bearingName(b), pick(rng, []string{"交警", "公安"}, []float64{0.7, 0.3}), r.name)
	}
	for ncam < 1700+1800 {
		var p xy
		if rng.IntN(2) == 0 {
			s := pick(rng, streets[:len(urbanStreets)], streetW)
			c, _ := along(rng, s.pts)
			p = pl.gauss(c, 40)
		} else {
			p = pl.inRing(pl.core)
		}
		camera(p, compass[rng.IntN(8)], pick(rng, []string{"公安", "城管", "交警"}, []float64{0.5, 0.25, 0.25}), commName(p))
	}
	for ncam < 4097 {
		ti := ruralTowns[rng.IntN(len(ruralTowns))]
		p := pl.gauss(seat(ti), 900)
		camera(p, compass[rng.IntN(8)], pick(rng, []string{"公安", "交警", "城管"}, []float64{0.6, 0.3, 0.1}), commName(p))
	}

	// Gas: 7 bottled-gas companies, 3 distribution points each.
	gas := []struct {
		name  string
		towns []string
	}{
		{"临海市天然气有限公司", []string{"古城街道", "大洋街道", "永丰镇"}},
		{"临海市华港液化气有限公司", []string{"大田街道", "汛桥镇", "东塍镇"}},
		{"临海市东方燃气有限公司", []string{"杜桥镇", "小芝镇", "沿江镇"}},
		{"临海市江南液化气站有限公司", []string{"江南街道", "尤溪镇", "涌泉镇"}},
		{"临海市括苍燃气供应有限公司", []string{"白水洋镇", "括苍镇", "河头镇"}},
		{"临海市海港液化石油气有限公司", []string{"上盘镇", "桃渚镇", "杜桥镇"}},
		{"临海市汇溪燃气有限公司", []string{"汇溪镇", "邵家渡街道", "东塍镇"}},
	}
	townIdx := map[string]int{}
	for i, t := range w.towns {
		townIdx[t.def.name] = i
	}
	for i, g := range gas {
		code := fmt.Sprintf("GC%02d", i+1)
		hq := pl.gauss(seat(townIdx[g.towns[0]]), 400)
		facs = append(facs, facRec{code, "gas_company", g.name, hq.e6(),
			map[string]string{"license": fmt.Sprintf("浙燃经%04d", 1100+37*i), "gas": "瓶装液化石油气"}})
		for k, tn := range g.towns {
			p := pl.gauss(seat(townIdx[tn]), 700+300*float64(k))
			short := strings.TrimSuffix(strings.TrimPrefix(g.name, "临海市"), "有限公司")
			facs = append(facs, facRec{fmt.Sprintf("%s-%02d", code, k+1), "gas_point",
				uniq(short + "·" + strings.TrimSuffix(strings.TrimSuffix(tn, "街道"), "镇") + "供应点"), p.e6(),
				map[string]string{"company": code}})
		}
	}

	// Public toilets and transfer stations.
	nt := 0
	toilet := func(p xy) {
		nt++
		hours := pick(rng, []string{"24h", "05:30-22:30", "06:00-21:00"}, []float64{0.5, 0.3, 0.2})
		facs = append(facs, facRec{fmt.Sprintf("3310820302%06d", nt), "toilet", uniq(commName(p) + "公厕"), p.e6(),
			map[string]string{"open_hours": hours, "grade": pick(rng, []string{"一类", "二类", "三类"}, []float64{0.3, 0.5, 0.2})}})
	}
	for nt < 10 {
		toilet(pl.inRing(scenic))
	}
	for nt < 94 {
		if rng.IntN(2) == 0 {
			s := pick(rng, streets[:len(urbanStreets)], streetW)
			c, _ := along(rng, s.pts)
			toilet(pl.gauss(c, 80))
		} else {
			toilet(pl.inRing(pl.core))
		}
	}
	for _, ti := range ruralTowns {
		for k := 0; k < 4; k++ {
			toilet(pl.gauss(seat(ti), 700))
		}
	}
	ns := 0
	station := func(p xy) {
		ns++
		facs = append(facs, facRec{fmt.Sprintf("3310820303%06d", ns), "transfer_station", uniq(commName(p) + "垃圾中转站"), p.e6(),
			map[string]string{"capacity_t": fmt.Sprint(10 * (2 + rng.IntN(5)))}})
	}
	for ns < 12 {
		station(pl.inRing(pl.core))
	}
	for _, ti := range ruralTowns {
		station(pl.gauss(seat(ti), 600))
		station(pl.gauss(seat(ti), 2500))
	}
	return facs, anch
}

func linePts(pts []xy) [][2]float64 {
	var out [][2]float64
	for i, p := range pts {
		if i%3 == 0 || i == len(pts)-1 {
			out = append(out, e6pt(p))
		}
	}
	return out
}
