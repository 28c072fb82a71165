// Package httpapi is the HTTP adapter: echo handlers, DTOs, the one error
// handler, metrics. It reaches the database only through the domain's
// interfaces and the jurisdiction index.
package httpapi

import (
	"context"
	"io/fs"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/citygrid/citygrid/internal/featcache"
	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/hexbin"
	"github.com/citygrid/citygrid/internal/httpapi/ogc"
	"github.com/citygrid/citygrid/internal/httpapi/open311"
	"github.com/citygrid/citygrid/internal/intake"
	"github.com/citygrid/citygrid/internal/locate"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is what the server needs; cmd wires it.
type Config struct {
	Store      grid.GridStore
	Facilities grid.FacilityStore
	Incidents  grid.IncidentStore
	Stats      grid.StatsStore
	Overview   grid.OverviewStore // the big screen; nil: 503
	Heatmaps   grid.HeatmapStore
	Keys       grid.KeyStore
	Audit      grid.AuditStore          // GET /v1/audit; nil: 503
	Requests   grid.ServiceRequestStore // Open311 service requests
	Features   grid.FeatureStore        // the OGC API's incident and facility collections
	// Cache keeps answers of incident reads; nil: none. Its entries are
	// only as fresh as the writes reaching it: give Incidents as a
	// featcache.Store over the same cache.
	Cache *featcache.Cache
	// MinPublicCount hides heatmap cells with fewer incidents from public
	// callers, so no single report can be singled out (default 3).
	MinPublicCount int
	Calendar       *grid.Calendar // working calendar for deadlines (default: Mon–Fri, 08:30–12:00, 13:30–17:30)
	Catalog        *locate.Catalog
	Registry       *prometheus.Registry // nil: a private one
	Logger         *slog.Logger
	OpenAPI        []byte
	// BodyLimit caps request bodies (default 64 MiB: a 100,000-point batch fits).
	BodyLimit string
	// Open311Contact and Open311KeyService are the texts of Open311's
	// discovery document (defaults: open311.DefaultContact, DefaultKeyService).
	Open311Contact, Open311KeyService string
	// Web is the built web map (web.Dist's "dist", through WebFiles); nil:
	// the page routes answer 404.
	Web fs.FS
	// Tiles reads incidents for vector tiles; TileCacheBytes sizes their
	// cache (0: tiles.DefaultCacheBytes; negative: no cache). See tiles.go.
	Tiles          TileStore
	TileCacheBytes int64
	// Limits are the rate limits, deadlines and the bound on expensive
	// queries (limits.go); the zero value: no rate limit, default deadlines.
	Limits Limits
}

// Server is the HTTP face of citygrid.
type Server struct {
	cfg  Config
	log  *slog.Logger
	echo *echo.Echo
	reg  *prometheus.Registry

	views          views
	keys           keyCache
	permissions    map[string]permission // the permission table's route rows
	permittedPaths map[string]bool       // the paths they name
	studies        hexbin.StudyCache
	tiles          *tileService
	limits         *limiter
	requests       *prometheus.CounterVec
	latency        *prometheus.HistogramVec
}

// New builds the server and its routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	if cfg.MinPublicCount <= 0 {
		cfg.MinPublicCount = 3
	}
	if cfg.BodyLimit == "" {
		cfg.BodyLimit = "64M"
	}
	if cfg.Calendar == nil {
		cfg.Calendar = grid.DefaultCalendar()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, reg: cfg.Registry, echo: echo.New()}
	s.permissions, s.permittedPaths = routePermissions()
	s.views.cal = cfg.Calendar
	s.tiles = newTileService(cfg, s.reg)
	s.limits = newLimiter(cfg.Limits, s.reg)
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "citygrid_http_requests_total", Help: "HTTP requests by route and status.",
	}, []string{"method", "route", "status"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "citygrid_http_request_duration_seconds", Help: "HTTP request latency by route.",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"method", "route"})
	s.reg.MustRegister(s.requests, s.latency)
	s.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "citygrid_grid_version", Help: "The grid version the jurisdiction index serves (0: none).",
	}, func() float64 {
		if snap := s.cfg.Catalog.Current(); snap != nil {
			return float64(snap.Version.ID)
		}
		return 0
	}))

	e := s.echo
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.IPExtractor = cfg.Limits.ipExtractor()
	e.Use(middleware.RequestID())
	e.Use(s.observe)
	e.Use(middleware.Recover())
	e.Use(s.limitsBeforeAuth()...) // limits.go: the address's rate limit, the deadline
	e.Use(s.authenticate)
	e.Use(s.limitsAfterAuth()...) // limits.go: the key's rate limit
	e.Use(s.authorize)
	e.Use(s.limitsAfterAuthorize()...) // limits.go: expensive queries
	e.Use(middleware.BodyLimitWithConfig(middleware.BodyLimitConfig{
		Limit: cfg.BodyLimit,
		// The batch endpoints read and limit their own bodies, to say
		// which field or line was too large.
		Skipper: func(c echo.Context) bool { return c.Path() == "/v1/locate" || c.Path() == "/v1/incidents/bulk" },
	}))

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", echo.WrapHandler(promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{})))
	e.GET("/api/openapi.yaml", s.openapi)
	e.GET("/v1/locate", s.getLocate)
	e.POST("/v1/locate", s.postLocate)
	e.GET("/v1/grid/versions", s.gridVersions)
	e.GET("/v1/grid/cells/:code", s.gridCell)
	s.routesGridImport(e)
	s.routesFacilities(e)
	s.routesIncidents(e)
	s.routesStats(e)
	s.routesOverview(e)
	s.routesHeatmap(e)
	s.routesHotspots(e)
	s.routesAudit(e)
	ogc.Register(e.Group("/ogc"), ogc.Deps{Catalog: cfg.Catalog, Features: cfg.Features, Principal: principal, Cache: cfg.Cache})
	open311.Register(e.Group(open311.Prefix), open311.Deps{Catalog: cfg.Catalog, Assigner: s.assigner, Requests: cfg.Requests,
		ResolveKey: s.resolveKey, Principal: principal, Audited: audited, Logger: s.log, Contact: cfg.Open311Contact, KeyService: cfg.Open311KeyService})
	s.routesTiles(e)
	s.routesWeb(e)
	return s
}

