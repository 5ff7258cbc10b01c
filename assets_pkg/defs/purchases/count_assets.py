"""`weekly_purchase_counts`: each customer's purchases of each product, week by week, and its
checks.

`counts_reconcile` is the per-week reconciliation of the stored counts with the stored basket
items and the materialised catalog (`counts.reconcile_week`): a blocking check of its own,
which reads the warehouse, so that it also catches counts left behind by a later rebuild of
the week's items or of the catalog.
"""

import datetime as dt
import functools
from collections.abc import Iterator
from typing import Any

import dagster as dg
import polars as pl

from assets_pkg.defs.io_manager import FrameParts, FramesOnDemand
from assets_pkg.defs.metadata import column_schema
from assets_pkg.defs.purchases.week_checks import week_evaluations
from assets_pkg.purchases import GROUP, catalog, counts, schemas
from assets_pkg.shared.ahead import Ahead
from assets_pkg.shared.dates import week_of


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
        check_specs=[
            dg.AssetCheckSpec(
                "known_ids",
                asset="weekly_purchase_counts",
                description="Every customer id and product id bought in the week is listed "
                "in customers.csv and products.csv; the rows of an unknown one keep a null "
                "loyalty_score or product_category.",
                partitions_def=partitions,
            )
        ],
        freshness_policy=week_due(partitions),
        partitions_def=partitions,
        backfill_policy=backfill_policy,
    )
    def weekly_purchase_counts(
        context: dg.AssetExecutionContext,
        exploded_transactions: dict[str, pl.LazyFrame],
        raw_customers: pl.DataFrame,
        products: pl.DataFrame,
    ) -> Iterator[dg.Output[Any] | dg.AssetCheckEvaluation]:
        try:  # the catalog's blocking checks stop this run; a later run must not join either
            catalog.require_unique_ids(raw_customers, "customer_id", "customers.csv")
            catalog.require_unique_ids(products, "product_id", "products.csv")
        except catalog.AmbiguousCatalogError as error:
            raise dg.Failure(str(error), allow_retries=False) from None
        unknown: dict[str, dict[str, list[str]]] = {}  # each week's unknown ids

        def count_week(key: str) -> counts.CountedWeek:  # in a worker thread
            return counts.count_week(
                exploded_transactions[key], raw_customers, products, week_of(key)
            )

        def counted(ahead: Ahead[counts.CountedWeek], key: str) -> FrameParts:
            week = ahead.result(key)
            unknown[key] = week.unknown
            context.add_asset_metadata(week.metadata, partition_key=key)
            return FrameParts(schemas.COUNTS, week.parts())

        keys = sorted(exploded_transactions)
        # The IO manager asks for one week at a time and writes it while the next ones are
        # counted, as many as the largest week of the run allows (`counting_ahead`).
        ahead_weeks, workers = counting_ahead(_largest(exploded_transactions))
        with Ahead(
            count_week, keys, ahead=ahead_weeks, workers=workers, name="count-weeks"
        ) as ahead:
            yield dg.Output(FramesOnDemand(keys, functools.partial(counted, ahead)))
            for key in keys:
                if key not in unknown:  # an IO manager that stored nothing: the
                    counted(ahead, key)  # check is still computed from every week
        # One evaluation per week, naming the week.
        yield from week_evaluations(
            context, ((key, _known_ids_check(unknown[key])) for key in keys)
        )

    return weekly_purchase_counts


PAIR_ITEMS = 200_000
"""The largest week (basket items) counted two at a time, two weeks ahead of the one being
written: a week of the bench's large feed holds about 140,000 items, and counting them one
at a time kept the step waiting on its one counting thread (its 104 weeks in 7.1-7.4 s,
against 6.0-6.3 s with two; docs/performance.md)."""

AHEAD_ITEMS = 500_000
"""The largest week (basket items) counted ahead of the one being written, one at a time: at
three times the bench's customers a week holds about 420,000 items; at ten times, 1.4
million, counting one holds about 190 MB (docs/performance.md)."""


def _largest(weeks: dict[str, pl.LazyFrame]) -> int:
    """The basket items of the largest of `weeks` (from the files' footers)."""
    return max((week.select(pl.len()).collect().item() for week in weeks.values()), default=0)


def counting_ahead(largest: int) -> tuple[int, int]:
    """(weeks counted ahead of the one being written, threads counting them) for a run whose
    largest week holds `largest` basket items: memory holds the counting of three small weeks,
    two of a mid-sized week, and one of a large week at a time."""
    if largest <= PAIR_ITEMS:
        return 2, 2
    if largest <= AHEAD_ITEMS:
        return 1, 1
    return 0, 1


DUE_CRON = "0 12 * * 2"
"""Tuesdays 12:00 UTC: a week's counts are due six hours after the schedule's tick
(`definitions.SCHEDULE`, Tuesdays 06:00 UTC), which builds the week that ended on Monday."""

DUE_WINDOW = dt.timedelta(hours=6)
"""Only a materialisation after the schedule's tick (deadline minus this) counts as the
week's."""


