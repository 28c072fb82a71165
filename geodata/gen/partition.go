package main

import (
	"math"
	"math/rand/v2"
)

type hitem struct {
	d    float64
	t, l int32
}

// hq is a binary min-heap ordered by distance, then brick (deterministic).
type hq []hitem

func (h hq) less(a, b int) bool {
	if h[a].d != h[b].d {
		return h[a].d < h[b].d
	}
	return h[a].t < h[b].t
}

func (h *hq) push(it hitem) {
	*h = append(*h, it)
	q := *h
	i := len(q) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			break
		}
		q[i], q[p] = q[p], q[i]
		i = p
	}
}

func (h *hq) pop() hitem {
	q := *h
	top := q[0]
	n := len(q) - 1
	q[0] = q[n]
	q = q[:n]
	i := 0
	for {
		l, r, m := 2*i+1, 2*i+2, i
		if l < n && q.less(l, m) {
			m = l
		}
		if r < n && q.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		q[i], q[m] = q[m], q[i]
		i = m
	}
	*h = q
	return top
}

// grower partitions a region of bricks by simultaneous growth from seeds
// (multi-source Dijkstra). Every region it produces is edge-connected: a
// brick is claimed only from a neighbour already claimed by the same seed.
type grower struct {
	L    *lattice
	best []float64
	h    hq
	// loop tracing scratch, indexed by vertex
	next    []int32
	nstamp  []int32
	visited []int32
	stamp   int32
}

func newGrower(L *lattice) *grower {
	return &grower{L: L, best: make([]float64, L.ntiles()), next: make([]int32, L.nverts()),
		nstamp: make([]int32, L.nverts()), visited: make([]int32, L.nverts())}
}

// grow labels every brick t of tiles (all with par[t] == pv) with the index
// of the seed that reaches it first; heads (nil = 0) give seeds a head start
// in metres and cost is a per-brick terrain factor shared by all seeds.
func (g *grower) grow(tiles []int32, par []int32, pv int32, seeds []int32, heads []float64, cost []float32, out []int32) {
	for _, t := range tiles {
		out[t] = -1
		g.best[t] = math.Inf(1)
	}
	g.h = g.h[:0]
	for k, s := range seeds {
		d := 0.0
		if heads != nil {
			d = -heads[k]
		}
		g.best[s] = d
		out[s] = int32(k) // a seed is never claimed by another seed
		g.h.push(hitem{d, s, int32(k)})
	}
	for len(g.h) > 0 {
		it := g.h.pop()
		if out[it.t] >= 0 && !(out[it.t] == it.l && seeds[it.l] == it.t && it.d == g.best[it.t]) {
			continue
		}
		out[it.t] = it.l
		for e := 0; e < 6; e++ {
			nb := g.L.nb(it.t, e)
			if nb < 0 || par[nb] != pv || out[nb] >= 0 {
				continue
			}
			nd := it.d + g.L.step[e]*0.5*float64(cost[it.t]+cost[nb])
			if nd < g.best[nb] {
				g.best[nb] = nd
				g.h.push(hitem{nd, nb, it.l})
			}
		}
	}
}

// lloyd places k seeds in the region so that the regions grown from them
// carry roughly equal mass (weight wt), and leaves the final labels in out.
func (g *grower) lloyd(tiles []int32, par []int32, pv int32, k int, cost, wt []float32, rng *rand.Rand, iters int, out []int32) []int32 {
	L := g.L
	n := len(tiles)
	xs, ys := make([]float64, n), make([]float64, n)
	for i, t := range tiles {
		xs[i], ys[i] = L.center(t)
	}
	// k-means++ start, weighted by mass.
	seeds := make([]int32, 0, k)
	d2 := make([]float64, n)
	for i := range d2 {
		d2[i] = 1e18
	}
	pick := func(w func(i int) float64) int {
		tot := 0.0
		for i := 0; i < n; i++ {
			tot += w(i)
		}
		r := rng.Float64() * tot
		for i := 0; i < n; i++ {
			r -= w(i)
			if r <= 0 && w(i) > 0 {
				return i
			}
		}
		for i := n - 1; i >= 0; i-- {
			if w(i) > 0 {
				return i
			}
		}
		return 0
	}
	first := pick(func(i int) float64 { return float64(wt[tiles[i]]) })
	seeds = append(seeds, tiles[first])
	for len(seeds) < k {
		sx, sy := L.center(seeds[len(seeds)-1])
		for i := 0; i < n; i++ {
			d := (xs[i]-sx)*(xs[i]-sx) + (ys[i]-sy)*(ys[i]-sy)
			if d < d2[i] {
				d2[i] = d
			}
		}
		i := pick(func(i int) float64 { return d2[i] * float64(wt[tiles[i]]) })
		seeds = append(seeds, tiles[i])
	}
	cx, cy, cw := make([]float64, k), make([]float64, k), make([]float64, k)
	bd := make([]float64, k)
	for it := 0; it < iters; it++ {
		g.grow(tiles, par, pv, seeds, nil, cost, out)
		for l := range cx {
			cx[l], cy[l], cw[l], bd[l] = 0, 0, 0, math.Inf(1)
		}
		for i, t := range tiles {
			l, w := out[t], float64(wt[t])
			cx[l] += xs[i] * w
			cy[l] += ys[i] * w
			cw[l] += w
		}
		for l := range cx {
			cx[l] /= cw[l]
			cy[l] /= cw[l]
		}
		for i, t := range tiles {
			l := out[t]
			d := (xs[i]-cx[l])*(xs[i]-cx[l]) + (ys[i]-cy[l])*(ys[i]-cy[l])
			if d < bd[l] {
				bd[l], seeds[l] = d, t
			}
		}
	}
	g.grow(tiles, par, pv, seeds, nil, cost, out)
	return seeds
}

