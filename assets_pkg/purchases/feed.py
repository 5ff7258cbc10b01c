"""The transaction feed on disk: one folder per calendar day, and which days a week reads.

    <source>/transactions/d=YYYY-MM-DD/transactions.json

A folder may hold several `*.json` parts; they are read in name order. A day whose folder
is absent (or holds no `*.json` file) is *missing*.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, order=True)
class DayFile:
    """One JSON Lines file of the feed, with the day its folder names."""

    day: dt.date
    path: Path
    source_file: str
    """Path relative to the source folder, as recorded in provenance columns."""


def day_folder(source_dir: Path, day: dt.date) -> Path:
    return source_dir / "transactions" / f"d={day.isoformat()}"


def find_day_files(
    source_dir: Path, days: Iterable[dt.date]
) -> tuple[list[DayFile], list[dt.date]]:
    """The files of `days` in day order, and the days that have none."""
    files: list[DayFile] = []
    missing: list[dt.date] = []
    for day in sorted(days):
        parts = sorted(day_folder(source_dir, day).glob("*.json"))
        if not parts:
            missing.append(day)
        files.extend(DayFile(day, part, part.relative_to(source_dir).as_posix()) for part in parts)
    return files, missing


def week_days(week: dt.date) -> list[dt.date]:
    """The 7 days of the week starting Monday `week`."""
    return [week + i * ONE_DAY for i in range(7)]


def weeks_without_data(source_dir: Path, weeks: Iterable[dt.date]) -> list[dt.date]:
    """The weeks none of whose own 7 day folders holds a file: their data has not arrived."""
    return [w for w in weeks if not find_day_files(source_dir, week_days(w))[0]]


def days_read_for_week(week: dt.date, tolerance_days: int) -> list[dt.date]:
    """A week's own 7 folders plus `tolerance_days` folders on each side.

    A purchase may sit in a folder up to `tolerance_days` away from its date, so these are
    all the folders that can hold a purchase dated inside the week.
    """
    first = week - tolerance_days * ONE_DAY
    return [first + i * ONE_DAY for i in range(7 + 2 * tolerance_days)]


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def weeks_with_data(source_dir: Path, first_week: dt.date | None = None) -> list[dt.date]:
    """Mondays (from `first_week` on) of the weeks that have at least one day folder.

    Folders whose name is not `d=YYYY-MM-DD` are not day folders and are passed over.
    """
    days = sorted(
        day
        for folder in (source_dir / "transactions").glob("d=*")
        if folder.is_dir() and (day := _folder_day(folder.name)) is not None
    )
    today = dt.datetime.now(dt.UTC).date()
    weeks = sorted({monday_of(day) for day in days})
    # Only weeks that have ended are partitions (the weekly partitions use end_offset=0).
    return [
        w for w in weeks if (first_week is None or w >= first_week) and w + 7 * ONE_DAY <= today
    ]


def _folder_day(name: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(name.removeprefix("d="))
    except ValueError:
        return None


def main(argv: list[str] | None = None) -> int:
    """Print the partition range of the weeks the feed holds, e.g. `2024-01-01...2024-03-04`.

    `make run` passes it to `dagster asset materialize --partition-range`.
    """
    import argparse

    from assets_pkg.shared.settings import Settings, parse_monday

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.parse_args(argv)
    settings = Settings.from_env()
    start = parse_monday(settings.purchases_start_date, "PURCHASES_START_DATE")
    weeks = weeks_with_data(Path(settings.purchases_source_dir), start)
    if not weeks:
        raise SystemExit(
            f"No day folders from {start} on under {settings.purchases_source_dir}/transactions: "
            "check PURCHASES_SOURCE_DIR and PURCHASES_START_DATE."
        )
    print(f"{weeks[0]}...{weeks[-1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
