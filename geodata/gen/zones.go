package main

import (
	"fmt"
	"math"
	"math/rand/v2"
)

type xy struct{ x, y float64 }

func ll(lon, lat float64) xy {
	x, y := toXY(lon, lat)
	return xy{x, y}
}

func lls(pts ...float64) []xy {
	out := make([]xy, 0, len(pts)/2)
	for i := 0; i+1 < len(pts); i += 2 {
		out = append(out, ll(pts[i], pts[i+1]))
	}
	return out
}

func (p xy) e6() [2]int64 {
	lon, lat := toLonLat(p.x, p.y)
	return [2]int64{e6(lon), e6(lat)}
}

// spline samples a Catmull–Rom curve through the control points about
// every step metres.
func spline(ctrl []xy, step float64) []xy {
	var out []xy
	n := len(ctrl)
	at := func(i int) xy { return ctrl[max(0, min(n-1, i))] }
	for i := 0; i+1 < n; i++ {
		p0, p1, p2, p3 := at(i-1), at(i), at(i+1), at(i+2)
		if i == 0 {
			p0 = xy{2*p1.x - p2.x, 2*p1.y - p2.y}
		}
		if i+2 >= n {
			p3 = xy{2*p2.x - p1.x, 2*p2.y - p1.y}
		}
		m := max(1, int(math.Ceil(math.Hypot(p2.x-p1.x, p2.y-p1.y)/step)))
		for k := 0; k < m; k++ {
			t := float64(k) / float64(m)
			t2, t3 := t*t, t*t*t
			f := func(a, b, c, d float64) float64 {
				return 0.5 * (2*b + (-a+c)*t + (2*a-5*b+4*c-d)*t2 + (-a+3*b-3*c+d)*t3)
			}
			out = append(out, xy{f(p0.x, p1.x, p2.x, p3.x), f(p0.y, p1.y, p2.y, p3.y)})
		}
	}
	return append(out, ctrl[n-1])
}

// offset shifts a polyline d metres to its left.
func offset(pts []xy, d float64) []xy {
	out := make([]xy, len(pts))
	for i := range pts {
		a, b := pts[max(0, i-1)], pts[min(len(pts)-1, i+1)]
		dx, dy := b.x-a.x, b.y-a.y
		l := math.Hypot(dx, dy)
		out[i] = xy{pts[i].x - dy/l*d, pts[i].y + dx/l*d}
	}
	return out
}

// strip is the polygon between the offsets d1 and d2 (metres, signed: +
// left) of a polyline.
func strip(pts []xy, d1, d2 float64) []xy {
	a, b := offset(pts, d1), offset(pts, d2)
	r := append([]xy(nil), a...)
	for i := len(b) - 1; i >= 0; i-- {
		r = append(r, b[i])
	}
	return r
}

// blob is a smooth irregular star-shaped outline.
func blob(c xy, rx, ry, rot float64, seed uint64, n int, rough float64) []xy {
	rng := rand.New(rand.NewPCG(seed, 99))
	amp := make([]float64, 7)
	ph := make([]float64, 7)
	for k := 2; k < 7; k++ {
		amp[k] = rough / float64(k) * (0.5 + rng.Float64())
		ph[k] = rng.Float64() * 2 * math.Pi
	}
	out := make([]xy, n)
	for i := 0; i < n; i++ {
		th := 2 * math.Pi * float64(i) / float64(n)
		f := 1.0
		for k := 2; k < 7; k++ {
			f += amp[k] * math.Cos(float64(k)*th+ph[k])
		}
		x, y := rx*f*math.Cos(th), ry*f*math.Sin(th)
		out[i] = xy{c.x + x*math.Cos(rot) - y*math.Sin(rot), c.y + x*math.Sin(rot) + y*math.Cos(rot)}
	}
	return out
}

// ringE6 rounds an outline, drops repeated points, closes it and makes it
// counter-clockwise.
func ringE6(pts []xy) [][2]int64 {
	var r [][2]int64
	for _, p := range pts {
		q := p.e6()
		if len(r) == 0 || r[len(r)-1] != q {
			r = append(r, q)
		}
	}
	if r[0] == r[len(r)-1] {
		r = r[:len(r)-1]
	}
	r = append(r, r[0])
	if ringArea2(r) < 0 {
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
	}
	return r
}

