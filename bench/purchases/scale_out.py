"""The scale-out part: one backfill on the production topology, with 1 and then 2 workers.

For each worker count, ``backfill_on_topology`` builds the catalog into a fresh warehouse
with the CLI (untimed: the weekly runs read it, as in the deployment test), starts the
topology of ``make serve`` (``deploy/serve.py``'s ``Topology``: code server, web UI, Celery
workers, then the daemon) on a fresh PostgreSQL database and Celery queue of its own, named
after the checkout (``dagster_bench_<checkout>``, ``bench_<checkout>``), with
``PURCHASES_WEEKS_PER_RUN`` set, and launches a backfill of the weekly assets as the web UI
does (GraphQL ``launchPartitionBackfill``). It then asks the web UI every few seconds for the
backfill's runs until every one has finished, and takes the wall time from the launch to the
last run's end. The daemon starts right after the launch, so that its first pass finds the
backfill (it looks for new ones every 30 s): the wall includes its start.

``PLANS`` says, per scale, which dataset and how many weeks the backfill covers and how many
weeks go in a run; ``services_problem`` says why the part cannot run (a service that does not
answer, the production profile not installed), and the report then shows it as n/a.
``RunInfo``, ``finished`` and ``outcome`` read the web UI's answers: pure code, tested with
made-up answers.
"""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.purchases import ROOT
from bench.purchases.dagster_runs import (
    CATALOG_ASSETS,
    DEFINITIONS_MODULE,
    WEEKLY_ASSETS,
    DagsterSetup,
)
from bench.purchases.dataset import week
from bench.purchases.measure import TreeSampler
from deploy import client

if TYPE_CHECKING:  # deploy.serve needs the production profile: imported when the part runs
    from deploy.serve import Topology

WORKER_COUNTS = (1, 2)
HOST = client.HOST
SERVICES = (("PostgreSQL", 5432), ("RabbitMQ", 5672), ("Redis", 6379))
"""What the topology needs, where `make serve` finds it by default."""
TIMEOUT_S = 1800.0
"""A backfill not finished after this long is a failure of the part."""
POLL_S = 2.0
"""How often the web UI is asked about the runs; the wall comes from the runs' own end
times, so this only delays the bench, not the figure."""
FINISHED = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
TERMINAL = frozenset({"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"})
"""The backfill's statuses after which it launches no more runs."""
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
PARTITION = "dagster/partition"
BACKFILL_TAG = "dagster/backfill"


