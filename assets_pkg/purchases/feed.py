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
request; fingerprints use each object's size and ETag from that listing. The local code path
is separate and unchanged (`source_root` picks the branch).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from upath import UPath

from assets_pkg.shared import storage
from assets_pkg.shared.partitions import monday_of

ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, order=True)
class DayFile:
    """One JSON Lines file of the feed, with the day its folder names."""

    day: dt.date
    path: Path | UPath
    """The file itself: symlinks resolved, a regular file inside the source folder (an
    object's UPath on an object store)."""
    source_file: str
    """Path relative to the source folder, as recorded in provenance columns."""
    stamp: str = field(default="", compare=False)
    """On an object store, the object's size and ETag from the listing (for `fingerprint`);
    empty for a local file, whose `stat` is used."""


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
    """SHA-256 over each entry's path, size and modification time, and each refusal."""
    files: int
    """Entries taken into account: regular files and refused entries."""


def fingerprint(listing: DayListing) -> Fingerprint:
    """The fingerprint of what `listing` found, from `stat` alone (no file is read)."""
    lines = []
    for file in listing.files:
        if file.stamp:
            lines.append(f"{file.source_file}\t{file.stamp}")
            continue
        info = file.path.stat()
        lines.append(f"{file.source_file}\t{info.st_size}\t{info.st_mtime_ns}")
    lines += [f"{entry.source_file}\trefused\t{entry.reason}" for entry in listing.refused]
    digest = hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
    return Fingerprint(digest=digest, files=len(lines))


def day_folder_name(day: dt.date) -> str:
    """`d=YYYY-MM-DD`: the name of the folder holding the purchases of `day`."""
    return f"d={day.isoformat()}"


def day_folder(source_dir: Path, day: dt.date) -> Path:
    return source_dir / "transactions" / day_folder_name(day)


def source_root(location: str) -> Path | UPath:
    """The source folder PURCHASES_SOURCE_DIR names: a `Path` for a local folder (the
    local rules), a UPath with the storage options for an object store."""
    return storage.local_folder(location) if storage.is_local(location) else storage.upath(location)


def find_day_files(source_dir: Path | UPath, days: Iterable[dt.date]) -> DayListing:
    """The files of `days`, what was refused among their entries, and the missing days.

    Nothing here opens a file: entries are judged by `stat` alone, so both parsers only
    ever see regular files inside the source folder.
    """
    if not isinstance(source_dir, Path):
        return _find_object_day_files(source_dir, days)
    root = source_dir.resolve()
    listing = DayListing()
    for day in sorted(days):
        folder = day_folder(source_dir, day)
        if not os.path.lexists(folder):
            listing.missing.append(day)
            continue
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
                listing.files.append(DayFile(day, checked, source_file))
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
    except OSError:
        return f"broken symlink (to {target}): never read"
    if not wanted(mode):
        return f"not {what} ({_KINDS.get(stat.S_IFMT(mode), 'special file')}): never read"
    return target


def read_day_file(path: Path | UPath) -> bytes:
    """The bytes of a day file that `find_day_files` accepted.

    Opened without blocking and without following a symlink, and checked again once open,
    so that a file swapped for a FIFO or a symlink after it was listed fails at once
    instead of blocking the run. An object is read with one request.
    """
    if not isinstance(path, Path):
        data: bytes = path.read_bytes()
        return data
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as file:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(
                f"{path} is no longer a regular file: run again once the feed is settled."
            )
        return file.read()


def week_days(week: dt.date) -> list[dt.date]:
    """The 7 days of the week starting Monday `week`."""
    return [week + i * ONE_DAY for i in range(7)]


def weeks_without_data(source_dir: Path | UPath, weeks: Iterable[dt.date]) -> list[dt.date]:
    """The weeks none of whose own 7 day folders holds an entry: their data has not arrived."""
    return [w for w in weeks if not has_data(find_day_files(source_dir, week_days(w)), w)]


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


def weeks_with_data(source_dir: Path | UPath, first_week: dt.date | None = None) -> list[dt.date]:
    """Mondays (from `first_week` on) of the weeks that have at least one day folder.

    Entries whose name is not exactly `d=YYYY-MM-DD` are not day folders and are passed
    over (`badly_named_day_folders` lists them).
    """
    days = sorted(
        day for name in _transactions_entries(source_dir) if (day := _folder_day(name)) is not None
    )
    today = dt.datetime.now(dt.UTC).date()
    weeks = sorted({monday_of(day) for day in days})
    # Only weeks that have ended are partitions (the weekly partitions use end_offset=0).
    return [
        w for w in weeks if (first_week is None or w >= first_week) and w + 7 * ONE_DAY <= today
    ]


def badly_named_day_folders(source_dir: Path | UPath) -> list[str]:
    """Entries of `transactions/` that are not named `d=YYYY-MM-DD` with a real date, as
    paths relative to `source_dir` (e.g. `transactions/d=2024-13-45`): no week ever reads
    them."""
    return [
        f"transactions/{storage.printable_name(name)}"
        for name in _transactions_entries(source_dir)
        if _folder_day(name) is None
    ]


def _transactions_entries(source_dir: Path | UPath) -> list[str]:
    """The names in `transactions/`, sorted; none when it is absent or resolves outside the
    source folder (`find_day_files` reports each day folder of the latter)."""
    if not isinstance(source_dir, Path):
        return sorted({name for name, _ in _object_entries(source_dir / "transactions")})
    folder = source_dir / "transactions"
    checked = _check_entry(folder, source_dir.resolve(), stat.S_ISDIR, "a folder")
    return [] if isinstance(checked, str) else sorted(entry.name for entry in checked.iterdir())


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
            listing.files.append(DayFile(day, folder / part, source_file, stamp))
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
    start = dt.date.fromisoformat(settings.purchases_start_date)
    end = settings.purchases_end_date
    weeks = [
        week
        for week in weeks_with_data(source_root(settings.purchases_source_dir), start)
        if end is None or week.isoformat() <= end
    ]
    if not weeks:
        raise ConfigurationError(
            f"No day folders from {start} to {end or 'today'} under "
            f"{settings.purchases_source_dir}/transactions: check PURCHASES_SOURCE_DIR, "
            "PURCHASES_START_DATE and PURCHASES_END_DATE."
        )
    print(f"{weeks[0]}...{weeks[-1]}")
    return 0


if __name__ == "__main__":
    from assets_pkg.shared.cli import run_cli

    run_cli(main)
