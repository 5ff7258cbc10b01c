"""Where a run's steps execute: the run's own process (the default), or Celery workers.

DAGSTER_EXECUTOR=celery (the production profile in deploy/) sends each step to the queue
DAGSTER_CELERY_QUEUE of the broker DAGSTER_CELERY_BROKER_URL and reads its result from
DAGSTER_CELERY_BACKEND_URL. The workers (`celery -A dagster_celery.app worker`) take the
same settings from `celery_app_config`, through deploy/celery/dagster_celery_config.py, so
the submitting side and the executing side cannot disagree. A broker or backend URL set in
the environment reaches the executor's config as `{"env": NAME}` (dagster-celery's fields are
`StringSource`s): Dagster reads it when a run starts, and never shows its password.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import dagster as dg

from assets_pkg.shared.settings import Settings


def build_executor(settings: Settings) -> dg.ExecutorDefinition:
    if settings.executor == "in_process":
        # One process per run: steps share the process instead of re-importing the code
        # location for each step, which costs seconds on a 2-core machine (docs/decisions.md).
        return dg.in_process_executor
    # Imported only here: the default path never loads Celery.
    from dagster_celery import celery_executor

    return celery_executor.configured(
        {
            "broker": _env_or(settings, "DAGSTER_CELERY_BROKER_URL", settings.celery_broker_url),
            "backend": _env_or(settings, "DAGSTER_CELERY_BACKEND_URL", settings.celery_backend_url),
            "config_source": celery_options(settings),
        }
    )


def _env_or(settings: Settings, variable: str, value: str) -> str | dict[str, str]:
    """`{"env": variable}` (config that Dagster resolves when a run starts) when the variable
    was set, else the default `value`, which holds no password."""
    return {"env": variable} if variable in settings.environment else value


def celery_options(settings: Settings) -> dict[str, Any]:
    """The Celery settings that the executor and the workers share.

    A step's message is acknowledged only once the step has finished (`task_acks_late`), and
    a worker takes one message at a time: when a worker dies mid-step (a killed process, a
    lost machine), the broker hands its step to another worker, which runs it again. Every
    step writes its files atomically and replaces them whole, so running it twice leaves one
    copy of each week.
    """
    return {
        "task_default_queue": settings.celery_queue,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "result_expires": 24 * 3600,
    }


def celery_app_config(settings: Settings) -> dict[str, Any]:
    """The worker's Celery configuration (lowercase Celery settings).

    A step's output (Dagster's console logger writes each event to stderr) goes to Celery's
    logger `celery.redirected` (`worker_redirect_stdouts`), where `StepLogLevels` gives each
    of Dagster's lines its own level and drops those below the worker's `--loglevel`."""
    return {
        "broker_url": settings.celery_broker_url,
        "result_backend": settings.celery_backend_url,
        "worker_redirect_stdouts": True,
        "worker_redirect_stdouts_level": "WARNING",
        **celery_options(settings),
    }


REDIRECTED_LOGGER = "celery.redirected"
"""The logger Celery writes a worker's redirected stdout and stderr to, one record a write."""

_ANSI = r"(?:\x1b\[[0-9;]*m)*"
_DAGSTER_LINE = re.compile(
    rf"^{_ANSI}\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)? [+-]\d{{4}}{_ANSI} - "
    rf"(?P<name>[^ ]+) - {_ANSI}(?P<level>DEBUG|INFO|WARNING|ERROR|CRITICAL){_ANSI} - "
)
"""A line of Dagster's console logger (`dagster._utils.log.default_format_string`:
`%(asctime)s - %(name)s - %(levelname)s - %(message)s`), colours allowed."""


def dagster_line_level(line: str) -> tuple[int, str] | None:
    """The level of a line that Dagster's console logger printed, and the line without the
    time and level that the worker's own prefix repeats; None for any other line."""
    match = _DAGSTER_LINE.match(line)
    if match is None:
        return None
    return logging.getLevelNamesMapping()[
        match["level"]
    ], f"{match['name']} - {line[match.end() :]}"


class StepLogLevels(logging.Filter):
    """On Celery's `celery.redirected` logger: a line of Dagster's console logger is logged at
    its own level (a step's DEBUG event as DEBUG, not as the WARNING Celery gives everything a
    task prints); other lines (a `print`, a traceback) keep Celery's level. A line below the
    worker's `--loglevel` (the root logger's level) is dropped.

    Dagster prints every event of a step at DEBUG whatever the deployment asks: the console
    logger's level comes from the run's config (`loggers:`) only, and the instance's
    `python_log_level` would also keep `context.log.debug` messages out of the event log
    (docs/decisions.md). Only what the worker prints is filtered; the event log keeps all."""

    def filter(self, record: logging.LogRecord) -> bool:
        found = dagster_line_level(record.getMessage())
        if found is not None:
            level, message = found
            record.levelno, record.levelname = level, logging.getLevelName(level)
            record.msg, record.args = message, None
        # The root logger's level is the worker's --loglevel (Celery sets it).
        return record.levelno >= logging.getLogger().getEffectiveLevel()


def install_step_log_levels() -> None:
    """Put `StepLogLevels` on Celery's redirect logger, once (a worker's config module calls
    it; the pool's processes inherit the logger). The logger itself lets every line through
    to the filter, which compares each line's own level with the worker's."""
    logger = logging.getLogger(REDIRECTED_LOGGER)
    logger.setLevel(logging.DEBUG)
    if not any(isinstance(f, StepLogLevels) for f in logger.filters):
        logger.addFilter(StepLogLevels())
