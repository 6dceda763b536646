# Bazaar's commands. `make run` starts the system, `make test` tests it.
SHELL := /bin/bash
CARGO ?= cargo
TOOLS := $(CURDIR)/.tools
# nextest runs each test in its own process (tests that install global
# telemetry need that); plain `cargo test` is the fallback.
NEXTEST := $(shell $(CARGO) nextest --version >/dev/null 2>&1 && echo yes)

.PHONY: all build run test lint fmt tools proto-lint clean

all: lint test

## build: compile every crate (debug)
build:
	$(CARGO) build --workspace --all-targets

## run: start everything that exists on the embedded default (SQLite)
run:
	@scripts/run.sh

## test: the whole test suite (SQLite always; PostgreSQL too when TEST_DATABASE_URL is set)
test:
ifeq ($(NEXTEST),yes)
	$(CARGO) nextest run --workspace --no-fail-fast
else
	$(CARGO) test --workspace --no-fail-fast
endif

## lint: formatting, clippy with warnings as errors, and buf lint of the contracts
lint: proto-lint
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

proto-lint: tools
	$(TOOLS)/buf lint
	$(TOOLS)/buf format --diff --exit-code

## fmt: format the Rust and proto sources in place
fmt: tools
	$(CARGO) fmt --all
	$(TOOLS)/buf format -w

## tools: install grpcurl and buf into .tools/
tools:
	@scripts/tools.sh

clean:
	$(CARGO) clean
	rm -rf $(TOOLS)
