"""The purchase assets: a thin Dagster shell around the pure functions of this package.

    raw_customers ─────────┐
    products ──────────────┼──> weekly_purchase_counts (weekly)
    exploded_transactions ─┘    (weekly)
    transaction_quarantine      (weekly, from the same pass over the feed)

Weekly assets take a single week or a range of weeks in one run (single-run backfill, or
runs of PURCHASES_WEEKS_PER_RUN weeks).
A range is processed week by week, so memory stays at about one week of data.
"""

import dataclasses
import datetime as dt
import functools
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from assets_pkg.purchases import catalog, counts, schemas
from assets_pkg.purchases.feed import badly_named_day_folders, week_days, weeks_without_data
from assets_pkg.purchases.resources import PurchasesSource
from assets_pkg.purchases.weeks import WeekRead, WeekReader
from assets_pkg.shared.metadata import column_schema, preview

GROUP = "purchases"


def build_purchase_assets(
    partitions: dg.WeeklyPartitionsDefinition, weeks_per_run: int | None = None
) -> list[dg.AssetsDefinition]:
    """The purchase assets over `partitions` (its start date comes from the settings).

    A backfill of weekly partitions goes in one run, or in runs of `weeks_per_run` weeks
    (PURCHASES_WEEKS_PER_RUN), which the daemon queues and runs side by side."""
    with warnings.catch_warnings():
        # backfill_policy is marked beta in dagster 1.13; single-run backfills rely on it.
        warnings.simplefilter("ignore", dg.BetaWarning)
        return _build_purchase_assets(partitions, weeks_per_run)


