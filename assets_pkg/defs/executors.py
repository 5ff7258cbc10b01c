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
    """The worker's Celery configuration (lowercase Celery settings)."""
    return {
        "broker_url": settings.celery_broker_url,
        "result_backend": settings.celery_backend_url,
        **celery_options(settings),
    }
