"""The production topology on one machine, as separate processes: `make serve`.

    code-server   dagster code-server start -m assets_pkg.definitions   (gRPC, runs the code)
    webserver     dagster-webserver -w deploy/workspace.yaml             (UI and GraphQL)
    daemon        dagster-daemon run -w deploy/workspace.yaml            (queue, backfills, ...)
    worker-1..N   celery -A dagster_celery.app worker                    (the runs' steps)

against PostgreSQL (the instance, deploy/dagster.yaml), RabbitMQ (the Celery broker) and
Redis (the Celery results). Every line a process prints comes out prefixed with its name.
Ctrl-C (SIGINT) or SIGTERM stops them all: each gets SIGTERM, then SIGKILL with everything
it started once the grace period is over. If the code server, the webserver or the daemon
dies, the others are stopped too; a dead worker is reported and the others carry on.

    python deploy/serve.py [--workers N] [--port 3000] [--dagster-home DIR]

Settings come from the environment; unset ones get local defaults (see `production_env`).
The deployment test (assets_pkg_tests/deploy/) drives the same `Topology`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TextIO

import psycopg
from psycopg import sql

DEPLOY = Path(__file__).resolve().parent
ROOT = DEPLOY.parent
BIN = Path(sys.executable).parent
INSTANCE_TEMPLATE = DEPLOY / "dagster.yaml"
WORKSPACE = DEPLOY / "workspace.yaml"
CELERY_CONFIG_DIR = DEPLOY / "celery"
CORE = ("code-server", "webserver", "daemon")
"""Without any of these the topology is broken; workers may come and go."""

DEFAULTS = {
    "DAGSTER_PG_URL": "postgresql+psycopg2://postgres@127.0.0.1:5432/dagster",
    "DAGSTER_EXECUTOR": "celery",
    "DAGSTER_CELERY_BROKER_URL": "pyamqp://guest@127.0.0.1//",
    "DAGSTER_CELERY_BACKEND_URL": "redis://127.0.0.1:6379/0",
    "DAGSTER_CELERY_QUEUE": "dagster",
    "PURCHASES_WEEKS_PER_RUN": "4",
}
"""What `make serve` uses unless the environment says otherwise."""


def production_env(
    base: Mapping[str, str], dagster_home: Path, grpc_host: str, grpc_port: int
) -> dict[str, str]:
    """`base` with the production profile's variables: DEFAULTS for those it lacks, and the
    instance folder and the code server's address, which the topology decides."""
    env = {**DEFAULTS, **base}
    env.update(
        DAGSTER_HOME=str(dagster_home),
        DAGSTER_GRPC_HOST=grpc_host,
        DAGSTER_GRPC_PORT=str(grpc_port),
        PYTHONUNBUFFERED="1",
    )
    return env


