"""Purchase counts for any range of weeks, as sums of the weekly partitions.

    python -m assets_pkg.purchases.period 2024-01-01 2024-02-26 [--out counts.parquet]

prints (or writes) one row per customer and product bought in the weeks from the first
Monday to the last Monday inclusive, and one row with product null and count 0 for each
customer who bought nothing in them. Reads `weekly_purchase_counts` from WAREHOUSE_DIR; the
weeks must have been materialised.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import shlex
import sys
from pathlib import Path
from typing import NoReturn

import polars as pl
from upath import UPath

from assets_pkg.purchases import schemas
from assets_pkg.purchases.counts import period_counts
from assets_pkg.shared import storage
from assets_pkg.shared.cli import run_cli
from assets_pkg.shared.io_manager import stored_file
from assets_pkg.shared.settings import Settings, check_reachable, parse_monday

ASSET = "weekly_purchase_counts"
BUILD = "raw_customers,products,exploded_transactions,transaction_quarantine," + ASSET
"""What a run must select to build weeks of ASSET from the source alone, as `make run` does."""
STORED = pl.Schema({name: dtype for name, dtype in schemas.COUNTS.items() if name != "week"})
"""A week's file as the IO manager writes it: the week is in its folder's name."""


class PeriodError(ValueError):
    """The range of weeks cannot be summed (it is inverted, or some weeks are not built), or
    the result cannot be written where --out says."""


class MissingWeeksError(PeriodError, LookupError):
    """Some weeks of the range have not been materialised."""


def counts_between(warehouse_dir: str, first_week: dt.date, last_week: dt.date) -> pl.DataFrame:
    """Counts summed over the weeks `first_week`..`last_week` (Mondays, inclusive)."""
    if last_week < first_week:
        raise PeriodError(f"The last week {last_week} comes before the first week {first_week}.")
    weeks = [
        first_week + dt.timedelta(weeks=i) for i in range((last_week - first_week).days // 7 + 1)
    ]
    root = storage.upath(warehouse_dir) / ASSET
    paths = {week: stored_file(root, week.isoformat()) for week in weeks}
    missing = [week for week, path in paths.items() if not path.exists()]
    if missing:
        shown = ", ".join(str(w) for w in missing[:10])
        raise MissingWeeksError(
            f"{len(missing)} week(s) of {ASSET} are not in {warehouse_dir}: {shown}. "
            f"Materialise them first: WAREHOUSE_DIR={shlex.quote(warehouse_dir)} dagster asset "
            f"materialize -m assets_pkg.definitions --select {BUILD} --partition-range "
            f"{missing[0]}...{missing[-1]}"
        )
    weekly = pl.concat([_week(path, week) for week, path in paths.items()])
    try:
        return (
            period_counts(weekly)
            .select(
                pl.lit(first_week).alias("first_week"),
                pl.lit(last_week).alias("last_week"),
                pl.all(),
            )
            .collect()
        )
    except (pl.exceptions.PolarsError, OSError) as error:
        raise PeriodError(
            f"The weeks {first_week}...{last_week} of {ASSET} in {warehouse_dir} cannot be "
            f"read ({storage.first_line(error)}): materialise them again."
        ) from None


def _week(path: UPath, week: dt.date) -> pl.LazyFrame:
    """One week's stored counts, refused in one sentence when the file is not what the
    asset writes (damaged, a folder, another table's file)."""
    again = f"materialise the week {week} of {ASSET} again"
    if not path.is_file():
        raise PeriodError(f"{path} is not a file: remove it and {again}.")
    try:
        frame = storage.scan_parquet(path)
        schema = frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise PeriodError(
            f"{path} is not a readable Parquet file ({storage.first_line(error)}): {again}."
        ) from None
    if schema != STORED:
        raise PeriodError(
            f"{path} does not hold {ASSET} (its columns are {', '.join(schema.names())}): {again}."
        )
    return frame.with_columns(week=pl.lit(week))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m assets_pkg.purchases.period",
        description="Purchase counts for a range of weeks (sums of weekly_purchase_counts).",
    )
    parser.add_argument("first_week", help="the first Monday, YYYY-MM-DD")
    parser.add_argument("last_week", help="the last Monday, YYYY-MM-DD (inclusive)")
    parser.add_argument("--out", help="write a local .parquet or .csv instead of printing")
    parser.add_argument("--warehouse", help="default: WAREHOUSE_DIR or data/warehouse")
    args = parser.parse_args(argv)
    first = parse_monday(args.first_week, "first_week")
    last = parse_monday(args.last_week, "last_week")
    if args.out is not None:
        if not storage.is_local(args.out):
            raise PeriodError(f"--out must name a local file, got the URL {args.out}.")
        args.out = storage.local_folder(args.out)  # a path, or a file:// URL's path
        _check_out(args.out)
    warehouse = args.warehouse or Settings.from_env().warehouse_dir
    check_reachable(warehouse, "--warehouse" if args.warehouse else "WAREHOUSE_DIR")
    result = counts_between(warehouse, first, last)
    if args.out is None:
        with pl.Config(tbl_rows=40, tbl_cols=-1):
            print(result)
    else:
        try:
            if args.out.suffix == ".csv":
                result.write_csv(args.out)
            else:
                result.write_parquet(args.out)
        except OSError as error:
            raise PeriodError(
                f"--out {args.out} cannot be written ({error.strerror or error})."
            ) from None
    if args.out is not None:
        print(f"{result.height} rows written to {args.out}", file=sys.stderr)
    return 0


def _check_out(out: Path) -> None:
    """Before any work: --out names a local .parquet or .csv file in a folder that exists."""
    if out.suffix not in (".parquet", ".csv"):
        raise PeriodError(f"--out must name a .parquet or .csv file, got {out}.")
    if not out.parent.exists():
        raise PeriodError(f"--out {out}: the folder {out.parent} does not exist; create it first.")
    if not out.parent.is_dir():
        raise PeriodError(f"--out {out}: {out.parent} is a file, not a folder.")
    if out.is_dir():
        raise PeriodError(f"--out {out} is a folder: name a file inside it.")


def cli(argv: list[str] | None = None) -> NoReturn:
    """The command line: a mistake is one sentence on stderr and exit status 2."""
    run_cli(functools.partial(main, argv), user_errors=(PeriodError,))


if __name__ == "__main__":
    cli()
