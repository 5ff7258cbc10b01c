"""The production profile without starting it: what the settings choose, the instance and
workspace files, the workers' Celery configuration, the supervisor's commands."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster_shared.yaml_utils import load_yaml_from_path

from assets_pkg.definitions import build_definitions
from assets_pkg.shared.executors import celery_app_config
from assets_pkg.shared.settings import Settings
from deploy.serve import (
    CELERY_CONFIG_DIR,
    INSTANCE_TEMPLATE,
    WORKSPACE,
    Topology,
    production_env,
)

WEEKLY_STEPS = ("transactions", "weekly_purchase_counts")


def _settings(tmp_path: Path, **production: object) -> Settings:
    return Settings(
        purchases_source_dir=str(tmp_path / "purchases"),
        signatures_source_dir=str(tmp_path / "signatures"),
        warehouse_dir=str(tmp_path / "warehouse"),
        signatures_db_url=f"sqlite:///{tmp_path / 'signatures.db'}",
        **production,  # type: ignore[arg-type]
    )


def _weekly_policies(defs: dg.Definitions) -> set[dg.BackfillPolicy | None]:
    graph = defs.resolve_asset_graph()
    return {
        graph.get(dg.AssetKey(name)).backfill_policy
        for name in ("exploded_transactions", "transaction_quarantine", "weekly_purchase_counts")
    }


def test_the_default_is_one_process_and_one_run_per_backfill(tmp_path: Path) -> None:
    defs = build_definitions(_settings(tmp_path))
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.executor_def is dg.in_process_executor
    assert _weekly_policies(defs) == {dg.BackfillPolicy.single_run()}


def test_the_production_settings_choose_celery_and_runs_of_n_weeks(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        executor="celery",
        purchases_weeks_per_run=3,
        celery_broker_url="pyamqp://guest@broker//",
        celery_backend_url="redis://results:6379/1",
        celery_queue="purchases",
    )
    defs = build_definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == "celery"
    assert _weekly_policies(defs) == {dg.BackfillPolicy.multi_run(max_partitions_per_run=3)}
    # The catalog has no partitions: its backfill policy does not change.
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("raw_customers")).backfill_policy == (
        dg.BackfillPolicy.single_run()
    )


def test_the_workers_read_the_configuration_the_executor_submits_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "pyamqp://guest@elsewhere//")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "rpc://")
    monkeypatch.setenv("DAGSTER_CELERY_QUEUE", "q1")
    monkeypatch.syspath_prepend(str(CELERY_CONFIG_DIR))
    sys.modules.pop("dagster_celery_config", None)
    module = importlib.import_module("dagster_celery_config")
    try:
        public = {k: v for k, v in vars(module).items() if not k.startswith("_")}
        assert public == celery_app_config(Settings.from_env())
        assert public["broker_url"] == "pyamqp://guest@elsewhere//"
        assert public["task_default_queue"] == "q1"
        assert public["task_acks_late"] is True
    finally:
        sys.modules.pop("dagster_celery_config", None)


def test_the_instance_queues_runs_under_limits_and_retries_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_yaml_from_path(str(INSTANCE_TEMPLATE))
    assert isinstance(config, dict)
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = coordinator["config"]["tag_concurrency_limits"]
    assert [entry["key"] for entry in limits] == ["dagster/backfill"]
    assert limits[0]["limit"] <= coordinator["config"]["max_concurrent_runs"]
    assert config["run_monitoring"]["enabled"] is True
    assert config["run_retries"]["enabled"] is True
    assert config["run_retries"]["max_retries"] >= 1
    assert set(config["retention"]) == {"schedule", "sensor"}


def test_the_workspace_reaches_the_code_server_by_its_variables() -> None:
    workspace = load_yaml_from_path(str(WORKSPACE))
    assert isinstance(workspace, dict)
    (location,) = workspace["load_from"]
    assert location["grpc_server"]["host"] == {"env": "DAGSTER_GRPC_HOST"}
    assert location["grpc_server"]["port"] == {"env": "DAGSTER_GRPC_PORT"}


def test_the_supervisor_starts_every_process_of_the_topology(tmp_path: Path) -> None:
    env = production_env({"PATH": "/bin"}, tmp_path, "127.0.0.1", 4999)
    assert env["DAGSTER_EXECUTOR"] == "celery"
    assert env["DAGSTER_PG_URL"].startswith("postgresql+psycopg2://")
    assert (env["DAGSTER_HOME"], env["DAGSTER_GRPC_PORT"]) == (str(tmp_path), "4999")
    topology = Topology(env, workers=3, port=3999, grpc_port=4999)
    names = [service.name for service in topology.services]
    assert names == ["code-server", "webserver", "daemon", "worker-1", "worker-2", "worker-3"]
    commands = {service.name: service.argv for service in topology.services}
    assert commands["code-server"][1:3] == ["code-server", "start"]
    assert Path(commands["webserver"][0]).name == "dagster-webserver"
    assert commands["daemon"][1] == "run"
    assert commands["worker-2"][1:4] == ["-A", "dagster_celery.app", "worker"]
    assert "worker-2.dagster@%h" in commands["worker-2"]
    worker_env = topology.service("worker-1").env
    assert worker_env["PYTHONPATH"].split(":")[0] == str(CELERY_CONFIG_DIR)
