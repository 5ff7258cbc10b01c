"""The code location loads, and the weekly schedule asks for the week that just ended."""

import dataclasses
import datetime as dt
import gc
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets_pkg.definitions import _freeze_first_build, build_definitions, defs
from assets_pkg.defs.io_manager import ParquetIOManager
from assets_pkg.defs.metadata import column_schema
from assets_pkg.shared.settings import Settings

DAGSTER = Path(sys.executable).parent / "dagster"
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


def _tick(defs: dg.Definitions, at: dt.datetime) -> dg.RunRequest | dg.SkipReason:
    schedule = defs.resolve_schedule_def("weekly_purchases_schedule")
    context = dg.build_schedule_context(
        scheduled_execution_time=at,
        resources=defs.resources,
        repository_def=defs.get_repository_def(),
    )
    result = schedule.evaluate_tick(context)
    if result.run_requests:
        (request,) = result.run_requests
        return request
    return dg.SkipReason(result.skip_message)


def _day_folder(settings: Settings, day: str) -> None:
    folder = Path(settings.purchases_source_dir) / "transactions" / f"d={day}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "transactions.json").write_text("")


@pytest.mark.parametrize(
    ("tick", "week", "day_with_data"),
    [
        (dt.datetime(2024, 1, 16, 6, 0, tzinfo=dt.UTC), "2024-01-08", "2024-01-14"),
        (dt.datetime(2024, 1, 9, 6, 0, tzinfo=dt.UTC), "2024-01-01", "2024-01-01"),
        (dt.datetime(2025, 1, 7, 6, 0, tzinfo=dt.UTC), "2024-12-30", "2025-01-02"),
    ],
)
def test_the_tuesday_tick_requests_the_week_that_ended_once_its_data_is_there(
    tmp_path: Path, tick: dt.datetime, week: str, day_with_data: str
) -> None:
    settings = _settings(tmp_path)
    (Path(settings.purchases_source_dir) / "transactions").mkdir(parents=True)
    defs = build_definitions(settings)
    skipped = _tick(defs, tick)
    assert isinstance(skipped, dg.SkipReason)
    assert skipped.skip_message is not None
    assert skipped.skip_message.startswith(
        f"None of the day folders of the week of {week} (transactions/d={week} to d="
    )
    _day_folder(settings, day_with_data)
    request = _tick(defs, tick)
    assert isinstance(request, dg.RunRequest)
    assert (request.partition_key, request.run_key) == (week, week)


def test_a_tick_after_the_last_partition_skips_with_the_reason(tmp_path: Path) -> None:
    settings = dataclasses.replace(_settings(tmp_path), purchases_end_date="2024-03-04")
    _day_folder(settings, "2024-03-12")
    skipped = _tick(build_definitions(settings), dt.datetime(2024, 3, 19, 6, tzinfo=dt.UTC))
    assert isinstance(skipped, dg.SkipReason)
    assert skipped.skip_message == (
        "The week of 2024-03-11 is not a partition (the partitions run from 2024-01-01 to "
        "2024-03-04; PURCHASES_START_DATE and PURCHASES_END_DATE set them): nothing to build."
    )


