package tiles

import (
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/citygrid/citygrid/internal/grid"
)

// TileJSON is a TileJSON 3.0.0 document describing a tile source
// (https://github.com/mapbox/tilejson-spec/tree/master/3.0.0).
type TileJSON struct {
	TileJSON     string        `json:"tilejson"`
	Name         string        `json:"name,omitempty"`
	Description  string        `json:"description,omitempty"`
	Version      string        `json:"version,omitempty"`
	Attribution  string        `json:"attribution,omitempty"`
	Scheme       string        `json:"scheme"`
	Tiles        []string      `json:"tiles"`
	MinZoom      int           `json:"minzoom"`
	MaxZoom      int           `json:"maxzoom"`
	Bounds       [4]float64    `json:"bounds"`
	Center       [3]float64    `json:"center"`
	VectorLayers []VectorLayer `json:"vector_layers"`
}

// VectorLayer describes one layer of the tiles. Fields maps each
// attribute to its type: "String", "Number" or "Boolean".
type VectorLayer struct {
	ID          string            `json:"id"`
	Description string            `json:"description,omitempty"`
	MinZoom     int               `json:"minzoom"`
	MaxZoom     int               `json:"maxzoom"`
	Fields      map[string]string `json:"fields"`
}

// TileJSONOptions describe the tile source to document.
type TileJSONOptions struct {
	// BaseURL is scheme and host (and any path prefix) the client reached
	// the service at, e.g. "https://grid.example.cn": the caller computes
	// it from the request and X-Forwarded-Proto / X-Forwarded-Host.
	BaseURL string
	// Layers as ParseLayers returns them.
	Layers []string
	// Query is the filter to carry into the tile URL, without "?"
	// (e.g. "theme=parking"); "" for none.
	Query            string
	MinZoom, MaxZoom int
	// CityName and Boundary give the name, bounds, centre and attribution.
	CityName string
	Boundary orb.MultiPolygon
	// Synthetic says the city is demo data (grid.City.Synthetic): the
	// attribution says so.
	Synthetic bool
	// GridVersion is the grid version the grid layers are drawn from; it
	// becomes the tileset version "N.0.0", so clients see a new version
	// as a new tileset.
	GridVersion int64
	// Fields adds attributes to layers, e.g. the facilities' own
	// attributes (FacilityFields).
	Fields map[string]map[string]string
}

// Field types in VectorLayer.Fields.
const (
	FieldString  = "String"
	FieldNumber  = "Number"
	FieldBoolean = "Boolean"
)

// layerDocs describes every layer and its attributes.
func layerDocs(name string) (string, map[string]string) {
	s, n, b := FieldString, FieldNumber, FieldBoolean
	switch name {
	case LayerTowns:
		return "Towns and streets (乡镇/街道); feature id: the 9-digit code",
			map[string]string{"code": s, "name": s, "kind": s, "area_m2": n}
	case LayerCommunities:
		return "Communities and villages (社区/村); feature id: the 12-digit code",
			map[string]string{"code": s, "name": s, "town": s, "area_m2": n}
	case LayerCells:
		return "Grid cells (单元网格); feature id: the cell code",
			map[string]string{"code": s, "name": s, "community": s, "town": s, "area_m2": n}
	case LayerZones:
		return "Responsibility zones; feature id: FNV-1a hash of the code (53 bits)",
			map[string]string{"code": s, "name": s, "kind": s, "area_m2": n}
	case LayerFacilities:
		return "Facilities (cameras, gas points, toilets, …) with their own attributes; feature id: the facility code",
			map[string]string{"code": s, "name": s, "kind": s}
	case LayerIncidents:
		return fmt.Sprintf("Incidents; feature id: the incident id; deadline in Unix seconds. From zoom %d a tile holds the incidents as points "+
				"while they number at most %d; below zoom %d, and in a tile past that bound, it holds counts per H3 cell instead "+
				"(points at the cells' centres with h3 and count; the meta layer says aggregated, res and total)",
				IncidentPointsFrom, DefaultPointLimit, IncidentPointsFrom),
			map[string]string{"category": s, "theme": s, "status": s, "deadline": n, "overdue": b,
				"department": s, "cell": s, "town": s, "h3": s, "count": n}
	case LayerHeatmap:
		return "Incidents per H3 cell; the resolution follows the zoom",
			map[string]string{"h3": s, "count": n}
	case LayerMeta:
		return "Point layers cut at their per-tile bound or drawn as counts: one point per such layer",
			map[string]string{"layer": s, "truncated": b, "total": n, "shown": n, "aggregated": b, "res": n, "bound": n}
	}
	return "", nil
}

