"""The bench's report: one markdown page from the summaries of every part.

``PARTS`` names the rows of the table in their order; (a1) and (a2) are parts of (a)'s one
run, so only their compute is shown. ``report`` renders the heading with the data's size, the
table (wall, peak memory, compute, wall - compute, largest process, successful runs), the
ratios a/c, a/d and b/a, the targets as PASS / FAIL / n/a (set for the large scale), the
row-for-row agreement, the per-step compute of (a) and (b), any problems and the machine's
facts. Apart from those facts it is pure: the same summaries give the same text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.purchases.dataset import SHORT_HISTORY_WEEKS, START, Scale
from bench.purchases.machine import machine
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
    Part("c", "(c) DuckDB whole job"),
    Part("d", "(d) DuckDB scan floor"),
)
STEP_PARTS = {"a_setup", "a_weeks"}

EXPLANATION = (
    "wall: start to exit of the command(s), Python and Dagster start-up included. "
    "peak: the largest sum of PSS over the whole process tree (sampled every 0.05 s), "
    "or the largest single process's max RSS if higher. compute: the sum of the weekly "
    "assets' step durations from Dagster's own STEP_SUCCESS events (for (a), the weekly "
    "assets' steps of its one run; the catalog's steps are shown apart), so wall - "
    "compute is start-up, orchestration and the catalog."
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


def _table(scale: Scale, half_weeks: int, summaries: Mapping[str, Summary]) -> list[str]:
    lines = [
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
    return lines


def _ratios_and_targets(
    scale_name: str,
    scale: Scale,
    half_weeks: int,
    summaries: Mapping[str, Summary],
    agreement: str,
    agreement_ok: bool | None,
) -> list[str]:
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
    peak_ratio = _ratio(a_peak, a_half_peak)
    short_ratio = _ratio(b_compute, b_short)
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
        f"- b/a (compute of the weekly assets): {_cell(b_a, 4)}"
        + (f" = 1/{1 / b_a:,.0f}" if b_a else "")
        + f" (by wall: {_cell(b_a_wall, 3)})",
        "",
        "## Targets",
        "",
        *([] if scale_name == "large" else smoke_only),
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
        _check(
            f"backfill peak memory the same ±15 % for {half_weeks} and {scale.weeks} weeks",
            None if peak_ratio is None else abs(peak_ratio - 1) <= 0.15,
            f"{_cell(a_half_peak, 0)} MiB vs {_cell(a_peak, 0)} MiB "
            f"({_cell(None if peak_ratio is None else (peak_ratio - 1) * 100, 1)} %)",
        ),
        _check(
            "one incremental week's compute <= 1/50 of the full backfill's",
            None if b_a is None else b_a <= 1 / 50,
            f"{_cell(b_compute, 2)} s vs {_cell(a_compute, 2)} s",
        ),
        _check(
            f"incremental week's compute the same ±20 % at {SHORT_HISTORY_WEEKS} and "
            f"{scale.weeks} weeks of history",
            None if short_ratio is None else abs(short_ratio - 1) <= 0.20,
            f"{_cell(b_short, 2)} s vs {_cell(b_compute, 2)} s "
            f"({_cell(None if short_ratio is None else (short_ratio - 1) * 100, 1)} %)",
        ),
        _check("(a) and (c) agree row for row", agreement_ok, agreement.splitlines()[0]),
        "",
    ]


def _details(
    summaries: Mapping[str, Summary],
    agreement: str,
    agreement_ok: bool | None,
    notes: Sequence[str],
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
) -> str:
    """The whole markdown page; `data` is the generator's summary of the dataset."""
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
        *_ratios_and_targets(scale_name, scale, half_weeks, summaries, agreement, agreement_ok),
        *_details(summaries, agreement, agreement_ok, notes),
        "## Machine",
        "",
        *machine(),
        "",
    ]
    return "\n".join(lines)
