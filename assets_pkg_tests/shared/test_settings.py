"""Settings from the environment: defaults, and mistakes named by their variable."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from assets_pkg.shared.settings import (
    PROJECT_ROOT,
    SAMPLE_END_DATE,
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
        purchases_end_date=SAMPLE_END_DATE,
    )


@pytest.mark.parametrize(
    ("environ", "end"),
    [
        ({"PURCHASES_SOURCE_DIR": "/feed"}, None),
        ({"PURCHASES_SOURCE_DIR": "/feed", "PURCHASES_END_DATE": "2024-06-05"}, "2024-06-03"),
        ({"PURCHASES_END_DATE": "open"}, None),
        ({"PURCHASES_END_DATE": "2024-02-05"}, "2024-02-05"),
    ],
)
def test_the_end_date_ends_the_sample_and_is_open_for_a_feed_of_ones_own(
    environ: dict[str, str], end: str | None
) -> None:
    assert Settings.from_env(environ).purchases_end_date == end


def test_an_end_before_the_start_is_named() -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"PURCHASES_END_DATE": "2023-12-31"})
    assert str(raised.value) == (
        "PURCHASES_END_DATE (2023-12-25) comes before PURCHASES_START_DATE (2024-01-01): set it "
        "to a later Monday, or to 'open' for every completed week."
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
        "/p", "/s", "s3://bucket/wh", "postgresql+psycopg://db/x", "2023-01-02", 3, None
    )


@pytest.mark.parametrize(
    ("start", "message"),
    [
        ("2024-13-01", "PURCHASES_START_DATE must be a date YYYY-MM-DD, got '2024-13-01'."),
        ("next monday", "PURCHASES_START_DATE must be a date YYYY-MM-DD, got 'next monday'."),
        ("20240101", "PURCHASES_START_DATE must be a date YYYY-MM-DD, got '20240101'."),
        ("2024-W01-1", "PURCHASES_START_DATE must be a date YYYY-MM-DD, got '2024-W01-1'."),
    ],
)
def test_a_bad_start_date_is_named(start: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"PURCHASES_START_DATE": start})
    assert str(raised.value) == message
    with pytest.raises(ConfigurationError, match="PURCHASES_START_DATE"):
        _settings(purchases_start_date=start)


def test_a_start_after_the_defaulted_end_says_the_end_is_the_samples() -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"PURCHASES_START_DATE": "2027-01-04"})
    assert str(raised.value) == (
        "PURCHASES_END_DATE (2024-03-04, the bundled sample's last week and the default while "
        "PURCHASES_SOURCE_DIR is unset) comes before PURCHASES_START_DATE (2027-01-04): set it "
        "to a later Monday, or to 'open' for every completed week."
    )


def test_a_start_date_with_spaces_around_it_is_read_like_the_other_settings() -> None:
    start = Settings.from_env({"PURCHASES_START_DATE": " 2024-01-08 "}).purchases_start_date
    assert start == "2024-01-08"


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
        (
            "one",
            "PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days from 0 to 28, got 'one'.",
        ),
        (
            "1.5",
            "PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days from 0 to 28, got '1.5'.",
        ),
        (
            "-1",
            "PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days from 0 to 28, got -1.",
        ),
        (
            "29",
            "PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days from 0 to 28, got 29.",
        ),
        (
            "1000000",
            "PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days from 0 to 28, "
            "got '1000000'.",
        ),
        (
            "9" * 5000,
            "PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days from 0 to 28, "
            f"got '{'9' * 5000}'.",
        ),
    ],
)
def test_a_bad_tolerance_is_named(tolerance: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"PURCHASES_DATE_TOLERANCE_DAYS": tolerance})
    assert str(raised.value) == message


def test_the_tolerance_range_ends_are_allowed() -> None:
    assert _settings(date_tolerance_days=0).date_tolerance_days == 0
    assert _settings(date_tolerance_days=28).date_tolerance_days == 28
    with pytest.raises(ConfigurationError, match="from 0 to 28, got 1000000"):
        _settings(date_tolerance_days=1_000_000)


@pytest.mark.parametrize("start", ["0001-01-01", "1969-12-29", "2200-01-06", "9999-12-27"])
def test_a_start_date_far_outside_any_feed_is_refused(start: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"PURCHASES_START_DATE": start})
    assert str(raised.value).startswith("PURCHASES_START_DATE must lie between 1970-01-05 and ")


@pytest.mark.parametrize("end", ["2200-01-06", "9999-12-27", "9999-12-31"])
def test_an_end_date_far_outside_any_feed_is_refused(end: str) -> None:
    """Not a traceback when the partitions are made: 9999-12-27's week would end in year
    10000."""
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"PURCHASES_END_DATE": end})
    assert str(raised.value).startswith("PURCHASES_END_DATE must lie between 1970-01-05 and ")


def test_an_unwritable_warehouse_is_named(tmp_path: Path) -> None:
    a_file = tmp_path / "a_file"
    a_file.write_text("")
    for warehouse, why in [
        (str(a_file / "warehouse"), "Not a directory"),
        ("/proc/warehouse", "No such file or directory"),
    ]:
        settings = _settings(warehouse_dir=warehouse)
        with pytest.raises(ConfigurationError) as raised:
            settings.check_locations()
        assert str(raised.value) == (
            f"WAREHOUSE_DIR ({warehouse}) is not a writable folder ({why}): "
            "point it at a folder you can write to."
        )


def test_a_writable_warehouse_is_created(tmp_path: Path) -> None:
    _settings(warehouse_dir=str(tmp_path / "new" / "warehouse")).check_locations()
    assert (tmp_path / "new" / "warehouse").is_dir()
    assert list((tmp_path / "new" / "warehouse").iterdir()) == []


@pytest.mark.parametrize(
    ("warehouse", "message"),
    [
        (
            "gs://bucket/wh",
            "WAREHOUSE_DIR is a gs:// URL, which needs a package that is not installed "
            "(Please install gcsfs to access Google Storage).",
        ),
        (
            "nosuch://bucket/wh",
            "WAREHOUSE_DIR uses the unknown scheme nosuch:// (nosuch://bucket/wh): use a local "
            "folder or an fsspec URL such as s3://bucket/prefix.",
        ),
    ],
)
def test_a_remote_warehouse_without_its_package_is_named(warehouse: str, message: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        _settings(warehouse_dir=warehouse).check_locations()
    assert str(raised.value) == message


def test_a_remote_source_folder_without_its_package_is_named() -> None:
    with pytest.raises(ConfigurationError) as raised:
        _settings(purchases_source_dir="gs://bucket/feed").check_locations()
    assert str(raised.value) == (
        "PURCHASES_SOURCE_DIR is a gs:// URL, which needs a package that is not installed "
        "(Please install gcsfs to access Google Storage)."
    )


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


def test_the_production_settings_are_off_by_default() -> None:
    settings = Settings.from_env({})
    assert settings.executor == "in_process"
    assert settings.purchases_weeks_per_run is None
    assert settings.celery_broker_url == "pyamqp://guest@127.0.0.1//"
    assert settings.celery_backend_url == "redis://127.0.0.1:6379/0"
    assert settings.celery_queue == "dagster"


def test_the_production_settings_are_read() -> None:
    settings = Settings.from_env(
        {
            "DAGSTER_EXECUTOR": " Celery ",
            "PURCHASES_WEEKS_PER_RUN": "4",
            "DAGSTER_CELERY_BROKER_URL": "pyamqp://user:secret@broker//",
            "DAGSTER_CELERY_BACKEND_URL": "rpc://",
            "DAGSTER_CELERY_QUEUE": "purchases",
        }
    )
    assert (
        settings.executor,
        settings.purchases_weeks_per_run,
        settings.celery_broker_url,
        settings.celery_backend_url,
        settings.celery_queue,
    ) == ("celery", 4, "pyamqp://user:secret@broker//", "rpc://", "purchases")


@pytest.mark.parametrize("weeks", ["0", "-2", "521", "two", "1.5", "9" * 50])
def test_a_bad_number_of_weeks_per_run_is_named(weeks: str) -> None:
    with pytest.raises(ConfigurationError, match=r"^PURCHASES_WEEKS_PER_RUN must be a whole"):
        Settings.from_env({"PURCHASES_WEEKS_PER_RUN": weeks})


def test_the_weeks_per_run_range_ends_are_allowed() -> None:
    assert Settings.from_env({"PURCHASES_WEEKS_PER_RUN": "1"}).purchases_weeks_per_run == 1
    assert Settings.from_env({"PURCHASES_WEEKS_PER_RUN": "520"}).purchases_weeks_per_run == 520


def test_an_unknown_executor_is_named() -> None:
    with pytest.raises(ConfigurationError) as raised:
        Settings.from_env({"DAGSTER_EXECUTOR": "multiprocess"})
    assert str(raised.value) == (
        "DAGSTER_EXECUTOR must be one of in_process, celery, got 'multiprocess'."
    )


@pytest.mark.parametrize("name", ["wh%41", "wh?x", "wh#1", "w h"])
def test_the_default_database_lies_in_the_warehouse_whatever_its_name(
    tmp_path: Path, name: str
) -> None:
    """The path is escaped in the URL: `%41` is not read as `A`, nor `?` as a query."""
    warehouse = tmp_path / name
    url = Settings.from_env({"WAREHOUSE_DIR": str(warehouse)}).signatures_db_url
    assert sa.make_url(url).database == str(warehouse / "signatures.db")
