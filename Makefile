# benchrig — see README.md. Everything builds in release mode: experiments need it, and tests
# sharing the profile means dependencies compile once.

NAME ?= quickstart
CARGO ?= cargo
BENCHRIG := target/release/benchrig

.PHONY: all build experiment validate reports test lint fmt fuzz bench-loadgen

all: build

build:
	$(CARGO) build --release --workspace --bins

## make experiment NAME=x: run experiments/x.yaml and write reports/x/ (NAME defaults to quickstart)
experiment: build
	$(BENCHRIG) run experiments/$(NAME).yaml

## make validate: check every manifest in experiments/ without running anything
validate: build
	$(BENCHRIG) validate experiments/*.yaml

## make reports: re-render every committed report from its saved files (after a template change)
reports: build
	$(BENCHRIG) report $(dir $(wildcard reports/*/run.json))

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

## make bench-loadgen: benchrig load against wrk, pinned, side by side (ratios in one run)
bench-loadgen: build
	command -v wrk >/dev/null || apt-get install -y -q wrk
	python3 bench/loadgen.py

## make fuzz: fuzz manifest parsing and validation for FUZZ_SECONDS (cargo-fuzz; runs on stable
## through RUSTC_BOOTSTRAP). Seeds: the experiments and the invalid-manifest corpus.
FUZZ_SECONDS ?= 300
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	mkdir -p fuzz/corpus/manifest
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run --release manifest corpus/manifest \
		../experiments ../tests/manifests/invalid -- -max_total_time=$(FUZZ_SECONDS) \
		-dict=manifest.dict -max_len=4096 -timeout=10

## make venv: servers/python/.venv with the pinned Python servers; rebuilt from scratch only
## when it is missing or servers/python/requirements.txt is newer than its stamp
PY_VENV := servers/python/.venv
.PHONY: venv
venv: $(PY_VENV)/.requirements.stamp

$(PY_VENV)/.requirements.stamp: servers/python/requirements.txt
	python3 -m venv --clear $(PY_VENV)
	$(PY_VENV)/bin/pip install --quiet --disable-pip-version-check -r servers/python/requirements.txt
	touch $@
