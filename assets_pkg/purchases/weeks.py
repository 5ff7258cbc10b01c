"""Which week a purchase belongs to, and reading the feed one week at a time.

The event-time rule (docs/purchases.md): a purchase belongs to the week of its
`date_of_purchase`. A purchase in folder `d` is valid when its date is within
`tolerance_days` of `d`; so week W reads its own 7 folders plus `tolerance_days` folders on
each side, and keeps the valid purchases dated inside W. A purchase dated further from its
folder, or dated in a week that is not a partition (before PURCHASES_START_DATE's week, or
after PURCHASES_END_DATE's), is quarantined once, in the week of its folder. Each purchase is
therefore counted in exactly one week or quarantined in one, whichever weeks are run and in
whatever order.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import duckdb
import polars as pl

from assets_pkg.purchases import schemas
from assets_pkg.purchases.feed import (
    MAX_LINE_BYTES,
    DayFile,
    DayListing,
    Fingerprint,
    days_read_for_week,
    find_day_files,
    fingerprint,
    has_data,
    week_days,
)
from assets_pkg.purchases.parse import Parsed, parse_day_files, refused_rejects
from assets_pkg.shared.dates import WeekRange, key_of
from assets_pkg.shared.location import Location


class NoDataError(LookupError):
    """A week has none of its own day folders: its data has not arrived."""


def week_start(column: str) -> pl.Expr:
    """The Monday of the ISO week of a date or datetime column."""
    return pl.col(column).dt.truncate("1w").cast(pl.Date)


def outside(weeks: WeekRange, moment: pl.Expr) -> pl.Expr:
    """Whether a purchase at `moment` falls in no week of `weeks` (cheap: two comparisons,
    for every item)."""
    if weeks.end is None:
        return moment < weeks.start
    return (moment < weeks.start) | (moment >= weeks.end)


def why_outside(weeks: WeekRange, moment: pl.Expr) -> pl.Expr:
    """The reason for a purchase at `moment` that is `outside` the weeks (for those rows
    only)."""
    week = moment.dt.truncate("1w").dt.strftime("%Y-%m-%d")
    when = moment.dt.strftime("%Y-%m-%d %H:%M:%S")
    before = pl.format(
        "date_of_purchase {} falls in the week of {}, before the first week {} "
        "(PURCHASES_START_DATE)",
        when,
        week,
        pl.lit(key_of(weeks.first)),
    )
    after = pl.format(
        "date_of_purchase {} falls in the week of {}, after the last week {} (PURCHASES_END_DATE)",
        when,
        week,
        pl.lit(str(weeks.last)),
    )
    return pl.when(moment < weeks.start).then(before).otherwise(after)


def split_week(
    parsed: Parsed, week: dt.date, tolerance_days: int, weeks: WeekRange | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Items and rejects of the folders `days_read_for_week(week)` → (exploded, quarantine).

    exploded: the valid items dated inside `week`, schema `schemas.EXPLODED`.
    quarantine: rejects, out-of-tolerance items and items dated in a week outside `weeks` (the
    partitions; so that no week would ever count them) of the week's own folders, schema
    `schemas.QUARANTINE`.
    """
    own_days = pl.col("folder_day").is_between(week, week + dt.timedelta(days=6))
    distance = _distance()
    in_tolerance = distance.abs() <= tolerance_days
    items = parsed.items
    exploded = (
        items.filter(in_tolerance & (week_start("date_of_purchase") == week))
        .with_columns(week=pl.lit(week))
        .select(schemas.EXPLODED.names())
    )
    moment = pl.col("date_of_purchase")
    far = pl.format(
        "date_of_purchase {} is {} days from its folder d={} (tolerance {} days)",
        moment.dt.strftime("%Y-%m-%d %H:%M:%S"),
        distance.abs(),
        pl.col("folder_day").dt.strftime("%Y-%m-%d"),
        pl.lit(tolerance_days),
    )
    # The reasons are made for the few strays only, after the filter.
    strays = items.filter(own_days & is_stray(tolerance_days, weeks)).with_columns(
        reason=far
        if weeks is None
        else pl.when(~in_tolerance).then(far).otherwise(why_outside(weeks, moment))
    )
    stray_lines = strays.unique(["source_file", "line_number"], keep="first", maintain_order=True)
    # Their text comes from the bytes parsed (`Parsed.texts`): never read again.
    stray_rejects = stray_lines.join(
        parsed.texts.select("source_file", "line_number", "raw_text"),
        on=["source_file", "line_number"],
        how="left",
        maintain_order="left",
    ).select("source_file", "line_number", "raw_text", "reason", "folder_day")
    quarantine = (
        pl.concat([parsed.rejects.filter(own_days), stray_rejects])
        .sort(["source_file", "line_number"], maintain_order=True)
        .with_columns(week=pl.lit(week))
        .select(schemas.QUARANTINE.names())
    )
    return exploded, quarantine


def _distance() -> pl.Expr:
    """Calendar days from an item's folder to its date."""
    return (pl.col("date_of_purchase").cast(pl.Date) - pl.col("folder_day")).dt.total_days()


def is_stray(tolerance_days: int, weeks: WeekRange | None) -> pl.Expr:
    """Whether an item (schema `schemas.ITEMS`) is quarantined in the week of its folder: dated
    further from its folder than the tolerance, or in a week that is not a partition. It
    depends on the item alone, so the parse can keep those lines' text."""
    far = _distance().abs() > tolerance_days
    return far if weeks is None else far | outside(weeks, pl.col("date_of_purchase"))


@dataclass(frozen=True)
class WeekRead:
    week: dt.date
    exploded: pl.DataFrame
    quarantine: pl.DataFrame
    missing_days: list[dt.date]
    """Folders the week reads that do not exist (its own or the tolerance neighbours)."""
    files_read: int
    """Regular files parsed; refused entries are in the quarantine instead."""
    fingerprint: Fingerprint
    """What the week read: each file's stamp as it was read (`feed.fingerprint`), so that a
    file that changed during or after the build differs from it."""
    ignored: list[str] = field(default_factory=list)
    """Entries of the folders read that are not `*.json` parts (`DayListing.ignored`)."""


class WeekReader:
    """Reads weeks in ascending order, parsing each day file once.

    Neighbouring weeks share the tolerance folders: days already parsed and still needed by
    a later week are kept, older ones dropped, so memory holds about two weeks of data
    however long the range. While the caller splits and writes one week, a worker thread
    parses the next week of `weeks` (DuckDB and polars release the GIL, so the two cores
    both work).
    """

    def __init__(
        self,
        source_dir: Location,
        tolerance_days: int,
        weeks: Sequence[dt.date] = (),
        partitions: WeekRange | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
    ) -> None:
        self.source_dir = source_dir
        self.tolerance_days = tolerance_days
        self.partitions = partitions
        self.max_line_bytes = max_line_bytes
        self._next_week = dict(zip(sorted(weeks), sorted(weeks)[1:], strict=False))
        # The worker thread owns its DuckDB connection: it lives and dies with the thread.
        self._worker = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="parse-days", initializer=_open_connection
        )
        self._days: dict[dt.date, Future[dict[dt.date, Parsed]]] = {}
        self._day_listings: dict[dt.date, DayListing] = {}

    def __enter__(self) -> WeekReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)

    def read(self, week: dt.date) -> WeekRead:
        days = days_read_for_week(week, self.tolerance_days)
        listing = self._list(days)
        files = listing.files
        if not has_data(listing, week):
            raise NoDataError(
                f"No transactions for the week of {week}: none of its day folders exist ("
                + ", ".join(f"transactions/d={day}" for day in week_days(week))
                + f" under {self.source_dir}). The data has not arrived yet, or "
                "PURCHASES_SOURCE_DIR points at the wrong folder."
            )
        for day in [d for d in self._day_listings if d < days[0]]:
            del self._day_listings[day]
            self._days.pop(day, None)
        self._parse_soon(files)
        upcoming = self._next_week.get(week)
        if upcoming is not None:
            self._parse_soon(self._list(days_read_for_week(upcoming, self.tolerance_days)).files)
        parsed = Parsed.concat(
            [self._days[day].result()[day] for day in sorted({f.day for f in files})]
            + [refused_rejects(listing.refused)]
        )
        exploded, quarantine = split_week(parsed, week, self.tolerance_days, self.partitions)
        return WeekRead(
            week,
            exploded,
            quarantine,
            listing.missing,
            len(files),
            fingerprint(listing, parsed.read),
            listing.ignored,
        )

    def _list(self, days: Sequence[dt.date]) -> DayListing:
        """The listing of `days`. A day listed before keeps the entries it was listed, and
        parsed, with: what a week reports (files, fingerprint) is what its data was read from,
        even when a file arrived in a shared folder between two weeks of a range (the sensor
        then sees the change). The other days are listed now, each folder once per range."""
        new = [day for day in days if day not in self._day_listings]
        if new:
            fresh = find_day_files(self.source_dir, new)
            for day in new:
                self._day_listings[day] = fresh.of_day(day)
        return DayListing.joined(self._day_listings[day] for day in days)

    def _parse_soon(self, files: Sequence[DayFile]) -> None:
        new = [f for f in files if f.day not in self._days]
        if new:
            keep_text = is_stray(self.tolerance_days, self.partitions)
            batch = self._worker.submit(_parse_by_day, new, keep_text, self.max_line_bytes)
            for f in new:
                self._days[f.day] = batch


_worker_state = threading.local()


def _open_connection() -> None:
    _worker_state.connection = duckdb.connect()


def _parse_by_day(
    files: Sequence[DayFile], keep_text: pl.Expr, max_line_bytes: int
) -> dict[dt.date, Parsed]:
    parsed = parse_day_files(files, _worker_state.connection, keep_text, max_line_bytes)
    return {
        day: Parsed(
            items=parsed.items.filter(pl.col("folder_day") == day),
            rejects=parsed.rejects.filter(pl.col("folder_day") == day),
            texts=parsed.texts.filter(pl.col("folder_day") == day),
            read={f.source_file: parsed.read[f.source_file] for f in files if f.day == day},
        )
        for day in {f.day for f in files}
    }
