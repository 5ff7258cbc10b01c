"""The purchase bench's pure parts: the row-for-row comparison, the medians, the report.

Nothing here runs Dagster or DuckDB or times anything: the comparison reads two small
Parquet folders written by the test, the rest is fed fake measurements.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from bench.purchases.compare import compare
from bench.purchases.dataset import SCALES
from bench.purchases.measure import Measurement
from bench.purchases.report import report
from bench.purchases.summary import summarise

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


@pytest.fixture
def page() -> str:
    full = Measurement(wall_s=12.0, peak_mib=400, max_process_mib=300, compute_s=8.0)
    full.steps = {"weekly_purchase_counts": 3.0, "exploded_transactions": 5.0}
    summaries = {
        "a": summarise([full]),
        "a_weeks": summarise([Measurement(compute_s=8.0)]),
        "b": summarise([Measurement(wall_s=4.0, peak_mib=320, compute_s=0.1)]),
        "c": summarise([Measurement(wall_s=24.0, peak_mib=900, max_process_mib=900)]),
        "d": summarise([Measurement(error="exit status 2, log d.log")]),
    }
    data = {"transaction_bytes": 500_000, "transactions": 3068, "basket_items": 6108}
    return report(
        "small", SCALES["small"], data, 2, summaries, "OK: 6 rows", True, 1, ["- a note."]
    )


def test_report_renders_the_table(page: str) -> None:
    lines = page.splitlines()
    assert lines[0] == "# Purchase counts bench, scale small"
    assert "500 customers x 30 days from 2024-01-01 (4 complete weeks), 0.5 MB" in lines[2]
    assert lines[4].startswith("| implementation | wall s | peak MiB | compute s |")
    rows = [line for line in lines if line.startswith("| (") or line.startswith("|   (")]
    assert rows == [
        "| (a) Dagster full backfill | 12.0 | 400 | 8.00 | 4.0 | 300 | 1 |",
        "|   (a2) of which the weekly assets' steps | | | 8.00 | | | 1 |",
        "| (b) Dagster one incremental week, 4 weeks history | 4.0 | 320 | 0.10 | 3.9 | 0 | 1 |",
        "| (c) DuckDB whole job | 24.0 | 900 | — | — | 900 | 1 |",
        "| (d) DuckDB scan floor | FAILED | | | | | 0 |",
    ]


def test_report_renders_ratios_targets_and_problems(page: str) -> None:
    assert "- a/c (wall): 0.50" in page
    assert "- a/d (wall): —" in page
    assert "- b/a (compute of the weekly assets): 0.0125 = 1/80 (by wall: 0.333)" in page
    assert "- **PASS** full backfill wall <= 1.0 x DuckDB whole job: a/c = 0.50" in page
    assert "- **PASS** one incremental week's compute <= 1/50 of the full backfill's" in page
    assert "- **n/a ** backfill peak memory the same ±15 % for 2 and 4 weeks" in page
    assert "- **PASS** (a) and (c) agree row for row: OK: 6 rows" in page
    assert "- weekly_purchase_counts: 3.00" in page
    assert "## Problems\n\n- a note.\n- (d) DuckDB scan floor: exit status 2, log d.log" in page
    assert f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d}" in page
