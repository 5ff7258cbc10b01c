"""The week vocabulary without Dagster: `week_of`, `key_of` and `WeekRange` (shared/dates.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from assets_pkg.shared.dates import WeekKeyError, WeekRange, key_of, monday_of, week_of
from assets_pkg.shared.settings import Settings

DAYS = [
    dt.date(2024, 1, 1),  # a Monday
    dt.date(2024, 1, 7),  # the Sunday of that week
    dt.date(2024, 2, 29),  # a leap day (Thursday)
    dt.date(2024, 12, 31),  # its Monday is 2024-12-30, ISO week 1 of 2025
    dt.date(2021, 1, 3),  # its Monday is 2020-12-28, ISO week 53 of 2020
]


@pytest.mark.parametrize("day", DAYS)
def test_a_day_and_its_week_key_round_trip(day: dt.date) -> None:
    key = key_of(day)
    assert key == monday_of(day).isoformat()
    assert week_of(key) == monday_of(day)
    assert key_of(week_of(key)) == key


NOT_A_DATE = "is not a date YYYY-MM-DD: weekly partition keys are Mondays such as 2024-01-08"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (
            "2024-01-02",
            "is a Tuesday, not a Monday: weekly partition keys are Mondays, and the week "
            "holding 2024-01-02 is 2024-01-01",
        ),
        (
            "2025-01-05",
            "is a Sunday, not a Monday: weekly partition keys are Mondays, and the week "
            "holding 2025-01-05 is 2024-12-30",
        ),
        # Spellings `date.fromisoformat` takes, but no partition key is written so.
        ("20240108", NOT_A_DATE),
        ("2024-W02-1", NOT_A_DATE),
        ("2024-1-8", NOT_A_DATE),
        (" 2024-01-08", NOT_A_DATE),
        ("2024-01-08 ", NOT_A_DATE),
        ("2024-01-08T00:00", NOT_A_DATE),
        ("2024-02-30", NOT_A_DATE),
        ("\uff12\uff10\uff12\uff14-01-08", NOT_A_DATE),  # full-width digits
        ("2024-01-08\n", NOT_A_DATE),
        ("", NOT_A_DATE),
        ("north", NOT_A_DATE),
    ],
)
def test_a_key_that_is_no_monday_is_refused_in_one_sentence(key: str, reason: str) -> None:
    with pytest.raises(WeekKeyError) as refused:
        week_of(key)
    assert refused.value.reason == reason
    assert str(refused.value) == f"The partition key {key} {reason}."


def test_a_week_range_is_its_first_and_last_monday() -> None:
    weeks = WeekRange.from_keys("2024-01-01", "2024-03-04")
    assert weeks == WeekRange(dt.date(2024, 1, 1), dt.date(2024, 3, 4))
    assert weeks.start == dt.datetime(2024, 1, 1)
    # The exclusive end is the Monday after the last week, worked out in this one place.
    assert weeks.end == dt.datetime(2024, 3, 11)
    one = WeekRange.from_keys("2024-01-08", "2024-01-08")
    assert one.end == dt.datetime(2024, 1, 15)
    open_range = WeekRange.from_keys("2024-01-01")
    assert open_range.last is None
    assert open_range.end is None


def test_a_week_range_refuses_days_that_are_no_weeks() -> None:
    with pytest.raises(WeekKeyError, match="The partition key 2024-03-05 is a Tuesday"):
        WeekRange.from_keys("2024-01-01", "2024-03-05")
    with pytest.raises(ValueError, match="first week must be a Monday, got 2024-01-02"):
        WeekRange(dt.date(2024, 1, 2))
    with pytest.raises(ValueError, match="last week 2023-12-25 comes before its first"):
        WeekRange(dt.date(2024, 1, 1), dt.date(2023, 12, 25))


@pytest.mark.parametrize(("end", "last"), [("2024-03-04", dt.date(2024, 3, 4)), (None, None)])
def test_the_settings_build_the_week_range(end: str | None, last: dt.date | None) -> None:
    settings = Settings(
        purchases_source_dir="src",
        signatures_source_dir="sig",
        warehouse_dir="wh",
        signatures_db_url="sqlite://",
        purchases_start_date="2024-01-01",
        purchases_end_date=end,
    )
    assert settings.weeks == WeekRange(dt.date(2024, 1, 1), last)
