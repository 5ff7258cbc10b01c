"""The purchase sources as assets of the graph: customers.csv, products.csv, and the feed.

Nothing here builds anything: Dagster does not make these files, it reads them. The two CSVs
are external assets; the feed (`transactions/d=YYYY-MM-DD/*.json`) is an observable source
asset over the weekly partitions. A week's data version is the fingerprint of exactly the
files a build of that week reads (`feed.fingerprint` over `days_read_for_week`), so a week
whose version changes after it was built has a late or changed file (docs/purchases.md).
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable

import dagster as dg

from assets_pkg.defs.purchases.resources import PurchasesSource
from assets_pkg.purchases.feed import (
    Fingerprint,
    days_read_for_week,
    find_day_files,
    fingerprint,
    weeks_with_data,
)
from assets_pkg.shared.dates import key_of
from assets_pkg.shared.location import Location

GROUP = "sources"
"""The asset group of every source of the code location (purchases and signatures)."""

FEED = dg.AssetKey("purchase_feed")
CUSTOMERS_CSV = dg.AssetKey("customers_csv")
PRODUCTS_CSV = dg.AssetKey("products_csv")

DATA_VERSION_TAG = "dagster/data_version"
"""The tag Dagster reads an observation's data version from (`DataVersion`): an
observation made outside the observation function (by the build, by the sensor) carries
it the same way."""


def week_fingerprints(
    source: Location, weeks: Iterable[dt.date], tolerance_days: int
) -> dict[str, Fingerprint]:
    """Each week's fingerprint of the files a build of it would read now."""
    return {
        key_of(week): fingerprint(find_day_files(source, days_read_for_week(week, tolerance_days)))
        for week in weeks
    }


def weeks_to_observe(source: Location, partitions: dg.WeeklyPartitionsDefinition) -> list[dt.date]:
    """The weeks that are partitions and have at least one day folder."""
    return [
        week
        for week in weeks_with_data(source, partitions.start.date())
        if partitions.has_partition_key(key_of(week))
    ]


def observation(key: str, week: Fingerprint) -> dg.AssetObservation:
    """The feed's week `key` observed at the version `week` (what a build of it reads)."""
    return dg.AssetObservation(
        asset_key=FEED,
        partition=key,
        tags={DATA_VERSION_TAG: week.digest},
        metadata={"feed files": week.files},
    )


def purchase_source_assets(
    partitions: dg.WeeklyPartitionsDefinition,
) -> list[dg.AssetSpec | dg.SourceAsset]:
    """customers.csv, products.csv and the feed, upstream of what reads them."""
    with warnings.catch_warnings():  # observable_source_asset is marked beta in dagster 1.13
        warnings.simplefilter("ignore", dg.BetaWarning)
        feed = _feed_asset(partitions)
    return [*_catalog_specs(), feed]


def _feed_asset(partitions: dg.WeeklyPartitionsDefinition) -> dg.SourceAsset:
    @dg.observable_source_asset(
        key=FEED,
        group_name=GROUP,
        partitions_def=partitions,
        description="The purchase feed, transactions/d=YYYY-MM-DD/*.json under "
        "PURCHASES_SOURCE_DIR. A week's data version is the fingerprint of the day folders a "
        "build of that week reads (its own seven and the tolerance days on each side).",
    )
    def purchase_feed(purchases_source: PurchasesSource) -> dg.DataVersionsByPartition:
        source = purchases_source.folder()
        weeks = weeks_to_observe(source, partitions)
        found = week_fingerprints(source, weeks, purchases_source.date_tolerance_days)
        return dg.DataVersionsByPartition({key: week.digest for key, week in found.items()})

    return purchase_feed


def _catalog_specs() -> list[dg.AssetSpec]:
    return [
        dg.AssetSpec(
            CUSTOMERS_CSV,
            group_name=GROUP,
            description="customers.csv under PURCHASES_SOURCE_DIR: customer_id, loyalty_score.",
            kinds={"csv"},
        ),
        dg.AssetSpec(
            PRODUCTS_CSV,
            group_name=GROUP,
            description="products.csv under PURCHASES_SOURCE_DIR: product_id, "
            "product_description, product_category.",
            kinds={"csv"},
        ),
    ]
