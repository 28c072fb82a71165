package tiles_test

import (
	"slices"
	"strconv"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"
	"github.com/paulmach/orb/planar"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/tiles"
)

type edge [2]orb.Point

func undirected(a, b orb.Point) edge {
	if b[0] < a[0] || (b[0] == a[0] && b[1] < a[1]) {
		a, b = b, a
	}
	return edge{a, b}
}

// signedAreaLL is the planar signed area of a closed ring in lon/lat.
func signedAreaLL(r orb.Ring) float64 {
	var s float64
	for i := 0; i+1 < len(r); i++ {
		s += r[i][0]*r[i+1][1] - r[i+1][0]*r[i][1]
	}
	return s / 2
}

// sharedChain is a maximal run of one cell's boundary shared with one
// neighbour, in the order of the first cell's source ring.
type sharedChain struct {
	a, b  int
	verts []orb.Point
}

// sourceChains cuts every cell's source ring into runs by neighbour and
// returns each shared run once, from the cell with the lower index.
func sourceChains(t *testing.T, cells []grid.Cell) []sharedChain {
	users := map[edge][]int{}
	for i, c := range cells {
		if len(c.Geometry) != 1 || len(c.Geometry[0]) != 1 {
			t.Fatalf("cell %s: the test expects one ring per cell", c.Code)
		}
		r := c.Geometry[0][0]
		for k := 0; k+1 < len(r); k++ {
			e := undirected(r[k], r[k+1])
			users[e] = append(users[e], i)
		}
	}
	var out []sharedChain
	for i, c := range cells {
		r := c.Geometry[0][0]
		n := len(r) - 1
		nb := make([]int, n)
		for k := 0; k < n; k++ {
			nb[k] = -1
			for _, u := range users[undirected(r[k], r[k+1])] {
				if u != i {
					nb[k] = u
				}
			}
		}
		start := -1
		for k := 0; k < n; k++ {
			if nb[k] != nb[(k+n-1)%n] {
				start = k
				break
			}
		}
		if start < 0 {
			continue // the whole ring against one neighbour (or none): no such cell in the demo city
		}
		for k := 0; k < n; {
			e := (start + k) % n
			ch := sharedChain{a: i, b: nb[e], verts: []orb.Point{r[e]}}
			for k < n && nb[(start+k)%n] == ch.b {
				ch.verts = append(ch.verts, r[(start+k)%n+1])
				k++
			}
			if ch.b > i {
				out = append(out, ch)
			}
		}
	}
	return out
}

// path walks a closed ring forwards from one vertex to another, both
// included; nil when either is missing.
func path(r orb.Ring, from, to orb.Point) []orb.Point {
	open := r[:len(r)-1]
	i := slices.Index(open, from)
	if i < 0 || !slices.Contains(open, to) {
		return nil
	}
	out := []orb.Point{from}
	for k := 1; k <= len(open); k++ {
		p := open[(i+k)%len(open)]
		out = append(out, p)
		if p == to {
			return out
		}
	}
	return nil
}

// chainIn is the part of simplified ring out that stands for chain ch of
// source ring src, in the chain's order, and whether out runs along it in
// the source's direction.
func chainIn(src, out orb.Ring, ch []orb.Point) ([]orb.Point, bool) {
	first, last := ch[0], ch[len(ch)-1]
	// Does src run first→…→last (the chain's order)?
	i := slices.Index(src[:len(src)-1], first)
	fwd := src[(i+1)%(len(src)-1)] == ch[1]
	// Does out run the same way round as src?
	same := (signedAreaLL(src) > 0) == (signedAreaLL(out) > 0)
	if fwd == same {
		return path(out, first, last), same
	}
	p := path(out, last, first)
	slices.Reverse(p)
	return p, same
}

func isSubsequence(sub, of []orb.Point) bool {
	j := 0
	for _, p := range of {
		if j < len(sub) && sub[j] == p {
			j++
		}
	}
	return j == len(sub)
}

// At every zoom, the boundary two neighbouring cells share is the same
// vertices on both sides, walked in opposite directions: the simplified
// cells have no slivers or gaps between them.
func TestCellsSeamlessAtEveryZoom(t *testing.T) {
	city, g := demoGrid(t)
	chains := sourceChains(t, city.Cells)
	if len(chains) < len(city.Cells) {
		t.Fatalf("only %d shared boundaries among %d cells", len(chains), len(city.Cells))
	}
	for z := 0; z <= 16; z++ {
		simple := make([]orb.Ring, len(city.Cells))
		for i, c := range city.Cells {
			mp, ok := g.Geometry(tiles.LayerCells, c.Code, z)
			if !ok || len(mp) != 1 || len(mp[0]) != 1 {
				t.Fatalf("z%d cell %s: simplified to %v parts (ok %v), want one ring", z, c.Code, len(mp), ok)
			}
			simple[i] = mp[0][0]
			if n := len(simple[i]); n < 4 || simple[i][0] != simple[i][n-1] {
				t.Fatalf("z%d cell %s: ring of %d points, not closed or too short", z, c.Code, n)
			}
		}
		bad := 0
		for _, ch := range chains {
			a, b := city.Cells[ch.a], city.Cells[ch.b]
			pa, sameA := chainIn(a.Geometry[0][0], simple[ch.a], ch.verts)
			pb, sameB := chainIn(b.Geometry[0][0], simple[ch.b], ch.verts)
			switch {
			case pa == nil || pb == nil:
				t.Errorf("z%d %s|%s: an end of their shared boundary is missing", z, a.Code, b.Code)
			case !slices.Equal(pa, pb):
				t.Errorf("z%d %s|%s: shared boundary differs: %v vs %v", z, a.Code, b.Code, pa, pb)
			case pa[0] != ch.verts[0] || pa[len(pa)-1] != ch.verts[len(ch.verts)-1] || !isSubsequence(pa, ch.verts):
				t.Errorf("z%d %s|%s: shared boundary %v is not a simplification of %v", z, a.Code, b.Code, pa, ch.verts)
			default:
				// Both outputs must walk the shared vertices in opposite
				// directions (consistent orientation).
				srcA, srcB := a.Geometry[0][0], b.Geometry[0][0]
				dirA := srcA[(slices.Index(srcA[:len(srcA)-1], ch.verts[0])+1)%(len(srcA)-1)] == ch.verts[1]
				dirB := srcB[(slices.Index(srcB[:len(srcB)-1], ch.verts[0])+1)%(len(srcB)-1)] == ch.verts[1]
				if (dirA == sameA) == (dirB == sameB) {
					t.Errorf("z%d %s|%s: both sides run the shared boundary the same way", z, a.Code, b.Code)
				}
				continue
			}
			if bad++; bad > 10 {
				t.Fatalf("z%d: too many failures", z)
			}
		}
	}
}

// The levels nest at every zoom: every simplified edge of a community is
// an edge of its cells, every edge of a town an edge of its communities.
func TestLevelsNestAtEveryZoom(t *testing.T) {
	city, g := demoGrid(t)
	edges := func(layer string, codes []string, z int) map[edge]bool {
		out := map[edge]bool{}
		for _, code := range codes {
			mp, ok := g.Geometry(layer, code, z)
			if !ok {
				t.Fatalf("z%d %s %s: nothing left", z, layer, code)
			}
			for _, p := range mp {
				for _, r := range p {
					for k := 0; k+1 < len(r); k++ {
						out[undirected(r[k], r[k+1])] = true
					}
				}
			}
		}
		return out
	}
	var cells, comms, towns []string
	for _, c := range city.Cells {
		cells = append(cells, c.Code)
	}
	for _, c := range city.Communities {
		comms = append(comms, c.Code)
	}
	for _, c := range city.Towns {
		towns = append(towns, c.Code)
	}
	for _, z := range []int{0, 3, 5, 6, 7, 10, 14, 16} {
		ce, me, te := edges(tiles.LayerCells, cells, z), edges(tiles.LayerCommunities, comms, z), edges(tiles.LayerTowns, towns, z)
		for e := range me {
			if !ce[e] {
				t.Fatalf("z%d: community edge %v is no cell edge", z, e)
			}
		}
		for e := range te {
			if !me[e] {
				t.Fatalf("z%d: town edge %v is no community edge", z, e)
			}
		}
	}
}

