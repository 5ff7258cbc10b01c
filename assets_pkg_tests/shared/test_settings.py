"""Settings from the environment: defaults, and mistakes named by their variable."""

from __future__ import annotations

import pytest

from assets_pkg.shared.settings import (
    PROJECT_ROOT,
    SAMPLE_START_DATE,
    ConfigurationError,
    Settings,
    parse_monday,
)


def _settings(**overrides: object) -> Settings:
    fields: dict[str, object] = {
        "purchases_source_dir": "src",
        "signatures_source_dir": "sig",
        "warehouse_dir": "wh",
        "signatures_db_url": "sqlite://",
    }
    return Settings(**{**fields, **overrides})  # type: ignore[arg-type]


def test_defaults_lie_in_the_checkout() -> None:
    settings = Settings.from_env({})
    assert settings == Settings(
        purchases_source_dir=str(PROJECT_ROOT / "data" / "sources" / "purchases"),
        signatures_source_dir=str(PROJECT_ROOT / "data" / "sources" / "signatures"),
        warehouse_dir=str(PROJECT_ROOT / "data" / "warehouse"),
        signatures_db_url=f"sqlite:///{PROJECT_ROOT / 'data' / 'warehouse' / 'signatures.db'}",
        purchases_start_date=SAMPLE_START_DATE,
        date_tolerance_days=1,
    )


def test_every_variable_is_read() -> None:
    settings = Settings.from_env(
        {
            "PURCHASES_SOURCE_DIR": "/p",
            "SIGNATURES_SOURCE_DIR": "/s",
            "WAREHOUSE_DIR": "s3://bucket/wh",
            "SIGNATURES_DB_URL": "postgresql+psycopg://db/x",
            "PURCHASES_START_DATE": "2023-01-02",
            "PURCHASES_DATE_TOLERANCE_DAYS": "3",
        }
    )
    assert settings == Settings(
        "/p", "/s", "s3://bucket/wh", "postgresql+psycopg://db/x", "2023-01-02", 3
    )


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("2024-13-01", "PURCHASES_START_DATE must be a date YYYY-MM-DD, got '2024-13-01'."),
        ("next monday", "PURCHASES_START_DATE must be a date YYYY-MM-DD, got 'next monday'."),
    ],
)
def test_a_bad_start_date_is_named(start: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"PURCHASES_START_DATE": start})
    assert str(raised.value) == message
    with pytest.raises(ConfigurationError, match="PURCHASES_START_DATE"):
        _settings(purchases_start_date=start)


def test_a_start_date_inside_a_week_starts_the_partitions_on_its_monday() -> None:
    assert Settings.from_env({"PURCHASES_START_DATE": "2024-01-03"}).purchases_start_date == (
        "2024-01-01"
    )
    assert Settings.from_env({"PURCHASES_START_DATE": "2024-01-08"}).purchases_start_date == (
        "2024-01-08"
    )
    with pytest.raises(ConfigurationError) as raised:
        _settings(purchases_start_date="2024-01-03")  # built directly, it must be a Monday
    assert str(raised.value) == (
        "PURCHASES_START_DATE must be a Monday (weeks start on Monday), got 2024-01-03 "
        "which is a Wednesday."
    )


@pytest.mark.parametrize(
    ("tolerance", "message"),
    [
        ("one", "PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days, got 'one'."),
        ("1.5", "PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days, got '1.5'."),
        ("-1", "PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days >= 0, got -1."),
    ],
)
def test_a_bad_tolerance_is_named(tolerance: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"PURCHASES_DATE_TOLERANCE_DAYS": tolerance})
    assert str(raised.value) == message


def test_zero_tolerance_is_allowed() -> None:
    assert _settings(date_tolerance_days=0).date_tolerance_days == 0


def test_a_remote_warehouse_needs_a_database_url() -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"WAREHOUSE_DIR": "s3://bucket/wh"})
    assert str(raised.value) == (
        "WAREHOUSE_DIR is remote (s3://bucket/wh), so SQLite cannot live there: "
        "set SIGNATURES_DB_URL to a database URL."
    )


def test_parse_monday_names_the_setting_it_is_given() -> None:
    assert str(parse_monday("2024-01-08", "X")) == "2024-01-08"
    with pytest.raises(ConfigurationError, match=r"^first_week must be a Monday"):
        parse_monday("2024-01-07", "first_week")
