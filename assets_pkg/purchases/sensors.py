"""Late data: a week whose day folders changed after it was built is built again.

Each week's materialisation of `exploded_transactions` records a fingerprint of exactly what
it read (each file's path and the stamp of the bytes read: size, modification and
status-change times, inode; see `feed.fingerprint`). The sensor compares it with the same
function over the folders as they are now and requests a run of the weekly job for each week
that differs: a file arrived late, grew (even during the build), changed, or vanished. Its
cursor remembers which fingerprint it already asked for, so each change is requested once,
even before the run that rebuilds the week has finished.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import dagster as dg

from assets_pkg.purchases.feed import (
    days_read_for_week,
    find_day_files,
    fingerprint,
    source_root,
)
from assets_pkg.purchases.resources import PurchasesSource
from assets_pkg.purchases.transaction_assets import FINGERPRINT

EXPLODED = dg.AssetKey("exploded_transactions")
PAGE = 1000


def late_data_sensor(
    job: dg.UnresolvedAssetJobDefinition, partitions: dg.WeeklyPartitionsDefinition
) -> dg.SensorDefinition:
    @dg.sensor(
        name="late_purchases_sensor",
        job=job,
        minimum_interval_seconds=300,
        description="Re-builds each week whose day folders changed after it was built.",
    )
    def late_purchases_sensor(
        context: dg.SensorEvaluationContext, purchases_source: PurchasesSource
    ) -> dg.SensorResult:
        source = source_root(purchases_source.source_dir)
        tolerance = purchases_source.date_tolerance_days
        asked: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        requests = []
        for key, built in sorted(built_weeks(context.instance).items()):
            if not partitions.has_partition_key(key):
                continue
            days = days_read_for_week(dt.date.fromisoformat(key), tolerance)
            now = fingerprint(find_day_files(source, days)).digest
            if now == built.fingerprint:
                asked.pop(key, None)  # built as it is now: nothing pending
            elif asked.get(key) != now:
                asked[key] = now
                # Dagster makes one run per run key, ever: the key names the build it repairs
                # too, or a folder changed back and forth (A, B, A, B) would not be rebuilt.
                run_key = f"{key}:{built.storage_id}:{now[:16]}"
                requests.append(dg.RunRequest(run_key=run_key, partition_key=key))
        return dg.SensorResult(run_requests=requests, cursor=json.dumps(asked, sort_keys=True))

    return late_purchases_sensor


@dataclass(frozen=True)
class BuiltWeek:
    fingerprint: str
    """The fingerprint its latest materialisation recorded."""
    storage_id: int
    """That materialisation's event id in the instance: a later build has a larger one."""


def built_weeks(instance: dg.DagsterInstance) -> dict[str, BuiltWeek]:
    """What the latest materialisation of each week recorded."""
    latest: dict[str, BuiltWeek] = {}
    cursor = None
    while True:
        page = instance.fetch_materializations(EXPLODED, limit=PAGE, cursor=cursor)
        for record in page.records:
            materialization = record.asset_materialization
            if materialization is None or materialization.partition is None:
                continue
            value = materialization.metadata.get(FINGERPRINT)
            if materialization.partition not in latest and value is not None:
                latest[materialization.partition] = BuiltWeek(str(value.value), record.storage_id)
        if not page.has_more:
            return latest
        cursor = page.cursor
