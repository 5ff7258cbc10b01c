"""The production topology on one machine, as separate processes: `make serve`.

    code-server   dagster code-server start -m assets_pkg.definitions   (gRPC, runs the code)
    webserver     dagster-webserver -w deploy/workspace.yaml             (UI and GraphQL)
    daemon        dagster-daemon run -w deploy/workspace.yaml            (queue, backfills, ...)
    worker-1..N   celery -A dagster_celery.app worker                    (the runs' steps)

against PostgreSQL (the instance, deploy/dagster.yaml), RabbitMQ (the Celery broker) and
Redis (the Celery results). Every line a process prints comes out prefixed with its name,
with the passwords of the URLs it was given replaced by ***. Ctrl-C (SIGINT) or SIGTERM stops
them all: each gets SIGTERM, then SIGKILL with everything it started once the grace period
is over; the runs in progress end with them, and the next start marks them failed and
retries them (docs/operations.md). A process that dies is restarted, after a growing delay,
with everything it had started killed first; one that dies again after RESTART_LIMIT
restarts within RESTART_WINDOW seconds stops the whole topology.

    python deploy/serve.py [--workers N] [--host 127.0.0.1] [--port 3000] [--grpc-port N]
                           [--grpc-host 127.0.0.1] [--dagster-home DIR] [--log-level info]

Every server binds to 127.0.0.1 unless told otherwise. The instance database, the Celery
queue and the code server's port are the checkout's own (`checkout_defaults`), so two
checkouts on one host do not meet; a port already in use is refused with a message.
Settings come from the environment; unset ones get those defaults (see `production_env`).
The deployment test (assets_pkg_tests/deploy/) drives the same `Topology`.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import re
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
from urllib.parse import quote, unquote, urlsplit

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

LOOPBACK = "127.0.0.1"
GRPC_BASE_PORT = 4266
GRPC_PORT_SPREAD = 1000
"""A checkout's code server port is GRPC_BASE_PORT plus a number below this, from its path."""
SECRET_URLS = (
    "DAGSTER_PG_URL",
    "DAGSTER_CELERY_BROKER_URL",
    "DAGSTER_CELERY_BACKEND_URL",
    "SIGNATURES_DB_URL",
)
"""Settings whose password, if they hold one, no line the supervisor prints may show: in the
URL's user part, in its query string (`?password=`), or as libpq's `password=` key."""
SECRET_VALUES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD")
"""Settings that are secrets as a whole: no line shows their value either."""
_PASSWORD_KEY = re.compile(r"(?:^|[?&\s])(?:ssl)?password\s*=\s*('(?:[^'\\]|\\.)*'|[^&\s]+)", re.I)
"""`password=VALUE` in a query string or a libpq key/value string (quoted or not)."""
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
"""--log-level: the levels that Dagster's commands and Celery's worker all take."""
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)
"""Seconds before a dead process is started again: its 1st restart, 2nd, ... (then the last)."""
RESTART_LIMIT, RESTART_WINDOW = 5, 300.0
"""A process that died this many times within this many seconds is not started again."""


def checkout_id(root: Path) -> str:
    """The checkout's own short name: its folder's name in [a-z0-9_] and 8 hex digits of
    its full path, e.g. `deploy_1f2e3d4c`."""
    digest = hashlib.sha256(str(root).encode()).hexdigest()[:8]
    name = re.sub(r"[^a-z0-9]+", "_", root.name.lower()).strip("_")[:20] or "checkout"
    return f"{name}_{digest}"


def checkout_grpc_port(root: Path) -> int:
    """The code server's port for the checkout at `root`: 4266 to 5265, from its path."""
    digest = hashlib.sha256(str(root).encode()).hexdigest()
    return GRPC_BASE_PORT + int(digest[:8], 16) % GRPC_PORT_SPREAD


def checkout_defaults(root: Path) -> dict[str, str]:
    """What `make serve` uses unless the environment says otherwise; the database and the
    queue are named after the checkout (`checkout_id`)."""
    name = f"dagster_{checkout_id(root)}"
    return {
        "DAGSTER_PG_URL": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}",
        "DAGSTER_EXECUTOR": "celery",
        "DAGSTER_CELERY_BROKER_URL": "pyamqp://guest@127.0.0.1//",
        "DAGSTER_CELERY_BACKEND_URL": "redis://127.0.0.1:6379/0",
        "DAGSTER_CELERY_QUEUE": name,
        "PURCHASES_WEEKS_PER_RUN": "4",
    }


DEFAULTS = checkout_defaults(ROOT)
"""This checkout's defaults."""


class PortInUseError(RuntimeError):
    """A port the topology must listen on is taken."""


