"""Reading a source tree safely: only regular files that really lie inside the source folder.

A source folder is input from outside, so it may hold symbolic links to anywhere (`/etc/passwd`),
links to directories outside it, FIFOs (opening one blocks until someone writes), sockets,
devices, or a directory where a file is expected. The rules:

- every path is resolved (links followed) before anything is opened; a path whose resolved form
  lies outside the source folder is never opened;
- only regular files are opened, and with `O_NONBLOCK | O_NOFOLLOW`, then checked again on the
  open descriptor (same device and inode as the checked file, still regular), so a file swapped
  for a link or a FIFO between the check and the open is refused too, and nothing ever blocks;
- a link to a regular file inside the folder is read like the file itself, under the link's name;
- the walk never descends into a linked directory (inside the folder or not): its files are read
  at their real place, and a link cannot make the walk loop or leave the folder;
- a name that is not valid UTF-8 is refused by the walk, the one place names are read from the
  file system (and so is every file in a folder so named), shown with `\\xNN` escapes: no such
  string reaches a reader, a table or the database.

`SourceFolder(root).walk()` lists a tree; `.read(relative)` returns the bytes of one file or
raises `UnsafeFileError` with the reason, ready for `signature_rejects`. Only links cost a full
resolution: a plain file needs one `lstat` and its folder's resolved path, which the
`SourceFolder` resolves once per folder (so a folder replaced by a link in the middle of a run
is noticed only on the next run; the inode check on open still refuses a swapped file).

On an object store (`s3://...`, docs/storage.md) there are no links, FIFOs or devices:
`ObjectSourceFolder` lists the tree with one request, then reads each object with one more.
A store that fails as a whole (it keeps timing out or throttling, or cannot be reached) fails
the run with one `StorageError` sentence naming SIGNATURES_SOURCE_DIR instead of rejecting
each file.
An object that is also a "folder" (more of a key follows it) is refused as a directory, as
locally. `source_folder(root)` picks the class; the local one is unchanged.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from upath import UPath

from assets_pkg.shared.location import Location
from assets_pkg.shared.storage import StorageError, printable_name, unavailable

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeFileError(Exception):
    """A source path that must not be opened or could not be read; the message is the reason."""


@dataclass
class Walk:
    """A source tree: the regular files to read, and every other entry with why it was refused."""

    files: list[str] = field(default_factory=list)
    """Paths relative to the root, `/`-separated, sorted."""
    refused: dict[str, str] = field(default_factory=dict)
    """Relative path -> reason (a link leaving the folder, a FIFO, a linked directory, a name
    that is not valid UTF-8 ...)."""
    directories: list[str] = field(default_factory=list)
    """The real directories entered (not links), relative, sorted: one where a file belongs is
    the reader's to reject."""


OUTSIDE = "symbolic link to a path outside the source folder: not followed"
LINKED_DIRECTORY = "symbolic link to a directory: not followed (its files are read where they are)"
NOT_UTF8 = "the name is not valid UTF-8 (shown with \\x escapes): not read"
FOLDER_NOT_UTF8 = "a folder name on the path is not valid UTF-8 (shown with \\x escapes): not read"
DIRECTORY = "a directory, not a file"


