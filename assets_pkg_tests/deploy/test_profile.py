"""The production profile without starting it: what the settings choose, the instance and
workspace files, the workers' Celery configuration, the supervisor's commands."""

from __future__ import annotations

import importlib
import io
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest
from dagster_shared.yaml_utils import load_yaml_from_path

from assets_pkg.definitions import build_definitions
from assets_pkg.defs.executors import celery_app_config
from assets_pkg.shared.settings import Settings
from deploy.serve import (
    CELERY_CONFIG_DIR,
    INSTANCE_TEMPLATE,
    RESTART_LIMIT,
    ROOT,
    WORKSPACE,
    PortInUseError,
    Topology,
    build_parser,
    checkout_grpc_port,
    checkout_id,
    production_env,
    redact,
    secrets_in,
)
from deploy.serve import main as serve_main

WEEKLY_STEPS = ("transactions", "weekly_purchase_counts")


def _settings(tmp_path: Path, **production: object) -> Settings:
    return Settings(
        purchases_source_dir=str(tmp_path / "purchases"),
        signatures_source_dir=str(tmp_path / "signatures"),
        warehouse_dir=str(tmp_path / "warehouse"),
        signatures_db_url=f"sqlite:///{tmp_path / 'signatures.db'}",
        **production,  # type: ignore[arg-type]
    )


def _weekly_policies(defs: dg.Definitions) -> set[dg.BackfillPolicy | None]:
    graph = defs.resolve_asset_graph()
    return {
        graph.get(dg.AssetKey(name)).backfill_policy
        for name in ("exploded_transactions", "transaction_quarantine", "weekly_purchase_counts")
    }


def test_the_default_is_one_process_and_one_run_per_backfill(tmp_path: Path) -> None:
    defs = build_definitions(_settings(tmp_path))
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.executor_def is dg.in_process_executor
    assert _weekly_policies(defs) == {dg.BackfillPolicy.single_run()}


def test_the_production_settings_choose_celery_and_runs_of_n_weeks(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        executor="celery",
        purchases_weeks_per_run=3,
        celery_broker_url="pyamqp://guest@broker//",
        celery_backend_url="redis://results:6379/1",
        celery_queue="purchases",
    )
    defs = build_definitions(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    assert job.executor_def.name == "celery"
    assert _weekly_policies(defs) == {dg.BackfillPolicy.multi_run(max_partitions_per_run=3)}
    # The catalog has no partitions: its backfill policy does not change.
    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("raw_customers")).backfill_policy == (
        dg.BackfillPolicy.single_run()
    )


def test_the_workers_read_the_configuration_the_executor_submits_with(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DAGSTER_CELERY_BROKER_URL", "pyamqp://guest@elsewhere//")
    monkeypatch.setenv("DAGSTER_CELERY_BACKEND_URL", "rpc://")
    monkeypatch.setenv("DAGSTER_CELERY_QUEUE", "q1")
    monkeypatch.syspath_prepend(str(CELERY_CONFIG_DIR))
    sys.modules.pop("dagster_celery_config", None)
    module = importlib.import_module("dagster_celery_config")
    try:
        public = {k: v for k, v in vars(module).items() if not k.startswith("_")}
        assert public == celery_app_config(Settings.from_env())
        assert public["broker_url"] == "pyamqp://guest@elsewhere//"
        assert public["task_default_queue"] == "q1"
        assert public["task_acks_late"] is True
    finally:
        sys.modules.pop("dagster_celery_config", None)


def test_the_instance_queues_runs_under_limits_and_retries_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = load_yaml_from_path(str(INSTANCE_TEMPLATE))
    assert isinstance(config, dict)
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "DAGSTER_PG_URL"}}}
    coordinator = config["run_coordinator"]
    assert coordinator["class"] == "QueuedRunCoordinator"
    limits = coordinator["config"]["tag_concurrency_limits"]
    assert [entry["key"] for entry in limits] == ["dagster/backfill"]
    assert limits[0]["limit"] <= coordinator["config"]["max_concurrent_runs"]
    assert config["run_monitoring"]["enabled"] is True
    assert config["nux"] == {"enabled": False}  # no "Join the community" dialog in the UI
    # A run whose process is gone is found by the launcher's health check (test_run_health)
    # within a poll, and retried rather than resumed in place.
    assert config["run_launcher"]["class"] == "CodeServerRunLauncher"
    assert config["run_monitoring"]["max_resume_run_attempts"] == 0
    assert config["run_monitoring"]["poll_interval_seconds"] <= 30
    assert config["run_retries"]["enabled"] is True
    assert config["run_retries"]["max_retries"] >= 1
    assert set(config["retention"]) == {"schedule", "sensor"}


