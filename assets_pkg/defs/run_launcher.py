"""The production profile's run launcher: Dagster's default one, plus a health check.

Dagster's `DefaultRunLauncher` starts each run as a process of the gRPC code server, and the
code server marks the run failed when that process dies. When the code server itself dies
(killed, its machine restarted, `make serve` stopped with Ctrl-C), nobody is left to notice:
its runs stay STARTED, hold their queue slots, and only `max_runtime_seconds` would end
them. Run monitoring can end them sooner, but only through a launcher that answers
`check_run_worker_health`, which the default one does not.

`CodeServerRunLauncher` answers it by asking the code server that launched the run (the
address Dagster records in the run's `dagster/grpc_info` tag) which runs it is executing:

- the run is among them: RUNNING;
- the server answers and the run is not among them (the server was restarted, so the run's
  process went with the old one): FAILED, and run monitoring marks the run failed, which
  `run_retries` then retries. Unless the run's own process is still alive on this host:
  `dagster code-server start` is a proxy that answers this question from its *current* code
  process, and a reload of the code location (the UI's "Reload", `ReloadCode`) starts a new
  one while the old one finishes the runs it started. So before FAILED, a code server on
  loopback has its run's process looked up by the pid the run recorded ("Started process
  for run (pid: N)") and, to tell it from a later process given the same pid, its start
  time: alive and started by then, the run is RUNNING;
- the server does not answer: RUNNING for `unreachable_grace_seconds` (a restart takes a
  few seconds), then UNKNOWN, which run monitoring treats as dead too.

A run with no such tag (executed in its own process, not launched by a code server) is
left to `max_runtime_seconds`. A run that finishes between the question and the check is
not touched: run monitoring reads the run's status again before it marks anything.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dagster import DagsterEventType, DagsterRun, Field, IntSource
from dagster._core.launcher import CheckRunHealthResult, DefaultRunLauncher, WorkerStatus
from dagster._core.storage.tags import GRPC_INFO_TAG
from dagster._serdes import ConfigurableClassData, deserialize_value

DEFAULT_UNREACHABLE_GRACE_SECONDS = 60
GRPC_TIMEOUT_SECONDS = 15
"""How long one question may take: a code server busy for longer counts as not answering."""


class CodeServerRunLauncher(DefaultRunLauncher):
    """`DefaultRunLauncher` whose runs run monitoring can check (see the module)."""

    def __init__(
        self,
        inst_data: ConfigurableClassData | None = None,
        unreachable_grace_seconds: int = DEFAULT_UNREACHABLE_GRACE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(inst_data=inst_data)
        self.unreachable_grace_seconds = unreachable_grace_seconds
        self._clock = clock
        self._unreachable_since: dict[str, float] = {}
        """Per code server address, when it first did not answer (cleared when it does)."""

    @classmethod
    def config_type(cls) -> dict[str, Field]:
        return {
            "unreachable_grace_seconds": Field(
                IntSource,
                is_required=False,
                default_value=DEFAULT_UNREACHABLE_GRACE_SECONDS,
                description="How long a code server may not answer before its runs are "
                "taken for dead.",
            )
        }

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> CodeServerRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        raw = run.tags.get(GRPC_INFO_TAG)
        if raw is None:
            # Not launched through a code server (`dagster job execute`, a test's
            # execute_in_process on this instance): nothing to ask; max_runtime still applies.
            return CheckRunHealthResult(
                WorkerStatus.RUNNING, "no code server launched this run: it is not checked"
            )
        info = json.loads(raw)
        address = f"{info.get('host')}:{info.get('port') or info.get('socket')}"
        try:
            executing = self._executes(info, run.run_id)
        except Exception as error:  # any failure to reach the server: gRPC, DNS, refused
            first = self._unreachable_since.setdefault(address, self._clock())
            waited = self._clock() - first
            if waited < self.unreachable_grace_seconds:
                return CheckRunHealthResult(
                    WorkerStatus.RUNNING,
                    f"the code server at {address} does not answer ({waited:.0f} s); "
                    f"waiting up to {self.unreachable_grace_seconds} s before taking its runs "
                    "for dead",
                )
            return CheckRunHealthResult(
                WorkerStatus.UNKNOWN,
                f"the code server at {address} that launched the run has not answered for "
                f"{waited:.0f} s ({type(error).__name__}): its run process is taken for dead",
            )
        self._unreachable_since.pop(address, None)
        if executing:
            return CheckRunHealthResult(WorkerStatus.RUNNING)
        pid = self._live_local_process(run, info)
        if pid is not None:
            return CheckRunHealthResult(
                WorkerStatus.RUNNING,
                f"the code server at {address} does not know this run (its code was "
                f"reloaded), but the run's process (pid {pid}) is alive on this host",
            )
        return CheckRunHealthResult(
            WorkerStatus.FAILED,
            f"the code server at {address} is not executing this run: its process is gone "
            "(the code server was restarted or stopped while the run was in progress)",
        )

    def _executes(self, info: Mapping[str, Any], run_id: str) -> bool:
        """Whether the code server at `info` executes the run; raises when it does not
        answer."""
        # Here, not at the top: Dagster imports every module of defs/ whenever it loads the
        # definitions, and gRPC's client takes 0.15 s to import, which only the daemon's
        # health checks need.
        from dagster._grpc.client import DagsterGrpcClient
        from dagster._grpc.types import CanCancelExecutionRequest, CanCancelExecutionResult

        client = DagsterGrpcClient(
            host=str(info.get("host") or "localhost"),
            port=info.get("port"),
            socket=info.get("socket"),
            use_ssl=bool(info.get("use_ssl", False)),
        )
        answer = client.can_cancel_execution(
            CanCancelExecutionRequest(run_id=run_id), timeout=GRPC_TIMEOUT_SECONDS
        )
        return deserialize_value(answer, CanCancelExecutionResult).can_cancel

    def _live_local_process(self, run: DagsterRun, info: Mapping[str, Any]) -> int | None:
        """The pid of the run's own process if the code server runs on this host and that
        process is alive and started no later than the run recorded it; None otherwise."""
        local = info.get("socket") or str(info.get("host") or "localhost") in _LOOPBACK
        if not (local and self.has_instance):
            return None
        started = self._instance.get_records_for_run(
            run.run_id, of_type=DagsterEventType.ENGINE_EVENT, ascending=False
        ).records
        for record in started:
            entry = record.event_log_entry
            event = entry.dagster_event
            if not entry.user_message.startswith("Started process for run") or event is None:
                continue
            pid = event.engine_event_data.metadata.get("pid")
            if pid is None:
                return None
            began = _process_start(int(str(pid.value)))
            # /proc's boot time is in whole seconds: a second's slack either way.
            alive = began is not None and began <= entry.timestamp + 2
            return int(str(pid.value)) if alive else None
        return None


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _process_start(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), None if it does not exist, is
    a zombie, or this system has no /proc to tell."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        boot = next(
            int(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
    except (OSError, StopIteration, ValueError):
        return None
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    if fields[0] in ("Z", "X"):
        return None
    return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
