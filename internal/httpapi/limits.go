package httpapi

import (
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"
)

// This file holds the limits that keep the service standing under abuse
// and overload: rate limits per client address and per API key, the
// deadline of every request, and a bound on concurrent expensive queries.
// The README's "Limits" section lists them with every other limit.

// Defaults of the limits for `citygrid serve` (its flags start from these;
// a zero Limits in Config sets no rate limit).
const (
	// A map page loads some 100–150 tiles and API answers at once, then a
	// few dozen a second while panned: an address gets that burst. A key,
	// which may be used from several addresses (an office, an app), gets
	// twice as much in all.
	DefaultRatePerAddr  = 50
	DefaultBurstPerAddr = 200
	DefaultRatePerKey   = 100
	DefaultBurstPerKey  = 400
	// DefaultRequestTimeout bounds a request's context. The batch routes
	// (POST /v1/locate, POST /v1/incidents/bulk) get DefaultBatchTimeout:
	// a 250,000-line bulk load of 128 MiB sent at 1.1 MB/s still meets it.
	DefaultRequestTimeout = 30 * time.Second
	DefaultBatchTimeout   = 2 * time.Minute
	// DefaultExpensiveWait is how long an expensive request waits for a
	// slot before it is refused: about what one such query takes.
	DefaultExpensiveWait = 250 * time.Millisecond
)

// DefaultExpensive is the default bound on concurrent expensive queries:
// two per core, so the planners' analyses keep cores and connections for
// everything else.
func DefaultExpensive() int { return 2 * runtime.GOMAXPROCS(0) }

// Rate is a token bucket: Rate requests per second on average, Burst at
// once. A Rate ≤ 0 is no limit.
type Rate struct {
	Rate  float64
	Burst int
}

// Limits configures the limits of this file.
type Limits struct {
	// PerAddr meters every request by its client address — before its key
	// is looked up, so a guessed or revoked key costs its sender's address
	// and never gets a bucket of its own. PerKey meters the requests of
	// each valid key besides.
	PerAddr, PerKey Rate
	// TrustedProxies are the peers whose X-Forwarded-For is believed: the
	// client address is then the last address in it that is not one of
	// them. Without any, the client address is the connection's peer.
	TrustedProxies []*net.IPNet
	// Exempt client addresses are never rate-limited (cmd: loopback, so a
	// local load generator measures the service and not its limits).
	Exempt []*net.IPNet
	// Expensive bounds the expensive queries running at once (expensive
	// below): 0 is DefaultExpensive, negative no bound. ExpensiveWait is
	// how long a request waits for a slot before a 503 (0: not at all).
	Expensive     int
	ExpensiveWait time.Duration
	// RequestTimeout is the deadline of each request's context (0: the
	// default, negative: none); BatchTimeout that of the batch routes,
	// whose connection read and write deadlines are moved out with it
	// (0: the default, negative: none, and the server's timeouts stand).
	RequestTimeout, BatchTimeout time.Duration
}

// route is a method and an echo route path.
type route struct{ method, path string }

func routeOf(c echo.Context) route { return route{c.Request().Method, c.Path()} }

// batchRoutes read large bodies and write large answers: their deadlines
// are BatchTimeout's.
var batchRoutes = map[route]bool{
	{"POST", "/v1/locate"}:         true,
	{"POST", "/v1/incidents/bulk"}: true,
}

// expensiveRoutes cost the database or the cores far more than a page or a
// tile: each takes a slot of the expensive-query bound.
var expensiveRoutes = map[route]bool{
	{"GET", "/v1/stats"}:             true,
	{"GET", "/v1/hotspots"}:          true,
	{"GET", "/v1/hotspots/emerging"}: true,
	{"GET", "/v1/overview"}:          true,
}

// heatRoutes are answered from the heatmap read model, or from SQL while it
// loads: only then are they expensive.
var heatRoutes = map[route]bool{
	{"GET", "/v1/heatmap"}:                true,
	{"GET", "/v1/heatmap/tiles/:z/:x/:y"}: true,
	{"GET", "/tiles/:layers/:z/:x/:y"}:    true, // with the heatmap layer
}

// ioMargin is how much longer than a request's deadline its connection may
// take to read the rest of a body and write the answer (a 504 included).
const ioMargin = 15 * time.Second

// ServerTimeouts returns the http.Server's read and write timeouts that go
// with the request deadline: a slow client cannot hold a connection
// longer, and a handler at its deadline still has time to write its
// answer. cmd sets them on its http.Server; the batch routes move their
// connection's deadlines further out themselves.
func ServerTimeouts(requestTimeout time.Duration) (read, write time.Duration) {
	if requestTimeout <= 0 {
		requestTimeout = DefaultRequestTimeout
	}
	// Past its read deadline a connection's background read cancels the
	// request's context; the read deadline comes after the request's own,
	// so a slow handler is a 504 and not a cancelled request.
	return requestTimeout + 5*time.Second, requestTimeout + ioMargin
}