def prepare_instance(dagster_home: Path) -> None:
    """DAGSTER_HOME holding the production instance's settings (always the tracked copy)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(INSTANCE_TEMPLATE, dagster_home / "dagster.yaml")


def ensure_database(url: str) -> None:
    """Create the PostgreSQL database that `url` names if it does not exist yet."""
    conninfo = url.replace("postgresql+psycopg2://", "postgresql://", 1)
    name = str(psycopg.conninfo.conninfo_to_dict(conninfo).get("dbname") or "")
    if not name:
        return
    maintenance = psycopg.conninfo.make_conninfo(conninfo, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True) as connection:
        found = connection.execute("select 1 from pg_database where datname = %s", [name])
        if found.fetchone() is None:
            connection.execute(sql.SQL("create database {}").format(sql.Identifier(name)))


@dataclass
class Service:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    reported: bool = False
    """Whether its exit has been told."""


class Topology:
    """The processes of the production profile, started in order and stopped together.

    Each process leads its own process group (session), so a terminal's Ctrl-C reaches only
    the supervisor, and stopping a service reaches what it started (the code server's run
    processes, a worker's pool)."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        workers: int = 2,
        host: str = "127.0.0.1",
        port: int = 3000,
        grpc_port: int = 4266,
        log: TextIO = sys.stdout,
        loglevel: str = "info",
    ) -> None:
        self.env = dict(env)
        self.host = host
        self.port = port
        self.grpc_port = grpc_port
        self.log = log
        self._lock = threading.Lock()
        self._pumps: list[threading.Thread] = []
        self._stopped = False
        queue = self.env["DAGSTER_CELERY_QUEUE"]
        self.services = [
            Service(
                "code-server",
                [
                    str(BIN / "dagster"),
                    "code-server",
                    "start",
                    "-m",
                    "assets_pkg.definitions",
                    "--location-name",
                    "assets_pkg",
                    "-h",
                    host,
                    "-p",
                    str(grpc_port),
                    "--log-level",
                    loglevel,
                ],
            ),
            Service(
                "webserver",
                [
                    str(BIN / "dagster-webserver"),
                    "-w",
                    str(WORKSPACE),
                    "-h",
                    host,
                    "-p",
                    str(port),
                    "--dagster-log-level",
                    loglevel,
                ],
            ),
            Service(
                "daemon",
                [str(BIN / "dagster-daemon"), "run", "-w", str(WORKSPACE), "--log-level", loglevel],
            ),
        ]
        for number in range(1, workers + 1):
            self.services.append(
                Service(
                    f"worker-{number}",
                    [
                        str(BIN / "celery"),
                        "-A",
                        "dagster_celery.app",
                        "worker",
                        "--loglevel",
                        loglevel.upper(),
                        "-Q",
                        queue,
                        # One step at a time per worker: N workers, N steps at once.
                        "--concurrency",
                        "1",
                        "--without-gossip",
                        "--without-mingle",
                        # Unique per queue: two topologies on one host and broker (two test
                        # runs) must not share a node name, which Celery keeps exclusive.
                        "-n",
                        f"worker-{number}.{queue}@%h",
                    ],
                    env={"PYTHONPATH": _prepend(str(CELERY_CONFIG_DIR), env.get("PYTHONPATH"))},
                )
            )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def start(self, names: Iterable[str] | None = None, timeout: float = 120) -> None:
        """Start the services named (all by default) in the topology's order: the code
        server first, the others once it answers; then wait until the webserver answers.
        Raises RuntimeError naming what did not come up in time."""
        wanted = set(names) if names is not None else {s.name for s in self.services}
        deadline = time.monotonic() + timeout
        for service in self.services:
            if service.name in wanted:
                self._start(service)
                if service.name == "code-server":
                    self._wait_for_port(self.grpc_port, "code-server", deadline)
        if "webserver" in wanted:
            self._wait_for_port(self.port, "webserver", deadline)

    def dead(self) -> list[Service]:
        """Services that have exited."""
        return [s for s in self.services if s.process is not None and s.process.poll() is not None]

    def kill(self, name: str) -> None:
        """SIGKILL a service with everything it started, as a lost machine would."""
        process = self.service(name).process
        assert process is not None, f"{name} was not started"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        self.say("supervisor", f"{name} killed (SIGKILL)")

    def stop(self, grace: float = 15) -> None:
        """SIGTERM to every service, then SIGKILL to the process group of each after `grace`
        seconds (workers finish their step first, Dagster's processes shut down). Calling it
        again does nothing."""
        if self._stopped:
            return
        self._stopped = True
        started = [s for s in self.services if s.process is not None]
        for service in reversed(started):
            assert service.process is not None
            if service.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    service.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for service in started:
            assert service.process is not None
            with contextlib.suppress(subprocess.TimeoutExpired):
                service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        for service in started:
            assert service.process is not None
            # What it started may outlive it (a run process, a pool child): the group goes.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait(timeout=30)
        for pump in self._pumps:
            pump.join(timeout=5)
        self.say("supervisor", "every process has stopped")

    def say(self, name: str, line: str) -> None:
        with self._lock:
            self.log.write(f"{name:>12} | {line.rstrip()}\n")
            self.log.flush()

    def _start(self, service: Service) -> None:
        service.process = subprocess.Popen(
            service.argv,
            cwd=ROOT,
            env={**self.env, **service.env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.say("supervisor", f"{service.name} started (pid {service.process.pid})")
        assert service.process.stdout is not None
        pump = threading.Thread(
            target=self._pump, args=(service.name, service.process.stdout), daemon=True
        )
        pump.start()
        self._pumps.append(pump)

    def _pump(self, name: str, stream: IO[bytes]) -> None:
        for raw in stream:
            self.say(name, raw.decode(errors="replace"))

    def _wait_for_port(self, port: int, name: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            dead = [s.name for s in self.dead()]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while starting: see its log lines")
            with contextlib.suppress(OSError), socket.create_connection((self.host, port), 1):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not answer on {self.host}:{port} in time")


def _prepend(folder: str, path: str | None) -> str:
    return folder if not path else f"{folder}{os.pathsep}{path}"


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3000, help="web UI port (default 3000)")
    parser.add_argument("--grpc-port", type=int, default=4266, help="code server port")
    parser.add_argument(
        "--dagster-home",
        type=Path,
        default=ROOT / ".dagster_serve",
        help="the instance folder (default .dagster_serve/ in the checkout)",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.workers < 1:
        parser.error("--workers must be 1 or more")
    env = production_env(os.environ, args.dagster_home.resolve(), args.host, args.grpc_port)
    prepare_instance(args.dagster_home)
    try:
        ensure_database(env["DAGSTER_PG_URL"])
    except psycopg.Error as error:
        print(f"error: PostgreSQL at DAGSTER_PG_URL does not answer: {error}", file=sys.stderr)
        return 2
    topology = Topology(
        env, workers=args.workers, host=args.host, port=args.port, grpc_port=args.grpc_port
    )
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    status = 0
    try:
        topology.start()
        topology.say("supervisor", f"the web UI is on {topology.url}; Ctrl-C stops everything")
        while not stopping.wait(0.5):
            for service in topology.dead():
                if service.reported:
                    continue
                service.reported = True
                assert service.process is not None
                code = service.process.returncode
                topology.say("supervisor", f"{service.name} exited with status {code}")
                if service.name in CORE:
                    status = 1
                    stopping.set()
    except RuntimeError as error:
        topology.say("supervisor", f"error: {error}")
        status = 1
    finally:
        topology.say("supervisor", "stopping every process")
        topology.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
