# Airbyte Console. The README names the two commands that matter: `make run`, `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
MANAGE := $(BIN)/python manage.py

.PHONY: run test lint format migrations bench bench-compare bench-scale screenshots clean help

help:
	@echo "make run    set up everything and serve the console on http://$(HOST):$(PORT)"
	@echo "make test   run the whole test suite"
	@echo "make lint   ruff check, format check and the import contracts"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.runtime: $(BIN)/python requirements.txt
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.runtime
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput --verbosity 0
	$(MANAGE) console_bootstrap
	WEBHOOKS_ALLOW_PRIVATE=$${WEBHOOKS_ALLOW_PRIVATE:-1} AIRBYTE_ALLOW_PRIVATE=$${AIRBYTE_ALLOW_PRIVATE:-1} HOST=$(HOST) PORT=$(PORT) $(MANAGE) serve

# Tests run in parallel, each test file on one pytest-xdist worker, with one worker
# more than the cores: many tests wait on a Celery worker, a browser, dbt or a
# database, and the spare one uses that time (on 2 cores: 7 min 15 s instead of
# 8 min 24 s). TEST_WORKERS=0 runs them serially.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))

test: $(VENV)/.dev
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(VENV)/.dev
	$(MANAGE) bench_sync
	$(MANAGE) bench_pages
	$(MANAGE) bench_transforms

# The sync benchmark and the same cases through PyAirbyte (installed once into a
# scratch virtualenv, offline), side by side. BENCH_ARGS=--quick for a short run.
bench-compare: $(VENV)/.dev
	$(MANAGE) bench_compare $(BENCH_ARGS)

# More than one worker host (#17): 1 then 2 Celery workers with their own data
# folders against one scratch PostgreSQL database and a private redis-server, 50
# scheduled connections, a Redis restart and a SIGKILLed worker; prints throughput,
# queue wait and whether every job ran exactly once with its data (about 5 minutes).
# BENCH_ARGS=--quick for a short run.
bench-scale: $(VENV)/.dev
	$(MANAGE) bench_scale $(BENCH_ARGS)

# The browser tests' screenshots of the flows the README describes, kept in
# docs/screenshots/ (the accessibility checks' a11y-*.png stay in tests/artifacts/).
screenshots: $(VENV)/.dev
	rm -rf tests/artifacts/screenshots
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile tests/browser $(PYTEST_ARGS)
	mkdir -p docs/screenshots
	rm -f docs/screenshots/*.png
	find tests/artifacts/screenshots -name '*.png' ! -name 'a11y-*' -exec cp {} docs/screenshots/ \;

migrations: $(VENV)/.dev
	$(MANAGE) makemigrations --check --dry-run

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
