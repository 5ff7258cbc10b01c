"""The weekly schedule run by Dagster's real daemon (`dagster-daemon run`), not called directly.

Each Tuesday 06:00 UTC the schedule asks for the week that ended the day before. To see the
daemon take such a tick within seconds, the test switches the schedule on in a fresh instance
with `dagster schedule start` (now, on the real clock), then runs `dagster-daemon run` on a
clock moved forward to a second after the next Tuesday 06:00 UTC: its first iteration finds
that tick due and evaluates it. The shifted clock is `time-machine`, started in the daemon's
process by a `sitecustomize` module; the code server and the runs it starts keep the real
clock, and the test's instance has run monitoring off, which would otherwise judge a run
started on the real clock by the daemon's (days apart).
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
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

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


def next_tuesday_tick(after: dt.datetime) -> dt.datetime:
    """The first Tuesday 06:00 UTC after `after`."""
    assert SCHEDULE == "0 6 * * 2", "this test knows the schedule as Tuesdays 06:00 UTC"
    tick = dt.datetime.combine(after.date(), dt.time(6), tzinfo=dt.UTC)
    tick += dt.timedelta(days=(1 - tick.weekday()) % 7)
    return tick if tick > after else tick + dt.timedelta(weeks=1)


SHIFTED_CLOCK = """\
import os
import time

import time_machine

time_machine.travel(time.time() + float(os.environ.pop("TEST_CLOCK_SHIFT_S")), tick=True).start()
"""
"""A `sitecustomize` module: a Python process started with its folder on PYTHONPATH runs on
a clock TEST_CLOCK_SHIFT_S seconds off the real one, from its first line on. The processes it
starts (the code server of `dagster schedule start`) keep the real clock."""


@dataclass(frozen=True)
class Tick:
    """What the instance recorded of one evaluation of the schedule."""

    status: str
    timestamp: float
    run_ids: list[str]
    skip_reason: str | None
    error: str | None


@dataclass(frozen=True)
class Daemon:
    instance: dg.DagsterInstance
    warehouse: Path
    process: Process

    def ticks(self) -> list[Tick]:
        (state,) = (
            s for s in self.instance.all_instigator_state() if s.instigator_name == SCHEDULE_NAME
        )
        return [
            Tick(
                t.status.value,
                t.timestamp,
                list(t.run_ids),
                t.skip_reason,
                t.error.to_string() if t.error else None,
            )
            for t in self.instance.get_ticks(state.instigator_origin_id, state.selector_id)
        ]

    def finished_tick(self) -> Tick:
        self.process.wait_until(
            lambda: any(t.status != "STARTED" for t in self.ticks()),
            f"{SCHEDULE_NAME} tick",
            DAEMON_S,
        )
        (tick,) = self.ticks()
        return tick


def shifted_clock(root: Path, to: dt.datetime) -> dict[str, str]:
    """The environment that starts a Python process on a clock that reads `to` now."""
    clock = root / "shifted_clock"
    clock.mkdir()
    (clock / "sitecustomize.py").write_text(SHIFTED_CLOCK)
    return {"PYTHONPATH": str(clock), "TEST_CLOCK_SHIFT_S": repr(to.timestamp() - time.time())}


def start_daemon(
    stack: ExitStack, root: Path, tick: dt.datetime, feed: Path, first_week: dt.date
) -> Daemon:
    """`dagster-daemon run` on a new instance in `root`, reading `feed`, on a clock a second
    past `tick`, with the schedule switched on now."""
    home = new_instance(root / "dagster_home")
    workspace = root / "workspace.yaml"
    workspace.write_text(
        "load_from:\n"
        "  - python_module:\n"
        "      module_name: assets_pkg.definitions\n"
        f"      location_name: {LOCATION}\n"
        f"      working_directory: {PROJECT_ROOT}\n"
    )
    config = home / "dagster.yaml"
    monitoring = "run_monitoring:\n  enabled: true"
    assert monitoring in config.read_text(), f"{config}: run monitoring not where expected"
    config.write_text(config.read_text().replace(monitoring, "run_monitoring:\n  enabled: false"))
    warehouse = root / "warehouse"
    env = project_env(
        home,
        warehouse,
        PURCHASES_SOURCE_DIR=str(feed),
        PURCHASES_START_DATE=first_week.isoformat(),
    )
    start = [str(BIN / "dagster"), "schedule", "start", SCHEDULE_NAME, "-w", str(workspace)]
    done = subprocess.run(start, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(start)} failed:\n{done.stdout}{done.stderr}"
    instance = stack.enter_context(dg.DagsterInstance.from_config(str(home)))
    daemon_env = {**env, **shifted_clock(root, tick + dt.timedelta(seconds=1))}
    command = [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)]
    process = stack.enter_context(running(command, daemon_env, root / "daemon.log"))
    return Daemon(instance, warehouse, process)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def tick() -> dt.datetime:
    """The tick the daemons find due: the next one, unless it falls within the test, when the
    schedule could be switched on after it."""
    return next_tuesday_tick(now() + dt.timedelta(seconds=DAEMON_S))


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


@pytest.mark.slow  # the real daemons: 20 s together
def test_the_daemon_runs_the_week_that_ended_when_its_day_folders_have_arrived(
    daemons: tuple[Daemon, Daemon], tick: dt.datetime, week: dt.date
) -> None:
    daemon = daemons[0]
    done = daemon.finished_tick()
    assert done.status == "SUCCESS", done.error or done.skip_reason
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


@pytest.mark.slow  # the real daemons: 20 s together
def test_the_daemon_skips_the_tick_saying_why_when_the_week_has_not_arrived(
    daemons: tuple[Daemon, Daemon], tick: dt.datetime, week: dt.date
) -> None:
    daemon = daemons[1]
    done = daemon.finished_tick()
    assert done.status == "SKIPPED", done.error
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
    ("after", "expected"),
    [
        ("2026-11-24 05:59", "2026-11-24 06:00"),
        ("2026-11-24 06:00", "2026-12-01 06:00"),
        ("2026-11-29 08:00", "2026-12-01 06:00"),
        ("2026-11-30 23:59", "2026-12-01 06:00"),
        ("2026-12-01 06:01", "2026-12-08 06:00"),
    ],
)
def test_the_tick_the_daemon_finds_due_is_the_next_tuesday_6_utc(after: str, expected: str) -> None:
    def utc(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)

    assert next_tuesday_tick(utc(after)) == utc(expected)
