package main

import "math"

// Projection: a local equirectangular plane in metres around the middle of
// Linhai's extent. Only the generator uses metres; the files hold WGS84.
const (
	lon0       = 121.27
	lat0       = 28.865
	mPerDegLon = 97569.0
	mPerDegLat = 110834.0
)

func toLonLat(x, y float64) (float64, float64) { return lon0 + x/mPerDegLon, lat0 + y/mPerDegLat }
func toXY(lon, lat float64) (float64, float64) {
	return (lon - lon0) * mPerDegLon, (lat - lat0) * mPerDegLat
}

// e6 rounds a coordinate to 6 decimals, kept as an integer of micro-degrees
// so that geometry predicates on the written coordinates are exact.
func e6(v float64) int64 { return int64(math.Round(v * 1e6)) }

// lattice is a brick lattice: rows of w×h bricks, odd rows shifted by w/2.
// Three bricks meet at every vertex, so a union of bricks never touches
// itself at a single vertex (no pinches), and the boundary of any region is
// a set of simple loops. Each brick has six vertices: its four corners and
// the midpoints of its top and bottom edges, where the bricks of the
// neighbouring rows meet. Vertex (K, J) lies at x = K·w/2, y = J·h.
type lattice struct {
	w, h   float64
	ni, nj int // bricks per row, rows
	nk     int // vertex columns
	x0, y0 float64
	step   [6]float64
}

func newLattice(w, h, xmin, xmax, ymin, ymax float64) *lattice {
	l := &lattice{w: w, h: h}
	l.ni = int(math.Ceil((xmax-xmin)/w)) + 2
	l.nj = int(math.Ceil((ymax-ymin)/h)) + 2
	l.nk = 2*l.ni + 2
	l.x0 = xmin - w
	l.y0 = ymin - h
	d := math.Hypot(w/2, h)
	l.step = [6]float64{d, d, w, d, d, w}
	return l
}

func (l *lattice) ntiles() int { return l.ni * l.nj }
func (l *lattice) nverts() int { return l.nk * (l.nj + 1) }

func (l *lattice) center(t int32) (float64, float64) {
	i, j := int(t)%l.ni, int(t)/l.ni
	o := float64(j & 1)
	return l.x0 + (float64(i)+0.5+0.5*o)*l.w, l.y0 + (float64(j)+0.5)*l.h
}

// tileAt returns the brick containing the metric point (x, y), or -1.
func (l *lattice) tileAt(x, y float64) int32 {
	j := int(math.Floor((y - l.y0) / l.h))
	if j < 0 || j >= l.nj {
		return -1
	}
	i := int(math.Floor((x-l.x0)/l.w - 0.5*float64(j&1)))
	if i < 0 || i >= l.ni {
		return -1
	}
	return int32(j*l.ni + i)
}

// nb returns the brick across edge e (0..5, counter-clockwise from the
// lower-left half of the bottom edge), or -1 outside the lattice.
func (l *lattice) nb(t int32, e int) int32 {
	i, j := int(t)%l.ni, int(t)/l.ni
	o := j & 1
	switch e {
	case 0:
		i, j = i-1+o, j-1
	case 1:
		i, j = i+o, j-1
	case 2:
		i++
	case 3:
		i, j = i+o, j+1
	case 4:
		i, j = i-1+o, j+1
	case 5:
		i--
	}
	if i < 0 || i >= l.ni || j < 0 || j >= l.nj {
		return -1
	}
	return int32(j*l.ni + i)
}

// corner returns vertex c of brick t: 0 BL, 1 BM, 2 BR, 3 TR, 4 TM, 5 TL.
func (l *lattice) corner(t int32, c int) int32 {
	i, j := int(t)%l.ni, int(t)/l.ni
	k := 2*i + (j & 1)
	switch c {
	case 0:
		return int32(j*l.nk + k)
	case 1:
		return int32(j*l.nk + k + 1)
	case 2:
		return int32(j*l.nk + k + 2)
	case 3:
		return int32((j+1)*l.nk + k + 2)
	case 4:
		return int32((j+1)*l.nk + k + 1)
	default:
		return int32((j+1)*l.nk + k)
	}
}

// vxy is the unwarped metric position of vertex v.
func (l *lattice) vxy(v int32) (float64, float64) {
	k, j := int(v)%l.nk, int(v)/l.nk
	return l.x0 + float64(k)*l.w/2, l.y0 + float64(j)*l.h
}

// vcoord is the written position of vertex v: warped, projected and rounded
// once, so every polygon sharing the vertex shares the exact same value.
func (l *lattice) vcoord(v int32) (int64, int64) {
	x, y := l.vxy(v)
	x, y = warp(x, y)
	lon, lat := toLonLat(x, y)
	return e6(lon), e6(lat)
}

// warp is a smooth displacement that keeps the lattice from looking like a
// lattice. Its derivatives stay well below 1 so it never folds the plane.
func warp(x, y float64) (float64, float64) {
	type wave struct{ a, lambda, dir, phase float64 }
	wx := [...]wave{{240, 15000, 0.3, 0.7}, {90, 5200, 1.9, 2.1}, {22, 1400, 0.8, 4.0}}
	wy := [...]wave{{220, 13000, 1.2, 1.3}, {80, 4700, 2.6, 0.2}, {20, 1300, 2.2, 5.1}}
	dx, dy := 0.0, 0.0
	for _, w := range wx {
		dx += w.a * math.Sin(2*math.Pi*(x*math.Cos(w.dir)+y*math.Sin(w.dir))/w.lambda+w.phase)
	}
	for _, w := range wy {
		dy += w.a * math.Sin(2*math.Pi*(x*math.Cos(w.dir)+y*math.Sin(w.dir))/w.lambda+w.phase)
	}
	return x + dx, y + dy
}

// hash64 mixes integers into a well-spread 64-bit value (splitmix64 finaliser).
func hash64(a, b int64, seed uint64) uint64 {
	h := uint64(a)*0x9E3779B97F4A7C15 ^ uint64(b)*0xC2B2AE3D27D4EB4F ^ seed*0x165667B19E3779F9
	h ^= h >> 30
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 27
	h *= 0x94D049BB133111EB
	h ^= h >> 31
	return h
}

// valueNoise is smooth noise in [-1, 1] with unit feature size.
func valueNoise(x, y float64, seed uint64) float64 {
	ix, iy := math.Floor(x), math.Floor(y)
	fx, fy := x-ix, y-iy
	sx, sy := fx*fx*(3-2*fx), fy*fy*(3-2*fy)
	v := func(a, b int64) float64 {
		return float64(hash64(a, b, seed)>>11)/float64(1<<53)*2 - 1
	}
	i, j := int64(ix), int64(iy)
	a := v(i, j) + (v(i+1, j)-v(i, j))*sx
	b := v(i, j+1) + (v(i+1, j+1)-v(i, j+1))*sx
	return a + (b-a)*sy
}

// fbm sums octaves of value noise; scale is the largest feature size in metres.
func fbm(x, y, scale float64, octaves int, seed uint64) float64 {
	s, amp, tot := 0.0, 1.0, 0.0
	for o := 0; o < octaves; o++ {
		s += amp * valueNoise(x/scale, y/scale, seed+uint64(o)*7919)
		tot += amp
		amp *= 0.5
		scale *= 0.5
	}
	return s / tot
}
