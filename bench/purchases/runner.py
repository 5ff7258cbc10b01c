"""The bench from start to end: the dataset, then every part in every repeat, then the report.

``run`` gets (or generates) the datasets, then in each repeat runs, in this order and each in
a scratch folder ``.bench/runs/<scale>-<time>/repeat-N/``: (a) the full backfill, (c) the
DuckDB job, (e) DuckDB's unchecked pass per week, (d) the scan floor, (f) Dagster's floor (a
trivial asset in a fresh instance, after one untimed warm-up run), (b) one incremental week
on (a)'s warehouse, in the first repeat the row-for-row comparison of (a) and (c), then (a')
the first half of the weeks, (b') one incremental week at short history, the full backfill of
three weeks at each density (1x, 3x and 10x the scale's customers) and, for each scale of the
cost curve, (a) and (c) at that scale. After the repeats, once, the scale-out part: one
backfill on the production topology with 1 and then 2 Celery workers (``scale_out``).
Warehouses and outputs are removed after use unless ``keep``; the Dagster parts are skipped
when the definitions module is missing and not repeated once (a) failed. It returns the
report's text.
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.purchases import BENCH_DIR, FLOOR_ASSET, FLOOR_MODULE
from bench.purchases.compare import compare_in_child
from bench.purchases.dagster_runs import WEEKLY_ASSETS, DagsterSetup, backfill, dagster_available
from bench.purchases.dataset import (
    DENSITIES,
    DENSITY_WEEKS,
    SCALES,
    SHORT_HISTORY_WEEKS,
    TOLERANCE_DAYS,
    Scale,
    dataset,
    density,
    short_history,
    week,
    week_bytes,
)
from bench.purchases.duckdb_per_week import run_per_week
from bench.purchases.duckdb_runs import duckdb_job, floor_sql, run_duckdb
from bench.purchases.measure import Measurement
from bench.purchases.report import PARTS, CurvePoint, DensityPoint, report
from bench.purchases.same_work import run_bare_interpreter, run_same_work
from bench.purchases.scale_out import PLANS, ScaleOut, run_scale_out
from bench.purchases.summary import summarise

ALL_PARTS = frozenset(
    {"a", "b", "c", "d", "e", "f", "s", "a_half", "b_short", "density", "scale_out"}
)
FLOORS = {"f": "defs", "f_frozen": "frozen_defs"}
"""The two floors by result key: Dagster's as it comes (f), and frozen once loaded as the
project's definitions are (f*); see ``floor_definitions``."""
DAGSTER_PARTS = frozenset({"a", "b", "a_half", "b_short", "density", "scale_out"})
"""The parts that run the project's definitions; (f) runs the bench's own trivial module."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def floor(work: Path, source: Path, logs: Path, attribute: str) -> Measurement:
    """(f) or (f*): the trivial asset in a fresh instance, once untimed (its databases), then
    timed; `attribute` names the floor's definitions in FLOOR_MODULE."""
    setup = DagsterSetup.fresh(work, f"floor-{attribute}", source, FLOOR_MODULE, attribute)
    warm = setup.materialize(FLOOR_ASSET, [], logs / f"{attribute}_warm_up.log", say)
    if warm.error is not None:
        return Measurement(error=f"warm-up: {warm.error}")
    return setup.materialize(FLOOR_ASSET, [], logs / f"{attribute}.log", say)


def curve_point(
    work: Path,
    name: str,
    scale: Scale,
    source: Path,
    module: str,
    parts: set[str],
    results: dict[str, list[Measurement]],
) -> None:
    """(a) then (c) at a scale of the cost curve, each appended to `results` by its key."""
    first, last = week(0), week(scale.weeks - 1)
    folder, logs = work / f"curve-{name}", work / "logs" / f"curve-{name}"
    if "a" in parts:
        say(f"(a) at scale {name}: Dagster full backfill {first}...{last}")
        setup = DagsterSetup.fresh(work, folder.name, source, module)
        results["a"].append(backfill(setup, first, last, logs / "a", say)[0])
    if "c" in parts:
        say(f"(c) at scale {name}: DuckDB whole job")
        folder.mkdir(exist_ok=True)
        sql = duckdb_job(source, folder / "duckdb_out", first, last, folder)
        results["c"].append(run_duckdb(sql, logs / "c.log", say))


