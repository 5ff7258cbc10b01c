"""The bench's report: one markdown page from the summaries of every part.

``PARTS`` names the rows of the table in their order; (a1) and (a2) are parts of (a)'s one
run, so only their compute is shown. ``report`` renders the heading with the data's size, the
table (wall, peak memory, compute, wall - compute, largest process, CPU seconds, successful
runs), the ratios a/c, a/d, e/c, s/c, the same work's CPU floor (what (s) would take with
every core busy throughout, over (c)), what (b)'s week costs outside Dagster (s1 - p), the
best a/c an unchecked DuckDB pass per week could give ((e) plus (a)'s start-up and
orchestration, over (c)), b/a, b - f and b/f and the cost curve (a and c
at the smaller scales, one ``CurvePoint`` each, and the main scale), memory by density (the
three weeks' backfill at 1x, 3x and 10x the customers, one ``DensityPoint`` each), the
scale-out part (``scale_out.ScaleOut``: both walls, the speed-up, the runs), the targets as
PASS / FAIL / n/a (set for the large scale), the row-for-row agreement, the per-step compute
of (a) and (b), any problems and the machine's facts. Apart from those facts it is pure: the
same summaries give the same text.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from bench.purchases.dataset import DENSITIES, DENSITY_WEEKS, SHORT_HISTORY_WEEKS, START, Scale
from bench.purchases.machine import machine
from bench.purchases.scale_out import ScaleOut
from bench.purchases.summary import Summary


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
    Part("f", "(f) Dagster floor: a trivial asset, same CLI"),
    Part("f_frozen", "(f*) the same floor, frozen as the project is"),
    Part("c", "(c) DuckDB whole job"),
    Part("e", "(e) DuckDB per week, unchecked: exploded table + counts"),
    Part("s", "(s) the project's core in a plain loop, no Dagster: the same three tables"),
    Part("s_week", "(s1) the same for (b)'s week alone, no Dagster"),
    Part("p", "(p) the bare Python interpreter: `python -c pass`"),
    Part("d", "(d) DuckDB scan floor"),
)
STEP_PARTS = {"a_setup", "a_weeks"}

# The targets (set for the large scale, 104 weeks).
MAX_A_OVER_C = 1.5
MAX_PEAK_MIB = 512
PEAK_TOLERANCE = 0.15
MAX_B_OVER_FLOOR_S = 0.5
SHORT_TOLERANCE = 0.20
CURVE_GROWTH = 1.10
DENSITY_GROWTH = 1.15
"""Seconds per GB "stay flat" from 1x to 10x: each density's compute s/GB is at most this
times the 1x density's."""


@dataclass(frozen=True)
class CurvePoint:
    """(a) and (c) at one scale of the cost curve; `json_bytes` is the dataset's size."""

    scale_name: str
    weeks: int
    json_bytes: int
    a: Summary | None
    c: Summary | None

    @property
    def a_c(self) -> float | None:
        return _ratio(_wall(self.a), _wall(self.c))


@dataclass(frozen=True)
class DensityPoint:
    """The full backfill of DENSITY_WEEKS weeks at `factor` times the scale's customers;
    `json_bytes` is what those weeks' day files hold."""

    factor: int
    customers: int
    json_bytes: int
    summary: Summary
    same_work: Summary | None = None
    """(s) over the same weeks of the same feed: the project's core without Dagster."""

    @property
    def same_work_peak(self) -> float | None:
        same = self.same_work
        return None if same is None or same.runs == 0 else same.peak_mib

    @property
    def ok(self) -> bool:
        return self.summary.runs > 0

    @property
    def s_per_gb(self) -> float | None:
        """The weekly steps' compute per GB of JSON: start-up excluded."""
        return _ratio(self.summary.compute_s, self.json_bytes / 1e9) if self.ok else None

    @property
    def wall_s_per_gb(self) -> float | None:
        return _ratio(self.summary.wall_s, self.json_bytes / 1e9) if self.ok else None


