# make demo: create .venv, install, start the whole platform with simulated patients.
# make test: create .venv, install, run the gate (lint, import rules, the whole test suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[edge,server,dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/telemed demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python bench/bench_ingest.py --backend both
	$(BIN)/python bench/bench_bridge.py
	$(BIN)/python bench/bench_qrs.py
	$(BIN)/python bench/bench_af.py
	$(BIN)/python bench/bench_lethal.py
	$(BIN)/python bench/bench_strip.py
	$(BIN)/python bench/bench_worker.py
	$(BIN)/python bench/bench_dispatch.py --backend both

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info
