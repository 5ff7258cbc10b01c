"""The three reads of docs/purchases.md ("Reading the counts"), run as written, with polars
and DuckDB, on a warehouse of three weeks laid out as the IO manager writes them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from assets_pkg_tests.signatures.read_helpers import python_blocks

DOCS = Path(__file__).resolve().parents[2] / "docs" / "purchases.md"
SCHEMA = {
    "customer_id": pl.String(),
    "loyalty_score": pl.Int64(),
    "product_id": pl.String(),
    "product_category": pl.String(),
    "purchase_count": pl.Int64(),
}
Row = tuple[str, int, str | None, str | None, int]
WEEKS: dict[str, list[Row]] = {
    "2024-01-01": [("C1", 7, "P1", "shoes", 2), ("C2", 3, "P2", "hats", 1)],
    "2024-01-08": [
        ("C1", 7, "P1", "shoes", 1),
        ("C1", 7, "P2", "hats", 4),
        ("C2", 3, None, None, 0),
    ],
    "2024-01-15": [("C2", 3, "P1", "shoes", 5), ("C1", 7, None, None, 0)],
    "2024-01-22": [("C1", 7, "P2", "hats", 9), ("C2", 3, None, None, 0)],
}
"""Every customer in every week; an idle week is one row with product null and count 0."""


@pytest.fixture
def reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    for week, rows in WEEKS.items():
        folder = tmp_path / "weekly_purchase_counts" / f"week={week}"
        folder.mkdir(parents=True)
        frame = pl.DataFrame(rows, schema=SCHEMA, orient="row")
        frame.write_parquet(folder / "data.parquet")
    monkeypatch.setenv("WAREHOUSE_DIR", str(tmp_path))
    namespace: dict[str, object] = {}
    blocks = python_blocks(DOCS, "## Reading the counts: three common reads")
    assert len(blocks) == 3
    for block in blocks:
        exec(compile(block, str(DOCS), "exec"), namespace)
    return namespace


def rows(frame: object) -> list[tuple[object, ...]]:
    assert isinstance(frame, pl.DataFrame)
    return frame.rows()


def test_a_periods_counts(reads: dict[str, object]) -> None:
    expected = [("C1", "P1", 3), ("C1", "P2", 4), ("C2", "P1", 5), ("C2", "P2", 1)]
    assert rows(reads["period"]) == expected
    assert reads["period_duckdb"] == expected


def test_one_customers_history(reads: dict[str, object]) -> None:
    expected = [
        (dt.date(2024, 1, 1), "P1", "shoes", 2),
        (dt.date(2024, 1, 8), "P1", "shoes", 1),
        (dt.date(2024, 1, 8), "P2", "hats", 4),
        (dt.date(2024, 1, 22), "P2", "hats", 9),
    ]
    assert rows(reads["history"]) == expected
    assert reads["history_duckdb"] == expected


def test_the_last_n_weeks_as_features(reads: dict[str, object]) -> None:
    expected = [("C1", 9, 0), ("C2", 0, 5)]
    assert rows(reads["features"]) == expected
    assert reads["features_duckdb"] == expected
