"""Finding day files: only regular files inside the source folder are ever opened; every
other entry is reported with its reason; folders that no week reads are named."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from assets_pkg.purchases import parse
from assets_pkg.purchases.feed import (
    BOM,
    LONG_LINE_PREFIX,
    DayBytes,
    DayFile,
    DayListing,
    LongLine,
    RefusedEntry,
    UnreadableFeedError,
    badly_named_day_folders,
    bounded_lines,
    days_read_for_week,
    find_day_files,
    fingerprint,
    read_day_file,
    source_root,
    weeks_with_data,
    weeks_without_data,
)
from assets_pkg.purchases.weeks import WeekReader

from .feed_builder import Feed, day, purchase, source_file, watched_fifo

DAY = day("2024-01-09")
WEEK = day("2024-01-08")
GOOD = purchase("C1", "2024-01-09 10:00:00", "P1")


def _folder(feed: Feed, folder: str = "2024-01-09") -> Path:
    path = feed.root / "transactions" / f"d={folder}"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _refused(listing: DayListing) -> list[tuple[str, str]]:
    return [(r.source_file, r.reason) for r in listing.refused]


def test_entries_that_are_not_regular_files_are_refused_without_being_opened(
    feed: Feed,
) -> None:
    feed.write_day("2024-01-09", GOOD)
    folder = _folder(feed)
    (folder / "a-folder.json").mkdir()
    (folder / "b-broken.json").symlink_to(folder / "gone.json")
    with watched_fifo(folder / "c-fifo.json") as fifo_opened:
        listing = find_day_files(feed.source, [DAY])
        assert not fifo_opened()
    name = "transactions/d=2024-01-09"
    assert [f.source_file for f in listing.files] == [source_file("2024-01-09")]
    assert _refused(listing) == [
        (f"{name}/a-folder.json", "not a regular file (folder): never read"),
        (f"{name}/b-broken.json", f"broken symlink (to {folder.resolve()}/gone.json): never read"),
        (f"{name}/c-fifo.json", "not a regular file (FIFO): never read"),
    ]
    assert listing.missing == []


def test_a_folder_holding_only_refused_entries_has_arrived(feed: Feed) -> None:
    (_folder(feed) / "x.json").mkdir()
    listing = find_day_files(feed.source, [DAY, DAY + dt.timedelta(days=1)])
    assert (listing.files, listing.missing) == ([], [DAY + dt.timedelta(days=1)])
    assert listing.days_with_entries == {DAY}
    assert weeks_without_data(feed.source, [WEEK]) == []


def test_symlinks_are_followed_only_to_regular_files_inside_the_source_folder(
    feed: Feed, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "stolen.json").write_text(GOOD + "\n")
    (outside / "d=2024-01-10").mkdir()
    (outside / "d=2024-01-10" / "transactions.json").write_text(GOOD + "\n")
    inside = feed.write_day("2024-01-09", GOOD)
    folder = inside.parent
    (folder / "link-inside.json").symlink_to(inside)
    (folder / "link-outside.json").symlink_to(outside / "stolen.json")
    (folder / "link-to-a-folder-outside.json").symlink_to(outside)
    (feed.root / "transactions" / "d=2024-01-10").symlink_to(outside / "d=2024-01-10")
    archived = feed.root / "archive" / "monday"
    archived.mkdir(parents=True)
    (archived / "transactions.json").write_text(GOOD + "\n")
    (feed.root / "transactions" / "d=2024-01-11").symlink_to(archived)  # inside: read

    listing = find_day_files(feed.source, [DAY, day("2024-01-10"), day("2024-01-11")])
    assert [(f.source_file, Path(str(f.path))) for f in listing.files] == [
        ("transactions/d=2024-01-09/link-inside.json", inside.resolve()),
        ("transactions/d=2024-01-09/transactions.json", inside.resolve()),
        ("transactions/d=2024-01-11/transactions.json", (archived / "transactions.json").resolve()),
    ]
    root = feed.root.resolve()
    assert _refused(listing) == [
        (
            "transactions/d=2024-01-09/link-outside.json",
            f"resolves to {outside.resolve()}/stolen.json, outside the source folder {root}: "
            "never read",
        ),
        (
            "transactions/d=2024-01-09/link-to-a-folder-outside.json",
            f"resolves to {outside.resolve()}, outside the source folder {root}: never read",
        ),
        (
            "transactions/d=2024-01-10",
            f"resolves to {outside.resolve()}/d=2024-01-10, outside the source folder {root}: "
            "never read",
        ),
    ]


def test_a_transactions_folder_outside_the_source_folder_is_never_read(
    feed: Feed, tmp_path: Path
) -> None:
    elsewhere = Feed(tmp_path / "elsewhere")
    elsewhere.write_day("2024-01-09", GOOD)
    (feed.root / "transactions").symlink_to(elsewhere.root / "transactions")
    listing = find_day_files(feed.source, [DAY, day("2024-01-10")])
    assert listing.files == []
    assert listing.refused == [
        RefusedEntry(
            DAY,
            "transactions/d=2024-01-09",
            f"resolves to {(elsewhere.root / 'transactions' / 'd=2024-01-09').resolve()}, "
            f"outside the source folder {feed.root.resolve()}: never read",
        )
    ]
    assert listing.missing == [day("2024-01-10")]
    assert badly_named_day_folders(feed.source) == []  # not even listed


def test_a_week_with_refused_entries_is_still_built(feed: Feed, tmp_path: Path) -> None:
    feed.fill_days("2024-01-07", "2024-01-15")
    feed.write_day("2024-01-09", GOOD)
    folder = _folder(feed)
    (folder / "a-folder.json").mkdir()
    (tmp_path / "secret.json").write_text(GOOD + "\n")
    (folder / "b-outside.json").symlink_to(tmp_path / "secret.json")
    with watched_fifo(folder / "c-fifo.json") as fifo_opened, WeekReader(feed.source, 1) as reader:
        read = reader.read(WEEK)
        assert not fifo_opened()
    assert read.exploded.select("customer_id", "source_file").rows() == [
        ("C1", source_file("2024-01-09"))
    ]
    assert read.quarantine.select("source_file", "line_number", "raw_text").rows() == [
        ("transactions/d=2024-01-09/a-folder.json", None, None),
        ("transactions/d=2024-01-09/b-outside.json", None, None),
        ("transactions/d=2024-01-09/c-fifo.json", None, None),
    ]
    assert read.quarantine.get_column("reason").str.ends_with(": never read").all()
    assert read.files_read == 9


def test_a_name_that_is_not_utf8_and_entries_that_cannot_be_read_are_quarantined(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neither stops the week. As root the test cannot take a permission away: the refusals
    are simulated where the feed lists a folder and reads a file."""
    feed.fill_days("2024-01-07", "2024-01-15")
    feed.write_day("2024-01-09", GOOD)
    folder = _folder(feed)
    (folder / os.fsdecode(b"a-\xff.json")).write_text(GOOD + "\n")
    (folder / "b-locked.json").write_text(GOOD + "\n")
    listed, read_bytes = Path.iterdir, read_day_file

    def iterdir(path: Path) -> Iterator[Path]:
        if path.name == "d=2024-01-10":
            raise PermissionError(13, "Permission denied", str(path))
        return listed(path)

    def read(file: DayFile, max_line_bytes: int) -> DayBytes:
        if file.path.name == "b-locked.json":
            raise PermissionError(13, "Permission denied", str(file.path))
        return read_bytes(file, max_line_bytes)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    monkeypatch.setattr(parse, "read_day_file", read)
    with WeekReader(feed.source, 1) as reader:
        week = reader.read(WEEK)
    assert week.quarantine.select("source_file", "line_number", "raw_text", "reason").rows() == [
        (
            "transactions/d=2024-01-09/a-\\xff.json",
            None,
            None,
            "name that is not valid UTF-8 (shown with \\x escapes): never read",
        ),
        (
            "transactions/d=2024-01-09/b-locked.json",
            None,
            None,
            "file that cannot be read (Permission denied): never read",
        ),
        (
            "transactions/d=2024-01-10",
            None,
            None,
            "folder that cannot be listed (Permission denied): never read",
        ),
    ]
    assert week.exploded.select("customer_id", "source_file").rows() == [
        ("C1", source_file("2024-01-09"))
    ]


