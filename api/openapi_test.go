package api

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// load parses the embedded contract as an OpenAPI 3 document.
func load(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(OpenAPI)
	if err != nil {
		t.Fatalf("api/openapi.yaml does not load: %v", err)
	}
	return doc
}

// TestOpenAPIValidates fails on any schema error of the contract: unknown
// or misplaced keys, dangling references, path parameters that are not
// declared, examples and defaults that do not fit their schemas.
func TestOpenAPIValidates(t *testing.T) {
	doc := load(t)
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("api/openapi.yaml is not a valid OpenAPI 3 document: %v", err)
	}
	if doc.Paths.Len() < 10 {
		t.Errorf("only %d paths: the contract did not load whole", doc.Paths.Len())
	}
}

var operationID = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)

// TestOpenAPIOperations holds every operation to what clients and
// generators rely on: a unique camelCase operationId, an explicit
// security requirement (empty for public routes) and its 4xx responses.
func TestOpenAPIOperations(t *testing.T) {
	doc := load(t)
	seen := map[string]string{}
	n := 0
	for _, path := range doc.Paths.InMatchingOrder() {
		ops := doc.Paths.Value(path).Operations()
		for _, method := range slices.Sorted(maps.Keys(ops)) {
			op := ops[method]
			n++
			name := method + " " + path
			switch {
			case op.OperationID == "":
				t.Errorf("%s has no operationId", name)
			case !operationID.MatchString(op.OperationID):
				t.Errorf("%s: operationId %q is not camelCase", name, op.OperationID)
			case seen[op.OperationID] != "":
				t.Errorf("%s: operationId %q is taken by %s", name, op.OperationID, seen[op.OperationID])
			default:
				seen[op.OperationID] = name
			}
			if op.Security == nil {
				t.Errorf("%s declares no security (a public route says security: [])", name)
			}
			var client []string
			for code := range op.Responses.Map() {
				if strings.HasPrefix(code, "4") {
					client = append(client, code)
				}
			}
			if len(client) == 0 {
				t.Errorf("%s declares no 4xx response", name)
			}
			// Input beyond the path is checked and refused with a 400; a path
			// that names nothing is a 404.
			checked := op.RequestBody != nil
			for _, p := range op.Parameters {
				checked = checked || p.Value == nil || p.Value.In != "path"
			}
			if checked && !slices.Contains(client, "400") {
				t.Errorf("%s takes input but declares no 400", name)
			}
			if len(op.Parameters) > 0 && !checked && !slices.Contains(client, "400") && !slices.Contains(client, "404") {
				t.Errorf("%s takes a path but declares neither 400 nor 404", name)
			}
		}
	}
	if n < 20 {
		t.Errorf("only %d operations", n)
	}
}
