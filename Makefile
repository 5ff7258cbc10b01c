# The project's commands. Each installs .venv from uv.lock when needed.
#   make run     - build every asset on the bundled sample and print a summary
#   make test    - lint, format check, type check, definitions check, tests, CLI smoke run
#   make ui      - the Dagster web UI and daemon on http://127.0.0.1:3000 (PORT=... for another)
#   make serve   - the production topology on the local PostgreSQL, RabbitMQ and Redis: code
#                  server, web UI (PORT), daemon, WORKERS Celery workers (default 2); Ctrl-C stops it
#   make bench   - the purchase benchmark (SCALE=large|medium|small) and the signature one
#   make install - .venv exactly as uv.lock says, dev tools included, and the Dagster instance
#   make lock    - re-resolve uv.lock after a change to the dependencies in pyproject.toml

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# uv is installed from PyPI at the version pinned in pyproject.toml's dev extra, then keeps
# itself at that version through uv.lock. No managed interpreter is ever downloaded.
UV_VERSION := $(shell sed -n 's/^ *"uv==\([^"]*\)".*/\1/p' pyproject.toml)
UV := UV_PYTHON_DOWNLOADS=never $(BIN)/uv
# The stamp's name changes with uv.lock and pyproject.toml, so any change re-syncs .venv.
STAMP := $(VENV)/.installed-$(shell cat uv.lock pyproject.toml | cksum | cut -d' ' -f1)
SCALE ?= large
PORT ?= 3000
WORKERS ?= 2
HOST ?= 127.0.0.1
WEEKLY := exploded_transactions,weekly_purchase_counts,transaction_quarantine
# dg expects the project's .venv to be the active environment: say that it is.
DG := VIRTUAL_ENV=$(CURDIR)/$(VENV) $(BIN)/dg

# The project's own instance; `make run DAGSTER_HOME=/path` picks another. A DAGSTER_HOME
# exported in the shell is not used here, so `make clean` only removes this checkout's.
DAGSTER_HOME := $(CURDIR)/.dagster_home
export DAGSTER_HOME
# A range run announces each asset once with its partitions, not once per partition: on the
# local SQLite instance each event costs a connection and a commit, and a 104-week backfill
# stores ~300 fewer of them (seconds). The price: when such a run fails, its weeks show as
# missing, not failed; the run itself shows as failed (docs/decisions.md). `make serve` and
# deploy/, on PostgreSQL, leave it off.
export DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS := 1
INSTANCE := $(DAGSTER_HOME)/dagster.yaml
LOG := $(DAGSTER_HOME)/make.log
# On failure: the log's errors and checks that did not pass, then its end, each line
# without the timestamp and run id that Dagster puts before it.
SHORTEN := sed -E 's/^[0-9-]+ [0-9:]+ [+-][0-9]{4} - dagster - ([A-Z]+) - [^ ]+ - [0-9a-f-]{36} - ([0-9]+ - )?/\1 /'
FAILED = { echo "$@ failed. Errors and checks that did not pass, from $(1):"; \
  grep -E ' - (ERROR|CRITICAL) - |did not pass' $(1) | $(SHORTEN) | tail -n 20; \
  echo "The end of $(1):"; tail -n 25 $(1) | $(SHORTEN); exit 1; }

.PHONY: install run test ui serve bench lock clean uv

install: $(STAMP) $(INSTANCE)

# --compile-bytecode: every dependency is compiled once here, so no `dagster` command compiles
# them again (where PYTHONDONTWRITEBYTECODE is set, each command would, for seconds).
$(STAMP): uv.lock pyproject.toml
	@$(MAKE) --no-print-directory uv
	$(UV) sync --locked --extra dev --compile-bytecode || \
	  { echo "If uv.lock is out of date with pyproject.toml, run: make lock"; exit 1; }
	@rm -f $(VENV)/.installed-* && touch $@

# .venv with uv in it, at the pinned version: all the rest comes from uv.lock.
uv:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: run make with PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test "$$($(BIN)/uv --version 2>/dev/null)" = "uv $(UV_VERSION)" || \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'

lock: uv
	$(UV) lock
	@$(MAKE) --no-print-directory install

# The instance's settings live in instance/dagster.yaml; the copy follows every change to it.
$(INSTANCE): instance/dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	cp instance/dagster.yaml $@

# The range step prints its own one-sentence error: no log exists yet to show.
run: install
	@range=$$($(BIN)/python -m assets_pkg.purchases.feed) || exit 1; \
	  echo "Building every purchase asset for the weeks $$range in one run; log: $(LOG)" && \
	  $(DG) launch --assets 'raw_customers,products,$(WEEKLY)' --partition-range $$range \
	    > $(LOG) 2>&1 || $(call FAILED,$(LOG))
	@echo "Registering the signatures (registered_signatures, signature_rejects)"
	@$(DG) launch --assets registered_signatures,signature_rejects >> $(LOG) 2>&1 || \
	  $(call FAILED,$(LOG))
	@$(BIN)/python -m assets_pkg.summary

# pytest's status 5 means it collected no test: reported, not a failure.
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(DG) check defs
	$(BIN)/pytest || { status=$$?; [ $$status -eq 5 ] && echo "pytest collected no test"; \
	  [ $$status -eq 5 ]; }
	@echo "CLI smoke run: one week of the sample into a temporary warehouse and instance"
	@tmp=$$(mktemp -d) && cp instance/dagster.yaml $$tmp/ && \
	  { WAREHOUSE_DIR=$$tmp/warehouse DAGSTER_HOME=$$tmp $(DG) launch --assets 'raw_customers,products,$(WEEKLY)' \
	    --partition 2024-01-08 > $$tmp/smoke.log 2>&1 || $(call FAILED,$$tmp/smoke.log); } && \
	  ls $$tmp/warehouse/weekly_purchase_counts/week=2024-01-08/data.parquet && rm -rf $$tmp

ui: install
	$(DG) dev --host $(HOST) --port $(PORT)

# deploy/serve.py: its own instance (deploy/dagster.yaml in .dagster_serve/), settings from
# the environment (docs/operations.md).
# The production profile marks a failed range run's weeks as failed (see the export above).
# GRPC_PORT=... picks the code server's port (default: one of its own per checkout).
serve: install
	env -u DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS \
	  $(BIN)/python deploy/serve.py --workers $(WORKERS) --host $(HOST) --port $(PORT) \
	  $(if $(GRPC_PORT),--grpc-port $(GRPC_PORT))

bench: install
	$(BIN)/python -m bench.purchases --scale $(SCALE)
	$(BIN)/python -m bench.signatures_bench

clean:
	rm -rf data/warehouse $(DAGSTER_HOME)
