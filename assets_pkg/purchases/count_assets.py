"""`weekly_purchase_counts`: each customer's purchases of each product, week by week."""

import datetime as dt
import functools
from collections.abc import Iterator
from typing import Any

import dagster as dg
import polars as pl

from assets_pkg.purchases import GROUP, catalog, counts, schemas
from assets_pkg.shared.metadata import column_schema


def counts_asset(
    partitions: dg.WeeklyPartitionsDefinition, backfill_policy: dg.BackfillPolicy
) -> dg.AssetsDefinition:
    """Reads the materialised catalog and the week's basket items; every customer appears
    every week."""

    @dg.asset(
        group_name=GROUP,
        kinds={"polars", "parquet"},
        description="How many times each customer bought each product in the week; every "
        "customer of customers.csv appears every week (product null, count 0 if idle).",
        metadata=column_schema(schemas.COUNTS, schemas.DESCRIPTIONS),
        check_specs=[dg.AssetCheckSpec("known_ids", asset="weekly_purchase_counts")],
        partitions_def=partitions,
        backfill_policy=backfill_policy,
    )
    def weekly_purchase_counts(
        context: dg.AssetExecutionContext,
        exploded_transactions: dict[str, pl.LazyFrame],
        raw_customers: pl.DataFrame,
        products: pl.DataFrame,
    ) -> Iterator[dg.Output[Any] | dg.AssetCheckResult]:
        try:  # the catalog's blocking checks stop this run; a later run must not join either
            catalog.require_unique_ids(raw_customers, "customer_id", "customers.csv")
            catalog.require_unique_ids(products, "product_id", "products.csv")
        except catalog.AmbiguousCatalogError as error:
            raise dg.Failure(str(error), allow_retries=False) from None
        unknown = counts.unknown_ids(
            pl.concat(list(exploded_transactions.values())), raw_customers, products
        )

        def count_week(key: str, exploded: pl.LazyFrame) -> pl.DataFrame:
            week = counts.weekly_counts(
                exploded, raw_customers, products, dt.date.fromisoformat(key)
            ).collect()
            context.add_asset_metadata(counts.week_metadata(week), partition_key=key)
            return week

        # Deferred frames: each week is counted when the IO manager writes it.
        yield dg.Output(
            {
                key: pl.defer(functools.partial(count_week, key, frame), schema=schemas.COUNTS)
                for key, frame in exploded_transactions.items()
            }
        )
        yield _known_ids_check(unknown)

    return weekly_purchase_counts


def _known_ids_check(unknown: dict[str, list[str]]) -> dg.AssetCheckResult:
    customers, products = unknown["customer_id"], unknown["product_id"]
    return dg.AssetCheckResult(
        check_name="known_ids",
        passed=not (customers or products),
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if not (customers or products)
        else f"{len(customers)} customer id(s) bought but missing from customers.csv and "
        f"{len(products)} product id(s) missing from products.csv; their rows keep null "
        "loyalty_score / product_category.",
        metadata={
            "unknown customer ids": len(customers),
            "unknown product ids": len(products),
            "examples": {"customer_id": customers[:20], "product_id": products[:20]},
        },
    )
