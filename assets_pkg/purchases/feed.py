"""The transaction feed on disk: one folder per calendar day, and which days a week reads.

    <source>/transactions/d=YYYY-MM-DD/transactions.json

A folder may hold several `*.json` parts; they are read in name order. A day whose folder
is absent (or holds no `*.json` entry) is *missing*. Its other entries are *ignored* (never
read), and named for a warning.

Only regular files inside the source folder are ever opened. An entry that is anything
else (a folder, a FIFO, a socket, a device, a broken symlink), that resolves to a place
outside the source folder (through a symlinked file, day folder or `transactions/`), whose
name is not valid UTF-8, or a day folder that cannot be listed, is never opened: it is
listed as *refused*, with the reason, for the quarantine of its day. A FIFO in particular
would block the reader for ever.

The source may also be an object store (`s3://bucket/prefix`, see docs/storage.md). There
are no symlinks, FIFOs or devices there: a day folder is a key prefix, and its files are the
objects directly under it. The same rules apply to names (`d=YYYY-MM-DD`, `*.json` parts in
name order); an object where a day folder should be, or a `*.json` "folder" (objects below a
key ending in `.json`), is refused like its local counterpart. Each day is listed with one
request; fingerprints use each object's size and ETag from that listing. The source is a
`Location` (`assets_pkg.shared.location`); the local code path is separate and picks itself
from `Location.is_local`.

A week records what it read: `read_day_file` takes each file's `stamp` from the open file
itself, before reading, and reads no further than the size in that stamp, so the stamp
describes exactly the bytes parsed. `fingerprint` is the one function that turns stamps into
a week's fingerprint, both for a build (the stamps read) and for the late-data sensor (the
files as they are now): a file that changed, grew or vanished after a build was read gives a
different fingerprint. A line longer than `MAX_LINE_BYTES` is never held whole: the reader
keeps its first `LONG_LINE_PREFIX` bytes for the quarantine and leaves an empty line in its
place, so that no single file can take the machine's memory.
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import io
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from upath import UPath

from assets_pkg.shared import storage
from assets_pkg.shared.dates import monday_of
from assets_pkg.shared.location import Location

ONE_DAY = dt.timedelta(days=1)

MAX_LINE_BYTES = 64 * 2**20
"""The longest line of a day file that is parsed: 64 MiB (a basket of more than a million
items). A longer line goes to the quarantine with its first `LONG_LINE_PREFIX` bytes; parsing
a line takes about 20 times its size in memory, so this bounds what one line can take."""
LONG_LINE_PREFIX = 1024
"""How much of a line over `MAX_LINE_BYTES` the quarantine keeps as its text."""
_CHUNK = 4 * 2**20


class UnreadableFeedError(PermissionError):
    """`transactions/` exists but cannot be listed or searched: which day folders it holds is
    unknown, so no week can be built from it. The message names the folder."""


class ChangedFileError(OSError):
    """A day file that is no longer what its listing found (now a FIFO, a device, a folder, a
    link): it changed under the run, and is never read."""


CHANGED_UNDER_RUN = frozenset({errno.ELOOP, errno.ENXIO, errno.ENOTDIR, errno.EISDIR})
"""What opening a listed day file fails with when it was swapped meanwhile: for a symlink
(`O_NOFOLLOW`), a socket, a file where its folder was, a folder."""


class FeedReadError(OSError):
    """A day file, listed and still there, could not be read for another reason (a disk or
    network error, an object store that keeps answering `503 SlowDown`). Nothing tells that
    its purchases are bad, so the run stops rather than build a week without them. The
    message is one sentence naming the file."""


def _unreadable(folder: Path, error: OSError) -> UnreadableFeedError:
    return UnreadableFeedError(
        f"The folder {folder} exists but cannot be read ({error.strerror or error}): give the "
        "user running Dagster permission to list and enter it (chmod u+rx), or point "
        "PURCHASES_SOURCE_DIR at a readable copy."
    )


@dataclass(frozen=True, order=True)
class DayFile:
    """One JSON Lines file of the feed, with the day its folder names."""

    day: dt.date
    path: UPath
    """The file itself: symlinks resolved, a regular file inside the source folder (a
    `PosixUPath`, also a `pathlib.Path`); an object's UPath on an object store."""
    source_file: str
    """Path relative to the source folder, as recorded in provenance columns."""
    stamp: str = field(default="", compare=False)
    """On an object store, the object's size and ETag from the listing (for `fingerprint`);
    empty for a local file, whose `stat` is used (`file_stamp`)."""
    size: int | None = field(default=None, compare=False)
    """On an object store, the object's size from the listing."""

    @property
    def is_local(self) -> bool:
        """Whether it is a local file (read under the local rules)."""
        return storage.is_local(self.path)