class SourceFolder:
    """One source folder (SOURCE_A/ or SOURCE_B/), listed and read under the rules above."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.real_root = root.resolve()
        self._real_directories: dict[Path, Path] = {}

    def walk(self) -> Walk:
        """Every entry under the folder; linked directories are listed as refused, not entered.
        A name that is not valid UTF-8 (the file system allows any bytes) is refused here, where
        names are first read, so no such string reaches a reader, a table or the database: every
        file whose path holds one is refused, shown with `\\xNN` escapes."""
        found = Walk()
        pending: list[tuple[PurePosixPath, bool]] = [(PurePosixPath(), True)]
        while pending:
            directory, utf8_path = pending.pop()
            try:
                with os.scandir(self.root / directory) as listing:
                    entries = list(listing)
            except OSError as error:
                found.refused[printable_name(str(directory))] = (
                    f"unreadable directory: {error.strerror}"
                )
                continue
            for entry in entries:
                relative = directory / entry.name
                utf8_name = printable_name(entry.name) == entry.name
                if not (utf8_name and utf8_path):
                    if entry.is_dir(follow_symlinks=False):  # entered: its files are refused
                        found.directories.append(printable_name(str(relative)))
                        pending.append((relative, False))
                    else:
                        found.refused[printable_name(str(relative))] = (
                            NOT_UTF8 if not utf8_name else FOLDER_NOT_UTF8
                        )
                elif entry.is_symlink():
                    reason = self.check(str(relative))
                    if reason is None:
                        found.files.append(str(relative))
                    else:
                        found.refused[str(relative)] = reason
                elif entry.is_dir(follow_symlinks=False):
                    found.directories.append(str(relative))
                    pending.append((relative, True))
                elif entry.is_file(follow_symlinks=False):
                    found.files.append(str(relative))
                else:
                    found.refused[str(relative)] = _not_regular(
                        entry.stat(follow_symlinks=False).st_mode
                    )
        found.files.sort()
        found.directories.sort()
        return found

    def lexists(self, relative: str) -> bool:
        """Whether anything (a broken link too) lies at `relative`."""
        return os.path.lexists(self.root / relative)

    def check(self, relative: str) -> str | None:
        """Why `relative` must not be opened, or None for a regular file inside the folder.
        Nothing is opened: only `lstat`/`stat` calls and link resolution."""
        resolved = self._resolve(relative)
        return resolved if isinstance(resolved, str) else None

    def read(self, relative: str) -> bytes:
        """The bytes of `relative` if it is a regular file inside the folder; UnsafeFileError
        (the reason as its message) otherwise, or when it cannot be read."""
        resolved = self._resolve(relative)
        if isinstance(resolved, str):
            raise UnsafeFileError(resolved)
        real, expected = resolved
        try:
            descriptor = os.open(real, _OPEN_FLAGS)
        except OSError as error:
            raise UnsafeFileError(f"unreadable file: {error.strerror}") from None
        with os.fdopen(descriptor, "rb") as handle:
            opened = os.fstat(descriptor)
            same = (opened.st_dev, opened.st_ino) == (expected.st_dev, expected.st_ino)
            if not stat.S_ISREG(opened.st_mode) or not same:
                raise UnsafeFileError("the file changed while it was being checked: not read")
            try:
                return handle.read()
            except OSError as error:
                raise UnsafeFileError(f"unreadable file: {error.strerror}") from None

    def _resolve(self, relative: str) -> tuple[Path, os.stat_result] | str:
        """The real path and status of a regular file inside the folder, or why not."""
        path = self.root / relative
        try:
            info = path.lstat()
        except OSError as error:
            return f"unreadable file: {error.strerror}"
        if stat.S_ISLNK(info.st_mode):
            try:
                real = Path(os.path.realpath(path, strict=True))
                info = real.stat()
            except OSError as error:
                return f"broken symbolic link ({error.strerror})"
            if not real.is_relative_to(self.real_root):
                return OUTSIDE
            if stat.S_ISDIR(info.st_mode):
                return LINKED_DIRECTORY
        else:
            real = self._real_directory(path.parent) / path.name
            if not real.is_relative_to(self.real_root):
                return OUTSIDE  # a linked directory on the way
            if stat.S_ISDIR(info.st_mode):
                return DIRECTORY
        if not stat.S_ISREG(info.st_mode):
            return _not_regular(info.st_mode)
        return real, info

    def _real_directory(self, directory: Path) -> Path:
        real = self._real_directories.get(directory)
        if real is None:
            real = self._real_directories[directory] = Path(os.path.realpath(directory))
        return real


class ObjectSourceFolder:
    """A source folder on an object store, with `SourceFolder`'s interface."""

    def __init__(self, location: Location) -> None:
        self.location = location
        self.root: UPath = location.path
        self._listing: tuple[set[str], set[str]] | None = None

    def _objects(self) -> tuple[set[str], set[str]]:
        """(objects, folders) below the root, relative and `/`-separated; listed once."""
        if self._listing is None:
            fs: Any = self.root.fs
            fs.invalidate_cache(self.root.path)
            prefix = self.root.path.rstrip("/") + "/"
            try:
                found = fs.find(self.root.path, withdirs=False)
            except FileNotFoundError:
                found = []
            except Exception as error:
                raise self._unavailable(error) from None
            objects: set[str] = set()
            folders: set[str] = set()
            for key in found:
                relative = str(key).removeprefix(prefix)
                parts = PurePosixPath(relative).parts
                folders.update("/".join(parts[:n]) for n in range(1, len(parts)))
                if relative and not str(key).endswith("/"):
                    objects.add(relative)
            self._listing = (objects, folders)
        return self._listing

    def walk(self) -> Walk:
        objects, folders = self._objects()
        found = Walk(files=sorted(objects - folders))
        for relative in sorted(objects & folders):
            found.refused[relative] = DIRECTORY
        return found

    def lexists(self, relative: str) -> bool:
        objects, folders = self._objects()
        return relative in objects or relative in folders

    def check(self, relative: str) -> str | None:
        objects, folders = self._objects()
        if relative in folders:
            return DIRECTORY
        if relative not in objects:
            return "unreadable file: No such file or directory"
        return None

    def read(self, relative: str) -> bytes:
        reason = self.check(relative)
        if reason is not None:
            raise UnsafeFileError(reason)
        try:
            data: bytes = (self.root / relative).read_bytes()
        except Exception as error:
            if unavailable(error):  # the store, not this object: no file is to blame
                raise self._unavailable(error) from None
            raise UnsafeFileError(f"unreadable file: {error}") from None
        return data

    def _unavailable(self, error: BaseException) -> StorageError:
        """The store failed as a whole (timeouts, throttling, no connection): the run fails
        with one sentence, rather than rejecting every file it could not read."""
        return StorageError(self.location.describe(error))


def source_folder(root: Location) -> SourceFolder | ObjectSourceFolder:
    """The folder class for `root`: the local rules for a local folder (its plain `Path`),
    else an object store's."""
    return SourceFolder(root.local) if root.is_local else ObjectSourceFolder(root)


def _not_regular(mode: int) -> str:
    return f"not a regular file ({_kind(mode)}): not opened"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"
