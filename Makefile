# benchrig — see README.md. Everything builds in release mode: experiments need it, and tests
# sharing the profile means dependencies compile once.

NAME ?= quickstart
CARGO ?= cargo
BENCHRIG := target/release/benchrig

.PHONY: all build experiment validate test lint fmt

all: build

build:
	$(CARGO) build --release --workspace --bins

## make experiment NAME=x: run experiments/x.yaml and write reports/x/ (NAME defaults to quickstart)
experiment: build
	$(BENCHRIG) run experiments/$(NAME).yaml

## make validate: check every manifest in experiments/ without running anything
validate: build
	$(BENCHRIG) validate experiments/*.yaml

## make test: unit and integration tests (real servers on 127.0.0.1), then validate every manifest
test: build
	$(CARGO) test --release --workspace
	$(BENCHRIG) validate experiments/*.yaml

## make lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
