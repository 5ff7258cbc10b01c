"""Benchmark of the weekly purchase counts: Dagster against DuckDB on the same files.

    .venv/bin/python -m bench.purchases_bench [--scale large|medium|small] [--repeats 3]

Generates the dataset once with the project's generator (cached under
``.bench/data/<parameters>/``), then, in each repeat and alternating:

(a)  the full single-run backfill through the Dagster CLI, start to finish: every purchase
     asset (``raw_customers``, ``products`` and the weekly ones), every week, in one
     ``--partition-range`` run;
(c)  the same job as one DuckDB SQL script (``bench/duckdb_weekly_counts.sql``) in a fresh
     process;
(d)  the DuckDB scan floor: read every JSON line and count the basket items;
(b)  one incremental week through Dagster at full history (the last week again, same
     warehouse);
(a') the backfill over the first half of the weeks only (52 of 104 at large scale), to
     show that peak memory does not grow with history;
(b') one incremental week when history holds 4 weeks (source and warehouse).

Each command runs as a child process: wall time from start to exit, peak memory as the
largest sum of the proportional set size (PSS) over the whole process tree, sampled every
0.05 s, and the largest single process (max RSS from GNU ``/usr/bin/time``, which wraps each
command, or ``wait4``'s rusage without it). The weekly assets'
compute time comes from Dagster's own STEP_SUCCESS events in the run's instance. The
medians over the repeats go to stdout and ``.bench/results-<scale>.md``; the bench also
checks that (a) and (c) agree row for row.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.util
import json
import os
import platform
import re
import shutil
import statistics
import string
import subprocess
import sys
import threading
import time
from argparse import SUPPRESS
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl
import polars.testing

from assets_pkg.purchases.generate import GENERATOR_VERSION, generate

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / ".bench"
SQL_TEMPLATE = Path(__file__).with_name("duckdb_weekly_counts.sql")
START = dt.date(2024, 1, 1)
SEED = 42
PRODUCTS = 1000
TOLERANCE_DAYS = 1
DEFINITIONS_MODULE = "assets_pkg.definitions"
WEEKLY_ASSETS = ("exploded_transactions", "weekly_purchase_counts", "transaction_quarantine")
SHORT_HISTORY_WEEKS = 4
MIB = 1024 * 1024
KEY_COLUMNS = ["week", "customer_id", "product_id"]
COUNT_COLUMNS = [
    "week",
    "customer_id",
    "loyalty_score",
    "product_id",
    "product_category",
    "purchase_count",
]


@dataclass(frozen=True)
class Scale:
    customers: int
    days: int

    @property
    def weeks(self) -> int:
        return self.days // 7


# Two days beyond the last complete week, as at large scale (730 = 104 * 7 + 2), so that the
# last week's tolerance folder exists.
SCALES = {
    "large": Scale(50_000, 730),
    "medium": Scale(5_000, 26 * 7 + 2),
    "small": Scale(500, 4 * 7 + 2),
}


@dataclass
class Measurement:
    """One implementation in one repeat."""

    wall_s: float = 0.0
    peak_mib: float = 0.0
    max_process_mib: float = 0.0
    compute_s: float | None = None
    steps: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    def add(self, other: Measurement) -> None:
        """Another command of the same implementation, run after this one."""
        self.wall_s += other.wall_s
        self.peak_mib = max(self.peak_mib, other.peak_mib)
        self.max_process_mib = max(self.max_process_mib, other.max_process_mib)
        if other.compute_s is not None:
            self.compute_s = (self.compute_s or 0.0) + other.compute_s
        self.steps.update(other.steps)
        self.error = self.error or other.error


@dataclass(frozen=True)
class Part:
    key: str
    label: str


PARTS = (
    Part("a", "(a) Dagster full backfill"),
    Part("a_setup", "  (a1) of which raw_customers + products steps"),
    Part("a_weeks", "  (a2) of which the weekly assets' steps"),
    Part("a_half", "(a') Dagster backfill, first half of the weeks"),
    Part("b", "(b) Dagster one incremental week, full history"),
    Part("b_short", f"(b') Dagster one incremental week, {SHORT_HISTORY_WEEKS} weeks history"),
    Part("c", "(c) DuckDB whole job"),
    Part("d", "(d) DuckDB scan floor"),
)


# ---------------------------------------------------------------------------------------
# Data


def dataset(scale: Scale, say: Callable[[str], None]) -> tuple[Path, dict[str, object]]:
    """The generated source folder for `scale`, generated once and then reused."""
    name = f"c{scale.customers}-d{scale.days}-p{PRODUCTS}-{START}-seed{SEED}-v{GENERATOR_VERSION}"
    folder = BENCH_DIR / "data" / name
    marker = folder.with_name(f"{name}.complete.json")
    if marker.exists() and folder.is_dir():
        summary: dict[str, object] = json.loads(marker.read_text())
        say(f"data: reusing {folder}")
        return folder, summary
    if folder.exists():
        shutil.rmtree(folder)
    say(f"data: generating {folder}")
    result = generate(
        folder,
        customers=scale.customers,
        start=START,
        days=scale.days,
        seed=SEED,
        products=PRODUCTS,
        progress=say,
    )
    summary = result.to_json()
    marker.write_text(json.dumps(summary, indent=2) + "\n")
    say(
        f"data: {result.transaction_bytes / 1e9:.2f} GB, {result.transactions:,} transactions, "
        f"{result.basket_items:,} basket items in {result.seconds:.1f} s"
    )
    return folder, summary


def short_history(source: Path, weeks: int, work: Path) -> Path:
    """A source folder holding only the first `weeks` weeks (+ the tolerance days), linked."""
    target = work / f"source-{weeks}w"
    (target / "transactions").mkdir(parents=True)
    for name in ("customers.csv", "products.csv"):
        (target / name).symlink_to(source / name)
    for index in range(weeks * 7 + TOLERANCE_DAYS):
        folder = f"d={START + dt.timedelta(days=index)}"
        if (source / "transactions" / folder).exists():
            (target / "transactions" / folder).symlink_to(source / "transactions" / folder)
    return target


# ---------------------------------------------------------------------------------------
# Running a command and measuring it


def _tree(root: int) -> list[int]:
    pids = [root]
    index = 0
    while index < len(pids):
        pid = pids[index]
        index += 1
        try:
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except OSError:
            continue
        for task in tasks:
            try:
                children = (task / "children").read_text()
            except OSError:
                continue
            pids.extend(int(child) for child in children.split())
    return pids


def _memory_kib(pid: int) -> int:
    """Proportional set size (shared pages split between their users); RSS if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


