package tiles

import (
	"math"
	"strconv"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
	"github.com/uber/h3-go/v4"

	"github.com/citygrid/citygrid/internal/grid"
)

// DefaultPointLimit bounds the points of one layer in one tile when the
// caller gives no bound: beyond it a tile grows past what a map draws
// smoothly, and the map should show the heatmap instead.
const DefaultPointLimit = 5000

// Meta reports how a point layer fared against its bound in one tile.
//
// MVT has no layer-level attributes, so a cut is told in a separate small
// layer, "meta" (see MetaLayer): one point feature at the centre of the
// tile per layer that was cut or aggregated, with properties layer
// (string), truncated (true), total and shown (integers), and for a layer
// drawn as counts aggregated (true), res (the H3 resolution of the counts)
// and bound (the points a tile may carry). A tile whose layers were all
// complete has no meta layer.
type Meta struct {
	Layer string
	// Total is how many points the tile would hold: those given that fall
	// in the tile and its buffer. A caller that fetched at most a bound
	// plus one may replace it with an exact count.
	Total int
	// Shown is how many it holds (0 when Aggregated).
	Shown int
	// Aggregated says the layer holds counts per H3 cell (CountLayer)
	// instead of its points, at resolution Res.
	Aggregated bool
	Res        int
	// Bound is the most points the layer may carry in one tile (0: not
	// said).
	Bound int
}

// Truncated reports whether the layer was cut.
func (m Meta) Truncated() bool { return m.Shown < m.Total || m.Aggregated }

// MetaLayer is the "meta" layer telling which point layers were cut or
// aggregated; nil when none was.
func MetaLayer(ms ...Meta) *mvt.Layer {
	l := &mvt.Layer{Name: LayerMeta, Version: 2, Extent: Extent}
	for _, m := range ms {
		if !m.Truncated() {
			continue
		}
		props := geojson.Properties{"layer": m.Layer, "truncated": true,
			"total": int64(m.Total), "shown": int64(m.Shown)}
		if m.Aggregated {
			props["aggregated"], props["res"] = true, int64(m.Res)
		}
		if m.Bound > 0 {
			props["bound"] = int64(m.Bound)
		}
		l.Features = append(l.Features, &geojson.Feature{Geometry: orb.Point{Extent / 2, Extent / 2}, Properties: props})
	}
	if len(l.Features) == 0 {
		return nil
	}
	return l
}

// pointLayer projects points into tile t, keeping the first limit (≤ 0:
// DefaultPointLimit) of those inside the tile and its buffer, in the order
// given.
func pointLayer(name string, t maptile.Tile, n, limit int, at func(i int) orb.Point, feature func(i int, p orb.Point) *geojson.Feature) (*mvt.Layer, Meta) {
	if limit <= 0 {
		limit = DefaultPointLimit
	}
	l := &mvt.Layer{Name: name, Version: 2, Extent: Extent}
	meta := Meta{Layer: name}
	tt := newToTile(t)
	cb := clipBound()
	for i := 0; i < n; i++ {
		p := tt.at(mercator(at(i)))
		if !cb.Contains(p) {
			continue
		}
		meta.Total++
		if len(l.Features) >= limit {
			continue
		}
		l.Features = append(l.Features, feature(i, orb.Point{math.Floor(p[0]), math.Floor(p[1])}))
	}
	meta.Shown = len(l.Features)
	return l, meta
}

// FacilityLayer draws facilities as points in tile t, layer "facilities":
// properties code, name, kind and the facility's own attributes (a
// toilet's grade, a camera's owner, …) as strings; the feature id is the
// numeric facility code (16 digits, below 2^53), absent for a code that is
// not a number. At most limit points (≤ 0: DefaultPointLimit), the first in
// the order given.
func FacilityLayer(t maptile.Tile, fs []grid.Facility, limit int) (*mvt.Layer, Meta) {
	return pointLayer(LayerFacilities, t, len(fs), limit, func(i int) orb.Point { return fs[i].Point },
		func(i int, p orb.Point) *geojson.Feature {
			f := fs[i]
			props := make(geojson.Properties, 3+len(f.Attrs))
			for k, v := range f.Attrs {
				props[k] = v
			}
			props["code"], props["name"], props["kind"] = f.Code, f.Name, f.Kind
			feat := &geojson.Feature{Geometry: p, Properties: props}
			if id, err := strconv.ParseUint(f.Code, 10, 64); err == nil && id < 1<<53 {
				feat.ID = id
			}
			return feat
		})
}

// IncidentOptions say how incidents are drawn.
type IncidentOptions struct {
	// Now is the instant at which overdue is judged.
	Now time.Time
	// Theme gives a category's heatmap theme ("" for none); nil leaves
	// theme out.
	Theme func(category string) string
	// Limit bounds the points; ≤ 0 means DefaultPointLimit.
	Limit int
}

