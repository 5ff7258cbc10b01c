"""Facts about the machine a bench ran on, for the end of its report.

``machine`` returns markdown list items: the date (UTC), the number of CPUs and their model,
the total memory (from ``/proc/meminfo`` and ``/proc/cpuinfo``, ``?`` where unreadable), the
platform and Python version, and the versions of dagster, duckdb and polars. Timings mean
little without them: the same bench on a shared or smaller machine gives other numbers.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from importlib.metadata import version
from pathlib import Path

import duckdb
import polars as pl


def machine(now: dt.datetime | None = None) -> list[str]:
    """The list items; `now` (UTC, default: the current time) is the date they give."""
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return [
        f"- date: {now or dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- nproc: {os.cpu_count()} ({cpu})",
        f"- total memory: {memory}",
        f"- {platform.platform()}, Python {platform.python_version()}",
        f"- dagster {version('dagster')}, duckdb {duckdb.__version__}, polars {pl.__version__}",
        "- Dagster instance: a fresh DAGSTER_HOME for each part, with the project's "
        "instance/dagster.yaml; Dagster settings from the environment: "
        + (
            ", ".join(f"{name}={os.environ[name]}" for name in _DAGSTER_ENV if name in os.environ)
            or "none"
        ),
    ]


_DAGSTER_ENV = (
    "DAGSTER_EXECUTOR",
    "PURCHASES_WEEKS_PER_RUN",
    "PYTHONDONTWRITEBYTECODE",
)
"""Settings that change what the Dagster parts measure."""