// limiter holds the state of the limits.
type limiter struct {
	cfg       Limits
	expensive *semaphore.Weighted // nil: no bound
	slots     int64
	onWait    atomic.Pointer[func()] // tests: called when a request starts waiting for a slot

	limited  *prometheus.CounterVec
	inFlight prometheus.Gauge
	refused  prometheus.Counter
}

func newLimiter(cfg Limits, reg prometheus.Registerer) *limiter {
	if cfg.Expensive == 0 {
		cfg.Expensive = DefaultExpensive()
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.BatchTimeout == 0 {
		cfg.BatchTimeout = DefaultBatchTimeout
	}
	for _, r := range []*Rate{&cfg.PerAddr, &cfg.PerKey} {
		if r.Burst < 1 {
			r.Burst = max(1, int(math.Ceil(r.Rate)))
		}
	}
	l := &limiter{cfg: cfg,
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "citygrid_rate_limited_total", Help: "Requests refused with 429, by the bucket that was empty (address or key).",
		}, []string{"bucket"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "citygrid_expensive_in_flight", Help: "Expensive queries (statistics, hot spots, heatmaps from SQL) running now.",
		}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "citygrid_expensive_refused_total", Help: "Expensive queries refused with 503 because every slot stayed taken.",
		}),
	}
	if cfg.Expensive > 0 {
		l.slots = int64(cfg.Expensive)
		l.expensive = semaphore.NewWeighted(l.slots)
	}
	reg.MustRegister(l.limited, l.inFlight, l.refused)
	return l
}