class TreeSampler(threading.Thread):
    """Samples the memory of a process and all its descendants until stopped."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.peak_kib = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            total = sum(_memory_kib(pid) for pid in _tree(self.pid))
            self.peak_kib = max(self.peak_kib, total)
            self._stop_event.wait(self.interval)

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


GNU_TIME = Path("/usr/bin/time")


def measure(
    command: Sequence[str], env: Mapping[str, str], log: Path, say: Callable[[str], None]
) -> Measurement:
    """Run `command` to its end; wall time and peak memory of its whole process tree.

    The command runs under GNU time when present: its max RSS is then the command's own (a
    child forked straight from this bench would inherit the bench's RSS high-water mark).
    """
    log.parent.mkdir(parents=True, exist_ok=True)
    shown = [word if "\n" not in word else "'<runner>'" for word in command]
    say(f"  $ {' '.join(shown)}")
    rusage_file = log.with_suffix(".maxrss")
    wrapped = list(command)
    if GNU_TIME.exists():
        wrapped = [str(GNU_TIME), "-f", "%M", "-o", str(rusage_file), *command]
    os.sync()  # the previous command's writes are not flushed on this one's time
    with log.open("wb") as output:
        began = time.perf_counter()
        process = subprocess.Popen(
            wrapped, cwd=ROOT, env=dict(env), stdout=output, stderr=subprocess.STDOUT
        )
        sampler = TreeSampler(process.pid)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - began
        sampler.stop()
        process.returncode = os.waitstatus_to_exitcode(status)
    max_rss_kib = usage.ru_maxrss
    if GNU_TIME.exists():
        with contextlib.suppress(OSError, ValueError, IndexError):
            max_rss_kib = int(rusage_file.read_text().split()[-1])
    # Sampling can miss a short spike: the peak is never below the largest single process.
    result = Measurement(
        wall_s=wall,
        peak_mib=max(sampler.peak_kib, max_rss_kib) / 1024,
        max_process_mib=max_rss_kib / 1024,
    )
    if process.returncode != 0:
        result.error = f"exit status {process.returncode}, log {log}:\n    " + "\n    ".join(
            error_lines(log.read_text(errors="replace"))
        )
    say(f"    {wall:.1f} s, peak {result.peak_mib:.0f} MiB" + (" FAILED" if result.error else ""))
    return result


def error_lines(log: str, limit: int = 4) -> list[str]:
    """The distinct exception lines of a log (``SomeError: message``), else its last lines."""
    found = [line for line in log.splitlines() if re.match(r"[\w.]*(Error|Exception)\b", line)]
    distinct = list(dict.fromkeys(line[:300] for line in found))
    return distinct[:limit] if distinct else log.strip().splitlines()[-10:]


# ---------------------------------------------------------------------------------------
# Dagster


def dagster_available(module: str) -> str | None:
    """None when the definitions module exists, else why the Dagster parts cannot run."""
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError) as error:
        return f"{module} cannot be found: {error}"
    if found is None:
        return f"{module} does not exist (yet)"
    return None


@dataclass
class DagsterSetup:
    """A fresh warehouse and Dagster instance, and the environment pointing at them."""

    home: Path
    warehouse: Path
    env: dict[str, str]
    module: str = DEFINITIONS_MODULE

    @classmethod
    def fresh(cls, work: Path, name: str, source: Path, module: str) -> DagsterSetup:
        home, warehouse = work / name / "dagster_home", work / name / "warehouse"
        home.mkdir(parents=True)
        warehouse.mkdir(parents=True)
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
        env = dict(os.environ)
        env.update(
            DAGSTER_HOME=str(home),
            WAREHOUSE_DIR=str(warehouse),
            PURCHASES_SOURCE_DIR=str(source),
            PURCHASES_START_DATE=START.isoformat(),
            PURCHASES_DATE_TOLERANCE_DAYS=str(TOLERANCE_DAYS),
        )
        return cls(home, warehouse, env, module)

    def materialize(
        self, selection: str, partitions: Sequence[str], log: Path, say: Callable[[str], None]
    ) -> Measurement:
        command = [str(Path(sys.executable).with_name("dagster")), "asset", "materialize"]
        command += ["-m", self.module, "--select", selection]
        if len(partitions) == 1:
            command += ["--partition", partitions[0]]
        elif partitions:
            command += ["--partition-range", f"{partitions[0]}...{partitions[1]}"]
        before = self.run_ids()
        result = measure(command, self.env, log, say)
        new_runs = [run for run in self.run_ids() if run not in before]
        if not new_runs and result.error is None:
            result.error = "the command succeeded but no Dagster run was recorded"
        steps = step_durations(self.home, new_runs)
        result.steps = steps
        if steps:
            result.compute_s = sum(steps.values())
        if result.error is None and (failed := failed_steps(self.home, new_runs)):
            result.error = f"failed steps: {', '.join(failed)}"
        return result

    def run_ids(self) -> list[str]:
        if not (self.home / "history").exists() and not (self.home / "storage").exists():
            return []
        from dagster import DagsterInstance

        with DagsterInstance.from_config(str(self.home)) as instance:
            return [run.run_id for run in instance.get_runs()]


def step_durations(home: Path, run_ids: Sequence[str]) -> dict[str, float]:
    """Seconds per successful step, from Dagster's own STEP_SUCCESS events."""
    from dagster import DagsterEventType, DagsterInstance

    durations: dict[str, float] = {}
    with DagsterInstance.from_config(str(home)) as instance:
        for run_id in run_ids:
            for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_SUCCESS):
                event = record.dagster_event
                if event is None or event.step_key is None:
                    continue
                duration_ms = getattr(event.event_specific_data, "duration_ms", None)
                if duration_ms is not None:
                    durations[event.step_key] = (
                        durations.get(event.step_key, 0.0) + float(duration_ms) / 1000
                    )
    return durations


