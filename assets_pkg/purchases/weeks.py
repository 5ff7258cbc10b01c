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

import dataclasses
import datetime as dt
import shutil
import tempfile
import threading
import uuid
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from assets_pkg.purchases import schemas
from assets_pkg.purchases.feed import (
    MAX_LINE_BYTES,
    ONE_DAY,
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
from assets_pkg.shared.storage import local_path


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
    """The week's items; empty when they were read as a stream (`WeekReader.stream`)."""
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
    items: int = 0
    """The week's basket items: the rows of `exploded`, or of the stream's parts."""


class WeekStream:
    """One week read as a stream: iterating gives its items a slice at a time, in the order
    `WeekReader.read` concatenates them, so the week is never in memory whole; once they have
    all come, `read` holds the rest of the week (its quarantine, fingerprint, files).

    Iterate it once; the reader reads no other week until it has been."""

    def __init__(self, parts: Generator[pl.DataFrame, None, WeekRead]) -> None:
        self._parts = parts
        self._read: WeekRead | None = None

    def __iter__(self) -> Iterator[pl.DataFrame]:
        self._read = yield from self._parts

    @property
    def read(self) -> WeekRead:
        if self._read is None:
            raise RuntimeError("the week's items have not all been read yet")
        return self._read


SLICE_BYTES = 4 * 2**20
"""How many bytes of a large week's feed a reader parses at once: day files together up to
this size, a longer file in pieces of this size (`parse.parse_day_files`). Parsing takes about
twelve times the bytes parsed; docs/performance.md has the measurements behind the value."""

AHEAD_BYTES = 16 * 2**20
"""A week whose day files hold at most this many bytes (a week of the sample feed at its
density holds about 11 MB) is small: it is parsed as one unit, one slice, and the next small
week is parsed beside it by the other worker while the caller writes it. A slice has a fixed
cost (a DuckDB query, a polars plan, a split): the bench's large feed read 104 weeks in
8.3 s and 14.4 CPU s this way, against 10.6 s and 17.3 CPU s in slices of `SLICE_BYTES`,
for about 55 MiB more at its peak just under this size (docs/performance.md). A larger week
is parsed in slices of `SLICE_BYTES`, a unit ahead, when it is asked for."""


PARSE_WORKERS = 2
"""Units parsed at once, each by a thread with its own DuckDB connection: a small week's and
the next small week's, or a large week's unit and the one after it. Two read 26 weeks of the
bench's large feed in 4.7-4.9 s against 6.0-6.3 s for one (docs/performance.md)."""


@dataclass(frozen=True)
class _Carry:
    """What the day folders parsed so far hold for the weeks after `week`: their items dated
    in those weeks, and everything of their folders in those weeks (rejects, far items and
    their text), so that the next week parses none of `days` again."""

    week: dt.date | None = None
    parsed: Parsed = field(default_factory=lambda: Parsed.concat([]))
    days: frozenset[dt.date] = frozenset()


class WeekReader:
    """Reads weeks in ascending order, parsing each day file once, a slice at a time.

    A small week's day files (at most `ahead_bytes`) are parsed as one unit; a larger
    week's in units of about `slice_bytes` (a longer file in pieces). Each unit is split at
    once, by the worker that parsed it, into the week's items, its
    quarantine and what later weeks need of it (`_split`; the caller's thread only gathers
    the parts): the raw bytes of a unit are released before the next unit is read, so
    memory holds the week's items, one slice being parsed, and the few items of the
    tolerance folders that belong to the next week (`_Carry`), however dense the week.
    `stream` hands each unit's items on as soon as it is split, so that a caller writing
    them holds not even the week's items whole.

    Neighbouring weeks share the tolerance folders: their items for the next week are
    carried, not parsed again. `workers` threads parse and split the units, ahead of the unit
    being gathered: a small week's unit and, beside it, the next small week of `weeks` (whose
    units are known once this week's are: `_plan_next`), so that no worker waits while the
    caller writes; a large week's units one ahead. After a week they split what it carries
    over for the next (DuckDB and polars release the GIL)."""

    def __init__(
        self,
        source_dir: Location,
        tolerance_days: int,
        weeks: Sequence[dt.date] = (),
        partitions: WeekRange | None = None,
        max_line_bytes: int = MAX_LINE_BYTES,
        slice_bytes: int = SLICE_BYTES,
        ahead_bytes: int = AHEAD_BYTES,
        workers: int = PARSE_WORKERS,
    ) -> None:
        self.source_dir = source_dir
        self.tolerance_days = tolerance_days
        self.partitions = partitions
        self.max_line_bytes = max_line_bytes
        self.slice_bytes = slice_bytes
        self.ahead_bytes = ahead_bytes
        self.workers = workers
        self._plan = sorted(weeks)
        # The worker thread owns its DuckDB connection: it lives and dies with the thread,
        # and spills (if ever) to a folder of its own, which DuckDB makes when it first
        # spills; `close` removes it.
        self._spill = str(Path(tempfile.gettempdir()) / f"week-reader-{uuid.uuid4().hex}")
        self._worker = ThreadPoolExecutor(
            max_workers=workers,
            thread_name_prefix="parse-days",
            initializer=_open_connection,
            initargs=(self._spill,),
        )
        self._day_listings: dict[dt.date, DayListing] = {}
        self._stamps: dict[str, str] = {}
        """The stamp of what was read of each file parsed, by `source_file`."""
        self._carry = _Carry()
        self._pending: dict[tuple[dt.date, tuple[DayFile, ...]], Future[_Split]] = {}
        self._next: tuple[dt.date, list[list[DayFile]], Future[_Split]] | None = None
        """The next week's units, planned when its parse began ahead, and the carry split for
        it in a worker."""
        self._planned: tuple[dt.date, list[list[DayFile]]] | None = None
        """The next week's units, planned while the week before it is read (`_plan_next`)."""

    def __enter__(self) -> WeekReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)
        shutil.rmtree(self._spill, ignore_errors=True)

    def read(self, week: dt.date) -> WeekRead:
        """`week` whole, its items in one frame."""
        stream = self.stream(week)
        exploded = list(stream)
        return dataclasses.replace(
            stream.read,
            exploded=pl.concat(exploded, rechunk=False)
            if exploded
            else schemas.EXPLODED.to_frame(),
        )

    def stream(self, week: dt.date) -> WeekStream:
        """`week` with its items as they are parsed, a unit at a time (`WeekStream`)."""
        return WeekStream(self._parts(week))

    def _parts(self, week: dt.date) -> Generator[pl.DataFrame, None, WeekRead]:
        days = days_read_for_week(week, self.tolerance_days)
        listing = self._list(days)
        if not has_data(listing, week):
            raise NoDataError(
                f"No transactions for the week of {week}: none of its day folders exist ("
                + ", ".join(f"transactions/d={day}" for day in week_days(week))
                + f" under {self.source_dir}). The data has not arrived yet, or "
                "PURCHASES_SOURCE_DIR points at the wrong folder."
            )
        for day in [d for d in self._day_listings if d < days[0]]:
            for file in self._day_listings.pop(day).files:
                self._stamps.pop(file.source_file, None)
        carry = self._carry
        if carry.week is None or week <= carry.week:  # not ascending: nothing carried applies
            carry = _Carry()
        planned = self._next
        if planned is not None and planned[0] == week and carry is self._carry:
            units, carried = planned[1], planned[2].result()
        else:
            if planned is not None:
                planned[2].cancel()
            units = self._units([f for f in listing.files if f.day not in carry.days], week)
            carried = self._split(carry.parsed, week)
        self._next = self._planned = None
        wanted = {(week, tuple(unit)) for unit in units}
        for key in [key for key in self._pending if key not in wanted]:  # planned ahead, moot
            self._pending.pop(key).cancel()
        # Each unit's items are handed on as soon as it is split, and only its quarantine
        # and what later weeks need of it are kept.
        quarantine: list[pl.DataFrame] = []
        later: list[Parsed] = []
        items = 0

        def kept(part: _Split) -> pl.DataFrame | None:
            nonlocal items
            if part.quarantine is not None:
                quarantine.append(part.quarantine)
            if part.later is not None:
                later.append(part.later)
            if part.exploded is not None:
                items += part.exploded.height
            return part.exploded

        if (exploded := kept(carried)) is not None:
            yield exploded
        del exploded
        # A small week is one unit, parsed while the next week is parsed beside it; a larger
        # one is parsed a unit ahead only, so that memory holds two slices of it at most.
        small = _is_small(units, self.ahead_bytes)
        parsed_days = carry.days | {f.day for unit in units for f in unit}
        for unit in units[:1]:
            self._submit(week, unit, small)
        if small:
            self._plan_next(week, parsed_days)
        for index, unit in enumerate(units):
            for upcoming in units[index + 1 : index + 2]:
                self._submit(week, upcoming, small)
            part = self._submit(week, unit, small).result()
            del self._pending[(week, tuple(unit))]
            self._stamps.update(part.read)
            exploded = kept(part)
            del part  # held no longer than the items it gave
            if exploded is not None:
                yield exploded
            del exploded
        kept(self._split(refused_rejects(listing.refused), week))
        self._carry = self._next_carry(week, later, parsed_days)
        self._parse_ahead(week, parsed_days)
        return WeekRead(
            week,
            schemas.EXPLODED.to_frame(),
            pl.concat(quarantine).sort(["source_file", "line_number"], maintain_order=True)
            if quarantine
            else schemas.QUARANTINE.to_frame(),
            listing.missing,
            len(listing.files),
            fingerprint(
                listing, {f.source_file: self._stamps[f.source_file] for f in listing.files}
            ),
            listing.ignored,
            items,
        )

    def _next_carry(self, week: dt.date, later: list[Parsed], days: frozenset[dt.date]) -> _Carry:
        """What weeks after `week` need of the days parsed: nothing when the plan holds no
        later week reading them."""
        kept = self._carried_days(week, days)
        if self._plan and not kept:
            return _Carry(week)
        return _Carry(week, Parsed.concat(later), kept)

    def _carried_days(self, week: dt.date, days: frozenset[dt.date]) -> frozenset[dt.date]:
        """Which of the `days` parsed for `week` the next week takes from its carry instead of
        parsing them again: none when the plan holds no later week reading them."""
        first_later = week + 7 * ONE_DAY - self.tolerance_days * ONE_DAY
        kept = frozenset(day for day in days if day >= first_later)
        upcoming = self._upcoming(week)
        if self._plan and (
            upcoming is None or not kept & set(days_read_for_week(upcoming, self.tolerance_days))
        ):
            return frozenset()
        return kept

    def _upcoming(self, week: dt.date) -> dt.date | None:
        return next((w for w in self._plan if w > week), None)

    def _plan_next(self, week: dt.date, days: frozenset[dt.date]) -> None:
        """Plan the units of the next week of the plan, given the `days` parsed for `week`,
        and start parsing them when all of them are at most `ahead_bytes`: a small week is
        ready when the caller asks for it; a large one would only add its parse to the memory
        of the week being written. Once per week."""
        upcoming = self._upcoming(week)
        if upcoming is None or (self._planned is not None and self._planned[0] == upcoming):
            return
        listing = self._list(days_read_for_week(upcoming, self.tolerance_days))
        carried = self._carried_days(week, days)
        units = self._units([f for f in listing.files if f.day not in carried], upcoming)
        self._planned = (upcoming, units)
        if _is_small(units, self.ahead_bytes):
            for unit in units:
                self._submit(upcoming, unit, small=True)

    def _parse_ahead(self, week: dt.date, days: frozenset[dt.date]) -> None:
        """Once `week` is read: the next week's units planned (`_plan_next`, unless they were
        while `week` was parsed) and what `week` carries over for it split in a worker."""
        self._plan_next(week, days)
        planned, self._planned = self._planned, None
        if planned is None:
            return
        upcoming, units = planned
        carried = self._worker.submit(self._split, self._carry.parsed, upcoming)
        self._next = (upcoming, units, carried)

    def _units(self, files: Sequence[DayFile], week: dt.date) -> list[list[DayFile]]:
        """`files` of `week` in order, in the units they are parsed in. A small week's (at
        most `ahead_bytes`) make one unit when the next week of the plan is parsed beside it,
        else (a week run alone, the last of a range) one unit per worker, of about equal
        bytes. A larger week's make units of about `slice_bytes` (a longer file alone)."""
        sizes = [_size(file) for file in files]
        total = sum(sizes)
        if total > self.ahead_bytes:
            units: list[list[DayFile]] = []
            size = 0
            for file, length in zip(files, sizes, strict=True):
                if not units or size + length > self.slice_bytes:
                    units.append([])
                    size = 0
                units[-1].append(file)
                size += length
            return units
        shares = 1 if self._upcoming(week) is not None else self.workers
        # Each file goes to the share its middle byte falls in.
        units = [[] for _ in range(shares)]
        before = 0
        for file, length in zip(files, sizes, strict=True):
            share = min(shares - 1, (before + length // 2) * shares // max(total, 1))
            units[share].append(file)
            before += length
        return [unit for unit in units if unit]

    def _submit(self, week: dt.date, unit: list[DayFile], small: bool) -> Future[_Split]:
        """Parse `unit` for `week` in a worker, and split it there too (`_split`): as one slice
        when it is a `small` week's, else in slices of `slice_bytes`."""
        key = (week, tuple(unit))
        if key not in self._pending:
            slice_bytes = self.ahead_bytes if small else self.slice_bytes
            self._pending[key] = self._worker.submit(self._parse_and_split, unit, week, slice_bytes)
        return self._pending[key]

    def _parse_and_split(self, unit: list[DayFile], week: dt.date, slice_bytes: int) -> _Split:
        keep_text = is_stray(self.tolerance_days, self.partitions)
        parsed = _parse_unit(unit, keep_text, self.max_line_bytes, slice_bytes)
        return self._split(parsed, week)

    def _split(self, parsed: Parsed, week: dt.date) -> _Split:
        """`parsed` split into what `week` keeps, its quarantine and what later weeks need."""
        if parsed.items.is_empty() and parsed.rejects.is_empty():
            return _Split(read=parsed.read)
        items, rejects = split_week(parsed, week, self.tolerance_days, self.partitions)
        return _Split(
            # One chunk per column: a frame whose columns are cut in different places is
            # copied whole by the first operation that needs them aligned (a `drop`).
            items.rechunk(),
            rejects,
            _for_later(parsed, week, self.tolerance_days),
            parsed.read,
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


@dataclass(frozen=True)
class _Split:
    """A unit of day files parsed and split for a week (`WeekReader._split`): in a worker, so
    that the caller's thread only gathers and writes."""

    exploded: pl.DataFrame | None = None
    quarantine: pl.DataFrame | None = None
    later: Parsed | None = None
    read: dict[str, str] = field(default_factory=dict)


def _for_later(parsed: Parsed, week: dt.date, tolerance_days: int) -> Parsed:
    """What weeks after `week` need of `parsed`: the items dated in them (within the
    tolerance), and everything of the folders after `week`."""
    after = week + 7 * ONE_DAY
    later_folder = pl.col("folder_day") >= after
    dated_later = (week_start("date_of_purchase") >= after) & (_distance().abs() <= tolerance_days)
    return Parsed(
        items=parsed.items.filter(later_folder | dated_later),
        rejects=parsed.rejects.filter(later_folder),
        texts=parsed.texts.filter(later_folder),
    )


def _is_small(units: list[list[DayFile]], ahead_bytes: int) -> bool:
    """Whether a week's units hold at most `ahead_bytes`."""
    return sum(_size(file) for unit in units for file in unit) <= ahead_bytes


def _size(file: DayFile) -> int:
    """A day file's size for planning units: from the listing for an object, else from
    `stat` (nothing opened); 0 when it cannot be looked at (its read says why)."""
    if file.size is not None or not file.is_local:
        return file.size or 0
    try:
        return local_path(file.path).stat().st_size
    except OSError:
        return 0


DUCKDB_MEMORY_LIMIT = "256MB"
"""What the parse's DuckDB connection may hold before it spills to its temporary folder (a
slice takes a few MB of it; this bounds a pathological file instead of growing)."""

_worker_state = threading.local()


def _open_connection(temp_directory: str) -> None:
    _worker_state.connection = duckdb.connect(
        config={
            "memory_limit": DUCKDB_MEMORY_LIMIT,
            "temp_directory": temp_directory,
            # The workers are the parallelism: a slice of a few MB is read faster on one
            # thread than split over two (7.0 against 8.7 s/GB, docs/performance.md).
            "threads": 1,
            # Strings as Arrow string views, polars' own layout: no conversion on the way.
            "produce_arrow_string_view": True,
        }
    )


def _parse_unit(
    files: Sequence[DayFile], keep_text: pl.Expr, max_line_bytes: int, slice_bytes: int
) -> Parsed:
    return parse_day_files(
        files, _worker_state.connection, keep_text, max_line_bytes, slice_bytes=slice_bytes
    )