// ringSimple reports whether a closed ring has no self-intersection.
func ringSimple(r [][2]int64) bool {
	n := len(r) - 1
	for i := 0; i < n; i++ {
		a, b := r[i], r[i+1]
		for j := i + 1; j < n; j++ {
			c, d := r[j], r[j+1]
			if max(a[0], b[0]) < min(c[0], d[0]) || max(c[0], d[0]) < min(a[0], b[0]) ||
				max(a[1], b[1]) < min(c[1], d[1]) || max(c[1], d[1]) < min(a[1], b[1]) {
				continue
			}
			adjacent := j == i+1 || (i == 0 && j == n-1)
			if adjacent {
				// consecutive segments may only share their common vertex
				var p, q, s [2]int64
				if j == i+1 {
					p, q, s = b, a, d
				} else {
					p, q, s = a, b, c
				}
				if orient(p, q, s) == 0 && (q[0]-p[0])*(s[0]-p[0])+(q[1]-p[1])*(s[1]-p[1]) > 0 {
					return false
				}
				continue
			}
			if segsIntersect(a, b, c, d) {
				return false
			}
		}
	}
	return true
}

// pip is an even–odd point-in-ring test on micro-degrees.
func pip(r [][2]int64, x, y float64) bool {
	in := false
	for i := 0; i+1 < len(r); i++ {
		ax, ay := float64(r[i][0]), float64(r[i][1])
		bx, by := float64(r[i+1][0]), float64(r[i+1][1])
		if (ay > y) != (by > y) && x < ax+(y-ay)*(bx-ax)/(by-ay) {
			in = !in
		}
	}
	return in
}

func ringBBox(r [][2]int64) (x0, y0, x1, y1 int64) {
	x0, y0, x1, y1 = math.MaxInt64, math.MaxInt64, math.MinInt64, math.MinInt64
	for _, p := range r {
		x0, y0, x1, y1 = min(x0, p[0]), min(y0, p[1]), max(x1, p[0]), max(y1, p[1])
	}
	return
}

// ringsCross reports whether any segment of a meets any segment of b.
func ringsCross(a, b [][2]int64) bool {
	ax0, ay0, ax1, ay1 := ringBBox(a)
	for j := 0; j+1 < len(b); j++ {
		c, d := b[j], b[j+1]
		if max(c[0], d[0]) < ax0 || min(c[0], d[0]) > ax1 || max(c[1], d[1]) < ay0 || min(c[1], d[1]) > ay1 {
			continue
		}
		for i := 0; i+1 < len(a); i++ {
			if segsIntersect(a[i], a[i+1], c, d) {
				return true
			}
		}
	}
	return false
}

type zoneRec struct {
	code, name, kind string
	ring             [][2]int64
}

type line struct {
	code, name string
	pts        []xy
}

// The river Ling (灵江), synthetic course: from the western hills past the
// south of the old town to the south-east.
var lingRiver = lls(120.87, 28.872, 120.93, 28.884, 120.99, 28.866, 121.04, 28.849, 121.09, 28.842,
	121.125, 28.840, 121.16, 28.837, 121.20, 28.825, 121.24, 28.806, 121.28, 28.787, 121.32, 28.768, 121.36, 28.745)

var arterialDefs = []struct {
	name string
	pts  []float64
}{
	{"G104国道临海段", []float64{121.100, 28.985, 121.125, 28.935, 121.155, 28.885, 121.168, 28.835, 121.175, 28.790, 121.200, 28.740}},
	{"靖江路", []float64{121.095, 28.868, 121.125, 28.861, 121.150, 28.859, 121.178, 28.857}},
	{"大洋路", []float64{121.139, 28.915, 121.142, 28.885, 121.139, 28.862}},
	{"东方大道", []float64{121.120, 28.897, 121.165, 28.890, 121.215, 28.877, 121.255, 28.862}},
	{"江南大道", []float64{121.080, 28.826, 121.120, 28.818, 121.165, 28.816, 121.215, 28.812}},
	{"柏叶路", []float64{121.100, 28.877, 121.135, 28.873, 121.170, 28.871}},
	{"S225省道临杜线", []float64{121.200, 28.845, 121.300, 28.825, 121.400, 28.812, 121.470, 28.800, 121.540, 28.808}},
	{"S322省道临白线", []float64{120.905, 28.872, 120.970, 28.884, 121.040, 28.879, 121.092, 28.869}},
	{"东塍线", []float64{121.180, 28.893, 121.215, 28.935, 121.235, 28.985}},
	{"杜桥大道", []float64{121.440, 28.770, 121.465, 28.800, 121.495, 28.835}},
}