def failed_steps(home: Path, run_ids: Sequence[str]) -> list[str]:
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        return [
            record.dagster_event.step_key or "?"
            for run_id in run_ids
            for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
            if record.dagster_event is not None
        ]


CATALOG_ASSETS = ("raw_customers", "products")
CATALOG_STEPS = set(CATALOG_ASSETS)
STEP_PARTS = {"a_setup", "a_weeks"}


def backfill(
    setup: DagsterSetup,
    first: str,
    last: str,
    logs: Path,
    say: Callable[[str], None],
) -> tuple[Measurement, Measurement, Measurement]:
    """Every purchase asset, every week first..last, in one Dagster run (one CLI call).

    Returns the run, the catalog steps' part of its compute and the weekly steps' part:
    `compute_s` of the run counts the weekly assets only, as for (b).
    """
    selection = ",".join(CATALOG_ASSETS + WEEKLY_ASSETS)
    run = setup.materialize(selection, [first, last], logs / "backfill.log", say)
    catalog = Measurement(error=run.error)
    weeks = Measurement(error=run.error)
    catalog.steps = {k: v for k, v in run.steps.items() if k in CATALOG_STEPS}
    weeks.steps = {k: v for k, v in run.steps.items() if k not in CATALOG_STEPS}
    catalog.compute_s = sum(catalog.steps.values()) if catalog.steps else None
    weeks.compute_s = sum(weeks.steps.values()) if weeks.steps else None
    run.compute_s = weeks.compute_s
    run.steps = dict(weeks.steps)
    return run, catalog, weeks


