"""The purchase bench's pure parts: the row-for-row comparison, the medians, the report, the
options, the floor's definitions and the order of the parts (the density and scale-out parts'
own logic: test_bench_density_scale_out.py).

Nothing here runs Dagster or times anything: the comparison reads two small Parquet folders
written by the test, the report is fed fake measurements, the runner's order is checked with
every command replaced by a stand-in that records it, and (e)'s DuckDB pass runs on a few
lines.
"""

from __future__ import annotations

import datetime as dt
import gc
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets_pkg.defs.executors import build_executor
from assets_pkg.shared.settings import Settings
from bench.purchases import FLOOR_ASSET, FLOOR_MODULE, duckdb_per_week, floor_definitions, runner
from bench.purchases.__main__ import parse
from bench.purchases.compare import compare
from bench.purchases.dagster_runs import WEEKLY_ASSETS
from bench.purchases.dataset import SCALES
from bench.purchases.measure import Measurement, TreeSampler, measure
from bench.purchases.report import CurvePoint, report
from bench.purchases.scale_out import Backfill, ScaleOut, ScaleOutPlan
from bench.purchases.summary import Summary, summarise

Rows = dict[str, list[object]]

ROWS: Rows = {
    "customer_id": ["c1", "c1", "c2"],
    "loyalty_score": [3, 3, 5],
    "product_id": ["p1", "p2", None],
    "product_category": ["food", "toys", None],
    "purchase_count": [2, 1, 0],
}


def write_counts(folder: Path, weeks: dict[str, Rows]) -> Path:
    """Hive-style weekly_purchase_counts: one week=YYYY-MM-DD folder per week."""
    for week, rows in weeks.items():
        (folder / f"week={week}").mkdir(parents=True)
        pl.DataFrame(rows).write_parquet(folder / f"week={week}" / "part-0.parquet")
    return folder


def test_compare_says_equal_for_the_same_rows_in_another_order(tmp_path: Path) -> None:
    ours = write_counts(tmp_path / "dagster", {"2024-01-01": ROWS, "2024-01-08": ROWS})
    shuffled: Rows = {column: values[::-1] for column, values in ROWS.items()}
    theirs = write_counts(tmp_path / "duckdb", {"2024-01-08": shuffled, "2024-01-01": ROWS})

    ok, detail = compare(ours, theirs)

    assert ok
    assert detail == "OK: 6 rows, identical after sorting"


def test_compare_names_the_row_that_differs(tmp_path: Path) -> None:
    ours = write_counts(tmp_path / "dagster", {"2024-01-01": ROWS})
    changed: Rows = {**ROWS, "purchase_count": [2, 7, 0]}
    theirs = write_counts(tmp_path / "duckdb", {"2024-01-01": changed})

    ok, detail = compare(ours, theirs)

    assert not ok
    first, *rest = detail.splitlines()
    assert first == (
        "DIFFERENT: 3 rows from Dagster, 3 from DuckDB; 1 only in Dagster, 1 only in DuckDB."
    )
    assert rest[0] == 'DataFrames are different (value mismatch for column "purchase_count")'
    only_dagster, only_duckdb = "\n".join(rest).split("Only in DuckDB")
    row = "| 2024-01-01 | c1          | 3             | p2         | toys             |"
    assert f"{row} 1              |" in only_dagster.splitlines()
    assert f"{row} 7              |" in only_duckdb.splitlines()
    assert "p1" not in only_dagster + only_duckdb


def test_compare_says_when_an_output_is_missing(tmp_path: Path) -> None:
    ours = write_counts(tmp_path / "dagster", {"2024-01-01": ROWS})

    ok, detail = compare(ours, tmp_path / "nothing")

    assert not ok
    assert detail.startswith("cannot read the outputs:")


def test_summary_takes_the_medians_of_the_successful_repeats() -> None:
    summary = summarise(
        [
            Measurement(wall_s=10, peak_mib=300, compute_s=4, steps={"x": 1, "y": 3}),
            Measurement(wall_s=30, peak_mib=100, compute_s=None, steps={"x": 3}),
            Measurement(wall_s=20, peak_mib=200, compute_s=6, steps={"x": 2}),
            Measurement(wall_s=99, peak_mib=999, error="exit status 1"),
        ]
    )

    assert summary.wall_s == 20
    assert summary.peak_mib == 200
    assert summary.compute_s == 5  # the median of the repeats that have one
    assert summary.steps == {"x": 2, "y": 3}
    assert summary.runs == 3
    assert summary.errors == ["exit status 1"]