@dataclass(frozen=True)
class RefusedEntry:
    """An entry where a day file was expected that is never opened, and why."""

    day: dt.date
    source_file: str
    """Path relative to the source folder, as it appears in the feed."""
    reason: str


@dataclass(frozen=True)
class DayListing:
    """What the day folders of some days hold."""

    files: list[DayFile] = field(default_factory=list)
    """The regular files to read, in day order, each day's parts in name order."""
    refused: list[RefusedEntry] = field(default_factory=list)
    missing: list[dt.date] = field(default_factory=list)
    """Days whose folder is absent or holds no `*.json` entry at all."""
    ignored: list[str] = field(default_factory=list)
    """Entries of the day folders that are not `*.json` parts (`transactions.jsonl`,
    `part.JSON`, `transactions.json.gz`): never read, named for a warning."""

    def of_day(self, day: dt.date) -> DayListing:
        """What this listing found for `day` alone."""
        folder = f"transactions/{day_folder_name(day)}/"
        return DayListing(
            files=[f for f in self.files if f.day == day],
            refused=[r for r in self.refused if r.day == day],
            missing=[d for d in self.missing if d == day],
            ignored=[name for name in self.ignored if name.startswith(folder)],
        )

    @staticmethod
    def joined(listings: Iterable[DayListing]) -> DayListing:
        """Listings of distinct days as one, in the order given (ascending days)."""
        joined = DayListing()
        for listing in listings:
            joined.files.extend(listing.files)
            joined.refused.extend(listing.refused)
            joined.missing.extend(listing.missing)
            joined.ignored.extend(listing.ignored)
        return joined

    @property
    def days_with_entries(self) -> set[dt.date]:
        """Days whose folder holds something, readable or refused: their data has arrived."""
        return {f.day for f in self.files} | {r.day for r in self.refused}


@dataclass(frozen=True)
class Fingerprint:
    """What a set of day folders held at one moment: a late or changed file changes it."""

    digest: str
    """SHA-256 over each entry's path and stamp (`file_stamp`), and each refusal."""
    files: int
    """Entries taken into account: regular files and refused entries."""


def file_stamp(info: os.stat_result, size: int | None = None) -> str:
    """What identifies one version of a local file without reading it: its size (or the
    `size` bytes read of it), modification time, status-change time and inode.

    The status-change time (`ctime`) moves on every write, truncation or `utime` call and
    cannot be set back by the user, so a file corrected in place with its size and
    modification time restored still gets a new stamp; a file replaced by a rename gets a
    new inode. docs/decisions.md weighs this against hashing the contents.
    """
    length = info.st_size if size is None else size
    return f"{length}\t{info.st_mtime_ns}\t{info.st_ctime_ns}\t{info.st_ino}"


VANISHED = "vanished"
"""The stamp of a file listed but gone when it was looked at again."""


def fingerprint(listing: DayListing, read: Mapping[str, str] | None = None) -> Fingerprint:
    """The fingerprint of what `listing` found: the one definition of "what a week reads",
    shared by a build and by the late-data sensor.

    `read` maps a file's `source_file` to the stamp of the bytes a build read of it (see
    `read_day_file`); a file not in it is stamped as it is now, from `stat` alone (no file is
    read), or from the object store's listing. A build records `fingerprint(listing, read)`;
    the sensor compares it with `fingerprint(find_day_files(...))`, so a file that changed
    after it was read (even during the build) asks for the week again.
    """
    read = read or {}
    lines = []
    for file in listing.files:
        stamp = read.get(file.source_file) or stamp_now(file)
        lines.append(f"{file.source_file}\t{stamp}")
    lines += [f"{entry.source_file}\trefused\t{entry.reason}" for entry in listing.refused]
    digest = hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
    return Fingerprint(digest=digest, files=len(lines))