# ---------------------------------------------------------------------------------------
# DuckDB


def duckdb_job(source: Path, out: Path, first: str, last: str, work: Path) -> Path:
    sql = string.Template(SQL_TEMPLATE.read_text()).substitute(
        source=source.as_posix(),
        out=out.as_posix(),
        first_week=first,
        last_week=last,
        tolerance_days=TOLERANCE_DAYS,
    )
    path = work / "duckdb_weekly_counts.sql"
    path.write_text(sql)
    return path


def floor_sql(source: Path, work: Path) -> Path:
    path = work / "duckdb_scan_floor.sql"
    path.write_text(
        "SELECT count(*) AS transactions, sum(len(basket)) AS basket_items\n"
        f"FROM read_json('{source.as_posix()}/transactions/d=*/transactions.json',\n"
        "    format = 'newline_delimited', ignore_errors = true,\n"
        "    columns = {'customer_id': 'VARCHAR',\n"
        "               'basket': 'STRUCT(product_id VARCHAR, price BIGINT)[]',\n"
        "               'date_of_purchase': 'TIMESTAMP'});\n"
    )
    return path


DUCKDB_RUNNER = (
    "import sys, duckdb\n"
    "connection = duckdb.connect()\n"
    "connection.execute('SET enable_progress_bar = false')\n"
    "print(connection.execute(open(sys.argv[1]).read()).fetchall())\n"
)


def run_duckdb(sql: Path, log: Path, say: Callable[[str], None]) -> Measurement:
    return measure([sys.executable, "-c", DUCKDB_RUNNER, str(sql)], os.environ, log, say)


# ---------------------------------------------------------------------------------------
# Row-for-row agreement


def _normalised(path: Path) -> pl.DataFrame:
    frame = pl.scan_parquet(f"{path.as_posix()}/**/*.parquet", hive_partitioning=True)
    return (
        frame.select(
            pl.col("week").cast(pl.String).str.slice(0, 10).str.to_date(),
            pl.col("customer_id").cast(pl.String),
            pl.col("loyalty_score").cast(pl.Int64),
            pl.col("product_id").cast(pl.String),
            pl.col("product_category").cast(pl.String),
            pl.col("purchase_count").cast(pl.Int64),
        )
        .sort(COUNT_COLUMNS, nulls_last=True)
        .collect()
    )


