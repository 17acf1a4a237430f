# Every target bootstraps .venv on a fresh machine; nothing needs installing by hand.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-packages
# Debian packages the integration tests drive as real clients (Prometheus, promtool, amtool).
SYSTEM_PACKAGES := prometheus prometheus-alertmanager
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet -e 'packages/observatory-sdk[all]'
	touch $(STAMP)

$(SYSTEM_STAMP): $(STAMP)
	command -v prometheus >/dev/null && command -v promtool >/dev/null && \
	  command -v amtool >/dev/null || \
	  ($(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	   $(SUDO) apt-get install -y -qq --no-install-recommends $(SYSTEM_PACKAGES))
	touch $(SYSTEM_STAMP)

run: $(STAMP)
	$(BIN)/observatory serve $(ARGS)

test: $(STAMP) $(SYSTEM_STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench packages examples
	$(BIN)/ruff format --check src tests bench packages examples
	$(BIN)/mypy
	$(BIN)/mypy --strict packages/observatory-sdk/src/observatory_sdk

bench: $(STAMP)
	$(BIN)/python bench/ingest_traces.py
	$(BIN)/python bench/ingest_metrics.py
	$(BIN)/python bench/ingest_logs.py

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache
