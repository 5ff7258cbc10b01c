"""(s): the project's own work for a range of weeks, in a plain loop, without Dagster.

The same-work comparison for the backfill: what (a) does, done by the simplest script that
calls the project's pure core directly. It reads the catalog (`catalog.read_customers`,
`catalog.read_products`), then for each week reads the feed with `weeks.WeekReader` (the
same parse, rule book, event-time split and quarantine, the next week parsed ahead in its
worker thread), counts the week (`counts.count_week`) in a second worker thread while the
main thread writes, reconciles the counts with the items and the catalog
(`counts.reconcile_week`, on the frames in memory) and writes the week's three tables in the
warehouse's layout with its Parquet options (`shared.layout`), one file each, atomically.

What it leaves out is what Dagster adds: the run and its events (materialisations, checks,
observations), the definitions, the IO manager's per-week metadata and previews, reading
the catalog back from the warehouse, and the three steps running one after the other. So
(a) - (s) is what Dagster and the project's Dagster layer cost, and (s) / (c) is the best
a/c any orchestration of the project's core could reach on this machine.

Run in a fresh Python process, as (c) and (e) are::

    python -m bench.purchases.same_work SOURCE OUT FIRST_WEEK LAST_WEEK TOLERANCE_DAYS \
        [--one-at-a-time]
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import polars as pl
from upath import UPath

from assets_pkg.purchases import catalog, counts
from assets_pkg.purchases.weeks import WeekReader
from assets_pkg.shared.atomic import atomic_path
from assets_pkg.shared.dates import WEEK, WeekRange, key_of
from assets_pkg.shared.layout import COMPRESSION, stored_file
from assets_pkg.shared.location import Location
from assets_pkg.shared.storage import local_path
from bench.purchases.measure import Measurement, measure


def write(frame: pl.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as part:
        frame.write_parquet(part, **COMPRESSION)


def run_weeks(
    source: Path, out: Path, first: dt.date, last: dt.date, tolerance: int, one_at_a_time: bool
) -> int:
    """Every week from `first` to `last` (Mondays) of `source` into `out`; the week count.

    `one_at_a_time`: each week counted only after it is written and before the next one is
    read, never beside another week: the memory the core needs for one week, for the
    density part's comparison (the reader still parses ahead of a small week, as in (a))."""
    customers = catalog.read_customers(source / "customers.csv")
    products = catalog.read_products(source / "products.csv")
    write(customers, _file(out, "raw_customers"))
    write(products, _file(out, "products"))
    weeks = [first + n * WEEK for n in range((last - first) // WEEK + 1)]
    partitions = WeekRange(first)  # open, as (a)'s partitions without PURCHASES_END_DATE
    failed: list[str] = []
    with (
        WeekReader(Location.of(source), tolerance, weeks, partitions=partitions) as reader,
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="count-weeks") as counter,
    ):
        pending: Future[tuple[counts.CountedWeek, counts.Reconciliation]] | None = None
        pending_key = ""
        for week in weeks:
            read = reader.read(week)
            key, exploded = key_of(week), read.exploded
            counting = (
                None
                if one_at_a_time
                else counter.submit(_count, exploded, customers, products, week)
            )
            write(exploded, _file(out, "exploded_transactions", key))
            write(read.quarantine, _file(out, "transaction_quarantine", key))
            del read  # the quarantine and the rest of the read, gone before the count
            if counting is None:  # counted after its writes, never beside another week
                _finish(_count(exploded, customers, products, week), out, key, failed)
                continue
            if pending is not None:
                _finish(pending.result(), out, pending_key, failed)
            pending, pending_key = counting, key
        if pending is not None:
            _finish(pending.result(), out, pending_key, failed)
    if failed:
        raise SystemExit(f"counts do not reconcile for week(s) {', '.join(failed)}")
    return len(weeks)


def _count(
    exploded: pl.DataFrame, customers: pl.DataFrame, products: pl.DataFrame, week: dt.date
) -> tuple[counts.CountedWeek, counts.Reconciliation]:
    counted = counts.count_week(exploded.lazy(), customers, products, week)
    found = counts.reconcile_week(counted.counts.lazy(), exploded.lazy(), customers)
    return counted, found


def _finish(
    done: tuple[counts.CountedWeek, counts.Reconciliation], out: Path, key: str, failed: list[str]
) -> None:
    counted, found = done
    write(counted.counts.drop("week"), _file(out, "weekly_purchase_counts", key))
    if not found.passed:
        failed.append(key)


def _file(out: Path, asset: str, key: str | None = None) -> Path:
    """Where the IO manager would store `asset` (of the week `key`) under `out`."""
    return local_path(stored_file(UPath(out) / asset, key))


def run_same_work(
    source: Path,
    out: Path,
    first: str,
    last: str,
    tolerance: int,
    log: Path,
    say: Callable[[str], None],
    one_at_a_time: bool = False,
) -> Measurement:
    """(s) for `source`, weeks first..last, in a fresh Python process under `measure`."""
    command = [sys.executable, "-m", __name__, str(source), str(out), first, last, str(tolerance)]
    if one_at_a_time:
        command.append(ONE_AT_A_TIME)
    return measure(command, os.environ, log, say)


def run_bare_interpreter(log: Path, say: Callable[[str], None]) -> Measurement:
    """(p), the floor of (s) for one week: the same interpreter started and stopped with
    nothing to do, so that (s1) - (p) is what the week itself costs outside Dagster."""
    return measure([sys.executable, "-c", "pass"], os.environ, log, say)


ONE_AT_A_TIME = "--one-at-a-time"


def main(argv: list[str]) -> None:
    one_at_a_time = ONE_AT_A_TIME in argv
    source, out, first, last, tolerance = [word for word in argv if word != ONE_AT_A_TIME]
    weeks = run_weeks(
        Path(source),
        Path(out),
        dt.date.fromisoformat(first),
        dt.date.fromisoformat(last),
        int(tolerance),
        one_at_a_time,
    )
    print(f"{weeks} weeks written under {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