var parkDefs = []struct {
	name     string
	lon, lat float64
	rx, ry   float64
}{
	{"东湖公园", 121.134, 28.856, 320, 240},
	{"巾山公园", 121.121, 28.848, 230, 200},
	{"灵湖公园", 121.152, 28.888, 650, 480},
	{"江南体育公园", 121.112, 28.826, 330, 260},
	{"大田文化公园", 121.188, 28.868, 300, 250},
	{"北固山公园", 121.113, 28.861, 260, 200},
	{"括苍山森林公园", 120.975, 28.765, 2200, 1600},
	{"桃渚森林公园", 121.620, 28.825, 1500, 1200},
}

var bankDefs = []struct {
	name       string
	lon1, lon2 float64
	side       float64 // +1 north (left of the west→east course), -1 south
}{
	{"灵江北岸(古城段)", 121.080, 121.170, 1},
	{"灵江南岸(江南段)", 121.080, 121.170, -1},
	{"灵江北岸(邵家渡段)", 121.180, 121.265, 1},
	{"灵江南岸(沿江段)", 121.180, 121.300, -1},
	{"灵江北岸(永丰段)", 121.000, 121.070, 1},
	{"灵江南岸(永丰段)", 121.000, 121.070, -1},
}

// buildZones makes the responsibility zones and the road centre lines the
// facilities and hotspots use. Every zone lies inside the city.
func buildZones(city [][2]int64) ([]zoneRec, []line) {
	inside := func(r [][2]int64) bool {
		for _, p := range r {
			if !pip(city, float64(p[0]), float64(p[1])) {
				return false
			}
		}
		return !ringsCross(r, city)
	}
	var zones []zoneRec
	add := func(code, name, kind string, pts []xy) {
		r := ringE6(pts)
		if !ringSimple(r) {
			panic("zone not simple: " + name)
		}
		if !inside(r) {
			panic("zone not inside the city: " + name)
		}
		zones = append(zones, zoneRec{code, name, kind, r})
	}
	add("Z-URB-001", "临海主城区", "urban_core", blob(ll(121.150, 28.857), 5200, 3600, 0.15, 1, 180, 0.18))
	add("Z-SCN-001", "台州府城文化旅游区", "scenic_area", blob(ll(121.125, 28.853), 1100, 750, -0.2, 2, 120, 0.15))
	for i, p := range parkDefs {
		add(fmt.Sprintf("Z-PRK-%03d", i+1), p.name, "park", blob(ll(p.lon, p.lat), p.rx, p.ry, float64(i)*0.7, uint64(10+i), 72, 0.2))
	}
	var roads []line
	for i, a := range arterialDefs {
		c := spline(lls(a.pts...), 60)
		code := fmt.Sprintf("Z-ART-%03d", i+1)
		roads = append(roads, line{code, a.name, c})
		add(code, a.name, "arterial_road", strip(c, -25, 25))
	}
	river := spline(lingRiver, 60)
	for i, b := range bankDefs {
		x1, _ := toXY(b.lon1, 0)
		x2, _ := toXY(b.lon2, 0)
		var part []xy
		for _, p := range river {
			if p.x >= x1 && p.x <= x2 {
				part = append(part, p)
			}
		}
		add(fmt.Sprintf("Z-RVB-%03d", i+1), b.name, "river_bank", strip(part, b.side*45, b.side*150))
	}
	roads = append(roads, line{"RIVER", "灵江", river})
	return zones, roads
}