def test_the_bundled_sample_has_a_partition_for_each_of_its_weeks_and_no_other(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("PURCHASES_SOURCE_DIR", "PURCHASES_START_DATE", "PURCHASES_END_DATE"):
        monkeypatch.delenv(name, raising=False)
    loaded = defs()
    weekly = loaded.resolve_assets_def("weekly_purchase_counts")
    assert weekly.partitions_def is not None
    keys = weekly.partitions_def.get_partition_keys()
    sample = Path(__file__).parents[1] / "data" / "sources" / "purchases" / "transactions"
    mondays = {
        (day - dt.timedelta(days=day.weekday())).isoformat()
        for day in (dt.date.fromisoformat(p.name.removeprefix("d=")) for p in sample.iterdir())
    }
    assert keys == sorted(mondays)
    today = _tick(loaded, dt.datetime.now(dt.UTC))
    assert isinstance(today, dg.SkipReason)
    assert "is not a partition" in (today.skip_message or "")


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
    # `defs` is what `dg check defs` and `dagster ... -m assets_pkg.definitions` load.
    loaded = defs()
    assert set(PURCHASE_ASSETS) <= set(_asset_names(loaded))
    # Each variable set reaches its resource as dg.EnvVar, read when a run starts.
    resources = loaded.resources or {}
    assert _env_var(resources["purchases_source"].source_dir) == "PURCHASES_SOURCE_DIR"
    assert _env_var(resources["purchases_source"].date_tolerance_days) == (
        "PURCHASES_DATE_TOLERANCE_DAYS"
    )
    assert _env_var(resources["io_manager"].base_dir) == "WAREHOUSE_DIR"
    # Unset, SIGNATURES_DB_URL is the default computed at load: SQLite under the warehouse.
    assert resources["signatures_db"].url.endswith(f"{tmp_path}/warehouse/signatures.db")
    weekly = loaded.resolve_assets_def("weekly_purchase_counts")
    assert weekly.partitions_def is not None
    keys = weekly.partitions_def.get_partition_keys(
        current_time=dt.datetime(2024, 1, 30, tzinfo=dt.UTC)
    )
    assert keys == ["2024-01-08", "2024-01-15", "2024-01-22"]


def _env_var(value: object) -> str | None:
    """The variable a resource's field names, if it is a `dg.EnvVar` (or its int kind)."""
    return getattr(value, "env_var_name", None)


def test_importing_the_module_freezes_what_was_imported() -> None:
    """Before the definitions are built: the build sets off no collection that walks
    Dagster, polars and the project again (docs/performance.md)."""
    found = subprocess.run(
        [sys.executable, "-c", IMPORT_THEN_COUNT],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    before, after = (int(count) for count in found.stdout.split())
    assert before == 0
    assert after > 100_000  # polars', DuckDB's and Dagster's objects among them


IMPORT_THEN_COUNT = """
import gc
print(gc.get_freeze_count())
import assets_pkg.definitions
print(gc.get_freeze_count())
"""


def test_loading_the_module_freezes_what_it_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the first load loaded is left out of later garbage collections, the one at exit
    included (about 0.6 s of every `dagster` command, docs/performance.md)."""
    monkeypatch.setenv("WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    monkeypatch.delenv("SIGNATURES_DB_URL", raising=False)
    gc.unfreeze()
    _freeze_first_build.cache_clear()  # as in a process that has not built them yet
    loaded_before: list[object] = []
    assert gc.get_freeze_count() == 0
    try:
        defs()
        assert gc.get_freeze_count() > 0
        assert not any(found is loaded_before for found in gc.get_objects())
        # Loaded again later, as a long-lived worker may: what was made since stays collectable.
        made_since: list[object] = []
        defs()
        assert any(found is made_since for found in gc.get_objects())
    finally:
        gc.unfreeze()


def test_a_bad_setting_stops_loading_with_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PURCHASES_DATE_TOLERANCE_DAYS", "a week")
    with pytest.raises(SystemExit) as stopped:
        defs()
    assert str(stopped.value) == (
        "Configuration error: PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days "
        "from 0 to 28, got 'a week'."
    )


@pytest.mark.parametrize(
    ("variable", "value", "sentence"),
    [
        (
            # Checked without touching storage; an unwritable folder fails the run instead
            # (shared/test_env_resources.py).
            "WAREHOUSE_DIR",
            "s3:/bucket/warehouse",
            "Configuration error: WAREHOUSE_DIR (s3:/bucket/warehouse) is a URL with one slash "
            "after s3: write s3://bucket/warehouse.",
        ),
        (
            "SIGNATURES_DB_URL",
            "mysql://root@127.0.0.1/test",
            "Configuration error: SIGNATURES_DB_URL",
        ),
        (
            "PURCHASES_DATE_TOLERANCE_DAYS",
            "1000000",
            "Configuration error: PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days "
            "from 0 to 28, got '1000000'.",
        ),
    ],
)
def test_the_cli_reports_a_bad_setting_in_one_sentence_without_a_traceback(
    tmp_path: Path, variable: str, value: str, sentence: str
) -> None:
    """What a user sees: the real `dagster` command, in its own process."""
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), variable: value}
    shutil.copy(Path(__file__).parents[1] / "instance" / "dagster.yaml", tmp_path)
    done = subprocess.run(
        [DAGSTER, "definitions", "validate", "-m", "assets_pkg.definitions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    (line,) = [line for line in done.stderr.splitlines() if line.startswith(sentence)]
    assert line.endswith(".")
    assert "Traceback" not in done.stderr + done.stdout


def test_every_column_of_every_asset_says_what_it_means(tmp_path: Path) -> None:
    graph = build_definitions(_settings(tmp_path)).resolve_asset_graph()
    columns = {}
    for key in graph.get_all_asset_keys():
        if not graph.get(key).is_materializable:
            continue  # a source: files and folders read, not a table Dagster writes
        schema = graph.get(key).metadata["dagster/column_schema"]
        for column in schema.columns:
            columns[f"{key.to_user_string()}.{column.name}"] = column.description
    assert len(columns) > 30
    assert [name for name, description in columns.items() if not description] == []


def test_a_column_without_a_description_is_refused() -> None:
    with pytest.raises(ValueError, match="columns without a description: b"):
        column_schema(pl.Schema({"a": pl.Int64(), "b": pl.String()}), {"a": "an a"})
