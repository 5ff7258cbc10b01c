"""Atomic file writes: a reader or a crash sees the old file or the new one, never half.

The new file is written inside a private hidden folder beside the target and renamed over
it (`os.replace`, atomic on POSIX within one filesystem). The folder's name carries the
writing host and process, `.<name>.<host>.<pid>.<random>.tmp`, so that the next write of the
same target removes what a killed writer left behind (its process is gone) without
touching the folder of a writer that is still at work. The file inside has no `.parquet`
suffix, so `**/*.parquet` readers never see it.

A write that fails (a full disk, a folder that may not be written, a read-only file system)
raises `WriteError`, whose message is one sentence naming the file that was to be written
and what to do; the temporary folder is removed and the old file, if any, stays as it was.
A file that is replaced keeps its permissions.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
import socket
import stat
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SUFFIX = ".tmp"

_OS_ERROR = re.compile(r"\(os error (\d+)\)")
"""How a Rust library (polars) quotes the system's error number in its own error's text."""

_FULL = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
_REFUSED = {errno.EACCES, errno.EPERM, errno.EROFS}


class WriteError(OSError):
    """A file could not be written: `target`, and `reason` as the system says it (`No space
    left on device`). Its message is one sentence naming the file and what to do."""

    def __init__(self, target: Path, reason: str, number: int | None = None) -> None:
        self.target = target
        self.reason = reason
        if number in _FULL:
            action = "free space on its disk, or write elsewhere"
        elif number in _REFUSED:
            action = "make its folder writable, or write elsewhere"
        else:
            action = "check that its folder exists and can be written"
        super().__init__(f"{target} cannot be written ({reason}): {action}.")
        self.errno = number


def write_error(target: Path, error: BaseException) -> WriteError | None:
    """`error` as a WriteError for `target` when it is a failure of the system (an OSError,
    or a library's error quoting an OS error number), else None: a bug stays itself."""
    if isinstance(error, WriteError):
        return error
    found = _OS_ERROR.search(str(error))
    number = error.errno if isinstance(error, OSError) and error.errno else None
    if number is None and found is not None:
        number = int(found[1])
    if number is not None:
        strerror = error.strerror if isinstance(error, OSError) else None
        return WriteError(target, strerror or os.strerror(number), number)
    if isinstance(error, OSError):
        return WriteError(target, _first_line(error), None)
    return None


def _first_line(error: BaseException) -> str:
    return next(iter(str(error).strip().splitlines()), type(error).__name__)


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a path to write; on a clean exit it replaces `target`, on an error it vanishes.

    Leftovers of earlier writes of `target` whose process has died are removed first. A
    failure of the system, while the folder is made, the file written or renamed, raises
    WriteError naming `target`; any other error (a bug of the writer) is raised as it is.
    """
    folder = target.with_name(f".{target.name}.{_host()}.{os.getpid()}.{uuid.uuid4().hex}{_SUFFIX}")
    try:
        remove_leftovers(target)
        folder.mkdir()
    except OSError as error:
        raise write_error(target, error) or error from error
    try:
        yield folder / "part"
        _keep_mode(target, folder / "part")
        (folder / "part").replace(target)
    except Exception as error:
        failure = write_error(target, error)
        if failure is None or failure is error:
            raise
        raise failure from error
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _keep_mode(target: Path, part: Path) -> None:
    """Give `part` the permissions of the file it replaces: a file kept private (0600) stays
    private when written again. A new file has the usual ones (0666 less the umask)."""
    try:
        mode = target.stat().st_mode
    except FileNotFoundError:
        return
    if stat.S_ISREG(mode):
        part.chmod(stat.S_IMODE(mode))


def write_bytes_atomically(target: Path, data: bytes) -> None:
    """Write `data` to `target` atomically, creating its folder if needed."""
    make_folder(target)
    with atomic_path(target) as path:
        path.write_bytes(data)


def make_folder(target: Path) -> None:
    """Create the folder of `target` (and its parents); WriteError naming `target` when the
    system refuses."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise write_error(target, error) or error from error


def remove_leftovers(target: Path) -> list[Path]:
    """Remove the temporary folders of earlier writes of `target` left by dead processes of
    this host (or in an older naming without a process); returns what was removed."""
    removed = []
    for folder in target.parent.glob(f".{target.name}.*{_SUFFIX}"):
        if folder.is_dir() and not _writer_alive(folder.name[len(target.name) + 2 : -len(_SUFFIX)]):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _writer_alive(label: str) -> bool:
    """`label` is `<host>.<pid>.<random>`; a writer on another host is taken to be alive."""
    parts = label.rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit():
        return False  # no process recorded: a leftover of an older writer
    host, pid, _ = parts
    if host != _host():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _host() -> str:
    return socket.gethostname().replace(".", "_") or "host"
