"""The code location loads, and the weekly schedule asks for the week that just ended."""

import datetime as dt
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.reconstruct import repository_def_from_target_def
from dagster._core.workspace.autodiscovery import loadable_targets_from_python_module

from assets_pkg.definitions import build_definitions
from assets_pkg.shared.io_manager import ParquetIOManager
from assets_pkg.shared.settings import Settings

PURCHASE_ASSETS = [
    "exploded_transactions",
    "products",
    "raw_customers",
    "transaction_quarantine",
    "weekly_purchase_counts",
]


def _settings(tmp_path: Path) -> Settings:
    return Settings(
        purchases_source_dir=str(tmp_path / "purchases"),
        signatures_source_dir=str(tmp_path / "signatures"),
        warehouse_dir=str(tmp_path / "warehouse"),
        signatures_db_url=f"sqlite:///{tmp_path / 'signatures.db'}",
        purchases_start_date="2024-01-01",
    )


def _asset_names(defs: dg.Definitions) -> list[str]:
    graph = defs.resolve_asset_graph()
    return sorted(key.to_user_string() for key in graph.get_all_asset_keys())


def test_build_definitions_holds_every_asset_the_job_and_the_schedule(tmp_path: Path) -> None:
    defs = build_definitions(_settings(tmp_path))
    defs.validate_loadable(defs)
    names = _asset_names(defs)
    assert set(PURCHASE_ASSETS) | {"registered_signatures", "signature_rejects"} <= set(names)
    job = defs.resolve_job_def("weekly_purchases")
    assert sorted(k.to_user_string() for k in job.asset_layer.executable_asset_keys) == (
        PURCHASE_ASSETS
    )
    io = defs.resources["io_manager"] if defs.resources else None
    assert isinstance(io, ParquetIOManager)
    assert io.base_dir == str(tmp_path / "warehouse")
    schedule = defs.resolve_schedule_def("weekly_purchases_schedule")
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 * * 2", "UTC")


@pytest.mark.parametrize(
    ("tick", "week"),
    [
        (dt.datetime(2024, 1, 16, 6, 0, tzinfo=dt.UTC), "2024-01-08"),
        (dt.datetime(2024, 1, 9, 6, 0, tzinfo=dt.UTC), "2024-01-01"),
        (dt.datetime(2025, 1, 7, 6, 0, tzinfo=dt.UTC), "2024-12-30"),
    ],
)
def test_the_tuesday_tick_requests_the_week_that_ended(
    tmp_path: Path, tick: dt.datetime, week: str
) -> None:
    defs = build_definitions(_settings(tmp_path))
    schedule = defs.resolve_schedule_def("weekly_purchases_schedule")
    result = schedule.evaluate_tick(dg.build_schedule_context(scheduled_execution_time=tick))
    assert [r.partition_key for r in result.run_requests or []] == [week]


def test_the_module_loads_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "PURCHASES_SOURCE_DIR": str(tmp_path / "purchases"),
        "SIGNATURES_SOURCE_DIR": str(tmp_path / "signatures"),
        "WAREHOUSE_DIR": str(tmp_path / "warehouse"),
        "PURCHASES_START_DATE": "2024-01-08",
        "PURCHASES_DATE_TOLERANCE_DAYS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SIGNATURES_DB_URL", raising=False)
    # As `dagster definitions validate -m assets_pkg.definitions` finds and loads it.
    (target,) = loadable_targets_from_python_module("assets_pkg.definitions", None)
    assert target.attribute == "defs"
    repository = repository_def_from_target_def(target.target_definition)
    assert repository is not None
    names = {key.to_user_string() for key in repository.asset_graph.get_all_asset_keys()}
    assert set(PURCHASE_ASSETS) <= names
    resources = repository.get_top_level_resources()
    assert resources["purchases_source"].config_schema.default_value == {
        "source_dir": str(tmp_path / "purchases"),
        "date_tolerance_days": 2,
    }
    assert resources["io_manager"].config_schema.default_value == {
        "base_dir": str(tmp_path / "warehouse")
    }
    weekly = repository.assets_defs_by_key[dg.AssetKey("weekly_purchase_counts")]
    assert weekly.partitions_def is not None
    keys = weekly.partitions_def.get_partition_keys(
        current_time=dt.datetime(2024, 1, 30, tzinfo=dt.UTC)
    )
    assert keys == ["2024-01-08", "2024-01-15", "2024-01-22"]


def test_a_bad_setting_stops_loading_with_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PURCHASES_DATE_TOLERANCE_DAYS", "a week")
    (target,) = loadable_targets_from_python_module("assets_pkg.definitions", None)
    with pytest.raises(SystemExit) as stopped:
        repository_def_from_target_def(target.target_definition)
    assert str(stopped.value) == (
        "Configuration error: PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days, "
        "got 'a week'."
    )
