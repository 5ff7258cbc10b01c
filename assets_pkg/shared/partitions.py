"""The weekly partitions every purchase asset shares."""

from __future__ import annotations

import datetime as dt

import dagster as dg


def monday_of(day: dt.date) -> dt.date:
    """The Monday of the (ISO) week holding `day`."""
    return day - dt.timedelta(days=day.weekday())


def weekly_partitions(
    start_date: str, end_date: str | None = None
) -> dg.WeeklyPartitionsDefinition:
    """Weeks starting Monday 00:00 UTC, keyed `YYYY-MM-DD` (the Monday), from `start_date` to
    `end_date` (the last Monday, inclusive) or, without one, to the last completed week.

    Only completed weeks exist (`end_offset=0`): a week is materialised once it has ended.
    """
    end = None if end_date is None else dt.date.fromisoformat(end_date) + dt.timedelta(weeks=1)
    return dg.WeeklyPartitionsDefinition(
        start_date=start_date,
        end_date=None if end is None else end.isoformat(),
        day_offset=1,
        timezone="UTC",
        end_offset=0,
        fmt="%Y-%m-%d",
    )
