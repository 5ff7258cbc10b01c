# The project's commands. Each installs .venv from uv.lock when needed.
#   make run     - build every asset on the bundled sample and print a summary
#   make test    - lint, format check, type check, definitions check, every test, CLI smoke run
#   make check   - the inner loop: lint, format check, type check, the tests not marked slow
#   make ui      - the Dagster web UI and daemon on http://127.0.0.1:3000 (PORT=... for another)
#   make serve   - the production topology on the local PostgreSQL, RabbitMQ and Redis: code
#                  server, web UI (PORT), daemon, WORKERS Celery workers (default 2), printing
#                  at LOG_LEVEL (debug|info|warning|error|critical, default info); Ctrl-C stops it
#   make bench   - the purchase benchmark (SCALE=large|medium|small) and the signature one
#   make install - .venv exactly as uv.lock says, dev tools included, and the Dagster instance
#                  (make run and make ui install only what running needs; make serve and
#                  make bench add the production profile, which the bench's scale-out part
#                  starts; make test and make check the dev tools)
#   make lock    - re-resolve uv.lock after a change to the dependencies in pyproject.toml

PYTHON ?= python3
# A value as one shell word, whatever it holds (spaces, quotes, ;): every path a recipe
# passes to the shell goes through it, so `DAGSTER_HOME="/x/my home"` stays one path.
comma := ,
q = '$(subst ','\'',$(1))'
VENV := .venv
BIN := $(VENV)/bin
# uv is installed from PyPI at the version pinned in pyproject.toml (group installer), then keeps
# itself at that version through uv.lock. No managed interpreter is ever downloaded.
UV_VERSION := $(shell sed -n 's/.*"uv==\([^"]*\)".*/\1/p' pyproject.toml)
UV := UV_PYTHON_DOWNLOADS=never $(BIN)/uv
# Three installs from the one uv.lock, each a superset of the one before: `run` (the
# project's dependencies and the pinned uv), `serve` (+ the deploy extra) and `dev` (+ every
# extra and the dev tools). The stamp names the install and the lock it was synced from, so
# a change to uv.lock or pyproject.toml re-syncs .venv, and a target whose install is covered
# by the one present (run after test) syncs nothing.
LOCKSUM := $(shell cat uv.lock pyproject.toml | cksum | cut -d' ' -f1)
STAMP := $(VENV)/.installed-$(LOCKSUM)-dev
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
INSTANCE := $(DAGSTER_HOME)/dagster.yaml
LOG := $(DAGSTER_HOME)/make.log
# On failure: the log's errors and checks that did not pass, then its end, each line
# without the timestamp and run id that Dagster puts before it. $(1) is the log as a quoted
# shell word.
SHORTEN := sed -E 's/^[0-9-]+ [0-9:]+ [+-][0-9]{4} - dagster - ([A-Z]+) - [^ ]+ - [0-9a-f-]{36} - ([0-9]+ - )?/\1 /'
FAILED = { echo "$@ failed. Errors and checks that did not pass, from "$(1)":"; \
  grep -E ' - (ERROR|CRITICAL) - |did not pass' $(1) | $(SHORTEN) | tail -n 20; \
  echo "The end of "$(1)":"; tail -n 25 $(1) | $(SHORTEN); exit 1; }

.PHONY: install instance venv-run venv-serve venv-dev run test check ui serve bench lock clean uv

# The instance's settings live in instance/dagster.yaml; the copy follows every change to it
# (copied whenever the template is newer). A recipe, not a rule whose target is the copy:
# make splits a target's name at spaces, and DAGSTER_HOME may hold some.
install: venv-dev instance

instance:
	@mkdir -p $(call q,$(DAGSTER_HOME))
	@test $(call q,$(INSTANCE)) -nt instance/dagster.yaml || \
	  { echo "cp instance/dagster.yaml "$(call q,$(INSTANCE)); \
	    cp instance/dagster.yaml $(call q,$(INSTANCE)); }

# $(1): the install; $(2): the installs that cover it; $(3): what uv sync adds to the project's
# dependencies. --compile-bytecode: every dependency is compiled once here, so no `dagster`
# command compiles them again (where PYTHONDONTWRITEBYTECODE is set, each command would, for
# seconds). uv sync is exact: going down from dev to run removes the dev tools; nothing asks
# for that, since dev covers run. No $(MAKE) in it: `make -n` runs such lines.
define SYNC
@for have in $(2); do test -e $(VENV)/.installed-$(LOCKSUM)-$$have && exit 0; done; \
  echo "Installing the $(1) dependencies from uv.lock into .venv" && \
  echo "$(UV) sync --locked $(3) --compile-bytecode" && \
  $(UV) sync --locked $(3) --compile-bytecode || \
  { echo "If uv.lock is out of date with pyproject.toml, run: make lock"; exit 1; }; \
  rm -f $(VENV)/.installed-* && touch $(VENV)/.installed-$(LOCKSUM)-$(1)
