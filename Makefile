# failover: build and test.
#
#   make test        installs missing test tools, then gofmt check, go vet,
#                    staticcheck, go test -race ./..., and a short fuzz pass
#   make build       builds ./failover
#   make bench-probe runs the probe benchmark against blackbox_exporter
#   make sim-report  writes docs/decisions.md from config/scenarios

SHELL      := /bin/bash
GO         ?= go
GOBIN      := $(shell $(GO) env GOPATH)/bin
STATICCHECK_VERSION := v0.8.2
FUZZTIME   ?= 10s
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT     ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS    := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)

# Debian packages the tests need, as command:package pairs. `make deps`
# installs the missing ones with apt-get (as root). With CI=true a missing
# tool is a failure, never a skip.
APT_TOOLS  ?= named:bind9 knotd:knot dig:bind9-dnsutils kdig:knot-dnsutils chromium:chromium prometheus:prometheus promtool:prometheus

.PHONY: all build test deps fmt-check vet staticcheck unit fuzz bench-probe sim-report clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o failover ./cmd/failover

test: deps fmt-check vet staticcheck unit fuzz

deps:
	@scripts/apt-ensure.sh $(APT_TOOLS)
	@test -x $(GOBIN)/staticcheck || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck:
	$(GOBIN)/staticcheck ./...

# AWS_EC2_METADATA_DISABLED: tests never ask the EC2 metadata service (a
# link-local address) for credentials.
unit:
	AWS_EC2_METADATA_DISABLED=true $(GO) test -race -timeout 12m ./...

fuzz:
	@FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

bench-probe:
	bench/probe/run.sh

sim-report:
	$(GO) run ./internal/simulate/cmd/simreport

clean:
	rm -f failover
