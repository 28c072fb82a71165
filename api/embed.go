// Package api holds the HTTP contract, api/openapi.yaml, embedded and
// served at /api/openapi.yaml.
package api

import _ "embed"

// OpenAPI is the OpenAPI 3 document of the service.
//
//go:embed openapi.yaml
var OpenAPI []byte
