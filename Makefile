# ChatBili: `make run` starts the whole site, `make test` runs the whole suite.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 1
SERVERS ?= 1
PYTEST_ARGS ?=
# Test processes (pytest-xdist, one module per process at a time); 0 runs the suite in this process.
# Two workers share the embedded PostgreSQL, each with its own test database (test_chatbili_gw0, _gw1).
TEST_PROCESSES ?= 2

# The first Python >= 3.12 found: on PATH, then under pyenv (whose shims may be inactive).
PYTHON ?= $(shell for candidate in python3.12 python3.13 python3 \
	$$HOME/.pyenv/versions/3.12*/bin/python3 $$HOME/.pyenv/versions/3.13*/bin/python3; do \
	  "$$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1 \
	  && { command -v "$$candidate" || echo "$$candidate"; } && break; done)

.PHONY: run test test-fast test-quick test-browser browser-deps lint format venv migrate help

help:
	@echo "make run     start the site (server + worker) on http://$(HOST):$(PORT); SERVERS=N for N daphne processes"
	@echo "make test    run the whole test suite (lint + pytest, browser tests included)"
	@echo "make test-fast     the suite without the browser tests"
	@echo "make test-quick    the suite without the slow tests (marker slow, every browser test included)"
	@echo "make test-browser  only the browser tests (installs Debian's chromium if missing)"
	@echo "make lint    ruff check and format check"

$(VENV)/.installed: requirements.txt
	@test -n "$(PYTHON)" || { echo "Python >= 3.12 is required (python3.12 or python3.13 not found)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

venv: $(VENV)/.installed

run: venv
	DEBUG=$${DEBUG:-true} exec $(PY) manage.py runsite --host $(HOST) --port $(PORT) --servers $(SERVERS) --workers $(WORKERS)

migrate: venv
	DEBUG=$${DEBUG:-true} $(PY) manage.py migrate

test: venv lint browser-deps
	$(PY) -m pytest -n $(TEST_PROCESSES) --dist loadfile $(PYTEST_ARGS)

test-fast: venv lint
	$(PY) -m pytest -n $(TEST_PROCESSES) --dist loadfile -m "not browser" $(PYTEST_ARGS)

# The quick run while working: leaves out the tests marked `slow` (over ~10 s: processes, big data,
# and every browser test); `make test` still runs them.
test-quick: venv lint
	$(PY) -m pytest -n $(TEST_PROCESSES) --dist loadfile -m "not slow and not browser" $(PYTEST_ARGS)

test-browser: venv browser-deps
	$(PY) -m pytest -m browser $(PYTEST_ARGS)

# Debian's chromium for the Playwright tests (never a downloaded browser). Without root the
# browser tests are skipped with the reason.
browser-deps:
	-@bash tests/browser/install_chromium.sh

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .
