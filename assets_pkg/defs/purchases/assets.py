"""Every purchase asset, over the weekly partitions that the settings define.

    raw_customers ─────────┐
    products ──────────────┼──> weekly_purchase_counts (weekly)
    exploded_transactions ─┘    (weekly)
    transaction_quarantine      (weekly, from the same pass over the feed)

Every check of a weekly asset is evaluated per week (`week_checks`), and
`counts_reconcile` reconciles each week's stored counts with its items and the catalog.

Each lives with its checks in its own module: `catalog_assets`, `transaction_assets`,
`count_assets`. Weekly assets take a single week or a range of weeks in one run (single-run
backfill), or runs of PURCHASES_WEEKS_PER_RUN weeks.
"""

import warnings

import dagster as dg

from assets_pkg.defs.partitions import weekly_partitions
from assets_pkg.defs.purchases.catalog_assets import catalog_assets
from assets_pkg.defs.purchases.count_assets import counts_asset, reconciliation_check
from assets_pkg.defs.purchases.transaction_assets import transaction_assets
from assets_pkg.shared.dates import WeekRange


def build_purchase_assets(
    weeks: WeekRange, weeks_per_run: int | None = None
) -> list[dg.AssetsDefinition]:
    """The purchase assets over the weekly partitions of `weeks` (`Settings.weeks`).

    A backfill of weekly partitions goes in one run, or in runs of `weeks_per_run` weeks
    (PURCHASES_WEEKS_PER_RUN), which the daemon queues and runs side by side."""
    with warnings.catch_warnings():
        # backfill_policy is marked beta in dagster 1.13; single-run backfills rely on it.
        warnings.simplefilter("ignore", dg.BetaWarning)
        # Partitioned asset checks (one evaluation per week) are a preview in dagster 1.13.
        warnings.simplefilter("ignore", dg.PreviewWarning)
        weekly_runs = (
            dg.BackfillPolicy.single_run()
            if weeks_per_run is None
            else dg.BackfillPolicy.multi_run(max_partitions_per_run=weeks_per_run)
        )
        partitions = weekly_partitions(weeks)
        return [
            *catalog_assets(),
            transaction_assets(weeks, partitions, weekly_runs),
            counts_asset(partitions, weekly_runs),
            reconciliation_check(partitions),
        ]
