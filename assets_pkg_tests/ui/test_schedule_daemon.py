"""The weekly schedule run by Dagster's real daemon (`dagster-daemon run`), not called directly.

Each Tuesday 06:00 UTC the schedule asks for the week that ended the day before. To see the
daemon take such a tick within seconds, the test records in a fresh instance that the
schedule was switched on a minute before the most recent Tuesday 06:00 UTC: the daemon's
first iteration then finds that tick due and evaluates it, as it would have done on time.
The feed is generated for the weeks around that tick, so the outcome does not depend on the
day the test runs. Two instances, each with its own daemon, run side by side:

- the week's day folders have arrived: the tick requests a run of the weekly job for that
  week, the daemon's run queue launches it, and the week's counts land in the warehouse;
- only the week before has arrived: the tick is skipped, and says why.

The schedule's rules at chosen instants, without a daemon, are tested in
assets_pkg_tests/test_definitions.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.remote_origin import (
    RegisteredCodeLocationOrigin,
    RemoteInstigatorOrigin,
    RemoteRepositoryOrigin,
)
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorTick,
    ScheduleInstigatorData,
    TickStatus,
)

from assets_pkg.defs.purchases.build import SCHEDULE
from assets_pkg.shared.settings import PROJECT_ROOT
from tools.generate_purchases import generate

from .processes import BIN, Process, new_instance, project_env, running

SCHEDULE_NAME = "weekly_purchases_schedule"
LOCATION = "assets_pkg"
DAEMON_S = 120.0
"""The daemon loads the code location, evaluates the tick, launches and runs the week: a
dozen seconds when idle, more on a busy 2-core machine."""
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def last_tuesday_tick(now: dt.datetime) -> dt.datetime:
    """The most recent Tuesday 06:00 UTC at or before `now`."""
    assert SCHEDULE == "0 6 * * 2", "this test knows the schedule as Tuesdays 06:00 UTC"
    tick = dt.datetime.combine(now.date(), dt.time(6), tzinfo=dt.UTC)
    tick -= dt.timedelta(days=(tick.weekday() - 1) % 7)
    return tick if tick <= now else tick - dt.timedelta(weeks=1)


@dataclass(frozen=True)
class Daemon:
    instance: dg.DagsterInstance
    state: InstigatorState
    warehouse: Path
    process: Process

    def ticks(self) -> list[InstigatorTick]:
        return list(
            self.instance.get_ticks(self.state.instigator_origin_id, self.state.selector_id)
        )

    def finished_tick(self) -> InstigatorTick:
        self.process.wait_until(
            lambda: any(t.status != TickStatus.STARTED for t in self.ticks()),
            f"{SCHEDULE_NAME} tick",
            DAEMON_S,
        )
        (tick,) = self.ticks()
        return tick


def switched_on_before(tick: dt.datetime) -> InstigatorState:
    """The schedule as `dagster schedule start` records it, had it been run a minute before
    `tick`. The daemon finds a state by its location, repository and schedule names.

    Dagster has no public call that records a schedule as started at an instant in the past,
    so this builds the record from Dagster's internal classes (`dagster._core`); the Dagster
    release is pinned in pyproject.toml, and a change to them fails this test at once."""
    origin = RemoteInstigatorOrigin(
        RemoteRepositoryOrigin(RegisteredCodeLocationOrigin(LOCATION), "__repository__"),
        SCHEDULE_NAME,
    )
    started = (tick - dt.timedelta(minutes=1)).timestamp()
    return InstigatorState(
        origin,
        InstigatorType.SCHEDULE,
        InstigatorStatus.RUNNING,
        ScheduleInstigatorData(SCHEDULE, start_timestamp=started),
    )


def start_daemon(
    stack: ExitStack, root: Path, tick: dt.datetime, feed: Path, first_week: dt.date
) -> Daemon:
    """`dagster-daemon run` on a new instance in `root`, reading `feed`, whose schedule was
    switched on just before `tick`."""
    home = new_instance(root / "dagster_home")
    workspace = root / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: assets_pkg.definitions\n"
        f"      location_name: {LOCATION}\n"
        f"      working_directory: {PROJECT_ROOT}\n"
    )
    instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))
    state = instance.add_instigator_state(switched_on_before(tick))
    warehouse = root / "warehouse"
    env = project_env(
        home,
        warehouse,
        PURCHASES_SOURCE_DIR=str(feed),
        PURCHASES_START_DATE=first_week.isoformat(),
    )
    command = [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)]
    process = stack.enter_context(running(command, env, root / "daemon.log"))
    return Daemon(instance, state, warehouse, process)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def tick() -> dt.datetime:
    current = now()
    if last_tuesday_tick(current + dt.timedelta(seconds=DAEMON_S)) > current:
        # The daemon would see two ticks due, and evaluate only the newer one.
        pytest.skip("a Tuesday 06:00 UTC tick falls due within the test: run it again then")
    return last_tuesday_tick(current)


@pytest.fixture(scope="module")
def week(tick: dt.datetime) -> dt.date:
    """The week that ended the day before the tick: its Monday."""
    return tick.date() - dt.timedelta(days=8)


@pytest.fixture(scope="module")
def daemons(
    tmp_path_factory: pytest.TempPathFactory, tick: dt.datetime, week: dt.date
) -> Iterator[tuple[Daemon, Daemon]]:
    """Two instances and their daemons: the week's data has arrived in the first one's feed;
    only the week before has in the second one's."""
    root = tmp_path_factory.mktemp("schedule_daemon")
    before = week - dt.timedelta(weeks=1)
    arrived, missing = root / "feed_arrived", root / "feed_missing"
    # The week and the Monday after it, which the default tolerance of one day also reads.
    generate(arrived, customers=20, start=week, days=8, seed=3, products=30)
    generate(missing, customers=20, start=before, days=7, seed=3, products=30)
    with ExitStack() as stack:
        yield (
            start_daemon(stack, root / "arrived", tick, arrived, before),
            start_daemon(stack, root / "missing", tick, missing, before),
        )


