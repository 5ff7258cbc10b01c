"""Calendar weeks, without Dagster: a week is the ISO week starting on its Monday."""

from __future__ import annotations

import datetime as dt


def monday_of(day: dt.date) -> dt.date:
    """The Monday of the (ISO) week holding `day`."""
    return day - dt.timedelta(days=day.weekday())