// IncidentLayer draws incidents as points in tile t, layer "incidents":
// the incident id is the feature id; properties category, theme (when
// the category has one), status, deadline (Unix seconds, so a style can
// compare it with a number; absent when there is none), overdue (open and
// past its deadline at o.Now), department, cell and town. At most o.Limit
// points, the first in the order given (the stores list newest first).
func IncidentLayer(t maptile.Tile, xs []grid.Incident, o IncidentOptions) (*mvt.Layer, Meta) {
	return pointLayer(LayerIncidents, t, len(xs), o.Limit, func(i int) orb.Point { return xs[i].Point },
		func(i int, p orb.Point) *geojson.Feature {
			x := &xs[i]
			props := geojson.Properties{"category": x.Category, "status": x.Status,
				"overdue": grid.Overdue(x.Status, x.Deadline, o.Now), "department": x.Department, "cell": x.CellCode, "town": x.TownCode}
			if !x.Deadline.IsZero() {
				props["deadline"] = x.Deadline.Unix()
			}
			if o.Theme != nil {
				if th := o.Theme(x.Category); th != "" {
					props["theme"] = th
				}
			}
			feat := &geojson.Feature{Geometry: p, Properties: props}
			if x.ID > 0 {
				feat.ID = uint64(x.ID)
			}
			return feat
		})
}

// OverdueChanges is the first instant after now at which the overdue flag
// of one of the incidents flips (an open incident's deadline passes): the
// Expires of a tile drawn at now. Zero when none will.
func OverdueChanges(xs []grid.Incident, now time.Time) time.Time {
	var next time.Time
	for i := range xs {
		d := xs[i].Deadline
		if grid.Open(xs[i].Status) && !d.IsZero() && !now.After(d) && (next.IsZero() || d.Before(next)) {
			next = d
		}
	}
	if next.IsZero() {
		return next
	}
	return next.Add(time.Nanosecond) // overdue is strictly after the deadline
}

// The incidents layer's zoom policy. From IncidentPointsFrom on, a tile
// carries the incidents as points while they number at most
// DefaultPointLimit after its filters; past that, and at every lower zoom
// (where a tile of the demo city spans 10 km or more and a month holds
// thousands of incidents), it carries counts per H3 cell of resolution
// CountRes(z) from the heatmap read model, and its meta layer says so.
const IncidentPointsFrom = 12

// CountRes is the H3 resolution of counts drawn at zoom z: one finer than
// the heatmap's hexagons (TileRes), so that count points sit some 10–20
// pixels apart; at most 10, the finest resolution the heatmap read model
// counts.
func CountRes(z int) int { return min(TileRes(z)+1, 10) }

// CountLayer draws counts per H3 cell as points at the cells' centres in
// tile t, layer name, properties h3 (the index as a string) and count.
// Only cells whose centre lies in the tile and its buffer are drawn, so a
// cell is counted in exactly one tile of a zoom (apart from the buffer);
// the sum of their counts is returned as the tile's total. An invalid H3
// index is grid.Invalid.
func CountLayer(name string, t maptile.Tile, cells []grid.HeatCell) (*mvt.Layer, int64, error) {
	near, err := nearTile(TileBound(t), cells)
	if err != nil {
		return nil, 0, err
	}
	l := &mvt.Layer{Name: name, Version: 2, Extent: Extent}
	tt := newToTile(t)
	cb := clipBound()
	var total int64
	for _, hc := range near {
		ll, err := h3.Cell(hc.H3).LatLng()
		if err != nil {
			return nil, 0, grid.Errorf(grid.Invalid, "tiles: H3 cell %x: %v", hc.H3, err)
		}
		p := tt.at(mercator(orb.Point{ll.Lng, ll.Lat}))
		if !cb.Contains(p) || hc.Count <= 0 {
			continue
		}
		total += hc.Count
		l.Features = append(l.Features, &geojson.Feature{Geometry: orb.Point{math.Floor(p[0]), math.Floor(p[1])},
			Properties: geojson.Properties{"h3": h3.Cell(hc.H3).String(), "count": hc.Count}})
	}
	return l, total, nil
}

// NearTile keeps the cells that can be drawn in tile t: a cheap first cut
// of a whole city's counts before CountIn and CountLayer (which make it
// again, on what is left).
func NearTile(t maptile.Tile, cells []grid.HeatCell) ([]grid.HeatCell, error) {
	return nearTile(TileBound(t), cells)
}

// CountIn is the sum of the counts of the cells whose centre lies in tile t
// and its buffer: what CountLayer would draw, without drawing it.
func CountIn(t maptile.Tile, cells []grid.HeatCell) (int64, error) {
	near, err := nearTile(TileBound(t), cells)
	if err != nil {
		return 0, err
	}
	tb := TileBound(t)
	var total int64
	for _, hc := range near {
		ll, err := h3.Cell(hc.H3).LatLng()
		if err != nil {
			return 0, grid.Errorf(grid.Invalid, "tiles: H3 cell %x: %v", hc.H3, err)
		}
		if tb.Contains(orb.Point{ll.Lng, ll.Lat}) && hc.Count > 0 {
			total += hc.Count
		}
	}
	return total, nil
}
