"""The project's configuration: environment variables, read once when definitions load.

Nothing here runs at import time. `Settings.from_env()` is called by `assets_pkg.definitions`
when Dagster loads the code location, and tests build `Settings(...)` directly.
Every mistake is reported as a `ConfigurationError` whose message names the variable to fix.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The checkout: defaults are relative to it, so they work from any working directory."""

SAMPLE_START_DATE = "2024-01-01"
"""The first Monday of the bundled purchase sample in `data/sources/purchases`."""


class ConfigurationError(ValueError):
    """A setting is wrong; the message says which one and how to fix it."""


@dataclass(frozen=True)
class Settings:
    purchases_source_dir: str
    signatures_source_dir: str
    warehouse_dir: str
    signatures_db_url: str
    purchases_start_date: str = SAMPLE_START_DATE
    date_tolerance_days: int = 1

    def __post_init__(self) -> None:
        parse_monday(self.purchases_start_date, "PURCHASES_START_DATE")
        if self.date_tolerance_days < 0:
            raise ConfigurationError(
                f"PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days >= 0, "
                f"got {self.date_tolerance_days}."
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        warehouse = env.get("WAREHOUSE_DIR") or str(PROJECT_ROOT / "data" / "warehouse")
        tolerance_text = env.get("PURCHASES_DATE_TOLERANCE_DAYS") or "1"
        try:
            tolerance = int(tolerance_text)
        except ValueError:
            raise ConfigurationError(
                f"PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days, "
                f"got {tolerance_text!r}."
            ) from None
        return cls(
            purchases_source_dir=env.get("PURCHASES_SOURCE_DIR")
            or str(PROJECT_ROOT / "data" / "sources" / "purchases"),
            signatures_source_dir=env.get("SIGNATURES_SOURCE_DIR")
            or str(PROJECT_ROOT / "data" / "sources" / "signatures"),
            warehouse_dir=warehouse,
            signatures_db_url=env.get("SIGNATURES_DB_URL") or default_db_url(warehouse),
            purchases_start_date=_monday_on_or_before(
                env.get("PURCHASES_START_DATE") or SAMPLE_START_DATE, "PURCHASES_START_DATE"
            ),
            date_tolerance_days=tolerance,
        )


def default_db_url(warehouse_dir: str) -> str:
    """SQLite beside the Parquet files; for a remote warehouse set SIGNATURES_DB_URL."""
    if "://" in warehouse_dir and not warehouse_dir.startswith("file://"):
        raise ConfigurationError(
            f"WAREHOUSE_DIR is remote ({warehouse_dir}), so SQLite cannot live there: "
            "set SIGNATURES_DB_URL to a database URL."
        )
    local = Path(warehouse_dir.removeprefix("file://")).absolute()
    return f"sqlite:///{local / 'signatures.db'}"


def _monday_on_or_before(text: str, setting: str) -> str:
    """A start date is taken to mean its week: a Thursday starts the partitions on the
    Monday before it, so the first days of the data are never left out."""
    day = _parse_date(text, setting)
    return (day - dt.timedelta(days=day.weekday())).isoformat()


def _parse_date(text: str, setting: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ConfigurationError(f"{setting} must be a date YYYY-MM-DD, got {text!r}.") from None


def parse_monday(text: str, setting: str) -> dt.date:
    """A `YYYY-MM-DD` Monday, or a ConfigurationError naming `setting`."""
    day = _parse_date(text, setting)
    if day.weekday() != 0:
        raise ConfigurationError(
            f"{setting} must be a Monday (weeks start on Monday), got {text} which is a {day:%A}."
        )
    return day
