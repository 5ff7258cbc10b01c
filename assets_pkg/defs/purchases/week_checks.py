"""Per-week asset checks: each evaluation of a purchase check belongs to one week.

Every purchase check is declared with the weekly partitions (`dg.AssetCheckSpec(...,
partitions_def=...)`), so the UI keeps one history per week. Dagster 1.13 gives an
`AssetCheckResult` a partition only when its run has a single partition key: in a range run
(a single-run backfill) it would carry none, one result for the whole range. So the weekly
assets yield one `dg.AssetCheckEvaluation` per week instead, naming the week
(`week_evaluations`); the run's planned evaluations are per week too, so each is resolved.

`counts_reconcile` is the per-week reconciliation of the stored counts with the stored basket
items and the materialised catalog (`counts.reconcile_week`): a blocking check of its own,
which reads the warehouse, so that it also catches counts left behind by a later rebuild of
the week's items or of the catalog.
"""

from collections.abc import Iterable, Iterator

import dagster as dg
import polars as pl

from assets_pkg.purchases import counts
from assets_pkg.shared.ahead import Ahead


def week_evaluations(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
    results: Iterable[tuple[str, dg.AssetCheckResult]],
) -> Iterator[dg.Output[None] | dg.AssetCheckEvaluation]:
    """Each `(week, result)` (the result naming its asset and check) as the evaluation of its
    check for that week, after the check's (empty) output, once per check, which a result
    would otherwise give: what waits on the check waits on it."""
    assets_def = (
        context.op_execution_context.assets_def
        if isinstance(context, dg.AssetCheckExecutionContext)
        else context.assets_def
    )
    announced: set[dg.AssetCheckKey] = set()
    for week, result in results:
        if result.asset_key is None or result.check_name is None:
            raise ValueError("a per-week check result must name its asset and its check")
        key = dg.AssetCheckKey(result.asset_key, result.check_name)
        spec = assets_def.get_spec_for_check_key(key)
        if key not in announced:
            announced.add(key)
            yield dg.Output(None, output_name=assets_def.get_output_name_for_asset_check_key(key))
        yield dg.AssetCheckEvaluation(
            asset_key=result.asset_key,
            check_name=result.check_name,
            passed=result.passed,
            metadata=result.metadata,
            severity=result.severity,
            description=result.description,
            blocking=spec.blocking,
            partition=week if spec.partitions_def is not None else None,
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
        # The next week is read and reconciled while this one's evaluation is stored.
        with Ahead(reconcile, weeks, name="reconcile-weeks") as ahead:
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