def test_the_workspace_reaches_the_code_server_by_its_variables() -> None:
    workspace = load_yaml_from_path(str(WORKSPACE))
    assert isinstance(workspace, dict)
    (location,) = workspace["load_from"]
    assert location["grpc_server"]["host"] == {"env": "DAGSTER_GRPC_HOST"}
    assert location["grpc_server"]["port"] == {"env": "DAGSTER_GRPC_PORT"}


def test_the_supervisor_starts_every_process_of_the_topology(tmp_path: Path) -> None:
    env = production_env({"PATH": "/bin"}, tmp_path, "127.0.0.1", 4999)
    assert env["DAGSTER_EXECUTOR"] == "celery"
    assert env["DAGSTER_PG_URL"].startswith("postgresql+psycopg2://")
    assert (env["DAGSTER_HOME"], env["DAGSTER_GRPC_PORT"]) == (str(tmp_path), "4999")
    topology = Topology(env, workers=3, port=3999, grpc_port=4999)
    names = [service.name for service in topology.services]
    assert names == ["code-server", "webserver", "daemon", "worker-1", "worker-2", "worker-3"]
    commands = {service.name: service.argv for service in topology.services}
    assert commands["code-server"][1:3] == ["code-server", "start"]
    assert Path(commands["webserver"][0]).name == "dagster-webserver"
    assert commands["daemon"][1] == "run"
    assert commands["worker-2"][1:4] == ["-A", "dagster_celery.app", "worker"]
    assert f"worker-2.{env['DAGSTER_CELERY_QUEUE']}@%h" in commands["worker-2"]
    worker_env = topology.service("worker-1").env
    assert worker_env["PYTHONPATH"].split(":")[0] == str(CELERY_CONFIG_DIR)


INSTALLS = ("install", "instance", "uv", "venv-run", "venv-serve", "venv-dev")
"""The Makefile's install targets, each taken as done by `_make_dry_run`."""


