"""customers.csv and products.csv: read, typed, and checked."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from assets_pkg.purchases import schemas


class SourceError(ValueError):
    """An input file is missing or unreadable; the message names it and what to do."""


def read_customers(path: Path) -> pl.DataFrame:
    """customers.csv as typed rows, in file order.

    A loyalty score that is not a whole number is kept as null (see `invalid_loyalty`),
    so that the customer still appears in every week.
    """
    raw = _read_csv(path, ["customer_id", "loyalty_score"])
    return raw.select(
        pl.col("customer_id").str.strip_chars(),
        pl.col("loyalty_score").str.strip_chars().cast(pl.Int64, strict=False),
    )


def read_products(path: Path) -> pl.DataFrame:
    """products.csv as typed rows, in file order (quoted descriptions may hold commas)."""
    raw = _read_csv(path, list(schemas.PRODUCTS))
    return raw.select(pl.col(name).str.strip_chars() for name in schemas.PRODUCTS)


def duplicate_or_empty_ids(frame: pl.DataFrame, id_column: str) -> list[str]:
    """Ids that appear more than once, and `<empty>` if some row has no id: sorted."""
    ids = frame.get_column(id_column)
    duplicated = frame.filter(ids.is_duplicated() & ids.is_not_null() & (ids != ""))
    bad = sorted(set(duplicated.get_column(id_column).to_list()))
    if (ids.is_null() | (ids == "")).any():
        bad.append("<empty>")
    return bad


def invalid_loyalty(customers: pl.DataFrame, raw_path: Path) -> pl.DataFrame:
    """Customers whose loyalty score is missing, not a number, or outside 1..10."""
    raw = _read_csv(raw_path, ["customer_id", "loyalty_score"])
    return raw.with_columns(
        score=pl.col("loyalty_score").str.strip_chars().cast(pl.Int64, strict=False)
    ).filter(pl.col("score").is_null() | ~pl.col("score").is_between(1, 10))[
        ["customer_id", "loyalty_score"]
    ]


def _read_csv(path: Path, columns: list[str]) -> pl.DataFrame:
    if not path.is_file():
        raise SourceError(
            f"{path} does not exist: put {path.name} there or point PURCHASES_SOURCE_DIR "
            "at the folder that holds it."
        )
    try:
        frame = pl.read_csv(path, infer_schema=False, encoding="utf8")
    except pl.exceptions.PolarsError as error:
        raise SourceError(f"{path} is not a readable CSV file: {error}") from None
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise SourceError(
            f"{path} must have the header {','.join(columns)}; "
            f"it lacks {', '.join(missing)} (found {','.join(frame.columns)})."
        )
    return frame.select(columns)
