"""`counts.reconcile_week`: the stored counts against the stored items and the catalog, pair
by pair. The checksums decide when nothing differs; any difference is named pair by pair."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from assets_pkg.purchases import counts

WEEK = dt.date(2024, 1, 8)
CUSTOMERS = pl.DataFrame({"customer_id": ["C1", "C2", "C3"], "loyalty_score": [1, 2, 3]})
PRODUCTS = pl.DataFrame(
    {"product_id": ["P1", "P2"], "product_description": ["a", "b"], "product_category": ["x", "y"]}
)


def _items(*pairs: tuple[str, str]) -> pl.LazyFrame:
    return pl.LazyFrame(
        {"customer_id": [c for c, _ in pairs], "product_id": [p for _, p in pairs]},
        schema={"customer_id": pl.String, "product_id": pl.String},
    )


ITEMS = _items(("C1", "P1"), ("C1", "P1"), ("C1", "P2"), ("C2", "P2"))


def _counted(items: pl.LazyFrame) -> pl.LazyFrame:
    return counts.weekly_counts(items, CUSTOMERS, PRODUCTS, WEEK)


def test_counts_made_from_the_items_reconcile() -> None:
    found = counts.reconcile_week(_counted(ITEMS), ITEMS, CUSTOMERS)
    assert found.passed
    assert (found.items, found.counted) == (4, 4)
    assert found.mismatched_pairs == []
    assert found.missing_customers == []


def _with_counts(stored: pl.LazyFrame, changes: dict[tuple[str, str], int]) -> pl.LazyFrame:
    count = pl.col("purchase_count")
    for (customer, product), value in changes.items():
        pair = (pl.col("customer_id") == customer) & (pl.col("product_id") == product)
        count = pl.when(pair).then(value).otherwise(count)
    return stored.with_columns(purchase_count=count)


def test_counts_moved_between_two_pairs_are_named_though_the_total_holds() -> None:
    # C1 bought P1 twice and P2 once; the stored counts say once and twice: same total.
    stored = _with_counts(_counted(ITEMS), {("C1", "P1"): 1, ("C1", "P2"): 2})
    found = counts.reconcile_week(stored, ITEMS, CUSTOMERS)
    assert (found.items, found.counted) == (4, 4)
    assert found.mismatched_pairs == ["C1/P1", "C1/P2"]
    assert not found.passed


def test_a_pair_counted_for_another_customer_is_named() -> None:
    # Same total, same counts, same products: only the customer of one pair differs.
    stored = _counted(_items(("C1", "P1"), ("C1", "P1"), ("C1", "P2"), ("C3", "P2")))
    found = counts.reconcile_week(stored, ITEMS, CUSTOMERS)
    assert found.mismatched_pairs == ["C2/P2", "C3/P2"]


@pytest.mark.parametrize("extra", [("C1", "P1"), ("C9", "P1")])
def test_an_item_the_counts_lack_is_named(extra: tuple[str, str]) -> None:
    found = counts.reconcile_week(
        _counted(ITEMS), _items(*ITEMS.collect().rows(), extra), CUSTOMERS
    )
    assert (found.items, found.counted) == (5, 4)
    assert found.mismatched_pairs == [f"{extra[0]}/{extra[1]}"]


def test_a_customer_of_the_catalog_without_a_row_is_named() -> None:
    stored = _counted(ITEMS).filter(pl.col("customer_id") != "C3")
    found = counts.reconcile_week(stored, ITEMS, CUSTOMERS)
    assert found.missing_customers == ["C3"]
    assert found.mismatched_pairs == []
    assert not found.passed
