package ogc

import (
	"net/http"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/labstack/echo/v4"
	"github.com/paulmach/orb"
)

// source says where a collection's features come from.
type source int

const (
	fromSnapshot source = iota // towns, communities, cells, zones
	fromFacilities
	fromIncidents
)

// collection describes one collection: its metadata, queryables, the
// property parameters its items take, and its access policy.
type collection struct {
	id, title, description string
	src                    source
	geometry               string // GeoJSON geometry type of its features
	queryables             []grid.Queryable
	// params are the queryables that may also be sent as query
	// parameters (name=value or name=a,b for any of them).
	params []string
	// access is the collection's access policy, the one place it is
	// decided: an error (Unauthorized, Forbidden) refuses the caller; town
	// limits what it sees to one town ("" all).
	access func(p grid.Principal) (town string, err error)
	// temporal names the time property datetime filters ("" none).
	temporal string
}

// public is the policy of the city's geography: everyone reads it.
func public(grid.Principal) (string, error) { return "", nil }

// incidentAccess is the incident collection's policy, the JSON API's: a
// key that may read incidents; a key scoped to a town sees that town only.
func incidentAccess(p grid.Principal) (string, error) {
	return p.Town, p.Need(grid.ReadIncidents)
}

func codeName(code, name string) []grid.Queryable {
	return []grid.Queryable{{Name: "code", Type: grid.TypeText, Description: code}, {Name: "name", Type: grid.TypeText, Description: name}}
}

func collections() []*collection {
	return []*collection{
		{id: "towns", title: "Towns and streets (乡镇/街道)", description: "The towns and streets of the active grid version.",
			src: fromSnapshot, geometry: "MultiPolygon", access: public,
			queryables: append(codeName("9-digit town code", "name"), grid.Queryable{Name: "kind", Type: grid.TypeText, Description: "street or town", Enum: []string{"street", "town"}}),
			params:     []string{"code", "name", "kind"}},
		{id: "communities", title: "Communities and villages (社区/村)", description: "The communities of the active grid version.",
			src: fromSnapshot, geometry: "MultiPolygon", access: public,
			queryables: append(codeName("12-digit community code", "name"), grid.Queryable{Name: "town", Type: grid.TypeText, Description: "town code"}),
			params:     []string{"code", "name", "town"}},
		{id: "cells", title: "Grid cells (单元网格)", description: "The grid cells of the active grid version.",
			src: fromSnapshot, geometry: "MultiPolygon", access: public,
			queryables: append(codeName("15-digit cell code", "name"),
				grid.Queryable{Name: "community", Type: grid.TypeText, Description: "community code"},
				grid.Queryable{Name: "town", Type: grid.TypeText, Description: "town code"}),
			params: []string{"code", "name", "community", "town"}},
		{id: "zones", title: "Responsibility zones", description: "Urban core, parks, arterial roads, scenic areas and river banks of the active grid version.",
			src: fromSnapshot, geometry: "MultiPolygon", access: public,
			queryables: append(codeName("zone code", "name"), grid.Queryable{Name: "kind", Type: grid.TypeText, Description: "zone kind", Enum: grid.ZoneKinds()}),
			params:     []string{"code", "name", "kind"}},
		{id: "facilities", title: "Facilities", description: "Cameras, gas companies and distribution points, toilets, transfer stations, water-logging sensors.",
			src: fromFacilities, geometry: "Point", access: public,
			queryables: grid.FacilityQueryables(), params: []string{"code", "kind", "name"}},
		{id: "incidents", title: "Incidents", description: "Reported problems and the state of their cases (an API key of any role; a town's key sees its town only).",
			src: fromIncidents, geometry: "Point", access: incidentAccess, temporal: grid.IncidentOccurredAt,
			queryables: grid.IncidentQueryables(),
			params: []string{grid.IncidentStatus, grid.IncidentCategory, "theme", grid.IncidentSource, grid.IncidentCell,
				grid.IncidentCommunity, grid.IncidentTown, grid.IncidentDepartment}},
	}
}

func (col *collection) queryable(name string) (grid.Queryable, bool) {
	for _, q := range col.queryables {
		if q.Name == name {
			return q, true
		}
	}
	return grid.Queryable{}, false
}

// lookup finds a collection and applies its access policy.
func (a *api) lookup(c echo.Context) (*collection, string, error) {
	col, ok := a.byID[c.Param("collection_id")]
	if !ok {
		names := make([]string, len(a.colls))
		for i, x := range a.colls {
			names[i] = x.id
		}
		return nil, "", grid.Errorf(grid.NotFound, "no collection %q: the collections are %s", c.Param("collection_id"), strings.Join(names, ", "))
	}
	town, err := col.access(a.d.Principal(c))
	return col, town, err
}

func (a *api) snapshot() (*locate.Snapshot, error) {
	s := a.d.Catalog.Current()
	if s == nil {
		return nil, grid.Errorf(grid.Unavailable, "the grid snapshot is not loaded yet")
	}
	return s, nil
}

type extent struct {
	Spatial struct {
		BBox [][4]float64 `json:"bbox"`
		CRS  string       `json:"crs"`
	} `json:"spatial"`
	Temporal *struct {
		Interval [][2]*string `json:"interval"`
		TRS      string       `json:"trs"`
	} `json:"temporal,omitempty"`
}

type collectionDoc struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description"`
	ItemType    string   `json:"itemType"`
	Links       []link   `json:"links"`
	Extent      extent   `json:"extent"`
	CRS         []string `json:"crs"`
	StorageCRS  string   `json:"storageCrs"`
}

// document describes a collection; the spatial extent is the city's
// (every feature lies in it), the temporal one that of the stored
// incidents, from the oldest to open.
func (a *api) document(c echo.Context, col *collection) (collectionDoc, error) {
	snap, err := a.snapshot()
	if err != nil {
		return collectionDoc{}, err
	}
	base := baseURL(c) + "/collections/" + col.id
	d := collectionDoc{ID: col.id, Title: col.title, Description: col.description, ItemType: "feature",
		StorageCRS: param.CRS84,
		Links: []link{
			{base, "self", mimeJSON, "this collection"},
			{base + "/items", "items", mimeGeoJSON, "its features"},
			{base + "/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables", mimeSchemaJSON, "the properties filters may name"},
		}}
	for _, x := range param.OGCCRSList() {
		d.CRS = append(d.CRS, x.URI)
	}
	b := cityBound(snap)
	d.Extent.Spatial.BBox = [][4]float64{{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}}
	d.Extent.Spatial.CRS = param.CRS84
	if col.src == fromIncidents && a.d.Features != nil {
		since, err := a.d.Features.IncidentsSince(c.Request().Context())
		if err != nil {
			return d, err
		}
		d.Extent.Temporal = &struct {
			Interval [][2]*string `json:"interval"`
			TRS      string       `json:"trs"`
		}{TRS: "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"}
		var start *string
		if !since.IsZero() {
			s := since.UTC().Format(time.RFC3339)
			start = &s
		}
		d.Extent.Temporal.Interval = [][2]*string{{start, nil}}
	}
	return d, nil
}

// cityBound is the box of everything in the snapshot: the boundary, and
// the zones and cells (a zone may reach past the boundary's box).
func cityBound(s *locate.Snapshot) orb.Bound {
	b := s.Boundary.Bound()
	for _, t := range s.Towns {
		b = b.Union(t.Geometry.Bound())
	}
	for _, z := range s.Zones {
		b = b.Union(z.Geometry.Bound())
	}
	return b
}

func (a *api) collections(c echo.Context) error {
	if err := wantJSON(c); err != nil {
		return err
	}
	if err := checkParams(c, func(string) bool { return false }); err != nil {
		return err
	}
	var docs []collectionDoc
	for _, col := range a.colls {
		d, err := a.document(c, col)
		if err != nil {
			return err
		}
		docs = append(docs, d)
	}
	base := baseURL(c)
	return c.JSON(http.StatusOK, map[string]any{
		"links":       []link{{base + "/collections", "self", mimeJSON, "the collections"}},
		"collections": docs,
		"crs":         []string{param.CRS84},
	})
}

func (a *api) collection(c echo.Context) error {
	if err := wantJSON(c); err != nil {
		return err
	}
	col, _, err := a.lookup(c)
	if err != nil {
		return err
	}
	if err := checkParams(c, func(string) bool { return false }); err != nil {
		return err
	}
	d, err := a.document(c, col)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

// queryables: the JSON Schema of what filters may name.
func (a *api) queryables(c echo.Context) error {
	if err := wantJSON(c, mimeSchemaJSON); err != nil {
		return err
	}
	col, _, err := a.lookup(c)
	if err != nil {
		return err
	}
	if err := checkParams(c, func(string) bool { return false }); err != nil {
		return err
	}
	props := map[string]any{
		"geometry": map[string]any{"$ref": "https://geojson.org/schema/" + col.geometry + ".json", "x-ogc-role": "primary-geometry"},
	}
	for _, q := range col.queryables {
		p := map[string]any{"description": q.Description}
		switch q.Type {
		case grid.TypeTime:
			p["type"], p["format"] = "string", "date-time"
		default:
			p["type"] = string(q.Type)
		}
		if q.Enum != nil {
			p["enum"] = q.Enum
		}
		if q.Name == col.temporal {
			p["x-ogc-role"] = "primary-instant"
		}
		props[q.Name] = p
	}
	b := baseURL(c) + "/collections/" + col.id + "/queryables"
	return c.Blob(http.StatusOK, mimeSchemaJSON, mustJSON(map[string]any{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  b,
		"type":                 "object",
		"title":                col.title,
		"properties":           props,
		"additionalProperties": false,
	}))
}
