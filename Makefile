# Heritage Ledger build/test entry points.
#
#   make install    Python venv (.venv, editable install with [dev] extras),
#                   npm packages (npm ci) and Debian chromium; idempotent
#   make test       lint + typecheck + pytest (TEST_WORKERS=3 pytest-xdist workers)
#   make test-deep  make test with many more Hypothesis examples (HYPOTHESIS_PROFILE=deep:
#                   every property test's full count, see tests/hypothesis_profiles.py;
#                   Schemathesis: 1,000 examples per API operation and its stateful run),
#                   then the soak (bench/soak.py, SOAK_CYCLES cycles), then make mutate
#   make mutate     mutation testing (cosmic-ray) of the security-critical modules, each
#                   against its own tests; kill rate per module in build/mutation/
#                   (one target: make mutate MUTATE_ARGS=policy; see docs/testing.md)
#   make lint       ruff check
#   make typecheck  mypy (packages from pyproject.toml, then bench/*.py as scripts)
#   make contracts  recompile contracts/*.sol (solc-js) into contracts/artifacts/;
#                   commit the result (a test checks it matches a fresh compile)
#   make bench      run every bench/*.py; extra arguments via BENCH_ARGS,
#                   e.g. make bench BENCH_ARGS=--quick
#   make demo       install, then `heritage demo`: a sample collection registered on a local
#                   chain, its exhibit built and served (DEMO_ARGS=--no-serve: build only)
#   make clean      remove caches and build output
#   make distclean  clean, plus .venv and node_modules

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-builtin-rules

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.stamp-install
CHROMIUM := /usr/bin/chromium
BENCH_ARGS ?=
# pytest-xdist workers of `make test` (each starts its own anvil); 0 runs in one process.
TEST_WORKERS ?= 3
MUTATE_ARGS ?=
# add → pin → register → build cycles of the soak in `make test-deep` (bench/soak.py).
SOAK_CYCLES ?= 1000
DEMO_ARGS ?=

# The stamp normally only follows its inputs. When something it installs has
# gone missing since (node_modules or chromium removed, a broken venv), the
# install is redone regardless.
STAMP_DEPS := pyproject.toml package.json package-lock.json
ifeq ($(and $(wildcard $(BIN)/python),$(wildcard node_modules/.package-lock.json),$(wildcard $(CHROMIUM))),)
STAMP_DEPS += FORCE
endif

.PHONY: help install test test-deep mutate lint typecheck contracts bench demo clean distclean FORCE

help:
	@sed -n 's/^#   make /make /p' $(firstword $(MAKEFILE_LIST))

install: $(STAMP)

$(STAMP): $(STAMP_DEPS)
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (need Python >= 3.11)" >&2; exit 1; }
	@command -v npm >/dev/null || { echo "error: npm not found (need Node.js >= 20 with npm)" >&2; exit 1; }
	@echo "==> Python virtualenv in $(VENV) ($$($(PYTHON) --version))"
	@$(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	@echo "==> pip install -e '.[dev]'"
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@echo "==> npm ci"
	@npm ci --no-audit --no-fund --loglevel=error
	@if [ -x $(CHROMIUM) ]; then \
	  echo "==> chromium present: $(CHROMIUM)"; \
	else \
	  if ! command -v apt-get >/dev/null; then \
	    echo "error: $(CHROMIUM) is missing and apt-get is not available;" \
	         "install Debian's chromium package (or equivalent) by hand" >&2; \
	    exit 1; \
	  fi; \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=; \
	  elif command -v sudo >/dev/null; then sudo=sudo; \
	  else echo "error: installing chromium needs root or sudo" >&2; exit 1; fi; \
	  echo "==> apt-get install chromium (takes a few minutes)"; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq; \
	  $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	  [ -x $(CHROMIUM) ] || { echo "error: chromium installed but $(CHROMIUM) is missing" >&2; exit 1; }; \
	fi
	@touch $@
	@echo "==> install complete"

lint: install
	$(BIN)/ruff check .

typecheck: install
	$(BIN)/mypy
	MYPYPATH=bench $(BIN)/mypy bench/*.py

contracts: install
	node contracts/build.mjs

# pytest exits 5 when it collected no tests: that is a failure here.
test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	MYPYPATH=bench $(BIN)/mypy bench/*.py
	@rc=0; $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist worksteal || rc=$$?; \
	if [ $$rc -eq 5 ]; then \
	  echo "error: pytest collected no tests (exit 5); treating as a failure" >&2; \
	fi; \
	exit $$rc

# The same as `make test`, with the deep Hypothesis profile (ten times the default examples
# where a test sets no count, each test's full count where it does; the API's Schemathesis
# runs 1,000 examples per operation and mode, and 200 stateful sequences), then the bounded
# soak (fails on a corrupt block or a temporary file left behind), then mutation testing.
test-deep: install
	HYPOTHESIS_PROFILE=deep $(MAKE) test
	$(BIN)/python bench/soak.py --cycles $(SOAK_CYCLES)
	$(MAKE) mutate

# Never part of `make test`: it runs each module's tests once per mutant (tens of minutes).
mutate: install
	PYTHONPATH=$(CURDIR) $(BIN)/python tools/mutate.py $(MUTATE_ARGS)

# Runs bench/*.py (files starting with '_' are helpers and are skipped).
bench: install
	@shopt -s nullglob; \
	scripts=(); \
	for f in bench/*.py; do case "$${f##*/}" in _*) ;; *) scripts+=("$$f") ;; esac; done; \
	if [ $${#scripts[@]} -eq 0 ]; then echo "error: no benchmarks found (bench/*.py)" >&2; exit 1; fi; \
	failed=(); \
	for f in "$${scripts[@]}"; do \
	  echo "==> $(BIN)/python $$f $(BENCH_ARGS)"; \
	  $(BIN)/python "$$f" $(BENCH_ARGS) || failed+=("$$f"); \
	done; \
	if [ $${#failed[@]} -ne 0 ]; then echo "error: benchmarks failed: $${failed[*]}" >&2; exit 1; fi

demo: install
	$(BIN)/heritage demo $(DEMO_ARGS)

clean:
	rm -rf build dist .mypy_cache .ruff_cache .pytest_cache .hypothesis
	find . -path ./.venv -prune -o -path ./node_modules -prune -o -path ./.git -prune -o \
	  \( -name __pycache__ -o -name '*.egg-info' \) -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) node_modules

FORCE:
