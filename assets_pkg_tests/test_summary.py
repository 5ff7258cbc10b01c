"""`python -m assets_pkg.summary` on a damaged warehouse: one sentence naming the file, as
`period` and the IO manager say it (issue 17, item 11)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from upath import UPath

from assets_pkg.defs.io_manager import write_parquet_atomically
from assets_pkg.shared.layout import DamagedFileError
from assets_pkg.summary import summarise

WEEKS = ["2024-01-01", "2024-01-08"]


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    root = tmp_path / "warehouse"
    write_parquet_atomically(
        pl.DataFrame({"customer_id": ["C1", "C2"], "loyalty_score": [3, 4]}),
        UPath(root / "raw_customers" / "data.parquet"),
    )
    for week in WEEKS:
        write_parquet_atomically(
            pl.DataFrame({"customer_id": ["C1"] * 3, "purchase_count": [1, 2, 3]}),
            UPath(root / "weekly_purchase_counts" / f"week={week}" / "data.parquet"),
        )
    return root


def test_an_intact_warehouse_is_summarised(warehouse: Path) -> None:
    assert summarise(str(warehouse)) == [
        ("raw_customers", 2, 0, str(warehouse / "raw_customers")),
        ("weekly_purchase_counts", 6, 2, str(warehouse / "weekly_purchase_counts")),
    ]


def _truncate(path: Path) -> None:
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 2])


def test_a_truncated_week_file_is_one_sentence_naming_it(warehouse: Path) -> None:
    week_file = warehouse / "weekly_purchase_counts" / f"week={WEEKS[1]}" / "data.parquet"
    _truncate(week_file)
    done = subprocess.run(
        [sys.executable, "-m", "assets_pkg.summary"],
        env={**os.environ, "WAREHOUSE_DIR": str(warehouse), "DAGSTER_HOME": str(warehouse)},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: {week_file} is not a readable Parquet file (")
    assert done.stderr.endswith(
        f"): materialise the week {WEEKS[1]} of weekly_purchase_counts again.\n"
    )
    assert done.stderr.count("\n") == 1  # no traceback


@pytest.mark.parametrize("damage", ["truncated", "empty", "a folder"])
def test_a_damaged_unpartitioned_file_is_named(warehouse: Path, damage: str) -> None:
    path = warehouse / "raw_customers" / "data.parquet"
    if damage == "truncated":
        _truncate(path)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
        path.mkdir()
    with pytest.raises(DamagedFileError) as raised:
        summarise(str(warehouse))
    message = str(raised.value)
    assert message.startswith(f"{path} is not ")
    assert message.endswith("materialise raw_customers again.")
