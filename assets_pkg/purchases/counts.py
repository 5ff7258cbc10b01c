"""Weekly purchase counts, and counts for any period as sums of weeks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from assets_pkg.purchases import schemas


def weekly_counts(
    exploded: pl.LazyFrame, customers: pl.DataFrame, products: pl.DataFrame, week: dt.date
) -> pl.LazyFrame:
    """One row per (customer, product) bought in `week`, plus one row with product null
    and count 0 for every customer of `customers` who bought nothing that week.

    `customers` and `products` must have unique ids (`catalog.require_unique_ids`), or the joins
    would double rows.

    Rows come in the order of each pair's first purchase in `exploded` (which is in file and
    line order), then the idle customers in customers.csv order: deterministic, and cheaper
    than a sort by two string columns (a third of the asset's time at scale).
    """
    return _flagged_counts(exploded, customers, products, week).select(schemas.COUNTS.names())


def _flagged_counts(
    exploded: pl.LazyFrame, customers: pl.DataFrame, products: pl.DataFrame, week: dt.date
) -> pl.LazyFrame:
    """`weekly_counts` with two more columns, `known_customer` and `known_product`: true
    where the id was found in the catalog, null where it was not (or is null)."""
    bought = exploded.group_by("customer_id", "product_id", maintain_order=True).agg(
        purchase_count=pl.len().cast(pl.Int64)
    )
    idle = (
        customers.lazy()
        .select("customer_id")
        .join(bought.select("customer_id"), on="customer_id", how="anti", maintain_order="left")
        .with_columns(product_id=pl.lit(None, pl.String), purchase_count=pl.lit(0, pl.Int64))
    )
    return (
        pl.concat([bought, idle])
        .join(
            customers.lazy().with_columns(known_customer=pl.lit(True)),
            on="customer_id",
            how="left",
            maintain_order="left",
        )
        .join(
            products.lazy().select("product_id", "product_category", known_product=pl.lit(True)),
            on="product_id",
            how="left",
            maintain_order="left",
        )
        .with_columns(week=pl.lit(week))
        .select(*schemas.COUNTS.names(), "known_customer", "known_product")
    )


def period_counts(weekly: pl.LazyFrame) -> pl.LazyFrame:
    """Sum weekly counts over all the weeks in `weekly`.

    A customer who bought something in the period gets one row per product; a customer
    who bought nothing gets the single row with product null and count 0, as in a week.
    """
    bought = (
        weekly.filter(pl.col("product_id").is_not_null())
        .group_by("customer_id", "product_id")
        .agg(
            pl.col("loyalty_score").last(),
            pl.col("product_category").last(),
            pl.col("purchase_count").sum(),
        )
    )
    idle = (
        weekly.filter(pl.col("product_id").is_null())
        .group_by("customer_id")
        .agg(pl.col("loyalty_score").last())
        .join(bought.select("customer_id"), on="customer_id", how="anti")
        .with_columns(
            product_id=pl.lit(None, pl.String),
            product_category=pl.lit(None, pl.String),
            purchase_count=pl.lit(0, pl.Int64),
        )
    )
    columns = [c for c in schemas.COUNTS.names() if c != "week"]
    return pl.concat([bought.select(columns), idle.select(columns)]).sort(
        "customer_id", "product_id", nulls_last=True
    )


def week_metadata(week: pl.DataFrame) -> dict[str, int]:
    """What one week of counts holds, for the web UI.

    Each idle customer has exactly one row and no row with a purchase, so the customers are
    the idle rows plus the customers who bought: one distinct count of ids fewer."""
    bought = pl.col("purchase_count") > 0
    row = week.select(
        idle=(~bought).sum(),
        customers_who_bought=pl.col("customer_id").filter(bought).n_unique(),
        products_bought=pl.col("product_id").filter(bought).n_unique(),
        basket_items=pl.col("purchase_count").sum(),
    ).row(0, named=True)
    return {
        "customers": int(row["idle"]) + int(row["customers_who_bought"]),
        "customers who bought": int(row["customers_who_bought"]),
        "products bought": int(row["products_bought"]),
        "basket items": int(row["basket_items"] or 0),
    }


@dataclass(frozen=True)
class CountedWeek:
    counts: pl.DataFrame
    """`weekly_counts` of the week, computed."""
    metadata: dict[str, int]
    """`week_metadata` of it."""
    unknown: dict[str, list[str]]
    """The customer and product ids bought that week but absent from the CSVs, sorted."""


def count_week(
    exploded: pl.LazyFrame, customers: pl.DataFrame, products: pl.DataFrame, week: dt.date
) -> CountedWeek:
    """One week's counts with what the web UI and the known-ids check need of them (the
    unknown ids come from the joins that add the catalog's columns, not from two more)."""
    flagged = _flagged_counts(exploded, customers, products, week).collect()
    counted = flagged.select(schemas.COUNTS.names())
    unknown = {
        "customer_id": flagged.filter(pl.col("known_customer").is_null())
        .get_column("customer_id")
        .unique()
        .sort()
        .to_list(),
        "product_id": flagged.filter(
            pl.col("known_product").is_null() & pl.col("product_id").is_not_null()
        )
        .get_column("product_id")
        .unique()
        .sort()
        .to_list(),
    }
    return CountedWeek(counted, week_metadata(counted), unknown)


@dataclass(frozen=True)
class Reconciliation:
    """How one week's stored counts compare with its basket items and the catalog."""

    items: int
    """Rows of the week's `exploded_transactions` (one per basket item)."""
    counted: int
    """The sum of the week's `purchase_count`."""
    mismatched_pairs: list[str]
    """`customer/product` pairs whose count differs from their items, sorted."""
    missing_customers: list[str]
    """Customers of the catalog with no row in the week's counts, sorted."""

    @property
    def passed(self) -> bool:
        return (
            self.items == self.counted
            and not self.mismatched_pairs
            and not (self.missing_customers)
        )


def reconcile_week(
    weekly: pl.LazyFrame, exploded: pl.LazyFrame, customers: pl.DataFrame
) -> Reconciliation:
    """Whether a week's counts are what its basket items and the catalog make: each pair's
    count equals its items, so the counts sum to the items, and every customer of the
    catalog has a row (idle customers their row with count 0).

    The pairs are compared first by two checksums, each the sum over the items of a 32-bit
    hash of their (customer, product) pair, against the same sum over the counts weighted by
    each count: one pass over each table, no grouping, about a tenth of the cost. Equal
    checksums and equal totals mean equal pairs but for a chance of about 2**-64 against a
    random error; only when they differ are the pairs grouped and compared one by one, to
    name the ones that differ. A passing week is never reported as failing."""
    keys = ["customer_id", "product_id"]
    stored = weekly.filter(pl.col("product_id").is_not_null())
    items, counted, missing = pl.collect_all(
        [
            exploded.select(pl.len().alias("n"), *_pair_checksums(pl.lit(1, pl.UInt64))),
            stored.select(
                pl.col("purchase_count").sum().alias("n"),
                *_pair_checksums(pl.col("purchase_count").cast(pl.UInt64)),
            ),
            customers.lazy()
            .select("customer_id")
            .join(weekly.select("customer_id").unique(), on="customer_id", how="anti")
            .sort("customer_id"),
        ]
    )
    mismatched: list[str] = []
    if items.row(0) != counted.row(0):  # the checksums or the totals differ: name the pairs
        bought = exploded.group_by(keys).agg(items=pl.len().cast(pl.Int64))
        stored_pairs = stored.group_by(keys).agg(counted=pl.col("purchase_count").sum())
        pairs = bought.join(
            stored_pairs, on=keys, how="full", coalesce=True, nulls_equal=True
        ).filter(pl.col("items").fill_null(0) != pl.col("counted").fill_null(0))
        mismatched = (
            pairs.select(pl.format("{}/{}", *keys).fill_null("null").alias("pair"))
            .collect()
            .get_column("pair")
            .sort()
            .to_list()
        )
    return Reconciliation(
        int(items.item(0, "n")),
        int(counted.item(0, "n") or 0),
        mismatched,
        missing.get_column("customer_id").to_list(),
    )


def _pair_checksums(weight: pl.Expr) -> list[pl.Expr]:
    """Two sums of `weight` times a 32-bit hash of each row's (customer, product) pair, with
    independent seeds. 32-bit hashes keep the sums exact: even a billion items sum to less
    than 2**63."""
    pair = pl.struct("customer_id", "product_id")
    return [
        (pair.hash(seed=seed) % (1 << 32) * weight).sum().alias(f"checksum_{seed}")
        for seed in (1, 2)
    ]
