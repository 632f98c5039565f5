# Syston provisioning — the two commands: `make run` and `make test`.
# The virtualenv installs the exact pins of requirements-dev.lock, then this project itself
# (--no-deps); it is refreshed when the lock or pyproject.toml changes. `make lock` re-pins
# both lock files from pyproject.toml. `make VENV=/tmp/venv test` uses another virtualenv.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=
FUZZ_EXAMPLES ?= 300
FUZZ_DATABASE ?= postgresql
# `make bench` runs every benchmark at a reduced size (minutes); bench/README.md gives the full
# sizes and how to run each script alone.
BENCH_TENANTS ?= 30
BENCH_SCALE_TENANTS ?= 300
BENCH_DATABASE ?= both

LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
# Pins are for CPython 3.11 on Linux, what the image and CI run.
LOCK_PYTHON := 3.11


.DEFAULT_GOAL := help
.PHONY: help setup run test test-fast fuzz bench lint format lock clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml $(DEV_LOCK)
	@test -x $(BIN)/python || { echo "==> creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "==> installing the pinned dependencies ($(DEV_LOCK)), then syston, into $(VENV)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	@touch $(STAMP)

setup: $(STAMP)  ## create .venv and install everything (only when needed)

run: $(STAMP)  ## run the whole stack locally (syston dev; pass flags with ARGS="--api-port 9000")
	$(BIN)/syston dev $(ARGS)

test: $(STAMP)  ## run the test suite (PYTEST_ARGS="-k signup" to narrow it)
	$(BIN)/pytest -q $(PYTEST_ARGS)

test-fast: $(STAMP)  ## the fast tier, under a minute: domain on SQLite, workflow with mocked activities
	$(BIN)/pytest -q -m fast $(PYTEST_ARGS)

fuzz: $(STAMP)  ## schemathesis, every check, every operation (FUZZ_EXAMPLES=300, FUZZ_DATABASE=postgresql|sqlite)
	SYSTON_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) SYSTON_FUZZ_DATABASE=$(FUZZ_DATABASE) \
		$(BIN)/pytest -q tests/api/test_schemathesis.py $(PYTEST_ARGS)

bench: $(STAMP)  ## the benchmarks at a reduced size, SQLite and PostgreSQL (bench/README.md)
	$(BIN)/python bench/bench_provisioning.py --database $(BENCH_DATABASE) --tenants $(BENCH_TENANTS) --reads 500 --rounds 2
	$(BIN)/python bench/bench_ledger.py --database $(BENCH_DATABASE) --tenants 200
	$(BIN)/python bench/temporal_costs.py --workflows 30 --rounds 2
	$(BIN)/python bench/bench_scale.py --database $(BENCH_DATABASE) --tenants $(BENCH_SCALE_TENANTS) --window 100
	$(BIN)/python bench/profile_stack.py --tenants $(BENCH_TENANTS) --top 15

lint: $(STAMP)  ## ruff (lint + format), mypy and the import layers; runs all, fails if any fails
	@status=0; \
	echo "$(BIN)/ruff check ."; $(BIN)/ruff check . || status=1; \
	echo "$(BIN)/ruff format --check ."; $(BIN)/ruff format --check . || status=1; \
	echo "$(BIN)/mypy"; $(BIN)/mypy || status=1; \
	echo "$(BIN)/lint-imports"; $(BIN)/lint-imports --no-cache || status=1; \
	exit $$status

format: $(STAMP)  ## apply ruff's formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

lock:  ## re-pin requirements.lock (the image) and requirements-dev.lock from pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv>=0.5'
	$(BIN)/uv pip compile pyproject.toml --quiet --extra otel --generate-hashes \
		--python-version $(LOCK_PYTHON) --python-platform x86_64-manylinux_2_28 \
		--no-emit-package syston-provisioning --custom-compile-command 'make lock' \
		--output-file $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --quiet --extra dev --generate-hashes \
		--python-version $(LOCK_PYTHON) --python-platform x86_64-manylinux_2_28 \
		--constraint $(LOCK) --no-emit-package syston-provisioning \
		--custom-compile-command 'make lock' --output-file $(DEV_LOCK)

clean:  ## remove caches (keeps .venv and .data)
	rm -rf .pytest_cache .mypy_cache .ruff_cache build *.egg-info
