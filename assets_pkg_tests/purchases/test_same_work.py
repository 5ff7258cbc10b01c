"""The bench's same-work script (`bench/purchases/same_work.py`) writes, without Dagster,
exactly the tables the Dagster assets write: the comparison it stands for is fair."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from bench.purchases.same_work import run_weeks

from .feed_builder import Feed, materialize, purchase

TABLES = ("exploded_transactions", "transaction_quarantine", "weekly_purchase_counts")


@pytest.mark.parametrize("one_at_a_time", [False, True], ids=["overlapped", "one-at-a-time"])
def test_the_same_work_writes_what_the_assets_write(
    feed: Feed, warehouse: Path, tmp_path: Path, one_at_a_time: bool
) -> None:
    feed.fill_days("2023-12-31", "2024-01-22")
    feed.write_day(
        "2024-01-02",
        purchase("C1", "2024-01-02 10:00:00", "P1", "P1", "P2"),
        purchase("C9", "2024-01-03 23:59:59", "P8"),  # an unknown customer and product
        "not json",  # quarantined
    )
    feed.write_day("2024-01-08", purchase("C2", "2024-01-07 22:00:00", "P2"))  # a day early
    feed.write_day("2024-01-16", purchase("C3", "2024-01-01 09:00:00", "P1"))  # far: quarantined
    assert materialize(feed, warehouse, ("2024-01-01", "2024-01-15")).success

    out = tmp_path / "same_work"
    first, last = dt.date(2024, 1, 1), dt.date(2024, 1, 15)
    assert run_weeks(feed.root, out, first, last, 1, one_at_a_time) == 3

    for table in TABLES:
        ours = pl.read_parquet(out / table / "**" / "*.parquet", hive_partitioning=True)
        assets = pl.read_parquet(warehouse / table / "**" / "*.parquet", hive_partitioning=True)
        assert_frame_equal(ours, assets.select(ours.columns), check_row_order=True)
    quarantined = pl.read_parquet(out / "transaction_quarantine" / "**" / "*.parquet")
    assert quarantined.height == 2  # the line that is no JSON, the purchase far from its day
    counts = pl.read_parquet(out / "weekly_purchase_counts" / "**" / "*.parquet")
    assert counts.filter(pl.col("customer_id") == "C9").height == 1
