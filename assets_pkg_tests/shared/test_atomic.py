"""Atomic writes: the next write of a file removes what a killed writer left, and only that."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from upath import UPath

from assets_pkg.defs.io_manager import write_parquet_atomically
from assets_pkg.shared.atomic import (
    WriteError,
    atomic_path,
    remove_leftovers,
    write_bytes_atomically,
)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _leftover(folder: Path, label: str) -> Path:
    leftover = folder / f".data.parquet.{label}.tmp"
    leftover.mkdir(parents=True)
    (leftover / "part").write_bytes(b"half a file")
    return leftover


def test_the_next_write_removes_the_leftovers_of_dead_writers_only(tmp_path: Path) -> None:
    host = socket.gethostname().replace(".", "_")
    with subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    ) as alive:
        dead = _leftover(tmp_path, f"{host}.{_dead_pid()}.0a1b")
        older_naming = _leftover(tmp_path, "5f0c2d")
        busy = _leftover(tmp_path, f"{host}.{alive.pid}.9c8d")
        elsewhere = _leftover(tmp_path, f"another-host.{_dead_pid()}.7e6f")
        write_parquet_atomically(pl.DataFrame({"n": [1]}), UPath(tmp_path / "data.parquet"))
        assert not dead.exists()
        assert not older_naming.exists()
        assert busy.exists()  # a writer at work keeps its folder
        assert elsewhere.exists()  # another host's process cannot be checked from here
        assert alive.stdin is not None
        alive.stdin.close()
    assert remove_leftovers(tmp_path / "data.parquet") == [busy]
    assert pl.read_parquet(tmp_path / "data.parquet").to_dict(as_series=False) == {"n": [1]}


def test_a_failed_write_leaves_the_old_file_and_no_folder(tmp_path: Path) -> None:
    target = tmp_path / "x.bin"
    write_bytes_atomically(target, b"old")

    def fail_halfway() -> None:
        with atomic_path(target) as part:
            part.write_bytes(b"half")
            raise RuntimeError("the writer failed")

    with pytest.raises(RuntimeError):
        fail_halfway()
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.bin"]


def test_bytes_are_written_with_their_folder(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c.csv"
    write_bytes_atomically(target, b"id\n")
    assert target.read_bytes() == b"id\n"
    assert sorted(p.name for p in target.parent.iterdir()) == ["c.csv"]


@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        (OSError(28, "No space left on device"), "No space left on device"),
        (OSError("No space left on device (os error 28)"), "No space left on device"),
        (
            pl.exceptions.ComputeError("underlying IO error: Disk quota exceeded (os error 122)"),
            "Disk quota exceeded",
        ),
        (PermissionError(13, "Permission denied"), "Permission denied"),
    ],
)
def test_a_failure_of_the_system_is_one_sentence_naming_the_file(
    tmp_path: Path, raised: Exception, reason: str
) -> None:
    target = tmp_path / "out.csv"
    target.write_bytes(b"old")

    def write_half() -> None:
        with atomic_path(target) as part:
            part.write_bytes(b"half")
            raise raised

    with pytest.raises(WriteError) as failed:
        write_half()
    assert failed.value.target == target
    assert failed.value.reason == reason
    assert str(failed.value).startswith(f"{target} cannot be written ({reason}): ")
    assert str(failed.value).count(".") == str(target).count(".") + 1  # one sentence
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_a_folder_that_cannot_be_created_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    target = tmp_path / "sub" / "x.bin"
    with pytest.raises(WriteError, match=r"x\.bin cannot be written \(Permission denied\)"):
        write_bytes_atomically(target, b"x")
