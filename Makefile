# Syston provisioning — the two commands: `make run` and `make test`.
# The virtualenv is (re)built when pyproject.toml changes; `make VENV=/tmp/venv test` uses another.

VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=
FUZZ_EXAMPLES ?= 300
FUZZ_DATABASE ?= postgresql

.DEFAULT_GOAL := help
.PHONY: help setup run test test-fast fuzz lint format clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || { echo "==> creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "==> installing syston and its dev dependencies into $(VENV)"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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

clean:  ## remove caches (keeps .venv and .data)
	rm -rf .pytest_cache .mypy_cache .ruff_cache build *.egg-info
