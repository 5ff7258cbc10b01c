"""The end-to-end acceptance check, in small: the `dagster` CLI over a range of weeks, on
generated data with every kind of bad record, against a naive implementation of the rules of
docs/purchases.md written here from those rules alone (plain Python, no project code)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from tools.generate_purchases import generate

from .rules_oracle import counts_by_the_rules

START = dt.date(2024, 1, 1)
WEEKS = [START + dt.timedelta(weeks=i) for i in range(4)]
TOLERANCE = 1
DAGSTER = Path(sys.executable).with_name("dagster")


QUARANTINED = {
    "not_json",
    "missing_customer_id",
    "missing_basket",
    "missing_date_of_purchase",
    "basket_not_list",
    "unparseable_date",
    "item_without_product_id",
    "date_out_of_tolerance",
}
"""The planted kinds that the rules send to the quarantine; the others are kept or read."""


def sorted_frame(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(["week", "customer_id", "product_id"], nulls_last=True)


@pytest.mark.skipif(not DAGSTER.exists(), reason="the dagster CLI is not installed beside python")
def test_the_cli_over_a_range_equals_the_rules_on_bad_data(tmp_path: Path) -> None:
    source = tmp_path / "feed"
    summary = generate(source, customers=120, start=START, days=30, seed=11, bad_records=True)
    warehouse = tmp_path / "warehouse"
    env = {
        **os.environ,
        "PURCHASES_SOURCE_DIR": str(source),
        "WAREHOUSE_DIR": str(warehouse),
        "PURCHASES_START_DATE": str(START),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    (tmp_path / "dagster_home").mkdir()
    command = [
        str(DAGSTER),
        "asset",
        "materialize",
        "-m",
        "assets_pkg.definitions",
        "--select",
        "raw_customers,products,exploded_transactions,weekly_purchase_counts,"
        "transaction_quarantine",
        "--partition-range",
        f"{WEEKS[0]}...{WEEKS[-1]}",
    ]
    run = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr[-3000:]

    for asset in ("exploded_transactions", "weekly_purchase_counts", "transaction_quarantine"):
        files = sorted(p.relative_to(warehouse / asset) for p in (warehouse / asset).rglob("*"))
        assert [str(f) for f in files if f.suffix] == [f"week={w}/data.parquet" for w in WEEKS], (
            asset
        )
    built = pl.scan_parquet(
        f"{warehouse}/weekly_purchase_counts/**/*.parquet", hive_partitioning=True
    ).collect()
    expected = counts_by_the_rules(source, WEEKS, TOLERANCE)
    assert_frame_equal(
        sorted_frame(built.select(expected.columns)), sorted_frame(expected), check_dtypes=True
    )
    quarantine = pl.scan_parquet(
        f"{warehouse}/transaction_quarantine/**/*.parquet", hive_partitioning=True
    ).collect()
    assert quarantine.get_column("reason").null_count() == 0
    # Exactly the planted lines that the rules send to the quarantine, no more, no fewer.
    days = {str(START + dt.timedelta(days=i)) for i in range(7 * len(WEEKS))}
    planted = sorted(
        (p.file, p.line)
        for p in summary.planted
        if p.kind in QUARANTINED and p.file.split("/")[1].removeprefix("d=") in days
    )
    assert len(planted) >= 20
    got = sorted(quarantine.select("source_file", "line_number").iter_rows())
    assert got == planted
