package httpapi

import (
	"strings"
	"sync"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/labstack/echo/v4"
)

const principalKey = "citygrid.principal"

// keyCache remembers resolved keys for a minute, so a key costs one query
// per minute rather than one per request.
type keyCache struct {
	mu sync.Mutex
	m  map[string]cachedKey
}

type cachedKey struct {
	p   grid.Principal
	exp time.Time
}

// authenticate resolves "Authorization: Bearer <key>" (or X-API-Key) to a
// principal; no key is the public. A bad key is 401, never silently public.
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		key := c.Request().Header.Get("X-API-Key")
		if h := c.Request().Header.Get(echo.HeaderAuthorization); h != "" {
			k, ok := strings.CutPrefix(h, "Bearer ")
			if !ok {
				return grid.Errorf(grid.Unauthorized, "Authorization: want Bearer <API key>")
			}
			key = strings.TrimSpace(k)
		}
		if key == "" {
			return next(c)
		}
		if s.cfg.Keys == nil {
			return grid.Errorf(grid.Unauthorized, "API keys are not configured")
		}
		s.keys.mu.Lock()
		ck, ok := s.keys.m[key]
		s.keys.mu.Unlock()
		if !ok || time.Now().After(ck.exp) {
			p, err := s.cfg.Keys.Principal(c.Request().Context(), key)
			if err != nil {
				return err
			}
			ck = cachedKey{p: p, exp: time.Now().Add(time.Minute)}
			s.keys.mu.Lock()
			if s.keys.m == nil || len(s.keys.m) > 10_000 {
				s.keys.m = map[string]cachedKey{}
			}
			s.keys.m[key] = ck
			s.keys.mu.Unlock()
		}
		c.Set(principalKey, ck.p)
		return next(c)
	}
}

// principal returns the caller (the public when no key was given).
func principal(c echo.Context) grid.Principal {
	p, _ := c.Get(principalKey).(grid.Principal)
	return p
}
