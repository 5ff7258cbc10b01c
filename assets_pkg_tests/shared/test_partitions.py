"""The weekly partitions are derived from the settings' `WeekRange`, once, and hold exactly
its weeks; the assets, the schedule and the sensor share that one definition."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from assets_pkg.defs.partitions import weekly_partitions
from assets_pkg.defs.purchases.build import build_defs
from assets_pkg.shared.dates import WeekRange, key_of
from assets_pkg.shared.settings import Settings


@pytest.mark.parametrize(
    ("first", "last"),
    [
        ("2024-01-01", "2024-03-04"),
        ("2024-01-08", "2024-01-08"),  # a single week
        ("2023-12-25", "2024-01-01"),  # across a year
        ("2020-12-28", "2021-01-04"),  # ISO week 53
    ],
)
def test_the_partitions_run_from_the_first_to_the_last_week_of_the_range(
    first: str, last: str
) -> None:
    weeks = WeekRange.from_keys(first, last)
    partitions = weekly_partitions(weeks)
    assert partitions.get_first_partition_key() == key_of(weeks.first) == first
    assert weeks.last is not None
    assert partitions.get_last_partition_key() == key_of(weeks.last) == last
    keys = partitions.get_partition_keys()
    assert keys[0] == first
    assert keys[-1] == last
    assert len(keys) == (weeks.last - weeks.first).days // 7 + 1


def test_an_open_range_ends_with_the_last_week_that_has_ended() -> None:
    weeks = WeekRange.from_keys("2024-01-01")
    partitions = weekly_partitions(weeks)
    assert partitions.get_first_partition_key() == key_of(weeks.first)
    # Wednesday 2024-03-13: the week of 2024-03-11 has not ended, the one of 2024-03-04 has.
    with dg.partition_loading_context(dt.datetime(2024, 3, 13, 12, tzinfo=dt.UTC)):
        assert partitions.get_last_partition_key() == "2024-03-04"


def test_the_settings_build_one_partitions_definition_for_every_weekly_definition() -> None:
    settings = Settings(
        purchases_source_dir="src",
        signatures_source_dir="sig",
        warehouse_dir="wh",
        signatures_db_url="sqlite://",
        purchases_start_date="2024-01-08",
        purchases_end_date="2024-02-05",
    )
    graph = build_defs(settings).resolve_asset_graph()
    partitions = weekly_partitions(settings.weeks)
    weekly = {key for key in graph.get_all_asset_keys() if graph.get(key).partitions_def}
    assert {key.to_user_string() for key in weekly} == {
        "purchase_feed",
        "exploded_transactions",
        "transaction_quarantine",
        "weekly_purchase_counts",
    }
    for key in weekly:
        assert graph.get(key).partitions_def is partitions, key
    assert partitions.get_first_partition_key() == "2024-01-08"
    assert partitions.get_last_partition_key() == "2024-02-05"