def stamp_now(file: DayFile) -> str:
    """A file's stamp as it is now, from `stat` (nothing read); an object's from its
    listing."""
    if file.stamp:
        return file.stamp
    try:
        return file_stamp(storage.local_path(file.path).stat())
    except FileNotFoundError:
        return VANISHED
    except OSError as error:
        return f"cannot be looked at ({error.strerror})"


def day_folder_name(day: dt.date) -> str:
    """`d=YYYY-MM-DD`: the name of the folder holding the purchases of `day`."""
    return f"d={day.isoformat()}"


def day_folder(source_dir: Path, day: dt.date) -> Path:
    return source_dir / "transactions" / day_folder_name(day)


SOURCE_SETTING = "PURCHASES_SOURCE_DIR"


def source_root(location: str) -> Location:
    """The source folder PURCHASES_SOURCE_DIR names: the one place its text becomes a
    `Location` (the local rules for a local folder, the storage options for a store)."""
    return Location.of(location, SOURCE_SETTING)


def find_day_files(source: Location, days: Iterable[dt.date]) -> DayListing:
    """The files of `days`, what was refused among their entries, and the missing days.

    Nothing here opens a file: entries are judged by `stat` alone, so both parsers only
    ever see regular files inside the source folder.
    """
    if not source.is_local:
        return _find_object_day_files(source.path, days)
    source_dir = source.local
    root = source_dir.resolve()
    listing = DayListing()
    for day in sorted(days):
        folder = day_folder(source_dir, day)
        try:
            os.lstat(folder)
        except (FileNotFoundError, NotADirectoryError):
            listing.missing.append(day)
            continue
        except OSError as error:  # transactions/ cannot be searched: its folders are unknown
            raise _unreadable(folder.parent, error) from None
        name = folder.relative_to(source_dir).as_posix()
        checked = _check_entry(folder, root, stat.S_ISDIR, "a folder")
        if isinstance(checked, str):
            listing.refused.append(RefusedEntry(day, name, checked))
            continue
        try:
            names = sorted(entry.name for entry in checked.iterdir())
        except OSError as error:  # permissions
            reason = f"folder that cannot be listed ({error.strerror}): never read"
            listing.refused.append(RefusedEntry(day, name, reason))
            continue
        parts = [part for part in names if part.endswith(".json")]
        listing.ignored.extend(
            f"{name}/{storage.printable_name(other)}"
            for other in names
            if not other.endswith(".json")
        )
        if not parts:
            listing.missing.append(day)
        for part in parts:
            shown = storage.printable_name(part)
            source_file = f"{name}/{shown}"
            if shown != part:
                reason = "name that is not valid UTF-8 (shown with \\x escapes): never read"
                listing.refused.append(RefusedEntry(day, source_file, reason))
                continue
            checked = _check_entry(folder / part, root, stat.S_ISREG, "a regular file")
            if isinstance(checked, str):
                listing.refused.append(RefusedEntry(day, source_file, checked))
            else:
                listing.files.append(DayFile(day, UPath(checked), source_file))
    return listing


_KINDS = {
    stat.S_IFDIR: "folder",
    stat.S_IFREG: "regular file",
    stat.S_IFIFO: "FIFO",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
}


def _check_entry(path: Path, root: Path, wanted: Callable[[int], bool], what: str) -> Path | str:
    """`path` with its symlinks resolved when it is `what` inside `root`, else the reason
    it is never read. Only `stat` and `readlink` are used: nothing is opened."""
    try:
        target = path.resolve()
    except (OSError, RuntimeError) as error:  # a symlink loop
        return f"symlink that cannot be resolved ({error}): never read"
    if not target.is_relative_to(root):
        return f"resolves to {target}, outside the source folder {root}: never read"
    try:
        mode = target.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        return f"broken symlink (to {target}): never read"
    except OSError as error:  # a folder on the way that may be listed but not entered
        return f"entry that cannot be looked at ({error.strerror or error}): never read"
    if not wanted(mode):
        return f"not {what} ({_KINDS.get(stat.S_IFMT(mode), 'special file')}): never read"
    return target


