package ogc

import (
	"github.com/citygrid/citygrid/internal/httpapi/param"
)

// openAPIDocument is the OpenAPI 3.0 definition of /ogc, served at
// /ogc/api. Each collection's items path lists its property parameters:
// GDAL's OAPIF driver reads them there to push attribute filters to the
// server (name=value), and the limit's bounds to size its pages.
func (a *api) openAPIDocument(base string) ([]byte, error) {
	type m = map[string]any
	ref := func(kind, name string) m { return m{"$ref": "#/components/" + kind + "/" + name} }
	problem := m{"application/problem+json": m{"schema": ref("schemas", "problem")}}
	errs := func(codes ...string) m {
		out := m{}
		for _, c := range codes {
			out[c] = ref("responses", "e"+c)
		}
		return out
	}
	jsonOK := func(desc, mime string) m {
		return m{"description": desc, "content": m{mime: m{"schema": m{"type": "object"}}}}
	}
	op := func(id, summary string, ok m, params []any, codes ...string) m {
		r := errs(codes...)
		r["200"] = ok
		o := m{"operationId": id, "summary": summary, "responses": r, "security": []any{}}
		if len(params) > 0 {
			o["parameters"] = params
		}
		return o
	}
	itemsParams := func() []any {
		return []any{ref("parameters", "limit"), ref("parameters", "bbox"), ref("parameters", "bbox-crs"),
			ref("parameters", "crs"), ref("parameters", "datetime"), ref("parameters", "filter"),
			ref("parameters", "filter-lang"), ref("parameters", "filter-crs"), ref("parameters", "after")}
	}
	f := ref("parameters", "f")
	paths := m{
		"/":            m{"get": op("getLanding", "landing page", jsonOK("links to the API definition, conformance and collections", mimeJSON), []any{f}, "400", "406")},
		"/api":         m{"get": op("getAPI", "this API definition", jsonOK("OpenAPI 3.0", mimeOpenAPI), []any{f}, "400", "406")},
		"/conformance": m{"get": op("getConformance", "conformance classes", jsonOK("conformsTo", mimeJSON), []any{f}, "400", "406")},
		"/collections": m{"get": op("getCollections", "the collections", jsonOK("collections", mimeJSON), []any{f}, "400", "406")},
		"/collections/{collectionId}": m{"get": op("describeCollection", "one collection",
			jsonOK("the collection", mimeJSON), []any{ref("parameters", "collectionId"), f}, "400", "401", "404", "406")},
		"/collections/{collectionId}/queryables": m{"get": op("getQueryables", "the properties filters may name",
			jsonOK("a JSON Schema", mimeSchemaJSON), []any{ref("parameters", "collectionId"), f}, "400", "401", "404", "406")},
		"/collections/{collectionId}/items": m{"get": op("getFeatures", "features of a collection",
			jsonOK("a GeoJSON FeatureCollection", mimeGeoJSON), append([]any{ref("parameters", "collectionId"), f}, itemsParams()...), "400", "401", "404", "406")},
		"/collections/{collectionId}/items/{featureId}": m{"get": op("getFeature", "one feature",
			jsonOK("a GeoJSON Feature", mimeGeoJSON), []any{ref("parameters", "collectionId"), ref("parameters", "featureId"), ref("parameters", "crs"), f}, "400", "401", "404", "406")},
	}
	for _, col := range a.colls {
		ps := append([]any{f}, itemsParams()...)
		for _, name := range col.params {
			schema := m{"type": "string"}
			desc := "features whose " + name + " is this value (or one of a comma list)"
			if q, ok := col.queryable(name); ok {
				desc += ": " + q.Description
			}
			if name == "theme" {
				desc = "incidents of a heatmap theme's categories (parking, waterlogging, sanitation)"
			}
			ps = append(ps, m{"name": name, "in": "query", "required": false, "style": "form", "explode": false,
				"description": desc, "schema": schema})
		}
		o := op("getFeatures"+title(col.id), "features of "+col.id, jsonOK("a GeoJSON FeatureCollection", mimeGeoJSON), ps, "400", "401", "404", "406")
		if col.src == fromIncidents {
			o["security"] = []any{m{"apiKey": []any{}}}
		}
		paths["/collections/"+col.id+"/items"] = m{"get": o}
	}
	var crsURIs []any
	for _, c := range param.OGCCRSList() {
		crsURIs = append(crsURIs, c.URI)
	}
	crsParam := func(name, desc string) m {
		return m{"name": name, "in": "query", "required": false, "description": desc,
			"schema": m{"type": "string", "format": "uri", "enum": crsURIs, "default": param.CRS84}}
	}
	resp := func(desc string) m { return m{"description": desc, "content": problem} }
	doc := m{
		"openapi": "3.0.3",
		"info": m{"title": "citygrid OGC API – Features", "version": "1.0.0",
			"description": "OGC API – Features Part 1 (core, GeoJSON, OpenAPI 3.0), Part 2 (CRS) and Part 3 (filters, CQL2 text at basic-cql2 with S_INTERSECTS, queryables)."},
		"servers": []any{m{"url": base}},
		"paths":   paths,
		"components": m{
			"securitySchemes": m{"apiKey": m{"type": "http", "scheme": "bearer", "description": "an API key from citygrid keys create"}},
			"parameters": m{
				"collectionId": m{"name": "collectionId", "in": "path", "required": true, "schema": m{"type": "string"}},
				"featureId":    m{"name": "featureId", "in": "path", "required": true, "schema": m{"type": "string"}},
				"f":            m{"name": "f", "in": "query", "required": false, "schema": m{"type": "string", "enum": []any{"json", "geojson"}}},
				"limit": m{"name": "limit", "in": "query", "required": false, "style": "form", "explode": false,
					"description": "features per page; larger values are served as " + itoa(a.d.MaxLimit),
					"schema":      m{"type": "integer", "minimum": 1, "maximum": a.d.MaxLimit, "default": a.d.DefaultLimit}},
				"bbox": m{"name": "bbox", "in": "query", "required": false, "style": "form", "explode": false,
					"description": "minx,miny,maxx,maxy (or 6 numbers with heights) in bbox-crs, latitude first for EPSG:4326 and EPSG:4490",
					"schema":      m{"type": "array", "minItems": 4, "maxItems": 6, "items": m{"type": "number"}}},
				"bbox-crs":   crsParam("bbox-crs", "the CRS of bbox"),
				"crs":        crsParam("crs", "the CRS of the coordinates in the answer (Content-Crs says which)"),
				"filter-crs": crsParam("filter-crs", "the CRS of the filter's geometry literals (longitude first)"),
				"datetime": m{"name": "datetime", "in": "query", "required": false, "style": "form", "explode": false,
					"description": "an RFC 3339 instant or interval (start/end, '..' for an open end): incidents by occurred_at",
					"schema":      m{"type": "string"}},
				"filter": m{"name": "filter", "in": "query", "required": false, "description": "a CQL2 text filter over the queryables",
					"schema": m{"type": "string"}},
				"filter-lang": m{"name": "filter-lang", "in": "query", "required": false,
					"schema": m{"type": "string", "enum": []any{"cql2-text"}, "default": "cql2-text"}},
				"after": m{"name": "after", "in": "query", "required": false, "description": "the cursor of the next page (take the next link)",
					"schema": m{"type": "string"}},
			},
			"schemas": m{"problem": m{"type": "object", "properties": m{
				"type": m{"type": "string"}, "title": m{"type": "string"}, "status": m{"type": "integer"}, "detail": m{"type": "string"}}}},
			"responses": m{
				"e400": resp("a bad parameter, named in detail"),
				"e401": resp("an API key is needed"),
				"e404": resp("no such collection or feature"),
				"e406": resp("no acceptable media type"),
			},
		},
	}
	return mustJSON(doc), nil
}

func title(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func itoa(n int) string {
	w := jw{}
	w.int(int64(n))
	return string(w.b)
}
