"""The local instance's event log (assets_pkg/defs/event_storage.py), as instance/dagster.yaml
configures it: Dagster's folders, one planned event per asset for a range run without any
environment variable, one kept connection per database in WAL mode with
`synchronous=NORMAL`, and a live view of a run that sees commits in the write-ahead log."""

from __future__ import annotations

import os
import queue
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.events import DagsterEvent, EngineEventData
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from dagster._core.test_utils import create_run_for_test

from assets_pkg.defs.event_storage import OPEN_RUN_DATABASES, LocalEventLogStorage

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "instance" / "dagster.yaml"
VARIABLE = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
RANGE = {
    "dagster/asset_partition_range_start": "2024-01-07",
    "dagster/asset_partition_range_end": "2024-01-21",
}
"""Three weeks."""

weeks = dg.WeeklyPartitionsDefinition(start_date="2024-01-07")


@dg.asset(partitions_def=weeks)
def upstream() -> None:
    pass


@dg.asset(partitions_def=weeks, deps=[upstream])
def downstream() -> None:
    pass


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME with the project's instance settings; the Makefile's old switch unset."""
    monkeypatch.delenv(VARIABLE, raising=False)
    shutil.copy(TEMPLATE, tmp_path / "dagster.yaml")
    return tmp_path


@pytest.fixture
def instance(home: Path) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_config(str(home)) as opened:
        yield opened


def storage_of(instance: dg.DagsterInstance) -> LocalEventLogStorage:
    storage = instance.event_log_storage
    assert isinstance(storage, LocalEventLogStorage)
    return storage


def new_run(instance: dg.DagsterInstance) -> str:
    run: dg.DagsterRun = create_run_for_test(instance, job_name="job")
    return run.run_id


def log(instance: dg.DagsterInstance, run_id: str, message: str) -> None:
    event = DagsterEvent(
        "ENGINE_EVENT", "job", message=message, event_specific_data=EngineEventData()
    )
    instance.report_dagster_event(event, run_id)


def message(entry: dg.EventLogEntry) -> str:
    event = entry.dagster_event
    return str(event.message or "") if event is not None else ""


def messages(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    return [message(r.event_log_entry) for r in instance.get_records_for_run(run_id).records]


def planned_events(instance: dg.DagsterInstance, run_id: str) -> list[Any]:
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    events = [record.event_log_entry.dagster_event for record in records]
    return [event.event_specific_data for event in events if event is not None]


def test_the_instance_keeps_dagster_s_folders(home: Path, instance: dg.DagsterInstance) -> None:
    run_id = new_run(instance)
    log(instance, run_id, "hello")
    assert storage_of(instance)._base_dir == str(home / "history" / "runs")
    assert (home / "history" / "runs.db").exists()  # Dagster's run storage
    assert (home / "history" / "runs" / "index.db").exists()
    assert (home / "history" / "runs" / f"{run_id}.db").exists()
    assert (home / "schedules" / "schedules.db").exists()  # Dagster's schedule storage


def test_an_existing_instance_keeps_its_history(home: Path) -> None:
    """An instance made with Dagster's default storage (the project's before), opened with
    the project's settings: its runs' events and its assets' history are there."""
    (home / "dagster.yaml").rename(home / "project.yaml")
    with dg.DagsterInstance.from_config(str(home)) as before:
        assert type(before.event_log_storage) is SqliteEventLogStorage
        done = dg.materialize([upstream], instance=before, partition_key="2024-01-07")
    (home / "project.yaml").rename(home / "dagster.yaml")
    with dg.DagsterInstance.from_config(str(home)) as after:
        storage_of(after)
        assert after.get_records_for_run(done.run_id).records
        latest = after.get_latest_materialization_event(dg.AssetKey("upstream"))
        assert latest is not None
        assert latest.run_id == done.run_id