// loops traces the boundary of the bricks of tiles labelled l in lab as
// closed counter-clockwise vertex loops (first vertex not repeated). A
// simply connected region has exactly one loop.
func (g *grower) loops(tiles []int32, lab []int32, l int32) [][]int32 {
	L := g.L
	g.stamp++
	st := g.stamp
	var starts []int32
	for _, t := range tiles {
		if lab[t] != l {
			continue
		}
		for e := 0; e < 6; e++ {
			nb := L.nb(t, e)
			if nb >= 0 && lab[nb] == l {
				continue
			}
			a, b := L.corner(t, e), L.corner(t, (e+1)%6)
			g.next[a] = b
			g.nstamp[a] = st
			starts = append(starts, a)
		}
	}
	var out [][]int32
	for _, s := range starts {
		if g.visited[s] == st {
			continue
		}
		var loop []int32
		for v := s; g.visited[v] != st; v = g.next[v] {
			if g.nstamp[v] != st {
				panic("open boundary")
			}
			g.visited[v] = st
			loop = append(loop, v)
		}
		out = append(out, loop)
	}
	return out
}

// byLabel groups the bricks of tiles by their label in lab (0..k-1).
func byLabel(tiles []int32, lab []int32, k int) [][]int32 {
	out := make([][]int32, k)
	for _, t := range tiles {
		out[lab[t]] = append(out[lab[t]], t)
	}
	return out
}

// meander warps a partition: each brick takes the label found at a
// smoothly displaced position (if that brick lies in the same parent), so
// borders wander instead of running straight. Pieces cut off from their
// seed are then given back to a neighbouring region, so every label stays
// one connected region.
func (g *grower) meander(tiles []int32, par []int32, pv int32, lab []int32, seeds []int32, amp, scale float64, seed uint64) {
	L := g.L
	nl := make([]int32, len(tiles))
	for i, t := range tiles {
		x, y := L.center(t)
		dx := amp * fbm(x, y, scale, 3, seed)
		dy := amp * fbm(x, y, scale, 3, seed+101)
		nl[i] = lab[t]
		if u := L.tileAt(x+dx, y+dy); u >= 0 && par[u] == pv {
			nl[i] = lab[u]
		}
	}
	for i, t := range tiles {
		lab[t] = nl[i]
	}
	for k, s := range seeds {
		lab[s] = int32(k)
	}
	// keep, for each label, the piece holding its seed
	keep := make(map[int32]bool, len(tiles))
	var stack []int32
	for k, s := range seeds {
		keep[s] = true
		stack = append(stack[:0], s)
		for len(stack) > 0 {
			u := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			for e := 0; e < 6; e++ {
				v := L.nb(u, e)
				if v >= 0 && par[v] == pv && lab[v] == int32(k) && !keep[v] {
					keep[v] = true
					stack = append(stack, v)
				}
			}
		}
	}
	var loose []int32
	for _, t := range tiles {
		if !keep[t] {
			lab[t] = -1
			loose = append(loose, t)
		}
	}
	for len(loose) > 0 {
		var rest []int32
		for _, t := range loose {
			best := int32(-1)
			for e := 0; e < 6; e++ {
				v := L.nb(t, e)
				if v >= 0 && par[v] == pv && lab[v] >= 0 {
					best = lab[v]
					break
				}
			}
			if best < 0 {
				rest = append(rest, t)
			} else {
				lab[t] = best
			}
		}
		if len(rest) == len(loose) {
			panic("meander: unreachable bricks")
		}
		loose = rest
	}
}