def _make_dry_run(*args: str) -> list[list[str]]:
    """The commands `make -n` prints for `args` (install taken as done), each split as the
    shell would, continuation lines joined."""
    # Under `make test` the outer make's MAKEFLAGS and MAKELEVEL would make this one print
    # "Entering directory" lines among the commands: run it as a make of its own.
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    printed = subprocess.run(
        ["make", "-n", "--no-print-directory", *(f"-o{done}" for done in INSTALLS), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [shlex.split(line) for line in printed.replace("\\\n", " ").splitlines() if line]


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_every_server_binds_to_loopback_unless_told_otherwise(tmp_path: Path) -> None:
    (ui,) = _make_dry_run("ui")
    assert Path(ui[1]).name == "dg"
    assert _option(ui, "--host") == "127.0.0.1"
    (serve,) = _make_dry_run("serve")
    assert Path(serve[serve.index("--workers") - 1]).name == "serve.py"
    assert _option(serve, "--host") == "127.0.0.1"
    # serve.py's own defaults, and the command lines it builds from them.
    defaults = build_parser().parse_args([])
    assert (defaults.host, defaults.grpc_host) == ("127.0.0.1", "127.0.0.1")
    env = production_env({}, tmp_path, "127.0.0.1", 4999)
    topology = Topology(env, workers=1, port=3999, grpc_port=4999)
    assert _option(topology.service("code-server").argv, "-h") == "127.0.0.1"
    assert _option(topology.service("webserver").argv, "-h") == "127.0.0.1"
    # The address printed for the UI is a URL a browser takes, for IPv6 loopback too.
    assert topology.url == "http://127.0.0.1:3999"
    assert Topology(env, workers=1, host="::1", port=3999, grpc_port=4999).url == (
        "http://[::1]:3999"
    )
    # Opening the web UI to the network does not open the code server with it.
    exposed = Topology(env, workers=1, host="0.0.0.0", port=3999, grpc_port=4999)
    assert _option(exposed.service("webserver").argv, "-h") == "0.0.0.0"
    assert _option(exposed.service("code-server").argv, "-h") == "127.0.0.1"


def test_two_checkouts_get_their_own_database_queue_and_code_server_port(
    tmp_path: Path,
) -> None:
    first, second = tmp_path / "work" / "project", tmp_path / "other" / "project"
    one = production_env({}, tmp_path, "127.0.0.1", 1, root=first)
    two = production_env({}, tmp_path, "127.0.0.1", 1, root=second)
    for key in ("DAGSTER_PG_URL", "DAGSTER_CELERY_QUEUE"):
        assert one[key] != two[key], key
    assert one["DAGSTER_PG_URL"].endswith(f"/dagster_{checkout_id(first)}")
    assert one["DAGSTER_CELERY_QUEUE"] == f"dagster_{checkout_id(first)}"
    assert checkout_id(first).startswith("project_")
    assert checkout_grpc_port(first) != checkout_grpc_port(second)
    assert 4266 <= checkout_grpc_port(first) < 5266
    # The same checkout always gets the same names (its history stays where it was).
    assert production_env({}, tmp_path, "127.0.0.1", 1, root=first) == one
    # Set explicitly, they win.
    explicit = {"DAGSTER_CELERY_QUEUE": "q", "DAGSTER_PG_URL": "postgresql+psycopg2://h/db"}
    assert production_env(explicit, tmp_path, "h", 1, root=first).items() >= explicit.items()


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path: Path) -> None:
    # A listener as gRPC opens it (SO_REUSEPORT): a second code server would share the port.
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = production_env({}, tmp_path, "127.0.0.1", port)
        topology = Topology(env, workers=1, port=port + 1, grpc_port=port, log=io.StringIO())
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1, for the code-server"):
            topology.start()
        assert all(service.process is None for service in topology.services)
        web = Topology(env, workers=1, port=port, grpc_port=_free_port(), log=io.StringIO())
        with pytest.raises(PortInUseError, match=r"make serve PORT="):
            web.start(["webserver"])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


SLEEPER = [sys.executable, "-c", "import time; time.sleep(120)"]
PARENT = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
    "print('child', child.pid, flush=True)\n"
    "time.sleep(120)\n"
)


def _alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie, killed and not yet reaped by its parent, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def _fake_topology(tmp_path: Path, log: io.StringIO, argv: list[str]) -> Topology:
    """The supervisor's own logic around stand-in processes: no Dagster, no Celery."""
    env = production_env({"PATH": "/bin"}, tmp_path, "127.0.0.1", _free_port())
    topology = Topology(env, workers=1, log=log, restart_delays=(0.0,))
    for service in topology.services:
        service.argv, service.port = list(argv), None
    return topology