def test_summary_of_failures_only_has_no_values() -> None:
    summary = summarise([Measurement(error="boom"), Measurement(error="boom")])

    assert (summary.wall_s, summary.peak_mib, summary.compute_s) == (None, None, None)
    assert summary.runs == 0
    assert summary.errors == ["boom", "boom"]


def one(wall_s: float = 0.0, peak_mib: float = 0.0, compute_s: float | None = None) -> Summary:
    """The summary of one successful repeat."""
    return summarise([Measurement(wall_s=wall_s, peak_mib=peak_mib, compute_s=compute_s)])


def point(name: str, json_bytes: int, a_wall: float | None, c_wall: float) -> CurvePoint:
    a = None if a_wall is None else one(a_wall)
    return CurvePoint(name, SCALES[name].weeks, json_bytes, a, one(c_wall))


NOW = dt.datetime(2026, 11, 29, 23, 59, 59, 999999, tzinfo=dt.UTC)
"""The instant every page here is rendered at: a second before midnight UTC, where a page
dated by the clock and a test reading the clock again a moment later disagreed."""


def render(
    summaries: dict[str, Summary],
    curve: Sequence[CurvePoint] = (),
    scale_name: str = "small",
    agreement: tuple[str, bool | None] = ("OK: 6 rows", True),
    cores: int | None = None,
) -> str:
    data = {"transaction_bytes": 500_000, "transactions": 3068, "basket_items": 6108}
    text, ok = agreement
    return report(
        scale_name,
        SCALES[scale_name],
        data,
        2,
        summaries,
        text,
        ok,
        1,
        ["- a note."],
        curve,
        now=NOW,
        cores=cores,
    )


def target(page: str, name: str) -> str:
    """The one target line that names `name`."""
    found = [line for line in page.splitlines() if line.startswith("- **") and name in line]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture
def page() -> str:
    full = Measurement(wall_s=12.0, peak_mib=400, max_process_mib=300, compute_s=8.0, cpu_s=20)
    full.steps = {"weekly_purchase_counts": 3.0, "exploded_transactions": 5.0}
    summaries = {
        "a": summarise([full]),
        "a_weeks": summarise([Measurement(compute_s=8.0)]),
        "b": summarise([Measurement(wall_s=4.0, peak_mib=320, compute_s=0.1)]),
        "f": summarise([Measurement(wall_s=3.6, peak_mib=200, max_process_mib=150)]),
        "f_frozen": summarise([Measurement(wall_s=3.0, peak_mib=200, max_process_mib=150)]),
        "c": summarise([Measurement(wall_s=24.0, peak_mib=900, max_process_mib=900, cpu_s=40)]),
        "e": summarise([Measurement(wall_s=6.0, peak_mib=300, max_process_mib=300)]),
        "s": summarise([Measurement(wall_s=9.0, peak_mib=350, max_process_mib=350, cpu_s=16)]),
        "s_week": summarise([Measurement(wall_s=1.2, peak_mib=100, max_process_mib=100)]),
        "p": summarise([Measurement(wall_s=0.05, peak_mib=8, max_process_mib=8)]),
        "d": summarise([Measurement(error="exit status 2, log d.log")]),
    }
    return render(summaries, cores=2)


def test_report_renders_the_table(page: str) -> None:
    lines = page.splitlines()
    assert lines[0] == "# Purchase counts bench, scale small"
    assert "500 customers x 30 days from 2024-01-01 (4 complete weeks), 0.5 MB" in lines[2]
    assert lines[4].startswith("| implementation | wall s | peak MiB | compute s |")
    rows = [line for line in lines if line.startswith("| (") or line.startswith("|   (")]
    assert rows == [
        "| (a) Dagster full backfill | 12.0 | 400 | 8.00 | 4.0 | 300 | 20.0 | 1 |",
        "|   (a2) of which the weekly assets' steps | | | 8.00 | | | | 1 |",
        "| (b) Dagster one incremental week, 4 weeks history | 4.0 | 320 | 0.10 | 3.9 | 0 | — "
        "| 1 |",
        "| (f) Dagster floor: a trivial asset, same CLI | 3.6 | 200 | — | — | 150 | — | 1 |",
        "| (f*) the same floor, frozen as the project is | 3.0 | 200 | — | — | 150 | — | 1 |",
        "| (c) DuckDB whole job | 24.0 | 900 | — | — | 900 | 40.0 | 1 |",
        "| (e) DuckDB per week, unchecked: exploded table + counts | 6.0 | 300 | — | — | 300 "
        "| — | 1 |",
        "| (s) the project's core in a plain loop, no Dagster: the same three tables "
        "| 9.0 | 350 | — | — | 350 | 16.0 | 1 |",
        "| (s1) the same for (b)'s week alone, no Dagster | 1.2 | 100 | — | — | 100 | — | 1 |",
        "| (p) the bare Python interpreter: `python -c pass` | 0.1 | 8 | — | — | 8 | — | 1 |",
        "| (d) DuckDB scan floor | FAILED | | | | | | 0 |",
    ]
    assert "(f) is the same CLI materialising one asset" in page


