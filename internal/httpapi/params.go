package httpapi

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/citygrid/citygrid/internal/coord"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/param"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/labstack/echo/v4"
)

// This file holds the request parsing every endpoint of the JSON API
// shares, over echo's request; the values themselves are read by package
// param. Each parser answers a bad value with an Invalid error naming the
// parameter or field.

// Media types of request and response bodies.
const (
	mimeJSON    = "application/json"
	mimeNDJSON  = "application/x-ndjson"
	mimeGeoJSON = "application/geo+json"
)

// requireBody checks a request body's Content-Type against the media types
// an endpoint takes: another type is 415. A missing Content-Type is taken
// as the first of them (curl -d sends a form type, so that one is refused).
func requireBody(c echo.Context, types ...string) error {
	ct := c.Request().Header.Get(echo.HeaderContentType)
	if ct == "" {
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil && slices.Contains(types, mt) {
		return nil
	}
	return echo.NewHTTPError(http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type %q: this endpoint takes %s", ct, strings.Join(types, " or ")))
}

// readBody reads a request body of at most limit bytes; a longer one is a
// 400.
func readBody(c echo.Context, limit int) ([]byte, error) {
	body, err := io.ReadAll(io.LimitReader(c.Request().Body, int64(limit)+1))
	if err != nil {
		return nil, param.Invalid("body", "could not be read: %v", err)
	}
	if len(body) > limit {
		return nil, param.Invalid("body", "larger than %d bytes", limit)
	}
	return body, nil
}

// parseLonLat reads the lon and lat query parameters.
func parseLonLat(c echo.Context) (float64, float64, error) {
	return param.LonLat(c.QueryParam("lon"), c.QueryParam("lat"))
}

// parseInt reads an optional integer parameter in lo…hi.
func parseInt(c echo.Context, name string, def, lo, hi int) (int, error) {
	v := c.QueryParam(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, param.Invalid(name, "%q: want an integer in %d…%d", v, lo, hi)
	}
	return n, nil
}

// output is how an answer with coordinates is written: the coordinate
// system (crs=) and whether as GeoJSON (f=geojson, or an Accept header
// asking for application/geo+json when f is absent).
type output struct {
	crs     coord.CRS
	geojson bool
}

func parseOutput(c echo.Context) (output, error) {
	var o output
	var err error
	if o.crs, err = param.CRS(c.QueryParam("crs")); err != nil {
		return o, err
	}
	switch f := c.QueryParam("f"); f {
	case "":
		o.geojson = strings.Contains(c.Request().Header.Get(echo.HeaderAccept), mimeGeoJSON)
	case "json":
	case "geojson":
		o.geojson = true
	default:
		return o, param.Invalid("f", "%q: want json or geojson", f)
	}
	return o, nil
}

// categoryFilter reads the category (comma list) and theme parameters into
// one category list: nil when neither is given; with both, the theme's
// categories that were asked for (an empty, non-nil list matches nothing).
func categoryFilter(snap *locate.Snapshot, category, theme string) ([]string, error) {
	var cats []string
	if category != "" {
		for _, k := range strings.Split(category, ",") {
			if _, ok := snap.Category(k); !ok {
				return nil, param.Invalid("category", "%q is not a known category", k)
			}
			cats = append(cats, k)
		}
	}
	if theme != "" {
		th := snap.ThemeCategories(theme)
		if len(th) == 0 {
			return nil, param.Invalid("theme", "%q: want parking, waterlogging or sanitation", theme)
		}
		if cats != nil {
			th = slices.DeleteFunc(th, func(k string) bool { return !slices.Contains(cats, k) })
			if th == nil {
				th = []string{}
			}
		}
		cats = th
	}
	return cats, nil
}

// statusFilter reads the status parameter (comma list) of incident
// filters: nil when absent.
func statusFilter(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	var out []string
	for _, x := range strings.Split(v, ",") {
		if !slices.Contains(grid.Statuses(), x) {
			return nil, param.Invalid("status", "%q: want one of %s", x, strings.Join(grid.Statuses(), ", "))
		}
		out = append(out, x)
	}
	return out, nil
}

// tileCoords reads z/x/y(.mvt) and checks they name a tile.
func tileCoords(c echo.Context) (int, int, int, error) {
	ys, ok := strings.CutSuffix(c.Param("y"), ".mvt")
	if !ok {
		return 0, 0, 0, grid.Errorf(grid.NotFound, "tiles are served as .mvt")
	}
	return param.Tile(c.Param("z"), c.Param("x"), ys)
}
