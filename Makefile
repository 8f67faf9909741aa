# fenster: the two commands in README.md are `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test lint format install install-dev system-deps system-deps-test docs \
        schema migrations bench fuzz install-fuzz clean

## make demo: install, migrate the embedded SQLite database, load the demo world, serve :8000
## (another port: make demo PORT=8104, or FENSTER_PORT=8104 make demo)
demo: install
	$(BIN)/fenster demo$(if $(PORT), --port $(PORT))

## make test: install with the dev extra, lint (ruff, mypy), then the whole suite
test: install-dev system-deps-test
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

system-deps:
	PYTHON=$(PYTHON) .ci/system-deps

system-deps-test:
	PYTHON=$(PYTHON) .ci/system-deps --test

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(MAKE) system-deps
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## make docs: build the MkDocs site into site/
docs: install
	$(BIN)/mkdocs build --strict

## make schema: write the GraphQL SDL to docs/reference/schema.graphql
schema: install
	$(BIN)/fenster schema

## make migrations: generate a migration after changing models
migrations: install
	FENSTER_DATABASE_URL=sqlite://:memory: $(BIN)/tortoise -c api.db.TORTOISE_ORM makemigrations

## make bench: the benchmarks (not tests); figures and misses printed. Every benchmark runs;
## a miss is not a failure, a benchmark that crashes is (reported after all have run).
bench: install-dev
	@failed=""; for b in tests/benchmarks/bench_*.py; do echo "== $$b"; \
	    $(BIN)/python $$b || failed="$$failed $$b"; done; \
	if [ -n "$$failed" ]; then echo "bench: crashed:$$failed"; exit 1; fi

## make fuzz: schemathesis against /graphql on a fresh demo world, with the admin and a customer
## token; fails on any HTTP 5xx or INTERNAL answer. FENSTER_FUZZ_EXAMPLES=N per field (default
## 60: a few minutes).
fuzz: install-fuzz
	$(BIN)/python tests/fuzz/fuzz_graphql.py

$(VENV)/.installed-fuzz: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install -q -e '.[fuzz]'
	touch $@

install-fuzz: $(VENV)/.installed-fuzz

clean:
	rm -rf site .pytest_cache .ruff_cache .mypy_cache .hypothesis .schemathesis

## make loadtest: issue 14's load (10,000 agents, 500 calendars) against `fenster serve
## --workers 2` on PostgreSQL and against the plain floor; needs FENSTER_TEST_POSTGRES or a
## server on 127.0.0.1:5432. About 8 minutes; prints figures, never fails on a miss.
loadtest: install-dev
	$(BIN)/pip install -q -e '.[load]'
	PYTHONPATH=. $(BIN)/python tests/load/run.py
