# Bazaar's commands. `make run` starts the system, `make test` tests it.
SHELL := /bin/bash
CARGO ?= cargo
TOOLS := $(CURDIR)/.tools
# nextest runs each test in its own process (tests that install global
# telemetry need that); plain `cargo test` is the fallback.
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: all build run run-postgres run-observe test lint fmt tools proto-lint clean chart-test chart-tools chart-files istio image image-tools observability-check observability-tools browser-tools fuzz

all: lint test

## build: compile every crate (debug)
build:
	$(CARGO) build --workspace --all-targets

## run: build (release) and start every service and the REST gateway on SQLite under ./data; Ctrl-C stops them all
# Extra launcher flags: make run RUN_ARGS='--no-gateway' (see scripts/run.sh --help).
run:
	@CARGO="$(CARGO)" scripts/run.sh $(RUN_ARGS)

## run-postgres: the same with each service's own database bazaar_<service> on the local PostgreSQL (created if missing)
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432
run-postgres:
	@CARGO="$(CARGO)" scripts/run.sh --postgres $(POSTGRES_URL) $(RUN_ARGS)

## run-observe: the same plus Prometheus (scrape config for every admin port, the alerting rules), started when installed (make observability-tools)
run-observe:
	@CARGO="$(CARGO)" scripts/run.sh --observe $(RUN_ARGS)

## test: the whole test suite (SQLite always; PostgreSQL too when TEST_DATABASE_URL is set), the chart's and the alerts' checks first
# The end-to-end suite (e2e/) starts the binaries as processes; it builds
# nothing, so they are built here first, in the profile the tests run in.
test: chart-test observability-check image-tools browser-tools
	$(CARGO) build --workspace --bins
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --workspace --no-fail-fast
else
	$(CARGO) test --workspace --no-fail-fast
endif

## lint: formatting, clippy with warnings as errors, buf lint of the contracts and buf breaking against main's
lint: proto-lint proto-breaking
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

proto-lint: tools
	$(TOOLS)/buf lint
	$(TOOLS)/buf format --diff --exit-code

## proto-breaking: buf breaking of proto/ against main's protos (else origin/main, else HEAD), then a self-test that buf catches a deliberate break in a copy
# Another reference: make proto-breaking PROTO_BREAKING_AGAINST='.git#tag=v1.0.0'
.PHONY: proto-breaking
proto-breaking: tools
	@scripts/proto-breaking-check.sh

## fmt: format the Rust and proto sources in place
fmt: tools
	$(CARGO) fmt --all
	$(TOOLS)/buf format -w

## tools: install grpcurl and buf into .tools/
tools:
	@scripts/tools.sh

## chart-test: lint, render and validate helm/bazaar (Kubernetes and Istio schemas, mesh-policy cross-checks, istio/ up to date)
chart-test: chart-tools
	@scripts/chart-check.sh

## chart-files: copy the dashboard and the alerting rules from observability/ into the chart (helm reads only its own directory); chart-test fails when the copies differ
chart-files:
	cp observability/grafana/bazaar.json helm/bazaar/files/bazaar.json
	cp observability/prometheus/alerts.yml helm/bazaar/files/alerts.yml

## istio: regenerate the plain Istio manifests in istio/ from the chart
istio: chart-tools
	@scripts/chart-check.sh --write-istio

## chart-tools: install helm, kubectl, kubernetes-validate and the Istio schemas into .tools/
chart-tools:
	@scripts/tools.sh helm kubernetes-validate istio-models

## image: build the release binaries and, without a container engine (umoci), an OCI image per workload in target/images/<workload>; sizes into images/SIZES.md
# images/Containerfile builds the same images with a container engine.
image: image-tools
	$(CARGO) build --release --bins -p bazaar-user -p bazaar-product -p bazaar-payment -p bazaar-order -p bazaar-notification -p bazaar-gateway
	@CARGO="$(CARGO)" scripts/image.sh --sizes images/SIZES.md

## image-tools: install umoci (Debian's apt, as root)
image-tools:
	@scripts/tools.sh umoci

## browser-tools: install Chromium (Debian's apt, as root) and the storefront tests' npm packages (e2e/browser/node_modules, from its lock file)
browser-tools:
	@scripts/tools.sh browser

## observability-check: promtool check and unit tests of the alerting rules; the dashboard's structure, queries, metric and label names against README.md's table
observability-check: observability-tools
	promtool check rules observability/prometheus/alerts.yml
	cd observability/prometheus && promtool test rules alerts.test.yml
	node observability/check.mjs --modules $(TOOLS)/node-istio/node_modules

## observability-tools: install promtool (Debian's prometheus package, as root) and the YAML parser the check uses
observability-tools:
	@scripts/tools.sh prometheus istio-models

## fuzz: run each gateway fuzz target (gateway/fuzz/) for FUZZ_MINUTES minutes (default 10), one after another, on nightly; crashes land in gateway/fuzz/artifacts/<target>/
# Not part of `test`. One target: make fuzz FUZZ_TARGETS=route. New inputs go
# to gateway/fuzz/corpus-grown/ (git-ignored); the seeds in corpus/ stay as
# committed. With -jobs=1 libFuzzer runs one worker process and logs to
# fuzz-0.log, kept as gateway/fuzz/<target>.log (git-ignored). The fuzz package is its own workspace: its lock file starts as a
# copy of the workspace's, so it builds with the same versions.
FUZZ_MINUTES ?= 10
FUZZ_TARGETS ?= template route query json
FUZZ_TARGET_DIR ?= $(HOME)/.cache/bazaar/fuzz-target
fuzz:
	@scripts/tools.sh cargo-fuzz
	@[ -f gateway/fuzz/Cargo.lock ] || cp Cargo.lock gateway/fuzz/Cargo.lock
	@cd gateway/fuzz && for target in $(FUZZ_TARGETS); do \
		mkdir -p corpus-grown/$$target; \
		PATH="$(TOOLS)/bin:$$PATH" $(CARGO) +nightly fuzz run --fuzz-dir . \
			--target-dir "$(FUZZ_TARGET_DIR)" $$target corpus-grown/$$target corpus/$$target \
			-- -max_total_time=$$(( $(FUZZ_MINUTES) * 60 )) -jobs=1; \
		status=$$?; mv -f fuzz-0.log $$target.log 2>/dev/null; \
		tail -n 3 $$target.log; echo "fuzz $$target: exit $$status, log gateway/fuzz/$$target.log"; \
		[ $$status = 0 ] || exit $$status; \
	done

clean:
	$(CARGO) clean
	rm -rf $(TOOLS)
