# The two commands: `make demo` and `make test`. Both build their own virtual
# environment from requirements.lock (exact pins with hashes) on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed-stamp

# reval runs on closed networks: Prefect must never phone home.
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: install demo test lint format bench sample-data lock clean portal system-packages

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install --python $(BIN)/python --quiet --compile-bytecode --require-hashes -r requirements.lock
	$(BIN)/uv pip install --python $(BIN)/python --quiet --no-deps -e .
	touch $@

install: $(STAMP)

demo: install
	$(BIN)/reval demo

# Chromium, pdftotext and R (MatchIt...) for the browser, PDF and reference tests: installed
# with apt-get when missing (as root), otherwise the one command to run is printed.
system-packages:
	bash scripts/install-system-packages

# Two workers (one per core); the R reference and browser tests must run, never skip.
test: install lint system-packages
	REVAL_REQUIRE_R=1 REVAL_REQUIRE_BROWSER=1 $(BIN)/pytest -q -n 2 --dist loadscope

lint: install
	$(BIN)/ruff check src tests flows benchmarks
	$(BIN)/ruff format --check src tests flows benchmarks

format: install
	$(BIN)/ruff format src tests flows benchmarks
	$(BIN)/ruff check --fix src tests flows benchmarks

# The upload portal and report library on http://127.0.0.1:8000/ (tokens: reval sites add-token)
portal: install
	$(BIN)/reval portal

# make bench ONLY=matching runs one section (startup, ingest, matching, national, nightly, reports, portal, stress)
bench: install
	$(BIN)/python benchmarks/run.py --write BENCHMARKS.md --work .bench $(if $(ONLY),--only $(ONLY))

sample-data: install
	$(BIN)/reval sample-data --out sample_data

# Re-pin every dependency (needs the registry); commit the result.
lock: install
	$(BIN)/uv pip compile requirements.in --python-version 3.11 --generate-hashes \
		--no-emit-package reval -o requirements.lock

clean:
	rm -rf $(VENV) .reval .pytest_cache .ruff_cache
