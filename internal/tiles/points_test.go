package tiles_test

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/tiles"
	"github.com/uber/h3-go/v4"
)

func decode(t *testing.T, tile tiles.Tile) map[string]*mvt.Layer {
	t.Helper()
	ls, err := mvt.Unmarshal(tile.Data)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*mvt.Layer{}
	for _, l := range ls {
		out[l.Name] = l
	}
	return out
}

func TestFacilityLayer(t *testing.T) {
	city, _ := demoGrid(t)
	tile := oldTown(14)
	b := tiles.TileBound(tile)
	var in []grid.Facility
	for _, f := range city.Facilities {
		if b.Contains(f.Point) {
			in = append(in, f)
		}
	}
	if len(in) < 10 {
		t.Fatalf("only %d facilities in the old-town tile", len(in))
	}
	l, meta := tiles.FacilityLayer(tile, city.Facilities, 0)
	if meta.Total != len(in) || meta.Shown != len(in) || meta.Truncated() {
		t.Fatalf("meta %+v, %d facilities in the tile's bound", meta, len(in))
	}
	enc, err := tiles.Encode(l, tiles.MetaLayer(meta))
	if err != nil {
		t.Fatal(err)
	}
	ls := decode(t, enc)
	if _, ok := ls[tiles.LayerMeta]; ok || len(ls) != 1 {
		t.Fatalf("layers %v: want facilities only", ls)
	}
	byCode := map[string]grid.Facility{}
	for _, f := range in {
		byCode[f.Code] = f
	}
	feats := ls[tiles.LayerFacilities].Features
	if len(feats) != len(in) {
		t.Fatalf("%d features, want %d", len(feats), len(in))
	}
	ls[tiles.LayerFacilities].ProjectToWGS84(tile)
	for _, f := range feats {
		code := f.Properties["code"].(string)
		src, ok := byCode[code]
		if !ok {
			t.Fatalf("facility %s is not in the tile", code)
		}
		if id, _ := strconv.ParseUint(code, 10, 64); featureID(f) != id {
			t.Errorf("facility %s: id %v", code, f.ID)
		}
		if f.Properties["name"] != src.Name || f.Properties["kind"] != src.Kind {
			t.Errorf("facility %s: %v", code, f.Properties)
		}
		for k, v := range src.Attrs {
			if f.Properties[k] != v {
				t.Errorf("facility %s: %s = %v, want %q", code, k, f.Properties[k], v)
			}
		}
		// One tile unit at z14 is about 2 m.
		p := f.Geometry.(orb.Point)
		if d := math.Hypot(p[0]-src.Point[0], p[1]-src.Point[1]); d > 3e-5 {
			t.Errorf("facility %s at %v, source %v", code, p, src.Point)
		}
	}

	// Cut at a bound: the first ones are kept and a meta layer says so.
	l, meta = tiles.FacilityLayer(tile, in, 3)
	if meta.Total != len(in) || meta.Shown != 3 || !meta.Truncated() {
		t.Fatalf("meta %+v", meta)
	}
	enc, err = tiles.Encode(l, tiles.MetaLayer(meta))
	if err != nil {
		t.Fatal(err)
	}
	ls = decode(t, enc)
	if n := len(ls[tiles.LayerFacilities].Features); n != 3 {
		t.Fatalf("%d facilities shown, want 3", n)
	}
	for i, f := range ls[tiles.LayerFacilities].Features {
		if f.Properties["code"] != in[i].Code {
			t.Errorf("feature %d is %v, want the %d-th given, %s", i, f.Properties["code"], i, in[i].Code)
		}
	}
	m := ls[tiles.LayerMeta]
	if m == nil || len(m.Features) != 1 {
		t.Fatalf("meta layer: %+v", m)
	}
	p := m.Features[0].Properties
	if p["layer"] != tiles.LayerFacilities || p["truncated"] != true || p["total"] != float64(len(in)) || p["shown"] != float64(3) {
		t.Fatalf("meta properties %v", p)
	}
}

