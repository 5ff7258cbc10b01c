"""The production topology end to end: PostgreSQL instance, gRPC code server, webserver,
daemon and two Celery workers (deploy/serve.py), a backfill fanned out into runs of two
weeks, one worker killed mid-step and one run's process killed.

Needs the local PostgreSQL (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672), and Redis
(127.0.0.1:6379) for the results when it answers (Celery's rpc:// backend otherwise); skips
when PostgreSQL or RabbitMQ does not answer. Everything it creates is its own: a database,
a Celery queue, a DAGSTER_HOME, a copy of the bundled sample and a warehouse under tmp.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import signal
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import dagster as dg
import polars as pl
import pytest
from dagster._core.execution.backfill import BULK_ACTION_TERMINAL_STATUSES, BulkActionStatus
from dagster_shared.yaml_utils import load_yaml_from_path

from assets_pkg.definitions import build_definitions
from assets_pkg.shared.settings import PROJECT_ROOT, Settings
from deploy import client
from deploy.serve import INSTANCE_TEMPLATE, Topology, prepare_instance, production_env

pytestmark = pytest.mark.deployment

PG = ("127.0.0.1", 5432)
RABBITMQ = ("127.0.0.1", 5672)
REDIS = ("127.0.0.1", 6379)
SAMPLE = PROJECT_ROOT / "data" / "sources" / "purchases"
FIRST_WEEK, LAST_WEEK = "2024-01-01", "2024-03-04"
WEEKS = [(dt.date.fromisoformat(FIRST_WEEK) + dt.timedelta(weeks=n)).isoformat() for n in range(10)]
WEEKS_PER_RUN = 2
CATALOG = ["raw_customers", "products"]
WEEKLY = ["exploded_transactions", "transaction_quarantine", "weekly_purchase_counts"]
WORKERS = ["worker-1", "worker-2"]
BACKFILL_TAG = "dagster/backfill"
PARENT_TAG = "dagster/parent_run_id"
CELERY_WORKER = "Celery worker"
"""The metadata label under which dagster-celery records, in the engine event that opens
each step on a worker, the name Celery gives that worker (`worker-1.QUEUE@host`)."""

T = TypeVar("T")


def _poll(what: str, check: Callable[[], T | None], timeout: float, every: float = 0.5) -> T:
    """`check()`'s first result that is not None, or a failure naming `what` after
    `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def _database() -> contextlib.AbstractContextManager[str]:
    """A new PostgreSQL database for the instance, dropped afterwards."""
    return client.scratch_database(f"dagster_deploy_test_{uuid.uuid4().hex[:12]}")


def _launch_backfill(url: str, assets: list[str], weeks: list[str]) -> str | None:
    """The new backfill's id, or None while the webserver cannot take it yet."""
    params = {"assetSelection": [{"path": [a]} for a in assets], "partitionNames": weeks}
    try:
        answer = client.graphql(url, client.LAUNCH_BACKFILL, {"params": params})
    except (urllib.error.URLError, OSError):
        return None
    result = (answer.get("data") or {}).get("launchPartitionBackfill") or {}
    if result.get("__typename") == "LaunchBackfillSuccess":
        return str(result["backfillId"])
    return None


def _build_single_run(source: Path, warehouse: Path, instance: dg.DagsterInstance) -> None:
    """The local default: the catalog, then every week in one in-process run."""
    settings = Settings(
        purchases_source_dir=str(source),
        signatures_source_dir=str(PROJECT_ROOT / "data" / "sources" / "signatures"),
        warehouse_dir=str(warehouse),
        signatures_db_url=f"sqlite:///{warehouse / 'signatures.db'}",
        purchases_end_date=LAST_WEEK,
    )
    job = build_definitions(settings).resolve_implicit_global_asset_job_def()
    keys = [dg.AssetKey(name) for name in CATALOG]
    assert job.execute_in_process(instance=instance, asset_selection=keys).success
    range_tags = {
        "dagster/asset_partition_range_start": FIRST_WEEK,
        "dagster/asset_partition_range_end": LAST_WEEK,
    }
    weekly = [dg.AssetKey(name) for name in WEEKLY]
    assert job.execute_in_process(instance=instance, asset_selection=weekly, tags=range_tags)


def _backfill_limit() -> int:
    instance = load_yaml_from_path(str(INSTANCE_TEMPLATE))
    assert isinstance(instance, dict)
    config = instance["run_coordinator"]["config"]
    (limit,) = [
        entry["limit"] for entry in config["tag_concurrency_limits"] if entry["key"] == BACKFILL_TAG
    ]
    assert limit <= config["max_concurrent_runs"]
    return int(limit)


def _peak(records: list[dg.RunRecord]) -> int:
    """The most runs that were running at the same moment, from their start and end."""
    moments = []
    for record in records:
        assert record.start_time is not None
        assert record.end_time is not None
        moments += [(record.start_time, 1), (record.end_time, -1)]
    running = peak = 0
    for _, change in sorted(moments, key=lambda m: (m[0], m[1])):  # an end before a start
        running += change
        peak = max(peak, running)
    return peak


def _weeks_of(record: dg.RunRecord) -> list[str]:
    tags = record.dagster_run.tags
    first = tags["dagster/asset_partition_range_start"]
    last = tags["dagster/asset_partition_range_end"]
    return [w for w in WEEKS if first <= w <= last]


class StepExecution:
    """One execution of a step on a Celery worker, as the event log tells it."""

    def __init__(self, run_id: str, step: str, worker: str, position: int) -> None:
        self.run_id, self.step, self.worker, self.position = run_id, step, worker, position
        self.ended = False


def _executions(instance: dg.DagsterInstance, run_id: str) -> list[StepExecution]:
    """Every step execution of a run, in order, each with the worker's name (`worker-1`)
    and whether a STEP_SUCCESS or STEP_FAILURE followed it."""
    found: list[StepExecution] = []
    for position, entry in enumerate(instance.all_logs(run_id)):
        event = entry.dagster_event
        if event is None or event.step_key is None:
            continue
        if event.event_type == dg.DagsterEventType.ENGINE_EVENT:
            data = event.engine_event_data
            if data is not None and CELERY_WORKER in data.metadata:
                node = str(data.metadata[CELERY_WORKER].value)  # worker-1.QUEUE@host
                worker = node.split("@")[0].split(".")[0]
                found.append(StepExecution(run_id, event.step_key, worker, position))
        elif event.event_type in (
            dg.DagsterEventType.STEP_SUCCESS,
            dg.DagsterEventType.STEP_FAILURE,
        ):
            for execution in found:
                if execution.step == event.step_key:
                    execution.ended = True
    return found


def _topology_env(
    pg_url: str,
    broker: str,
    backend: str,
    queue: str,
    source: Path,
    warehouse: Path,
    home: Path,
    grpc_port: int,
) -> dict[str, str]:
    """The environment `make serve` gets in these tests: their own database, queue, feed and
    warehouse, and backfills cut into runs of WEEKS_PER_RUN weeks."""
    environ = {
        **os.environ,
        "DAGSTER_PG_URL": pg_url,
        "DAGSTER_EXECUTOR": "celery",
        "DAGSTER_CELERY_BROKER_URL": broker,
        "DAGSTER_CELERY_BACKEND_URL": backend,
        "DAGSTER_CELERY_QUEUE": queue,
        "PURCHASES_WEEKS_PER_RUN": str(WEEKS_PER_RUN),
        "PURCHASES_SOURCE_DIR": str(source),
        "PURCHASES_END_DATE": LAST_WEEK,
        "WAREHOUSE_DIR": str(warehouse),
    }
    return production_env(environ, home, "127.0.0.1", grpc_port)


def _start_with_a_backfill(topology: Topology) -> str:
    """Start the code server, the web UI and the workers, launch a backfill of WEEKLY over
    WEEKS through the web UI, then start the daemon; the backfill's id. The daemon comes last
    so that its first pass already finds the backfill (it looks for new ones every 30 s)."""
    topology.start(["code-server", "webserver", *WORKERS], timeout=120)
    backfill = _poll(
        "the webserver to take the backfill",
        lambda: _launch_backfill(topology.url, WEEKLY, WEEKS),
        timeout=60,
        every=1,
    )
    topology.start(["daemon"])
    return backfill


@pytest.fixture
def services() -> str:
    """The result backend's URL; skips unless PostgreSQL and RabbitMQ answer."""
    missing = [
        name for name, at in (("PostgreSQL", PG), ("RabbitMQ", RABBITMQ)) if not client.answers(*at)
    ]
    if missing:
        pytest.skip(
            f"{' and '.join(missing)} does not answer on 127.0.0.1 "
            "(the deployment test needs PostgreSQL at :5432 and RabbitMQ at :5672)"
        )
    return "redis://127.0.0.1:6379/0" if client.answers(*REDIS) else "rpc://"


def test_a_backfill_fans_out_to_celery_workers_and_survives_killed_processes(
    services: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = time.monotonic()
    source = tmp_path / "purchases"
    shutil.copytree(SAMPLE, source)
    reference, warehouse, home = tmp_path / "single_run", tmp_path / "warehouse", tmp_path / "home"
    _build_single_run(source, reference, dg.DagsterInstance.ephemeral())
    for name in CATALOG:  # the weekly runs read the catalog that the single run built
        shutil.copytree(reference / name, warehouse / name)
    prepare_instance(home)
    queue = f"deploy_test_{uuid.uuid4().hex[:12]}"
    broker = "pyamqp://guest@127.0.0.1//"
    grpc_port, port = client.free_port(), client.free_port()
    log_path = tmp_path / "topology.log"
    log = log_path.open("w")
    with _database() as pg_url:
        env = _topology_env(pg_url, broker, services, queue, source, warehouse, home, grpc_port)
        topology = Topology(env, workers=len(WORKERS), port=port, grpc_port=grpc_port, log=log)
        monkeypatch.setenv("DAGSTER_PG_URL", pg_url)
        try:
            backfill = _start_with_a_backfill(topology)
            with dg.DagsterInstance.from_config(str(home)) as instance:
                chaos = Chaos(instance, topology, backfill)
                _poll("every week to be built", chaos.step, timeout=180, every=0.2)
                records = chaos.records()
                executions = [
                    e for r in records for e in _executions(instance, r.dagster_run.run_id)
                ]
        except BaseException:
            topology.stop(grace=10)
            log.close()
            # What the processes said last, in the failure's report.
            print("".join(log_path.read_text().splitlines(keepends=True)[-120:]))
            raise
        finally:
            topology.stop(grace=10)
            log.close()
            client.delete_queue(broker, queue)
    print(f"deployment test: {time.monotonic() - started:.0f} s; log: {log_path}")
    killed_step, killed_run = chaos.killed_step, chaos.killed_run
    assert killed_step is not None, "no worker was caught in the middle of a step"
    assert killed_run is not None, "no run process was left to kill after the worker"

    # Every run succeeded but the one whose process was killed: it was marked failed, and
    # its retry, for the same two weeks, succeeded. No week was built by two runs.
    by_id = {r.dagster_run.run_id: r.dagster_run for r in records}
    statuses = {run_id: run.status.value for run_id, run in by_id.items()}
    retries = [run for run in by_id.values() if run.tags.get(PARENT_TAG) == killed_run]
    assert statuses.pop(killed_run) == "FAILURE"
    assert [run.status.value for run in retries] == ["SUCCESS"]
    assert set(statuses.values()) == {"SUCCESS"}, statuses
    assert len(records) == len(WEEKS) // WEEKS_PER_RUN + 1
    succeeded = [r for r in records if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS]
    assert sorted(w for r in succeeded for w in _weeks_of(r)) == WEEKS
    assert all(len(_weeks_of(r)) == WEEKS_PER_RUN for r in records)

    # The queue kept the backfill under its limit, and its runs did run side by side.
    peak = _peak(records)
    assert 2 <= peak <= _backfill_limit()

    # Steps ran on both workers, as each worker's own name in the event log says.
    assert {e.worker for e in executions} == set(WORKERS)

    # The step the killed worker was running ran again on the other worker, in the same
    # run, which then succeeded.
    again = [
        e
        for e in executions
        if (e.run_id, e.step) == (killed_step.run_id, killed_step.step)
        and e.position > killed_step.position
    ]
    survivor = next(w for w in WORKERS if w != killed_step.worker)
    assert [e.worker for e in again] == [survivor]
    assert by_id[killed_step.run_id].status == dg.DagsterRunStatus.SUCCESS

    # The workers print the steps' lines at the level asked (info, the default), each with
    # its own level: no DEBUG event, and none disguised as a WARNING of the pool.
    worker_lines = [
        line for line in log_path.read_text().splitlines() if line.lstrip().startswith("worker-")
    ]
    step_lines = [line for line in worker_lines if "/ForkPoolWorker" in line]
    assert not [line for line in step_lines if "DEBUG/" in line or " - DEBUG - " in line]
    assert not [line for line in step_lines if "WARNING/" in line and "] dagster - " in line]
    assert [line for line in step_lines if "INFO/" in line and "] dagster - " in line]

    # Row for row what the single-run backfill wrote, one file per week and asset.
    for asset in WEEKLY:
        files = sorted(p.relative_to(warehouse) for p in (warehouse / asset).glob("**/*.parquet"))
        assert files == [Path(asset, f"week={w}", "data.parquet") for w in WEEKS]
        for path in files:
            assert pl.read_parquet(warehouse / path).equals(pl.read_parquet(reference / path)), path


class Chaos:
    """Watches the backfill's runs until every week is built, killing on the way:

    1. once both workers have run a step and at least 3 runs are left, the first worker
       caught in the middle of a step (SIGKILL to its process group: a lost machine);
    2. then the process of another run (SIGKILL) while its first step runs on a worker and
       before it has sent its second: the code server marks the run failed, the daemon retries
       it from the failure, and the retry builds what the run had left.
    """

    def __init__(self, instance: dg.DagsterInstance, topology: Topology, backfill: str) -> None:
        self.instance = instance
        self.topology = topology
        self.backfill = backfill
        self.killed_step: StepExecution | None = None
        self.killed_run: str | None = None

    @property
    def _killed_worker(self) -> str | None:
        return self.killed_step.worker if self.killed_step else None

    def records(self) -> list[dg.RunRecord]:
        return list(
            self.instance.get_run_records(dg.RunsFilter(tags={BACKFILL_TAG: self.backfill}))
        )

    def step(self) -> bool | None:
        """True once every week has a successful run and no run is left; None before."""
        died = [s.name for s in self.topology.dead() if s.name != self._killed_worker]
        if died:
            pytest.fail(f"{', '.join(died)} exited on its own: see the topology's log")
        records = self.records()
        unfinished = [r for r in records if not r.dagster_run.is_finished]
        succeeded = [r for r in records if r.dagster_run.status == dg.DagsterRunStatus.SUCCESS]
        if not unfinished and sorted(w for r in succeeded for w in _weeks_of(r)) == WEEKS:
            return True
        if self.killed_step is None:
            self._kill_a_worker(records, unfinished)
        elif self.killed_run is None:
            self._kill_a_run(records)
        return None

    def _kill_a_worker(self, records: list[dg.RunRecord], unfinished: list[dg.RunRecord]) -> None:
        executions = [e for r in records for e in _executions(self.instance, r.dagster_run.run_id)]
        if {e.worker for e in executions} != set(WORKERS) or len(unfinished) < 3:
            return
        busy = [e for e in executions if not e.ended]
        if busy:
            self.topology.kill(busy[0].worker)
            self.killed_step = busy[0]

    def _kill_a_run(self, records: list[dg.RunRecord]) -> None:
        assert self.killed_step is not None
        for record in records:
            run = record.dagster_run
            if run.status != dg.DagsterRunStatus.STARTED or run.run_id == self.killed_step.run_id:
                continue
            steps = [(e.step, e.ended) for e in _executions(self.instance, run.run_id)]
            if steps != [("transactions", False)]:
                continue
            starts = self.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_START)
            pid = starts[0].dagster_event.pid if starts and starts[0].dagster_event else None
            if pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                self.topology.say("test", f"run process {pid} of {run.run_id} killed (SIGKILL)")
                self.killed_run = run.run_id
                return


def test_runs_orphaned_by_a_stop_are_failed_and_retried_after_a_restart(
    services: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C (the supervisor's stop) in the middle of a backfill, then `make serve` again:
    the runs that were executing end as failed within a poll of run monitoring (they held
    the backfill's two slots), the queued runs go on, the backfill completes, and the output
    is the single run's."""
    source = tmp_path / "purchases"
    shutil.copytree(SAMPLE, source)
    reference, warehouse, home = tmp_path / "single_run", tmp_path / "warehouse", tmp_path / "home"
    _build_single_run(source, reference, dg.DagsterInstance.ephemeral())
    for name in CATALOG:
        shutil.copytree(reference / name, warehouse / name)
    prepare_instance(home)
    queue = f"deploy_test_{uuid.uuid4().hex[:12]}"
    broker = "pyamqp://guest@127.0.0.1//"
    grpc_port, port = client.free_port(), client.free_port()
    log_path = tmp_path / "topology.log"
    log = log_path.open("w")
    topologies: list[Topology] = []
    with _database() as pg_url:
        env = _topology_env(pg_url, broker, services, queue, source, warehouse, home, grpc_port)
        monkeypatch.setenv("DAGSTER_PG_URL", pg_url)

        def topology() -> Topology:
            topologies.append(
                Topology(env, workers=len(WORKERS), port=port, grpc_port=grpc_port, log=log)
            )
            return topologies[-1]

        try:
            first = topology()
            backfill = _start_with_a_backfill(first)
            with dg.DagsterInstance.from_config(str(home)) as instance:
                runs = dg.RunsFilter(tags={BACKFILL_TAG: backfill})

                def two_started() -> bool | None:
                    started = instance.get_runs(
                        dg.RunsFilter(
                            tags={BACKFILL_TAG: backfill}, statuses=[dg.DagsterRunStatus.STARTED]
                        )
                    )
                    return True if len(started) == 2 else None

                _poll("two runs of the backfill to be executing", two_started, timeout=120)
                first.say("test", "stopping the topology as Ctrl-C does")
                first.stop(grace=15)
                orphaned = [
                    r.run_id
                    for r in instance.get_runs(runs)
                    if r.status == dg.DagsterRunStatus.STARTED
                ]
                assert orphaned, "no run was left executing by the stop"

                second = topology()
                second.start(timeout=120)
                stopping = threading.Event()
                supervisor = threading.Thread(target=second.supervise, args=(stopping,))
                supervisor.start()
                try:

                    def done() -> bool | None:
                        backfill_record = instance.get_backfill(backfill)
                        if backfill_record is None or backfill_record.status not in (
                            BULK_ACTION_TERMINAL_STATUSES
                        ):
                            return None
                        records = list(instance.get_run_records(runs))
                        return True if all(r.dagster_run.is_finished for r in records) else None

                    _poll("the backfill to complete after the restart", done, timeout=300, every=1)
                finally:
                    stopping.set()
                    supervisor.join(timeout=10)
                by_id = {r.run_id: r for r in instance.get_runs(runs)}
                ended = instance.get_backfill(backfill)
                instance_backfill_status = ended.status if ended else None
        except BaseException:
            for each in topologies:
                each.stop(grace=10)
            log.close()
            print("".join(log_path.read_text().splitlines(keepends=True)[-150:]))
            raise
        finally:
            for each in topologies:
                each.stop(grace=10)
            log.close()
            client.delete_queue(broker, queue)

    final = instance_backfill_status
    assert final == BulkActionStatus.COMPLETED_SUCCESS, final
    statuses = {run_id: run.status.value for run_id, run in by_id.items()}
    for run_id in orphaned:
        assert by_id[run_id].status == dg.DagsterRunStatus.FAILURE, statuses
        # Its retry, if the backfill still needed one: the steps it had sent to the broker
        # are redelivered to the new workers and may have built its weeks already.
        retries = [r for r in by_id.values() if r.tags.get(PARENT_TAG) == run_id]
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in retries), statuses
    for asset in WEEKLY:
        files = sorted(p.relative_to(warehouse) for p in (warehouse / asset).glob("**/*.parquet"))
        assert files == [Path(asset, f"week={w}", "data.parquet") for w in WEEKS]
        for path in files:
            assert pl.read_parquet(warehouse / path).equals(pl.read_parquet(reference / path)), path
