package open311

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/labstack/echo/v4"
)

// Owns reports whether a request path is served by this package, so the
// HTTP API hands its errors (a bad key in a header, an unknown resource, a
// method not allowed) to WriteError.
func Owns(path string) bool { return strings.HasPrefix(path, "/open311/") }

// statusOf is GeoReport's status of an error: 403 for a missing, wrong or
// insufficient key, 404 for a resource or jurisdiction that does not
// exist, 400 for everything else (GeoReport has no 401, 409 or 5xx: a
// failure while processing is its "general service error", 400).
func statusOf(kind string) int {
	switch kind {
	case grid.Unauthorized, grid.Forbidden:
		return http.StatusForbidden
	case grid.NotFound:
		return http.StatusNotFound
	}
	return http.StatusBadRequest
}

// WriteError answers err as GeoReport's list of errors, in the format the
// request path asks for. Failures on this side are logged with the request
// id, which the client is given instead of their cause.
func WriteError(c echo.Context, err error, log *slog.Logger) {
	if c.Response().Committed {
		return
	}
	var (
		ge     *grid.Error
		he     *echo.HTTPError
		status = http.StatusBadRequest
		msgs   []string
	)
	rid := c.Response().Header().Get(echo.HeaderXRequestID)
	attrs := func() []any {
		return []any{slog.String("request_id", rid), slog.String("method", c.Request().Method),
			slog.String("path", c.Request().URL.Path), slog.Any("err", err)}
	}
	switch {
	case errors.As(err, &ge) && ge.Kind == grid.Unavailable:
		log.Warn("Open311 request refused: unavailable", attrs()...)
		c.Response().Header().Set("Retry-After", "2")
		msgs = []string{"general service error: the service is unavailable for a moment (" + ge.Message + "); try again in a few seconds"}
	case errors.As(err, &ge) && ge.Kind == grid.Internal:
		log.Error("Open311 request failed", attrs()...)
		msgs = []string{"general service error; the request id is " + rid}
	case errors.As(err, &ge):
		status = statusOf(ge.Kind)
		msgs = append([]string{ge.Message}, ge.Details...)
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		log.Info("Open311 request cancelled or timed out", attrs()...)
		msgs = []string{"general service error: the request was cancelled or timed out"}
	case errors.As(err, &he):
		switch he.Code {
		case http.StatusNotFound:
			status = http.StatusNotFound
			msgs = []string{"no such resource: " + c.Request().URL.Path + " (the resources are listed in discovery.json)"}
		case http.StatusMethodNotAllowed:
			msgs = []string{"method " + c.Request().Method + " is not allowed on " + c.Request().URL.Path}
		case http.StatusRequestEntityTooLarge:
			msgs = []string{"request body too large"}
		case http.StatusUnauthorized, http.StatusForbidden:
			status = http.StatusForbidden
			msgs = []string{messageOf(he)}
		default:
			if he.Code >= 500 {
				log.Error("Open311 request failed", attrs()...)
				msgs = []string{"general service error; the request id is " + rid}
			} else {
				msgs = []string{messageOf(he)}
			}
		}
	default:
		log.Error("Open311 request failed", attrs()...)
		msgs = []string{"general service error; the request id is " + rid}
	}
	doc := errorsDoc{}
	for _, m := range msgs {
		doc.Errors = append(doc.Errors, apiError{Code: status, Description: m})
	}
	if err := write(c, formatOfPath(c.Request().URL.Path), status, doc.Errors, doc); err != nil {
		log.Error("Open311 error answer not written", slog.String("request_id", rid), slog.Any("err", err))
	}
}

func messageOf(he *echo.HTTPError) string {
	if m, ok := he.Message.(string); ok {
		return m
	}
	return http.StatusText(he.Code)
}
