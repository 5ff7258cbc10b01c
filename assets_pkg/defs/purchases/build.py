"""The purchase domain's Dagster definitions, merged into `assets_pkg.definitions`."""

from __future__ import annotations

import datetime as dt

import dagster as dg

from assets_pkg.defs.partitions import weekly_partitions
from assets_pkg.defs.purchases.assets import build_purchase_assets
from assets_pkg.defs.purchases.resources import PurchasesSource
from assets_pkg.defs.purchases.sensors import late_data_sensor
from assets_pkg.defs.purchases.source_assets import purchase_source_assets
from assets_pkg.defs.resource_checks import env_or
from assets_pkg.purchases import GROUP
from assets_pkg.purchases.feed import week_days, weeks_without_data
from assets_pkg.shared.dates import WEEK, key_of, monday_of
from assets_pkg.shared.settings import Settings

SCHEDULE = "0 6 * * 2"
"""Tuesdays 06:00 UTC: the week that ended on Monday 00:00 is built then, once the next
day's folder, which the default tolerance of one day also reads, has arrived."""


def build_defs(settings: Settings) -> dg.Definitions:
    weeks = settings.weeks
    partitions = weekly_partitions(weeks)  # the same object the assets are built over
    weekly_job = dg.define_asset_job(
        "weekly_purchases",
        selection=dg.AssetSelection.groups(GROUP),
        description="Every purchase asset for one week: the CSVs, the week's transactions, "
        "its quarantine and its counts.",
    )
    return dg.Definitions(
        assets=[
            *purchase_source_assets(partitions),
            *build_purchase_assets(weeks, settings.purchases_weeks_per_run),
        ],
        jobs=[weekly_job],
        schedules=[weekly_schedule(weekly_job, partitions)],
        sensors=[late_data_sensor(weekly_job, partitions)],
        resources={
            # dg.EnvVar for a variable that is set: Dagster shows its name, reads it when a
            # run starts, and the resource's rules check what it read.
            "purchases_source": PurchasesSource(
                source_dir=env_or(settings, "PURCHASES_SOURCE_DIR", settings.purchases_source_dir),
                date_tolerance_days=env_or(
                    settings, "PURCHASES_DATE_TOLERANCE_DAYS", settings.date_tolerance_days
                ),
            )
        },
    )


def weekly_schedule(
    job: dg.UnresolvedAssetJobDefinition, partitions: dg.WeeklyPartitionsDefinition
) -> dg.ScheduleDefinition:
    """Each Tuesday, the week that ended: a run when its data has arrived, a skip saying why
    not otherwise (the week lies outside the partitions, or none of its day folders exists
    yet), so that no tick launches a run bound to fail."""

    @dg.schedule(
        name="weekly_purchases_schedule",
        cron_schedule=SCHEDULE,
        execution_timezone="UTC",
        job=job,
        description="Tuesdays 06:00 UTC: the week that ended, once its day folders are there.",
    )
    def weekly_purchases_schedule(
        context: dg.ScheduleEvaluationContext, purchases_source: PurchasesSource
    ) -> dg.RunRequest | dg.SkipReason:
        tick = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        week = monday_of(tick.astimezone(dt.UTC).date()) - WEEK
        return week_request(week, partitions, purchases_source)

    return weekly_purchases_schedule


def week_request(
    week: dt.date, partitions: dg.WeeklyPartitionsDefinition, purchases_source: PurchasesSource
) -> dg.RunRequest | dg.SkipReason:
    """A run for `week`, or the reason why it would fail: the source folder is found as a
    run finds it (`PurchasesSource.find_folder`), with the same sentences."""
    key = key_of(week)
    if not partitions.has_partition_key(key):
        first, last = partitions.get_first_partition_key(), partitions.get_last_partition_key()
        return dg.SkipReason(
            f"The week of {key} is not a partition (the partitions run from {first} to {last}; "
            "PURCHASES_START_DATE and PURCHASES_END_DATE set them): nothing to build."
        )
    source_dir, problem = purchases_source.find_folder()
    if problem is not None:
        return dg.SkipReason(problem)
    if weeks_without_data(source_dir, [week]):
        days = week_days(week)
        return dg.SkipReason(
            f"None of the day folders of the week of {key} (transactions/d={days[0]} to "
            f"d={days[-1]}) has arrived under {source_dir} yet: materialise the week when "
            "they are there."
        )
    return dg.RunRequest(run_key=key, partition_key=key)
