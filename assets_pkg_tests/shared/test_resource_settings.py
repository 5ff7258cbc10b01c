"""Every setting obeys one rule wherever it enters: the environment, run config, the launchpad.

Run config (`-c`, the launchpad, GraphQL) sets a resource's fields directly, past `Settings`;
each field's validator applies the environment's rule and names the field and its variable.
A run's weeks are checked too: a reversed range, a key that is not a Monday or lies outside
the partitions fail the run in one sentence instead of succeeding with nothing built.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from assets_pkg.definitions import build_definitions, defs
from assets_pkg.defs.partitions import cli_partition_sentence, weekly_partitions
from assets_pkg.defs.resource_checks import SettingError
from assets_pkg.shared.dates import WeekRange
from assets_pkg.shared.settings import PROJECT_ROOT, ConfigurationError, Settings, _check_started

SAMPLE = PROJECT_ROOT / "data" / "sources" / "purchases"
SIGNATURES = PROJECT_ROOT / "data" / "sources" / "signatures"
DAGSTER = Path(sys.executable).parent / "dagster"
WEEKLY = ["exploded_transactions", "transaction_quarantine"]


def _defs(tmp_path: Path) -> dg.Definitions:
    return build_definitions(Settings.from_env({"WAREHOUSE_DIR": str(tmp_path / "warehouse")}))


def _run(
    definitions: dg.Definitions,
    assets: list[str],
    run_config: dict[str, Any] | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    job = definitions.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        run_config=run_config or {},
        tags=tags or {},
        asset_selection=[dg.AssetKey(name) for name in assets],
    )


def _good(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """A valid configuration of every resource, as run config must give it whole."""
    return {
        "purchases_source": {"source_dir": str(SAMPLE), "date_tolerance_days": 1},
        "io_manager": {"base_dir": str(tmp_path / "warehouse"), "hive_key": "week"},
        "signatures_db": {"url": f"sqlite:///{tmp_path / 'signatures.db'}"},
        "signature_sources": {"source_dir": str(SIGNATURES)},
        "signature_asset_store": {"root": str(tmp_path / "warehouse" / "signature_assets")},
    }


TOLERANCE = "PURCHASES_DATE_TOLERANCE_DAYS (purchases_source.date_tolerance_days)"


@pytest.mark.parametrize(
    ("resource", "field", "value", "assets", "sentence"),
    [
        (
            "purchases_source",
            "date_tolerance_days",
            -1,
            ["raw_customers"],
            "PURCHASES_DATE_TOLERANCE_DAYS (purchases_source.date_tolerance_days) must be a "
            "whole number of days from 0 to 28, got -1.",
        ),
        (
            "purchases_source",
            "date_tolerance_days",
            100_000_000,  # was an OverflowError in the middle of the run
            ["raw_customers"],
            "PURCHASES_DATE_TOLERANCE_DAYS (purchases_source.date_tolerance_days) must be a "
            "whole number of days from 0 to 28, got 100000000.",
        ),
        (
            "purchases_source",
            "source_dir",
            "s3:/bucket/feed",
            ["raw_customers"],
            "PURCHASES_SOURCE_DIR (purchases_source.source_dir) (s3:/bucket/feed) is a URL with "
            "one slash after s3: write s3://bucket/feed.",
        ),
        (
            "purchases_source",
            "source_dir",
            "",
            ["raw_customers"],
            "PURCHASES_SOURCE_DIR (purchases_source.source_dir) is empty: set it to a local "
            "folder or a URL such as s3://bucket/prefix.",
        ),
        (
            "io_manager",
            "base_dir",
            "/proc/warehouse",
            ["raw_customers"],
            "WAREHOUSE_DIR (io_manager.base_dir) (/proc/warehouse) is not a writable folder (No "
            "such file or directory): point it at a folder you can write to.",
        ),
        (
            "io_manager",
            "base_dir",
            "s3://",
            ["raw_customers"],
            "WAREHOUSE_DIR (io_manager.base_dir) (s3://) names no bucket: write "
            "s3://bucket/prefix.",
        ),
        (
            "io_manager",
            "hive_key",
            "../elsewhere",
            ["raw_customers"],
            "io_manager.hive_key must be a plain name of letters, digits and underscores (the "
            "folder of a week is <hive_key>=<week>), got '../elsewhere'.",
        ),
        (
            "signatures_db",
            "url",
            "sqlite://",
            ["registered_signatures"],
            "SIGNATURES_DB_URL (signatures_db.url) (sqlite://) names an in-memory SQLite",
        ),
        (
            "signature_sources",
            "source_dir",
            "gs:/bucket",
            ["registered_signatures"],
            "SIGNATURES_SOURCE_DIR (signature_sources.source_dir) (gs:/bucket) is a URL with one "
            "slash after gs: write gs://bucket.",
        ),
        (
            "signature_asset_store",
            "root",
            "nosuchscheme://x/y",
            ["registered_signatures"],
            "WAREHOUSE_DIR (signature_asset_store.root) uses the unknown scheme nosuchscheme:// "
            "(nosuchscheme://x/y): use a local folder or an fsspec URL such as s3://bucket/prefix.",
        ),
    ],
)
def test_run_config_obeys_the_rule_of_the_environment(
    tmp_path: Path, resource: str, field: str, value: object, assets: list[str], sentence: str
) -> None:
    config = _good(tmp_path)
    config[resource][field] = value
    run_config = {"resources": {name: {"config": fields} for name, fields in config.items()}}
    with pytest.raises(SettingError) as refused:
        _run(_defs(tmp_path), assets, run_config)
    assert str(refused.value).startswith(sentence)
    assert str(refused.value).endswith(".")
    assert "\n" not in str(refused.value)
    assert not list((tmp_path / "warehouse").rglob("*.parquet"))


def test_good_run_config_is_used(tmp_path: Path) -> None:
    """The validators refuse what is wrong, not run config as such."""
    config = _good(tmp_path)
    config["purchases_source"]["date_tolerance_days"] = 28
    run_config = {"resources": {name: {"config": fields} for name, fields in config.items()}}
    assert _run(_defs(tmp_path), ["raw_customers"], run_config).success


@pytest.mark.parametrize("value", ["-1", "29", "999999"])
def test_the_environment_and_run_config_refuse_the_same_values(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigurationError) as from_env:
        Settings.from_env({"PURCHASES_DATE_TOLERANCE_DAYS": value})
    assert str(from_env.value) == (
        f"PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days from 0 to 28, got {value}."
    )
    config = _good(tmp_path)
    config["purchases_source"]["date_tolerance_days"] = int(value)
    run_config = {"resources": {name: {"config": fields} for name, fields in config.items()}}
    with pytest.raises(SettingError) as from_run_config:
        _run(_defs(tmp_path), ["raw_customers"], run_config)
    assert str(from_run_config.value) == str(from_env.value).replace(
        "PURCHASES_DATE_TOLERANCE_DAYS", TOLERANCE
    )


def test_the_definitions_load_without_any_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(("PURCHASES_", "SIGNATURES_", "WAREHOUSE_", "DAGSTER_CELERY")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    loaded = defs()
    resources = loaded.resources or {}
    assert resources["purchases_source"].date_tolerance_days == 1
    assert resources["io_manager"].base_dir == str(PROJECT_ROOT / "data" / "warehouse")


# ---- a run's weeks --------------------------------------------------------------------------


def _range(start: str, end: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": start,
        "dagster/asset_partition_range_end": end,
    }


@pytest.mark.parametrize(
    ("tags", "assets", "sentence"),
    [
        (
            _range("2024-01-08", "2024-01-01"),
            WEEKLY,
            "The partition range 2024-01-08...2024-01-01 is reversed, its first week coming "
            "after its last: write 2024-01-01...2024-01-08.",
        ),
        (
            _range("2024-01-08", "2024-01-01"),
            ["weekly_purchase_counts"],  # reads its weeks from the IO manager
            "The partition range 2024-01-08...2024-01-01 is reversed, its first week coming "
            "after its last: write 2024-01-01...2024-01-08.",
        ),
        (
            {"dagster/partition": "2024-01-02"},
            WEEKLY,
            "The partition key 2024-01-02 is a Tuesday, not a Monday: weekly partition keys are "
            "Mondays, and the week holding 2024-01-02 is 2024-01-01.",
        ),
        (
            {"dagster/partition": "2030-01-07"},
            WEEKLY,
            "The partition key 2030-01-07 is not a weekly partition: they run from 2024-01-01 "
            "to 2024-03-04 (PURCHASES_START_DATE and PURCHASES_END_DATE set them; only weeks "
            "that have ended have one).",
        ),
        (
            _range("2024-01-01", "2030-01-07"),
            WEEKLY,
            "The end 2030-01-07 of the partition range 2024-01-01...2030-01-07 is not a weekly "
            "partition: they run from 2024-01-01 to 2024-03-04 (PURCHASES_START_DATE and "
            "PURCHASES_END_DATE set them; only weeks that have ended have one).",
        ),
        (
            _range("2023-12-25", "2024-01-08"),
            WEEKLY,
            "The start 2023-12-25 of the partition range 2023-12-25...2024-01-08 is not a weekly "
            "partition",
        ),
    ],
)
def test_a_run_whose_weeks_are_not_partitions_fails_in_one_sentence(
    tmp_path: Path, tags: dict[str, str], assets: list[str], sentence: str
) -> None:
    """As GraphQL or the launchpad's tags can launch it, past the CLI's own key check."""
    definitions = _defs(tmp_path)
    if assets == ["weekly_purchase_counts"]:  # its catalog inputs exist, so the weeks decide
        assert _run(definitions, ["raw_customers", "products"]).success
    with pytest.raises(dg.Failure) as refused:
        _run(definitions, assets, tags=tags)
    assert (refused.value.description or "").startswith(sentence)
    assert not list((tmp_path / "warehouse").glob("*/week=*"))


def test_the_cli_refuses_a_reversed_range_naming_it(tmp_path: Path) -> None:
    """`dagster asset materialize` (what `dg launch` runs): exit 1, no week written, where it
    was RUN_SUCCESS with materialisations of no partition."""
    shutil.copy(PROJECT_ROOT / "instance" / "dagster.yaml", tmp_path)
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "WAREHOUSE_DIR": str(tmp_path / "wh")}
    done = subprocess.run(
        [
            DAGSTER,
            "asset",
            "materialize",
            "-m",
            "assets_pkg.definitions",
            "--select",
            ",".join(WEEKLY),
            "--partition-range",
            "2024-01-08...2024-01-01",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0
    assert (
        "The partition range 2024-01-08...2024-01-01 is reversed, its first week coming after "
        "its last: write 2024-01-01...2024-01-08." in done.stderr
    )
    assert "RUN_SUCCESS" not in done.stderr
    assert not list((tmp_path / "wh").rglob("*.parquet"))


# ---- a start date in the future -------------------------------------------------------------


def test_a_start_whose_week_has_not_ended_is_refused_at_load() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"PURCHASES_START_DATE": "2199-12-30", "PURCHASES_END_DATE": "open"})
    message = str(refused.value)
    assert message.startswith(
        "PURCHASES_START_DATE (2199-12-30) is a week that has not ended yet (it ends on "
        "2200-01-06, today is "
    )
    assert message.endswith(
        "so there would be no weekly partition to build: set it to the Monday of your feed's "
        "first week, once that week has ended."
    )


@pytest.mark.parametrize(
    ("start", "refused"),
    [
        ("2024-01-08", False),  # ended on Monday 2024-01-15 00:00
        ("2024-01-15", True),  # the week of today
        ("2024-01-22", True),
    ],
)
def test_the_last_week_that_has_ended_is_the_latest_start(start: str, refused: bool) -> None:
    today = dt.date(2024, 1, 17)
    if refused:
        with pytest.raises(ConfigurationError, match=r"^PURCHASES_START_DATE \(" + start):
            _check_started(dt.date.fromisoformat(start), today)
    else:
        _check_started(dt.date.fromisoformat(start), today)


# ---- run config that gives a resource's fields in part ------------------------------------


def test_run_config_giving_only_the_source_does_not_reset_the_tolerance(tmp_path: Path) -> None:
    """Dagster takes a resource's run config whole: fields it leaves out fall back to the
    class's defaults, not to the environment's values. A tolerance of 5 from the environment
    silently became 1 when run config named only the source folder; now it must be given,
    and Dagster names it."""
    definitions = build_definitions(
        Settings.from_env(
            {"WAREHOUSE_DIR": str(tmp_path / "warehouse"), "PURCHASES_DATE_TOLERANCE_DAYS": "5"}
        )
    )
    partial = {"resources": {"purchases_source": {"config": {"source_dir": str(SAMPLE)}}}}
    with pytest.raises(dg.DagsterInvalidConfigError) as refused:
        _run(definitions, ["raw_customers"], partial)
    assert 'Missing required config entry "date_tolerance_days"' in str(refused.value)
    assert not list((tmp_path / "warehouse").rglob("*.parquet"))


@pytest.mark.parametrize("value", ["", "s3:/bucket/versions", "nosuchscheme://x/y"])
def test_the_dataset_versions_folder_obeys_the_warehouse_rule(tmp_path: Path, value: str) -> None:
    config = _good(tmp_path)
    config["signature_datasets"] = {"versions_root": value}
    run_config = {"resources": {name: {"config": fields} for name, fields in config.items()}}
    with pytest.raises(SettingError) as refused:
        _run(_defs(tmp_path), ["signature_dataset"], run_config)
    assert str(refused.value).startswith("WAREHOUSE_DIR (signature_datasets.versions_root)")
    assert "\n" not in str(refused.value)


# ---- the CLI's own refusal of a week --------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "sentence"),
    [
        (
            ["--partition", "2024-01-09"],
            "The partition key 2024-01-09 is a Tuesday, not a Monday: weekly partition keys are "
            "Mondays, and the week holding 2024-01-09 is 2024-01-08.",
        ),
        (
            # Dagster's own message named the range's first key, which is right.
            ["--partition-range", "2024-01-01...2030-01-07"],
            "The end 2030-01-07 of the partition range 2024-01-01...2030-01-07 is not a weekly "
            "partition: they run from 2024-01-01 to 2024-03-04 (PURCHASES_START_DATE and "
            "PURCHASES_END_DATE set them; only weeks that have ended have one).",
        ),
        (
            ["--partition-range=2024-01-01..2024-01-08"],
            "The partition range 2024-01-01..2024-01-08 is not two weeks joined by three dots: "
            "write, for example, 2024-01-01...2024-01-08.",
        ),
    ],
)
def test_the_cli_refuses_a_week_that_is_not_a_partition_in_one_sentence(
    tmp_path: Path, option: list[str], sentence: str
) -> None:
    """Dagster's CLI checks the keys itself, before any run: its DagsterInvalidSubsetError
    (or CheckError) ended the command with a 30-line traceback."""
    shutil.copy(PROJECT_ROOT / "instance" / "dagster.yaml", tmp_path)
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path), "WAREHOUSE_DIR": str(tmp_path / "wh")}
    command = [str(DAGSTER), "asset", "materialize", "-m", "assets_pkg.definitions"]
    done = subprocess.run(
        [*command, "--select", ",".join(WEEKLY), *option],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == f"Error: {sentence}"
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "wh").exists() or not list((tmp_path / "wh").rglob("*.parquet"))


def test_the_sentence_for_the_cli_names_only_a_week_that_is_wrong() -> None:
    weeks = weekly_partitions(WeekRange.from_keys("2024-01-01", "2024-03-04"))
    assert cli_partition_sentence(weeks, ["--partition", "2024-01-08"]) is None
    assert cli_partition_sentence(weeks, ["--partition-range=2024-01-01...2024-01-01"]) is None
    assert cli_partition_sentence(weeks, ["--select", "raw_customers"]) is None
    assert cli_partition_sentence(
        weeks, ["--partition", "2024-01-08", "--partition-range", "2024-01-01...2024-01-08"]
    ) == ("Give --partition or --partition-range, not both.")
    assert cli_partition_sentence(weeks, ["--partition-range", "2024-12-30...2025-01-06"]) == (
        "The start 2024-12-30 of the partition range 2024-12-30...2025-01-06 is not a weekly "
        "partition: they run from 2024-01-01 to 2024-03-04 (PURCHASES_START_DATE and "
        "PURCHASES_END_DATE set them; only weeks that have ended have one)."
    )
