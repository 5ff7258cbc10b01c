"""Purchase counts for any range of weeks, as sums of the weekly partitions.

    python -m assets_pkg.purchases.period 2024-01-01 2024-02-26 [--out counts.parquet]

prints (or writes) one row per customer and product bought in the weeks from the first
week to the last week inclusive, and one row with product null and count 0 for each
customer who bought nothing in them. A week is named by any date inside it (its Monday, or
any other day: 2024-01-03 is the week of Monday 2024-01-01), as the settings take them.
Reads `weekly_purchase_counts` from WAREHOUSE_DIR; the weeks must have been materialised,
and when some are not, the error gives the `dg launch` command that builds them (with the
PURCHASES_START_DATE / PURCHASES_END_DATE that make them partitions, when they lie outside).

`--out` is written atomically (a temporary file beside it, renamed over it once whole): a
full disk or a folder that cannot be written leaves no partial file and is one sentence
naming the file. It may not lie inside the warehouse this tool reads, whatever path leads
there (`..`, a symlink, a `file://` URL).
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
from assets_pkg.shared.atomic import WriteError, atomic_path
from assets_pkg.shared.cli import run_cli
from assets_pkg.shared.dates import WeekRange, key_of, monday_of
from assets_pkg.shared.layout import DamagedFileError, again_phrase, scan_stored, stored_file
from assets_pkg.shared.settings import Settings, check_reachable, parse_date

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


def counts_between(
    warehouse_dir: str,
    first_week: dt.date,
    last_week: dt.date,
    partitions: WeekRange | None = None,
) -> pl.DataFrame:
    """Counts summed over the weeks holding `first_week`..`last_week` (any day of each week;
    inclusive). `partitions` are the weekly partitions of the settings in use
    (`Settings.weeks`): a missing week outside them is suggested with the settings that make
    it one."""
    first_week, last_week = monday_of(first_week), monday_of(last_week)
    if last_week < first_week:
        raise PeriodError(f"The last week {last_week} comes before the first week {first_week}.")
    weeks = [
        first_week + dt.timedelta(weeks=i) for i in range((last_week - first_week).days // 7 + 1)
    ]
    root = storage.upath(warehouse_dir) / ASSET
    paths = {week: stored_file(root, key_of(week)) for week in weeks}
    missing = [week for week, path in paths.items() if not path.exists()]
    if missing:
        shown = ", ".join(str(w) for w in missing[:10])
        raise MissingWeeksError(
            f"{len(missing)} week(s) of {ASSET} are not in {warehouse_dir}: {shown}. "
            + build_advice(warehouse_dir, missing[0], missing[-1], partitions)
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


def build_advice(
    warehouse_dir: str,
    first: dt.date,
    last: dt.date,
    partitions: WeekRange | None,
    today: dt.date | None = None,
) -> str:
    """What to run to materialise the weeks `first`..`last` (Mondays), as one sentence: the
    `dg launch` command, with the settings that make them weekly partitions when they lie
    outside `partitions`; or why no command can build them yet (a week not ended)."""
    last_ended = monday_of(today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(weeks=1)
    if last > last_ended:
        return (
            f"The week of {last} has not ended yet (the last week that has is {last_ended}): "
            "ask for it once it has ended and been materialised."
        )
    settings = [f"WAREHOUSE_DIR={shlex.quote(warehouse_dir)}"]
    if partitions is not None:
        if first < partitions.first:
            settings.append(f"PURCHASES_START_DATE={first}")
        if partitions.last is not None and last > partitions.last:
            settings.append(f"PURCHASES_END_DATE={last}")
    widen = (
        " (the weeks lie outside the weekly partitions, so the command widens them)"
        if len(settings) > 1
        else ""
    )
    weeks = f"--partition {first}" if first == last else f"--partition-range {first}...{last}"
    return (
        f"Materialise them first, from the project's folder with .venv active{widen}: "
        f"{' '.join(settings)} dg launch --assets {BUILD} {weeks}"
    )


def _week(path: UPath, week: dt.date) -> pl.LazyFrame:
    """One week's stored counts, refused in one sentence when the file is not what the
    asset writes (damaged, a folder, another table's file)."""
    again = again_phrase(ASSET, key_of(week))
    try:
        frame = scan_stored(path, again)
    except DamagedFileError as error:
        raise PeriodError(str(error)) from None
    schema = frame.collect_schema()
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
    parser.add_argument("first_week", help="any date of the first week, YYYY-MM-DD")
    parser.add_argument("last_week", help="any date of the last week, YYYY-MM-DD (inclusive)")
    parser.add_argument("--out", help="write a local .parquet or .csv instead of printing")
    parser.add_argument("--warehouse", help="default: WAREHOUSE_DIR or data/warehouse")
    args = parser.parse_args(argv)
    first = _week_of(args.first_week, "first_week")
    last = _week_of(args.last_week, "last_week")
    setting = "--warehouse" if args.warehouse else "WAREHOUSE_DIR"
    settings = Settings.from_env()
    warehouse = args.warehouse or settings.warehouse_dir
    out = None if args.out is None else _check_out(args.out, warehouse, setting)
    check_reachable(warehouse, setting)
    result = counts_between(warehouse, first, last, settings.weeks)
    if out is None:
        with pl.Config(tbl_rows=40, tbl_cols=-1):
            print(result)
        return 0
    _write(result, out, args.out, warehouse, setting)
    print(f"{result.height} rows written to {out}", file=sys.stderr)
    return 0


def _week_of(text: str, name: str) -> dt.date:
    """The Monday of the week holding the date `text`; said on stderr when it is another day."""
    day = parse_date(text, name)
    monday = monday_of(day)
    if monday != day:
        print(f"{name} {day} is in the week of Monday {monday}.", file=sys.stderr)
    return monday


def _write(result: pl.DataFrame, out: Path, given: str, warehouse: str, setting: str) -> None:
    """`result` into `out` atomically; an existing symlink is followed (the file it leads to
    is replaced, the link stays). Where `out` leads is checked again once the file is
    written, just before it is renamed into place: a folder of its path swapped for a link
    into the warehouse while the weeks were read is refused then."""
    target = out.resolve() if out.is_symlink() else out
    try:
        with atomic_path(target) as part:
            if out.suffix == ".csv":
                result.write_csv(part)
            else:
                result.write_parquet(part)
            _refuse_inside(given, out, warehouse, setting)
    except WriteError as error:
        raise PeriodError(
            f"--out {given} cannot be written ({error.reason}); nothing was written to it."
        ) from None


def _check_out(given: str, warehouse: str, setting: str) -> Path:
    """Before any work: --out names a local .parquet or .csv file in a folder that exists,
    outside the warehouse; returns its path."""
    if not storage.is_local(given):
        raise PeriodError(f"--out must name a local file, got the URL {given}.")
    out = storage.local_folder(given)  # a path, or a file:// URL's path
    _refuse_inside(given, out, warehouse, setting)
    if out.suffix not in (".parquet", ".csv"):
        raise PeriodError(f"--out must name a .parquet or .csv file, got {out}.")
    if not out.parent.exists():
        raise PeriodError(f"--out {out}: the folder {out.parent} does not exist; create it first.")
    if not out.parent.is_dir():
        raise PeriodError(f"--out {out}: {out.parent} is a file, not a folder.")
    if out.is_dir():
        raise PeriodError(f"--out {out} is a folder: name a file inside it.")
    if out.exists() and not out.is_file():
        # A rename would put a regular file in place of a FIFO's reader or a device.
        raise PeriodError(
            f"--out {given} is not a regular file (a pipe, a socket or a device): name a file "
            "to create or replace, or leave --out out to print the counts."
        )
    return out


def _refuse_inside(given: str, out: Path, warehouse: str, setting: str) -> None:
    if storage.is_inside(out, warehouse):
        raise PeriodError(
            f"--out {given} lies inside the warehouse {warehouse} ({setting}) that this tool "
            "reads, where it would replace or add a table's file: name a file outside it."
        )


def cli(argv: list[str] | None = None) -> NoReturn:
    """The command line: a mistake is one sentence on stderr and exit status 2."""
    run_cli(functools.partial(main, argv), user_errors=(PeriodError,))


if __name__ == "__main__":
    cli()
