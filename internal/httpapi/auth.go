package httpapi

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/citygrid/citygrid/internal/grid"
	"github.com/labstack/echo/v4"
)

const principalKey = "citygrid.principal"

// keyCacheTTL bounds how long a resolved key is trusted without asking the
// database again. A revocation is normally seen at once (the store's
// NOTIFY reaches ForgetKey on every replica, and a listener reconnect
// forgets every key); the TTL bounds it when a notification is lost.
const keyCacheTTL = time.Minute

// keyCache remembers resolved keys, so a key costs one query per minute
// rather than one per request.
type keyCache struct {
	mu sync.Mutex
	m  map[string]cachedKey
}

type cachedKey struct {
	p   grid.Principal
	exp time.Time
}

// keyPrefix is the public part of a key, "cg_<prefix>_<secret>".
func keyPrefix(key string) string {
	rest, ok := strings.CutPrefix(key, "cg_")
	if !ok {
		return ""
	}
	prefix, _, _ := strings.Cut(rest, "_")
	return prefix
}

// ForgetKey drops what this replica cached of the key with prefix, so its
// next request asks the database (which refuses a revoked key).
func (s *Server) ForgetKey(prefix string) {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	for k := range s.keys.m {
		if keyPrefix(k) == prefix {
			delete(s.keys.m, k)
		}
	}
}

// ForgetKeys drops every cached key.
func (s *Server) ForgetKeys() {
	s.keys.mu.Lock()
	defer s.keys.mu.Unlock()
	clear(s.keys.m)
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
		p, err := s.resolveKey(c.Request().Context(), key)
		if err != nil {
			return err
		}
		c.Set(principalKey, p)
		return next(c)
	}
}

// resolveKey resolves an API key through the cache: Unauthorized when it
// is unknown, revoked or expired.
func (s *Server) resolveKey(ctx context.Context, key string) (grid.Principal, error) {
	if s.cfg.Keys == nil {
		return grid.Principal{}, grid.Errorf(grid.Unauthorized, "API keys are not configured")
	}
	s.keys.mu.Lock()
	ck, ok := s.keys.m[key]
	s.keys.mu.Unlock()
	if ok && !time.Now().After(ck.exp) {
		return ck.p, nil
	}
	p, err := s.cfg.Keys.Principal(ctx, key)
	if err != nil {
		return p, err
	}
	ck = cachedKey{p: p, exp: time.Now().Add(keyCacheTTL)}
	if p.Expires != nil && p.Expires.Before(ck.exp) {
		ck.exp = *p.Expires // an expiring key is asked again when it expires
	}
	s.keys.mu.Lock()
	if s.keys.m == nil || len(s.keys.m) > 10_000 {
		s.keys.m = map[string]cachedKey{}
	}
	s.keys.m[key] = ck
	s.keys.mu.Unlock()
	return p, nil
}

// principal returns the caller (the public when no key was given).
func principal(c echo.Context) grid.Principal {
	p, _ := c.Get(principalKey).(grid.Principal)
	return p
}

// inScope reports whether the caller may see or act on an incident of
// town: keys scoped to a town see only that town.
func inScope(c echo.Context, town string) bool {
	p := principal(c)
	return p.Town == "" || p.Town == town
}

// outsideTown refuses a write in town by a key scoped to keyTown ("" for
// every town).
func outsideTown(keyTown, town string) error {
	if keyTown != "" && keyTown != town {
		return grid.Errorf(grid.Forbidden, "the point lies in town %s, outside this key's town %s", town, keyTown)
	}
	return nil
}