// Low zooms drop vertices; from SourceZoom on every source vertex is kept.
func TestSimplificationByZoom(t *testing.T) {
	city, g := demoGrid(t)
	count := func(z int) (n int) {
		for _, c := range city.Cells {
			mp, _ := g.Geometry(tiles.LayerCells, c.Code, z)
			for _, p := range mp {
				for _, r := range p {
					n += len(r)
				}
			}
		}
		return n
	}
	src := 0
	for _, c := range city.Cells {
		src += len(c.Geometry[0][0])
	}
	prev := 0
	for z := 0; z <= tiles.SourceZoom+1; z++ {
		n := count(z)
		if n < prev {
			t.Errorf("z%d keeps %d vertices, fewer than z%d (%d)", z, n, z-1, prev)
		}
		prev = n
	}
	if n := count(4); n > src*3/4 {
		t.Errorf("z4 keeps %d of %d vertices: not simplified", n, src)
	}
	for _, c := range city.Cells {
		mp, _ := g.Geometry(tiles.LayerCells, c.Code, tiles.SourceZoom)
		got, want := mp[0][0], c.Geometry[0][0]
		if len(got) != len(want) {
			t.Fatalf("cell %s at z%d: %d vertices, source %d", c.Code, tiles.SourceZoom, len(got), len(want))
		}
		for _, p := range want {
			if !slices.Contains(got, p) {
				t.Fatalf("cell %s at z%d lacks source vertex %v", c.Code, tiles.SourceZoom, p)
			}
		}
	}
}

func oldTown(z int) maptile.Tile { return maptile.At(orb.Point{121.13, 28.85}, maptile.Zoom(z)) }