endef

# The project's own modules compiled as well: uv installs the project editable, so its
# --compile-bytecode leaves them out, and where PYTHONDONTWRITEBYTECODE is set every `dagster`
# command compiled them again (0.2 s of an incremental week's 2.4 s). compileall skips what is
# up to date, and Python still compiles a module edited since in memory.
BYTECODE = @$(BIN)/python -m compileall -q assets_pkg bench tools

venv-run: uv
	$(call SYNC,run,run serve dev,)
	$(BYTECODE)

venv-serve: uv
	$(call SYNC,serve,serve dev,--extra deploy)
	$(BYTECODE)

venv-dev: uv
	$(call SYNC,dev,dev,--extra dev)
	$(BYTECODE)

# .venv with uv in it, at the pinned version: all the rest comes from uv.lock.
uv:
	@$(call q,$(PYTHON)) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed: run make with PYTHON=/path/to/python3.11")'
	@test -x $(BIN)/python || $(call q,$(PYTHON)) -m venv $(VENV)
	@test "$$($(BIN)/uv --version 2>/dev/null)" = "uv $(UV_VERSION)" || \
	  $(BIN)/python -m pip install --quiet --disable-pip-version-check 'uv==$(UV_VERSION)'

lock: uv
	$(UV) lock
	@$(MAKE) --no-print-directory install

# A run's progress on the terminal while its whole log goes to LOG: the run's and each step's
# start and end, and every line logged at INFO or above (the weekly step logs each week it
# reads), without the timestamp and run id. awk, for fflush(): each line shows as it comes.
PROGRESS := awk '{ line = $$0 } \
  match(line, / - (RUN_START|RUN_SUCCESS|RUN_FAILURE|STEP_START|STEP_SUCCESS|STEP_FAILURE) - /) \
    { print "  " substr(line, RSTART + RLENGTH); fflush(); next } \
  sub(/^[0-9-]+ [0-9:]+ [+-][0-9][0-9][0-9][0-9] - dagster - (INFO|WARNING|ERROR|CRITICAL) - [^ ]+ - [0-9a-f-]+ - /, "", line) \
    { print "  " line; fflush() }'
# `dg launch $(1)`, its output added to LOG (started afresh when $(2) is `new`), its progress
# shown, and on failure the log's errors. The launch's status travels through fd 3, out of
# the pipeline (sh has no pipefail).
LAUNCH = { status=$$( { { $(DG) launch $(1) 2>&1 3>&- 4>&-; echo $$? >&3; } | \
  tee $(if $(filter new,$(2)),,-a) $(call q,$(LOG)) | $(PROGRESS) >&4; } 3>&1 ); } 4>&1; \
  [ "$$status" = 0 ] || $(call FAILED,$(call q,$(LOG)))

# The range step prints its own one-sentence error: no log exists yet to show.
run: venv-run instance
	@range=$$($(BIN)/python -m assets_pkg.purchases.feed) || exit 1; \
	  echo "Observing purchase_feed first, so that a file that arrives after its week is built" \
	    "shows the week as changed upstream; log: "$(call q,$(LOG)) && \
	  $(call LAUNCH,--assets purchase_feed --partition "$${range%%...*}",new) && \
	  echo "Building every purchase asset for the weeks $$range in one run" && \
	  $(call LAUNCH,--assets 'raw_customers$(comma)products$(comma)$(WEEKLY)' --partition-range "$$range",add)
	@echo "Registering the signatures and publishing their dataset and trials ($(SIGNATURES))"
	@$(call LAUNCH,--assets '$(SIGNATURES)',add)
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

# The inner loop: what make test does but the tests marked slow (pytest -m 'not slow'; the
# README lists them) and the CLI smoke run. make test, before a commit, still runs all.
check: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -m 'not slow' $(PYTEST_ARGS) || { status=$$?; [ $$status -eq 5 ] && \
	  echo "pytest collected no test"; [ $$status -eq 5 ]; }

ui: venv-run instance
	$(DG) dev --host $(HOST) --port $(PORT)

# deploy/serve.py: its own instance (deploy/dagster.yaml in .dagster_serve/), settings from
# the environment (docs/operations.md).
# GRPC_PORT=... picks the code server's port (default: one of its own per checkout).
serve: venv-serve instance
	$(BIN)/python deploy/serve.py --workers $(WORKERS) --host $(HOST) --port $(PORT) \
	  $(if $(GRPC_PORT),--grpc-port $(GRPC_PORT)) $(if $(LOG_LEVEL),--log-level $(LOG_LEVEL))

bench: venv-serve instance
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