@dataclass(frozen=True)
class LongLine:
    """A line over the length limit: never parsed, quarantined with the start of its text."""

    line_number: int
    length: int
    """The length of its text in bytes: without its newline, the carriage return of a CRLF
    ending, or the byte-order mark that starts the file (see `bounded_lines`)."""
    prefix: bytes
    """Its first `LONG_LINE_PREFIX` bytes (at most)."""


@dataclass(frozen=True)
class DayBytes:
    """What one read of a day file gave."""

    data: bytes
    """The file's bytes, each line over the limit replaced by an empty line (so that every
    other line keeps its number)."""
    stamp: str
    """The version of the file these bytes are (`file_stamp`, with the size read), or the
    listing's stamp of an object."""
    long_lines: tuple[LongLine, ...] = ()


def read_day_file(file: DayFile, max_line_bytes: int = MAX_LINE_BYTES) -> DayBytes:
    """The bytes of a day file that `find_day_files` accepted, and the stamp of what was read.

    Opened without blocking and without following a symlink, and checked again once open,
    so that a file swapped for a FIFO or a symlink after it was listed fails at once
    instead of blocking the run. Its stamp comes from the open file before it is read, and
    no more than the size in that stamp is read: bytes appended meanwhile are left for the
    next build, and the stamp no longer matches the file, so the sensor asks for it. An
    object is read with one request of at most the limit and a byte (most objects), a larger
    one in chunks as it streams in; its stamp is the listing's (an object is replaced whole:
    if a newer one was read, its ETag differs from the stamp too, and the week is built
    again, never the other way round).

    Raises FileNotFoundError for a file gone since it was listed, PermissionError for one
    that may not be read, ChangedFileError (or an OSError of `CHANGED_UNDER_RUN`) for one no
    longer a regular file, and any other OSError for a failed read.
    """
    if not file.is_local:
        return _read_object(file, file.path, max_line_bytes)
    with _open_regular(storage.local_path(file.path)) as (stream, info):
        counted = _Counted(stream.read)
        if info.st_size <= max_line_bytes:  # no line can be too long: one read (most files)
            data = b"".join(_chunks(counted.read, info.st_size, max(1, info.st_size)))
            return DayBytes(data, file_stamp(info, counted.total))
        chunks = _chunks(counted.read, info.st_size, _chunk_size(max_line_bytes))
        data, long_lines = bounded_lines(chunks, max_line_bytes)
    return DayBytes(data, file_stamp(info, counted.total), tuple(long_lines))


def _read_object(file: DayFile, path: UPath, max_line_bytes: int) -> DayBytes:
    """`read_day_file` for an object: never more than the limit and a byte in one request,
    so that an object replaced by a far larger one after the listing is streamed like any
    large object instead of being held whole."""
    if file.size == 0:  # a range of an empty object is "not satisfiable": nothing to ask
        return DayBytes(b"", file.stamp)
    if file.size is not None and file.size <= max_line_bytes:  # one GET, as most objects
        fs: Any = path.fs
        head: bytes = fs.cat_file(path.path, start=0, end=max_line_bytes + 1)
        if len(head) <= max_line_bytes:
            return DayBytes(head, file.stamp)
    with path.open("rb") as stream:
        chunks = _chunks(stream.read, -1, _chunk_size(max_line_bytes))
        data, long_lines = bounded_lines(chunks, max_line_bytes)
    return DayBytes(data, file.stamp, tuple(long_lines))


