"""Benchmark of the weekly purchase counts: Dagster against DuckDB on the same files.

    .venv/bin/python -m bench.purchases [--scale large|medium|small] [--repeats 3]

Generates the dataset once with the project's generator (cached under
``.bench/data/<parameters>/``), then, in each repeat and alternating:

(a)  the full single-run backfill through the Dagster CLI, start to finish: every purchase
     asset (``raw_customers``, ``products`` and the weekly ones), every week, in one
     ``--partition-range`` run;
(c)  the same job as one DuckDB SQL script (``bench/purchases/duckdb_weekly_counts.sql``) in a
     fresh process;
(d)  the DuckDB scan floor: read every JSON line and count the basket items;
(f)  Dagster's floor: one trivial asset (``floor_definitions``) through the same CLI, in a
     fresh instance after one untimed warm-up run, just before (b); and (f*), the same floor
     frozen once loaded as the project's definitions are (``-a frozen_defs``);
(b)  one incremental week through Dagster at full history (the last week again, same
     warehouse);
(a') the backfill over the first half of the weeks only (52 of 104 at large scale), to
     show that peak memory does not grow with history;
(b') one incremental week when history holds 4 weeks (source and warehouse);
density  the full backfill of three weeks at 1x, 3x and 10x the scale's customers (peak
     memory, compute per GB);

and, for the cost curve (``--curve``, by default small and medium when the main scale is
large), (a) and (c) again at each of those scales. After the repeats, once, ``scale_out``:
one backfill on the production topology (``make serve``) with 1 and then 2 Celery workers.

The modules, one concern each: ``dataset`` (scales, the generated source, a short history),
``measure`` (running one command: wall time, process-tree memory), ``dagster_runs`` (a fresh
instance, the CLI runs, step durations from the event log), ``duckdb_runs`` (the DuckDB job
and scan floor), ``compare`` (the row-for-row agreement of (a) and (c)), ``summary`` (medians
over the repeats), ``report`` (the markdown), ``machine`` (facts about this machine),
``runner`` (the repeats, in order), ``scale_out`` (the backfill on the production topology),
``floor_definitions`` (the trivial asset of (f)) and ``__main__`` (the command line). The
medians go to stdout and ``.bench/results-<scale>.md``.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository: every command runs here."""
BENCH_DIR = ROOT / ".bench"
"""Where the bench keeps its data, its runs and its results (ignored by git)."""
FLOOR_MODULE = "bench.purchases.floor_definitions"
"""(f)'s definitions, imported by the CLI from the repository (every command's working
directory); named here so that the bench does not import Dagster to name them."""
FLOOR_ASSET = "bench_floor"
