package api

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestOpenAPILimits: every operation but the platform's probes and
// Open311's (which answers in GeoReport's own format) declares the 429 of
// the rate limits, and every operation that may be 503 may be 504 too
// (the statement timeout, the request's deadline).
func TestOpenAPILimits(t *testing.T) {
	doc := load(t)
	for _, path := range doc.Paths.InMatchingOrder() {
		if path == "/healthz" || path == "/readyz" || path == "/metrics" || strings.HasPrefix(path, "/open311/") {
			continue
		}
		ops := doc.Paths.Value(path).Operations()
		for _, method := range slices.Sorted(maps.Keys(ops)) {
			rs := ops[method].Responses
			name := method + " " + path
			if r := rs.Value("429"); r == nil || r.Ref != "#/components/responses/TooManyRequests" {
				t.Errorf("%s does not declare 429 TooManyRequests", name)
			}
			if rs.Value("503") != nil {
				if r := rs.Value("504"); r == nil || r.Ref != "#/components/responses/GatewayTimeout" {
					t.Errorf("%s declares 503 but not 504 GatewayTimeout", name)
				}
			}
		}
	}
	for _, name := range []string{"TooManyRequests", "Unavailable"} {
		r := doc.Components.Responses[name]
		if r == nil || r.Value.Headers["Retry-After"] == nil {
			t.Errorf("components/responses/%s lacks its Retry-After header", name)
		}
	}
}