@contextmanager
def _open_regular(path: Path) -> Iterator[tuple[io.FileIO, os.stat_result]]:
    """`path` opened for reading without blocking and without following a symlink, with its
    status from the open file: ChangedFileError when that is not a regular file (a FIFO, a
    device swapped in after `path` was checked)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb", buffering=0) as stream:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ChangedFileError(f"{path} is no longer a regular file")
        yield stream, info


class _Counted:
    def __init__(self, read: Callable[[int], bytes | None]) -> None:
        self._read = read
        self.total = 0

    def read(self, size: int) -> bytes:
        data = self._read(size) or b""
        self.total += len(data)
        return data


def _chunks(read: Callable[[int], bytes], size: int, chunk: int) -> Iterator[bytes]:
    """The bytes of a stream in chunks of at most `chunk` bytes, up to `size` bytes in all
    (to the end when `size` is negative)."""
    left = size
    while left != 0:
        data = read(chunk if left < 0 else min(chunk, left))
        if not data:
            return
        left = left - len(data) if left > 0 else left
        yield data


def _chunk_size(max_line_bytes: int) -> int:
    """Chunks no longer than a line may be (see `bounded_lines`)."""
    return max(1, min(_CHUNK, max_line_bytes))


BOM = b"\xef\xbb\xbf"
"""The UTF-8 byte-order mark: at the very start of a file it is no part of the first line."""


def bounded_lines(
    chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES
) -> tuple[bytes, list[LongLine]]:
    """The bytes of `chunks` with every line longer than `max_line_bytes` left empty, and those
    lines with their first `LONG_LINE_PREFIX` bytes.

    A line's length is that of its text, as every reader takes it: without its newline, the
    carriage return before it, or the byte-order mark that starts the file. No chunk may be
    longer than `max_line_bytes`: then only the line running across chunks can be too long,
    and at most `max_line_bytes` plus a chunk of a long line is ever held."""
    out = bytearray()
    long_lines: list[LongLine] = []
    number = 1  # of the line not yet ended
    current = 0  # its length so far; its bytes end `out` while it is not cut
    cut: bytes | None = None  # its prefix once it is surely over the limit
    last = b""  # its last byte so far
    # A line may hold the limit, a carriage return and a byte-order mark before it is cut.
    held = max_line_bytes + 1 + len(BOM)

    def start_of_line() -> bytes:
        if cut is not None:
            return cut
        start = len(out) - current
        return bytes(out[start : start + LONG_LINE_PREFIX])

    def end_of_line() -> None:
        nonlocal cut
        length = current - (last == b"\r") - (len(BOM) * starts_file_with_bom(number))
        if length > max_line_bytes:
            prefix = start_of_line()
            if cut is None:
                del out[len(out) - current :]
            long_lines.append(LongLine(number, length, prefix))
        cut = None

    def starts_file_with_bom(line: int) -> bool:
        return line == 1 and start_of_line().startswith(BOM)

    for chunk in chunks:
        first = chunk.find(b"\n")
        head = chunk if first < 0 else chunk[:first]
        if cut is None and current + len(head) > held:
            cut = start_of_line()
            del out[len(out) - current :]
        if cut is None:
            out += head
        elif len(cut) < LONG_LINE_PREFIX:
            cut += head[: LONG_LINE_PREFIX - len(cut)]
        current += len(head)
        last = head[-1:] or last
        if first < 0:
            continue
        end_of_line()
        last_newline = chunk.rfind(b"\n")
        out += chunk[first : last_newline + 1]  # whole lines, each shorter than the chunk
        number += chunk.count(b"\n", first, last_newline + 1)
        out += chunk[last_newline + 1 :]
        current = len(chunk) - last_newline - 1
        last = chunk[last_newline + 1 :][-1:]
    if current or cut is not None:
        end_of_line()
    return bytes(out), long_lines


def read_regular_file(path: Path, root: Path) -> bytes:
    """The bytes of `path`, under the rule for every source file: it must resolve to a regular
    file inside `root` (the source folder, resolved). Raises ValueError with the reason
    otherwise, OSError when it cannot be read."""
    checked = _check_entry(path, root, stat.S_ISREG, "a regular file")
    if isinstance(checked, str):
        raise ValueError(checked)
    try:
        with _open_regular(checked) as (stream, _):
            return stream.readall()
    except ChangedFileError:
        raise ValueError("not a regular file any more: never read") from None


def week_days(week: dt.date) -> list[dt.date]:
    """The 7 days of the week starting Monday `week`."""
    return [week + i * ONE_DAY for i in range(7)]


def weeks_without_data(source: Location, weeks: Iterable[dt.date]) -> list[dt.date]:
    """The weeks none of whose own 7 day folders holds an entry: their data has not arrived."""
    return [w for w in weeks if not has_data(find_day_files(source, week_days(w)), w)]


def has_data(listing: DayListing, week: dt.date) -> bool:
    """Whether one of the week's own folders in `listing` holds an entry, readable or not."""
    return not listing.days_with_entries.isdisjoint(week_days(week))