// A z14 cells tile over the old town decodes to the cells under it, with
// their codes as ids, their attributes, and shells wound as MVT wants.
func TestCellsTileDecodes(t *testing.T) {
	city, g := demoGrid(t)
	tile := oldTown(14)
	l, err := g.Layer(tiles.LayerCells, tile, tiles.GridFilter{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := tiles.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := mvt.Unmarshal(enc.Data)
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 || layers[0].Name != tiles.LayerCells || layers[0].Extent != 4096 || layers[0].Version != 2 {
		t.Fatalf("layers: %+v", layers)
	}
	byCode := map[string]grid.Cell{}
	for _, c := range city.Cells {
		byCode[c.Code] = c
	}
	bound := tiles.TileBound(tile)
	got := map[string]bool{}
	for _, f := range layers[0].Features {
		code, _ := f.Properties["code"].(string)
		c, ok := byCode[code]
		if !ok {
			t.Fatalf("feature with code %q: no such cell", code)
		}
		got[code] = true
		if id, _ := strconv.ParseUint(code, 10, 64); featureID(f) != id {
			t.Errorf("cell %s: id %v", code, f.ID)
		}
		if f.Properties["name"] != c.Name || f.Properties["community"] != c.CommunityCode || f.Properties["town"] != c.TownCode {
			t.Errorf("cell %s: properties %v", code, f.Properties)
		}
		if a, ok := f.Properties["area_m2"].(float64); !ok || a <= 0 {
			// orb decodes MVT integers as float64
			t.Errorf("cell %s: area_m2 %v (%T)", code, f.Properties["area_m2"], f.Properties["area_m2"])
		}
		if !c.Geometry.Bound().Intersects(bound) {
			t.Errorf("cell %s drawn but its bound misses the tile", code)
		}
		var polys []orb.Polygon
		switch g := f.Geometry.(type) {
		case orb.Polygon:
			polys = []orb.Polygon{g}
		case orb.MultiPolygon:
			polys = g
		default:
			t.Fatalf("cell %s: geometry %T", code, f.Geometry)
		}
		for _, p := range polys {
			if p[0].Orientation() != orb.CCW { // positive area in y-down tile coordinates: clockwise on screen
				t.Errorf("cell %s: shell wound the wrong way", code)
			}
		}
	}
	// Every cell containing a point of the tile must be there.
	inner := tile.Bound()
	for i := 0; i <= 20; i++ {
		for j := 0; j <= 20; j++ {
			p := orb.Point{inner.Min[0] + (inner.Max[0]-inner.Min[0])*float64(i)/20, inner.Min[1] + (inner.Max[1]-inner.Min[1])*float64(j)/20}
			for _, c := range city.Cells {
				if planar.MultiPolygonContains(c.Geometry, p) && !got[c.Code] {
					t.Fatalf("cell %s contains %v in the tile but is not drawn", c.Code, p)
				}
			}
		}
	}
	if len(got) < 5 {
		t.Fatalf("only %d cells in a z14 tile of the old town", len(got))
	}

	// A town-scoped view keeps that town's cells only.
	scoped, _ := g.Layer(tiles.LayerCells, tile, tiles.GridFilter{Town: "331082001"})
	for _, f := range scoped.Features {
		if f.Properties["town"] != "331082001" {
			t.Fatalf("town-scoped tile shows a cell of %v", f.Properties["town"])
		}
	}
	if len(scoped.Features) == 0 {
		t.Fatal("town-scoped tile is empty")
	}
}

func TestGridLayerIDsAndAttributes(t *testing.T) {
	city, g := demoGrid(t)
	tile := oldTown(11)
	var ls []*mvt.Layer
	for _, name := range tiles.GridLayers() {
		l, err := g.Layer(name, tile, tiles.GridFilter{})
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	enc, err := tiles.Encode(ls...)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := mvt.Unmarshal(enc.Data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		tiles.LayerTowns:       {"code", "name", "kind", "area_m2"},
		tiles.LayerCommunities: {"code", "name", "town", "area_m2"},
		tiles.LayerCells:       {"code", "name", "community", "town", "area_m2"},
		tiles.LayerZones:       {"code", "name", "kind", "area_m2"},
	}
	zoneKind := map[string]string{}
	for _, z := range city.Zones {
		zoneKind[z.Code] = z.Kind
	}
	for _, l := range layers {
		keys, ok := want[l.Name]
		if !ok {
			t.Fatalf("unexpected layer %q", l.Name)
		}
		delete(want, l.Name)
		for _, f := range l.Features {
			for _, k := range keys {
				if _, ok := f.Properties[k]; !ok {
					t.Errorf("%s feature %v lacks %s", l.Name, f.Properties["code"], k)
				}
			}
			code := f.Properties["code"].(string)
			var id uint64
			if l.Name == tiles.LayerZones {
				id = tiles.ZoneID(code)
				if f.Properties["kind"] != zoneKind[code] {
					t.Errorf("zone %s: kind %v", code, f.Properties["kind"])
				}
			} else {
				id, _ = strconv.ParseUint(code, 10, 64)
			}
			if featureID(f) != id {
				t.Errorf("%s %s: id %v, want %d", l.Name, code, f.ID, id)
			}
		}
	}
	if len(want) > 0 {
		t.Fatalf("layers missing from the z11 old-town tile: %v", want)
	}
	if _, err := g.Layer("facilities", tile, tiles.GridFilter{}); grid.KindOf(err) != grid.Invalid {
		t.Fatalf("facilities as a grid layer: %v", err)
	}
}

// A tile over nothing encodes to zero bytes, which decode to zero layers.
func TestEmptyTile(t *testing.T) {
	_, g := demoGrid(t)
	far := maptile.At(orb.Point{116.39, 39.91}, 14) // Beijing
	var ls []*mvt.Layer
	for _, name := range tiles.GridLayers() {
		l, _ := g.Layer(name, far, tiles.GridFilter{})
		ls = append(ls, l)
	}
	enc, err := tiles.Encode(ls...)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc.Data) != 0 || !enc.Empty() || enc.ETag == "" {
		t.Fatalf("empty tile: %d bytes, etag %q", len(enc.Data), enc.ETag)
	}
	layers, err := mvt.Unmarshal(enc.Data)
	if err != nil || len(layers) != 0 {
		t.Fatalf("decoded empty tile: %v layers, %v", len(layers), err)
	}
}

func TestCountsLayer(t *testing.T) {
	city, g := demoGrid(t)
	tile := oldTown(14)
	all, _ := g.Layer(tiles.LayerCells, tile, tiles.GridFilter{})
	counts := map[string]int64{}
	for i, f := range all.Features[:5] {
		counts[f.Properties["code"].(string)] = int64(10 * (i + 1))
	}
	counts[city.Cells[len(city.Cells)-1].Code] = 99 // elsewhere in the city
	l, err := g.CountsLayer(tiles.LayerIncidents, tiles.LayerCells, tile, counts, tiles.GridFilter{})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := tiles.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	feats := decode(t, enc)[tiles.LayerIncidents].Features
	if len(feats) != 5 {
		t.Fatalf("%d features, want the 5 counted cells in the tile", len(feats))
	}
	for _, f := range feats {
		code := f.Properties["cell"].(string)
		if f.Properties["count"] != float64(counts[code]) || len(f.Properties) != 2 {
			t.Errorf("cell %s: %v", code, f.Properties)
		}
	}
	if _, err := g.CountsLayer("x", tiles.LayerZones, tile, counts, tiles.GridFilter{}); grid.KindOf(err) != grid.Invalid {
		t.Fatalf("counts on zones: %v", err)
	}
}

func TestNewGridRejects(t *testing.T) {
	city, _ := demoGrid(t)
	bad := *city
	bad.Cells = slices.Clone(city.Cells)
	bad.Cells[0].Code = "33108200100100A"
	if _, err := tiles.NewGrid(&grid.Model{City: &bad}); grid.KindOf(err) != grid.Invalid {
		t.Fatalf("a non-numeric cell code: %v", err)
	}
	if _, err := tiles.NewGrid(nil); grid.KindOf(err) != grid.Invalid {
		t.Fatalf("no model: %v", err)
	}
	seen := map[uint64]bool{}
	for _, z := range city.Zones {
		id := tiles.ZoneID(z.Code)
		if id >= 1<<53 || seen[id] {
			t.Fatalf("zone %s: id %d", z.Code, id)
		}
		seen[id] = true
	}
}

// A grid with degenerate and T-junction input still tiles seamlessly: a
// square split into two cells, one of whose shared edge has an extra
// vertex on it (a T-junction), plus a ring that is a spike.
func TestTopologyNodesTJunctions(t *testing.T) {
	ring := func(pts ...orb.Point) orb.MultiPolygon { return orb.MultiPolygon{{append(orb.Ring(pts), pts[0])}} }
	m := &grid.Model{City: &grid.City{
		Towns:       []grid.Town{{Code: "331082001", Geometry: ring(orb.Point{121, 28}, orb.Point{121.02, 28}, orb.Point{121.02, 28.01}, orb.Point{121, 28.01})}},
		Communities: []grid.Community{{Code: "331082001001", TownCode: "331082001", Geometry: ring(orb.Point{121, 28}, orb.Point{121.02, 28}, orb.Point{121.02, 28.01}, orb.Point{121, 28.01})}},
		Cells: []grid.Cell{
			{Code: "331082001001001", TownCode: "331082001", Geometry: ring(orb.Point{121, 28}, orb.Point{121.01, 28}, orb.Point{121.01, 28.01}, orb.Point{121, 28.01})},
			// Its west edge carries a vertex the first cell's east edge lacks.
			{Code: "331082001001002", TownCode: "331082001", Geometry: ring(orb.Point{121.01, 28}, orb.Point{121.02, 28}, orb.Point{121.02, 28.01}, orb.Point{121.01, 28.01}, orb.Point{121.01, 28.004})},
			{Code: "331082001001003", TownCode: "331082001", Geometry: ring(orb.Point{121.05, 28}, orb.Point{121.06, 28}, orb.Point{121.05, 28})},
		},
	}}
	g, err := tiles.NewGrid(m)
	if err != nil {
		t.Fatal(err)
	}
	for _, z := range []int{0, 8, 12, 16} {
		a, ok1 := g.Geometry(tiles.LayerCells, "331082001001001", z)
		b, ok2 := g.Geometry(tiles.LayerCells, "331082001001002", z)
		if !ok1 || !ok2 {
			t.Fatalf("z%d: a cell vanished", z)
		}
		if z >= tiles.SourceZoom && !slices.Contains(a[0][0], orb.Point{121.01, 28.004}) {
			t.Fatalf("z%d: the T-junction vertex was not added to the first cell: %v", z, a[0][0])
		}
		shared := func(r orb.Ring) (out []orb.Point) {
			for _, p := range r[:len(r)-1] {
				if p[0] == 121.01 {
					out = append(out, p)
				}
			}
			slices.SortFunc(out, func(p, q orb.Point) int { return cmpF(p[1], q[1]) })
			return out
		}
		if sa, sb := shared(a[0][0]), shared(b[0][0]); !slices.Equal(sa, sb) {
			t.Fatalf("z%d: shared edge %v vs %v", z, sa, sb)
		}
	}
	if _, ok := g.Geometry(tiles.LayerCells, "331082001001003", 16); ok {
		t.Fatal("a ring without area was kept")
	}
}

func cmpF(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// A tiny island cell in the hole of another leaves at low zooms together
// with the hole it fills, and both come back, identical, when it is big
// enough to draw.
func TestTinyIslandLeavesWithItsHole(t *testing.T) {
	sq := func(x0, y0, d float64) orb.Ring {
		return orb.Ring{{x0, y0}, {x0 + d, y0}, {x0 + d, y0 + d}, {x0, y0 + d}, {x0, y0}}
	}
	outer, island := sq(121, 28, 0.01), sq(121.005, 28.005, 0.00002) // about 2 m across
	m := &grid.Model{City: &grid.City{
		Towns: []grid.Town{{Code: "331082001", Geometry: orb.MultiPolygon{{outer}}}},
		Cells: []grid.Cell{
			{Code: "331082001001001", Geometry: orb.MultiPolygon{{outer, island}}},
			{Code: "331082001001002", Geometry: orb.MultiPolygon{{island}}},
		},
	}}
	g, err := tiles.NewGrid(m)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := g.Geometry(tiles.LayerCells, "331082001001001", 5)
	if _, ok := g.Geometry(tiles.LayerCells, "331082001001002", 5); ok || len(a[0]) != 1 {
		t.Fatalf("z5: the island is kept (%v) or its hole (%d rings)", ok, len(a[0]))
	}
	a, _ = g.Geometry(tiles.LayerCells, "331082001001001", 16)
	b, ok := g.Geometry(tiles.LayerCells, "331082001001002", 16)
	if !ok || len(a[0]) != 2 {
		t.Fatalf("z16: island %v, %d rings around it", ok, len(a[0]))
	}
	hole, shell := a[0][1], b[0][0]
	rev := slices.Clone(shell)
	slices.Reverse(rev)
	if !slices.Equal(hole, shell) && !slices.Equal(hole, rev) {
		t.Fatalf("z16: hole %v, island %v", hole, shell)
	}
}
