# citygrid — `make run` serves the demo city on an embedded PostGIS;
# `make test` runs every test against real PostGIS.
GO        ?= go
BIN       := bin/citygrid
ADDR      ?= 127.0.0.1:8080
DATA_DIR  ?= .citygrid
TESTFLAGS ?= -race -count=1 -timeout 15m
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all run test bench lint build deps demo-data clean

all: build

deps:
	@scripts/ensure-deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/citygrid

run: deps build
	$(BIN) serve --addr $(ADDR) --data-dir $(DATA_DIR)

test: deps
	@status=0; $(GO) test $(TESTFLAGS) ./... || status=$$?; \
	scripts/stop-test-cluster.sh; exit $$status

bench: deps build
	$(BIN) bench

lint:
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: the files above need formatting" && exit 1)

# Regenerates the synthetic demo city in geodata/linhai (deterministic).
demo-data:
	$(GO) run ./geodata/gen -out geodata/linhai

clean:
	rm -rf bin
