"""Atomic file writes: a reader or a crash sees the old file or the new one, never half.

The new file is written inside a private hidden folder beside the target and renamed over
it (`os.replace`, atomic on POSIX within one filesystem). The folder's name carries the
writing host and process, `.<name>.<host>.<pid>.<random>.tmp`, so that the next write of the
same target removes what a killed writer left behind (its process is gone) without
touching the folder of a writer that is still at work. The file inside has no `.parquet`
suffix, so `**/*.parquet` readers never see it.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SUFFIX = ".tmp"


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a path to write; on a clean exit it replaces `target`, on an error it vanishes.

    Leftovers of earlier writes of `target` whose process has died are removed first.
    """
    remove_leftovers(target)
    folder = target.with_name(f".{target.name}.{_host()}.{os.getpid()}.{uuid.uuid4().hex}{_SUFFIX}")
    folder.mkdir()
    try:
        yield folder / "part"
        (folder / "part").replace(target)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_bytes_atomically(target: Path, data: bytes) -> None:
    """Write `data` to `target` atomically, creating its folder if needed."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as path:
        path.write_bytes(data)


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