def days_read_for_week(week: dt.date, tolerance_days: int) -> list[dt.date]:
    """A week's own 7 folders plus `tolerance_days` folders on each side.

    A purchase may sit in a folder up to `tolerance_days` away from its date, so these are
    all the folders that can hold a purchase dated inside the week.
    """
    first = week - tolerance_days * ONE_DAY
    return [first + i * ONE_DAY for i in range(7 + 2 * tolerance_days)]


def weeks_with_data(source: Location, first_week: dt.date | None = None) -> list[dt.date]:
    """Mondays (from `first_week` on) of the weeks that have at least one day folder.

    Entries whose name is not exactly `d=YYYY-MM-DD` are not day folders and are passed
    over (`badly_named_day_folders` lists them).
    """
    days = sorted(
        day for name in _transactions_entries(source) if (day := _folder_day(name)) is not None
    )
    today = dt.datetime.now(dt.UTC).date()
    weeks = sorted({monday_of(day) for day in days})
    # Only weeks that have ended are partitions (the weekly partitions use end_offset=0).
    return [
        w for w in weeks if (first_week is None or w >= first_week) and w + 7 * ONE_DAY <= today
    ]


def feed_span(source: Location) -> tuple[dt.date, dt.date] | None:
    """The first and the last day whose folder holds an entry: the feed runs between them,
    so a folder before the first was never expected and one after the last has not arrived
    yet (None when no day folder holds anything)."""
    days = sorted(
        day for name in _transactions_entries(source) if (day := _folder_day(name)) is not None
    )

    def holds_entries(day: dt.date) -> bool:
        return bool(find_day_files(source, [day]).days_with_entries)

    first = next((day for day in days if holds_entries(day)), None)
    last = next((day for day in reversed(days) if holds_entries(day)), None)
    return None if first is None or last is None else (first, last)


def badly_named_day_folders(source: Location) -> list[str]:
    """Entries of `transactions/` that are not named `d=YYYY-MM-DD` with a real date, as
    paths relative to `source` (e.g. `transactions/d=2024-13-45`): no week ever reads
    them."""
    return [
        f"transactions/{storage.printable_name(name)}"
        for name in _transactions_entries(source)
        if _folder_day(name) is None
    ]


def _transactions_entries(source: Location) -> list[str]:
    """The names in `transactions/`, sorted; none when it is absent or resolves outside the
    source folder (`find_day_files` reports each day folder of the latter)."""
    if not source.is_local:
        return sorted({name for name, _ in _object_entries(source.path / "transactions")})
    source_dir = source.local
    folder = source_dir / "transactions"
    checked = _check_entry(folder, source_dir.resolve(), stat.S_ISDIR, "a folder")
    if isinstance(checked, str):
        return []
    try:
        return sorted(entry.name for entry in checked.iterdir())
    except OSError as error:  # it exists and is a folder: it cannot be listed
        raise _unreadable(folder, error) from None


def _object_entries(folder: UPath) -> list[tuple[str, bool]]:
    """(name, is a plain object) of each entry directly under `folder` on an object store,
    listed afresh (never from the filesystem's listing cache); none when it is absent."""
    fs: Any = folder.fs
    fs.invalidate_cache(folder.path)
    try:
        listed = fs.ls(folder.path, detail=True, refresh=True)
    except FileNotFoundError:
        return []
    entries = []
    for info in listed:
        key = str(info["name"]).rstrip("/")
        if key == folder.path.rstrip("/"):
            continue  # the folder's own marker object (`transactions/`)
        name = key.rsplit("/", 1)[-1]
        if name:
            entries.append((name, info.get("type") == "file"))
    return entries


