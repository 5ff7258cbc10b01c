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
# A value as one shell word, whatever it holds (spaces, quotes, ;): every path a recipe
# passes to the shell goes through it, so `DAGSTER_HOME="/x/my home"` stays one path.
q = '$(subst ','\'',$(1))'
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
SIGNATURES := registered_signatures,signature_rejects,signature_dataset,signature_trials
# dg expects the project's .venv to be the active environment: say that it is.
DG := VIRTUAL_ENV=$(call q,$(CURDIR)/$(VENV)) $(BIN)/dg

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
# without the timestamp and run id that Dagster puts before it. $(1) is the log as a quoted
# shell word.
SHORTEN := sed -E 's/^[0-9-]+ [0-9:]+ [+-][0-9]{4} - dagster - ([A-Z]+) - [^ ]+ - [0-9a-f-]{36} - ([0-9]+ - )?/\1 /'
FAILED = { echo "$@ failed. Errors and checks that did not pass, from "$(1)":"; \
  grep -E ' - (ERROR|CRITICAL) - |did not pass' $(1) | $(SHORTEN) | tail -n 20; \
  echo "The end of "$(1)":"; tail -n 25 $(1) | $(SHORTEN); exit 1; }

.PHONY: install run test ui serve bench lock clean uv

# The instance's settings live in instance/dagster.yaml; the copy follows every change to it
# (copied whenever the template is newer). A recipe, not a rule whose target is the copy:
# make splits a target's name at spaces, and DAGSTER_HOME may hold some.
install: $(STAMP)
	@mkdir -p $(call q,$(DAGSTER_HOME))
	@test $(call q,$(INSTANCE)) -nt instance/dagster.yaml || \
	  { echo "cp instance/dagster.yaml "$(call q,$(INSTANCE)); \
	    cp instance/dagster.yaml $(call q,$(INSTANCE)); }

# --compile-bytecode: every dependency is compiled once here, so no `dagster` command compiles
# them again (where PYTHONDONTWRITEBYTECODE is set, each command would, for seconds).
$(STAMP): uv.lock pyproject.toml
	@$(MAKE) --no-print-directory uv
	$(UV) sync --locked --extra dev --compile-bytecode || \
	  { echo "If uv.lock is out of date with pyproject.toml, run: make lock"; exit 1; }
	@rm -f $(VENV)/.installed-* && touch $@

# .venv with uv in it, at the pinned version: all the rest comes from uv.lock.
uv:
	@$(call q,$(PYTHON)) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: run make with PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(call q,$(PYTHON)) -m venv $(VENV)
	@test "$$($(BIN)/uv --version 2>/dev/null)" = "uv $(UV_VERSION)" || \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'

lock: uv
	$(UV) lock
	@$(MAKE) --no-print-directory install

# The range step prints its own one-sentence error: no log exists yet to show.
run: install
	@range=$$($(BIN)/python -m assets_pkg.purchases.feed) || exit 1; \
	  echo "Building every purchase asset for the weeks $$range in one run; log: "$(call q,$(LOG)) && \
	  $(DG) launch --assets 'raw_customers,products,$(WEEKLY)' --partition-range "$$range" \
	    > $(call q,$(LOG)) 2>&1 || $(call FAILED,$(call q,$(LOG)))
	@echo "Registering the signatures and publishing their dataset and trials ($(SIGNATURES))"
	@$(DG) launch --assets '$(SIGNATURES)' >> $(call q,$(LOG)) 2>&1 || \
	  $(call FAILED,$(call q,$(LOG)))
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
	@tmp=$$(mktemp -d) && cp instance/dagster.yaml "$$tmp/" && \
	  { WAREHOUSE_DIR="$$tmp/warehouse" DAGSTER_HOME="$$tmp" $(DG) launch --assets 'raw_customers,products,$(WEEKLY)' \
	    --partition 2024-01-08 > "$$tmp/smoke.log" 2>&1 || $(call FAILED,"$$tmp/smoke.log"); } && \
	  ls "$$tmp/warehouse/weekly_purchase_counts/week=2024-01-08/data.parquet" && rm -rf "$$tmp"

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

# Removes the warehouse and the instance, each only if it lies inside this checkout:
# `make clean DAGSTER_HOME=/elsewhere` refuses, in one sentence, unless FORCE=1 is given.
# The checkout itself, a folder that holds it, or one that holds a file git tracks (say
# DAGSTER_HOME=data, the bundled sample's folder) is never removed, FORCE=1 or not. A path
# is judged where it leads (its folder with symlinks resolved; a symlink itself is removed,
# not what it points to), and nothing is removed unless every path passes. A relative path
# is spelt ./path, so that cd takes it as it is: not `-` ($OLDPWD), not through CDPATH.
clean:
	@here=$$(pwd -P); for step in check remove; do \
	  for path in data/warehouse $(call q,$(DAGSTER_HOME)); do \
	    while [ "$${path%/}" != "$$path" ] && [ "$$path" != / ]; do path=$${path%/}; done; \
	    [ -n "$$path" ] && { [ -e "$$path" ] || [ -L "$$path" ]; } || continue; \
	    case "$$path" in /*) ;; *) path=./$$path;; esac; \
	    if [ $$step = remove ]; then echo "rm -rf '$$path'"; rm -rf -- "$$path" || exit 1; continue; fi; \
	    if [ -d "$$path" ] && [ ! -L "$$path" ]; then real=$$(cd -P -- "$$path" && pwd -P); \
	    else real=$$(cd -P -- "$$(dirname -- "$$path")" && pwd -P)/$$(basename -- "$$path"); fi; \
	    case "$$here/" in "$${real%/}"/*) \
	      echo "make clean: $$path holds this checkout ($$here), so it is never removed." >&2; exit 1;; esac; \
	    tracked=$$(git -C "$$here" ls-files -- ":(literal)$$real" 2>/dev/null | head -n 1); \
	    [ -z "$$tracked" ] || { \
	      echo "make clean: $$path holds files of the project ($$tracked), so it is never removed." >&2; exit 1; }; \
	    case "$$real" in "$$here"/?*) ;; *) [ $(call q,$(FORCE)) = 1 ] || { \
	      echo "make clean: $$path is outside this checkout ($$here), so it is not removed; run make clean FORCE=1 to remove it anyway." >&2; \
	      exit 1; };; esac; \
	  done; \
	done