def week_due(partitions: dg.WeeklyPartitionsDefinition) -> dg.FreshnessPolicy | None:
    """When each week's counts are due, while weeks still come: none when the partitions end
    (PURCHASES_END_DATE) in the past, since no week will be due any more (the bundled sample).

    Dagster 1.13 evaluates a freshness policy on the asset's latest materialisation of any
    week, not per week: a rebuild of an older week after the tick hides a missing new week
    (docs/decisions.md)."""
    end = partitions.end
    if end is not None and end <= dt.datetime.now(dt.UTC):
        return None
    return dg.FreshnessPolicy.cron(
        deadline_cron=DUE_CRON, lower_bound_delta=DUE_WINDOW, timezone="UTC"
    )


def _known_ids_check(unknown: dict[str, list[str]]) -> dg.AssetCheckResult:
    customers, products = unknown["customer_id"], unknown["product_id"]
    return dg.AssetCheckResult(
        asset_key="weekly_purchase_counts",
        check_name="known_ids",
        passed=not (customers or products),
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if not (customers or products)
        else f"{len(customers)} customer id(s) bought in the week but missing from "
        f"customers.csv and "
        f"{len(products)} product id(s) missing from products.csv; their rows keep null "
        "loyalty_score / product_category.",
        metadata={
            "unknown customer ids": len(customers),
            "unknown product ids": len(products),
            "examples": {"customer_id": customers[:20], "product_id": products[:20]},
        },
    )


RECONCILE = "counts_reconcile"

RECONCILE_DESCRIPTION = (
    "Per week, the stored counts reconcile with the stored basket items and the catalog: "
    "the counts sum to the week's exploded_transactions rows, pair by pair (customer, "
    "product), and every customer of raw_customers has a row. Blocking: counts that fail "
    "it are wrong for anything that reads them; materialise the week again."
)


def reconciliation_check(partitions: dg.WeeklyPartitionsDefinition) -> dg.AssetChecksDefinition:
    """`counts_reconcile` on `weekly_purchase_counts`, one evaluation per week of the run."""

    # Typed as returning one AssetCheckResult; Dagster runs a generator of events as well,
    # which one evaluation per week needs.
    @dg.asset_check(  # type: ignore[arg-type]
        asset="weekly_purchase_counts",
        name=RECONCILE,
        description=RECONCILE_DESCRIPTION,
        blocking=True,
        partitions_def=partitions,
        additional_ins={
            "exploded_transactions": dg.AssetIn("exploded_transactions"),
            "raw_customers": dg.AssetIn("raw_customers"),
        },
    )
    def counts_reconcile(
        context: dg.AssetCheckExecutionContext,
        weekly_purchase_counts: dict[str, pl.LazyFrame],
        exploded_transactions: dict[str, pl.LazyFrame],
        raw_customers: pl.DataFrame,
    ) -> Iterator[dg.Output[None] | dg.AssetCheckEvaluation]:
        def reconcile(week: str) -> counts.Reconciliation:  # in a worker thread
            return counts.reconcile_week(
                weekly_purchase_counts[week], exploded_transactions[week], raw_customers
            )

        weeks = sorted(weekly_purchase_counts)
        # The next weeks are read and reconciled while this one's evaluation is stored: two
        # at once when every week is small, as they are counted (1.54 -> 1.33 s for the 104
        # weeks of the bench's large feed), else one.
        at_once = 2 if _largest(exploded_transactions) <= PAIR_ITEMS else 1
        with Ahead(
            reconcile, weeks, ahead=at_once, workers=at_once, name="reconcile-weeks"
        ) as ahead:
            yield from week_evaluations(
                context, ((week, reconcile_result(ahead.result(week))) for week in weeks)
            )

    return counts_reconcile


def reconcile_result(found: counts.Reconciliation) -> dg.AssetCheckResult:
    """The check's result for one week's `counts.reconcile_week`."""
    problems = []
    if found.counted != found.items:
        problems.append(
            f"the counts sum to {found.counted:,} purchases where exploded_transactions holds "
            f"{found.items:,} basket items"
        )
    if found.mismatched_pairs:
        problems.append(
            f"{len(found.mismatched_pairs):,} (customer, product) pair(s) are counted otherwise "
            f"than bought (e.g. {_first(found.mismatched_pairs)})"
        )
    if found.missing_customers:
        problems.append(
            f"{len(found.missing_customers):,} customer(s) of raw_customers have no row "
            f"(e.g. {_first(found.missing_customers)})"
        )
    return dg.AssetCheckResult(
        asset_key="weekly_purchase_counts",
        check_name=RECONCILE,
        passed=not problems,
        severity=dg.AssetCheckSeverity.ERROR,
        description=None
        if not problems
        else "The week's counts do not reconcile: "
        + "; ".join(problems)
        + ". Materialise the week of weekly_purchase_counts again (with its catalog).",
        metadata={
            "basket items": found.items,
            "purchases counted": found.counted,
            "mismatched pairs": len(found.mismatched_pairs),
            "customers without a row": len(found.missing_customers),
            "examples": {
                "pairs": found.mismatched_pairs[:20],
                "customers": found.missing_customers[:20],
            },
        },
    )


def _first(names: list[str], shown: int = 5) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more