def test_refused_entries_of_a_neighbour_folder_belong_to_its_own_week(feed: Feed) -> None:
    feed.fill_days("2024-01-07", "2024-01-15")
    (_folder(feed, "2024-01-15") / "x.json").mkdir()  # Monday of the next week
    read = WeekReader(feed.source, 1).read(WEEK)
    assert read.quarantine.is_empty()


@pytest.mark.parametrize(
    "name",
    ["d=2024-13-45", "d=20240111", "d=2024-1-5", "x=2024-01-01", "d=2024-W02-1", "stray.json"],
)
def test_entries_of_transactions_that_no_week_reads_are_named(feed: Feed, name: str) -> None:
    feed.write_day("2024-01-09", GOOD)
    entry = feed.root / "transactions" / name
    if name.endswith(".json"):
        entry.write_text(GOOD + "\n")
    else:
        entry.mkdir()
        (entry / "transactions.json").write_text(GOOD + "\n")
    assert badly_named_day_folders(feed.source) == [f"transactions/{name}"]
    assert weeks_with_data(feed.source) == [WEEK]


def test_an_entry_of_transactions_named_in_bytes_that_are_not_utf8_is_named_escaped(
    feed: Feed,
) -> None:
    feed.write_day("2024-01-09", GOOD)
    (feed.root / "transactions" / os.fsdecode(b"d=2024-01-1\xff")).mkdir()
    assert badly_named_day_folders(feed.source) == ["transactions/d=2024-01-1\\xff"]


def test_a_feed_without_transactions_has_no_badly_named_folders(feed: Feed) -> None:
    assert badly_named_day_folders(feed.source) == []
    (feed.root / "transactions").mkdir()
    assert badly_named_day_folders(feed.source) == []


