"""Which week a purchase belongs to (event time, with a tolerance), and reading a week."""

from __future__ import annotations

import datetime as dt
import tempfile
import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assets_pkg.purchases import parse, schemas, weeks
from assets_pkg.purchases.feed import (
    DayBytes,
    DayFile,
    DayListing,
    days_read_for_week,
    find_day_files,
    fingerprint,
    read_day_file,
    week_days,
    weeks_with_data,
)
from assets_pkg.purchases.parse import Parsed, parse_day_files
from assets_pkg.purchases.weeks import NoDataError, WeekReader
from assets_pkg.shared.dates import WeekRange, monday_of
from assets_pkg.shared.location import Location

from .feed_builder import Feed, day, moment, purchase, source_file

W = day("2024-01-08")
NEXT = day("2024-01-15")


def _exploded(week: dt.date, rows: list[tuple[str, str, str, str, int]]) -> pl.DataFrame:
    """rows: (date_of_purchase, customer, product, folder, line); price 100."""
    return pl.DataFrame(
        [(week, moment(w), c, p, 100, source_file(f), n) for w, c, p, f, n in rows],
        schema=schemas.EXPLODED,
        orient="row",
    )


def _quarantine(week: dt.date, rows: list[tuple[str, int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(week, source_file(f), n, text, reason) for f, n, text, reason in rows],
        schema=schemas.QUARANTINE,
        orient="row",
    )


def test_days_a_week_reads() -> None:
    assert week_days(W) == [day(f"2024-01-{d:02}") for d in range(8, 15)]
    assert days_read_for_week(W, 0) == week_days(W)
    assert days_read_for_week(W, 1) == [day(f"2024-01-{d:02}") for d in range(7, 16)]
    assert days_read_for_week(W, 2) == [day(f"2024-01-{d:02}") for d in range(6, 17)]
    assert [monday_of(day(f"2024-01-{d:02}")) for d in (7, 8, 14, 15)] == [
        day("2024-01-01"),
        W,
        W,
        NEXT,
    ]


def test_find_day_files_reads_every_part_in_name_order(feed: Feed) -> None:
    feed.write_day("2024-01-09", purchase("C1", "2024-01-09 10:00:00", "P1"))
    extra = feed.root / "transactions" / "d=2024-01-09" / "a-part.json"
    extra.write_text("")
    (feed.root / "transactions" / "d=2024-01-10").mkdir()  # a folder without a .json file
    (feed.root / "transactions" / "d=2024-01-10" / "notes.txt").write_text("x")
    listing = find_day_files(feed.source, [day("2024-01-10"), day("2024-01-09")])
    assert [(f.day, Path(str(f.path)), f.source_file) for f in listing.files] == [
        (day("2024-01-09"), extra.resolve(), "transactions/d=2024-01-09/a-part.json"),
        (
            day("2024-01-09"),
            (feed.root / source_file("2024-01-09")).resolve(),
            source_file("2024-01-09"),
        ),
    ]
    assert listing.missing == [day("2024-01-10")]
    assert listing.refused == []


def test_weeks_with_data_lists_ended_weeks_from_the_start(feed: Feed) -> None:
    for folder in ["2023-12-31", "2024-01-01", "2024-01-09", "2024-01-10", "2024-02-04"]:
        feed.write_day(folder, raw=b"")
    today = dt.datetime.now(dt.UTC).date()
    feed.write_day(str(today), raw=b"")  # the current week has not ended
    (feed.root / "transactions" / "d=latest").mkdir()  # not a day folder
    assert weeks_with_data(feed.source) == [
        day("2023-12-25"),
        day("2024-01-01"),
        W,
        day("2024-01-29"),
    ]
    assert weeks_with_data(feed.source, W) == [W, day("2024-01-29")]


# ---- the event-time rule, on a small feed ----------------------------------------------------

ACROSS_SUNDAY = purchase("C1", "2024-01-15 00:10:00", "P1")
"""In the Sunday folder d=2024-01-14, dated Monday: the next week's purchase."""
BACK_TO_SUNDAY = purchase("C2", "2024-01-07 23:50:00", "P2")
"""In the Monday folder d=2024-01-08, dated Sunday: the previous week's purchase."""
FAR = purchase("C3", "2024-01-20 10:00:00", "P1", "P2")
"""In d=2024-01-10, dated 10 days later: beyond the tolerance, two items, one line."""
FAR_IN_NEIGHBOUR = purchase("C3", "2023-12-01 10:00:00", "P1")
"""In d=2024-01-15 (read by week W for the tolerance), far from its folder."""


def _tolerance_feed(feed: Feed) -> None:
    feed.fill_days("2024-01-06", "2024-01-16")
    feed.write_day("2024-01-07", purchase("C4", "2024-01-08 00:05:00", "P2"))
    feed.write_day("2024-01-08", BACK_TO_SUNDAY, purchase("C1", "2024-01-08 09:00:00", "P1"))
    feed.write_day("2024-01-10", "{broken", FAR)
    feed.write_day("2024-01-14", ACROSS_SUNDAY)
    feed.write_day("2024-01-15", purchase("C2", "2024-01-14 23:59:00", "P1"), FAR_IN_NEIGHBOUR)


FAR_REASON = (
    "date_of_purchase 2024-01-20 10:00:00 is 10 days from its folder d=2024-01-10 "
    "(tolerance 1 days)"
)
BROKEN_REASON = (
    "line is not valid JSON (JSONDecodeError: Expecting property name enclosed in double "
    "quotes: line 1 column 2 (char 1))"
)


def test_a_week_keeps_purchases_dated_in_it_from_its_folders_and_the_neighbours(
    feed: Feed,
) -> None:
    _tolerance_feed(feed)
    read = WeekReader(feed.source, tolerance_days=1).read(W)
    expected = _exploded(
        W,
        [
            ("2024-01-08 00:05:00", "C4", "P2", "2024-01-07", 1),
            ("2024-01-08 09:00:00", "C1", "P1", "2024-01-08", 2),
            ("2024-01-14 23:59:00", "C2", "P1", "2024-01-15", 1),
        ],
    )
    assert_frame_equal(read.exploded, expected)
    assert_frame_equal(
        read.quarantine,
        _quarantine(
            W,
            [
                ("2024-01-10", 1, "{broken", BROKEN_REASON),
                ("2024-01-10", 2, FAR, FAR_REASON),
            ],
        ),
    )
    assert read.missing_days == []
    assert read.files_read == 9


def test_each_purchase_counts_once_whether_weeks_are_read_together_or_alone(feed: Feed) -> None:
    _tolerance_feed(feed)
    feed.fill_days("2023-12-31", "2024-01-22")
    weeks = [day("2024-01-01"), W, NEXT]
    together = WeekReader(feed.source, 1)
    in_sequence = [together.read(w) for w in weeks]
    alone = [WeekReader(feed.source, 1).read(w) for w in weeks]
    for a, b in zip(in_sequence, alone, strict=True):
        assert_frame_equal(a.exploded, b.exploded)
        assert_frame_equal(a.quarantine, b.quarantine)
    everything = pl.concat([w.exploded for w in in_sequence])
    assert everything.select("source_file", "line_number", "product_id").is_unique().all()
    assert everything.height == 5  # every in-tolerance item of the feed, exactly once
    weeks_of = {
        (row["source_file"], row["line_number"]): row["week"]
        for row in everything.iter_rows(named=True)
    }
    assert weeks_of[(source_file("2024-01-14"), 1)] == NEXT  # Sunday folder, Monday date
    assert weeks_of[(source_file("2024-01-08"), 1)] == day("2024-01-01")  # the other way
    quarantined = pl.concat([w.quarantine for w in in_sequence])
    assert quarantined.select("week", "source_file", "line_number").rows() == [
        (W, source_file("2024-01-10"), 1),
        (W, source_file("2024-01-10"), 2),  # the far line: once, in the week of its folder
        (NEXT, source_file("2024-01-15"), 2),
    ]


def test_a_wider_tolerance_keeps_what_a_narrow_one_quarantines(feed: Feed) -> None:
    feed.fill_days("2024-01-05", "2024-01-17")
    two_days_off = purchase("C1", "2024-01-12 08:00:00", "P1")
    feed.write_day("2024-01-10", two_days_off)
    narrow = WeekReader(feed.source, 1).read(W)
    wide = WeekReader(feed.source, 2).read(W)
    assert narrow.exploded.height == 0
    assert narrow.quarantine.get_column("reason").to_list() == [
        "date_of_purchase 2024-01-12 08:00:00 is 2 days from its folder d=2024-01-10 "
        "(tolerance 1 days)"
    ]
    assert_frame_equal(
        wide.exploded, _exploded(W, [("2024-01-12 08:00:00", "C1", "P1", "2024-01-10", 1)])
    )
    assert wide.quarantine.height == 0


def test_a_purchase_dated_in_a_week_that_is_no_partition_is_quarantined_in_its_folders(
    feed: Feed,
) -> None:
    """The partitions are the one week W: a purchase of W's folders dated in the week before
    or after it would be counted by no week, so it goes to W's quarantine, with its text."""
    feed.fill_days("2024-01-07", "2024-01-15")
    before = purchase("C1", "2024-01-07 23:58:00", "P1")
    inside = purchase("C2", "2024-01-08 00:01:00", "P1")
    after = purchase("C3", "2024-01-15 00:01:00", "P2")
    feed.write_day("2024-01-08", before, inside)
    feed.write_day("2024-01-14", after)
    feed.write_day("2024-01-15", purchase("C4", "2024-01-14 23:59:00", "P2"))  # a neighbour's
    read = WeekReader(feed.source, 1, partitions=WeekRange(W, W)).read(W)
    assert read.exploded.select("customer_id", "source_file").rows() == [
        ("C2", source_file("2024-01-08")),
        ("C4", source_file("2024-01-15")),
    ]
    assert_frame_equal(
        read.quarantine,
        _quarantine(
            W,
            [
                (
                    "2024-01-08",
                    1,
                    before,
                    "date_of_purchase 2024-01-07 23:58:00 falls in the week of 2024-01-01, "
                    "before the first week 2024-01-08 (PURCHASES_START_DATE)",
                ),
                (
                    "2024-01-14",
                    1,
                    after,
                    "date_of_purchase 2024-01-15 00:01:00 falls in the week of 2024-01-15, "
                    "after the last week 2024-01-08 (PURCHASES_END_DATE)",
                ),
            ],
        ),
    )
    # Without a last week the next week will exist once it has ended, and will count it.
    open_end = WeekReader(feed.source, 1, partitions=WeekRange(W)).read(W)
    assert open_end.quarantine.get_column("source_file").to_list() == [source_file("2024-01-08")]
    # Inside the partitions the same purchases belong to their own weeks.
    wide = WeekReader(feed.source, 1, partitions=WeekRange(day("2024-01-01"), NEXT)).read(W)
    assert wide.quarantine.is_empty()


def test_a_file_arriving_during_a_range_is_not_in_the_fingerprint_of_a_week_without_it(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Week NEXT shares its Monday folder with W, which parsed it ahead. A file that arrives
    there later is not in NEXT's data, so it must not be in NEXT's fingerprint either: the
    sensor then sees the folder changed and builds NEXT again."""
    feed.fill_days("2023-12-31", "2024-01-22")
    for folder in ["2024-01-09", "2024-01-15", "2024-01-16"]:
        feed.write_day(folder, purchase("C1", f"{folder} 10:00:00", "P1"))
    late = feed.root / "transactions" / "d=2024-01-15" / "late.json"
    listed = find_day_files

    def listing_with_a_late_arrival(root: Location, days: list[dt.date]) -> DayListing:
        if min(days) > day("2024-01-15") and not late.exists():  # after the Monday was read
            late.write_text(purchase("C9", "2024-01-15 09:00:00", "P2") + "\n")
        return listed(root, days)

    monkeypatch.setattr(weeks, "find_day_files", listing_with_a_late_arrival)
    with WeekReader(feed.source, 1, [day("2024-01-01"), W, NEXT]) as reader:
        read = [reader.read(w) for w in [day("2024-01-01"), W, NEXT]]
    assert late.exists()
    assert "C9" not in read[2].exploded.get_column("customer_id").to_list()
    now = fingerprint(find_day_files(feed.source, days_read_for_week(NEXT, 1)))
    assert read[2].fingerprint != now  # the sensor will ask for NEXT again
    assert read[2].fingerprint.files == now.files - 1


def test_raw_text_of_a_far_purchase_comes_without_its_carriage_return(feed: Feed) -> None:
    feed.fill_days("2024-01-07", "2024-01-15")
    feed.write_day("2024-01-09", raw=f"\r\n{FAR}\r\n".encode())
    read = WeekReader(feed.source, 1).read(W)
    assert read.quarantine.select("line_number", "raw_text").rows() == [(2, FAR)]


@pytest.mark.parametrize("change", ["vanished", "shrunk", "replaced"])
def test_a_far_purchase_keeps_its_text_when_its_file_changes_after_the_parse(
    feed: Feed, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    """A live feed changes under a run. The text of a quarantined line is the line as it
    was parsed, whatever became of its file since (no second read, no traceback), and the
    week's fingerprint is that of what it read, so the sensor asks for the week again."""
    feed.fill_days("2024-01-07", "2024-01-15")
    path = feed.write_day("2024-01-09", raw=f"\n\n{FAR}\n".encode())
    split = weeks.split_week

    def split_then_change(*args: Any, **kwargs: Any) -> tuple[pl.DataFrame, pl.DataFrame]:
        result = split(*args, **kwargs)
        if change == "vanished":
            path.unlink()
        elif change == "shrunk":
            path.write_bytes(b"\n")
        else:
            path.write_bytes(f"\n\n{purchase('C7', '2024-01-09 10:00:00', 'P1')}\n".encode())
        return result

    monkeypatch.setattr(weeks, "split_week", split_then_change)
    read = WeekReader(feed.source, 1).read(W)
    assert read.quarantine.select("line_number", "raw_text").rows() == [(3, FAR)]
    assert read.fingerprint != fingerprint(find_day_files(feed.source, days_read_for_week(W, 1)))


def test_missing_days_include_the_tolerance_neighbours(feed: Feed) -> None:
    feed.fill_days("2024-01-08", "2024-01-14")
    for folder in ["2024-01-10", "2024-01-12"]:
        (feed.root / source_file(folder)).unlink()
    read = WeekReader(feed.source, 1).read(W)
    assert read.missing_days == [
        day(d) for d in ["2024-01-07", "2024-01-10", "2024-01-12", "2024-01-15"]
    ]
    assert read.files_read == 5


def test_a_week_without_any_of_its_own_folders_has_not_arrived(feed: Feed) -> None:
    feed.fill_days("2024-01-07", "2024-01-07")  # a neighbour does not count
    feed.fill_days("2024-01-15", "2024-01-15")
    with pytest.raises(NoDataError) as raised:
        WeekReader(feed.source, 1).read(W)
    message = str(raised.value)
    folders = ", ".join(f"transactions/d=2024-01-{d:02}" for d in range(8, 15))
    assert f"none of its day folders exist ({folders} under {feed.root})" in message
    assert "PURCHASES_SOURCE_DIR" in message


def _busy_feed(feed: Feed) -> None:
    """Three weeks and their neighbours; every day holds its own purchases, some dated the
    day before and after (within the tolerance), a far one, a broken line, and a second
    part."""
    feed.fill_days("2023-12-30", "2024-01-23")
    first = day("2024-01-01")
    for offset in range(-2, 23):
        folder = first + dt.timedelta(days=offset)
        before, after = folder - dt.timedelta(days=1), folder + dt.timedelta(days=1)
        feed.write_day(
            str(folder),
            purchase(f"C{offset % 4 + 1}", f"{folder} 10:00:00", "P1", "P2"),
            purchase("C2", f"{before} 23:30:00", "P1"),
            "{broken",
            purchase("C3", f"{after} 00:30:00", "P2"),
            purchase("C4", f"{folder + dt.timedelta(days=10)} 10:00:00", "P1"),
        )
        part = feed.root / "transactions" / f"d={folder}" / "z-part.json"
        part.write_text(purchase("C1", f"{folder} 12:00:00", "P2") + "\n")


@pytest.mark.parametrize(
    ("slice_bytes", "ahead_bytes", "workers"),
    [(1, 0, 1), (300, 10**9, 1), (300, 10**9, 3), (weeks.SLICE_BYTES, weeks.AHEAD_BYTES, 1)],
)
@pytest.mark.parametrize("last", [None, NEXT], ids=["open", "last week"])
def test_a_range_read_in_slices_gives_each_week_as_read_alone_parsing_each_file_once(
    feed: Feed,
    monkeypatch: pytest.MonkeyPatch,
    slice_bytes: int,
    ahead_bytes: int,
    workers: int,
    last: dt.date | None,
) -> None:
    """The items a week's slices hold for the next week are carried, not parsed again; the
    next week is parsed ahead, and every unit parsed at once is at most a slice (or a single
    file), or a whole week of at most `ahead_bytes`. Each week is what it is read alone, row
    for row."""
    _busy_feed(feed)
    partitions = WeekRange(day("2024-01-01"), last)
    run = [day("2024-01-01"), W, NEXT]
    alone = [WeekReader(feed.source, 1, partitions=partitions).read(w) for w in run]
    reads: list[str] = []
    units: list[list[str]] = []
    read, parse_files = read_day_file, parse_day_files

    def counted_read(file: DayFile, max_line_bytes: int) -> DayBytes:
        reads.append(file.source_file)
        return read(file, max_line_bytes)

    def spied_parse(files: list[DayFile], *args: Any, **kwargs: Any) -> Parsed:
        units.append([f.source_file for f in files])
        size = sum(Path(str(f.path)).stat().st_size for f in files)
        assert len(files) == 1 or size <= max(slice_bytes, ahead_bytes)
        return parse_files(files, *args, **kwargs)

    monkeypatch.setattr(parse, "read_day_file", counted_read)
    monkeypatch.setattr(weeks, "parse_day_files", spied_parse)
    with WeekReader(
        feed.source,
        1,
        run,
        partitions,
        slice_bytes=slice_bytes,
        ahead_bytes=ahead_bytes,
        workers=workers,
    ) as reader:
        together = [reader.read(w) for w in run]
    for a, b in zip(together, alone, strict=True):
        assert_frame_equal(a.exploded, b.exploded)
        assert_frame_equal(a.quarantine, b.quarantine)
        assert (a.fingerprint, a.files_read, a.missing_days) == (
            b.fingerprint,
            b.files_read,
            b.missing_days,
        )
    assert sorted(reads) == sorted(set(reads))  # each file once
    assert len(reads) == 2 * 23  # two parts in each folder of 2023-12-31 to 2024-01-22
    assert together[1].exploded.height == 7 * 5  # each day: 3 of its folder, 2 of neighbours
    if slice_bytes == 1:
        assert len(units) == len(reads)
    if ahead_bytes == 10**9:  # each week one unit of the days it does not carry; the last,
        # with no week parsed beside it, one per worker
        assert len(units) == len(run) - 1 + min(workers, 7)


def test_a_range_of_small_and_large_weeks_gives_each_week_as_read_alone(feed: Feed) -> None:
    """A large week between small ones: the small week before it plans the large week's
    units without parsing them ahead, the large week is parsed in slices, and the small week
    after it is planned once the large one is read. Each is what it is read alone."""
    _busy_feed(feed)
    big = feed.root / "transactions" / "d=2024-01-10" / "y-part.json"  # W's own day grows
    big.write_text(
        "".join(purchase(f"C{n}", "2024-01-10 12:00:00", "P1", "P2") + "\n" for n in range(200))
    )
    run = [day("2024-01-01"), W, NEXT]
    size = {
        week: sum(
            path.stat().st_size
            for d in days_read_for_week(week, 1)
            for path in (feed.root / "transactions" / f"d={d}").glob("*.json")
        )
        for week in run
    }
    assert size[W] > 2 * max(size[day("2024-01-01")], size[NEXT])
    ahead = max(size[day("2024-01-01")], size[NEXT])  # W alone is large
    alone = [WeekReader(feed.source, 1, ahead_bytes=ahead, slice_bytes=300).read(w) for w in run]
    with WeekReader(feed.source, 1, run, ahead_bytes=ahead, slice_bytes=300) as reader:
        together = [reader.read(w) for w in run]
    for a, b in zip(together, alone, strict=True):
        assert_frame_equal(a.exploded, b.exploded)
        assert_frame_equal(a.quarantine, b.quarantine)
        assert a.fingerprint == b.fingerprint


def test_weeks_read_out_of_order_are_each_what_they_are_alone(feed: Feed) -> None:
    _busy_feed(feed)
    run = [NEXT, day("2024-01-01"), W, W]
    alone = [WeekReader(feed.source, 1).read(w) for w in run]
    with WeekReader(feed.source, 1, sorted(set(run)), slice_bytes=1) as reader:
        together = [reader.read(w) for w in run]
    for a, b in zip(together, alone, strict=True):
        assert_frame_equal(a.exploded, b.exploded)
        assert_frame_equal(a.quarantine, b.quarantine)


def test_the_parse_stays_under_its_duckdb_memory_limit_and_leaves_no_spill_folder(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under a limit too small for a slice, DuckDB refuses the clean files and the rule book
    parses them: the same week. The folder DuckDB may spill to goes with the reader."""
    feed.fill_days("2024-01-07", "2024-01-15")
    for folder in ["2024-01-08", "2024-01-09", "2024-01-14"]:
        feed.write_day(folder, purchase("C1", f"{folder} 10:00:00", "P1", "P2"))
    expected = WeekReader(feed.source, 1).read(W)
    rule_book = parse.parse_reference
    referred: list[str] = []

    def counted(data: bytes, file: DayFile, first_line: int = 1) -> Parsed:
        referred.append(file.source_file)
        return rule_book(data, file, first_line)

    monkeypatch.setattr(parse, "parse_reference", counted)
    monkeypatch.setattr(weeks, "DUCKDB_MEMORY_LIMIT", "1KB")
    with WeekReader(feed.source, 1) as reader:
        read = reader.read(W)
        spill = Path(reader._spill)
        assert spill.parent == Path(tempfile.gettempdir())
    assert_frame_equal(read.exploded, expected.exploded)
    assert_frame_equal(read.quarantine, expected.quarantine)
    assert referred == [source_file(str(d)) for d in days_read_for_week(W, 1)]  # all of them
    assert not spill.exists()


@pytest.mark.parametrize("ahead_bytes", [0, 10**9], ids=["large next week", "small next week"])
def test_the_next_week_is_parsed_ahead_only_when_it_is_small(
    feed: Feed, monkeypatch: pytest.MonkeyPatch, ahead_bytes: int
) -> None:
    """While the caller writes a week, the worker parses the next one if it holds at most
    `ahead_bytes`; a larger one waits until it is asked for."""
    _busy_feed(feed)
    reads: list[str] = []
    read = read_day_file

    def counted_read(file: DayFile, max_line_bytes: int) -> DayBytes:
        reads.append(file.source_file)
        return read(file, max_line_bytes)

    monkeypatch.setattr(parse, "read_day_file", counted_read)
    with WeekReader(feed.source, 1, [W, NEXT], ahead_bytes=ahead_bytes) as reader:
        reader.read(W)
        reader._worker.submit(lambda: None).result()  # the worker is done with what it had
        ahead = [name for name in reads if name >= source_file("2024-01-16")]
        assert len(ahead) == (0 if ahead_bytes == 0 else 2 * 7)  # 01-16 to 01-22, two parts
        reader.read(NEXT)
    assert sorted(reads) == sorted(set(reads))


def test_every_column_of_a_week_is_cut_in_the_same_chunks(feed: Feed) -> None:
    """A frame whose columns are cut in different places is copied whole by the first
    operation that needs them aligned: the IO manager's `drop` of the week column copied a
    whole week (96 MB at 10x). A file parsed in pieces gives its provenance as constants
    and its items in chunks; each slice's items are made one chunk."""
    feed.fill_days("2024-01-07", "2024-01-15")
    lines = [purchase(f"C{n}", "2024-01-09 10:00:00", "P1", "P2") for n in range(5000)]
    feed.write_day("2024-01-09", *lines)
    with WeekReader(feed.source, 1, slice_bytes=50_000) as reader:
        exploded = reader.read(W).exploded
    columns = [c for c in exploded.columns if c != "week"]  # `week` is one constant
    assert len({tuple(exploded.get_column(c).chunk_lengths()) for c in columns}) == 1


@pytest.mark.parametrize("ahead_bytes", [10**9, 0], ids=["small weeks", "large weeks"])
def test_a_small_week_is_one_unit_parsed_beside_the_next_a_large_one_a_unit_ahead(
    feed: Feed, monkeypatch: pytest.MonkeyPatch, ahead_bytes: int
) -> None:
    """A week of at most `ahead_bytes` is parsed as one unit, and the next week's unit is
    given to the other worker before the week's own is waited for: neither worker waits for
    the week to be written. A larger week is parsed a unit ahead of the one being split, so
    that memory holds two of its slices at most, and the next week only once it is read."""
    _busy_feed(feed)
    submitted: list[tuple[dt.date, int]] = []  # (week, units then with the workers)
    submit = WeekReader._submit

    def counting(self: WeekReader, week: dt.date, unit: list[DayFile], small: bool) -> Any:
        new = (week, tuple(unit)) not in self._pending
        future = submit(self, week, unit, small)
        if new:
            submitted.append((week, len(self._pending)))
        return future

    monkeypatch.setattr(WeekReader, "_submit", counting)
    with WeekReader(
        feed.source, 1, [W, NEXT], slice_bytes=1, ahead_bytes=ahead_bytes, workers=2
    ) as reader:
        parts = iter(reader.stream(W))
        assert next(parts).height > 0  # the week's first part: the worker has parsed it
        weeks_submitted = {week for week, _ in submitted}
        for _ in parts:
            pass
    if ahead_bytes:
        assert weeks_submitted == {W, NEXT}
        assert [week for week, _ in submitted if week == W] == [W]  # one unit
    else:
        assert weeks_submitted == {W}
        assert max(pending for _, pending in submitted) == 2  # the one asked for, one ahead


@pytest.mark.parametrize("plan", [[W], []], ids=["a run of one week", "no plan"])
def test_a_small_week_with_none_parsed_beside_it_is_shared_by_the_workers(
    feed: Feed, monkeypatch: pytest.MonkeyPatch, plan: list[dt.date]
) -> None:
    """A small week with no next week to parse beside it (a run of one week, the last of a
    range) is cut in one unit per worker, of about equal bytes: both cores parse it."""
    _busy_feed(feed)
    whole = WeekReader(feed.source, 1, workers=1).read(W)  # one unit
    sizes: list[int] = []
    parse_files = parse_day_files

    def spied_parse(files: list[DayFile], *args: Any, **kwargs: Any) -> Parsed:
        sizes.append(sum(Path(str(f.path)).stat().st_size for f in files))
        return parse_files(files, *args, **kwargs)

    monkeypatch.setattr(weeks, "parse_day_files", spied_parse)
    with WeekReader(feed.source, 1, plan, workers=2) as reader:
        read = reader.read(W)
    assert_frame_equal(read.exploded, whole.exploded)
    assert_frame_equal(read.quarantine, whole.quarantine)
    largest_file = max(path.stat().st_size for path in (feed.root / "transactions").rglob("*.json"))
    assert len(sizes) == 2
    assert abs(sizes[0] - sizes[1]) <= largest_file


def test_a_unit_is_split_into_its_week_in_the_worker_that_parsed_it(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller's thread only gathers the week's parts and writes them: splitting each unit
    into the week's items, its quarantine and what later weeks need runs beside the parse, and
    so does splitting what a week carries over for the next."""
    _busy_feed(feed)
    threads: list[str] = []
    split = weeks.split_week

    def recording(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return split(*args, **kwargs)

    monkeypatch.setattr(weeks, "split_week", recording)
    with WeekReader(feed.source, 1, [W, NEXT], slice_bytes=1, ahead_bytes=0, workers=2) as reader:
        reader.read(W)
        carried = len(threads)
        reader.read(NEXT)
    assert carried < len(threads)
    assert all(name.startswith("parse-days") for name in threads)


def test_a_streamed_week_gives_its_items_a_unit_at_a_time_as_read_gives_them(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`stream` hands on each unit's items as soon as the unit is split, before the units
    after the next are parsed, so a large week is never gathered whole; the parts, in order,
    are `read`'s items row for row, and the rest of the week comes once they all have."""
    _busy_feed(feed)
    run = [day("2024-01-01"), W, NEXT]
    with WeekReader(feed.source, 1, run, slice_bytes=1) as reader:
        whole = [reader.read(w) for w in run]
    parsed = 0
    parse_files = parse_day_files

    def counting(*args: Any, **kwargs: Any) -> Parsed:
        nonlocal parsed
        parsed += 1
        return parse_files(*args, **kwargs)

    monkeypatch.setattr(weeks, "parse_day_files", counting)
    with WeekReader(feed.source, 1, run, slice_bytes=1, ahead_bytes=0, workers=1) as reader:
        for expected in whole:
            stream = reader.stream(expected.week)
            with pytest.raises(RuntimeError, match="not all been read"):
                stream.read  # noqa: B018
            parts, parsed_when_given = [], []
            parsed = 0
            for part in stream:
                parts.append(part)
                parsed_when_given.append(parsed)
            # A part per unit (after the first week, first what the last week carried): when
            # a part is handed on, its unit and one ahead of it have been parsed, no more.
            assert len(parts) > 5
            assert all(n <= index + 2 for index, n in enumerate(parsed_when_given))
            assert_frame_equal(pl.concat(parts), expected.exploded)
            read = stream.read
            assert read.items == expected.items == expected.exploded.height
            assert read.exploded.is_empty()
            assert_frame_equal(read.quarantine, expected.quarantine)
            assert (read.fingerprint, read.files_read, read.missing_days) == (
                expected.fingerprint,
                expected.files_read,
                expected.missing_days,
            )