// FacilityFields lists the attributes the facilities carry beyond code,
// name and kind, for TileJSONOptions.Fields[LayerFacilities].
func FacilityFields(fs []grid.Facility) map[string]string {
	out := map[string]string{}
	for _, f := range fs {
		for k := range f.Attrs {
			out[k] = FieldString
		}
	}
	return out
}

// NewTileJSON builds the TileJSON of a tile source. Errors are of kind
// grid.Invalid: a base URL that is not absolute http(s), an unknown layer,
// zooms out of order or range, or an empty boundary.
func NewTileJSON(o TileJSONOptions) (TileJSON, error) {
	u, err := url.Parse(o.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return TileJSON{}, grid.Errorf(grid.Invalid, "tiles: base URL %q: want scheme://host", o.BaseURL)
	}
	if len(o.Layers) == 0 {
		return TileJSON{}, grid.Errorf(grid.Invalid, "layers: none given")
	}
	for _, l := range o.Layers {
		if !slices.Contains(Layers(), l) {
			return TileJSON{}, grid.Errorf(grid.Invalid, "layers: %q is not a tile layer", l)
		}
	}
	if o.MinZoom < 0 || o.MaxZoom > MaxZoom || o.MinZoom > o.MaxZoom {
		return TileJSON{}, grid.Errorf(grid.Invalid, "tiles: zooms %d…%d: want 0 ≤ minzoom ≤ maxzoom ≤ %d", o.MinZoom, o.MaxZoom, MaxZoom)
	}
	b := o.Boundary.Bound()
	if len(o.Boundary) == 0 || b.IsEmpty() {
		return TileJSON{}, grid.Errorf(grid.Invalid, "tiles: the city has no boundary")
	}
	tileURL := strings.TrimRight(o.BaseURL, "/") + "/tiles/" + LayerKey(o.Layers) + "/{z}/{x}/{y}.mvt"
	if o.Query != "" {
		tileURL += "?" + o.Query
	}
	tj := TileJSON{
		TileJSON:    "3.0.0",
		Name:        strings.TrimSpace(o.CityName + " " + LayerKey(o.Layers)),
		Description: "citygrid vector tiles: " + LayerKey(o.Layers),
		Version:     strconv.FormatInt(max(o.GridVersion, 1), 10) + ".0.0",
		Attribution: attribution(o.CityName, o.Synthetic),
		Scheme:      "xyz",
		Tiles:       []string{tileURL},
		MinZoom:     o.MinZoom,
		MaxZoom:     o.MaxZoom,
		Bounds: [4]float64{math.Floor(b.Min[0]*1e6) / 1e6, math.Floor(b.Min[1]*1e6) / 1e6,
			math.Ceil(b.Max[0]*1e6) / 1e6, math.Ceil(b.Max[1]*1e6) / 1e6},
	}
	c, _ := planar.CentroidArea(o.Boundary)
	if !planar.MultiPolygonContains(o.Boundary, c) {
		c = b.Center()
	}
	// The zoom at which the city spans about two 256-pixel tiles across.
	z := int(math.Floor(math.Log2(360 / math.Max(b.Max[0]-b.Min[0], 1e-9))))
	tj.Center = [3]float64{round6(c[0]), round6(c[1]), float64(max(o.MinZoom, min(o.MaxZoom, z)))}

	layers := o.Layers
	if slices.Contains(layers, LayerFacilities) || slices.Contains(layers, LayerIncidents) {
		layers = append(slices.Clip(layers), LayerMeta)
	}
	for _, l := range layers {
		desc, fields := layerDocs(l)
		for k, v := range o.Fields[l] {
			if _, ok := fields[k]; !ok {
				fields[k] = v
			}
		}
		tj.VectorLayers = append(tj.VectorLayers, VectorLayer{ID: l, Description: desc,
			MinZoom: o.MinZoom, MaxZoom: o.MaxZoom, Fields: fields})
	}
	return tj, nil
}

func attribution(city string, synthetic bool) string {
	if city == "" {
		city = "the city"
	}
	if synthetic {
		return "citygrid demo: " + city + " — synthetic data (generated shapes, points and incidents; not real boundaries)"
	}
	return "citygrid: " + city + " grid model"
}

func round6(f float64) float64 { return math.Round(f*1e6) / 1e6 }
