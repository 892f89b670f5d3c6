# 一网 Yiwang — the two commands of the README, and the steps they stand on.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export YIWANG_DATA_DIR ?= ./var

.PHONY: demo test lint typecheck importlint unit bench clean assets

$(STAMP): pyproject.toml package.json package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(MAKE) assets
	touch $(STAMP)

## Front-end libraries come from the npm registry (lock file committed); no CDN at run time.
assets:
	npm ci --no-audit --no-fund --silent
	mkdir -p yiwang/web/static/vendor
	cp node_modules/htmx.org/dist/htmx.min.js yiwang/web/static/vendor/htmx.min.js

## make demo: install, create the demo province in ./var (SQLite), serve http://127.0.0.1:8000
demo: $(STAMP)
	$(BIN)/yiwang demo

## make test: the whole suite (lint, types, import rules, tests; PostgreSQL too when YIWANG_TEST_DATABASE_URL is set)
test: $(STAMP) lint typecheck importlint unit

lint: $(STAMP)
	$(BIN)/ruff check yiwang tests bench migrations
	$(BIN)/ruff format --check yiwang tests bench migrations

typecheck: $(STAMP)
	$(BIN)/mypy yiwang

importlint: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/audit.py

clean:
	rm -rf $(VENV) node_modules var .pytest_cache .mypy_cache .ruff_cache