@dataclass(frozen=True)
class ScaleOutPlan:
    """The backfill: the first `weeks` weeks of `scale_name`'s dataset, in runs of
    `weeks_per_run` weeks."""

    scale_name: str
    weeks: int
    weeks_per_run: int

    @property
    def runs(self) -> int:
        return -(-self.weeks // self.weeks_per_run)


PLANS = {
    "large": ScaleOutPlan("large", 32, 4),
    "medium": ScaleOutPlan("medium", 24, 4),
    "small": ScaleOutPlan("small", 4, 1),
}
"""Per main scale. At large, 32 weeks of the large feed (about 350 MB) in 8 runs of 4
weeks: 4 rounds of the backfill's 2 runs at once, a few minutes for both worker counts."""


@dataclass
class Backfill:
    """One backfill on the topology with `workers` Celery workers."""

    workers: int
    wall_s: float | None = None
    """From the launch (the GraphQL call) to the end of the last run."""
    first_start_s: float | None = None
    """From the launch to the start of the first run: the daemon's start and first pass,
    the queue and the run's process."""
    runs: int = 0
    succeeded: int = 0
    step_s: float | None = None
    """The steps' time (start to end, on the workers), summed over every run."""
    worker_peak_mib: float | None = None
    """The largest PSS of one worker's process tree (the worker and its pool)."""
    error: str | None = None


@dataclass
class ScaleOut:
    """The part's result: the plan, the JSON its weeks hold, one Backfill per worker count,
    or why it did not run."""

    plan: ScaleOutPlan
    json_bytes: int
    backfills: list[Backfill] = field(default_factory=list)
    problem: str | None = None

    def wall(self, workers: int) -> float | None:
        for backfill in self.backfills:
            if backfill.workers == workers and backfill.error is None:
                return backfill.wall_s
        return None

    @property
    def speed_up(self) -> float | None:
        one, two = self.wall(1), self.wall(2)
        return None if one is None or not two else one / two

    @property
    def succeeded(self) -> bool | None:
        """True when every worker count's backfill built every week; None when not run."""
        if self.problem is not None or not self.backfills:
            return None
        return all(backfill.error is None for backfill in self.backfills)


@dataclass(frozen=True)
class RunInfo:
    """One run of the backfill, as the web UI tells it."""

    run_id: str
    status: str
    start: float | None
    end: float | None
    first: str | None
    last: str | None
    step_s: float = 0.0

    @classmethod
    def from_graphql(cls, run: Mapping[str, Any]) -> RunInfo:
        tags = {tag["key"]: tag["value"] for tag in run.get("tags") or []}
        first = tags.get(RANGE_START) or tags.get(PARTITION)
        last = tags.get(RANGE_END) or tags.get(PARTITION)
        steps = [
            step["endTime"] - step["startTime"]
            for step in run.get("stepStats") or []
            if step.get("startTime") is not None and step.get("endTime") is not None
        ]
        start, end = run.get("startTime"), run.get("endTime")
        return cls(run["runId"], run["status"], start, end, first, last, sum(steps))

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def weeks(self, weeks: Sequence[str]) -> list[str]:
        if self.first is None or self.last is None:
            return []
        return [each for each in weeks if self.first <= each <= self.last]


def built(runs: Sequence[RunInfo], weeks: Sequence[str]) -> set[str]:
    """The weeks that a successful run built."""
    return {each for run in runs if run.status == "SUCCESS" for each in run.weeks(weeks)}


def finished(status: str | None, runs: Sequence[RunInfo], weeks: Sequence[str]) -> bool:
    """Every run has finished, and either every week is built or the backfill will launch
    no more runs."""
    if not runs or not all(run.finished for run in runs):
        return False
    return status in TERMINAL or built(runs, weeks) >= set(weeks)


def outcome(
    workers: int, launched_at: float, runs: Sequence[RunInfo], weeks: Sequence[str]
) -> Backfill:
    """The Backfill that finished `runs` make, timed from `launched_at` (Unix time)."""
    result = Backfill(workers, runs=len(runs))
    result.succeeded = sum(run.status == "SUCCESS" for run in runs)
    ends = [run.end for run in runs if run.end is not None]
    starts = [run.start for run in runs if run.start is not None]
    result.wall_s = max(ends) - launched_at if ends else None
    result.first_start_s = min(starts) - launched_at if starts else None
    result.step_s = sum(run.step_s for run in runs) if runs else None
    missing = [each for each in weeks if each not in built(runs, weeks)]
    if missing:
        failed = [f"{run.run_id} {run.status}" for run in runs if run.status != "SUCCESS"]
        result.error = (
            f"{len(missing)} of {len(weeks)} weeks not built ({missing[0]}...); runs not "
            f"successful: {', '.join(failed) or 'none'}"
        )
    return result


def services_problem(answers: Callable[[str, int], bool] = client.answers) -> str | None:
    """Why the topology cannot start here, in one sentence; None when it can."""
    down = [f"{name} (:{port})" for name, port in SERVICES if not answers(HOST, port)]
    if down:
        return (
            f"{' and '.join(down)} does not answer on {HOST}: the scale-out part runs the "
            "topology of `make serve` on the local PostgreSQL, RabbitMQ and Redis"
        )
    try:
        import dagster_celery  # noqa: F401
        import dagster_postgres  # noqa: F401
        import kombu  # noqa: F401
        import psycopg  # noqa: F401
    except ImportError as error:
        return f"the production profile is not installed ({error}): `make serve` installs it"
    return None


RUNS = """
query ($id: String!, $filter: RunsFilter) {
  partitionBackfillOrError(backfillId: $id) {
    __typename
    ... on PartitionBackfill { status }
  }
  runsOrError(filter: $filter) {
    __typename
    ... on Runs {
      results {
        runId status startTime endTime tags { key value }
        %s
      }
    }
    ... on PythonError { message }
  }
}
"""
STEPS = "stepStats { stepKey startTime endTime }"


def _launch(url: str, weeks: Sequence[str], timeout: float) -> tuple[float, str]:
    """Launch the backfill of the weekly assets over `weeks` as the web UI does; the Unix
    time just before the call that the web UI took, and the backfill's id."""
    params = {"assetSelection": [{"path": [a]} for a in WEEKLY_ASSETS], "partitionNames": weeks}
    deadline, last = time.monotonic() + timeout, "no answer"
    while time.monotonic() < deadline:
        launched_at = time.time()
        try:
            answer = client.graphql(url, client.LAUNCH_BACKFILL, {"params": params})
        except (urllib.error.URLError, OSError) as error:
            last = str(error)
        else:
            result = (answer.get("data") or {}).get("launchPartitionBackfill") or {}
            if result.get("__typename") == "LaunchBackfillSuccess":
                return launched_at, str(result["backfillId"])
            last = str(result.get("message") or answer.get("errors") or answer)[:300]
        time.sleep(1)
    raise RuntimeError(f"the web UI did not take the backfill within {timeout:.0f} s: {last}")


def _runs(url: str, backfill: str, steps: bool = False) -> tuple[str | None, list[RunInfo]]:
    variables = {"id": backfill, "filter": {"tags": [{"key": BACKFILL_TAG, "value": backfill}]}}
    answer = client.graphql(url, RUNS % (STEPS if steps else ""), variables)
    data = answer.get("data") or {}
    runs = data.get("runsOrError") or {}
    if runs.get("__typename") != "Runs":
        raise RuntimeError(f"the web UI did not list the runs: {runs or answer}"[:300])
    status = (data.get("partitionBackfillOrError") or {}).get("status")
    return status, [RunInfo.from_graphql(run) for run in runs["results"]]


def backfill_on_topology(
    plan: ScaleOutPlan,
    source: Path,
    work: Path,
    logs: Path,
    workers: int,
    say: Callable[[str], None],
) -> Backfill:
    """The backfill of `plan` on a fresh topology with `workers` Celery workers."""
    from deploy.serve import (
        Topology,
        checkout_defaults,
        checkout_id,
        prepare_instance,
        production_env,
    )

    name = f"scale_out-{workers}w"
    weeks = [week(index) for index in range(plan.weeks)]
    setup = DagsterSetup.fresh(work, name, source, DEFINITIONS_MODULE)
    say(f"  the catalog ({', '.join(CATALOG_ASSETS)}) into the warehouse, untimed")
    catalog = setup.materialize(",".join(CATALOG_ASSETS), [], logs / f"{name}-catalog.log", say)
    if catalog.error is not None:
        return Backfill(workers, error=f"building the catalog: {catalog.error}")
    home = work / name / "serve_home"
    prepare_instance(home)
    defaults = checkout_defaults(ROOT)
    broker, queue = defaults["DAGSTER_CELERY_BROKER_URL"], f"bench_{checkout_id(ROOT)}"
    client.delete_queue(broker, queue)  # what a bench stopped half-way left in it
    log_path = logs / f"{name}.log"
    with (
        client.scratch_database(f"dagster_bench_{checkout_id(ROOT)}") as pg_url,
        log_path.open("w") as log,
    ):
        settings = {
            **setup.env,
            "DAGSTER_PG_URL": pg_url,
            "DAGSTER_EXECUTOR": "celery",
            "DAGSTER_CELERY_BROKER_URL": broker,
            "DAGSTER_CELERY_BACKEND_URL": defaults["DAGSTER_CELERY_BACKEND_URL"],
            "DAGSTER_CELERY_QUEUE": queue,
            "PURCHASES_WEEKS_PER_RUN": str(plan.weeks_per_run),
        }
        grpc_port = client.free_port()
        env = production_env(settings, home, HOST, grpc_port, ROOT)
        topology = Topology(
            env, workers=workers, port=client.free_port(), grpc_port=grpc_port, log=log
        )
        samplers: list[TreeSampler] = []
        try:
            say(f"  starting the topology with {workers} worker(s); its log: {log_path}")
            worker_names = [s.name for s in topology.services if s.name.startswith("worker-")]
            topology.start(["code-server", "webserver", *worker_names], timeout=180)
            for service in topology.services:
                if service.name in worker_names and service.process is not None:
                    samplers.append(TreeSampler(service.process.pid, 0.25, proportional=True))
                    samplers[-1].start()
            say(f"  launching the backfill of {plan.weeks} weeks in runs of {plan.weeks_per_run}")
            launched_at, backfill = _launch(topology.url, weeks, timeout=120)
            topology.start(["daemon"], timeout=120)
            _wait(topology, backfill, weeks, say)
            _, runs = _runs(topology.url, backfill, steps=True)
            result = outcome(workers, launched_at, runs, weeks)
        except (RuntimeError, OSError) as error:
            result = Backfill(workers, error=f"{error} (log {log_path})")
        finally:
            for sampler in samplers:
                sampler.stop()
            topology.stop(grace=10)
            client.delete_queue(broker, queue)
    if samplers:
        result.worker_peak_mib = max(sampler.peak_kib for sampler in samplers) / 1024
    say(
        f"    {_seconds(result.wall_s)} from launch to the last run's end, "
        f"{result.succeeded}/{result.runs} runs succeeded" + (" FAILED" if result.error else "")
    )
    return result


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _wait(
    topology: Topology, backfill: str, weeks: Sequence[str], say: Callable[[str], None]
) -> None:
    """Until every run of `backfill` has finished (RuntimeError after TIMEOUT_S, or when a
    process of the topology dies)."""
    deadline, shown = time.monotonic() + TIMEOUT_S, ""
    while True:
        dead = [service.name for service in topology.dead()]
        if dead:
            raise RuntimeError(f"{', '.join(dead)} exited during the backfill")
        status, runs = _runs(topology.url, backfill)
        if finished(status, runs, weeks):
            return
        progress = (
            f"{sum(run.finished for run in runs)}/{len(runs)} runs finished"
            if runs
            else "waiting for the daemon to launch the runs"
        )
        if progress != shown:
            say(f"    {progress}")
            shown = progress
        if time.monotonic() > deadline:
            raise RuntimeError(f"the backfill did not finish within {TIMEOUT_S:.0f} s")
        time.sleep(POLL_S)


def run_scale_out(
    plan: ScaleOutPlan,
    source: Path,
    json_bytes: int,
    work: Path,
    say: Callable[[str], None],
    keep: bool = False,
) -> ScaleOut:
    """The backfill of `plan` with each of WORKER_COUNTS, or why it cannot run."""
    result = ScaleOut(plan, json_bytes)
    result.problem = services_problem()
    if result.problem is not None:
        say(f"scale-out not run: {result.problem}")
        return result
    for workers in WORKER_COUNTS:
        say(f"scale-out with {workers} Celery worker(s)")
        result.backfills.append(
            backfill_on_topology(plan, source, work, work / "logs", workers, say)
        )
        if not keep:
            shutil.rmtree(work / f"scale_out-{workers}w", ignore_errors=True)
    return result