def _find_object_day_files(root: UPath, days: Iterable[dt.date]) -> DayListing:
    """`find_day_files` on an object store: one listing of each day's prefix."""
    fs: Any = root.fs
    listing = DayListing()
    for day in sorted(days):
        name = f"transactions/{day_folder_name(day)}"
        folder = root / "transactions" / day_folder_name(day)
        fs.invalidate_cache(folder.path)
        try:
            found = fs.find(folder.path, detail=True, withdirs=False)
        except FileNotFoundError:
            found = {}
        prefix = folder.path.rstrip("/") + "/"
        # An object named like the folder itself, not the folder's marker (`d=.../`, which
        # the AWS console and other tools write): that key keeps its slash.
        if folder.path.rstrip("/") in {str(key) for key in found}:
            reason = "not a folder (regular file): never read"
            listing.refused.append(RefusedEntry(day, name, reason))
            continue
        # The entries directly under the day's prefix: an object, or a "folder" when more
        # of the key follows.
        objects: dict[str, dict[str, Any]] = {}
        folders: set[str] = set()
        for key, info in found.items():
            if not str(key).startswith(prefix):
                continue  # another day folder whose name starts with this one's
            rest = str(key).removeprefix(prefix)
            if not rest:
                continue  # the day folder's own marker, which some tools write
            head, separator, _ = rest.partition("/")
            if separator:
                folders.add(head)
            else:
                objects[head] = info
        names = sorted(set(objects) | folders)
        parts = [part for part in names if part.endswith(".json")]
        listing.ignored.extend(f"{name}/{other}" for other in names if not other.endswith(".json"))
        if not parts:
            listing.missing.append(day)
        for part in parts:
            source_file = f"{name}/{part}"
            if part in folders:
                reason = "not a regular file (folder): never read"
                listing.refused.append(RefusedEntry(day, source_file, reason))
                continue
            info = objects[part]
            stamp = f"{info.get('size')}\t{info.get('ETag') or info.get('LastModified')}"
            size = info.get("size")
            listing.files.append(
                DayFile(
                    day, folder / part, source_file, stamp, size if isinstance(size, int) else None
                )
            )
    return listing


def _folder_day(name: str) -> dt.date | None:
    """The day of a folder named exactly `d=YYYY-MM-DD`, else None.

    `date.fromisoformat` also takes `20240111` and `2024-W02-4`; folders are looked up by
    the canonical name, so only that name counts.
    """
    text = name.removeprefix("d=")
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return day if name.startswith("d=") and day.isoformat() == text else None


def main(argv: list[str] | None = None) -> int:
    """Print the partition range of the weeks the feed holds, e.g. `2024-01-01...2024-03-04`.

    `make run` passes it to `--partition-range`.
    """
    import argparse

    from assets_pkg.shared.settings import ConfigurationError, Settings, check_reachable

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.parse_args(argv)
    settings = Settings.from_env()
    check_reachable(settings.purchases_source_dir, "PURCHASES_SOURCE_DIR")
    partitions = settings.weeks
    weeks = [
        week
        for week in weeks_with_data(source_root(settings.purchases_source_dir), partitions.first)
        if partitions.last is None or week <= partitions.last
    ]
    if not weeks:
        end = settings.purchases_end_date
        raise ConfigurationError(
            f"No day folders from {partitions.first} to {end or 'today'} under "
            f"{settings.purchases_source_dir}/transactions: check PURCHASES_SOURCE_DIR, "
            "PURCHASES_START_DATE and PURCHASES_END_DATE."
        )
    print(f"{weeks[0]}...{weeks[-1]}")
    return 0


if __name__ == "__main__":
    from assets_pkg.shared.cli import run_cli

    run_cli(main, (UnreadableFeedError,))