def test_report_renders_ratios_targets_and_problems(page: str) -> None:
    assert "- a/c (wall): 0.50" in page
    assert "- a/d (wall): —" in page
    assert "- e/c (wall): 0.25" in page
    assert "the best a/c any orchestration of the project's core could reach here): 0.38" in page
    assert "- a - s (wall; what Dagster and the project's Dagster layer cost): 3.00 s" in page
    assert "- CPU s (user + system): a 20.0, s 16.0, c 40.0" in page
    # (s)'s 16 CPU seconds on 2 cores take at least 8 s: 8 / 24
    assert "- the same work's CPU floor, (s's CPU / 2 cores) / c: 0.33 (what (s)" in page
    assert "over the bare interpreter: what the week itself costs, which (b) adds to" in page
    assert "Dagster's floor): 1.15 s" in page
    # (e) in place of (a)'s weekly steps: (6.0 + 12.0 - 8.0) / 24.0
    assert "(wall; a - a2 is (a)'s start-up, orchestration and catalog): 0.42" in page
    assert (
        "- b/a (compute of the weekly assets, for information): 0.0125 = 1/80 (by wall: 0.333)"
        in page
    )
    assert "- b - f (wall): 0.40 s" in page
    assert "- b/f (wall): 1.11" in page
    assert "- b - f* (wall): 1.00 s" in page
    assert "- cost curve, a/c by scale (x growth over the next smaller scale): not run" in page
    assert "| scale |" not in page  # no curve table without a curve
    assert "The targets are set for the large scale (104 weeks); here they only smoke-test." in page
    assert target(page, "full backfill wall") == (
        "- **PASS** full backfill wall <= 1.5 x DuckDB whole job: a/c = 0.50 (12.0 s vs 24.0 s); "
        "the same work's CPU floor 0.33"
    )
    assert target(page, "peak memory <=") == (
        "- **PASS** full backfill peak memory <= 512 MiB: 400 MiB"
    )
    assert target(page, "the same ±15 %").startswith(
        "- **n/a ** backfill peak memory the same ±15 % for 2 and 4 weeks"
    )
    assert target(page, "Dagster's floor") == (
        "- **PASS** one incremental week within 0.5 s of Dagster's floor: "
        "b - f = 0.40 s (4.00 s vs 3.60 s); the week without Dagster s1 - p = 1.15 s"
    )
    assert target(page, "floor frozen") == (
        "- **FAIL** one incremental week within 0.5 s of the floor frozen as the project is: "
        "b - f* = 1.00 s (4.00 s vs 3.00 s)"
    )
    assert target(page, "±20 %").startswith("- **n/a ** incremental week's compute the same")
    assert target(page, "grow with scale") == (
        "- **n/a ** a/c does not grow with scale: each <= 1.10 x the next smaller scale's: "
        "no smaller scale measured (--curve '')"
    )
    assert "- **PASS** (a) and (c) agree row for row: OK: 6 rows" in page
    assert "1/50" not in page  # the earlier issue's targets are gone
    assert "1 GiB" not in page
    assert "- weekly_purchase_counts: 3.00" in page
    assert "## Problems\n\n- a note.\n- (d) DuckDB scan floor: exit status 2, log d.log" in page
    assert "- date: 2026-11-29 23:59 UTC" in page
    sections = [line for line in page.splitlines() if line.startswith("## ")]
    assert sections == ["## Ratios", "## Targets", "## Problems", "## Machine"]


