// Package open311 serves Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2)
// under /open311/v2: service discovery, the services — the categories of
// the grid snapshot — and their definitions, and service requests, created
// through the one assignment path (intake) as POST /v1/incidents creates
// incidents, and read back by the keys allowed to. Its answers are XML or
// JSON as the resource's suffix asks, its errors GeoReport's list of
// {code, description} with GeoReport's statuses (400, 403, 404).
//
// The HTTP API registers it with Register; it reaches the database only
// through the domain's interfaces and imports no other adapter.
package open311

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/intake"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/labstack/echo/v4"
)

// Prefix is where the HTTP API mounts GeoReport v2.
const Prefix = "/open311/v2"

// Specification is GeoReport v2's URL, as discovery names it.
const Specification = "http://wiki.open311.org/GeoReport_v2"

// changeset is when this endpoint's behaviour last changed (discovery).
const changeset = "2026-12-01T00:00:00+08:00"

// Default texts of the discovery document.
const (
	DefaultContact    = "The city's digital city-management centre (数字城管指挥中心) runs this service; its HTTP contract is at /api/openapi.yaml."
	DefaultKeyService = "API keys are issued by the operations centre (citygrid keys create --role app for a citizens' app)."
)

// MaxBody is the default bound of a POST requests body: a description of
// 4,000 Chinese characters, form-encoded, is 36 KiB.
const MaxBody = 64 << 10

// Deps is what the GeoReport handlers need; the HTTP API wires it.
type Deps struct {
	// Catalog is the grid snapshot in force: services are its categories.
	Catalog *locate.Catalog
	// Assigner is the assignment service of the snapshot in force.
	Assigner func() (*intake.Assigner, error)
	// Requests stores and finds service requests.
	Requests grid.ServiceRequestStore
	// ResolveKey resolves an api_key parameter (Unauthorized when unknown,
	// revoked or expired); Principal is the caller the HTTP API resolved
	// from the Authorization or X-API-Key header (the public without one).
	ResolveKey func(ctx context.Context, key string) (grid.Principal, error)
	Principal  func(c echo.Context) grid.Principal
	// Audited is the request's context carrying who makes it with key p,
	// for the audit log of the writes it makes (nil: the context as is).
	Audited func(c echo.Context, p grid.Principal) context.Context
	Logger  *slog.Logger
	// Contact and KeyService are discovery's texts (defaults above).
	Contact, KeyService string
	// MaxBody bounds a POST requests body in bytes (default MaxBody).
	MaxBody int
}

type handlers struct{ d Deps }

// Register adds GeoReport v2's resources to g (mounted at Prefix).
func Register(g *echo.Group, d Deps) {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Contact == "" {
		d.Contact = DefaultContact
	}
	if d.KeyService == "" {
		d.KeyService = DefaultKeyService
	}
	if d.MaxBody <= 0 {
		d.MaxBody = MaxBody
	}
	h := &handlers{d: d}
	g.GET("/discovery.:format", h.wrap(h.discovery))
	g.GET("/services.:format", h.wrap(h.services))
	g.GET("/services/:service_code", h.wrap(h.definition))
	g.GET("/requests.:format", h.wrap(h.list))
	g.POST("/requests.:format", h.wrap(h.create))
	g.GET("/requests/:service_request_id", h.wrap(h.request))
}

// wrap renders a handler's error in GeoReport's format.
func (h *handlers) wrap(fn echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if err := fn(c); err != nil {
			WriteError(c, err, h.d.Logger)
		}
		return nil
	}
}

func (h *handlers) snapshot() (*locate.Snapshot, error) {
	var snap *locate.Snapshot
	if h.d.Catalog != nil {
		snap = h.d.Catalog.Current()
	}
	if snap == nil {
		return nil, grid.Errorf(grid.Unavailable, "the grid snapshot is not loaded yet")
	}
	return snap, nil
}

// checkJurisdiction admits the one jurisdiction served here; the argument
// is optional (GeoReport: only required where an endpoint serves several).
func checkJurisdiction(v string) error {
	if v == "" || v == grid.CountyCode {
		return nil
	}
	return grid.Errorf(grid.NotFound, "jurisdiction_id %q was not found: this endpoint serves jurisdiction %s only", v, grid.CountyCode)
}

// caller is who calls: the key in the api_key argument when one is given,
// else the key of the Authorization or X-API-Key header, else the public.
func (h *handlers) caller(c echo.Context, key string) (grid.Principal, error) {
	hp := h.d.Principal(c)
	if key == "" {
		return hp, nil
	}
	if len(key) > 200 || h.d.ResolveKey == nil {
		return grid.Principal{}, grid.Errorf(grid.Unauthorized, "invalid api_key received")
	}
	p, err := h.d.ResolveKey(c.Request().Context(), key)
	if err != nil {
		if grid.KindOf(err) == grid.Unauthorized {
			return p, grid.Wrap(grid.Unauthorized, err, "invalid api_key received: unknown, revoked or expired")
		}
		return p, err
	}
	if !hp.Public() && hp.KeyID != p.KeyID {
		return p, grid.Errorf(grid.Unauthorized, "api_key and the Authorization or X-API-Key header name different keys: send one")
	}
	return p, nil
}

// admit refuses a caller without capability c, by the permission table's
// rule (grid.Principal.Need); GeoReport has no 401: a missing key is 403
// too, and says which parameter carries it.
func admit(p grid.Principal, c grid.Capability) error {
	if p.Public() && !p.Can(c) {
		return grid.Wrap(grid.Forbidden, p.Need(c), "an api_key is required to %s (roles %s)", c, strings.Join(grid.RolesWith(c), ", "))
	}
	return p.Need(c)
}

// discovery: GET discovery.{format} — where GeoReport v2 is served, absolute
// from the request's host.
func (h *handlers) discovery(c echo.Context) error {
	f, err := parseFormat(c.Param("format"))
	if err != nil {
		return err
	}
	base := c.Scheme() + "://" + c.Request().Host + strings.TrimSuffix(c.Path(), "/discovery.:format")
	d := discoveryDoc{Changeset: changeset, Contact: h.d.Contact, KeyService: h.d.KeyService,
		Endpoints: []endpoint{{Specification: Specification, URL: base, Changeset: changeset, Type: "production",
			Formats: []string{"text/xml", "application/json"}}}}
	return write(c, f, http.StatusOK, d, d)
}