// snapshot is the grid snapshot in force; Unavailable before the first.
func (s *Server) snapshot() (*locate.Snapshot, error) {
	snap := s.cfg.Catalog.Current()
	if snap == nil {
		return nil, grid.Errorf(grid.Unavailable, "the grid snapshot is not loaded yet")
	}
	return snap, nil
}

// view is what the handlers that locate or assign use: the assignment
// service of the snapshot in force, with its JSON fragments.
func (s *Server) view() (*view, error) {
	snap, err := s.snapshot()
	if err != nil {
		return nil, err
	}
	return s.views.get(snap)
}

// assigner is the assignment service of the snapshot in force.
func (s *Server) assigner() (*intake.Assigner, error) {
	v, err := s.view()
	if err != nil {
		return nil, err
	}
	return v.assign, nil
}

// Handler is the server's http.Handler.
func (s *Server) Handler() http.Handler { return s.echo }

// Routes lists "METHOD path" of every route, for the contract test.
func (s *Server) Routes() []string {
	var out []string
	for _, r := range s.echo.Routes() {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func (s *Server) observe(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		route := c.Path()
		if route == "" {
			route = "unmatched"
		}
		s.requests.WithLabelValues(c.Request().Method, route, strconv.Itoa(c.Response().Status)).Inc()
		s.latency.WithLabelValues(c.Request().Method, route).Observe(time.Since(start).Seconds())
		return nil
	}
}

func (s *Server) healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

type readiness struct {
	Status      string `json:"status"` // ready, degraded or unavailable
	Database    string `json:"database"`
	GridVersion int64  `json:"grid_version"`
	Cells       int    `json:"cells"`
	// Heatmaps: "memory" when the read model answers, "loading" while
	// heatmaps come from SQL (slower, still correct), "failed: …" if the
	// last load failed (it is retried when the database comes back).
	Heatmaps string `json:"heatmaps,omitempty"`
	// Statistics: the same for the statistics read model (statistics and
	// the overview).
	Statistics string `json:"statistics,omitempty"`
}

// readyReporter is a heatmap store that can say whether it is warm.
type readyReporter interface {
	Ready() (bool, error)
}

// readyz: ready when the database answers and a grid snapshot is loaded;
// degraded (still 200: locate answers from the snapshot) when only the
// database is down; 503 without a snapshot.
func (s *Server) readyz(c echo.Context) error {
	r := readiness{Status: "ready", Database: "ok"}
	ctx, cancel := context.WithTimeout(c.Request().Context(), 2*time.Second)
	defer cancel()
	if err := s.cfg.Store.Ping(ctx); err != nil {
		r.Database, r.Status = "unreachable", "degraded"
	}
	snap := s.cfg.Catalog.Current()
	if snap == nil {
		r.Status = "unavailable"
		return c.JSON(http.StatusServiceUnavailable, r)
	}
	r.GridVersion, r.Cells = snap.Version.ID, len(snap.Cells)
	r.Heatmaps = warmth(s.cfg.Heatmaps)
	r.Statistics = warmth(s.cfg.Stats)
	return c.JSON(http.StatusOK, r)
}

// warmth says whether a read model answers from memory: "memory",
// "loading", "failed: …", or "" for a store that is not one.
func warmth(store any) string {
	h, ok := store.(readyReporter)
	if !ok {
		return ""
	}
	switch ok, err := h.Ready(); {
	case ok:
		return "memory"
	case err != nil:
		return "failed: " + grid.MessageOf(err)
	}
	return "loading"
}

func (s *Server) openapi(c echo.Context) error {
	return c.Blob(http.StatusOK, "application/yaml", s.cfg.OpenAPI)
}