def run(
    scale_name: str,
    repeats: int,
    parts: set[str],
    keep: bool,
    module: str,
    curve: Sequence[str] = (),
) -> str:
    """The whole bench at `scale_name`, and (a) and (c) at each scale of `curve`."""
    scale = SCALES[scale_name]
    source, data = dataset(scale, say)
    curve_data = {name: dataset(SCALES[name], say) for name in dict.fromkeys(curve)}
    curve_results: dict[str, dict[str, list[Measurement]]] = {
        name: {"a": [], "c": []} for name in curve_data
    }
    density_data = {
        factor: dataset(density(scale, factor), say)[0]
        for factor in (DENSITIES if "density" in parts else ())
    }
    density_results: dict[int, list[Measurement]] = {factor: [] for factor in density_data}
    density_same_work: dict[int, list[Measurement]] = {factor: [] for factor in density_data}
    first, last = week(0), week(scale.weeks - 1)
    half_weeks = max(1, scale.weeks // 2)
    short_weeks = min(SHORT_HISTORY_WEEKS, scale.weeks)
    notes: list[str] = []
    missing = dagster_available(module)
    if missing and parts & DAGSTER_PARTS:
        notes.append(
            f"- Dagster parts (a), (a'), (b), (b'), density, scale-out not run: {missing}."
        )
        parts = parts - DAGSTER_PARTS

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
        if "e" in parts:
            say("(e) DuckDB per week, unchecked: the exploded table and the counts")
            per_week = work / "per_week_out"
            results["e"].append(run_per_week(source, per_week, first, last, logs / "e.log", say))
            if not keep:
                shutil.rmtree(per_week, ignore_errors=True)
        if "s" in parts:
            say("(s) the same work without Dagster: the project's core in a plain loop")
            same = work / "same_work_out"
            results["s"].append(
                run_same_work(source, same, first, last, TOLERANCE_DAYS, logs / "s.log", say)
            )
            if not keep:
                shutil.rmtree(same, ignore_errors=True)
            say(f"(s1) the same work for (b)'s week {last} alone, and (p) the bare interpreter")
            same_week = work / "same_week_out"
            results["s_week"].append(
                run_same_work(source, same_week, last, last, TOLERANCE_DAYS, logs / "s1.log", say)
            )
            shutil.rmtree(same_week, ignore_errors=True)
            results["p"].append(run_bare_interpreter(logs / "p.log", say))
        if "d" in parts:
            say("(d) DuckDB scan floor")
            results["d"].append(run_duckdb(floor_sql(source, work), logs / "d.log", say))
            if results["d"][-1].error is None:
                counted = (logs / "d.log").read_text().strip().splitlines()[-1:]
                say(f"    counted (transactions, basket items): {' '.join(counted)}")
        if "f" in parts:  # next to (b) in time, as its floor
            for key, attribute in FLOORS.items():
                say(f"Dagster floor {key}: {FLOOR_MODULE}:{attribute}")
                results[key].append(floor(work, source, logs, attribute))
                if not keep:
                    shutil.rmtree(work / f"floor-{attribute}", ignore_errors=True)
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
        for factor, density_source in density_data.items() if "density" in parts else ():
            say(f"density {factor}x: Dagster full backfill of {DENSITY_WEEKS} weeks")
            setup = DagsterSetup.fresh(work, f"density-{factor}x", density_source, module)
            total, _, _ = backfill(
                setup, first, week(DENSITY_WEEKS - 1), logs / f"density-{factor}x", say
            )
            density_results[factor].append(total)
            if not keep:
                shutil.rmtree(work / f"density-{factor}x", ignore_errors=True)
            say(f"density {factor}x: the same work without Dagster")
            same_density = work / f"same-work-{factor}x"
            density_same_work[factor].append(
                run_same_work(
                    density_source,
                    same_density,
                    first,
                    week(DENSITY_WEEKS - 1),
                    TOLERANCE_DAYS,
                    logs / f"density-{factor}x-s.log",
                    say,
                    one_at_a_time=True,
                )
            )
            shutil.rmtree(same_density, ignore_errors=True)
        for name, (curve_source, _) in curve_data.items():
            curve_point(work, name, SCALES[name], curve_source, module, parts, curve_results[name])
            if not keep:
                shutil.rmtree(work / f"curve-{name}", ignore_errors=True)
        if results["a"] and results["a"][-1].error is not None and repeat < repeats:
            notes.append(f"- (a) failed in repeat {repeat}: the Dagster parts were not repeated.")
            parts = parts - DAGSTER_PARTS

    scale_out: ScaleOut | None = None
    if "scale_out" in parts:
        plan = PLANS[scale_name]
        plan_source = dataset(SCALES[plan.scale_name], say)[0]
        say(f"scale-out: {plan.weeks} weeks of {plan.scale_name}, runs of {plan.weeks_per_run}")
        scale_out = run_scale_out(
            plan,
            plan_source,
            week_bytes(plan_source, plan.weeks),
            work_root / "scale_out",
            say,
            keep,
        )

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
        [
            CurvePoint(
                name,
                SCALES[name].weeks,
                int(str(curve_data[name][1].get("transaction_bytes", 0))),
                summarise(measured["a"]) if measured["a"] else None,
                summarise(measured["c"]) if measured["c"] else None,
            )
            for name, measured in curve_results.items()
        ],
        [
            DensityPoint(
                factor,
                density(scale, factor).customers,
                week_bytes(density_data[factor], DENSITY_WEEKS),
                summarise(measured),
                summarise(density_same_work[factor]) if density_same_work[factor] else None,
            )
            for factor, measured in density_results.items()
            if measured
        ],
        scale_out,
    )
    say(f"logs and scratch under {work_root}")
    return text
