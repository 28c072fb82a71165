// Package ogc serves OGC API – Features under /ogc for GIS desks (QGIS,
// ArcGIS, GDAL): Part 1 core with GeoJSON and an OpenAPI 3.0 definition,
// Part 2 coordinate reference systems, Part 3 filtering with queryables.
// The grid collections (towns, communities, cells, zones) come from the
// snapshot in memory; facilities and incidents from the stores, with the
// access policy of the JSON API. It does not import its parent: the parent
// registers the routes and turns the *grid.Error values this package
// returns into problem+json.
package ogc

import (
	"net/http"
	"strings"
	"time"

	"github.com/citygrid/citygrid/internal/featcache"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/labstack/echo/v4"
)

// Limits of the items endpoints.
const (
	DefaultLimit = 10
	MaxLimit     = grid.MaxFeaturePage
)

// Media types.
const (
	mimeJSON       = "application/json"
	mimeGeoJSON    = "application/geo+json"
	mimeSchemaJSON = "application/schema+json"
	mimeOpenAPI    = "application/vnd.oai.openapi+json;version=3.0"
)

// Deps is what the OGC API needs from the service.
type Deps struct {
	Catalog  *locate.Catalog   // the grid snapshot in force
	Features grid.FeatureStore // incidents and facilities; nil: those collections answer 503
	// Principal is the caller, as the service's authentication resolved it.
	Principal func(echo.Context) grid.Principal
	// DefaultLimit and MaxLimit bound a page (0: DefaultLimit, MaxLimit).
	DefaultLimit, MaxLimit int
	Now                    func() time.Time // nil: time.Now
	// Cache keeps incident pages (nil: none); writes must reach it
	// (featcache.Store), or its answers go stale.
	Cache *featcache.Cache
}

type api struct {
	d     Deps
	colls []*collection
	byID  map[string]*collection
}

// Register adds the OGC API's routes to g (mounted at /ogc).
func Register(g *echo.Group, d Deps) {
	if d.DefaultLimit <= 0 {
		d.DefaultLimit = DefaultLimit
	}
	if d.MaxLimit <= 0 {
		d.MaxLimit = MaxLimit
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Principal == nil {
		d.Principal = func(echo.Context) grid.Principal { return grid.Principal{} }
	}
	a := &api{d: d, colls: collections(), byID: map[string]*collection{}}
	for _, c := range a.colls {
		a.byID[c.id] = c
	}
	g.GET("", a.landing)
	g.GET("/api", a.openAPI)
	g.GET("/conformance", a.conformance)
	g.GET("/collections", a.collections)
	g.GET("/collections/:collection_id", a.collection)
	g.GET("/collections/:collection_id/queryables", a.queryables)
	g.GET("/collections/:collection_id/items", a.items)
	g.GET("/collections/:collection_id/items/:feature_id", a.feature)
}

// Conformance classes: each is declared only because the endpoints do
// what it requires (conformance_test.go checks each one's behaviour).
var conformanceClasses = []string{
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
	"http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
	"http://www.opengis.net/spec/ogcapi-features-2/1.0/conf/crs",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
	"http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
	"http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
	"http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
	"http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
}

type link struct {
	Href  string `json:"href"`
	Rel   string `json:"rel"`
	Type  string `json:"type,omitempty"`
	Title string `json:"title,omitempty"`
}

// baseURL is the absolute URL of /ogc as the client reached it: the
// scheme and host of X-Forwarded-Proto and X-Forwarded-Host when a proxy
// set them (and they look like a scheme and a host), else the request's.
func baseURL(c echo.Context) string {
	r := c.Request()
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := strings.ToLower(strings.TrimSpace(firstValue(r.Header.Get("X-Forwarded-Proto")))); p == "http" || p == "https" {
		scheme = p
	}
	host := r.Host
	if h := strings.TrimSpace(firstValue(r.Header.Get("X-Forwarded-Host"))); h != "" && validHost(h) {
		host = h
	}
	return scheme + "://" + host + "/ogc"
}

func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return first
}

// validHost accepts host[:port] with the characters of host names, IPv4
// and bracketed IPv6 addresses: a header is never copied into a link
// otherwise.
func validHost(h string) bool {
	if len(h) > 255 {
		return false
	}
	for _, r := range h {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune(".-:[]_", r):
		default:
			return false
		}
	}
	return true
}

// wantJSON checks the Accept header and f= of a JSON resource: answers
// are JSON (or GeoJSON for features) only; a client that accepts neither
// gets 406.
func wantJSON(c echo.Context, types ...string) error {
	if f := c.QueryParam("f"); f != "" && f != "json" && f != "geojson" {
		return grid.Errorf(grid.Invalid, "f: %q: this service writes json (GeoJSON for features)", f)
	}
	acc := c.Request().Header.Get(echo.HeaderAccept)
	if acc == "" {
		return nil
	}
	for _, part := range strings.Split(acc, ",") {
		mt, _, _ := strings.Cut(strings.TrimSpace(part), ";")
		mt = strings.ToLower(strings.TrimSpace(mt))
		if mt == "*/*" || mt == "application/*" || mt == mimeJSON {
			return nil
		}
		for _, t := range types {
			if base, _, _ := strings.Cut(t, ";"); mt == base {
				return nil
			}
		}
	}
	return echo.NewHTTPError(http.StatusNotAcceptable, "Accept "+acc+": this resource is served as "+strings.Join(append(types, mimeJSON), " or "))
}

// checkParams refuses query parameters an endpoint does not define
// (OGC API – Features /req/core/query-param-unknown), naming them.
func checkParams(c echo.Context, known func(string) bool) error {
	for k := range c.QueryParams() {
		if k == "f" || known(k) {
			continue
		}
		return grid.Errorf(grid.Invalid, "%s: unknown query parameter", k)
	}
	return nil
}

func (a *api) landing(c echo.Context) error {
	if err := wantJSON(c); err != nil {
		return err
	}
	if err := checkParams(c, func(string) bool { return false }); err != nil {
		return err
	}
	base := baseURL(c)
	return c.JSON(http.StatusOK, map[string]any{
		"title":       "citygrid OGC API – Features",
		"description": "The grid model (towns, communities, cells, responsibility zones), facilities and incidents of the city, for GIS clients.",
		"links": []link{
			{base, "self", mimeJSON, "this document"},
			{base + "/api", "service-desc", mimeOpenAPI, "the API definition (OpenAPI 3.0)"},
			{base + "/conformance", "conformance", mimeJSON, "conformance classes implemented"},
			{base + "/collections", "data", mimeJSON, "the collections"},
		},
	})
}

func (a *api) conformance(c echo.Context) error {
	if err := wantJSON(c); err != nil {
		return err
	}
	if err := checkParams(c, func(string) bool { return false }); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"conformsTo": conformanceClasses})
}

func (a *api) openAPI(c echo.Context) error {
	if err := wantJSON(c, mimeOpenAPI); err != nil {
		return err
	}
	if err := checkParams(c, func(string) bool { return false }); err != nil {
		return err
	}
	b, err := a.openAPIDocument(baseURL(c))
	if err != nil {
		return err
	}
	return c.Blob(http.StatusOK, mimeOpenAPI, b)
}
