"""Runs whose process is gone, and failed runs whose retry will never come: what run
monitoring and the stranded-retries sensor do with them, on a temporary instance."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.events import EngineEventData
from dagster._core.launcher import WorkerStatus
from dagster._core.storage.tags import (
    AUTO_RETRY_RUN_ID_TAG,
    BACKFILL_ID_TAG,
    GRPC_INFO_TAG,
    WILL_RETRY_TAG,
)
from dagster._core.test_utils import create_run_for_test, instance_for_test
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster._daemon.monitoring.run_monitoring import monitor_started_run
from dagster._grpc.server import GrpcServerProcess

from assets_pkg.definitions import build_definitions
from assets_pkg.defs.retries import CONSUMER_CURSOR, end_stranded_retries, stranded_retries
from assets_pkg.defs.run_launcher import CodeServerRunLauncher
from assets_pkg.shared.settings import Settings

LAUNCHER = {
    "module": "assets_pkg.defs.run_launcher",
    "class": "CodeServerRunLauncher",
    "config": {"unreachable_grace_seconds": 0},
}


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    overrides = {
        # One event log for every run, with ids in one sequence, as on PostgreSQL (the
        # default test instance keeps one SQLite file per run).
        "event_log_storage": {
            "module": "dagster._core.storage.event_log",
            "class": "ConsolidatedSqliteEventLogStorage",
            "config": {"base_dir": str(tmp_path / "events")},
        },
        "run_launcher": LAUNCHER,
        "run_monitoring": {"enabled": True, "max_resume_run_attempts": 0},
        "run_retries": {"enabled": True, "max_retries": 2},
    }
    with instance_for_test(overrides=overrides) as instance:
        yield instance


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _started_run(instance: dg.DagsterInstance, port: int) -> dg.DagsterRun:
    info = json.dumps({"host": "127.0.0.1", "port": port})
    run: dg.DagsterRun = create_run_for_test(
        instance, status=dg.DagsterRunStatus.STARTED, tags={GRPC_INFO_TAG: info}
    )
    return run


class FakeServer(CodeServerRunLauncher):
    """The launcher with a code server that answers `runs`, or does not answer (None)."""

    def __init__(self, runs: set[str] | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.runs = runs

    def _executes(self, info: Any, run_id: str) -> bool:
        if self.runs is None:
            raise ConnectionRefusedError("nothing listens")
        return run_id in self.runs


def test_a_run_is_alive_while_its_code_server_executes_it(
    instance: dg.DagsterInstance,
) -> None:
    run = _started_run(instance, 4266)
    assert FakeServer({run.run_id}).check_run_worker_health(run).status == WorkerStatus.RUNNING
    # A run no code server launched (executed in its own process) is not taken for dead.
    own = create_run_for_test(instance, status=dg.DagsterRunStatus.STARTED)
    assert FakeServer(None).check_run_worker_health(own).status == WorkerStatus.RUNNING
    gone = FakeServer({"another-run"}).check_run_worker_health(run)
    assert gone.status == WorkerStatus.FAILED
    assert "127.0.0.1:4266 is not executing this run" in str(gone.msg)


def _process_recorded(
    instance: dg.DagsterInstance, run: dg.DagsterRun, pid: int, ago: float
) -> None:
    """The engine event a run's process writes when it starts, `ago` seconds ago."""
    event = dg.DagsterEvent(
        event_type_value=dg.DagsterEventType.ENGINE_EVENT.value,
        job_name=run.job_name,
        message=f"Started process for run (pid: {pid}).",
        event_specific_data=EngineEventData.in_process(pid),
    )
    instance.store_event(
        dg.EventLogEntry(  # type: ignore[no-untyped-call]
            error_info=None,
            level=logging.DEBUG,
            user_message=str(event.message),
            run_id=run.run_id,
            timestamp=time.time() - ago,
            dagster_event=event,
        )
    )


def _launcher_of(instance: dg.DagsterInstance, runs: set[str]) -> FakeServer:
    launcher = FakeServer(runs)
    launcher.register_instance(instance)
    return launcher


def test_a_run_whose_process_outlived_a_code_reload_is_not_taken_for_dead(
    instance: dg.DagsterInstance,
) -> None:
    """`dagster code-server start` answers from its current code process: after a reload
    (the UI's "Reload"), the new one does not know the runs the old one still executes. The
    run's own process, alive on this host, keeps it RUNNING; gone, or a later process that
    got the same pid, it does not."""
    alive = _started_run(instance, 4266)
    _process_recorded(instance, alive, os.getpid(), ago=0)
    health = _launcher_of(instance, set()).check_run_worker_health(alive)
    assert health.status == WorkerStatus.RUNNING, health
    assert f"pid {os.getpid()}" in str(health.msg)

    dead = _started_run(instance, 4266)
    finished = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    _process_recorded(instance, dead, int(finished.stdout), ago=0)
    assert _launcher_of(instance, set()).check_run_worker_health(dead).status == WorkerStatus.FAILED

    # This process started after the run recorded its pid: the pid was reused.
    reused = _started_run(instance, 4266)
    _process_recorded(instance, reused, os.getpid(), ago=86_400)
    health = _launcher_of(instance, set()).check_run_worker_health(reused)
    assert health.status == WorkerStatus.FAILED, health


