"""Late data: the feed observed week by week, and each week that changed after it was built
built again.

The feed is an observable source asset (`source_assets.purchase_feed`) whose data version
for a week is the fingerprint of exactly what a build of that week reads. Each build records
the fingerprint of the bytes it read, both in its materialisation's metadata (`feed
fingerprint`) and as an observation of the feed's week (the version it was built from). On
each evaluation this sensor observes the feed as it is now, records an observation for every
week whose version changed (so the UI shows the week changed upstream), and requests a run of
the weekly job for each built week whose version differs from the one its build read: a file
arrived late, grew (even during the build), changed, or vanished. Its cursor remembers which
version it already asked for, so each change is requested once, even before the run that
rebuilds the week has finished. Why a sensor and not an automation condition:
docs/decisions.md ("Late data: observations in Dagster, the rebuild from a sensor").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg

from assets_pkg.defs.purchases.resources import PurchasesSource
from assets_pkg.defs.purchases.source_assets import (
    DATA_VERSION_TAG,
    FEED,
    observation,
    week_fingerprints,
    weeks_to_observe,
)
from assets_pkg.defs.purchases.transaction_assets import FINGERPRINT
from assets_pkg.shared.dates import key_of, week_of

EXPLODED = dg.AssetKey("exploded_transactions")
PAGE = 1000
INTERVAL_S = 300
"""Between two evaluations: each one lists the day folders of every week with data."""


def late_data_sensor(
    job: dg.UnresolvedAssetJobDefinition, partitions: dg.WeeklyPartitionsDefinition
) -> dg.SensorDefinition:
    @dg.sensor(
        name="late_purchases_sensor",
        job=job,
        minimum_interval_seconds=INTERVAL_S,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Observes the purchase feed week by week and re-builds each week whose "
        "day folders changed after it was built.",
    )
    def late_purchases_sensor(
        context: dg.SensorEvaluationContext, purchases_source: PurchasesSource
    ) -> dg.SensorResult:
        source, problem = purchases_source.find_folder()
        if problem is not None:
            # Unmounted, renamed, or a store that refuses the credentials: no late data.
            # Every built week's files would seem to have vanished, and each rebuild would
            # fail on the same folder.
            return dg.SensorResult(
                skip_reason=f"{problem.removesuffix('.')}; nothing is observed or re-built "
                "until it can be read.",
                cursor=context.cursor,
            )
        built = built_weeks(context.instance)
        weeks = {key_of(w) for w in weeks_to_observe(source, partitions)}
        weeks |= {key for key in built if partitions.has_partition_key(key)}
        now = week_fingerprints(
            source,
            [week_of(key) for key in sorted(weeks)],
            purchases_source.date_tolerance_days,
        )
        recorded = observed_versions(context.instance)
        changed = [key for key, week in now.items() if recorded.get(key) != week.digest]
        asked: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
        requests, pending = [], []
        for key, week in now.items():
            if key not in built:
                continue
            if week.digest == built[key].fingerprint:
                asked.pop(key, None)  # built as it is now: nothing pending
            elif asked.get(key) != week.digest:
                asked[key] = week.digest
                # Dagster makes one run per run key, ever: the key names the build it repairs
                # too, or a folder changed back and forth (A, B, A, B) would not be rebuilt.
                run_key = f"{key}:{built[key].storage_id}:{week.digest[:16]}"
                requests.append(dg.RunRequest(run_key=run_key, partition_key=key))
            else:
                pending.append(key)
        return dg.SensorResult(
            run_requests=requests,
            skip_reason=None if requests else skip_reason(len(built), pending),
            asset_events=[observation(key, now[key]) for key in changed],
            cursor=json.dumps(asked, sort_keys=True),
        )

    return late_purchases_sensor


def skip_reason(built: int, pending: list[str]) -> str:
    """Why an evaluation requests no run."""
    if pending:
        return (
            f"The rebuild of the week(s) {', '.join(pending)} was already requested for the "
            "feed as it is now: waiting for it to run."
        )
    if not built:
        return "No week of exploded_transactions is built yet: nothing to re-build."
    return (
        f"Every one of the {built} built week(s) was built from the feed as it is now "
        "(same day files, same stamps): nothing to re-build."
    )


@dataclass(frozen=True)
class BuiltWeek:
    fingerprint: str
    """The fingerprint its latest materialisation recorded."""
    storage_id: int
    """That materialisation's event id in the instance: a later build has a larger one."""


def built_weeks(instance: dg.DagsterInstance) -> dict[str, BuiltWeek]:
    """What the latest materialisation of each week recorded."""
    latest: dict[str, BuiltWeek] = {}

    def keep(record: dg.EventLogRecord) -> None:
        materialization = record.asset_materialization
        if materialization is None or materialization.partition is None:
            return
        value = materialization.metadata.get(FINGERPRINT)
        if materialization.partition not in latest and value is not None:
            latest[materialization.partition] = BuiltWeek(str(value.value), record.storage_id)

    _each_newest_first(lambda cursor: instance.fetch_materializations(EXPLODED, PAGE, cursor), keep)
    return latest


def observed_versions(instance: dg.DagsterInstance) -> dict[str, str]:
    """The data version of each week of the feed that was observed last (by this sensor, by
    a build, or by the feed's own observation)."""
    latest: dict[str, str] = {}

    def keep(record: dg.EventLogRecord) -> None:
        observed = record.asset_observation
        if observed is None or observed.partition is None or observed.partition in latest:
            return
        version = (observed.tags or {}).get(DATA_VERSION_TAG)
        if version is not None:
            latest[observed.partition] = version

    _each_newest_first(lambda cursor: instance.fetch_observations(FEED, PAGE, cursor), keep)
    return latest


def _each_newest_first(
    fetch: Callable[[str | None], dg.EventRecordsResult], keep: Callable[[dg.EventLogRecord], None]
) -> None:
    cursor = None
    while True:
        page = fetch(cursor)
        for record in page.records:
            keep(record)
        if not page.has_more:
            return
        cursor = page.cursor