def _until(what: str, check: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.mark.slow  # 5 s: real processes started, killed and restarted
def test_the_supervisor_restarts_a_process_that_died_and_kills_what_it_left(
    tmp_path: Path,
) -> None:
    log = io.StringIO()
    topology = _fake_topology(tmp_path, log, SLEEPER)
    try:
        daemon = topology.service("daemon")
        code_server = topology.service("code-server")
        code_server.argv = [sys.executable, "-c", PARENT]
        topology._start(daemon)
        topology._start(code_server)
        assert daemon.process is not None
        first = daemon.process.pid
        # The code server's child, in its process group, as a run process is: it says its pid.
        assert code_server.process is not None
        _until("the code server's child", lambda: "child " in log.getvalue())
        child = int(log.getvalue().split("child ", 1)[1].split()[0])
        os.kill(first, signal.SIGKILL)
        os.kill(code_server.process.pid, signal.SIGKILL)

        def restarted() -> bool:
            assert topology.supervise_once() is None
            return all(
                s.process is not None and s.process.poll() is None and s.restarts
                for s in (daemon, code_server)
            )

        _until("the daemon and the code server to be started again", restarted)
        assert daemon.process is not None
        assert daemon.process.pid != first
        # Killed with its dead code server.
        _until("the code server's child to be gone", lambda: not _alive(child))
        assert "daemon exited with status -9; starting it again in 0 s" in log.getvalue()
        # The worker was never started: the supervisor leaves it alone.
        assert topology.service("worker-1").process is None
    finally:
        topology.stop(grace=5)


def test_a_process_that_keeps_dying_stops_the_topology(tmp_path: Path) -> None:
    log = io.StringIO()
    topology = _fake_topology(tmp_path, log, [sys.executable, "-c", "raise SystemExit(3)"])
    reasons: list[str] = []
    try:
        topology._start(topology.service("daemon"))

        def gave_up() -> bool:
            reason = topology.supervise_once()
            if reason is not None:
                reasons.append(reason)
            return bool(reasons)

        _until("the supervisor to give up", gave_up)
    finally:
        topology.stop(grace=5)
    assert reasons == [
        f"daemon died {RESTART_LIMIT + 1} times within 300 s; it is not "
        "started again: see its log lines"
    ]
    assert len(topology.service("daemon").restarts) == RESTART_LIMIT


PASSWORDS = {
    "DAGSTER_PG_URL": "postgresql+psycopg2://postgres:Pg%2Fs3cret@127.0.0.1:1/db",
    "DAGSTER_CELERY_BROKER_URL": "pyamqp://guest:Br0kerSecret@127.0.0.1//",
    "DAGSTER_CELERY_BACKEND_URL": "redis://:Redi5Secret@127.0.0.1:6379/0",
}
SECRETS = ("Pg%2Fs3cret", "Pg/s3cret", "Br0kerSecret", "Redi5Secret")


def test_no_line_the_supervisor_prints_shows_a_password(tmp_path: Path) -> None:
    """Whatever a process prints (its settings, a traceback quoting a URL) goes through the
    supervisor, which masks every password of the URL settings it was given."""
    printer = (
        "import os\n"
        "for key in ('DAGSTER_PG_URL', 'DAGSTER_CELERY_BROKER_URL', "
        "'DAGSTER_CELERY_BACKEND_URL'):\n"
        "    print(key, os.environ[key])\n"
        "print('decoded: Pg/s3cret')\n"
    )
    log = io.StringIO()
    env = production_env({"PATH": "/bin", **PASSWORDS}, tmp_path, "127.0.0.1", 1)
    topology = Topology(env, workers=1, log=log)
    service = topology.service("worker-1")
    service.argv = [sys.executable, "-c", printer]
    topology._start(service)
    assert service.process is not None
    service.process.wait(timeout=30)
    topology.stop(grace=5)
    printed = log.getvalue()
    assert "pyamqp://guest:***@127.0.0.1//" in printed
    assert "decoded: ***" in printed
    assert not [secret for secret in SECRETS if secret in printed], printed


def test_passwords_outside_a_urls_user_part_are_masked_too() -> None:
    """In the query string (libpq and SQLAlchemy take `?password=`), in a libpq key/value
    string (quoted, with an escaped quote), and the secrets that are whole settings."""
    env = {
        "SIGNATURES_DB_URL": "postgresql+psycopg://u@h/db?sslmode=require&password=Qu%40ry9",
        "DAGSTER_PG_URL": "host=h password='Kv s\\'9' dbname=x",
        "DAGSTER_CELERY_BACKEND_URL": "redis://h:6379/0?password=R3dis&db=1",
        "AWS_SECRET_ACCESS_KEY": "AwsS3cretKey",
    }
    secrets = secrets_in(env)
    lines = [
        "connecting to postgresql+psycopg://u@h/db?sslmode=require&password=Qu%40ry9",
        "password=Qu@ry9 (decoded)",
        "conninfo: host=h password='Kv s\\'9' dbname=x; the password is Kv s'9",
        "redis://h:6379/0?password=R3dis&db=1",
        "aws_secret_access_key = AwsS3cretKey",
    ]
    printed = "\n".join(redact(line, secrets) for line in lines)
    for secret in ("Qu%40ry9", "Qu@ry9", "Kv s", "R3dis", "AwsS3cretKey"):
        assert secret not in printed, printed
    assert "sslmode=require" in printed


def test_serve_names_an_unreachable_database_without_its_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in PASSWORDS.items():
        monkeypatch.setenv(key, value)
    assert serve_main(["--dagster-home", str(tmp_path / "home")]) == 2
    error = capsys.readouterr().err
    assert "PostgreSQL at DAGSTER_PG_URL does not answer" in error
    assert not [secret for secret in SECRETS if secret in error], error
