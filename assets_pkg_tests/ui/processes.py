"""Dagster's own processes (`dg dev`, `dagster-daemon`) for the tests that drive them.

Each runs from the checkout against a temporary instance (a copy of instance/dagster.yaml)
and a temporary warehouse, in its own process group, so that stopping it also ends the code
server and run processes it started. Every wait is bounded and says what it waited for.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from assets_pkg.shared.settings import PROJECT_ROOT

VENV = Path(sys.executable).parent.parent
BIN = VENV / "bin"

PROJECT_VARIABLES = (
    "PURCHASES_SOURCE_DIR",
    "SIGNATURES_SOURCE_DIR",
    "WAREHOUSE_DIR",
    "SIGNATURES_DB_URL",
    "PURCHASES_START_DATE",
    "PURCHASES_END_DATE",
    "PURCHASES_DATE_TOLERANCE_DAYS",
    "DAGSTER_HOME",
)
"""The settings a developer's shell may hold: none of them leaks into a test's processes."""


def new_instance(home: Path) -> Path:
    """A Dagster instance in `home` with the project's settings (instance/dagster.yaml)."""
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT_ROOT / "instance" / "dagster.yaml", home / "dagster.yaml")
    return home


def project_env(home: Path, warehouse: Path, **settings: str) -> dict[str, str]:
    """The environment of a Dagster process: the instance, the warehouse, `settings`, and
    the bundled sample for everything not set."""
    env = {name: value for name, value in os.environ.items() if name not in PROJECT_VARIABLES}
    env.update(
        DAGSTER_HOME=str(home),
        WAREHOUSE_DIR=str(warehouse),
        # dg runs the project's code with the environment it is told is active.
        VIRTUAL_ENV=str(VENV),
        PYTHONUNBUFFERED="1",
        **settings,
    )
    return env


def free_port() -> int:
    """A loopback port nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def log_tail(log: Path, lines: int = 40) -> str:
    text = log.read_text(errors="replace") if log.exists() else ""
    return "\n".join(text.splitlines()[-lines:])


@contextmanager
def running(command: list[str], env: Mapping[str, str], log: Path) -> Iterator[Process]:
    """`command` started from the checkout, output in `log`; stopped on leaving, however
    the block ends."""
    with log.open("w") as out:
        process = Process(command, env, log, out)
        try:
            yield process
        finally:
            process.stop()


class Process:
    def __init__(self, command: list[str], env: Mapping[str, str], log: Path, out: IO[str]) -> None:
        self.log = log
        self.name = Path(command[0]).name
        self.popen = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_until(
        self, condition: Callable[[], bool], what: str, timeout: float, interval: float = 0.25
    ) -> None:
        """Poll `condition` until it holds; fail after `timeout` seconds or if the process
        ends first, with the end of its log."""
        deadline = time.monotonic() + timeout
        while not condition():
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"{self.name} ended (status {self.popen.returncode}) while waiting "
                    f"for {what}. The end of {self.log}:\n{log_tail(self.log)}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"No {what} after {timeout:.0f} s. The end of {self.log}:\n{log_tail(self.log)}"
                )
            time.sleep(interval)

    def stop(self) -> None:
        """SIGTERM to the command's process group (dg dev or dagster-daemon, their code
        server, any run), then SIGKILL to whatever is left after a bounded wait."""
        if self.popen.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)
            with suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout=15)
        with suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)