def refuse_port_in_use(host: str, port: int, what: str, setting: str) -> None:
    """Raise PortInUseError, naming the port and the setting to change, if a socket already
    listens on `port` at `host`. gRPC's server binds with SO_REUSEPORT and would share the
    port silently with another code server: this check is what refuses it."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as probe:
        # Still free when only closed connections linger on it (TIME_WAIT).
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            raise PortInUseError(
                f"port {port} on {host}, for the {what}, is already in use (another "
                f"`make serve`, from this checkout or another?): stop what listens there, or "
                f"choose another port with {setting}"
            ) from None


def secrets_in(env: Mapping[str, str]) -> list[str]:
    """The passwords of the URL settings in `env`, as written and decoded, longest first."""
    found: set[str] = {env[key] for key in SECRET_VALUES if env.get(key)}
    for key in SECRET_URLS:
        value = env.get(key, "")
        try:
            passwords = [urlsplit(value).password]
        except ValueError:
            passwords = []
        passwords += [match.group(1) for match in _PASSWORD_KEY.finditer(value)]
        for password in filter(None, passwords):
            if password.startswith("'") and password.endswith("'") and len(password) > 1:
                found.add(password)
                password = re.sub(r"\\(.)", r"\1", password[1:-1])  # libpq's quoting
            found |= {password, unquote(password), quote(unquote(password), safe="")}
    return sorted(found, key=len, reverse=True)


def redact(line: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        line = line.replace(secret, "***")
    return line


def production_env(
    base: Mapping[str, str],
    dagster_home: Path,
    grpc_host: str,
    grpc_port: int,
    root: Path = ROOT,
) -> dict[str, str]:
    """`base` with the production profile's variables: the checkout's defaults for those it
    lacks, and the instance folder and the code server's address, which the topology
    decides."""
    env = {**checkout_defaults(root), **base}
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
    port: int | None = None
    """The port it listens on, checked to be free before each start."""
    port_setting: str = ""
    """How a user picks another port: named when the port is taken."""
    process: subprocess.Popen[bytes] | None = None
    restart_at: float | None = None
    """When a dead service is due to start again (time.monotonic), None while it runs."""
    restarts: list[float] = field(default_factory=list)
    """When it was restarted (time.monotonic)."""


class Topology:
    """The processes of the production profile, started in order and stopped together.

    Each process leads its own process group (session), so a terminal's Ctrl-C reaches only
    the supervisor, and stopping a service reaches what it started (the code server's run
    processes, a worker's pool). The web UI binds to `host`, the code server to
    `grpc_host`: both loopback unless told otherwise."""

    def __init__(
        self,
        env: Mapping[str, str],
        *,
        workers: int = 2,
        host: str = LOOPBACK,
        port: int = 3000,
        grpc_port: int = GRPC_BASE_PORT,
        grpc_host: str = LOOPBACK,
        log: TextIO = sys.stdout,
        loglevel: str = "info",
        restart_delays: tuple[float, ...] = RESTART_DELAYS,
    ) -> None:
        self.env = dict(env)
        self.host = host
        self.port = port
        self.grpc_host = grpc_host
        self.grpc_port = grpc_port
        self.log = log
        self.restart_delays = restart_delays
        self._secrets = secrets_in(self.env)
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
                    grpc_host,
                    "-p",
                    str(grpc_port),
                    "--log-level",
                    loglevel,
                ],
                port=grpc_port,
                port_setting="--grpc-port (make serve GRPC_PORT=...)",
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
                port=port,
                port_setting="--port (make serve PORT=...)",
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
        """The web UI's address; an IPv6 host in brackets (`http://[::1]:3000`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def service(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    def start(self, names: Iterable[str] | None = None, timeout: float = 120) -> None:
        """Start the services named (all by default) in the topology's order: the code
        server first, the others once it answers; then wait until the webserver answers.
        Raises RuntimeError naming what did not come up in time."""
        wanted = set(names) if names is not None else {s.name for s in self.services}
        deadline = time.monotonic() + timeout
        # Every port is checked before anything starts: a taken one leaves nothing behind.
        for service in self.services:
            if service.name in wanted and service.port is not None:
                self._refuse_port_in_use(service)
        for service in self.services:
            if service.name in wanted:
                self._start(service)
                if service.name == "code-server":
                    self._wait_for_port(self.grpc_host, self.grpc_port, "code-server", deadline)
        if "webserver" in wanted:
            self._wait_for_port(self.host, self.port, "webserver", deadline)

    def dead(self) -> list[Service]:
        """Services that have exited."""
        return [s for s in self.services if s.process is not None and s.process.poll() is not None]

    def supervise_once(self) -> str | None:
        """One look at every service: a service found dead is reported, whatever it started
        is killed (a dead code server's run processes), and it is due to start again after
        the next of `restart_delays`; a service that is due starts again. Returns why the
        topology must stop (a service that dies over and over, a port taken meanwhile), or
        None."""
        now = time.monotonic()
        for service in self.services:
            process = service.process
            if process is None or process.poll() is None:
                continue
            if service.restart_at is None:
                recent = [t for t in service.restarts if now - t < RESTART_WINDOW]
                self._kill_group(service)
                if len(recent) >= RESTART_LIMIT:
                    return (
                        f"{service.name} died {len(recent) + 1} times within "
                        f"{RESTART_WINDOW:.0f} s; it is not started again: see its log lines"
                    )
                delay = self.restart_delays[min(len(recent), len(self.restart_delays) - 1)]
                service.restart_at = now + delay
                self.say(
                    "supervisor",
                    f"{service.name} exited with status {process.returncode}; "
                    f"starting it again in {delay:g} s",
                )
            elif now >= service.restart_at:
                try:
                    if service.port is not None:
                        self._refuse_port_in_use(service)
                except PortInUseError as error:
                    return str(error)
                service.restart_at = None
                service.restarts.append(now)
                self._start(service)
        return None

    def supervise(self, stopping: threading.Event, every: float = 0.5) -> str | None:
        """`supervise_once` until `stopping` is set (None) or it gives a reason to stop."""
        while not stopping.wait(every):
            reason = self.supervise_once()
            if reason is not None:
                return reason
        return None

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
        """Print a line for `name`, with every password of the URL settings masked."""
        line = redact(line.rstrip(), self._secrets)
        with self._lock:
            self.log.write(f"{name:>12} | {line}\n")
            self.log.flush()

    def _refuse_port_in_use(self, service: Service) -> None:
        assert service.port is not None
        host = self.grpc_host if service.name == "code-server" else self.host
        refuse_port_in_use(host, service.port, service.name, service.port_setting)

    def _kill_group(self, service: Service) -> None:
        """SIGKILL what a dead service leaves behind in its process group (the run
        processes of a code server: a new code server would not know them)."""
        assert service.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(service.process.pid, signal.SIGKILL)

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

    def _wait_for_port(self, host: str, port: int, name: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            dead = [s.name for s in self.dead()]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited while starting: see its log lines")
            with contextlib.suppress(OSError), socket.create_connection((host, port), 1):
                return
            time.sleep(0.2)
        raise RuntimeError(f"{name} did not answer on {host}:{port} in time")


def _prepend(folder: str, path: str | None) -> str:
    return folder if not path else f"{folder}{os.pathsep}{path}"


def build_parser() -> argparse.ArgumentParser:
    """The command line: every address defaults to loopback."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--workers", type=int, default=2, help="Celery workers (default 2)")
    parser.add_argument(
        "--host", default=LOOPBACK, help="the web UI's address (default 127.0.0.1: this host only)"
    )
    parser.add_argument("--port", type=int, default=3000, help="web UI port (default 3000)")
    parser.add_argument(
        "--grpc-host",
        default=LOOPBACK,
        help="the code server's address (default 127.0.0.1: this host only)",
    )
    parser.add_argument(
        "--grpc-port",
        type=int,
        default=checkout_grpc_port(ROOT),
        help=f"code server port (default {checkout_grpc_port(ROOT)}, this checkout's own)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=LOG_LEVELS,
        help="what every process prints, the steps' events on the workers included (default info)",
    )
    parser.add_argument(
        "--dagster-home",
        type=Path,
        default=ROOT / ".dagster_serve",
        help="the instance folder (default .dagster_serve/ in the checkout)",
    )
    return parser


def main(argv: Iterable[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    if args.workers < 1:
        parser.error("--workers must be 1 or more")
    # The other processes reach a code server that listens everywhere on this host's loopback.
    connect_host = LOOPBACK if args.grpc_host in ("0.0.0.0", "::", "") else args.grpc_host
    env = production_env(os.environ, args.dagster_home.resolve(), connect_host, args.grpc_port)
    secrets = secrets_in(env)
    prepare_instance(args.dagster_home)
    try:
        ensure_database(env["DAGSTER_PG_URL"])
    except psycopg.Error as error:
        message = f"error: PostgreSQL at DAGSTER_PG_URL does not answer: {error}"
        print(redact(message, secrets), file=sys.stderr)
        return 2
    topology = Topology(
        env,
        workers=args.workers,
        host=args.host,
        port=args.port,
        grpc_host=args.grpc_host,
        grpc_port=args.grpc_port,
        loglevel=args.log_level,
    )
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    status = 0
    try:
        topology.start()
        topology.say("supervisor", f"the web UI is on {topology.url}; Ctrl-C stops everything")
        reason = topology.supervise(stopping)
        if reason is not None:
            topology.say("supervisor", f"error: {reason}")
            status = 1
    except PortInUseError as error:
        topology.say("supervisor", f"error: {error}")
        status = 2
    except RuntimeError as error:
        topology.say("supervisor", f"error: {error}")
        status = 1
    finally:
        topology.say("supervisor", "stopping every process")
        topology.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
