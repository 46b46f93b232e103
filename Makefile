# make demo: create .venv, install, start the whole platform with simulated patients.
# make test: create .venv, install, run the gate (lint, import rules, the whole test suite).
# make fuzz: the long fuzz run (schemathesis, FHIR transaction, wire protocol, GATT parsers).
# make faults: the long fault run (dropped connections, Redis/PostgreSQL restarts, node kills).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench fuzz faults clean vendor

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[edge,kiosk,server,dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/telemed demo $(DEMO_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

# Three test processes (pytest-xdist): most slow tests wait on real servers, sockets and
# timers, not on the CPU, so three overlap well on two cores. PYTEST_JOBS=-n0 runs serially.
PYTEST_JOBS ?= -n 3 --dist worksteal

test: lint
	$(BIN)/pytest $(PYTEST_JOBS) $(PYTEST_ARGS)

# The long fuzz run: the same tests as in `make test` with many more examples (no time limit).
FUZZ_FILES := tests/clinician_api/test_schemathesis.py tests/clinician_api/fhir/test_transaction_fuzz.py \
	tests/telemed_core/test_protocol_fuzz.py tests/device_bridge/gatt/test_gatt_fuzz.py \
	tests/device_bridge/gatt/test_gatt_spec_strict.py
fuzz: $(STAMP)
	TELEMED_SCHEMATHESIS_EXAMPLES=$${TELEMED_SCHEMATHESIS_EXAMPLES:-300} \
	TELEMED_FUZZ_EXAMPLES=$${TELEMED_FUZZ_EXAMPLES:-3000} \
	$(BIN)/pytest $(FUZZ_FILES) -q --timeout=0 --hypothesis-show-statistics

# The long fault run: each fault test repeats its fault TELEMED_FAULT_ROUNDS times (CI: once);
# the fault report (faults per kind, items sent/stored/duplicated/lost, alerts and escalations
# expected/raised/doubled) is printed at the end.
FAULT_FILES := tests/device_bridge/test_dropped_connections.py tests/patient_hub/bus/test_redis_restart.py \
	tests/patient_hub/ingest/test_postgres_restart.py tests/telemed_cli/test_cluster_faults.py \
	tests/device_bridge/test_offline_hour.py
faults: $(STAMP)
	TELEMED_FAULT_ROUNDS=$${TELEMED_FAULT_ROUNDS:-5} \
	$(BIN)/pytest $(FAULT_FILES) -n0 -q --timeout=0 -p no:logging

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[bench]"
	$(BIN)/python bench/bench_ingest.py --backend both
	$(BIN)/python bench/bench_bridge.py
	$(BIN)/python bench/bench_qrs.py
	$(BIN)/python bench/bench_af.py
	$(BIN)/python bench/bench_lethal.py
	$(BIN)/python bench/bench_strip.py
	$(BIN)/python bench/bench_worker.py
	$(BIN)/python bench/bench_kiosk.py
	$(BIN)/python bench/bench_dispatch.py --backend both

# Front-end libraries from npm at the versions pinned in clinician_api/web/vendor/package-lock.json,
# copied into the committed static files (the screens never load a CDN).
vendor:
	cd clinician_api/web/vendor && npm ci --no-audit --no-fund
	cp clinician_api/web/vendor/node_modules/uplot/dist/uPlot.iife.min.js clinician_api/web/vendor/node_modules/uplot/dist/uPlot.min.css clinician_api/web/static/vendor/
	cp clinician_api/web/vendor/node_modules/uplot/LICENSE clinician_api/web/static/vendor/uPlot.LICENSE
	cp clinician_api/web/vendor/node_modules/flatpickr/dist/flatpickr.min.js clinician_api/web/static/vendor/
	cp clinician_api/web/vendor/node_modules/flatpickr/dist/l10n/cs.js clinician_api/web/static/vendor/flatpickr.l10n.cs.js
	cp clinician_api/web/vendor/node_modules/flatpickr/dist/themes/dark.css clinician_api/web/static/vendor/flatpickr.dark.css
	cp clinician_api/web/vendor/node_modules/flatpickr/LICENSE.md clinician_api/web/static/vendor/flatpickr.LICENSE

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache *.egg-info