@pytest.mark.parametrize("location", ["file:///data/feed", "local:///data/feed", "/data/feed"])
def test_a_local_source_may_be_named_by_a_file_url(location: str) -> None:
    assert source_root(location).local == Path("/data/feed")


def test_a_day_file_is_read_up_to_the_size_it_had_when_opened(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A line appended while the file is being read is left for the next build, and the
    stamp of what was read says so: the fingerprint differs from the file as it is now."""
    path = feed.write_day("2024-01-09", GOOD)
    listing = find_day_files(feed.source, [DAY])
    looked_at = os.fstat

    def fstat_then_append(fd: int) -> os.stat_result:
        info = looked_at(fd)
        with path.open("a") as out:
            out.write(purchase("C9", "2024-01-09 11:00:00", "P2") + "\n")
        return info

    monkeypatch.setattr(os, "fstat", fstat_then_append)
    read = read_day_file(listing.files[0])
    monkeypatch.undo()
    assert read.data == f"{GOOD}\n".encode()
    assert read.stamp.split("\t")[0] == str(len(read.data))
    built = fingerprint(listing, {listing.files[0].source_file: read.stamp})
    assert built != fingerprint(find_day_files(feed.source, [DAY]))
    # Unchanged since, a file's stamp as read is its stamp now: no rebuild asked for.
    again = read_day_file(listing.files[0])
    assert fingerprint(listing, {listing.files[0].source_file: again.stamp}) == fingerprint(
        find_day_files(feed.source, [DAY])
    )


def test_a_transactions_folder_that_cannot_be_listed_is_named(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed.write_day("2024-01-09", GOOD)
    listed = Path.iterdir

    def iterdir(path: Path) -> Iterator[Path]:
        if path.name == "transactions":
            raise PermissionError(13, "Permission denied", str(path))
        return listed(path)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    for look in (weeks_with_data, badly_named_day_folders):
        with pytest.raises(UnreadableFeedError, match="transactions exists but cannot be read"):
            look(feed.source)


@given(
    data=st.binary(max_size=200).map(lambda b: bytes(b"ab\n\r"[x % 4] for x in b)),
    bom=st.booleans(),
    limit=st.integers(1, 12),
    split=st.integers(1, 12),
)
def test_bounded_lines_empties_exactly_the_lines_over_the_limit(
    data: bytes, bom: bool, limit: int, split: int
) -> None:
    """Against the obvious reference, for any chunking no longer than the limit. A line's
    length is that of its text: without a carriage return before its newline, or the
    byte-order mark that starts the file (a line of exactly the limit then a CRLF counts)."""
    data = BOM + data if bom else data
    size = min(split, limit)
    chunks = [data[i : i + size] for i in range(0, len(data), size)]
    kept, long_lines = bounded_lines(chunks, limit)
    lines = data.split(b"\n")

    def length(number: int, line: bytes) -> int:
        text = line.removesuffix(b"\r")
        return len(text.removeprefix(BOM) if number == 1 else text)

    numbered = list(enumerate(lines, start=1))
    assert kept == b"\n".join(b"" if length(n, line) > limit else line for n, line in numbered)
    assert long_lines == [
        LongLine(n, length(n, line), line[:LONG_LINE_PREFIX])
        for n, line in numbered
        if length(n, line) > limit
    ]


def test_a_file_that_cannot_be_read_is_asked_for_again_once_it_changes_not_before(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The week records such a file as the sensor sees it: no rebuild that would only
    quarantine it again, but one as soon as it changes (a `chmod` moves its ctime). As root
    the test cannot take a permission away: the refusal is simulated."""
    feed.fill_days("2024-01-07", "2024-01-15")
    path = feed.write_day("2024-01-09", GOOD)
    read_bytes = read_day_file

    def read(file: DayFile, max_line_bytes: int) -> DayBytes:
        if file.path == path:
            raise PermissionError(13, "Permission denied", str(file.path))
        return read_bytes(file, max_line_bytes)

    monkeypatch.setattr(parse, "read_day_file", read)
    with WeekReader(feed.source, 1) as reader:
        week = reader.read(WEEK)
    assert week.quarantine.get_column("reason").to_list() == [
        "file that cannot be read (Permission denied): never read"
    ]

    def now() -> str:
        return fingerprint(find_day_files(feed.source, days_read_for_week(WEEK, 1))).digest

    assert week.fingerprint.digest == now()
    path.chmod(0o644)
    assert week.fingerprint.digest != now()


def test_entries_of_a_day_folder_that_cannot_be_entered_say_so(
    feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A day folder that may be listed but not entered (mode 0600): its files are refused
    for what they are, not called broken symlinks. Simulated, as the tests run as root."""
    folder = feed.write_day("2024-01-09", GOOD).parent
    looked_up = Path.stat

    def stat(self: Path, *args: object, **kwargs: object) -> os.stat_result:
        if self.parent == folder:
            raise PermissionError(13, "Permission denied", str(self))
        return looked_up(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "stat", stat)
    assert _refused(find_day_files(feed.source, [DAY])) == [
        (
            source_file("2024-01-09"),
            "entry that cannot be looked at (Permission denied): never read",
        )
    ]
