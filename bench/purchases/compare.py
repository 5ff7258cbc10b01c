"""Whether Dagster's and DuckDB's weekly_purchase_counts agree row for row.

Both outputs are Hive-partitioned Parquet folders (``week=YYYY-MM-DD/…``). ``compare`` reads
each into the same column types, sorts them on every column and checks them with
``polars.testing.assert_frame_equal``; when they differ it says how many rows each side has,
how many are only on one side and shows the first ten of those. ``compare_in_child`` runs the
comparison in a child process (``python -m bench.purchases --compare A B``, which prints the
verdict as JSON), so that the bench itself stays small for the commands it measures next.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import polars.testing

from bench.purchases import ROOT
from bench.purchases.measure import error_lines

COUNT_COLUMNS = [
    "week",
    "customer_id",
    "loyalty_score",
    "product_id",
    "product_category",
    "purchase_count",
]


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
    command = [sys.executable, "-m", "bench.purchases", "--compare"]
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