// ipExtractor is how echo's RealIP finds the client address: the peer,
// or with trusted proxies the X-Forwarded-For entry they vouch for. Echo's
// own defaults trust private and loopback peers; nothing is trusted here
// that was not named.
func (cfg Limits) ipExtractor() echo.IPExtractor {
	if len(cfg.TrustedProxies) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range cfg.TrustedProxies {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// clientBucket names the address bucket of ip: the address itself, or for
// IPv6 its /64, which one host or customer usually holds whole.
func clientBucket(ip net.IP) string {
	if ip.To4() == nil && len(ip) == net.IPv6len {
		return ip.Mask(net.CIDRMask(64, 128)).String() + "/64"
	}
	return ip.String()
}

// opsRoutes are never rate-limited: probes and scrapers of the platform.
var opsRoutes = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

func (l *limiter) exempt(c echo.Context) bool {
	if opsRoutes[c.Path()] {
		return true
	}
	ip := net.ParseIP(c.RealIP())
	for _, n := range l.cfg.Exempt {
		if ip != nil && n.Contains(ip) {
			return true
		}
	}
	return false
}

// rateLimit is echo's token-bucket middleware over its memory store.
// Buckets idle for longer than a full refill (at least a minute) are
// dropped: they would be full again anyway, so memory holds only the
// clients of the last minutes.
func (l *limiter) rateLimit(r Rate, bucket string, skip func(echo.Context) bool, id func(echo.Context) string) echo.MiddlewareFunc {
	refill := time.Duration(float64(r.Burst) / r.Rate * float64(time.Second))
	store := middleware.NewRateLimiterMemoryStoreWithConfig(middleware.RateLimiterMemoryStoreConfig{
		Rate: rate.Limit(r.Rate), Burst: r.Burst, ExpiresIn: max(time.Minute, refill)})
	// A bucket that refused has its next token within 1/rate.
	retry := strconv.FormatFloat(math.Max(1, math.Ceil(1/r.Rate)), 'f', 0, 64)
	return middleware.RateLimiterWithConfig(middleware.RateLimiterConfig{
		Skipper:             skip,
		Store:               store,
		IdentifierExtractor: func(c echo.Context) (string, error) { return id(c), nil },
		DenyHandler: func(c echo.Context, _ string, _ error) error {
			l.limited.WithLabelValues(bucket).Inc()
			c.Response().Header().Set("Retry-After", retry)
			return echo.NewHTTPError(http.StatusTooManyRequests,
				fmt.Sprintf("too many requests from this %s (%g a second, %d at once): try again after Retry-After seconds", bucket, r.Rate, r.Burst))
		},
	})
}

// limitsBeforeAuth are the limits that come before the key is looked up:
// the address's rate limit, and the request's deadline (under which the
// key lookup runs too).
func (s *Server) limitsBeforeAuth() []echo.MiddlewareFunc {
	l := s.limits
	var out []echo.MiddlewareFunc
	if r := l.cfg.PerAddr; r.Rate > 0 {
		out = append(out, l.rateLimit(r, "address", l.exempt, func(c echo.Context) string {
			if ip := net.ParseIP(c.RealIP()); ip != nil {
				return clientBucket(ip)
			}
			return c.RealIP()
		}))
	}
	return append(out, l.deadline)
}

// limitsAfterAuth are the limits that need the caller: the key's rate
// limit, and the bound on expensive queries.
func (s *Server) limitsAfterAuth() []echo.MiddlewareFunc {
	l := s.limits
	var out []echo.MiddlewareFunc
	if r := l.cfg.PerKey; r.Rate > 0 {
		out = append(out, l.rateLimit(r, "key", func(c echo.Context) bool { return principal(c).Public() || l.exempt(c) },
			func(c echo.Context) string { return "key " + strconv.FormatInt(principal(c).KeyID, 10) }))
	}
	return out
}

// limitsAfterAuthorize are the limits on what an admitted caller runs:
// the bound on expensive queries, so a refused caller never holds a slot.
func (s *Server) limitsAfterAuthorize() []echo.MiddlewareFunc {
	if s.limits.expensive == nil {
		return nil
	}
	return []echo.MiddlewareFunc{s.boundExpensive}
}

// deadline gives the request's context its deadline, and a batch route's
// connection read and write deadlines that fit its longer one.
func (l *limiter) deadline(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		d := l.cfg.RequestTimeout
		if batchRoutes[routeOf(c)] {
			if d = l.cfg.BatchTimeout; d > 0 {
				rc := http.NewResponseController(c.Response())
				now := time.Now()
				// Not every writer supports deadlines (a recorder in
				// tests): then the server's own timeouts stand.
				_ = rc.SetReadDeadline(now.Add(d + 5*time.Second))
				_ = rc.SetWriteDeadline(now.Add(d + ioMargin))
			}
		}
		if d < 0 {
			return next(c) // no deadline; the connection keeps the server's timeouts
		}
		ctx, cancel := context.WithTimeout(c.Request().Context(), d)
		defer cancel()
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

// isExpensive reports whether the request takes an expensive-query slot.
func (s *Server) isExpensive(c echo.Context) bool {
	r := routeOf(c)
	if expensiveRoutes[r] {
		return true
	}
	if !heatRoutes[r] || !s.heatFromSQL() {
		return false
	}
	if c.Path() == "/tiles/:layers/:z/:x/:y" {
		return strings.Contains(","+c.Param("layers")+",", ",heatmap,")
	}
	return true
}

// heatFromSQL reports whether heatmaps come from SQL (the read model is
// still loading, or its last load failed).
func (s *Server) heatFromSQL() bool {
	h, ok := s.cfg.Heatmaps.(readyReporter)
	if !ok {
		return false
	}
	ready, _ := h.Ready()
	return !ready
}

// boundExpensive runs an expensive request in one of the bound's slots,
// waiting at most ExpensiveWait for one; past that the answer is 503 with
// Retry-After (the error handler sets it).
func (s *Server) boundExpensive(next echo.HandlerFunc) echo.HandlerFunc {
	l := s.limits
	return func(c echo.Context) error {
		if !s.isExpensive(c) {
			return next(c)
		}
		if err := l.acquire(c.Request().Context()); err != nil {
			return err
		}
		defer l.release()
		return next(c)
	}
}

// acquire takes an expensive-query slot: Unavailable when none frees up
// within ExpensiveWait, the context's error when it ends first.
func (l *limiter) acquire(ctx context.Context) error {
	if !l.expensive.TryAcquire(1) {
		if f := l.onWait.Load(); f != nil {
			(*f)()
		}
		wctx, cancel := context.WithTimeout(ctx, l.cfg.ExpensiveWait)
		err := l.expensive.Acquire(wctx, 1)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			l.refused.Inc()
			return grid.Errorf(grid.Unavailable, "the service runs as many expensive queries (statistics, hot spots, heatmaps while their read model loads) as it takes at once (%d): try again shortly", l.slots)
		}
	}
	l.inFlight.Inc()
	return nil
}

func (l *limiter) release() {
	l.inFlight.Dec()
	l.expensive.Release(1)
}

// maxWindowYears bounds the time window of heatmaps, hot spots and
// statistics.
const maxWindowYears = 3

// windowTooLong reports whether [from, to) is longer than maxWindowYears.
func windowTooLong(from, to time.Time) bool {
	return from.AddDate(maxWindowYears, 0, 0).Before(to)
}
