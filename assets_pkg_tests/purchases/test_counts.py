"""Weekly counts, zero rows for idle customers, unknown ids, and sums over a period."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from assets_pkg.purchases import counts, schemas
from assets_pkg.purchases.counts import (
    count_week,
    period_counts,
    week_metadata,
    weekly_counts,
)

from ..fuzzing import fuzz_settings
from .feed_builder import day, moment

W = day("2024-01-08")
CUSTOMERS = pl.DataFrame(
    {"customer_id": ["C1", "C2", "C3", "C4"], "loyalty_score": [7, 3, None, 10]},
    schema=schemas.CUSTOMERS,
)
PRODUCTS = pl.DataFrame(
    {
        "product_id": ["P1", "P2"],
        "product_description": ["red, with a belt", "blue"],
        "product_category": ["trousers", "shirts"],
    },
    schema=schemas.PRODUCTS,
)


def _exploded(rows: list[tuple[str, str]], week: dt.date = W) -> pl.LazyFrame:
    return pl.LazyFrame(
        [(week, moment("2024-01-09 10:00:00"), c, p, 1, "f", n) for n, (c, p) in enumerate(rows)],
        schema=schemas.EXPLODED,
        orient="row",
    )


def _counts(rows: list[tuple[str, int | None, str | None, str | None, int]]) -> pl.DataFrame:
    return pl.DataFrame([(W, *row) for row in rows], schema=schemas.COUNTS, orient="row")


def test_weekly_counts_every_item_and_every_customer() -> None:
    exploded = _exploded(
        [("C2", "P2"), ("C1", "P1"), ("C2", "P2"), ("C99", "P1"), ("C1", "P9"), ("C2", "P2")]
    )
    expected = _counts(
        [
            # bought, in the order of each pair's first purchase
            ("C2", 3, "P2", "shirts", 3),
            ("C1", 7, "P1", "trousers", 1),
            ("C99", None, "P1", "trousers", 1),  # unknown customer: kept, loyalty null
            ("C1", 7, "P9", None, 1),  # unknown product: kept, category null
            # idle customers of customers.csv, in file order: product null, count 0
            ("C3", None, None, None, 0),
            ("C4", 10, None, None, 0),
        ]
    )
    assert_frame_equal(weekly_counts(exploded, CUSTOMERS, PRODUCTS, W).collect(), expected)


def test_a_week_without_purchases_has_one_zero_row_per_customer() -> None:
    expected = _counts(
        [
            ("C1", 7, None, None, 0),
            ("C2", 3, None, None, 0),
            ("C3", None, None, None, 0),
            ("C4", 10, None, None, 0),
        ]
    )
    assert_frame_equal(weekly_counts(_exploded([]), CUSTOMERS, PRODUCTS, W).collect(), expected)


def test_weekly_counts_are_the_same_on_every_run() -> None:
    rows = [(f"C{i % 7}", f"P{i % 5}") for i in range(500)]
    first = weekly_counts(_exploded(rows), CUSTOMERS, PRODUCTS, W).collect()
    for _ in range(3):
        assert_frame_equal(
            weekly_counts(_exploded(rows), CUSTOMERS, PRODUCTS, W).collect(engine="streaming"),
            first,
        )


def test_unknown_ids_are_those_bought_but_absent_from_the_csvs() -> None:
    exploded = _exploded([("C9", "P1"), ("C1", "P8"), ("C9", "P7"), ("C1", "P8")])
    assert count_week(exploded, CUSTOMERS, PRODUCTS, W).unknown == {
        "customer_id": ["C9"],
        "product_id": ["P7", "P8"],
    }


def test_period_counts_are_sums_of_weeks_with_a_zero_row_only_for_idle_customers() -> None:
    def week(
        monday: str, rows: list[tuple[str, int | None, str | None, str | None, int]]
    ) -> pl.LazyFrame:
        return _counts(rows).with_columns(week=pl.lit(day(monday))).lazy()

    weekly = pl.concat(
        [
            week(
                "2024-01-01",
                [
                    ("C1", 7, "P1", "trousers", 2),
                    ("C2", 3, None, None, 0),
                    ("C3", None, None, None, 0),
                ],
            ),
            week(
                "2024-01-08",
                [
                    ("C1", 7, "P1", "trousers", 1),
                    ("C2", 3, "P2", "shirts", 4),
                    ("C1", 7, "P2", "shirts", 1),
                    ("C3", None, None, None, 0),
                ],
            ),
        ]
    )
    expected = pl.DataFrame(
        [
            ("C1", 7, "P1", "trousers", 3),
            ("C1", 7, "P2", "shirts", 1),
            ("C2", 3, "P2", "shirts", 4),
            ("C3", None, None, None, 0),
        ],
        schema={k: v for k, v in schemas.COUNTS.items() if k != "week"},
        orient="row",
    )
    assert_frame_equal(period_counts(weekly).collect(), expected)


def test_week_metadata_counts_customers_products_and_items() -> None:
    week = _counts(
        [
            ("C1", 7, "P1", "trousers", 2),
            ("C1", 7, "P2", "shirts", 1),
            ("C9", None, "P1", "trousers", 4),
            ("C2", 3, None, None, 0),
        ]
    )
    assert week_metadata(week) == {
        "customers": 3,
        "customers who bought": 2,
        "products bought": 2,
        "basket items": 7,
    }


def test_a_counted_week_carries_its_counts_metadata_and_unknown_ids() -> None:
    # C3 has a null loyalty score and C99 is unknown: only the catalog join tells them apart.
    exploded = _exploded([("C3", "P1"), ("C99", "P9"), ("C1", "P2"), ("C99", "P1"), ("C7", "P9")])
    week = count_week(exploded, CUSTOMERS, PRODUCTS, W)
    assert_frame_equal(week.counts, weekly_counts(exploded, CUSTOMERS, PRODUCTS, W).collect())
    assert week.metadata == week_metadata(week.counts)
    assert week.unknown == {"customer_id": ["C7", "C99"], "product_id": ["P9"]}


_IDS = st.sampled_from(["C1", "C2", "C3", "C4", "C5", "C9", "", " C1", "é"])
_PRODUCTS = st.sampled_from(["P1", "P2", "P3", "P9", "p1"])


@fuzz_settings(200)
@given(
    rows=st.lists(st.tuples(_IDS, _PRODUCTS), max_size=40),
    customers=st.lists(_IDS, unique=True, max_size=6),
    products=st.lists(_PRODUCTS, unique=True, max_size=4),
)
def test_counting_on_codes_gives_the_group_by_on_ids_row_for_row(
    rows: list[tuple[str, str]], customers: list[str], products: list[str]
) -> None:
    """`count_week` counts on integer codes; `weekly_counts` groups by the ids themselves.
    Any items, any catalogs (ids bought and absent from them, customers who bought
    nothing): the same rows in the same order, what the web UI shows of them, and the ids
    the catalogs lack."""
    catalog = pl.DataFrame(
        {"customer_id": customers, "loyalty_score": [len(c) or None for c in customers]},
        schema=schemas.CUSTOMERS,
    )
    listed = pl.DataFrame(
        {
            "product_id": products,
            "product_description": products,
            "product_category": [f"k{p}" for p in products],
        },
        schema=schemas.PRODUCTS,
    )
    exploded = _exploded(rows)
    week = count_week(exploded, catalog, listed, W)
    assert_frame_equal(week.counts, weekly_counts(exploded, catalog, listed, W).collect())
    assert week.metadata == week_metadata(week.counts)
    assert week.unknown == {
        "customer_id": sorted({c for c, _ in rows} - set(customers)),
        "product_id": sorted({p for _, p in rows} - set(products)),
    }


def test_a_null_id_is_counted_like_any_unknown_id() -> None:
    """The parse never gives one; counted all the same, as the group-by on ids counts it."""
    exploded = _exploded([("C1", "P1"), ("C1", "P1")]).with_columns(
        customer_id=pl.when(pl.col("line_number") == 0).then(None).otherwise("customer_id")
    )
    week = count_week(exploded, CUSTOMERS, PRODUCTS, W)
    assert_frame_equal(week.counts, weekly_counts(exploded, CUSTOMERS, PRODUCTS, W).collect())
    assert week.unknown == {"customer_id": [None], "product_id": []}


@fuzz_settings(200)
@given(
    rows=st.lists(st.tuples(_IDS, _PRODUCTS), max_size=30),
    changes=st.lists(
        st.tuples(_IDS, st.one_of(st.none(), _PRODUCTS), st.one_of(st.none(), st.integers(-1, 3))),
        max_size=4,
    ),
    drop=st.integers(0, 3),
    customers=st.lists(_IDS, max_size=6),
)
def test_reconciling_on_codes_finds_what_the_group_by_on_ids_finds(
    rows: list[tuple[str, str]],
    changes: list[tuple[str, str | None, int | None]],
    drop: int,
    customers: list[str],
) -> None:
    """The week's true counts with some rows dropped and some added (wrong counts, null
    counts, unknown pairs, idle rows): the same pairs that differ, the same customers
    missing, the same sums, whatever the catalog (repeated ids too)."""
    catalog = pl.DataFrame(
        {"customer_id": customers, "loyalty_score": [1] * len(customers)},
        schema=schemas.CUSTOMERS,
    )
    exploded = _exploded(rows)
    true = weekly_counts(exploded, catalog.unique("customer_id", keep="first"), PRODUCTS, W)
    extra = pl.LazyFrame(
        [(W, c, None, p, None, n) for c, p, n in changes], schema=schemas.COUNTS, orient="row"
    )
    weekly = pl.concat([true.collect().slice(drop).lazy(), extra])
    assert counts.reconcile_week(weekly, exploded, catalog) == counts._reconcile_by_ids(
        weekly, exploded, catalog
    )


def test_a_week_with_more_pairs_than_a_part_is_made_in_parts_row_for_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A large week's counts are made a part at a time as they are written (at most
    `PART_ROWS` rows of pairs each, then the idle customers), and every call of `parts`
    gives them again; together they are `weekly_counts`, row for row."""
    monkeypatch.setattr(counts, "PART_ROWS", 3)
    rows = [("C1", "P1"), ("C2", "P2"), ("C1", "P2"), ("C9", "P1"), ("C2", "P1"), ("C2", "P2")]
    exploded = _exploded([*rows, ("C1", "P9"), ("C1", "P1")])
    week = count_week(exploded, CUSTOMERS, PRODUCTS, W)
    parts = list(week.parts())
    assert [part.height for part in parts] == [3, 3, 2]  # 6 pairs, then C3 and C4 idle
    expected = weekly_counts(exploded, CUSTOMERS, PRODUCTS, W).collect()
    assert_frame_equal(pl.concat(parts), expected)
    assert_frame_equal(pl.concat(list(week.parts())), expected)
    assert week.metadata == week_metadata(expected)
    small = count_week(_exploded(rows[:3]), CUSTOMERS, PRODUCTS, W)
    assert [part.height for part in small.parts()] == [3, 2]  # made whole where counted
