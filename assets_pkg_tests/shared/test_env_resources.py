"""Settings reach the resources as `dg.EnvVar`: the UI shows names, a run reads and checks values.

What a user of the web UI sees of a resource is its config as the definitions hold it (the
Resources page, the launchpad's defaults, the job snapshot stored with each run) and each
run's own config. A variable that is set is held there as `{"env": NAME}`; Dagster reads it
when a run starts, and the resource's rules check what it read. Loading the code location
checks the values without touching storage; the storage is probed when a run uses it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from assets_pkg.definitions import build_definitions, defs
from assets_pkg.defs.resource_checks import SettingError
from assets_pkg.shared.settings import (
    PROJECT_ROOT,
    RESOURCE_VARIABLES,
    ConfigurationError,
    Settings,
    check_location,
)

SECRET = "n0t-for-the-ui-7Qx"
POSTGRES = "127.0.0.1:5432/test"
SIGNATURE_ASSETS = [dg.AssetKey("registered_signatures"), dg.AssetKey("signature_rejects")]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """None of the project's variables set, but a warehouse of the test's own."""
    for name in list(os.environ):
        if name.startswith(("PURCHASES_", "SIGNATURES_", "WAREHOUSE_", "DAGSTER_CELERY")):
            monkeypatch.delenv(name)
    monkeypatch.delenv("DAGSTER_EXECUTOR", raising=False)
    monkeypatch.setenv("WAREHOUSE_DIR", str(tmp_path / "warehouse"))
    return monkeypatch


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    """A fresh schema of the local PostgreSQL (trust auth: any password is accepted)."""
    admin = sa.create_engine(f"postgresql+psycopg://postgres@{POSTGRES}")
    try:
        with admin.connect():
            pass
    except sa.exc.OperationalError as error:
        admin.dispose()
        pytest.skip(f"no PostgreSQL server answers at {POSTGRES}: {str(error.orig).strip()}")
    schema = f"env_test_{uuid.uuid4().hex}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield schema
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _resource_defaults(definitions: dg.Definitions) -> dict[str, object]:
    """Each resource's config as the definitions hold it: what the UI's Resources page shows
    (Dagster's repository snapshot reads exactly this) and the launchpad fills in."""
    resources = definitions.get_repository_def().get_top_level_resources()
    return {
        name: json.loads(resource.config_schema.default_value_as_json_str)
        for name, resource in resources.items()
        if resource.config_schema.default_provided
    }


def test_a_password_in_the_database_url_shows_in_no_run_config(
    clean_env: pytest.MonkeyPatch, postgres_schema: str
) -> None:
    """A real run on PostgreSQL with a password in SIGNATURES_DB_URL: the run uses the URL,
    and neither its stored config, its job snapshot, its plan, its events nor the
    resources' config as the UI gets it holds the password."""
    url = (
        f"postgresql+psycopg://postgres:{SECRET}@{POSTGRES}"
        f"?options=-csearch_path%3D{postgres_schema}"
    )
    clean_env.setenv("SIGNATURES_DB_URL", url)
    loaded = defs()

    defaults = _resource_defaults(loaded)
    assert defaults["signatures_db"] == {"url": {"env": "SIGNATURES_DB_URL"}}
    assert SECRET not in json.dumps(defaults)

    with dg.instance_for_test() as instance:
        job = loaded.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(instance=instance, asset_selection=SIGNATURE_ASSETS)
        assert result.success
        run = instance.get_run_by_id(result.run_id)
        assert run is not None
        assert SECRET not in json.dumps(run.run_config)
        assert SECRET not in dg.serialize_value(run)
        assert run.job_snapshot_id is not None
        assert SECRET not in dg.serialize_value(instance.get_job_snapshot(run.job_snapshot_id))
        assert run.execution_plan_snapshot_id is not None
        plan = instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id)
        assert SECRET not in dg.serialize_value(plan)
        for record in instance.all_logs(run.run_id):
            assert SECRET not in dg.serialize_value(record)

    # The URL was read when the run started: the signatures are in that schema.
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            tables = sa.inspect(connection).get_table_names(schema=postgres_schema)
            assert tables
    finally:
        engine.dispose()


