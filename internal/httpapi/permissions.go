package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/labstack/echo/v4"
)

// permission is one row of the permission table: a route as echo registers
// it, or a part of one (Part) whose handler decides by the same rule, and
// the capability it needs (grid.Principal.Can).
type permission struct {
	Method, Path string
	// Part names a resource within the route with a rule of its own (a
	// tile layer, an OGC collection): the route's handler enforces it
	// with Principal.Can. "" for the route as a whole, which the
	// authorize middleware enforces.
	Part string
	// Needs is the capability the caller must have; "" for anyone.
	Needs grid.Capability
	// Limited says what a caller without Limit sees of an answer it may
	// have (the handler limits it).
	Limited string
	Limit   grid.Capability
	// InRequest: the key travels in the request itself (Open311's
	// api_key), so the handler authenticates and decides, by Needs.
	InRequest bool
}

// Notes shared by several rows.
const (
	limitedFacilities = "public toilets and transfer stations only"
	limitedHeatmap    = "cells with small counts hidden"
)

// permissions is the permission table: every route, and every part of a
// route with its own rule. The README's table is made from it and a test
// enforces every row against the running router, for every role.
func permissions() []permission {
	return []permission{
		{Method: "GET", Path: "/healthz"},
		{Method: "GET", Path: "/readyz"},
		{Method: "GET", Path: "/metrics", Needs: grid.Administer},
		{Method: "GET", Path: "/api/openapi.yaml"},
		{Method: "GET", Path: "/v1/locate"},
		{Method: "POST", Path: "/v1/locate"},
		{Method: "GET", Path: "/v1/categories"},
		{Method: "GET", Path: "/v1/grid/versions"},
		{Method: "POST", Path: "/v1/grid/versions", Needs: grid.Administer},
		{Method: "GET", Path: "/v1/grid/versions/:id"},
		{Method: "GET", Path: "/v1/grid/cells/:code"},
		{Method: "GET", Path: "/v1/facilities", Limit: grid.SeeSensitive, Limited: limitedFacilities},
		{Method: "GET", Path: "/v1/facilities/nearest", Limit: grid.SeeSensitive, Limited: limitedFacilities},
		{Method: "POST", Path: "/v1/incidents", Needs: grid.WriteIncidents},
		{Method: "POST", Path: "/v1/incidents/bulk", Needs: grid.WriteIncidents},
		{Method: "GET", Path: "/v1/incidents", Needs: grid.ReadIncidents},
		{Method: "GET", Path: "/v1/incidents/:id", Needs: grid.ReadIncidents},
		{Method: "POST", Path: "/v1/incidents/:id/events", Needs: grid.WriteIncidents},
		{Method: "GET", Path: "/v1/heatmap", Limit: grid.SeeSensitive, Limited: limitedHeatmap},
		{Method: "GET", Path: "/v1/heatmap/tiles/:z/:x/:y", Limit: grid.SeeSensitive, Limited: limitedHeatmap},
		{Method: "GET", Path: "/v1/hotspots", Needs: grid.Analyse},
		{Method: "GET", Path: "/v1/hotspots/emerging", Needs: grid.Analyse},
		{Method: "GET", Path: "/v1/stats", Needs: grid.Analyse},
		{Method: "GET", Path: "/v1/overview", Needs: grid.Analyse},
		{Method: "GET", Path: "/v1/audit", Needs: grid.Administer, Limited: "a town-scoped key: its town's rows only"},
		{Method: "GET", Path: "/tiles/:layers"},
		{Method: "GET", Path: "/tiles/:layers/:z/:x/:y"},
		{Method: "GET", Path: "/tiles/:layers/:z/:x/:y", Part: "layer incidents", Needs: grid.ReadIncidents},
		{Method: "GET", Path: "/tiles/:layers/:z/:x/:y", Part: "layer facilities", Limit: grid.SeeSensitive, Limited: limitedFacilities},
		{Method: "GET", Path: "/tiles/:layers/:z/:x/:y", Part: "layer heatmap", Limit: grid.SeeSensitive, Limited: limitedHeatmap},
		{Method: "GET", Path: "/ogc"},
		{Method: "GET", Path: "/ogc/api"},
		{Method: "GET", Path: "/ogc/conformance"},
		{Method: "GET", Path: "/ogc/collections"},
		{Method: "GET", Path: "/ogc/collections/:collection_id"},
		{Method: "GET", Path: "/ogc/collections/:collection_id/queryables"},
		{Method: "GET", Path: "/ogc/collections/:collection_id/items"},
		{Method: "GET", Path: "/ogc/collections/:collection_id/items/:feature_id"},
		{Method: "GET", Path: "/ogc/collections/:collection_id/items", Part: "collection incidents", Needs: grid.ReadIncidents},
		{Method: "GET", Path: "/ogc/collections/:collection_id/items", Part: "collection facilities", Limit: grid.SeeSensitive, Limited: limitedFacilities},
		{Method: "GET", Path: "/ogc/collections/:collection_id/items/:feature_id", Part: "collection incidents", Needs: grid.ReadIncidents},
		{Method: "GET", Path: "/ogc/collections/:collection_id/items/:feature_id", Part: "collection facilities", Limit: grid.SeeSensitive,
			Limited: "public toilets and transfer stations only (others: 404)"},
		{Method: "GET", Path: "/open311/v2/discovery.:format"},
		{Method: "GET", Path: "/open311/v2/services.:format"},
		{Method: "GET", Path: "/open311/v2/services/:service_code"},
		{Method: "POST", Path: "/open311/v2/requests.:format", Needs: grid.Report, InRequest: true},
		{Method: "GET", Path: "/open311/v2/requests.:format", Needs: grid.ReadOwnReports, InRequest: true,
			Limit: grid.ReadIncidents, Limited: "its own requests only"},
		{Method: "GET", Path: "/open311/v2/requests/:service_request_id", Needs: grid.ReadOwnReports, InRequest: true,
			Limit: grid.ReadIncidents, Limited: "its own requests only"},
		{Method: "GET", Path: "/"},
		{Method: "GET", Path: "/screen"},
		{Method: "GET", Path: "/config.json"},
		{Method: "GET", Path: "/assets/:file"},
		{Method: "GET", Path: "/glyphs/:fontstack/:range"},
	}
}