def test_report_is_the_same_whatever_order_its_inputs_come_in() -> None:
    """The page is a function of what was measured, not of the order the runner stored the
    summaries in or measured the scales of the curve in."""
    summaries = {"a": one(12.0, 400, compute_s=8.0), "c": one(24.0), "b": one(3.4)}
    curve = [point("medium", MEDIUM_BYTES, 8.0, 4.0), point("small", 500_000, 2.0, 1.0)]
    first = render(summaries, curve, scale_name="large")
    again = render(dict(reversed(summaries.items())), list(reversed(curve)), scale_name="large")
    assert again == first
    assert first.index("| small ") < first.index("| medium ") < first.index("| large (main) ")


def test_report_gives_the_date_it_is_told() -> None:
    midnight = dt.datetime(2026, 1, 2, 0, 0, tzinfo=dt.UTC)
    page = report("small", SCALES["small"], {}, 2, {}, "OK", True, 1, [], now=midnight)
    assert "- date: 2026-01-02 00:00 UTC" in page


@pytest.mark.parametrize(("a_wall", "verdict"), [(14.0, "PASS"), (15.0, "PASS"), (16.0, "FAIL")])
def test_backfill_wall_target_is_one_and_a_half_duckdb(a_wall: float, verdict: str) -> None:
    page = render({"a": one(a_wall), "c": one(10.0)})

    assert target(page, "full backfill wall").startswith(f"- **{verdict}** ")
    assert f"a/c = {a_wall / 10:.2f}" in page


@pytest.mark.parametrize(("peak", "verdict"), [(500.0, "PASS"), (512.0, "PASS"), (600.0, "FAIL")])
def test_backfill_memory_target_is_512_mib(peak: float, verdict: str) -> None:
    page = render({"a": one(10.0, peak)})

    assert target(page, "peak memory <=") == (
        f"- **{verdict}** full backfill peak memory <= 512 MiB: {peak:.0f} MiB"
    )


@pytest.mark.parametrize(
    ("b_wall", "verdict", "detail"),
    [
        (3.4, "PASS", "b - f = 0.40 s (3.40 s vs 3.00 s)"),
        (3.7, "FAIL", "b - f = 0.70 s (3.70 s vs 3.00 s)"),
    ],
)
def test_incremental_week_target_is_half_a_second_over_the_floor(
    b_wall: float, verdict: str, detail: str
) -> None:
    page = render({"b": one(b_wall, compute_s=0.2), "f": one(3.0), "f_frozen": one(3.0)})

    assert target(page, "Dagster's floor") == (
        f"- **{verdict}** one incremental week within 0.5 s of Dagster's floor: {detail}"
    )
    assert target(page, "floor frozen") == (
        f"- **{verdict}** one incremental week within 0.5 s of the floor frozen as the project "
        f"is: {detail.replace('f =', 'f* =')}"
    )
    assert f"- b/f (wall): {b_wall / 3:.2f}" in page


def test_incremental_week_target_is_na_without_the_floor() -> None:
    page = render({"b": one(3.4), "f": summarise([Measurement(error="warm-up: boom")])})

    assert target(page, "Dagster's floor").startswith("- **n/a ** ")
    assert target(page, "floor frozen").startswith("- **n/a ** ")
    assert "- b - f (wall): — s" in page
    assert "| (f) Dagster floor: a trivial asset, same CLI | FAILED | | | | | | 0 |" in page
    assert "- (f) Dagster floor: a trivial asset, same CLI: warm-up: boom" in page


def test_peak_and_history_targets_are_kept() -> None:
    page = render(
        {
            "a": one(10.0, 400.0),
            "a_half": one(5.0, 380.0),
            "b": one(3.0, compute_s=1.0),
            "b_short": one(3.0, compute_s=0.7),
        }
    )

    assert target(page, "the same ±15 %") == (
        "- **PASS** backfill peak memory the same ±15 % for 2 and 4 weeks: "
        "380 MiB vs 400 MiB (5.3 %)"
    )
    assert target(page, "±20 %") == (
        "- **FAIL** incremental week's compute the same ±20 % at 4 and 4 weeks of history: "
        "0.70 s vs 1.00 s (42.9 %)"
    )


MEDIUM_BYTES, LARGE_BYTES = 29_000_000, 1_143_400_000


def curve_page(small_a: float | None, medium_a: float, large_a: float) -> str:
    """The large scale's page with small and medium on the curve; every (c) takes 10 s."""
    curve = [point("small", 500_000, small_a, 10.0), point("medium", MEDIUM_BYTES, medium_a, 10.0)]
    data_summaries = {"a": one(large_a), "c": one(10.0)}
    data = {"transaction_bytes": LARGE_BYTES}
    large = SCALES["large"]
    return report("large", large, data, 52, data_summaries, "OK", True, 3, [], curve)