def test_a_code_server_that_does_not_answer_gets_a_grace_period() -> None:
    now = [1000.0]
    launcher = FakeServer(None, unreachable_grace_seconds=60, clock=lambda: now[0])
    info = json.dumps({"host": "127.0.0.1", "port": 4266})
    with instance_for_test() as instance:
        run = create_run_for_test(instance, tags={GRPC_INFO_TAG: info})
    assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    now[0] += 59
    assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    now[0] += 2
    assert launcher.check_run_worker_health(run).status == WorkerStatus.UNKNOWN
    # It answers again: the clock starts over.
    launcher.runs = {run.run_id}
    assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING
    launcher.runs = None
    assert launcher.check_run_worker_health(run).status == WorkerStatus.RUNNING


@pytest.fixture(scope="module")
def code_server() -> Iterator[int]:
    """A real gRPC code server (as `make serve` starts one), its port."""
    origin = LoadableTargetOrigin(
        executable_path=sys.executable, module_name="assets_pkg_tests.deploy.tiny_location"
    )
    with GrpcServerProcess(
        instance_ref=None, loadable_target_origin=origin, force_port=True, wait_on_exit=True
    ) as server:
        server.create_client().ping("")  # it answers
        assert server.port is not None
        yield server.port


def test_a_live_code_server_says_it_does_not_execute_a_run_it_never_started(
    instance: dg.DagsterInstance, code_server: int
) -> None:
    """The real gRPC question, to a code server that answers (as a restarted one does)."""
    run = _started_run(instance, code_server)
    health = CodeServerRunLauncher().check_run_worker_health(run)
    assert health.status == WorkerStatus.FAILED, health


def test_run_monitoring_fails_a_run_whose_code_server_is_gone_and_it_is_retried(
    instance: dg.DagsterInstance,
) -> None:
    """Dagster's own run monitoring, with the instance's launcher, against a code server
    that is not there (port closed): the run is marked failed and marked to be retried."""
    assert isinstance(instance.run_launcher, CodeServerRunLauncher)
    assert instance.run_launcher.supports_check_run_worker_health
    run = _started_run(instance, _closed_port())
    record = instance.get_run_record_by_id(run.run_id)
    assert record is not None
    monitor_started_run(instance, None, record, logging.getLogger("test"))  # type: ignore[arg-type]
    after = instance.get_run_by_id(run.run_id)
    assert after is not None
    assert after.status == dg.DagsterRunStatus.FAILURE
    assert after.tags.get(WILL_RETRY_TAG) == "true"


def _failed_run(instance: dg.DagsterInstance, **tags: str) -> dg.DagsterRun:
    run = create_run_for_test(instance, tags={BACKFILL_ID_TAG: "bf", **tags})
    instance.report_run_failed(run, "its broker is gone")
    after = instance.get_run_by_id(run.run_id)
    assert after is not None
    return after


def _failure_id(instance: dg.DagsterInstance, run: dg.DagsterRun) -> int:
    records = instance.get_records_for_run(
        run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE
    ).records
    return records[-1].storage_id


def test_a_failed_run_the_retry_daemon_passed_by_no_longer_waits_for_a_retry(
    instance: dg.DagsterInstance,
) -> None:
    passed = _failed_run(instance)
    retried = _failed_run(instance)
    instance.add_run_tags(retried.run_id, {AUTO_RETRY_RUN_ID_TAG: "its-retry"})
    assert passed.tags[WILL_RETRY_TAG] == "true"
    # The retry daemon has not run yet: nothing is stranded.
    assert stranded_retries(instance) == []
    instance.daemon_cursor_storage.set_cursor_values(
        {CONSUMER_CURSOR: str(_failure_id(instance, retried))}
    )
    later = _failed_run(instance)  # after the cursor: the daemon will still read it

    assert end_stranded_retries(instance) == [passed.run_id]
    ended = instance.get_run_by_id(passed.run_id)
    assert ended is not None
    assert ended.tags[WILL_RETRY_TAG] == "false"
    assert not ended.is_complete_and_waiting_to_retry
    logs = [e.message for e in instance.all_logs(passed.run_id)]
    assert any("passed this failure by" in message for message in logs)
    for run in (retried, later):
        untouched = instance.get_run_by_id(run.run_id)
        assert untouched is not None
        assert untouched.tags[WILL_RETRY_TAG] == "true"
    assert end_stranded_retries(instance) == []


def test_the_sensor_is_on_in_the_code_location(tmp_path: Path) -> None:
    settings = Settings(
        purchases_source_dir=str(tmp_path / "purchases"),
        signatures_source_dir=str(tmp_path / "signatures"),
        warehouse_dir=str(tmp_path / "warehouse"),
        signatures_db_url=f"sqlite:///{tmp_path / 'signatures.db'}",
    )
    sensor = build_definitions(settings).resolve_sensor_def("stranded_retries_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