func TestIncidentLayer(t *testing.T) {
	tile := oldTown(15)
	c := tile.Center()
	now := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	xs := []grid.Incident{
		{ID: 42, Category: "E0505", Point: c, Status: grid.StatusDispatched, Deadline: now.Add(-time.Hour),
			Department: "D01", CellCode: "331082001001001", TownCode: "331082001"},
		{ID: 43, Category: "E0406", Point: orb.Point{c[0] + 0.001, c[1]}, Status: grid.StatusDispatched, Deadline: now.Add(2 * time.Hour)},
		{ID: 44, Category: "P0101", Point: orb.Point{c[0], c[1] + 0.001}, Status: grid.StatusClosed, Deadline: now.Add(-time.Hour)},
		{ID: 45, Category: "E0505", Point: orb.Point{c[0] + 1, c[1]}, Status: grid.StatusCollected}, // another tile
	}
	theme := map[string]string{"E0505": "parking", "E0406": "waterlogging"}
	l, meta := tiles.IncidentLayer(tile, xs, tiles.IncidentOptions{Now: now, Theme: func(c string) string { return theme[c] }})
	if meta.Total != 3 || meta.Shown != 3 {
		t.Fatalf("meta %+v", meta)
	}
	enc, err := tiles.Encode(l)
	if err != nil {
		t.Fatal(err)
	}
	feats := decode(t, enc)[tiles.LayerIncidents].Features
	want := map[uint64]struct {
		theme   any
		overdue bool
	}{42: {"parking", true}, 43: {"waterlogging", false}, 44: {nil, false}}
	if len(feats) != len(want) {
		t.Fatalf("%d features, want %d", len(feats), len(want))
	}
	for i, f := range feats {
		id := featureID(f)
		w, ok := want[id]
		if !ok {
			t.Fatalf("feature id %v", f.ID)
		}
		x := xs[i]
		if f.Properties["theme"] != w.theme || f.Properties["overdue"] != w.overdue ||
			f.Properties["category"] != x.Category || f.Properties["status"] != x.Status ||
			f.Properties["deadline"] != float64(x.Deadline.Unix()) || f.Properties["cell"] != x.CellCode ||
			f.Properties["town"] != x.TownCode || f.Properties["department"] != x.Department {
			t.Errorf("incident %d: %v", id, f.Properties)
		}
	}
	// The overdue flag of incident 43 flips just after its deadline.
	if got := tiles.OverdueChanges(xs, now); !got.After(xs[1].Deadline) || got.After(xs[1].Deadline.Add(time.Second)) {
		t.Fatalf("OverdueChanges = %v, deadline %v", got, xs[1].Deadline)
	}
	if !tiles.OverdueChanges(xs[:1], now).IsZero() {
		t.Fatal("an overdue incident's flag does not change again")
	}
}

func TestPointOnTheBufferEdge(t *testing.T) {
	tile := maptile.New(13733, 6950, 14)
	b := tiles.TileBound(tile)
	inside := []grid.Facility{{Code: "1", Point: orb.Point{b.Max[0] - 1e-7, b.Min[1] + 1e-7}}}
	outside := []grid.Facility{{Code: "2", Point: orb.Point{b.Max[0] + 1e-6, b.Min[1] + 1e-7}}}
	if _, m := tiles.FacilityLayer(tile, inside, 0); m.Total != 1 {
		t.Errorf("a point just inside the buffer is left out")
	}
	if _, m := tiles.FacilityLayer(tile, outside, 0); m.Total != 0 {
		t.Errorf("a point just outside the buffer is drawn")
	}
}

// Counts are drawn at the centres of their cells in the tile, and the
// meta layer says the layer is aggregated.
func TestCountLayer(t *testing.T) {
	tile := oldTown(14)
	near, _ := h3.LatLngToCell(h3.NewLatLng(28.85, 121.13), 9)
	far, _ := h3.LatLngToCell(h3.NewLatLng(29.5, 121.9), 9)
	cells := []grid.HeatCell{{H3: uint64(near), Count: 7}, {H3: uint64(far), Count: 5}}
	l, total, err := tiles.CountLayer("incidents", tile, cells)
	if err != nil || total != 7 || len(l.Features) != 1 || l.Features[0].Properties["h3"] != near.String() {
		t.Fatalf("%v %d %v", l, total, err)
	}
	if n, err := tiles.CountIn(tile, cells); n != 7 || err != nil {
		t.Errorf("CountIn %d %v", n, err)
	}
	m := tiles.MetaLayer(tiles.Meta{Layer: "incidents", Total: 7, Aggregated: true, Res: 9, Bound: 5000})
	if m == nil || m.Features[0].Properties["aggregated"] != true || m.Features[0].Properties["res"] != int64(9) {
		t.Errorf("meta %v", m)
	}
	if tiles.MetaLayer(tiles.Meta{Layer: "incidents", Total: 3, Shown: 3}) != nil {
		t.Error("a complete layer has a meta feature")
	}
}