def test_cost_curve_table_has_a_row_per_scale_with_the_main_scale_last() -> None:
    page = curve_page(20.0, 21.0, 22.0)

    table = [line for line in page.splitlines() if line.startswith("| ") and "|---" not in line]
    assert table[-4:] == [
        "| scale | weeks | MB of JSON | (a) wall s | (c) wall s | a/c |",
        "| small | 4 | 0.5 | 20.0 | 10.0 | 2.00 |",
        "| medium | 26 | 29.0 | 21.0 | 10.0 | 2.10 |",
        "| large (main) | 104 | 1,143.4 | 22.0 | 10.0 | 2.20 |",
    ]
    assert page.index("| scale |") < page.index("## Targets")
    assert (
        "- cost curve, a/c by scale (x growth over the next smaller scale): "
        "small 2.00, medium 2.10 (x1.05), large (main) 2.20 (x1.05)"
    ) in page
    assert "smoke-test" not in page


@pytest.mark.parametrize(
    ("small_a", "medium_a", "large_a", "verdict"),
    [
        (20.0, 21.0, 22.0, "PASS"),  # grows 5 % a step: within 10 %
        (30.0, 20.0, 15.0, "PASS"),  # falls
        (20.0, 23.0, 24.0, "FAIL"),  # medium is 15 % above small
        (20.0, 21.0, 24.0, "FAIL"),  # large is 14 % above medium
        (None, 21.0, 30.0, "FAIL"),  # a gap does not hide a step that grows
        (None, 21.0, 22.0, "n/a "),  # a gap: not every step checked
    ],
)
def test_cost_curve_target(
    small_a: float | None, medium_a: float, large_a: float, verdict: str
) -> None:
    page = curve_page(small_a, medium_a, large_a)

    line = target(page, "grow with scale")
    assert line.startswith(
        f"- **{verdict}** a/c does not grow with scale: each <= 1.10 x the next smaller scale's: "
        "small "
    )


def test_cost_curve_failures_are_problems() -> None:
    failed = CurvePoint(
        "medium", 26, MEDIUM_BYTES, summarise([Measurement(error="exit status 1")]), one(10.0)
    )
    page = report(
        "large",
        SCALES["large"],
        {},
        52,
        {"a": one(20.0), "c": one(10.0)},
        "OK",
        True,
        1,
        [],
        [failed],
    )

    assert "| medium | 26 | 29.0 | FAILED | 10.0 | — |" in page
    assert "- (a) Dagster full backfill at scale medium (cost curve): exit status 1" in page
    assert target(page, "grow with scale").startswith("- **n/a ** ")


def test_options_default_to_every_part_and_the_curve_below_large() -> None:
    large = parse(["--scale", "large"])
    base = {"a", "b", "c", "d", "e", "s", "f", "a_half", "b_short"}
    assert large.parts == base | {"density", "scale_out"}
    assert large.curve == ["small", "medium"]
    # Below the large scale a run is a smoke test: the two long parts run only when named.
    assert parse(["--scale", "medium"]).parts == base
    assert parse(["--scale", "small"]).parts == base
    assert parse(["--scale", "small", "--parts", "density,scale_out"]).parts == {
        "density",
        "scale_out",
    }
    assert parse(["--scale", "medium"]).curve == []
    assert parse(["--scale", "large", "--curve", ""]).curve == []
    assert parse(["--scale", "small", "--curve", "small, small"]).curve == ["small"]
    assert parse(["--parts", "f,b"]).parts == {"f", "b"}


