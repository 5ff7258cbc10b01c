"""What a Celery worker of the production profile prints of a step: each line of Dagster's
console logger at its own level, from the worker's --loglevel up (assets_pkg/defs/executors.py,
StepLogLevels). Celery's own redirection and Dagster's own console logger, in this process."""

# No `from __future__ import annotations`: Dagster reads the asset's context annotation.
import logging
import sys
from collections.abc import Callable, Iterator

import dagster as dg
import pytest
from celery.utils.log import LoggingProxy  # type: ignore[import-untyped]

from assets_pkg.defs.executors import (
    REDIRECTED_LOGGER,
    celery_app_config,
    dagster_line_level,
    install_step_log_levels,
)
from assets_pkg.shared.settings import Settings


@pytest.fixture
def worker_logging() -> Iterator[Callable[[str], list[logging.LogRecord]]]:
    """Logging as a Celery worker sets it up: the root logger at the worker's --loglevel,
    and stderr redirected, by Celery's own proxy, to `celery.redirected` at
    `worker_redirect_stdouts_level`. The call gives the level and returns what the worker
    would print."""
    root = logging.getLogger()
    redirected = logging.getLogger(REDIRECTED_LOGGER)
    saved = root.level, redirected.level, list(redirected.filters), sys.stderr
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep()
    root.addHandler(keep)

    def setup(level: str) -> list[logging.LogRecord]:
        config = celery_app_config(Settings.from_env())
        assert config["worker_redirect_stdouts"] is True
        root.setLevel(level)
        install_step_log_levels()
        sys.stderr = LoggingProxy(redirected, config["worker_redirect_stdouts_level"])
        return records

    try:
        yield setup
    finally:
        sys.stderr = saved[3]
        root.removeHandler(keep)
        root.setLevel(saved[0])
        redirected.setLevel(saved[1])
        redirected.filters[:] = saved[2]


@dg.asset
def _talkative(context: dg.AssetExecutionContext) -> None:
    context.log.debug("a debug line")
    context.log.info("an info line")
    context.log.error("an error line")
    print("a plain print", file=sys.stderr)


def _materialize_talkative() -> dg.DagsterInstance:
    instance = dg.DagsterInstance.ephemeral()
    assert dg.materialize([_talkative], instance=instance).success
    return instance


def _printed(records: list[logging.LogRecord], text: str) -> list[str]:
    return [r.levelname for r in records if text in r.getMessage()]


def test_a_worker_prints_each_step_line_at_its_own_level_from_the_level_asked(
    worker_logging: Callable[[str], list[logging.LogRecord]],
) -> None:
    records = worker_logging("INFO")
    instance = _materialize_talkative()
    assert _printed(records, "a debug line") == []
    assert _printed(records, "STEP_START") == []  # a DEBUG event of Dagster's
    assert _printed(records, "an info line") == ["INFO"]
    assert _printed(records, "an error line") == ["ERROR"]
    # What is not Dagster's keeps the level Celery gives it.
    assert _printed(records, "a plain print") == ["WARNING"]
    # No line repeats the time and level that the worker's own prefix shows.
    line = next(r.getMessage() for r in records if "an info line" in r.getMessage())
    assert line.startswith("dagster - ")
    assert " INFO " not in line
    # The event log keeps everything, the debug message included.
    stored = [e.user_message for e in instance.all_logs(instance.get_runs()[0].run_id)]
    assert "a debug line" in stored


def test_a_worker_asked_for_debug_prints_the_debug_events_as_debug(
    worker_logging: Callable[[str], list[logging.LogRecord]],
) -> None:
    records = worker_logging("DEBUG")
    _materialize_talkative()
    assert _printed(records, "a debug line") == ["DEBUG"]
    assert set(_printed(records, "STEP_START")) == {"DEBUG"}
    assert "WARNING" not in {r.levelname for r in records if r.getMessage().startswith("dagster")}


@pytest.mark.parametrize(
    "line",
    [
        "2026-01-05 10:00:00 +0000 - dagster - DEBUG - __ASSET_JOB - 1234 - STEP_START - x",
        "\x1b[32m2026-01-05 10:00:00 +0100\x1b[0m - dagster - \x1b[34mDEBUG\x1b[0m - job - y",
    ],
)
def test_a_dagster_line_is_recognised_with_or_without_colours(line: str) -> None:
    found = dagster_line_level(line)
    assert found is not None
    assert found[0] == logging.DEBUG
    assert found[1].startswith("dagster - ")


def test_other_lines_are_not_taken_for_dagster_lines() -> None:
    assert dagster_line_level("Traceback (most recent call last):") is None
    assert dagster_line_level("2026-01-05 - dagster - DEBUG - no time of day") is None
