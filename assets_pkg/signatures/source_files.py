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
  at their real place, and a link cannot make the walk loop or leave the folder.

`walk` lists a tree; `read_checked` returns the bytes of one file or raises `UnsafeFileError`
with the reason, ready for `signature_rejects`.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC


class UnsafeFileError(Exception):
    """A source path that must not be opened or could not be read; the message is the reason."""


@dataclass
class Walk:
    """A source tree: the regular files to read, and every other entry with why it was refused."""

    files: list[str] = field(default_factory=list)
    """Paths relative to the root, `/`-separated, sorted."""
    refused: dict[str, str] = field(default_factory=dict)
    """Relative path -> reason (a link leaving the folder, a FIFO, a linked directory ...)."""


def walk(root: Path) -> Walk:
    """Every entry under `root`, without following links to directories."""
    real_root = root.resolve()
    found = Walk()
    errors: list[OSError] = []
    for directory, subdirectories, files in os.walk(root, onerror=errors.append):
        folder = Path(directory)
        base = PurePosixPath(folder.relative_to(root).as_posix())
        for name in subdirectories:
            if (folder / name).is_symlink():
                reason = check(real_root, folder / name, directory_link=True)
                found.refused[str(base / name)] = reason or "unexpected"
        for name in files:
            relative = str(base / name)
            reason = check(real_root, folder / name)
            if reason is None:
                found.files.append(relative)
            else:
                found.refused[relative] = reason
    for error in errors:
        if error.filename is not None:
            relative = Path(os.fsdecode(error.filename)).relative_to(root).as_posix()
            found.refused[relative] = f"unreadable directory: {error.strerror}"
    found.files.sort()
    return found


def check(real_root: Path, path: Path, *, directory_link: bool = False) -> str | None:
    """Why `path` must not be opened, or None for a regular file inside `real_root`.

    Nothing is opened: only `stat` calls. `real_root` is the folder with its links resolved.
    """
    try:
        real = path.resolve(strict=True)
    except OSError as error:
        if path.is_symlink():
            return f"broken symbolic link ({error.strerror})"
        return f"unreadable file: {error.strerror}"
    if not real.is_relative_to(real_root):
        return "symbolic link to a path outside the source folder: not followed"
    try:
        mode = real.stat().st_mode
    except OSError as error:
        return f"unreadable file: {error.strerror}"
    if stat.S_ISDIR(mode):
        if directory_link:
            return "symbolic link to a directory: not followed (its files are read where they are)"
        return "a directory, not a file"
    if not stat.S_ISREG(mode):
        return f"not a regular file ({_kind(mode)}): not opened"
    return None


def read_checked(root: Path, relative: str) -> bytes:
    """The bytes of `root/relative` if it is a regular file inside `root`; UnsafeFileError (the
    reason as its message) otherwise or when it cannot be read."""
    path = root / relative
    reason = check(root.resolve(), path)
    if reason is not None:
        raise UnsafeFileError(reason)
    try:
        real = path.resolve(strict=True)
        expected = real.stat()
        descriptor = os.open(real, _OPEN_FLAGS)
    except OSError as error:
        raise UnsafeFileError(f"unreadable file: {error.strerror}") from None
    with os.fdopen(descriptor, "rb") as handle:
        opened = os.fstat(descriptor)
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (
            expected.st_dev,
            expected.st_ino,
        ):
            raise UnsafeFileError("the file changed while it was being checked: not read")
        try:
            return handle.read()
        except OSError as error:
            raise UnsafeFileError(f"unreadable file: {error.strerror}") from None


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"