@pytest.mark.parametrize("argv", [["--curve", "huge"], ["--parts", "a,g"], ["--repeats", "0"]])
def test_options_refuse_unknown_values(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse(argv)


def test_floor_definitions_are_one_trivial_asset_run_as_the_project_runs() -> None:
    assert floor_definitions.__name__ == FLOOR_MODULE
    defs = floor_definitions.defs
    assert defs.resolve_assets_def(FLOOR_ASSET).key == dg.AssetKey(FLOOR_ASSET)
    # The project's runs are in process unless DAGSTER_EXECUTOR says otherwise.
    assert defs.executor is build_executor(Settings.from_env({})) is dg.in_process_executor


def test_the_frozen_floor_is_the_same_floor_frozen_as_the_project_freezes() -> None:
    gc.unfreeze()
    try:
        assert floor_definitions.frozen_defs() is floor_definitions.defs
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


class FakeSetup:
    """Stands in for DagsterSetup: records each CLI run instead of running it."""

    events: list[tuple[str, ...]]

    def __init__(self, name: str, module: str, attribute: str | None) -> None:
        self.name, self.module, self.warehouse = name, module, Path(name)
        self.attribute = attribute

    @classmethod
    def fresh(
        cls, work: Path, name: str, source: Path, module: str, attribute: str | None = None
    ) -> FakeSetup:
        return cls(name, module, attribute)

    def materialize(
        self, selection: str, partitions: Sequence[str], log: Path, say: Callable[[str], None]
    ) -> Measurement:
        module = self.module if self.attribute is None else f"{self.module}:{self.attribute}"
        self.events.append(("materialize", self.name, module, selection, *partitions))
        return Measurement(wall_s=1.0)


def test_runner_runs_the_parts_in_order_and_the_scale_out_once_after_the_repeats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[tuple[str, ...]] = []
    FakeSetup.events = events

    def scale_out(
        plan: ScaleOutPlan,
        source: Path,
        json_bytes: int,
        work: Path,
        say: Callable[[str], None],
        keep: bool,
    ) -> ScaleOut:
        events.append(("scale_out", source.name, str(plan.weeks), str(plan.weeks_per_run)))
        backfills = [Backfill(1, wall_s=10.0, runs=4, succeeded=4), Backfill(2, wall_s=8.0)]
        return ScaleOut(plan, json_bytes, backfills)

    def backfill(
        setup: FakeSetup, first: str, last: str, logs: Path, say: Callable[[str], None]
    ) -> tuple[Measurement, Measurement, Measurement]:
        events.append(("backfill", setup.name, first, last))
        return Measurement(wall_s=3.0), Measurement(), Measurement()

    def run_duckdb(sql: Path, log: Path, say: Callable[[str], None]) -> Measurement:
        events.append(("duckdb", sql.parent.name, sql.name))
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text("(1, 2)\n")
        return Measurement(wall_s=2.0)

    def per_week(
        source: Path, out: Path, first: str, last: str, log: Path, say: Callable[[str], None]
    ) -> Measurement:
        events.append(("per_week", out.name, first, last))
        return Measurement(wall_s=2.5)

    def same_work(
        source: Path,
        out: Path,
        first: str,
        last: str,
        tolerance: int,
        log: Path,
        say: Callable[[str], None],
        one_at_a_time: bool = False,
    ) -> Measurement:
        mode = ("one at a time",) if one_at_a_time else ()
        events.append(("same_work", out.name, first, last, str(tolerance), *mode))
        return Measurement(wall_s=2.8)

    def interpreter(log: Path, say: Callable[[str], None]) -> Measurement:
        events.append(("interpreter",))
        return Measurement(wall_s=0.05)

    def job(source: Path, out: Path, first: str, last: str, work: Path) -> Path:
        return work / f"job-{last}.sql"

    def data(scale: object, say: Callable[[str], None]) -> tuple[Path, dict[str, object]]:
        weeks = getattr(scale, "weeks", 0)
        return tmp_path / f"source-{weeks}", {"transaction_bytes": weeks * 1_000_000}

    monkeypatch.setattr(runner, "BENCH_DIR", tmp_path)
    monkeypatch.setattr(runner, "say", lambda message: None)
    monkeypatch.setattr(runner, "dataset", data)
    monkeypatch.setattr(runner, "dagster_available", lambda module: None)
    monkeypatch.setattr(runner, "DagsterSetup", FakeSetup)
    monkeypatch.setattr(runner, "backfill", backfill)
    monkeypatch.setattr(runner, "duckdb_job", job)
    monkeypatch.setattr(runner, "floor_sql", lambda source, work: work / "floor.sql")
    monkeypatch.setattr(runner, "run_duckdb", run_duckdb)
    monkeypatch.setattr(runner, "run_per_week", per_week)
    monkeypatch.setattr(runner, "run_same_work", same_work)
    monkeypatch.setattr(runner, "run_bare_interpreter", interpreter)
    monkeypatch.setattr(runner, "compare_in_child", lambda ours, theirs: (True, "OK: 1 rows"))
    monkeypatch.setattr(runner, "short_history", lambda source, weeks, work: source)
    monkeypatch.setattr(runner, "run_scale_out", scale_out)

    text = runner.run("small", 2, set(runner.ALL_PARTS), False, "stand.in", ["medium"])

    weekly = ",".join(WEEKLY_ASSETS)
    repeat = [
        ("backfill", "full", "2024-01-01", "2024-01-22"),  # (a)
        ("duckdb", "repeat-1", "job-2024-01-22.sql"),  # (c)
        ("per_week", "per_week_out", "2024-01-01", "2024-01-22"),  # (e)
        ("same_work", "same_work_out", "2024-01-01", "2024-01-22", "1"),  # (s)
        ("same_work", "same_week_out", "2024-01-22", "2024-01-22", "1"),  # (s1): (b)'s week
        ("interpreter",),  # (p)
        ("duckdb", "repeat-1", "floor.sql"),  # (d)
        ("materialize", "floor-defs", f"{FLOOR_MODULE}:defs", FLOOR_ASSET),  # (f)'s warm-up
        ("materialize", "floor-defs", f"{FLOOR_MODULE}:defs", FLOOR_ASSET),  # (f)
        ("materialize", "floor-frozen_defs", f"{FLOOR_MODULE}:frozen_defs", FLOOR_ASSET),
        ("materialize", "floor-frozen_defs", f"{FLOOR_MODULE}:frozen_defs", FLOOR_ASSET),  # (f*)
        ("materialize", "full", "stand.in", weekly, "2024-01-22"),  # (b)
        ("backfill", "half", "2024-01-01", "2024-01-08"),  # (a')
        ("backfill", "short", "2024-01-01", "2024-01-22"),  # (b')'s history
        ("materialize", "short", "stand.in", weekly, "2024-01-22"),  # (b')
        ("backfill", "density-1x", "2024-01-01", "2024-01-15"),  # 3 weeks, each density
        (
            "same_work",
            "same-work-1x",
            "2024-01-01",
            "2024-01-15",
            "1",
            "one at a time",
        ),  # and without Dagster
        ("backfill", "density-3x", "2024-01-01", "2024-01-15"),
        ("same_work", "same-work-3x", "2024-01-01", "2024-01-15", "1", "one at a time"),
        ("backfill", "density-10x", "2024-01-01", "2024-01-15"),
        ("same_work", "same-work-10x", "2024-01-01", "2024-01-15", "1", "one at a time"),
        ("backfill", "curve-medium", "2024-01-01", "2024-06-24"),  # (a) at medium
        ("duckdb", "curve-medium", "job-2024-06-24.sql"),  # (c) at medium
    ]
    assert events[: len(repeat)] == repeat
    second = [tuple(word.replace("repeat-1", "repeat-2") for word in e) for e in repeat]
    assert events[len(repeat) : 2 * len(repeat)] == second  # the second repeat, the same
    # The scale-out once, after the repeats, on the small scale's 4 weeks in runs of 1.
    assert events[2 * len(repeat) :] == [("scale_out", "source-4", "4", "1")]
    assert "| (f) Dagster floor: a trivial asset, same CLI | 1.0 |" in text
    assert "| medium | 26 | 26.0 | 3.0 | 2.0 | 1.50 |" in text
    assert "| small (main) | 4 | 4.0 | 3.0 | 2.0 | 1.50 |" in text
    assert "- b - f (wall): 0.00 s" in text
    assert "| 10x | 5,000 | 0.0 | 3.0 |" in text  # the density table, from the stand-ins
    assert "- speed-up (1-worker wall / 2-worker wall): 1.25" in text


def test_the_unchecked_pass_per_week_writes_both_tables(tmp_path: Path) -> None:
    """(e) does the work of the two weekly tables, so that its time means something: each
    week's basket items with file and line, and its counts with the idle customers."""
    source = tmp_path / "source"
    (source / "transactions").mkdir(parents=True)
    (source / "customers.csv").write_text("customer_id,loyalty_score\nC1,3\nC2,5\nC3,1\n")
    (source / "products.csv").write_text(
        'product_id,product_description,product_category\nP1,"a, b",food\nP2,c,toys\n'
    )
    days = {
        "2024-01-01": [
            '{"customer_id": "C1", "basket": [{"product_id": "P1", "price": 2}, '
            '{"product_id": "P1", "price": 2}], "date_of_purchase": "2024-01-01 10:00:00"}'
        ],
        "2024-01-03": [
            '{"customer_id": "C2", "basket": [{"product_id": "P2", "price": 7}], '
            '"date_of_purchase": "2024-01-03 11:00:00"}'
        ]
        * 2,
        "2024-01-08": [
            '{"customer_id": "C1", "basket": [{"product_id": "P9", "price": 1}], '
            '"date_of_purchase": "2024-01-08 09:30:00"}'
        ],
    }
    for day, lines in days.items():
        (source / "transactions" / f"d={day}").mkdir()
        (source / "transactions" / f"d={day}" / "transactions.json").write_text(
            "\n".join(lines) + "\n"
        )

    written = duckdb_per_week.run_weeks(
        source, tmp_path / "out", dt.date(2024, 1, 1), dt.date(2024, 1, 8)
    )

    assert written == 2
    first = pl.read_parquet(tmp_path / "out" / "week=2024-01-01" / "exploded.parquet")
    assert first.sort("source_file", "line_number").select(
        "customer_id", "product_id", "price", "line_number", "folder_day"
    ).rows() == [
        ("C1", "P1", 2, 1, dt.date(2024, 1, 1)),
        ("C1", "P1", 2, 1, dt.date(2024, 1, 1)),
        ("C2", "P2", 7, 1, dt.date(2024, 1, 3)),
        ("C2", "P2", 7, 2, dt.date(2024, 1, 3)),
    ]
    assert first.get_column("date_of_purchase").min() == dt.datetime(2024, 1, 1, 10)
    counts = {
        week: pl.read_parquet(tmp_path / "out" / f"week={week}" / "counts.parquet")
        .sort("customer_id", "product_id", nulls_last=True)
        .rows()
        for week in ("2024-01-01", "2024-01-08")
    }
    assert counts["2024-01-01"] == [
        (dt.date(2024, 1, 1), "C1", 3, "P1", "food", 2),
        (dt.date(2024, 1, 1), "C2", 5, "P2", "toys", 2),
        (dt.date(2024, 1, 1), "C3", 1, None, None, 0),
    ]
    assert counts["2024-01-08"] == [
        (dt.date(2024, 1, 8), "C1", 3, "P9", None, 1),
        (dt.date(2024, 1, 8), "C2", 5, None, None, 0),
        (dt.date(2024, 1, 8), "C3", 1, None, None, 0),
    ]


def test_the_read_entry_times_one_signees_signatures_at_a_small_size(tmp_path: Path) -> None:
    from bench.signatures_bench import READ_TARGET_MS, SAMPLES_PER_SIGNEE, read_bench

    timing = read_bench(tmp_path, signatures=60, points=20)
    assert (timing.signatures, timing.signees) == (60, 60 // SAMPLES_PER_SIGNEE)
    assert 0 < timing.median_ms <= timing.max_ms
    assert f"target ≤ {READ_TARGET_MS:.0f} ms" in timing.line()


def test_measure_counts_the_cpu_of_the_processes_the_command_waits_for(tmp_path: Path) -> None:
    # The work is done by a grandchild: (a)'s CLI and (c)'s runner do theirs in their own
    # process, but a command's CPU must not depend on which of its processes did the work.
    busy = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'sum(range(3 * 10**7))'])"

    measured = measure([sys.executable, "-c", busy], os.environ, tmp_path / "log", print)

    assert measured.error is None
    # The sum alone takes about half a second of CPU; both interpreters' start-up, a tenth.
    assert measured.cpu_s is not None
    assert measured.cpu_s > 0.25


def test_the_tree_sampler_reads_the_resident_set_from_the_kernels_counters(
    tmp_path: Path,
) -> None:
    # The grandchild holds 200 MB; the sampler must find it under the child, and must not
    # walk the page tables of the processes it measures (PSS), which slowed the runs it
    # measured by up to 18 % (bench/README.md).
    hold = (
        "import subprocess, sys; subprocess.run([sys.executable, '-c', "
        "'import time; b = bytes(1) * (200 * 2**20); time.sleep(1.5)'])"
    )
    child = subprocess.Popen([sys.executable, "-c", hold])
    opened: list[str] = []
    real_read_text = Path.read_text

    def read_text(path: Path, *args: object, **kwargs: object) -> str:
        opened.append(path.name)
        return real_read_text(path, *args, **kwargs)  # type: ignore[arg-type]

    sampler = TreeSampler(child.pid)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "read_text", read_text)
        sampler.start()
        child.wait()
        sampler.stop()

    assert sampler.peak_kib > 200 * 1024
    assert "statm" in opened
    assert "smaps_rollup" not in opened
