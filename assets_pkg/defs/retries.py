"""Failed runs that wait for a retry that will never come, and the sensor that ends the wait.

When a run fails and `run_retries` allows another attempt, Dagster tags the run
`dagster/will_retry=true`; the daemon's retry consumer, which reads each RUN_FAILURE event
once (it keeps a cursor), then launches the retry and tags the run `dagster/auto_retry_run_id`.
A backfill does not end while one of its failed runs is tagged to be retried and has no
retry ("will be retried, but retries have not been launched").

If the consumer has passed a run's RUN_FAILURE event without launching its retry (it read
the event before the run's status and tag were written, the run's job could not be found,
...), it never comes back to it, and the backfill stays "in progress" for ever. Such a run is
recognised exactly: its failure event is at or behind the consumer's cursor, it is tagged to
be retried and has no retry. `stranded_retries_sensor` tags it `dagster/will_retry=false`
and writes an engine event on the run saying why, so the backfill ends (its weeks failed).
Nothing is retried by this module: a failure the retry daemon did not take up is left for
a person to look at (re-execute from failure, or a new backfill of the failed weeks).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
from dagster._core.storage.tags import AUTO_RETRY_RUN_ID_TAG, WILL_RETRY_TAG

CONSUMER_CURSOR = f"EVENT_LOG_CONSUMER_CURSOR-{dg.DagsterEventType.RUN_FAILURE.value}"
"""The key under which Dagster's retry consumer (EventLogConsumerDaemon) keeps how far it
has read the RUN_FAILURE events."""
LOOKBACK = dt.timedelta(days=7)
"""Only runs updated this recently are looked at: the sensor runs every 30 seconds, so a
stranded run is found within a minute while the daemon runs."""


def stranded_retries(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    """Failed runs tagged to be retried whose retry Dagster's retry consumer has already
    passed by without launching it."""
    raw_cursor = instance.daemon_cursor_storage.get_cursor_values({CONSUMER_CURSOR}).get(
        CONSUMER_CURSOR
    )
    if raw_cursor is None:  # the consumer has not run yet: it will read every failure
        return []
    cursor = int(raw_cursor)
    candidates = instance.get_runs(
        dg.RunsFilter(
            statuses=[dg.DagsterRunStatus.FAILURE],
            tags={WILL_RETRY_TAG: "true"},
            updated_after=dt.datetime.now(dt.UTC) - LOOKBACK,
        )
    )
    stranded = []
    for run in candidates:
        if AUTO_RETRY_RUN_ID_TAG in run.tags:
            continue
        failures = instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE
        ).records
        if failures and failures[-1].storage_id <= cursor:
            stranded.append(run)
    return stranded


def end_stranded_retries(instance: dg.DagsterInstance) -> list[str]:
    """Tag every stranded run not to be retried, with an engine event saying why; the ids."""
    ended = []
    for run in stranded_retries(instance):
        instance.add_run_tags(run.run_id, {WILL_RETRY_TAG: "false"})
        instance.report_engine_event(
            "Dagster's retry daemon passed this failure by without launching its retry, and "
            "will not come back to it: the run is no longer marked to be retried, so its "
            "backfill can end. Re-execute it from failure once the cause is fixed.",
            run,
        )
        ended.append(run.run_id)
    return ended


@dg.sensor(
    name="stranded_retries_sensor",
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Ends the wait of a failed run (and its backfill) for a retry that Dagster's "
    "retry daemon passed by (assets_pkg/defs/retries.py).",
)
def stranded_retries_sensor(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    ended = end_stranded_retries(context.instance)
    if ended:
        context.log.warning(f"no retry will come for these failed runs: {', '.join(ended)}")
        return dg.SkipReason(f"{len(ended)} failed run(s) no longer wait for a retry")
    return dg.SkipReason("no failed run waits for a retry that will not come")
