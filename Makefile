# Two commands do everything on a fresh machine (Python 3.11, no GPU):
#   make repro   create .venv if needed, then run the pipeline (dvc repro) on the default dataset
#   make test    create .venv if needed, then run the test suite
#   make test-fast   the tests that run no external tool (no Prefect/DVC/MLflow integration)
#   make lint    ruff: lint and format check (CI runs it before the tests)
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -ec
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
# Telemetry off for every tool, also when a command is run outside `h2rec`.
export DO_NOT_TRACK := true
export HF_HUB_OFFLINE := 1
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS := 120
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export GX_ANALYTICS_ENABLED := false
# This machine's pip config lists absent local indexes; hide those warnings, keep the rest.
PIP_QUIET := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: repro test test-fast lint env clean-env

repro: $(VENV)/.installed
	dvc repro
	h2rec stats

test: $(VENV)/.installed
	pytest --durations=15

test-fast: $(VENV)/.installed
	pytest -m "not integration" --durations=15

lint: $(VENV)/.installed
	ruff check .
	ruff format --check .

env: $(VENV)/.installed

# torch first: the pinned CPU build must be in place before anything pulls a CUDA one.
$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q torch==2.13.0 $(PIP_QUIET)
	$(BIN)/python -m pip install -q -r requirements.txt $(PIP_QUIET)
	$(BIN)/python -m pip install -q --no-deps -e . $(PIP_QUIET)
	touch $@

clean-env:
	rm -rf $(VENV)
