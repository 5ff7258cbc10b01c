"""Where data lives: local folders named as paths or URLs, and names read from the disk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from upath import UPath

from assets_pkg.shared import storage
from assets_pkg.shared.storage import local_folder, printable_name


@pytest.mark.parametrize(
    ("location", "folder"),
    [
        ("/data/src", "/data/src"),
        ("file:///data/src", "/data/src"),
        ("local:///d", "/d"),
        ("rel", "rel"),
    ],
)
def test_a_local_location_names_its_folder(location: str, folder: str) -> None:
    assert local_folder(location) == Path(folder)


def test_a_printable_name_escapes_only_bytes_that_are_not_utf8() -> None:
    assert printable_name(os.fsdecode(b"a\xffb/\xc3\xa9")) == "a\\xffb/\u00e9"
    assert printable_name("Online/Genuine/001_01.HWR") == "Online/Genuine/001_01.HWR"


def test_a_folder_named_like_a_pattern_is_read_as_named(tmp_path: Path) -> None:
    """`[prod]` is a folder's name, not a class of characters to match."""
    frame = pl.DataFrame({"customer_id": ["C1"]})
    path = tmp_path / "warehouse [prod]" / "products" / "data.parquet"
    path.parent.mkdir(parents=True)
    frame.write_parquet(path)
    assert_frame_equal(storage.scan_parquet(UPath(path)).collect(), frame)


def test_a_closed_pipe_ends_a_tool_quietly(tmp_path: Path) -> None:
    """`python -m assets_pkg.summary | head`: no traceback once head has what it wants."""
    tool = (
        "from assets_pkg.shared.cli import run_cli\n"
        "def main() -> int:\n"
        "    for line in range(1_000_000):\n"
        "        print(line)\n"
        "    return 0\n"
        "run_cli(main)\n"
    )
    errors = tmp_path / "stderr"
    piped = subprocess.run(
        ["bash", "-c", f'"{sys.executable}" -c "$TOOL" 2>"{errors}" | head -n 1'],
        env={**os.environ, "TOOL": tool},
        capture_output=True,
        text=True,
        check=True,
    )
    assert piped.stdout == "0\n"
    assert errors.read_text() == ""


@pytest.mark.parametrize(
    ("location", "folder", "inside"),
    [
        ("s3://bucket/wh/weekly/week=2024-01-08/data.parquet", "s3://bucket/wh", True),
        ("s3://bucket/wh", "s3://bucket/wh/", True),
        ("s3a://bucket/wh/x.parquet", "s3://bucket/wh", True),
        ("s3://bucket/other/../wh/x.parquet", "s3://bucket/wh", True),
        ("s3://bucket//wh/x.parquet", "s3://bucket/wh", True),
        ("s3://bucket/wh-reports/x.parquet", "s3://bucket/wh", False),
        ("s3://other/wh/x.parquet", "s3://bucket/wh", False),
        ("gs://bucket/wh/x.parquet", "s3://bucket/wh", False),
        ("/bucket/wh/x.parquet", "s3://bucket/wh", False),
        ("s3://bucket/wh/x.parquet", "/bucket/wh", False),
    ],
)
def test_an_object_store_location_is_inside_a_folder_by_prefix(
    location: str, folder: str, inside: bool
) -> None:
    assert storage.is_inside(location, folder) is inside


def test_a_local_location_is_inside_a_folder_by_where_it_leads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "wh"
    (warehouse / "asset").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "link").symlink_to(warehouse / "asset")
    monkeypatch.chdir(tmp_path)
    cases: list[tuple[str | Path, bool]] = [
        (warehouse / "asset" / "new.parquet", True),
        (warehouse, True),
        ("wh/x.csv", True),
        (f"file://{warehouse}/x.csv", True),
        (tmp_path / "elsewhere" / ".." / "wh" / "x.csv", True),
        (tmp_path / "elsewhere" / "link" / "x.csv", True),
        (tmp_path / "wh-2" / "x.csv", False),
        (tmp_path / "elsewhere" / "x.csv", False),
        (tmp_path / "x.csv", False),
    ]
    for location, inside in cases:
        assert storage.is_inside(location, str(warehouse)) is inside, location
    assert storage.is_inside(tmp_path / "x.csv", "wh") is False  # a relative warehouse
    assert storage.is_inside(warehouse / "x.csv", "wh") is True
    assert storage.is_inside(warehouse / "x.csv", f"file://{warehouse}") is True


def test_another_name_for_the_same_folder_is_inside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A bind mount (or a case-insensitive disk) gives a folder a second name that no path
    # resolution reveals; its identity does. Simulated: `mount` names the same inode.
    warehouse = tmp_path / "wh"
    warehouse.mkdir()
    mount = tmp_path / "mount"
    mount.mkdir()
    real_stat = Path.stat

    def stat(self: Path, *args: object, **kwargs: object) -> os.stat_result:
        return real_stat(warehouse if self == mount else self)

    monkeypatch.setattr(Path, "stat", stat)
    assert storage.is_inside(mount / "x.parquet", str(warehouse)) is True