def test_every_variable_set_is_held_by_its_name(clean_env: pytest.MonkeyPatch) -> None:
    values = {
        "PURCHASES_SOURCE_DIR": str(PROJECT_ROOT / "data" / "sources" / "purchases"),
        "SIGNATURES_SOURCE_DIR": str(PROJECT_ROOT / "data" / "sources" / "signatures"),
        "SIGNATURES_DB_URL": f"postgresql+psycopg://postgres:{SECRET}@{POSTGRES}",
        "PURCHASES_DATE_TOLERANCE_DAYS": "3",
    }
    for name, value in values.items():
        clean_env.setenv(name, value)
    defaults = _resource_defaults(defs())
    assert defaults["purchases_source"] == {
        "source_dir": {"env": "PURCHASES_SOURCE_DIR"},
        "date_tolerance_days": {"env": "PURCHASES_DATE_TOLERANCE_DAYS"},
    }
    assert defaults["io_manager"] == {"base_dir": {"env": "WAREHOUSE_DIR"}}
    assert defaults["signature_sources"] == {"source_dir": {"env": "SIGNATURES_SOURCE_DIR"}}
    assert defaults["signatures_db"] == {"url": {"env": "SIGNATURES_DB_URL"}}


def test_an_unset_variable_gives_its_default_as_a_value(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """SIGNATURES_DB_URL unset: SQLite under the warehouse, computed when the location loads
    (a run could not compute it from a variable that does not exist)."""
    defaults = _resource_defaults(defs())
    assert defaults["signatures_db"] == {
        "url": f"sqlite:///{tmp_path / 'warehouse' / 'signatures.db'}"
    }
    assert defaults["purchases_source"] == {
        "source_dir": str(PROJECT_ROOT / "data" / "sources" / "purchases"),
        "date_tolerance_days": 1,
    }


def test_settings_given_in_code_stay_values(tmp_path: Path) -> None:
    """`build_definitions(Settings(...))`, and `Settings.from_env(mapping)`, as the tests use
    them: the values are used as given, not looked up in the process's environment."""
    settings = Settings.from_env({"WAREHOUSE_DIR": str(tmp_path / "wh")})
    assert settings.environment == frozenset()
    defaults = _resource_defaults(build_definitions(settings))
    assert defaults["io_manager"] == {"base_dir": str(tmp_path / "wh")}


@pytest.mark.parametrize(
    ("variable", "value", "assets", "sentence"),
    [
        (
            "SIGNATURES_DB_URL",
            "sqlite://",
            SIGNATURE_ASSETS,
            "SIGNATURES_DB_URL (signatures_db.url) (sqlite://) names an in-memory SQLite database",
        ),
        (
            "SIGNATURES_DB_URL",
            f"postgresql+psycopg://postgres:{SECRET}@{POSTGRES}?connect_timeout=soon",
            SIGNATURE_ASSETS,
            "SIGNATURES_DB_URL (signatures_db.url) (postgresql+psycopg://postgres:***@",
        ),
        (
            "PURCHASES_SOURCE_DIR",
            "s3:/bucket/feed",
            [dg.AssetKey("raw_customers")],
            "PURCHASES_SOURCE_DIR (purchases_source.source_dir) (s3:/bucket/feed) is a URL with "
            "one slash after s3: write s3://bucket/feed.",
        ),
        (
            "PURCHASES_DATE_TOLERANCE_DAYS",
            "29",
            [dg.AssetKey("raw_customers")],
            "PURCHASES_DATE_TOLERANCE_DAYS (purchases_source.date_tolerance_days) must be a "
            "whole number of days from 0 to 28, got 29.",
        ),
        (
            "WAREHOUSE_DIR",
            "/proc/warehouse",
            [dg.AssetKey("raw_customers")],
            "WAREHOUSE_DIR (io_manager.base_dir) (/proc/warehouse) is not a writable folder (No "
            "such file or directory): point it at a folder you can write to.",
        ),
    ],
)
def test_the_value_a_run_reads_obeys_the_rule_in_one_sentence(
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    variable: str,
    value: str,
    assets: list[dg.AssetKey],
    sentence: str,
) -> None:
    """The variable is good when the location loads and bad when the run starts (a worker
    with another environment): the resource's rule checks the value Dagster read, and the
    run fails before any work in one sentence naming the variable."""
    good = {
        "SIGNATURES_DB_URL": f"sqlite:///{tmp_path / 'signatures.db'}",
        "PURCHASES_SOURCE_DIR": str(PROJECT_ROOT / "data" / "sources" / "purchases"),
        "PURCHASES_DATE_TOLERANCE_DAYS": "1",
        "WAREHOUSE_DIR": str(tmp_path / "warehouse"),
    }
    clean_env.setenv(variable, good[variable])
    job = defs().resolve_implicit_global_asset_job_def()
    clean_env.setenv(variable, value)
    with pytest.raises(SettingError) as refused:
        job.execute_in_process(asset_selection=assets)
    message = str(refused.value)
    assert message.startswith(sentence)
    assert message.endswith(".")
    assert "\n" not in message
    assert SECRET not in message
    assert not list(tmp_path.rglob("*.parquet"))


def test_loading_touches_no_storage_and_a_run_probes_the_warehouse(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Loading the code location created the warehouse folder and wrote a probe file in it;
    an unwritable warehouse stopped the whole location. Now the run that uses it does."""
    warehouse = tmp_path / "new" / "warehouse"
    clean_env.setenv("WAREHOUSE_DIR", str(warehouse))
    loaded = defs()
    assert not warehouse.exists()
    job = loaded.resolve_implicit_global_asset_job_def()
    assert job.execute_in_process(asset_selection=[dg.AssetKey("raw_customers")]).success
    assert (warehouse / "raw_customers" / "data.parquet").is_file()

    clean_env.setenv("WAREHOUSE_DIR", "/proc/warehouse")
    defs()  # loads: the values are well formed, and nothing is written at load


def test_the_broker_url_is_read_when_a_run_starts(clean_env: pytest.MonkeyPatch) -> None:
    """The celery executor's broker and backend are config `{"env": NAME}`: Dagster resolves
    them when a run starts, from that run's environment, and the definitions hold only the
    names."""
    clean_env.setenv("DAGSTER_EXECUTOR", "celery")
    clean_env.setenv("DAGSTER_CELERY_BROKER_URL", "pyamqp://guest:loaded@127.0.0.1//")
    clean_env.setenv("DAGSTER_CELERY_BACKEND_URL", "redis://:loaded@127.0.0.1:6379/0")
    job = defs().resolve_job_def("weekly_purchases")
    clean_env.setenv("DAGSTER_CELERY_BROKER_URL", f"pyamqp://guest:{SECRET}@127.0.0.1//")
    # The config a run of the job resolves, as Dagster does when the run starts.
    config = dg.validate_run_config(job, {})["execution"]["celery"]
    assert config["broker"] == f"pyamqp://guest:{SECRET}@127.0.0.1//"
    assert config["backend"] == "redis://:loaded@127.0.0.1:6379/0"
    assert SECRET not in dg.serialize_value(job.get_job_snapshot())


def test_unset_broker_urls_are_the_defaults(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("DAGSTER_EXECUTOR", "celery")
    job = defs().resolve_job_def("weekly_purchases")
    config = dg.validate_run_config(job, {})["execution"]["celery"]
    assert config["broker"] == "pyamqp://guest@127.0.0.1//"


@pytest.mark.parametrize(
    "location",
    [f"s3://key:{SECRET}@bucket/warehouse", f"ftp://user:{SECRET}@host/warehouse"],
)
def test_a_password_in_a_folder_url_is_refused_without_showing_it(location: str) -> None:
    """Dagster shows a folder wherever it is used (each materialisation's path, run config),
    so a password in it could not be hidden: refused, naming the variable, not the URL."""
    with pytest.raises(ConfigurationError) as refused:
        check_location(location, "WAREHOUSE_DIR")
    message = str(refused.value)
    assert message.startswith("WAREHOUSE_DIR holds a password in its ")
    assert SECRET not in message
    assert "\n" not in message


def test_the_resource_variables_are_the_contract_s() -> None:
    contract = (PROJECT_ROOT / "docs" / "contract.md").read_text(encoding="utf-8")
    for name in RESOURCE_VARIABLES:
        assert f"`{name}`" in contract
