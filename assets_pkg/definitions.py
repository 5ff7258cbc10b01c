"""The one code location: the defs folder (`assets_pkg/defs/`, loaded the `dg` way) merged
with what the settings build: both domains' weekly partitions and resources, the Parquet IO
manager, the executor.

Settings are read from the environment when Dagster loads this location (not at import),
so `dagster`, `dagster dev` and the tests all build the same definitions; tests call
`build_definitions(Settings(...))` with their own folders. A variable a resource takes is
given to it as `dg.EnvVar` when it is set (`Settings.environment`): the web UI shows its
name, and its value is read and checked when a run starts. Loading checks the values
without touching storage; the resources probe the storage when a run uses it.
"""

from __future__ import annotations

import functools
import gc
from pathlib import Path

import dagster as dg

from assets_pkg import purchases, signatures
from assets_pkg.defs.executors import build_executor
from assets_pkg.defs.io_manager import ParquetIOManager
from assets_pkg.defs.partitions import explain_cli_partition_errors, weekly_partitions
from assets_pkg.defs.purchases.build import build_defs as build_purchases
from assets_pkg.defs.resource_checks import SettingError, env_or
from assets_pkg.defs.retries import stranded_retries_sensor
from assets_pkg.defs.signatures.build import build_defs as build_signatures
from assets_pkg.shared.settings import ConfigurationError, Settings
from assets_pkg.signatures.engines import check_database_url
from assets_pkg.signatures.errors import StoreError

__all__ = ["build_definitions", "defs", "purchases", "signatures"]

# Everything imported so far (Dagster, polars, DuckDB, every module of the project) lives as
# long as the process. Frozen, it is left out of every later garbage collection: building
# the definitions below no longer sets off a full collection that walks it all (0.1 s), and
# `defs()` freezes what the build adds. One incremental week through the CLI: 0.20-0.27 s
# less (docs/performance.md, "The exit and gc.freeze()").
gc.freeze()


def build_definitions(settings: Settings) -> dg.Definitions:
    shared = dg.Definitions(
        resources={
            "io_manager": ParquetIOManager(
                base_dir=env_or(settings, "WAREHOUSE_DIR", settings.warehouse_dir)
            )
        },
        # In-process unless DAGSTER_EXECUTOR=celery (the production profile in deploy/).
        executor=build_executor(settings),
        # Ends a backfill's wait for a retry the retry daemon passed by (defs/retries.py).
        sensors=[stranded_retries_sensor],
    )
    return dg.Definitions.merge(
        defs_folder(), shared, build_purchases(settings), build_signatures(settings)
    )


@functools.cache
def defs_folder() -> dg.Definitions:
    """Whatever the modules of `assets_pkg/defs/` define at module level (the folder
    `[tool.dg.project] defs_module` names, where `dg scaffold defs` writes). An object the
    settings-built definitions hold too is the same object, and Dagster keeps it once.

    Loaded once per process: it depends on no setting, and one `dagster` command builds the
    definitions about six times (0.26 s each to walk and load the folder, 1.5 s in all for a
    one-week run). A new module in the folder is seen by the next process, as a code
    location's reload starts one."""
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)


@dg.definitions
def defs() -> dg.Definitions:
    try:
        settings = Settings.from_env()
        # Every value checked, nothing written: the storage is probed when a run uses it
        # (the resources' setup, the IO manager's creation; docs/decisions.md).
        settings.check_values()
        check_database_url(settings.signatures_db_url)
        # The resources' own validators apply the same rules (resource_checks.py).
        definitions = build_definitions(settings)
    except (ConfigurationError, SettingError, StoreError) as error:
        # A user's setting, not a bug: one sentence and a failing exit, no traceback.
        raise SystemExit(f"Configuration error: {error}") from None
    # Dagster's CLI refuses a week that is not a partition with a traceback: one sentence
    # instead, the one a run would give (partitions.py).
    explain_cli_partition_errors(weekly_partitions(settings.weeks))
    _freeze_first_build()
    return definitions


@functools.cache
def _freeze_first_build() -> None:
    """What the process's first build of the definitions made lives as long as the process
    too: frozen with the rest, it is left out of the collection Python makes at exit, which
    otherwise walks and frees it all (about 0.6 s of every `dagster` command,
    docs/performance.md). Once per process: a long-lived one (a Celery worker) that loads the
    location again must not freeze the garbage of the work it did in between."""
    gc.freeze()
