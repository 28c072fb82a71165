package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/citygrid/citygrid/internal/httpapi/open311"
	"github.com/labstack/echo/v4"
)

// Problem is an RFC 9457 problem detail.
type Problem struct {
	Type     string   `json:"type"`
	Title    string   `json:"title"`
	Status   int      `json:"status"`
	Detail   string   `json:"detail,omitempty"`
	Instance string   `json:"instance,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// statusOf maps a domain error kind to its HTTP status: the one place
// where that decision is made.
func statusOf(kind string) int {
	switch kind {
	case grid.Invalid:
		return http.StatusBadRequest
	case grid.Rejected:
		return http.StatusUnprocessableEntity
	case grid.NotFound:
		return http.StatusNotFound
	case grid.Conflict:
		return http.StatusConflict
	case grid.Unauthorized:
		return http.StatusUnauthorized
	case grid.Forbidden:
		return http.StatusForbidden
	case grid.Unavailable:
		return http.StatusServiceUnavailable
	case grid.Timeout:
		return http.StatusGatewayTimeout
	}
	return http.StatusInternalServerError
}

// problemType names each kind with a stable URI reference.
func problemType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "/problems/invalid-request"
	case http.StatusUnprocessableEntity:
		return "/problems/rejected"
	case http.StatusNotFound:
		return "/problems/not-found"
	case http.StatusConflict:
		return "/problems/conflict"
	case http.StatusUnauthorized:
		return "/problems/unauthorized"
	case http.StatusForbidden:
		return "/problems/forbidden"
	case http.StatusMethodNotAllowed:
		return "/problems/method-not-allowed"
	case http.StatusRequestEntityTooLarge:
		return "/problems/too-large"
	case http.StatusServiceUnavailable:
		return "/problems/unavailable"
	case http.StatusGatewayTimeout:
		return "/problems/timeout"
	case http.StatusTooManyRequests:
		return "/problems/too-many-requests"
	case http.StatusUnsupportedMediaType:
		return "/problems/unsupported-media-type"
	}
	if status >= 500 {
		return "/problems/internal"
	}
	return "about:blank"
}

// retryAfter is what a 503 asks the client to wait, in seconds: the
// database is back within seconds after a restart, and a busy service
// sheds load for about as long.
const retryAfter = "2"

// errorHandler turns every error into problem+json. Every 5xx is logged
// once, with its cause and the request id; the client sees no internals. A
// 503 carries Retry-After (a 429 has it from its rate limit). Work past its
// deadline — a statement timeout, the request's own deadline — is 504: the
// same request would take as long again, unlike a 503's "not now".
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if open311.Owns(c.Request().URL.Path) { // GeoReport v2 has its own error format
		open311.WriteError(c, err, s.log)
		return
	}
	p := Problem{Instance: c.Request().URL.Path}
	var he *echo.HTTPError
	var ge *grid.Error
	switch {
	case errors.As(err, &ge):
		p.Status = statusOf(ge.Kind)
		p.Detail = ge.Message
		p.Errors = ge.Details
	case errors.Is(err, context.DeadlineExceeded):
		p.Status = http.StatusGatewayTimeout
		p.Detail = "the request ran past its time limit"
	case errors.Is(err, context.Canceled):
		p.Status = http.StatusServiceUnavailable
		p.Detail = "the request was cancelled"
	case errors.As(err, &he):
		p.Status = he.Code
		if m, ok := he.Message.(string); ok {
			p.Detail = m
		} else {
			p.Detail = http.StatusText(he.Code)
		}
		if he.Code == http.StatusRequestEntityTooLarge && p.Detail == http.StatusText(he.Code) {
			p.Detail = "request body too large" // the server's body limit; handlers with their own say theirs
		}
	default:
		p.Status = http.StatusInternalServerError
	}
	if p.Status >= 500 {
		attrs := []any{slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			slog.String("method", c.Request().Method), slog.String("path", c.Request().URL.Path),
			slog.Int("status", p.Status), slog.Any("err", err)}
		switch {
		case errors.Is(err, context.Canceled) && c.Request().Context().Err() != nil:
			// The client hung up: nothing failed on our side.
			s.log.Info("request cancelled by the client", attrs...)
		case p.Status == http.StatusServiceUnavailable:
			s.log.Warn("request refused: unavailable", attrs...)
		case p.Status == http.StatusGatewayTimeout:
			s.log.Warn("request timed out", attrs...)
		default:
			s.log.Error("request failed", attrs...)
			p.Detail = "internal error; the request id is in the X-Request-Id header"
		}
	}
	if p.Status == http.StatusServiceUnavailable {
		c.Response().Header().Set("Retry-After", retryAfter)
	}
	p.Type = problemType(p.Status)
	p.Title = http.StatusText(p.Status)
	b, _ := json.Marshal(p)
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(p.Status)
	if c.Request().Method != http.MethodHead {
		_, _ = c.Response().Write(b)
	}
}