def compare(dagster_out: Path, duckdb_out: Path) -> tuple[bool, str]:
    """Whether the two weekly_purchase_counts tables are equal, and how they differ if not."""
    try:
        ours = _normalised(dagster_out)
        theirs = _normalised(duckdb_out)
    except Exception as error:  # a missing or unreadable table is a result too
        return False, f"cannot read the outputs: {error}"
    try:
        polars.testing.assert_frame_equal(ours, theirs)
    except AssertionError as error:
        only_ours = ours.join(theirs, on=COUNT_COLUMNS, how="anti", nulls_equal=True)
        only_theirs = theirs.join(ours, on=COUNT_COLUMNS, how="anti", nulls_equal=True)
        with pl.Config(tbl_rows=10, tbl_formatting="MARKDOWN", tbl_hide_dataframe_shape=True):
            detail = (
                f"DIFFERENT: {ours.height:,} rows from Dagster, {theirs.height:,} from DuckDB; "
                f"{only_ours.height:,} only in Dagster, {only_theirs.height:,} only in DuckDB."
                f"\n{str(error).splitlines()[0]}"
                f"\nOnly in Dagster (first 10):\n{only_ours.head(10)}"
                f"\nOnly in DuckDB (first 10):\n{only_theirs.head(10)}"
            )
        return False, detail
    return True, f"OK: {ours.height:,} rows, identical after sorting"


