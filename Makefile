# The project's commands. Each bootstraps .venv from pyproject.toml when needed.
#   make run   - build every asset on the bundled sample and print a summary
#   make test  - lint, format check, type check, definitions check, tests, CLI smoke run
#   make ui    - the Dagster web UI and daemon on http://127.0.0.1:3000
#   make bench - the purchase benchmark (SCALE=large|medium|small) and the signature one

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
SCALE ?= large
WEEKLY := exploded_transactions,weekly_purchase_counts,transaction_quarantine
DAGSTER := $(BIN)/dagster asset materialize -m assets_pkg.definitions

export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
LOG := $(DAGSTER_HOME)/make.log

.PHONY: install run test ui bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: run make with PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

$(DAGSTER_HOME)/dagster.yaml:
	@mkdir -p $(DAGSTER_HOME)
	@printf 'telemetry:\n  enabled: false\n' > $@

run: install $(DAGSTER_HOME)/dagster.yaml
	@range=$$($(BIN)/python -m assets_pkg.purchases.feed) && \
	  echo "Building every purchase asset for the weeks $$range in one run; log: $(LOG)" && \
	  $(DAGSTER) --select 'raw_customers,products,$(WEEKLY)' --partition-range $$range \
	    > $(LOG) 2>&1 || (tail -40 $(LOG); exit 1)
	@echo "Registering the signatures (registered_signatures, signature_rejects)"
	@$(DAGSTER) --select registered_signatures,signature_rejects >> $(LOG) 2>&1 || (tail -40 $(LOG); exit 1)
	@$(BIN)/python -m assets_pkg.summary

test: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/dagster definitions validate -m assets_pkg.definitions
	$(BIN)/pytest
	@echo "CLI smoke run: one week of the sample into a temporary warehouse"
	@tmp=$$(mktemp -d) && \
	  WAREHOUSE_DIR=$$tmp/warehouse DAGSTER_HOME=$$tmp $(DAGSTER) --select '$(WEEKLY)' \
	    --partition 2024-01-08 > $$tmp/smoke.log 2>&1 || (tail -40 $$tmp/smoke.log; exit 1); \
	  ls $$tmp/warehouse/weekly_purchase_counts/week=2024-01-08/data.parquet && rm -rf $$tmp

ui: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000

bench: install
	$(BIN)/python -m bench.purchases_bench --scale $(SCALE)
	$(BIN)/python -m bench.signatures_bench

clean:
	rm -rf data/warehouse $(DAGSTER_HOME)