def _build_purchase_assets(
    partitions: dg.WeeklyPartitionsDefinition, weeks_per_run: int | None
) -> list[dg.AssetsDefinition]:
    single_run = dg.BackfillPolicy.single_run()
    weekly_runs = (
        single_run
        if weeks_per_run is None
        else dg.BackfillPolicy.multi_run(max_partitions_per_run=weeks_per_run)
    )

    @dg.asset(
        group_name=GROUP,
        kinds={"polars", "parquet"},
        description="customers.csv, typed: customer_id, loyalty_score (1..10, null if invalid).",
        metadata=column_schema(schemas.CUSTOMERS),
        check_specs=[
            dg.AssetCheckSpec("unique_customer_ids", asset="raw_customers", blocking=True),
            dg.AssetCheckSpec("valid_loyalty_scores", asset="raw_customers"),
        ],
        backfill_policy=single_run,
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
        metadata=column_schema(schemas.PRODUCTS),
        check_specs=[dg.AssetCheckSpec("unique_product_ids", asset="products", blocking=True)],
        backfill_policy=single_run,
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

    @dg.multi_asset(
        outs={
            "exploded_transactions": dg.AssetOut(
                group_name=GROUP,
                kinds={"polars", "parquet"},
                description="One row per basket item of the week (event time), with its "
                "source file and line.",
                metadata=column_schema(schemas.EXPLODED),
                is_required=False,
            ),
            "transaction_quarantine": dg.AssetOut(
                group_name=GROUP,
                kinds={"polars", "parquet"},
                description="Everything of the week's folders that could not be used: file, "
                "line, raw text and reason.",
                metadata=column_schema(schemas.QUARANTINE),
                is_required=False,
            ),
        },
        check_specs=[
            dg.AssetCheckSpec("all_day_folders_present", asset="exploded_transactions"),
            dg.AssetCheckSpec(
                "day_folders_well_named",
                asset="exploded_transactions",
                description="Every entry of transactions/ is a day folder named d=YYYY-MM-DD; "
                "any other is never read by any week.",
            ),
            dg.AssetCheckSpec("quarantine_is_empty", asset="transaction_quarantine"),
        ],
        can_subset=True,
        partitions_def=partitions,
        backfill_policy=weekly_runs,
    )
    def transactions(
        context: dg.AssetExecutionContext, purchases_source: PurchasesSource
    ) -> Iterator[dg.Output[Any] | dg.AssetCheckResult]:
        """Both assets come from one pass over the feed; a range is read week by week."""
        source = purchases_source.folder()
        weeks = [dt.date.fromisoformat(key) for key in context.partition_keys]
        _fail_on_weeks_without_data(source, weeks)
        done: dict[str, WeekRead] = {}  # kept without their exploded rows
        progress = _Progress(context, total=len(weeks))

        def read(reader: WeekReader, key: str) -> pl.DataFrame:
            week = reader.read(dt.date.fromisoformat(key))
            done[key] = dataclasses.replace(week, exploded=week.exploded.clear())
            progress.week_done(week)
            return week.exploded

        with WeekReader(source, purchases_source.date_tolerance_days, weeks) as reader:
            if dg.AssetKey("exploded_transactions") in context.selected_asset_keys:
                # Deferred frames: the IO manager computes and writes one week at a time.
                yield dg.Output(
                    {
                        key: pl.defer(functools.partial(read, reader, key), schema=schemas.EXPLODED)
                        for key in context.partition_keys
                    },
                    output_name="exploded_transactions",
                )
            for key in context.partition_keys:
                if key not in done:
                    read(reader, key)
        summary = _TransactionsSummary(list(done.values()), badly_named_day_folders(source))
        if dg.AssetKey("transaction_quarantine") in context.selected_asset_keys:
            yield dg.Output(
                {key: week.quarantine for key, week in done.items()},
                output_name="transaction_quarantine",
                metadata=summary.quarantine_metadata(),
            )
        for check in context.selected_asset_check_keys:
            yield summary.check_result(check.name)

    @dg.asset(
        group_name=GROUP,
        kinds={"polars", "parquet"},
        description="How many times each customer bought each product in the week; every "
        "customer of customers.csv appears every week (product null, count 0 if idle).",
        metadata=column_schema(schemas.COUNTS),
        check_specs=[dg.AssetCheckSpec("known_ids", asset="weekly_purchase_counts")],
        partitions_def=partitions,
        backfill_policy=weekly_runs,
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

    return [raw_customers, products, transactions, weekly_purchase_counts]


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


class _Progress:
    """About ten log lines for a long range (each log line is an event Dagster stores)."""

    def __init__(self, context: dg.AssetExecutionContext, total: int) -> None:
        self.context = context
        self.total = total
        self.every = max(1, total // 10)
        self.done = 0
        self.items = 0
        self.started = time.monotonic()

    def week_done(self, week: WeekRead) -> None:
        self.done += 1
        self.items += week.exploded.height
        if self.done % self.every and self.done != self.total:
            return
        elapsed = time.monotonic() - self.started
        self.context.log.info(
            f"{self.done}/{self.total} weeks read ({week.week}): {self.items:,} items so far, "
            f"{elapsed:.1f} s; this week {week.exploded.height:,} items, "
            f"{week.quarantine.height:,} quarantined, {week.files_read} files"
            + (f", missing days {_days(week.missing_days)}" if week.missing_days else "")
        )


@dataclasses.dataclass(frozen=True)
class _TransactionsSummary:
    weeks: list[WeekRead]
    badly_named: list[str]
    """Entries of transactions/ that no week reads (about the whole feed, not these weeks)."""

    @property
    def missing_days(self) -> list[dt.date]:
        return sorted({day for week in self.weeks for day in week.missing_days})

    @property
    def quarantined(self) -> int:
        return sum(week.quarantine.height for week in self.weeks)

    def quarantine_metadata(self) -> dict[str, Any]:
        everything = pl.concat([week.quarantine for week in self.weeks])
        return {
            "quarantined rows": self.quarantined,
            "reasons": preview(_reason_counts(everything), 20),
            "preview": preview(everything),
            "missing days": [d.isoformat() for d in self.missing_days],
        }

    def check_result(self, name: str) -> dg.AssetCheckResult:
        if name == "all_day_folders_present":
            missing = self.missing_days
            return dg.AssetCheckResult(
                asset_key="exploded_transactions",
                check_name=name,
                passed=not missing,
                severity=dg.AssetCheckSeverity.WARN,
                description=None
                if not missing
                else f"{len(missing)} day folder(s) read by these weeks are missing: "
                f"{_days(missing)}. Their purchases are absent until they arrive; "
                "re-materialise the weeks then.",
                metadata={"missing days": [d.isoformat() for d in missing]},
            )
        if name == "day_folders_well_named":
            return _well_named_check(self.badly_named)
        return dg.AssetCheckResult(
            asset_key="transaction_quarantine",
            check_name=name,
            passed=self.quarantined == 0,
            severity=dg.AssetCheckSeverity.WARN,
            description=None
            if self.quarantined == 0
            else f"{self.quarantined} line(s), item(s) or file(s) were quarantined; see "
            "transaction_quarantine for file, line and reason.",
            metadata={"quarantined rows": self.quarantined},
        )


def _well_named_check(badly_named: list[str]) -> dg.AssetCheckResult:
    shown = ", ".join(badly_named[:10])
    more = f" and {len(badly_named) - 10} more" if len(badly_named) > 10 else ""
    return dg.AssetCheckResult(
        asset_key="exploded_transactions",
        check_name="day_folders_well_named",
        passed=not badly_named,
        severity=dg.AssetCheckSeverity.WARN,
        description=None
        if not badly_named
        else f"{len(badly_named)} entry(ies) of transactions/ are not named d=YYYY-MM-DD, so "
        f"no week reads them: {shown}{more}. Rename each to the day it holds "
        "(e.g. d=2024-01-05) or move it out of transactions/.",
        metadata={"entries": badly_named[:100], "count": len(badly_named)},
    )


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


def _fail_on_weeks_without_data(source: Path, weeks: list[dt.date]) -> None:
    empty = weeks_without_data(source, weeks)
    if empty:
        folders = ", ".join(f"transactions/d={d}" for w in empty[:3] for d in week_days(w))
        raise dg.Failure(
            f"No transactions for week(s) {_days(empty)}: none of their day folders exist "
            f"under {source} ({folders}{', …' if len(empty) > 3 else ''}). The data has not "
            "arrived yet, or PURCHASES_SOURCE_DIR points at the wrong folder.",
            allow_retries=False,
        )


def _days(days: list[dt.date]) -> str:
    shown = ", ".join(d.isoformat() for d in days[:10])
    return shown + (f" and {len(days) - 10} more" if len(days) > 10 else "")


def _reason_counts(quarantine: pl.DataFrame) -> pl.DataFrame:
    kind = pl.col("reason").str.replace(r"\s*[\(\"'].*$", "").str.replace(r"\d+", "N")
    return (
        quarantine.group_by(kind.alias("reason")).agg(rows=pl.len()).sort("rows", descending=True)
    )
