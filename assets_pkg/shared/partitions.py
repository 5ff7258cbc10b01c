"""The weekly partitions every purchase asset shares."""

from __future__ import annotations

import dagster as dg


def weekly_partitions(start_date: str) -> dg.WeeklyPartitionsDefinition:
    """Weeks starting Monday 00:00 UTC, keyed `YYYY-MM-DD` (the Monday), from `start_date`.

    Only completed weeks exist (`end_offset=0`): a week is materialised once it has ended.
    """
    return dg.WeeklyPartitionsDefinition(
        start_date=start_date, day_offset=1, timezone="UTC", end_offset=0, fmt="%Y-%m-%d"
    )
