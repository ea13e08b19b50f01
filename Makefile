# benchrig — see README.md. Everything builds in release mode: experiments need it, and tests
# sharing the profile means dependencies compile once.

NAME ?= quickstart
CARGO ?= cargo
BENCHRIG := target/release/benchrig

.PHONY: all build experiment validate reports test lint fmt fuzz bench-loadgen bench-accuracy

all: build

build:
	$(CARGO) build --release --workspace --bins

## make experiment NAME=x: run experiments/x.yaml and write reports/x/ (NAME defaults to quickstart).
## When benchrig fails, says its exit code and what it means (from `benchrig exit-code`), and
## fails with that code, so make's "Error N" line names benchrig's N (make itself exits 2).
experiment: build
	@echo "$(BENCHRIG) run experiments/$(NAME).yaml"
	@$(BENCHRIG) run experiments/$(NAME).yaml || { code=$$?; \
		echo "make experiment: benchrig exited with $$($(BENCHRIG) exit-code $$code)" >&2; \
		exit $$code; }

## make validate: check every manifest, experiments/ and tests/experiments/, without running anything
MANIFESTS = experiments/*.yaml tests/experiments/*.yaml
validate: build
	$(BENCHRIG) validate $(MANIFESTS)

## make reports: re-render every committed report from its saved files (after a template change)
reports: build
	$(BENCHRIG) report $(dir $(wildcard reports/*/run.json))

## make test: unit and integration tests (real servers on 127.0.0.1, the Python ones from
## servers/python/.venv, nginx in front of some), then validate every manifest. Builds the venv
## and installs python3-venv and nginx first when they are missing.
test: build python3-venv venv nginx
	$(CARGO) test --release --workspace
	$(BENCHRIG) validate $(MANIFESTS)

# apt-get as root, else through sudo when there is one.
SUDO := $(shell if [ "$$(id -u)" != 0 ] && command -v sudo >/dev/null; then echo sudo; fi)
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -q

## make nginx: install nginx (Debian's nginx-light) unless it is there; tests put it in front of
## uwsgi and gunicorn
.PHONY: nginx
nginx:
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || \
		{ $(SUDO) apt-get update -q && { $(APT_INSTALL) nginx-light || $(APT_INSTALL) nginx; }; }

## make python3-venv: install Debian's python3-venv unless `python3 -m venv` can work (make venv
## needs it; Debian's python3 alone lacks ensurepip)
.PHONY: python3-venv
python3-venv:
	@python3 -c 'import ensurepip, venv' 2>/dev/null || \
		{ $(SUDO) apt-get update -q && $(APT_INSTALL) python3-venv; }

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

## make bench-accuracy: the precise timing claims that the tests keep wide for busy machines
## (p50 of a 20 ms sleep, open-model rate, stalls, one core of CPU, warm-up), with the server
## on CPU 0 and the load on CPU 1; measured beside expected, fails if a claim does. Run it on
## an otherwise idle machine.
bench-accuracy: build
	python3 bench/accuracy.py

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

## make ci-experiments: what CI runs (.github/workflows/experiments.yml). Each experiment in
## CI_EXPERIMENTS runs with `--check` into target/benchrig-check/NAME and is compared with its
## committed reports/NAME/ (left untouched); comparison.md lands beside the fresh report, and in
## the GitHub job summary when $GITHUB_STEP_SUMMARY is set. Assertions, claims and variants
## always gate (exit 1, 3, …). The comparison gates (exit 5) only on the machine that made the
## committed report (`--strict-env` passes); elsewhere it is shown, not judged, since absolute
## numbers do not travel between machines. All run; the target fails at the end if any failed.
## CHECK_FLAGS adds options, e.g. CHECK_FLAGS="--tolerance 25%".
CI_EXPERIMENTS ?= quickstart coordinated-omission
CHECK_FLAGS ?=
.PHONY: ci-experiments
ci-experiments: build
	@failed=""; \
	for x in $(CI_EXPERIMENTS); do \
		out=target/benchrig-check/$$x; \
		echo "== $$x: $(BENCHRIG) run experiments/$$x.yaml --check --strict-env --out $$out $(CHECK_FLAGS)"; \
		rm -f $$out/comparison.md; \
		gated="gates"; \
		$(BENCHRIG) run experiments/$$x.yaml --check --strict-env --out $$out $(CHECK_FLAGS); \
		code=$$?; \
		if [ $$code -eq 6 ]; then \
			gated="shown only: another machine than the committed report's"; \
			echo "== $$x: another machine: the comparison is shown, not judged"; \
			$(BENCHRIG) run experiments/$$x.yaml --check --out $$out $(CHECK_FLAGS); \
			code=$$?; \
			if [ $$code -eq 5 ]; then code=0; fi; \
		fi; \
		if [ -n "$$GITHUB_STEP_SUMMARY" ] && [ -f $$out/comparison.md ]; then \
			{ echo "## $$x (exit $$code; comparison $$gated)"; echo; cat $$out/comparison.md; echo; } >> "$$GITHUB_STEP_SUMMARY"; \
		fi; \
		if [ $$code -ne 0 ]; then failed="$$failed $$x (exit $$code)"; fi; \
	done; \
	if [ -n "$$failed" ]; then echo "ci-experiments: failed:$$failed"; exit 1; fi; \
	echo "ci-experiments: passed: $(CI_EXPERIMENTS)"