def test_a_range_run_announces_each_asset_once_without_any_variable(
    instance: dg.DagsterInstance,
) -> None:
    done = dg.materialize([upstream, downstream], instance=instance, tags=RANGE)
    planned = planned_events(instance, done.run_id)
    assert len(planned) == 2  # Dagster's own storage: 6, one per asset and week
    for data in planned:
        assert data.partition is None
        assert list(data.partitions_subset.get_partition_keys()) == [
            "2024-01-07",
            "2024-01-14",
            "2024-01-21",
        ]


def test_dagster_s_own_storage_announces_each_week(home: Path) -> None:
    """What the test above is measured against: Dagster's default, with no variable."""
    (home / "dagster.yaml").unlink()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        done = dg.materialize([upstream, downstream], instance=instance, tags=RANGE)
        assert len(planned_events(instance, done.run_id)) == 6


@pytest.mark.slow
def test_the_dagster_cli_announces_each_asset_once(home: Path, tmp_path: Path) -> None:
    """`dagster asset materialize` from a shell whose DAGSTER_HOME has the project's settings,
    and no DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS."""
    definitions = tmp_path / "two_weekly_assets.py"
    definitions.write_text(
        "import dagster as dg\n"
        "weeks = dg.WeeklyPartitionsDefinition(start_date='2024-01-07')\n"
        "one_run = dg.BackfillPolicy.single_run()\n"
        "@dg.asset(partitions_def=weeks, backfill_policy=one_run)\n"
        "def upstream() -> None: ...\n"
        "@dg.asset(partitions_def=weeks, backfill_policy=one_run, deps=[upstream])\n"
        "def downstream() -> None: ...\n"
    )
    env = {k: v for k, v in os.environ.items() if k != VARIABLE} | {"DAGSTER_HOME": str(home)}
    command = [str(Path(sys.executable).with_name("dagster")), "asset", "materialize"]
    command += ["-f", str(definitions), "--select", "*", "--partition-range"]
    command += ["2024-01-07...2024-01-21"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage_of(instance)
        (run,) = instance.get_runs()
        assert len(planned_events(instance, run.run_id)) == 2


def test_connections_are_wal_with_synchronous_normal(instance: dg.DagsterInstance) -> None:
    storage = storage_of(instance)
    run_id = new_run(instance)
    log(instance, run_id, "hello")
    for connection in (storage.run_connection(run_id), storage.index_connection()):
        with connection as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL


@dg.asset(check_specs=[dg.AssetCheckSpec("positive", asset="checked")])
def checked() -> Iterator[dg.MaterializeResult[None]]:
    yield dg.MaterializeResult(check_results=[dg.AssetCheckResult(passed=True)])


def test_storing_events_opens_no_new_connection(
    home: Path, instance: dg.DagsterInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dagster's storage opens one per event (two per asset event, and one more to ask
    whether a table exists before each asset event and check evaluation)."""
    dg.materialize([checked], instance=instance)  # index.db and the tables are there
    run_id = new_run(instance)
    log(instance, run_id, "first")  # opens the run's database
    opened: list[str] = []
    connect = sqlite3.dbapi2.connect

    def counting(database: str, *args: Any, **kwargs: Any) -> Any:
        opened.append(os.path.relpath(database, home / "history" / "runs"))
        return connect(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3.dbapi2, "connect", counting)
    for number in range(5):
        log(instance, run_id, f"event {number}")
    again = dg.materialize([checked], instance=instance)
    assert len(instance.get_records_for_run(run_id).records) == 6
    latest = instance.get_latest_materialization_event(dg.AssetKey("checked"))
    assert latest is not None
    assert latest.run_id == again.run_id
    # The new run's database only (twice while Dagster creates its tables).
    assert {Path(path).name for path in opened if not path.startswith("..")} == {
        f"{again.run_id}.db"
    }


def test_disposing_of_the_instance_writes_the_log_back_into_the_databases(home: Path) -> None:
    """Closing the last connection writes the write-ahead log back: once the process is done
    with the instance, each database file holds all its events, as with Dagster's storage."""
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_id = new_run(instance)
        for number in range(3):
            log(instance, run_id, f"event {number}")
        assert list((home / "history" / "runs").glob("*-wal"))
    assert not list((home / "history" / "runs").glob("*-wal"))
    database = sqlite3.connect(home / "history" / "runs" / f"{run_id}.db")
    try:
        assert database.execute("SELECT count(*) FROM event_logs").fetchone() == (3,)
    finally:
        database.close()


def test_a_process_keeps_a_few_runs_databases_open(instance: dg.DagsterInstance) -> None:
    storage = storage_of(instance)
    runs = [new_run(instance) for _ in range(OPEN_RUN_DATABASES + 3)]
    for run_id in runs:
        log(instance, run_id, "hello")
    kept = runs[-OPEN_RUN_DATABASES:]
    assert list(storage._engines) == ["index", *kept]
    log(instance, run_id := kept[0], "used again")  # the least recently used is closed
    log(instance, newest := new_run(instance), "hello")
    assert list(storage._engines) == ["index", *kept[2:], run_id, newest]
    for run_id in runs:  # a run whose connection was closed is read and written again
        log(instance, run_id, "again")
        assert messages(instance, run_id)[-1] == "again"


def test_nothing_is_lost_when_the_instance_is_wiped_with_connections_open(
    home: Path, instance: dg.DagsterInstance
) -> None:
    """Dagster's wipe deletes the runs' database files: a connection kept open would go on
    writing to the deleted file."""
    run_id = new_run(instance)
    log(instance, run_id, "before")
    instance.wipe()
    log(instance, run_id, "after")
    with dg.DagsterInstance.from_config(str(home)) as other:
        assert messages(other, run_id) == ["after"]


def test_the_live_view_of_a_run_sees_commits_in_the_write_ahead_log(home: Path) -> None:
    """The web UI's run page follows a run through `instance.watch_event_logs`. The run's
    process keeps its connection open, so its commits stay in `<run>.db-wal`, which
    Dagster's watcher (on `<run>.db`) does not look at."""
    seen: queue.Queue[str] = queue.Queue()

    def callback(entry: dg.EventLogEntry, _cursor: str) -> None:
        seen.put(message(entry))

    with (
        dg.DagsterInstance.from_config(str(home)) as runner,
        dg.DagsterInstance.from_config(str(home)) as viewer,
    ):
        run_id = new_run(runner)
        log(runner, run_id, "created")
        viewer.watch_event_logs(run_id, None, callback)
        try:
            for number in range(3):
                log(runner, run_id, f"event {number}")
                assert wait_for(seen, f"event {number}")
            assert Path(f"{storage_of(runner).path_for_shard(run_id)}-wal").exists()
        finally:
            viewer.end_watch_event_logs(run_id, callback)


def wait_for(seen: queue.Queue[str], message: str, seconds: float = 20) -> bool:
    """Whether `message` arrives within `seconds` (an upper bound, not a timing)."""
    try:
        while seen.get(timeout=seconds) != message:
            pass
    except queue.Empty:
        return False
    return True


def test_a_forked_child_opens_its_own_connections(instance: dg.DagsterInstance) -> None:
    """SQLite forbids using a connection across fork(): the child drops its parent's."""
    storage = storage_of(instance)
    run_id = new_run(instance)
    log(instance, run_id, "parent")
    assert storage._engines

    def child() -> bool:
        dropped = not storage._engines
        log(instance, run_id, "child")
        return dropped

    assert in_child(child) == 0
    assert messages(instance, run_id) == ["parent", "child"]


def in_child(check: Callable[[], bool]) -> int:
    """The exit status of a forked child that exits 0 when `check()` holds."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os._exit(0 if check() else 1)
        except BaseException:
            os._exit(2)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_the_event_log_bench_compares_dagster_s_storage_with_the_project_s(
    tmp_path: Path,
) -> None:
    from bench.event_log import main

    dagster, project = main(["--events", "2", "--rounds", "1", "--dir", str(tmp_path)])
    assert dagster.startswith("round 1 dagster ")
    assert "materialisation" in dagster
    assert "2.0 connections; engine event" in dagster
    assert project.startswith("round 1 project ")
    assert project.count("0.0 connections") == 2