@pytest.mark.slow  # the real daemons: 38 s together
def test_the_daemon_runs_the_week_that_ended_when_its_day_folders_have_arrived(
    daemons: tuple[Daemon, Daemon], tick: dt.datetime, week: dt.date
) -> None:
    daemon = daemons[0]
    done = daemon.finished_tick()
    assert done.status == TickStatus.SUCCESS, done.error or done.skip_reason
    assert dt.datetime.fromtimestamp(done.timestamp, dt.UTC) == tick
    (run_id,) = done.run_ids
    run = daemon.instance.get_run_by_id(run_id)
    assert run is not None
    assert run.job_name == "weekly_purchases"
    assert run.tags["dagster/partition"] == week.isoformat()
    assert run.tags["dagster/schedule_name"] == SCHEDULE_NAME

    def finished() -> bool:
        current = daemon.instance.get_run_by_id(run_id)
        return current is not None and current.status in FINISHED

    daemon.process.wait_until(finished, f"end of run {run_id}", DAEMON_S)
    ended = daemon.instance.get_run_by_id(run_id)
    assert ended is not None
    assert ended.status == dg.DagsterRunStatus.SUCCESS, f"see {daemon.process.log}"
    counts = daemon.warehouse / "weekly_purchase_counts" / f"week={week}" / "data.parquet"
    assert pl.read_parquet(counts).height > 0


@pytest.mark.slow  # the real daemons: 38 s together
def test_the_daemon_skips_the_tick_saying_why_when_the_week_has_not_arrived(
    daemons: tuple[Daemon, Daemon], tick: dt.datetime, week: dt.date
) -> None:
    daemon = daemons[1]
    done = daemon.finished_tick()
    assert done.status == TickStatus.SKIPPED, done.error
    assert dt.datetime.fromtimestamp(done.timestamp, dt.UTC) == tick
    assert done.run_ids == []
    sunday = week + dt.timedelta(days=6)
    feed = daemon.process.log.parent.parent / "feed_missing"
    assert done.skip_reason == (
        f"None of the day folders of the week of {week} (transactions/d={week} to "
        f"d={sunday}) has arrived under {feed} yet: materialise the week when they are there."
    )
    assert daemon.instance.get_runs() == []


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ("2026-11-24 06:00", "2026-11-24 06:00"),
        ("2026-11-24 05:59", "2026-11-17 06:00"),
        ("2026-11-29 08:00", "2026-11-24 06:00"),
        ("2026-11-30 23:59", "2026-11-24 06:00"),
        ("2026-12-01 06:01", "2026-12-01 06:00"),
    ],
)
def test_the_tick_the_daemon_finds_due_is_the_last_tuesday_6_utc(at: str, expected: str) -> None:
    def utc(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)

    assert last_tuesday_tick(utc(at)) == utc(expected)
