"""Dagster's floor (f): one trivial asset, materialised through the same CLI as (b).

``dagster asset materialize -m bench.purchases.floor_definitions --select bench_floor`` costs
what any one-step run costs on this machine (Python and Dagster start-up, loading a code
location, the run's storage in a fresh SQLite instance) and nothing else: (b) - (f) is what
one incremental week costs beyond that floor. It runs in process, as the project's own
definitions do by default (``assets_pkg.defs.executors``, ``DAGSTER_EXECUTOR`` unset), and
imports nothing from ``assets_pkg``.

``frozen_defs`` (f*, ``-a frozen_defs``) is the same floor loaded the way
``assets_pkg.definitions`` loads the project: ending with ``gc.freeze()``, which spares the
process the garbage collector's walk over everything loaded, above all at exit. b - f* is
thus what the week costs beyond Dagster on equal terms; b - f includes that saving.
"""

from __future__ import annotations

import gc

import dagster as dg

from bench.purchases import FLOOR_ASSET


@dg.asset(name=FLOOR_ASSET)
def bench_floor() -> int:
    """A tiny value, stored by Dagster's default IO manager."""
    return 1


defs = dg.Definitions(assets=[bench_floor], executor=dg.in_process_executor)


@dg.definitions
def frozen_defs() -> dg.Definitions:
    """(f*): the floor, frozen once loaded as the project's definitions are."""
    if gc.get_freeze_count() == 0:
        gc.freeze()
    return defs