// routePermissions indexes the rows that stand for whole routes, by
// "METHOD path", and the paths they name.
func routePermissions() (map[string]permission, map[string]bool) {
	m, paths := map[string]permission{}, map[string]bool{}
	for _, p := range permissions() {
		if p.Part == "" {
			m[p.Method+" "+p.Path] = p
			paths[p.Path] = true
		}
	}
	return m, paths
}

// authorize enforces the permission table's route rows: a route missing
// from the table is refused (the table is the contract); one that needs a
// capability the caller lacks is 401 for the public and 403 for a key.
func (s *Server) authorize(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		route := c.Request().Method + " " + c.Path()
		if c.Request().Method == "HEAD" {
			route = "GET " + c.Path()
		}
		p, ok := s.permissions[route]
		if !ok {
			if c.Path() == "" || strings.HasSuffix(c.Path(), "/*") || s.permittedPaths[c.Path()] {
				return next(c) // no route, or not this method: echo answers 404 or 405
			}
			return grid.Errorf(grid.Forbidden, "%s is not in the permission table", route)
		}
		if p.InRequest {
			return next(c) // the handler reads the key from the request
		}
		pr := principal(c)
		if err := pr.Need(p.Needs); err != nil {
			return err
		}
		if m := c.Request().Method; m != http.MethodGet && m != http.MethodHead {
			c.SetRequest(c.Request().WithContext(audited(c, pr)))
		}
		return next(c)
	}
}

// audited is the request's context carrying who makes it (the key, the
// client's address as the rate limiter sees it, the request id), so that
// the writes it makes are recorded as theirs in the audit log. authorize
// gives it to every request that may write; a handler that reads its key
// from the request (Open311) asks for it.
func audited(c echo.Context, p grid.Principal) context.Context {
	return grid.WithWho(c.Request().Context(), grid.KeyWho(p, c.RealIP(), c.Response().Header().Get(echo.HeaderXRequestID)))
}

// PermissionTable renders the permission table as the README shows it:
// for every route (and part of one) and every caller, whether it is
// allowed, limited, or refused with 401 or 403.
func PermissionTable() string {
	callers := append([]string{""}, grid.Roles()...)
	var b strings.Builder
	b.WriteString("| route | public")
	for _, r := range callers[1:] {
		b.WriteString(" | " + r)
	}
	b.WriteString(" | limited to |\n|---|")
	for range callers {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	for _, p := range permissions() {
		route := p.Method + " " + openAPIPath(p.Path)
		if p.Part != "" {
			route += " (" + p.Part + ")"
		}
		fmt.Fprintf(&b, "| `%s`", route)
		for _, role := range callers {
			who := grid.Principal{Role: role}
			cell := "yes"
			switch {
			case who.Need(p.Needs) != nil && who.Public() && !p.InRequest:
				cell = "401"
			case who.Need(p.Needs) != nil:
				cell = "403"
			case p.Limit != "" && !who.Can(p.Limit):
				cell = "limited"
			}
			b.WriteString(" | " + cell)
		}
		b.WriteString(" | " + p.Limited + " |\n")
	}
	return b.String()
}

// openAPIPath writes an echo route as the contract does: :name → {name}.
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			parts[i] = "{" + name + "}"
		} else if pre, name, ok := strings.Cut(s, ".:"); ok {
			parts[i] = pre + ".{" + name + "}"
		}
	}
	return strings.Join(parts, "/")
}
