# Warden — build, test and run. `make test` and `make run` install what is missing on Debian 12.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SWIFT ?= swift
APT_PACKAGES := libgrpc-dev libprotobuf-dev protobuf-compiler libssl-dev libyaml-dev \
                libcurl4-openssl-dev libmicrohttpd-dev pkg-config ca-certificates curl \
                nghttp2-client libh2o-evloop-dev libhiredis-dev redis-server nginx caddy
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
WARDEN := .build/release/warden
LISTEN ?= 127.0.0.1:9191
ADMIN_LISTEN ?= 127.0.0.1:9901

.PHONY: all deps apt-deps venv build build-debug test unit-test integration-test run clean demo demo-token bench fuzz fuzz-smoke test-sanitize soak

all: build

## Install missing Debian packages (apt-get update first, once, only when something is missing).
apt-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
	  echo "==> installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

## Python venv with the real test peers (grpcio, xds-protos, envoy, cryptography, joserfc).
venv: $(VENV)/.installed
$(VENV)/.installed: Tests/IntegrationTests/requirements.txt
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r Tests/IntegrationTests/requirements.txt
	@# xds-protos ships an older copy of opentelemetry/proto/*: whichever wheel pip unpacks last wins the
	@# shared files. The pinned opentelemetry-proto must (the OTLP tests need its SpanFlags and newer fields).
	$(PY) -m pip install -q --disable-pip-version-check --force-reinstall --no-deps 	  "$$(grep -E '^opentelemetry-proto==' Tests/IntegrationTests/requirements.txt)"
	@touch $@

deps: apt-deps venv

build: apt-deps
	$(SWIFT) build -c release --product warden

build-debug: apt-deps
	$(SWIFT) build

# Swift tests in two runs: the CPU-bound suites (vectors, randomized agreement tests, many threads)
# first, then the ones that time real servers, fetches and backoffs, one at a time (--no-parallel: a test
# blocking on curl or a drain holds a thread of Swift's 2-thread cooperative pool, and a timing test
# beside it then measured the starvation — ~10 s more, no flakes).
CPU_SUITES = WardenCryptoTests|WardenHTTPAuthzTests|WardenProtobufTests|WardenJWTTests|WardenJSONTests|WardenPolicyTests|WardenAuthzTests|WardenExtAuthzTests|WardenYAMLTests

# No Python, protoc or venv: the peers run in the test process (the real ones are in Tests/IntegrationTests).
unit-test: apt-deps
	$(SWIFT) test --filter '$(CPU_SUITES)'
	$(SWIFT) test --skip-build --skip '$(CPU_SUITES)' --no-parallel

integration-test: deps build
	WARDEN_REQUIRE_BIN=1 WARDEN_BIN=$(abspath $(WARDEN)) $(PY) -m pytest -q Tests/IntegrationTests

## Everything: install, build, unit tests (Swift Testing), integration tests with real peers.
test: deps build
	$(MAKE) unit-test
	WARDEN_REQUIRE_BIN=1 WARDEN_BIN=$(abspath $(WARDEN)) $(PY) -m pytest -q Tests/IntegrationTests
	$(MAKE) fuzz-smoke

## Start Warden on the bundled demo config (deploy/demo).
run: build
	$(WARDEN) serve --listen $(LISTEN) --admin-listen $(ADMIN_LISTEN) --policy deploy/demo/policies

FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 120

## libFuzzer targets (fuzz/targets) for FUZZ_SECONDS each, AddressSanitizer on; crashes land in .build/fuzz/crashes.
fuzz: apt-deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) fuzz/run.sh

## Every fuzz target for 5 s (part of `make test`).
fuzz-smoke: apt-deps
	FUZZ_SECONDS=5 fuzz/run.sh

## Unit tests, then the warden binary under the integration tests, with ASan and with TSan.
test-sanitize: deps
	PY=$(abspath $(PY)) SWIFT=$(SWIFT) fuzz/sanitize.sh

## Chaos soak: Envoy → two Warden replicas under load while things break (SOAK_SECONDS, default 120).
soak: deps build
	WARDEN_BIN=$(abspath $(WARDEN)) $(PY) scripts/soak.py --seconds $(SOAK_SECONDS)

BENCH_ARGS ?=
## Benchmark, not part of `make test` (~4 min, loopback only, one run): Envoy no-auth / jwt_authn+RBAC /
## ext_authz→Warden with wrk, direct gRPC with h2load, openssl speed, RSS with 100k cached tokens, and the
## front doors (nginx auth_request and Envoy http_service → Warden's --http-listen, beside the gRPC path).
## Prints a Markdown table and writes bench/results/latest.md (+ a dated copy). E.g. BENCH_ARGS="--nice -5".
bench: deps build
	@missing=""; command -v wrk >/dev/null || missing="$$missing wrk"; \
	command -v h2load >/dev/null || missing="$$missing nghttp2-client"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	if [ -n "$$missing" ]; then \
	  echo "==> installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	$(SWIFT) build -c release --product warden-transport-bench
	$(PY) bench/run.py --warden $(WARDEN) --envoy $(VENV)/bin/envoy $(BENCH_ARGS)

## The five-minute tour: local IdP, Warden (deploy/demo/policies), Envoy (deploy/envoy/envoy.yaml), echo app;
## six requests explained. DEMO_ARGS=--keep leaves it running until Ctrl-C. FRONT=nginx|caddy|envoy-http|envoy-http2:
## that proxy (deploy/nginx, deploy/caddy, deploy/envoy/envoy-http.yaml, envoy-http2.yaml) in front, asking Warden's HTTP front door.
FRONT ?= envoy
demo: deps build
	WARDEN_BIN=$(abspath $(WARDEN)) $(PY) scripts/demo.py --front $(FRONT) $(DEMO_ARGS)

## A token for `make run` (demo key): make demo-token SCOPE="orders:read orders:write"
SCOPE ?= orders:read
demo-token: venv
	@$(PY) deploy/demo/mint-token.py --scope "$(SCOPE)"

clean:
	rm -rf .build
