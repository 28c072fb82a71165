# citygrid — `make run` serves the demo city on an embedded PostGIS;
# `make test` runs every test against real PostGIS.
GO        ?= go
BIN       := bin/citygrid
ADDR      ?= 127.0.0.1:8080
DATA_DIR  ?= .citygrid
TESTFLAGS ?= -race -count=1 -timeout 15m
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all run test test-web web web-if-stale bench lint lint-api build deps demo-data clean

all: build

deps:
	@scripts/ensure-deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/citygrid

run: deps web-if-stale build
	$(BIN) serve --addr $(ADDR) --data-dir $(DATA_DIR)

# The web map: web/dist is committed, so building Go needs no Node. make web
# rebuilds it (and writes the hash of its sources, which a Go test checks).
web:
	cd web && npm ci && npm run build

# Rebuilds web/dist when its sources changed and npm is there; else the
# committed bundle is used as it is.
web-if-stale:
	@scripts/web-if-stale.sh

# Unit tests of the web map's pure modules (needs Node; make test does not).
test-web:
	cd web && npm ci && npm test

# The unit tests, then every fuzz target for 3 seconds (scripts/fuzz-brief.sh);
# the shared test cluster (some packages' tests start it) is stopped last.
test:
	@scripts/ensure-deps.sh --test
	@status=0; $(GO) test $(TESTFLAGS) ./... || status=$$?; \
	GO=$(GO) scripts/fuzz-brief.sh || status=$$?; \
	scripts/stop-test-cluster.sh; exit $$status

bench: deps build
	$(BIN) bench

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: the files above need formatting" && exit 1)

# Lints the HTTP contract with Redocly's recommended rules. Needs Node.js
# (>= 20.19) and npx, which fetches the pinned @redocly/cli; not part of
# `make test`, whose tests need no Node (api/openapi_test.go validates the
# contract in Go).
REDOCLY ?= @redocly/cli@2.77.0
lint-api:
	@command -v npx >/dev/null || { echo "lint-api needs npx (Node.js >= 20.19 with npm)"; exit 1; }
	REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true npx --yes $(REDOCLY) lint api/openapi.yaml

# Regenerates the synthetic demo city in geodata/linhai (deterministic).
demo-data:
	$(GO) run ./geodata/gen -out geodata/linhai

clean:
	rm -rf bin
