# snap2prod — `make demo` runs the demo, `make test` runs every test. Everything else is set up on the way.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEPS_STAMP := $(VENV)/.deps-$(shell sha1sum pyproject.toml | cut -c1-12)
PYTEST_ARGS ?=
CACHE := $(or $(SNAP2PROD_CACHE),$(HOME)/.cache/snap2prod)
UV_VERSION := 0.13.9
UV_HOME := $(CACHE)/tools/uv-$(UV_VERSION)
UV := $(UV_HOME)/bin/uv
# Two pytest-xdist workers: one runs the container and KIND tests (they wait on pods most of the time), the other
# everything else (tests/conftest.py groups them). TEST_WORKERS=0 runs them in one process, in order.
TEST_WORKERS ?= 2

.PHONY: demo test lint format bench down toolchain venv clean help

help:
	@echo "make demo       run the demo on http://localhost:8501 (Ctrl-C stops it)"
	@echo "make test       lint, then every test (installs what it needs first)"
	@echo "make lint       ruff (lint + format check) and mypy"
	@echo "make bench      measure performance against raw baselines; writes bench/report.md (ONLY=\"P3 P6\": just those)"
	@echo "make down       stop whatever the demo started"
	@echo "make toolchain  build/install the pinned tools into ~/.cache/snap2prod"

# uv (PyPI, pinned) installs the environment: a fresh clone's set-up takes seconds from its cache instead of pip's
# minute and a half. It lives in the snap2prod cache, like every tool; the venv is seeded with pip, which the image
# and toolchain builds call as `python -m pip`.
$(UV):
	@echo "== uv $(UV_VERSION)"
	@rm -rf $(UV_HOME) && $(PYTHON) -m venv $(UV_HOME) \
	  && $(UV_HOME)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(DEPS_STAMP): pyproject.toml | $(UV)
	@echo "== Python environment ($(VENV))"
	@test -x $(BIN)/python || $(UV) venv --quiet --seed --python $(PYTHON) $(VENV)
	@UV_CACHE_DIR=$(CACHE)/uv $(UV) pip install --quiet --python $(BIN)/python -e '.[cli,dev]'
	@rm -f $(VENV)/.deps-* && touch $@

venv: $(DEPS_STAMP)

toolchain:
	@$(PYTHON) -m scripts.toolchain

# The demo builds only what it needs, when it needs it: no Ollama build when the person already has one.
demo: venv
	@$(BIN)/snap2prod demo

down: venv
	@$(BIN)/snap2prod down

# Their caches live in the snap2prod cache, shared by every clone (both compare file contents, not only times): a
# fresh clone's lint takes seconds instead of mypy's half-minute from nothing.
lint: venv
	@echo "== lint"
	@RUFF_CACHE_DIR=$(CACHE)/lint/ruff $(BIN)/ruff check .
	@RUFF_CACHE_DIR=$(CACHE)/lint/ruff $(BIN)/ruff format --check .
	@MYPY_CACHE_DIR=$(CACHE)/lint/mypy $(BIN)/mypy

format: venv
	@$(BIN)/ruff check --fix .
	@$(BIN)/ruff format .

# pytest exits 5 when it collected no tests: that is a failure here, never a pass. Each stage's seconds go to a
# temporary file (the tests add their wall time and one line per test directory, tests/conftest.py); bench/suite.py
# prints them at the
# end and keeps them as this machine's last run (`python -m bench.suite record LABEL` files it for the README).
test:
	@set +e; stages=$$(mktemp); export SNAP2PROD_STAGES=$$stages; \
	for stage in venv lint toolchain; do \
	  t=$$(date +%s); $(MAKE) --no-print-directory $$stage || { rm -f $$stages; exit 2; }; \
	  echo "$$stage $$(( $$(date +%s) - t ))" >> $$stages; \
	done; \
	echo "== tests"; $(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --durations=40 $(PYTEST_ARGS); rc=$$?; \
	$(BIN)/python -m bench.suite summary "$$stages" "$$rc"; rm -f $$stages; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

bench: venv toolchain
	@$(BIN)/python -m bench $(ONLY)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

# Container images of the stack (offline: Debian-made bases); `snap2prod images build --help` has the options.
.PHONY: images
images: venv
	@$(PYTHON) -m scripts.toolchain --only podman,ollama
	@$(BIN)/snap2prod images build

# `make promote TARGET=sim` (or kind, prod); more flags in PROMOTE_ARGS, e.g. PROMOTE_ARGS="--dry-run".
.PHONY: promote
TARGET ?= sim
PROMOTE_ARGS ?=
promote: venv
	@$(BIN)/snap2prod promote --to $(TARGET) $(PROMOTE_ARGS)
