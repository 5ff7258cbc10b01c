"""Per-week checks and freshness: every purchase check has one evaluation per week, naming
it, in range runs too; the counts reconcile with their items and the catalog week by week;
the counts declare when a week is due."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets_pkg.definitions import build_definitions
from assets_pkg.defs.partitions import weekly_partitions
from assets_pkg.defs.purchases.assets import build_purchase_assets
from assets_pkg.defs.purchases.build import SCHEDULE
from assets_pkg.defs.purchases.count_assets import DUE_CRON, DUE_WINDOW
from assets_pkg.shared.dates import WeekRange
from assets_pkg.shared.settings import Settings

from .feed_builder import (
    ASSETS,
    CUSTOMERS_CSV,
    Feed,
    check_results,
    check_results_by_week,
    materialize,
    purchase,
    resources,
)

WEEKLY_CHECKS = {
    "all_day_folders_present",
    "counts_reconcile",
    "day_folders_well_named",
    "known_ids",
    "quarantine_is_empty",
}
COUNTS = dg.AssetKey("weekly_purchase_counts")
RECONCILE = dg.AssetCheckKey(COUNTS, "counts_reconcile")


def _settings(tmp_path: Path, end: str | None = None) -> Settings:
    return Settings(
        purchases_source_dir=str(tmp_path / "purchases"),
        signatures_source_dir=str(tmp_path / "signatures"),
        warehouse_dir=str(tmp_path / "warehouse"),
        signatures_db_url=f"sqlite:///{tmp_path / 'signatures.db'}",
        purchases_start_date="2024-01-01",
        purchases_end_date=end,
    )


def _check_specs(defs: dg.Definitions) -> list[dg.AssetCheckSpec]:
    return [
        spec
        for assets in [*(defs.assets or []), *(defs.asset_checks or [])]
        if isinstance(assets, dg.AssetsDefinition)
        for spec in assets.check_specs
    ]


def test_every_check_has_a_description_and_each_weekly_one_is_per_week(tmp_path: Path) -> None:
    defs = build_definitions(_settings(tmp_path))
    specs = _check_specs(defs)
    assert len(specs) >= 9
    assert [spec.key for spec in specs if not (spec.description or "").strip()] == []
    graph = defs.resolve_asset_graph()
    for spec in specs:
        asset_partitions = graph.get(spec.asset_key).partitions_def
        assert spec.partitions_def == asset_partitions, spec.key
    assert {spec.name for spec in specs if spec.partitions_def is not None} == WEEKLY_CHECKS
    (reconcile,) = [spec for spec in specs if spec.key == RECONCILE]
    assert reconcile.blocking


def _ten_weeks(feed: Feed) -> list[str]:
    feed.fill_days("2024-01-01", "2024-03-11")
    feed.write_day("2024-01-09", purchase("C1", "2024-01-09 10:00:00", "P1", "P1"), "not json")
    feed.write_day("2024-02-20", purchase("C9", "2024-02-20 10:00:00", "P2"))
    return [(dt.date(2024, 1, 1) + dt.timedelta(weeks=i)).isoformat() for i in range(10)]


def test_a_range_run_gives_each_check_one_result_per_week(feed: Feed, warehouse: Path) -> None:
    weeks = _ten_weeks(feed)
    result = materialize(feed, warehouse, (weeks[0], weeks[-1]))
    assert result.success
    by_week = check_results_by_week(result)
    for name in WEEKLY_CHECKS:
        assert sorted(by_week[name]) == weeks, name  # type: ignore[type-var]
    # Each result is that week's own: only the week that quarantined a line warns, only the
    # week with an unknown customer does.
    quarantine = by_week["quarantine_is_empty"]
    assert [week for week in weeks if not quarantine[week].passed] == ["2024-01-08"]
    known = by_week["known_ids"]
    assert [week for week in weeks if not known[week].passed] == ["2024-02-19"]
    # A complete feed: no day folder is missing, not even the Sunday before its first day.
    assert all(e.passed for e in by_week["all_day_folders_present"].values())
    assert all(e.passed for e in by_week["counts_reconcile"].values())


def test_each_week_carries_its_trend_numbers(feed: Feed, warehouse: Path) -> None:
    weeks = _ten_weeks(feed)[:2]
    result = materialize(feed, warehouse, (weeks[0], weeks[-1]))
    numbers = {
        (str(m.asset_key.to_user_string()), m.partition, label): m.metadata[label]
        for m in (e.materialization for e in result.get_asset_materialization_events())
        for label in ("basket items", "customers who bought", "quarantined rows")
        if label in m.metadata
    }
    assert numbers == {
        ("exploded_transactions", "2024-01-01", "basket items"): dg.IntMetadataValue(0),
        ("exploded_transactions", "2024-01-08", "basket items"): dg.IntMetadataValue(2),
        ("transaction_quarantine", "2024-01-01", "quarantined rows"): dg.IntMetadataValue(0),
        ("transaction_quarantine", "2024-01-08", "quarantined rows"): dg.IntMetadataValue(1),
        ("weekly_purchase_counts", "2024-01-01", "customers who bought"): dg.IntMetadataValue(0),
        ("weekly_purchase_counts", "2024-01-08", "customers who bought"): dg.IntMetadataValue(1),
        ("weekly_purchase_counts", "2024-01-01", "basket items"): dg.IntMetadataValue(0),
        ("weekly_purchase_counts", "2024-01-08", "basket items"): dg.IntMetadataValue(2),
    }


def test_a_missing_day_inside_the_feed_still_warns(feed: Feed, warehouse: Path) -> None:
    feed.fill_days("2024-01-05", "2024-01-15")
    (feed.root / "transactions" / "d=2024-01-07" / "transactions.json").unlink()
    result = materialize(feed, warehouse, "2024-01-08")
    check = check_results(result)["all_day_folders_present"]
    assert (check.passed, check.partition) == (False, "2024-01-08")
    assert check.metadata["missing days"] == dg.JsonMetadataValue(["2024-01-07"])


@dg.asset(
    partitions_def=weekly_partitions(WeekRange.from_keys("2024-01-01")),
    deps=["weekly_purchase_counts"],
)
def _reads_counts() -> None:
    """Stands for anything downstream of the counts."""


def _reconcile_and_downstream(feed: Feed, warehouse: Path) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [*ASSETS, _reads_counts],
        resources=resources(feed, warehouse),
        selection=dg.AssetSelection.checks(RECONCILE) | dg.AssetSelection.assets(_reads_counts),
        tags={
            "dagster/asset_partition_range_start": "2024-01-01",
            "dagster/asset_partition_range_end": "2024-01-15",
        },
        raise_on_error=False,
    )


def test_the_reconciliation_fails_on_a_broken_week_and_blocks_downstream(
    feed: Feed, warehouse: Path
) -> None:
    _ten_weeks(feed)
    assert materialize(feed, warehouse, ("2024-01-01", "2024-01-15")).success
    # The week's items change after its counts were written (a rebuild of the items alone).
    items = warehouse / "exploded_transactions" / "week=2024-01-08" / "data.parquet"
    frame = pl.read_parquet(items)
    pl.concat([frame, frame.head(1)]).write_parquet(items)

    result = _reconcile_and_downstream(feed, warehouse)
    assert not result.success
    reconcile = check_results_by_week(result)["counts_reconcile"]
    assert {week: e.passed for week, e in reconcile.items()} == {
        "2024-01-01": True,
        "2024-01-08": False,
        "2024-01-15": True,
    }
    broken = reconcile["2024-01-08"]
    assert (broken.severity, broken.blocking) == (dg.AssetCheckSeverity.ERROR, True)
    assert broken.description == (
        "The week's counts do not reconcile: the counts sum to 2 purchases where "
        "exploded_transactions holds 3 basket items; 1 (customer, product) pair(s) are counted "
        "otherwise than bought (e.g. C1/P1). Materialise the week of weekly_purchase_counts "
        "again (with its catalog)."
    )
    assert result.get_asset_materialization_events() == []  # downstream did not run

    # Rebuilt, the week reconciles and what reads the counts runs.
    assert materialize(feed, warehouse, "2024-01-08").success
    again = _reconcile_and_downstream(feed, warehouse)
    assert again.success
    assert len(again.get_asset_materialization_events()) == 3


def test_the_reconciliation_names_a_customer_the_counts_lack(feed: Feed, warehouse: Path) -> None:
    _ten_weeks(feed)
    assert materialize(feed, warehouse, ("2024-01-01", "2024-01-08")).success
    feed.write_csvs(customers=CUSTOMERS_CSV + "C5,2\n")  # a new customer, catalog rebuilt alone
    assert materialize(feed, warehouse, None, selection=["raw_customers"]).success
    result = dg.materialize(
        ASSETS,
        resources=resources(feed, warehouse),
        selection=dg.AssetSelection.checks(RECONCILE),
        tags={
            "dagster/asset_partition_range_start": "2024-01-01",
            "dagster/asset_partition_range_end": "2024-01-08",
        },
        raise_on_error=False,
    )
    reconcile = check_results_by_week(result)["counts_reconcile"]
    assert sorted(reconcile) == ["2024-01-01", "2024-01-08"]  # type: ignore[type-var]
    for evaluation in reconcile.values():
        assert not evaluation.passed
        assert evaluation.metadata["customers without a row"] == dg.IntMetadataValue(1)
        assert "(e.g. C5)" in (evaluation.description or "")


def test_the_counts_are_due_after_the_schedules_tuesday_run(tmp_path: Path) -> None:
    (counts,) = [a for a in build_definitions(_settings(tmp_path)).assets or [] if _is_counts(a)]
    assert isinstance(counts, dg.AssetsDefinition)
    policy = counts.specs_by_key[COUNTS].freshness_policy
    assert policy == dg.FreshnessPolicy.cron(
        deadline_cron=DUE_CRON, lower_bound_delta=DUE_WINDOW, timezone="UTC"
    )
    # The window opens at the schedule's tick: Tuesdays 06:00, due by 12:00.
    minute, hour, *_, weekday = SCHEDULE.split()
    due_minute, due_hour, *_, due_weekday = DUE_CRON.split()
    assert (weekday, due_weekday) == ("2", "2")
    tick = dt.timedelta(hours=int(hour), minutes=int(minute))
    assert dt.timedelta(hours=int(due_hour), minutes=int(due_minute)) - DUE_WINDOW == tick


@pytest.mark.parametrize("end", ["2024-03-04"])
def test_no_week_is_due_once_the_partitions_have_ended(end: str) -> None:
    assets = build_purchase_assets(WeekRange.from_keys("2024-01-01", end))
    (counts,) = [a for a in assets if _is_counts(a)]
    assert counts.specs_by_key[COUNTS].freshness_policy is None


def _is_counts(assets: object) -> bool:
    return (
        isinstance(assets, dg.AssetsDefinition)
        and not isinstance(assets, dg.AssetChecksDefinition)
        and COUNTS in assets.keys
    )