def compare_in_child(dagster_out: Path, duckdb_out: Path) -> tuple[bool, str]:
    """`compare` in a child process, so that this process stays small for the next runs."""
    command = [sys.executable, "-m", "bench.purchases_bench", "--compare"]
    done = subprocess.run(
        [*command, str(dagster_out), str(duckdb_out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        ok, detail = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return False, f"the comparison crashed: {' '.join(error_lines(done.stderr))}"
    return bool(ok), str(detail)


# ---------------------------------------------------------------------------------------
# Report


def _median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


@dataclass
class Summary:
    wall_s: float | None
    peak_mib: float | None
    max_process_mib: float | None
    compute_s: float | None
    steps: dict[str, float]
    runs: int
    errors: list[str]


def summarise(results: Sequence[Measurement]) -> Summary:
    good = [result for result in results if result.error is None]
    step_names = sorted({name for result in good for name in result.steps})
    return Summary(
        wall_s=_median([r.wall_s for r in good]),
        peak_mib=_median([r.peak_mib for r in good]),
        max_process_mib=_median([r.max_process_mib for r in good]),
        compute_s=_median([r.compute_s for r in good]),
        steps={name: _median([r.steps.get(name) for r in good]) or 0.0 for name in step_names},
        runs=len(good),
        errors=[r.error for r in results if r.error is not None],
    )


def _cell(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _difference(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or bottom is None else top - bottom


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or not bottom else top / bottom


def _check(name: str, ok: bool | None, detail: str) -> str:
    verdict = "n/a " if ok is None else ("PASS" if ok else "FAIL")
    return f"- **{verdict}** {name}: {detail}"


def report(
    scale_name: str,
    scale: Scale,
    data: Mapping[str, object],
    half_weeks: int,
    summaries: Mapping[str, Summary],
    agreement: str,
    agreement_ok: bool | None,
    repeats: int,
    notes: Sequence[str],
) -> str:
    lines = [
        f"# Purchase counts bench, scale {scale_name}",
        "",
        f"Data: {scale.customers:,} customers x {scale.days} days from {START} "
        f"({scale.weeks} complete weeks), "
        f"{int(str(data.get('transaction_bytes', 0))) / 1e6:,.1f} MB of JSON Lines, "
        f"{int(str(data.get('transactions', 0))):,} transactions, "
        f"{int(str(data.get('basket_items', 0))):,} basket items. "
        f"Medians of {repeats} repeat(s).",
        "",
        "| implementation | wall s | peak MiB | compute s | wall - compute s "
        "| largest process MiB | runs |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for part in PARTS:
        summary = summaries.get(part.key)
        if summary is None:
            continue
        label = part.label.replace("first half of the weeks", f"first {half_weeks} weeks")
        label = label.replace("full history", f"{scale.weeks} weeks history")
        if summary.runs == 0:
            lines.append(f"| {label} | FAILED | | | | | 0 |")
            continue
        if part.key in STEP_PARTS:  # parts of (a)'s one run: only their compute is their own
            lines.append(f"| {label} | | | {_cell(summary.compute_s, 2)} | | | {summary.runs} |")
            continue
        lines.append(
            f"| {label} | {_cell(summary.wall_s)} | {_cell(summary.peak_mib, 0)} | "
            f"{_cell(summary.compute_s, 2)} | "
            f"{_cell(_difference(summary.wall_s, summary.compute_s))} | "
            f"{_cell(summary.max_process_mib, 0)} | "
            f"{summary.runs} |"
        )
    lines += [
        "",
        "wall: start to exit of the command(s), Python and Dagster start-up included. "
        "peak: the largest sum of PSS over the whole process tree (sampled every 0.05 s), "
        "or the largest single process's max RSS if higher. compute: the sum of the weekly "
        "assets' step durations from Dagster's own STEP_SUCCESS events (for (a), the weekly "
        "assets' steps of its one run; the catalog's steps are shown apart), so wall - "
        "compute is start-up, orchestration and the catalog.",
    ]

    def get(key: str, attribute: str) -> float | None:
        summary = summaries.get(key)
        value = getattr(summary, attribute) if summary is not None else None
        return value if isinstance(value, float | int) else None

    a_wall, c_wall, d_wall = get("a", "wall_s"), get("c", "wall_s"), get("d", "wall_s")
    a_compute, b_compute = get("a", "compute_s"), get("b", "compute_s")
    b_short = get("b_short", "compute_s")
    a_peak, a_half_peak = get("a", "peak_mib"), get("a_half", "peak_mib")
    a_c, a_d = _ratio(a_wall, c_wall), _ratio(a_wall, d_wall)
    b_a = _ratio(b_compute, a_compute)
    b_a_wall = _ratio(get("b", "wall_s"), a_wall)
    lines += [
        "",
        "## Ratios",
        "",
        f"- a/c (wall): {_cell(a_c, 2)}",
        f"- a/d (wall): {_cell(a_d, 2)}",
        f"- b/a (compute of the weekly assets): {_cell(b_a, 4)}"
        + (f" = 1/{1 / b_a:,.0f}" if b_a else "")
        + f" (by wall: {_cell(b_a_wall, 3)})",
        "",
        "## Targets",
        "",
        *(
            []
            if scale_name == "large"
            else [
                "The targets are set for the large scale (104 weeks); here they only smoke-test.",
                "",
            ]
        ),
        _check(
            "full backfill wall <= 1.0 x DuckDB whole job",
            None if a_c is None else a_c <= 1.0,
            f"a/c = {_cell(a_c, 2)}",
        ),
        _check(
            "full backfill peak memory <= 1 GiB",
            None if a_peak is None else a_peak <= 1024,
            f"{_cell(a_peak, 0)} MiB",
        ),
    ]
    peak_ratio = _ratio(a_peak, a_half_peak)
    lines.append(
        _check(
            f"backfill peak memory the same ±15 % for {half_weeks} and {scale.weeks} weeks",
            None if peak_ratio is None else abs(peak_ratio - 1) <= 0.15,
            f"{_cell(a_half_peak, 0)} MiB vs {_cell(a_peak, 0)} MiB "
            f"({_cell(None if peak_ratio is None else (peak_ratio - 1) * 100, 1)} %)",
        )
    )
    lines.append(
        _check(
            "one incremental week's compute <= 1/50 of the full backfill's",
            None if b_a is None else b_a <= 1 / 50,
            f"{_cell(b_compute, 2)} s vs {_cell(a_compute, 2)} s",
        )
    )
    short_ratio = _ratio(b_compute, b_short)
    lines.append(
        _check(
            f"incremental week's compute the same ±20 % at {SHORT_HISTORY_WEEKS} and "
            f"{scale.weeks} weeks of history",
            None if short_ratio is None else abs(short_ratio - 1) <= 0.20,
            f"{_cell(b_short, 2)} s vs {_cell(b_compute, 2)} s "
            f"({_cell(None if short_ratio is None else (short_ratio - 1) * 100, 1)} %)",
        )
    )
    lines += [
        _check("(a) and (c) agree row for row", agreement_ok, agreement.splitlines()[0]),
        "",
    ]
    if agreement_ok is False and "\n" in agreement:
        lines += ["```", *agreement.splitlines()[1:], "```", ""]

    for key, title in (("a", "(a) full backfill"), ("b", "(b) one incremental week")):
        summary = summaries.get(key)
        if summary is not None and summary.steps:
            lines += [f"Step compute, {title} (s):", ""]
            lines += [f"- {name}: {seconds:.2f}" for name, seconds in summary.steps.items()]
            lines.append("")

    errors = [
        f"- {part.label.strip()}: {error}"
        for part in PARTS
        if (summary := summaries.get(part.key)) is not None
        for error in dict.fromkeys(summary.errors)
    ]
    if errors or notes:
        lines += ["## Problems", "", *notes, *errors, ""]
    lines += ["## Machine", "", *machine(), ""]
    return "\n".join(lines)


def machine() -> list[str]:
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
    from importlib.metadata import version

    return [
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        f"- nproc: {os.cpu_count()} ({cpu})",
        f"- total memory: {memory}",
        f"- {platform.platform()}, Python {platform.python_version()}",
        f"- dagster {version('dagster')}, duckdb {duckdb.__version__}, polars {pl.__version__}",
    ]


# ---------------------------------------------------------------------------------------
# The bench


def week(index: int) -> str:
    return (START + dt.timedelta(weeks=index)).isoformat()


def run(scale_name: str, repeats: int, parts: set[str], keep: bool, module: str) -> str:
    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    scale = SCALES[scale_name]
    source, data = dataset(scale, say)
    first, last = week(0), week(scale.weeks - 1)
    half_weeks = max(1, scale.weeks // 2)
    short_weeks = min(SHORT_HISTORY_WEEKS, scale.weeks)
    notes: list[str] = []
    missing = dagster_available(module)
    dagster_parts = {"a", "b", "a_half", "b_short"}
    if missing and parts & dagster_parts:
        notes.append(f"- Dagster parts (a), (a'), (b), (b') not run: {missing}.")
        parts = parts - dagster_parts

    results: dict[str, list[Measurement]] = {part.key: [] for part in PARTS}
    agreement, agreement_ok = "not compared: (a) or (c) did not run", None
    stamp = f"{dt.datetime.now():%Y%m%d-%H%M%S}"
    work_root = BENCH_DIR / "runs" / f"{scale_name}-{stamp}"
    for repeat in range(1, repeats + 1):
        say(f"repeat {repeat}/{repeats}")
        work = work_root / f"repeat-{repeat}"
        work.mkdir(parents=True)
        logs = work / "logs"
        full: DagsterSetup | None = None
        if "a" in parts:
            say(f"(a) Dagster full backfill {first}...{last}")
            full = DagsterSetup.fresh(work, "full", source, module)
            total, setup_part, weeks = backfill(full, first, last, logs / "a", say)
            results["a"].append(total)
            results["a_setup"].append(setup_part)
            results["a_weeks"].append(weeks)
        duckdb_out = work / "duckdb_out"
        if "c" in parts:
            say("(c) DuckDB whole job")
            sql = duckdb_job(source, duckdb_out, first, last, work)
            results["c"].append(run_duckdb(sql, logs / "c.log", say))
        if "d" in parts:
            say("(d) DuckDB scan floor")
            results["d"].append(run_duckdb(floor_sql(source, work), logs / "d.log", say))
            if results["d"][-1].error is None:
                counted = (logs / "d.log").read_text().strip().splitlines()[-1:]
                say(f"    counted (transactions, basket items): {' '.join(counted)}")
        if "b" in parts and full is not None and results["a"][-1].error is None:
            say(f"(b) Dagster one incremental week {last} at {scale.weeks} weeks of history")
            results["b"].append(
                full.materialize(",".join(WEEKLY_ASSETS), [last], logs / "b.log", say)
            )
        if repeat == 1 and full is not None and "c" in parts:
            if results["a"][-1].error is None and results["c"][-1].error is None:
                say("comparing (a) and (c) row for row")
                agreement_ok, agreement = compare_in_child(
                    full.warehouse / "weekly_purchase_counts", duckdb_out
                )
                say(f"    {agreement.splitlines()[0]}")
            else:
                agreement = "not compared: (a) or (c) failed"
        if not keep:
            shutil.rmtree(work / "full", ignore_errors=True)
            shutil.rmtree(duckdb_out, ignore_errors=True)
        if "a_half" in parts:
            say(f"(a') Dagster backfill of the first {half_weeks} weeks")
            half = DagsterSetup.fresh(work, "half", source, module)
            total, _, _ = backfill(half, first, week(half_weeks - 1), logs / "a_half", say)
            results["a_half"].append(total)
            if not keep:
                shutil.rmtree(work / "half", ignore_errors=True)
        if "b_short" in parts:
            say(f"(b') Dagster one incremental week at {short_weeks} weeks of history")
            short_source = short_history(source, short_weeks, work)
            short = DagsterSetup.fresh(work, "short", short_source, module)
            short_last = week(short_weeks - 1)
            built, _, _ = backfill(short, first, short_last, logs / "b_short_setup", say)
            if built.error is None:
                results["b_short"].append(
                    short.materialize(
                        ",".join(WEEKLY_ASSETS), [short_last], logs / "b_short.log", say
                    )
                )
            else:
                results["b_short"].append(Measurement(error=f"building history: {built.error}"))
            if not keep:
                shutil.rmtree(work / "short", ignore_errors=True)
        if results["a"] and results["a"][-1].error is not None and repeat < repeats:
            notes.append(f"- (a) failed in repeat {repeat}: the Dagster parts were not repeated.")
            parts = parts - dagster_parts

    summaries = {key: summarise(values) for key, values in results.items() if values}
    text = report(
        scale_name,
        scale,
        data,
        half_weeks,
        summaries,
        agreement,
        agreement_ok,
        repeats,
        notes,
    )
    say(f"logs and scratch under {work_root}")
    return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.purchases_bench",
        description="Weekly purchase counts: Dagster backfill vs DuckDB on the same files.",
    )
    parser.add_argument(
        "--scale", choices=sorted(SCALES), default=os.environ.get("SCALE") or "large"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--parts",
        default="a,b,c,d,a_half,b_short",
        help="comma-separated subset of a,b,c,d,a_half,b_short (default: all)",
    )
    parser.add_argument("--keep", action="store_true", help="keep warehouses and outputs")
    parser.add_argument(
        "--module",
        default=DEFINITIONS_MODULE,
        help="the Dagster definitions module (another one only to test the harness)",
    )
    parser.add_argument("--compare", nargs=2, metavar=("DAGSTER_OUT", "DUCKDB_OUT"), help=SUPPRESS)
    args = parser.parse_args(argv)
    if args.compare:
        print(json.dumps(compare(Path(args.compare[0]), Path(args.compare[1]))))
        return 0
    parts = {part.strip() for part in args.parts.split(",") if part.strip()}
    unknown = parts - {"a", "b", "c", "d", "a_half", "b_short"}
    if unknown or args.repeats < 1:
        parser.error(f"unknown parts {sorted(unknown)}" if unknown else "--repeats must be >= 1")
    text = run(args.scale, args.repeats, parts, args.keep, args.module)
    print(text)
    BENCH_DIR.mkdir(exist_ok=True)
    (BENCH_DIR / f"results-{args.scale}.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
