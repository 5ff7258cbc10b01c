"""Per-week asset checks: each evaluation of a purchase check belongs to one week.

Every purchase check is declared with the weekly partitions (`dg.AssetCheckSpec(...,
partitions_def=...)`), so the UI keeps one history per week. Dagster 1.13 gives an
`AssetCheckResult` a partition only when its run has a single partition key: in a range run
(a single-run backfill) it would carry none, one result for the whole range. So the weekly
assets yield one `dg.AssetCheckEvaluation` per week instead, naming the week
(`week_evaluations`); the run's planned evaluations are per week too, so each is resolved.

The checks themselves live with their assets (`transaction_assets`, `count_assets`).
"""

from collections.abc import Iterable, Iterator

import dagster as dg


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