EXPLANATION = (
    "wall: start to exit of the command(s), Python and Dagster start-up included. "
    "peak: the largest sum of RSS over the whole process tree (sampled every 0.05 s from "
    "the kernel's counters), or the largest single process's max RSS if higher. compute: "
    "the sum of the weekly assets' step durations from Dagster's own STEP_SUCCESS events "
    "(for (a), the weekly assets' steps of its one run; the catalog's steps are shown "
    "apart), so wall - compute is start-up, orchestration and the catalog. (f) is the same "
    "CLI materialising one asset that returns a constant, in a fresh instance after one "
    "untimed warm-up run, in process as the project's runs: b - f is what the incremental "
    "week costs beyond Dagster's own floor. (f*) is (f) with the gc.freeze() the project's "
    "definitions end with: b - f* is the week's cost beyond Dagster on equal terms. (e) does "
    "the work of the two weekly tables in DuckDB, one pass per week with no check at all: "
    "the best the first lever (DuckDB writing the weeks itself) could give."
)


def _cell(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _difference(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or bottom is None else top - bottom


def _ratio(top: float | None, bottom: float | None) -> float | None:
    return None if top is None or not bottom else top / bottom


def _wall(summary: Summary | None) -> float | None:
    return None if summary is None else summary.wall_s


def _percent(ratio: float | None) -> str:
    return _cell(None if ratio is None else (ratio - 1) * 100, 1)


def _check(name: str, ok: bool | None, detail: str) -> str:
    verdict = "n/a " if ok is None else ("PASS" if ok else "FAIL")
    return f"- **{verdict}** {name}: {detail}"


def _table(scale: Scale, half_weeks: int, summaries: Mapping[str, Summary]) -> list[str]:
    lines = [
        "| implementation | wall s | peak MiB | compute s | wall - compute s "
        "| largest process MiB | CPU s | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for part in PARTS:
        summary = summaries.get(part.key)
        if summary is None:
            continue
        label = part.label.replace("first half of the weeks", f"first {half_weeks} weeks")
        label = label.replace("full history", f"{scale.weeks} weeks history")
        if summary.runs == 0:
            lines.append(f"| {label} | FAILED | | | | | | 0 |")
            continue
        if part.key in STEP_PARTS:  # parts of (a)'s one run: only their compute is their own
            lines.append(f"| {label} | | | {_cell(summary.compute_s, 2)} | | | | {summary.runs} |")
            continue
        lines.append(
            f"| {label} | {_cell(summary.wall_s)} | {_cell(summary.peak_mib, 0)} | "
            f"{_cell(summary.compute_s, 2)} | "
            f"{_cell(_difference(summary.wall_s, summary.compute_s))} | "
            f"{_cell(summary.max_process_mib, 0)} | "
            f"{_cell(summary.cpu_s)} | "
            f"{summary.runs} |"
        )
    return lines


def _curve_wall(summary: Summary | None) -> str:
    if summary is not None and summary.runs == 0:
        return "FAILED"
    return _cell(_wall(summary))


def _curve_table(points: Sequence[CurvePoint]) -> list[str]:
    lines = [
        "| scale | weeks | MB of JSON | (a) wall s | (c) wall s | a/c |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {point.scale_name} | {point.weeks} | {point.json_bytes / 1e6:,.1f} | "
        f"{_curve_wall(point.a)} | {_curve_wall(point.c)} | {_cell(point.a_c, 2)} |"
        for point in points
    ]
    return lines


def _curve_steps(points: Sequence[CurvePoint]) -> str:
    """'small 2.10, medium 2.20 (x1.05), ...': each a/c and its growth over the one before."""
    steps = []
    for index, point in enumerate(points):
        step = f"{point.scale_name} {_cell(point.a_c, 2)}"
        if index:
            growth = _ratio(point.a_c, points[index - 1].a_c)
            step += f" (x{_cell(growth, 2)})"
        steps.append(step)
    return ", ".join(steps)


def _curve_verdict(points: Sequence[CurvePoint]) -> bool | None:
    """FAIL when a larger scale's a/c exceeds the next smaller one's by more than 10 %.

    PASS only when every scale has its a/c; n/a without a smaller scale or with a gap.
    """
    if len(points) < 2:
        return None
    ratios = [point.a_c for point in points]
    for smaller, larger in pairwise(ratios):
        if smaller is not None and larger is not None and larger > smaller * CURVE_GROWTH:
            return False
    return None if None in ratios else True


def _density_table(points: Sequence[DensityPoint]) -> list[str]:
    lines = [
        "",
        "## Memory by density",
        "",
        f"One full backfill of {DENSITY_WEEKS} weeks through Dagster at each density, as (a) "
        "runs it (fresh instance and warehouse), on feeds of the same generator with "
        f"{', '.join(f'{f}x' for f in DENSITIES)} the scale's customers. compute s/GB: the "
        "weekly steps' compute over the GB of JSON in those weeks (the flatness target); wall "
        "s/GB includes start-up, which a small feed does not amortise. (s) peak: the same "
        "weeks through the same-work script of part (s) without Dagster, one week at a time "
        "(each week counted after it is written, never beside another): what the project's "
        "core needs for a week of that density.",
        "",
        "| density | customers | MB of JSON | wall s | compute s | peak MiB | compute s/GB "
        "| wall s/GB | (s) peak MiB | runs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for point in points:
        head = f"| {point.factor}x | {point.customers:,} | {point.json_bytes / 1e6:,.1f} |"
        if not point.ok:
            lines.append(f"{head} FAILED | | | | | {_cell(point.same_work_peak, 0)} | 0 |")
            continue
        summary = point.summary
        lines.append(
            f"{head} {_cell(summary.wall_s)} | {_cell(summary.compute_s, 2)} | "
            f"{_cell(summary.peak_mib, 0)} | {_cell(point.s_per_gb)} | "
            f"{_cell(point.wall_s_per_gb)} | {_cell(point.same_work_peak, 0)} | "
            f"{summary.runs} |"
        )
    lines += ["", f"- {_marginal(points)}"]
    return lines


def _marginal(points: Sequence[DensityPoint]) -> str:
    """The compute each GB added from the lowest density to the highest costs: the fixed
    part of each step, which raises the 1x's s/GB, cancels out."""
    measured = [p for p in points if p.ok and p.summary.compute_s is not None]
    value, span = None, "—"
    if len(measured) > 1:
        low, high = measured[0], measured[-1]
        added = _difference(high.summary.compute_s, low.summary.compute_s)
        value = _ratio(added, (high.json_bytes - low.json_bytes) / 1e9)
        span = f"{low.factor}x to {high.factor}x"
    return (
        f"compute per added GB, {span} (for information; the steps' fixed cost cancels "
        f"out): {_cell(value)} s/GB"
    )


def _density_steps(points: Sequence[DensityPoint]) -> str:
    """'1x 27.0, 3x 26.0 (x0.96), 10x 28.0 (x1.04) s/GB': each over the 1x density's."""
    base = next((p.s_per_gb for p in points if p.factor == 1), None)
    steps = [
        f"{p.factor}x {_cell(p.s_per_gb)}"
        + ("" if p.factor == 1 else f" (x{_cell(_ratio(p.s_per_gb, base), 2)})")
        for p in points
    ]
    return ", ".join(steps) + " s/GB"


def _density_targets(points: Sequence[DensityPoint]) -> list[str]:
    """Every density's peak within MAX_PEAK_MIB, and its compute s/GB within DENSITY_GROWTH
    of the 1x density's (the ratio to two decimals, as printed); FAIL as soon as one measured
    density fails, PASS only when every density of DENSITIES was measured."""
    names = ", ".join(f"{factor}x" for factor in DENSITIES)
    if not points:
        not_run = "not run (density is not in --parts)"
        return [
            _check(
                f"every density's peak memory at most {MAX_PEAK_MIB} MiB ({names})", None, not_run
            ),
            _check(f"compute s/GB flat from 1x to {DENSITIES[-1]}x", None, not_run),
        ]
    complete = sorted(p.factor for p in points if p.ok) == sorted(DENSITIES)
    peaks = [p.summary.peak_mib for p in points if p.ok and p.summary.peak_mib is not None]
    peak_ok: bool | None = None
    if any(peak > MAX_PEAK_MIB for peak in peaks):
        peak_ok = False
    elif complete and len(peaks) == len(DENSITIES):
        peak_ok = True
    base = next((p.s_per_gb for p in points if p.factor == 1), None)
    # Judged as printed, to two decimals: "x1.15" passes.
    growths = [
        None if (growth := _ratio(p.s_per_gb, base)) is None else round(growth, 2)
        for p in points
        if p.factor != 1
    ]
    flat_ok: bool | None = None
    if any(growth is not None and growth > DENSITY_GROWTH for growth in growths):
        flat_ok = False
    elif complete and None not in growths:
        flat_ok = True
    peak_detail = ", ".join(
        f"{p.factor}x {_cell(p.summary.peak_mib, 0) if p.ok else 'FAILED'}" for p in points
    )
    if any(p.same_work_peak is not None for p in points):
        peak_detail += " MiB; the same work without Dagster " + ", ".join(
            f"{p.factor}x {_cell(p.same_work_peak, 0)}" for p in points
        )
    return [
        _check(
            f"every density's peak memory at most {MAX_PEAK_MIB} MiB ({names})",
            peak_ok,
            f"{peak_detail} MiB",
        ),
        _check(
            f"compute s/GB flat from 1x to {DENSITIES[-1]}x: each <= {DENSITY_GROWTH:.2f} x "
            "the 1x density's",
            flat_ok,
            _density_steps(points),
        ),
    ]


def _scale_out_section(result: ScaleOut) -> list[str]:
    plan = result.plan
    lines = [
        "",
        "## Scale-out",
        "",
        f"The first {plan.weeks} weeks of the {plan.scale_name} feed "
        f"({result.json_bytes / 1e6:,.1f} MB of JSON) as one backfill of the weekly assets in "
        f"runs of {plan.weeks_per_run} week(s) (PURCHASES_WEEKS_PER_RUN={plan.weeks_per_run}, "
        f"{plan.runs} runs), launched as the web UI launches it, on the topology of `make "
        "serve` (code server, web UI, daemon, Celery workers; PostgreSQL, RabbitMQ, Redis). "
        "wall: from the launch to the end of the last run; first run: from the launch to the "
        "first run's start (the daemon's start included). steps: the steps' time on the "
        "workers, summed; busy: steps / (wall x workers). Measured once, after the repeats.",
        "",
    ]
    if result.problem is not None:
        return [*lines, f"Not run: {result.problem}."]
    lines += [
        "| workers | wall s | first run s | runs succeeded | steps s | busy % | MB/s "
        "| MB/s per worker | worker peak MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for each in result.backfills:
        rate = _ratio(result.json_bytes / 1e6, each.wall_s) if each.error is None else None
        busy = _ratio(each.step_s, None if each.wall_s is None else each.wall_s * each.workers)
        lines.append(
            f"| {each.workers} | {_cell(each.wall_s) if each.error is None else 'FAILED'} | "
            f"{_cell(each.first_start_s)} | {each.succeeded}/{each.runs} | "
            f"{_cell(each.step_s)} | {_cell(None if busy is None else busy * 100, 0)} | "
            f"{_cell(rate, 2)} | {_cell(_ratio(rate, each.workers), 2)} | "
            f"{_cell(each.worker_peak_mib, 0)} |"
        )
    lines += ["", f"- speed-up (1-worker wall / 2-worker wall): {_cell(result.speed_up, 2)}"]
    return lines


def _scale_out_target(result: ScaleOut | None) -> str:
    name = "scale-out: the backfill succeeded with 1 and with 2 Celery workers"
    if result is None:
        return _check(name, None, "not run (scale_out is not in --parts)")
    if result.problem is not None:
        return _check(name, None, f"not run: {result.problem}")
    walls = "; ".join(
        f"{each.workers} worker(s) "
        + (f"{_cell(each.wall_s)} s" if each.error is None else "FAILED")
        + f", {each.succeeded}/{each.runs} runs"
        for each in result.backfills
    )
    plan = result.plan
    return _check(
        name,
        result.succeeded,
        f"{walls}; speed-up {_cell(result.speed_up, 2)} (a measurement, not a target); "
        f"{plan.weeks} weeks in runs of {plan.weeks_per_run}",
    )


def _ratios_and_targets(
    scale_name: str,
    scale: Scale,
    half_weeks: int,
    summaries: Mapping[str, Summary],
    agreement: str,
    agreement_ok: bool | None,
    points: Sequence[CurvePoint],
    density: Sequence[DensityPoint],
    scale_out: ScaleOut | None,
    cores: int,
) -> list[str]:
    def get(key: str, attribute: str) -> float | None:
        summary = summaries.get(key)
        value = getattr(summary, attribute) if summary is not None else None
        return value if isinstance(value, float | int) else None

    a_wall, c_wall, d_wall = get("a", "wall_s"), get("c", "wall_s"), get("d", "wall_s")
    b_wall, f_wall = get("b", "wall_s"), get("f", "wall_s")
    f_frozen_wall = get("f_frozen", "wall_s")
    a_compute, b_compute = get("a", "compute_s"), get("b", "compute_s")
    e_wall, a_weeks = get("e", "wall_s"), get("a_weeks", "compute_s")
    e_c = _ratio(e_wall, c_wall)
    s_wall = get("s", "wall_s")
    s_c, a_minus_s = _ratio(s_wall, c_wall), _difference(a_wall, s_wall)
    a_cpu, s_cpu, c_cpu = get("a", "cpu_s"), get("s", "cpu_s"), get("c", "cpu_s")
    # The least wall any schedule of (s)'s work could take: every core busy throughout.
    s_floor_c = _ratio(None if s_cpu is None else s_cpu / cores, c_wall)
    week_outside = _difference(get("s_week", "wall_s"), get("p", "wall_s"))
    # Lever 1 at its best: (e)'s pass in place of the weekly steps, the rest of (a) as it is.
    a_rest = _difference(a_wall, a_weeks)  # start-up, orchestration and the catalog
    best_a_c = _ratio(None if e_wall is None or a_rest is None else e_wall + a_rest, c_wall)
    b_short = get("b_short", "compute_s")
    a_peak, a_half_peak = get("a", "peak_mib"), get("a_half", "peak_mib")
    a_c, a_d = _ratio(a_wall, c_wall), _ratio(a_wall, d_wall)
    b_a = _ratio(b_compute, a_compute)
    b_a_wall = _ratio(b_wall, a_wall)
    b_minus_f, b_f = _difference(b_wall, f_wall), _ratio(b_wall, f_wall)
    b_minus_f_frozen = _difference(b_wall, f_frozen_wall)
    peak_ratio = _ratio(a_peak, a_half_peak)
    short_ratio = _ratio(b_compute, b_short)
    curve = len(points) > 1
    smoke_only = [
        "The targets are set for the large scale (104 weeks); here they only smoke-test.",
        "",
    ]
    return [
        "",
        "## Ratios",
        "",
        f"- a/c (wall): {_cell(a_c, 2)}",
        f"- a/d (wall): {_cell(a_d, 2)}",
        f"- e/c (wall): {_cell(e_c, 2)}",
        f"- s/c (wall; the same work without Dagster, the best a/c any orchestration of the "
        f"project's core could reach here): {_cell(s_c, 2)}",
        f"- a - s (wall; what Dagster and the project's Dagster layer cost): "
        f"{_cell(a_minus_s, 2)} s",
        f"- CPU s (user + system): a {_cell(a_cpu)}, s {_cell(s_cpu)}, c {_cell(c_cpu)}",
        f"- the same work's CPU floor, (s's CPU / {cores} cores) / c: {_cell(s_floor_c, 2)} "
        f"(what (s) would take with all {cores} cores busy from its start to its end, over "
        "(c): no orchestration of that work gives a lower a/c on this machine)",
        "- s1 - p (wall; (b)'s week done without Dagster, over the bare interpreter: what the "
        f"week itself costs, which (b) adds to Dagster's floor): {_cell(week_outside, 2)} s",
        "- the best a/c with one DuckDB pass per week, (e + a - a2)/c (wall; a - a2 is (a)'s "
        f"start-up, orchestration and catalog): {_cell(best_a_c, 2)}",
        f"- b/a (compute of the weekly assets, for information): {_cell(b_a, 4)}"
        + (f" = 1/{1 / b_a:,.0f}" if b_a else "")
        + f" (by wall: {_cell(b_a_wall, 3)})",
        f"- b - f (wall): {_cell(b_minus_f, 2)} s",
        f"- b/f (wall): {_cell(b_f, 2)}",
        f"- b - f* (wall): {_cell(b_minus_f_frozen, 2)} s",
        "- cost curve, a/c by scale (x growth over the next smaller scale): "
        + (_curve_steps(points) if curve else "not run (--curve '')"),
        *(["", *_curve_table(points)] if curve else []),
        *(_density_table(density) if density else []),
        *(_scale_out_section(scale_out) if scale_out is not None else []),
        "",
        "## Targets",
        "",
        *([] if scale_name == "large" else smoke_only),
        _check(
            f"full backfill wall <= {MAX_A_OVER_C} x DuckDB whole job",
            None if a_c is None else a_c <= MAX_A_OVER_C,
            f"a/c = {_cell(a_c, 2)} ({_cell(a_wall)} s vs {_cell(c_wall)} s)"
            + ("" if s_floor_c is None else f"; the same work's CPU floor {s_floor_c:.2f}"),
        ),
        _check(
            f"full backfill peak memory <= {MAX_PEAK_MIB} MiB",
            None if a_peak is None else a_peak <= MAX_PEAK_MIB,
            f"{_cell(a_peak, 0)} MiB",
        ),
        _check(
            f"backfill peak memory the same ±{PEAK_TOLERANCE * 100:.0f} % for {half_weeks} and "
            f"{scale.weeks} weeks",
            None if peak_ratio is None else abs(peak_ratio - 1) <= PEAK_TOLERANCE,
            f"{_cell(a_half_peak, 0)} MiB vs {_cell(a_peak, 0)} MiB ({_percent(peak_ratio)} %)",
        ),
        _check(
            f"one incremental week within {MAX_B_OVER_FLOOR_S} s of Dagster's floor",
            None if b_minus_f is None else b_minus_f <= MAX_B_OVER_FLOOR_S,
            f"b - f = {_cell(b_minus_f, 2)} s ({_cell(b_wall, 2)} s vs {_cell(f_wall, 2)} s)"
            + (
                ""
                if week_outside is None
                else f"; the week without Dagster s1 - p = {week_outside:.2f} s"
            ),
        ),
        _check(
            f"one incremental week within {MAX_B_OVER_FLOOR_S} s of the floor frozen as the "
            "project is",
            None if b_minus_f_frozen is None else b_minus_f_frozen <= MAX_B_OVER_FLOOR_S,
            f"b - f* = {_cell(b_minus_f_frozen, 2)} s ({_cell(b_wall, 2)} s vs "
            f"{_cell(f_frozen_wall, 2)} s)",
        ),
        _check(
            f"incremental week's compute the same ±{SHORT_TOLERANCE * 100:.0f} % at "
            f"{SHORT_HISTORY_WEEKS} and {scale.weeks} weeks of history",
            None if short_ratio is None else abs(short_ratio - 1) <= SHORT_TOLERANCE,
            f"{_cell(b_short, 2)} s vs {_cell(b_compute, 2)} s ({_percent(short_ratio)} %)",
        ),
        _check(
            f"a/c does not grow with scale: each <= {CURVE_GROWTH:.2f} x the next smaller scale's",
            _curve_verdict(points),
            _curve_steps(points) if curve else "no smaller scale measured (--curve '')",
        ),
        _check("(a) and (c) agree row for row", agreement_ok, agreement.splitlines()[0]),
        *_density_targets(density),
        _scale_out_target(scale_out),
        "",
    ]


def _details(
    summaries: Mapping[str, Summary],
    agreement: str,
    agreement_ok: bool | None,
    notes: Sequence[str],
    curve: Sequence[CurvePoint],
    density: Sequence[DensityPoint],
    scale_out: ScaleOut | None,
) -> list[str]:
    lines: list[str] = []
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
    errors += [
        f"- {name} at scale {point.scale_name} (cost curve): {error}"
        for point in curve
        for name, summary in (("(a) Dagster full backfill", point.a), ("(c) DuckDB", point.c))
        if summary is not None
        for error in dict.fromkeys(summary.errors)
    ]
    errors += [
        f"- density {point.factor}x, full backfill of {DENSITY_WEEKS} weeks: {error}"
        for point in density
        for error in dict.fromkeys(point.summary.errors)
    ]
    errors += [
        f"- scale-out with {each.workers} worker(s): {each.error}"
        for each in (scale_out.backfills if scale_out is not None else [])
        if each.error is not None
    ]
    if errors or notes:
        lines += ["## Problems", "", *notes, *errors, ""]
    return lines


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
    curve: Sequence[CurvePoint] = (),
    density: Sequence[DensityPoint] = (),
    scale_out: ScaleOut | None = None,
    now: dt.datetime | None = None,
    cores: int | None = None,
) -> str:
    """The whole markdown page; `data` is the generator's summary of the dataset; `now` the
    date the page gives (default: the current time); `cores` the CPUs the bench could use
    (default: this process's), which sizes the same work's CPU floor. `density` holds the
    memory-by-density backfills (any order), `scale_out` the scale-out part (None: not run).

    `curve` holds (a) and (c) at the other scales of the cost curve; the main scale's point
    comes from `summaries`, and the points are ordered by weeks, then size (the main scale
    after a curve scale of the same size).
    """
    main = CurvePoint(
        f"{scale_name} (main)" if curve else scale_name,
        scale.weeks,
        int(str(data.get("transaction_bytes", 0))),
        summaries.get("a"),
        summaries.get("c"),
    )
    points = sorted([*curve, main], key=lambda point: (point.weeks, point.json_bytes))
    densities = sorted(density, key=lambda point: point.factor)
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
        *_table(scale, half_weeks, summaries),
        "",
        EXPLANATION,
        *_ratios_and_targets(
            scale_name,
            scale,
            half_weeks,
            summaries,
            agreement,
            agreement_ok,
            points,
            densities,
            scale_out,
            len(os.sched_getaffinity(0)) if cores is None else cores,
        ),
        *_details(summaries, agreement, agreement_ok, notes, curve, densities, scale_out),
        "## Machine",
        "",
        *machine(now),
        "",
    ]
    return "\n".join(lines)
