"""A backfill killed with SIGKILL half way, then run again, equals a clean run and leaves no
temporary file behind: writes are atomic and the next write clears what the kill left."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tools.generate_purchases import generate

START = dt.date(2024, 1, 1)
WEEKS = 40
LAST = START + dt.timedelta(weeks=WEEKS - 1)
ASSETS = (
    "raw_customers,products,exploded_transactions,weekly_purchase_counts,transaction_quarantine"
)
DAGSTER = Path(sys.executable).with_name("dagster")
INSTANCE = Path(__file__).parents[2] / "instance" / "dagster.yaml"


def _command(source: Path, warehouse: Path, home: Path) -> tuple[list[str], dict[str, str]]:
    home.mkdir(exist_ok=True)
    shutil.copy(INSTANCE, home)
    env = {
        **os.environ,
        "PURCHASES_SOURCE_DIR": str(source),
        "PURCHASES_START_DATE": str(START),
        "PURCHASES_END_DATE": str(LAST),
        "WAREHOUSE_DIR": str(warehouse),
        "DAGSTER_HOME": str(home),
    }
    command = [str(DAGSTER), "asset", "materialize", "-m", "assets_pkg.definitions"]
    command += ["--select", ASSETS, "--partition-range", f"{START}...{LAST}"]
    return command, env


def _tables(warehouse: Path) -> dict[str, pl.DataFrame]:
    return {
        str(path.relative_to(warehouse)): pl.read_parquet(path)
        for path in sorted(warehouse.rglob("*.parquet"))
    }


@pytest.mark.slow  # 87 s: a Dagster CLI run killed mid-backfill, then run again, twice
def test_a_killed_backfill_run_again_equals_a_clean_run(tmp_path: Path) -> None:
    source = tmp_path / "feed"
    generate(source, customers=60, start=START, days=7 * WEEKS, seed=3, bad_records=True)
    clean, killed = tmp_path / "clean", tmp_path / "killed"

    command, env = _command(source, killed, tmp_path / "home_killed")
    with subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    ) as run:
        tenth = killed / "exploded_transactions" / f"week={START + dt.timedelta(weeks=9)}"
        deadline = time.monotonic() + 120
        while not tenth.exists() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(run.pid, signal.SIGKILL)
        assert run.wait() == -signal.SIGKILL, "the backfill ended before it could be killed"
    written = list((killed / "weekly_purchase_counts").glob("week=*"))
    assert len(written) < WEEKS  # killed half way

    for warehouse, home in [(killed, "home_killed"), (clean, "home_clean")]:
        command, env = _command(source, warehouse, tmp_path / home)
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr[-2000:]

    assert [p for p in killed.rglob("*") if p.name.endswith(".tmp")] == []
    clean_tables, killed_tables = _tables(clean), _tables(killed)
    assert sorted(killed_tables) == sorted(clean_tables)
    assert (
        len([name for name in clean_tables if name.startswith("weekly_purchase_counts")]) == WEEKS
    )
    for name, table in clean_tables.items():
        assert_frame_equal(killed_tables[name], table, check_row_order=True)
