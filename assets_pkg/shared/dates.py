"""The week vocabulary, without Dagster: a week is the ISO week starting on its Monday, its
partition key that Monday as `YYYY-MM-DD`, and the weeks that are partitions a `WeekRange`.

Every string-to-week conversion goes through `week_of` and every week-to-string one through
`key_of`; the settings build the `WeekRange` once (`Settings.weeks`), the weekly partitions
definition is derived from it (`defs/partitions.weekly_partitions`) and the assets receive
the same range, so no layer works out the weeks again from another's representation.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

WEEK = dt.timedelta(weeks=1)

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def monday_of(day: dt.date) -> dt.date:
    """The Monday of the (ISO) week holding `day`."""
    return day - dt.timedelta(days=day.weekday())


def parse_day(text: str) -> dt.date | None:
    """The date `text` spells as exactly `YYYY-MM-DD`, else None (`date.fromisoformat` also
    takes `20240108` and `2024-W02-1`, which are no partition keys)."""
    if not _DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


class WeekKeyError(ValueError):
    """A string that is not a weekly partition key. `reason` completes "The partition key
    <key> ...", so that a caller can name the key its own way."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"The partition key {key} {reason}.")
        self.key = key
        self.reason = reason


def week_of(key: str) -> dt.date:
    """The week (its Monday) a partition key names; WeekKeyError, in one sentence, when
    `key` is not a date `YYYY-MM-DD` or not a Monday."""
    day = parse_day(key)
    if day is None:
        raise WeekKeyError(
            key, "is not a date YYYY-MM-DD: weekly partition keys are Mondays such as 2024-01-08"
        )
    if day.weekday() != 0:
        raise WeekKeyError(
            key,
            f"is a {day:%A}, not a Monday: weekly partition keys are Mondays, and the week "
            f"holding {key} is {monday_of(day)}",
        )
    return day


def key_of(day: dt.date) -> str:
    """The partition key of the week holding `day`: `week_of(key_of(day)) == monday_of(day)`."""
    return monday_of(day).isoformat()


@dataclass(frozen=True)
class WeekRange:
    """The weeks that exist as partitions: from `first` to `last` (Mondays, both included),
    or with no last week when the range stays open (every week that has ended)."""

    first: dt.date
    last: dt.date | None = None

    def __post_init__(self) -> None:
        for name, week in (("first", self.first), ("last", self.last)):
            if week is not None and week.weekday() != 0:
                raise ValueError(f"A WeekRange's {name} week must be a Monday, got {week}.")
        if self.last is not None and self.last < self.first:
            raise ValueError(
                f"A WeekRange's last week {self.last} comes before its first {self.first}."
            )

    @classmethod
    def from_keys(cls, first: str, last: str | None = None) -> WeekRange:
        """The range from partition keys (`week_of` checks each)."""
        return cls(week_of(first), None if last is None else week_of(last))

    @property
    def start(self) -> dt.datetime:
        """Monday 00:00 of the first week: a moment before it is in no week of the range."""
        return dt.datetime.combine(self.first, dt.time())

    @property
    def end(self) -> dt.datetime | None:
        """Monday 00:00 after the last week (a moment from it on is in no week of the
        range), or None when the range stays open."""
        return None if self.last is None else dt.datetime.combine(self.last + WEEK, dt.time())
