"""`raw_customers` and `products`: the two CSVs, typed, with their checks.

The id checks are blocking: a duplicate or empty id stops every asset downstream in the same
run, since a join on an ambiguous id would double or invent rows.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from assets_pkg.defs.metadata import column_schema, preview
from assets_pkg.defs.purchases.resources import PurchasesSource
from assets_pkg.defs.purchases.source_assets import CUSTOMERS_CSV, PRODUCTS_CSV
from assets_pkg.purchases import GROUP, catalog, schemas


def catalog_assets() -> list[dg.AssetsDefinition]:
    """Unpartitioned, with a single-run backfill policy so that a range run of the weekly
    assets can build them in the same run."""

    @dg.asset(
        group_name=GROUP,
        kinds={"polars", "parquet"},
        description="customers.csv, typed: customer_id, loyalty_score (1..10, null if invalid).",
        metadata=column_schema(schemas.CUSTOMERS, schemas.DESCRIPTIONS),
        check_specs=[
            dg.AssetCheckSpec(
                "unique_customer_ids",
                asset="raw_customers",
                blocking=True,
                description="Every customer_id of customers.csv is present and unique. "
                "Blocking: a join on an ambiguous id would double or invent counts.",
            ),
            dg.AssetCheckSpec(
                "valid_loyalty_scores",
                asset="raw_customers",
                description="Every loyalty_score of customers.csv is a whole number from 1 to "
                "10; an invalid one is kept as null.",
            ),
        ],
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[CUSTOMERS_CSV],
    )
    def raw_customers(
        purchases_source: PurchasesSource,
    ) -> Iterator[dg.Output[Any] | dg.AssetCheckResult]:
        written = purchases_source.customers_file()
        customers = catalog.customers_from(written)
        bad_ids = catalog.duplicate_or_empty_ids(customers, "customer_id")
        bad_scores = catalog.invalid_loyalty(written)
        yield dg.Output(customers)  # row count and preview: the IO manager adds them
        yield _ids_check("unique_customer_ids", bad_ids, "customers.csv")
        yield dg.AssetCheckResult(
            check_name="valid_loyalty_scores",
            passed=bad_scores.is_empty(),
            severity=dg.AssetCheckSeverity.WARN,
            description=None
            if bad_scores.is_empty()
            else f"{bad_scores.height} customer(s) in customers.csv have a loyalty "
            "score that is not a whole number from 1 to 10; it is kept as null.",
            metadata={"invalid": preview(bad_scores, 20), "count": bad_scores.height},
        )

    @dg.asset(
        group_name=GROUP,
        kinds={"polars", "parquet"},
        description="products.csv, typed: product_id, product_description, product_category.",
        metadata=column_schema(schemas.PRODUCTS, schemas.DESCRIPTIONS),
        check_specs=[
            dg.AssetCheckSpec(
                "unique_product_ids",
                asset="products",
                blocking=True,
                description="Every product_id of products.csv is present and unique. "
                "Blocking: a join on an ambiguous id would double or invent counts.",
            )
        ],
        backfill_policy=dg.BackfillPolicy.single_run(),
        deps=[PRODUCTS_CSV],
    )
    def products(
        purchases_source: PurchasesSource,
    ) -> Iterator[dg.Output[Any] | dg.AssetCheckResult]:
        frame = purchases_source.products()
        yield dg.Output(frame)
        yield _ids_check(
            "unique_product_ids",
            catalog.duplicate_or_empty_ids(frame, "product_id"),
            "products.csv",
        )

    return [raw_customers, products]


def _ids_check(name: str, bad_ids: list[str], file: str) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        check_name=name,
        passed=not bad_ids,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None
        if not bad_ids
        else f"{file} has duplicate or empty ids: {', '.join(bad_ids[:20])}. "
        "Downstream assets do not run on ambiguous data: fix the file and re-run.",
        metadata={"bad ids": bad_ids[:100], "count": len(bad_ids)},
    )
