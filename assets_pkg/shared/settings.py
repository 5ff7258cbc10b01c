"""The project's configuration: environment variables, read once when definitions load.

Nothing here runs at import time. `Settings.from_env()` is called by `assets_pkg.definitions`
when Dagster loads the code location, and tests build `Settings(...)` directly. Loading
checks every value without touching storage (`Settings.check_values()`); what a setting of a
resource names is probed when a run uses it, by the resource (the warehouse accepts a file,
a remote source answers): `check_writable`, `check_reachable`. A variable that was set and
that a resource takes reaches the resource as `dg.EnvVar` (`Settings.environment`,
`resource_checks.env_or`), so Dagster shows its name, not its value.
Every mistake is reported as a `ConfigurationError` whose message names the variable to fix.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import fsspec  # type: ignore[import-untyped]
from upath import UPath

from assets_pkg.shared.dates import WeekRange, monday_of, parse_day
from assets_pkg.shared.storage import (
    StorageError,
    bucket_name,
    check_object_store,
    check_readable,
    first_line,
    is_local,
    local_folder,
)
from assets_pkg.shared.storage import scheme as storage_scheme

PROJECT_ROOT = Path(__file__).resolve().parents[2]
"""The checkout: defaults are relative to it, so they work from any working directory."""

SAMPLE_START_DATE = "2024-01-01"
"""The first Monday of the bundled purchase sample in `data/sources/purchases`."""

SAMPLE_END_DATE = "2024-03-04"
"""The last Monday of the bundled purchase sample: its weekly partitions end there, so the
web UI shows only weeks that can hold data. A feed of one's own (PURCHASES_SOURCE_DIR set)
has open-ended partitions unless PURCHASES_END_DATE says otherwise."""

OPEN_END = "open"
"""PURCHASES_END_DATE=open: a partition for every completed week, however recent."""

MAX_TOLERANCE_DAYS = 28
"""How far a purchase's date may stray from its day folder, at most: four weeks. A week reads
its 7 folders plus this many on each side, so a larger value would make every week read a
large part of history."""

EARLIEST_START = dt.date(1970, 1, 5)
LATEST_START = dt.date(2199, 12, 30)
"""The range of PURCHASES_START_DATE and PURCHASES_END_DATE (Mondays): anything outside is a
typing mistake."""


EXECUTORS = ("in_process", "celery")
"""DAGSTER_EXECUTOR: every step of a run in the run's process (the default), or each step
on a Celery worker (the production profile in deploy/)."""

MAX_WEEKS_PER_RUN = 520
"""PURCHASES_WEEKS_PER_RUN at most: ten years of weeks in one run."""

DEFAULT_CELERY_BROKER = "pyamqp://guest@127.0.0.1//"
DEFAULT_CELERY_BACKEND = "redis://127.0.0.1:6379/0"
DEFAULT_CELERY_QUEUE = "dagster"

RESOURCE_VARIABLES = (
    "PURCHASES_SOURCE_DIR",
    "SIGNATURES_SOURCE_DIR",
    "WAREHOUSE_DIR",
    "SIGNATURES_DB_URL",
    "PURCHASES_DATE_TOLERANCE_DAYS",
    "DAGSTER_CELERY_BROKER_URL",
    "DAGSTER_CELERY_BACKEND_URL",
)
"""The variables whose value a resource's field (or the executor's config) takes as it is:
when set, the definitions hold `dg.EnvVar(name)` for them. The dates, DAGSTER_EXECUTOR and
PURCHASES_WEEKS_PER_RUN shape the definitions themselves (the partitions, the executor, the
backfill policy), so they are read when the code location loads."""


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
    purchases_end_date: str | None = None
    """The last weekly partition (a Monday), or None for every completed week."""
    executor: str = "in_process"
    """DAGSTER_EXECUTOR: one of EXECUTORS."""
    purchases_weeks_per_run: int | None = None
    """PURCHASES_WEEKS_PER_RUN: a backfill of weekly partitions goes in runs of this many
    weeks; None (unset): the whole range in one run."""
    celery_broker_url: str = DEFAULT_CELERY_BROKER
    celery_backend_url: str = DEFAULT_CELERY_BACKEND
    celery_queue: str = DEFAULT_CELERY_QUEUE
    """DAGSTER_CELERY_BROKER_URL, DAGSTER_CELERY_BACKEND_URL, DAGSTER_CELERY_QUEUE: where
    the celery executor sends steps and reads their results; the workers read the same."""
    environment: frozenset[str] = frozenset()
    """The RESOURCE_VARIABLES that were set when `from_env` read the process's environment: the
    definitions give them to the resources as `dg.EnvVar`, so the value is read again, and
    checked again, when a run starts, and the web UI shows only the variable's name. Empty
    for settings built in code (a test's `Settings(...)`): the values are used as given."""

    @property
    def weeks(self) -> WeekRange:
        """The weeks that are partitions, PURCHASES_START_DATE's to PURCHASES_END_DATE's (open
        without one): the weekly partitions definition is derived from it, the assets get it."""
        return WeekRange.from_keys(self.purchases_start_date, self.purchases_end_date)

    def __post_init__(self) -> None:
        start = parse_monday(self.purchases_start_date, "PURCHASES_START_DATE")
        if not EARLIEST_START <= start <= LATEST_START:
            raise ConfigurationError(
                f"PURCHASES_START_DATE must lie between {EARLIEST_START} and {LATEST_START}, "
                f"got {self.purchases_start_date}."
            )
        if self.purchases_end_date is not None:
            end = parse_monday(self.purchases_end_date, "PURCHASES_END_DATE")
            if not EARLIEST_START <= end <= LATEST_START:
                raise ConfigurationError(
                    f"PURCHASES_END_DATE must lie between {EARLIEST_START} and {LATEST_START}, "
                    f"got {self.purchases_end_date}."
                )
            if end < start:
                default = (
                    ", the bundled sample's last week and the default while "
                    "PURCHASES_SOURCE_DIR is unset"
                    if end.isoformat() == SAMPLE_END_DATE
                    else ""
                )
                raise ConfigurationError(
                    f"PURCHASES_END_DATE ({end}{default}) comes before PURCHASES_START_DATE "
                    f"({start}): set it to a later Monday, or to {OPEN_END!r} for every "
                    "completed week."
                )
        _check_started(start)
        check_tolerance(self.date_tolerance_days, "PURCHASES_DATE_TOLERANCE_DAYS")
        if self.executor not in EXECUTORS:
            raise ConfigurationError(
                f"DAGSTER_EXECUTOR must be one of {', '.join(EXECUTORS)}, got {self.executor!r}."
            )
        weeks = self.purchases_weeks_per_run
        if weeks is not None and not 1 <= weeks <= MAX_WEEKS_PER_RUN:
            raise ConfigurationError(
                f"PURCHASES_WEEKS_PER_RUN must be a whole number of weeks from 1 to "
                f"{MAX_WEEKS_PER_RUN}, or unset for one run per backfill, got {weeks}."
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        warehouse = env.get("WAREHOUSE_DIR") or str(PROJECT_ROOT / "data" / "warehouse")
        tolerance_text = (env.get("PURCHASES_DATE_TOLERANCE_DAYS") or "1").strip()
        # At most 6 digits before int(): thousands of digits would be an error of their own.
        if not re.fullmatch(r"-?[0-9]{1,6}", tolerance_text):
            raise ConfigurationError(
                f"PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days from 0 to "
                f"{MAX_TOLERANCE_DAYS}, got {tolerance_text!r}."
            )
        return cls(
            purchases_source_dir=env.get("PURCHASES_SOURCE_DIR")
            or str(PROJECT_ROOT / "data" / "sources" / "purchases"),
            signatures_source_dir=env.get("SIGNATURES_SOURCE_DIR")
            or str(PROJECT_ROOT / "data" / "sources" / "signatures"),
            warehouse_dir=warehouse,
            signatures_db_url=env.get("SIGNATURES_DB_URL") or default_db_url(warehouse),
            purchases_start_date=monday_of(
                parse_date(
                    (env.get("PURCHASES_START_DATE") or "").strip() or SAMPLE_START_DATE,
                    "PURCHASES_START_DATE",
                )
            ).isoformat(),
            date_tolerance_days=int(tolerance_text),
            purchases_end_date=_end_date(env),
            executor=(env.get("DAGSTER_EXECUTOR") or "in_process").strip().lower(),
            purchases_weeks_per_run=_weeks_per_run(env),
            celery_broker_url=env.get("DAGSTER_CELERY_BROKER_URL") or DEFAULT_CELERY_BROKER,
            celery_backend_url=env.get("DAGSTER_CELERY_BACKEND_URL") or DEFAULT_CELERY_BACKEND,
            celery_queue=env.get("DAGSTER_CELERY_QUEUE") or DEFAULT_CELERY_QUEUE,
            # Only the process's own environment, which Dagster reads again when a run
            # starts; a mapping given here (a test's) is used as plain values.
            environment=frozenset(
                name for name in RESOURCE_VARIABLES if environ is None and env.get(name)
            ),
        )

    def check_values(self) -> None:
        """Raise ConfigurationError unless every folder setting is a usable location, without
        touching storage: what the code location checks when it loads (the resources apply
        the same rule to a run's values, and probe the storage when a run uses it)."""
        check_location(self.purchases_source_dir, "PURCHASES_SOURCE_DIR")
        check_location(self.signatures_source_dir, "SIGNATURES_SOURCE_DIR")
        check_location(self.warehouse_dir, "WAREHOUSE_DIR")

    def check_locations(self) -> None:
        """Raise ConfigurationError unless the warehouse can be written and every folder's
        scheme is supported. Local folders only need to exist when a run reads them; a
        source on an object store (`s3://...`) must be reachable with the credentials.
        Writes a probe file (object): the resources make these checks when a run starts
        (`setup_for_execution`, the IO manager's creation), never the code location's load;
        this method makes them all at once for the tools and tests."""
        check_reachable(self.purchases_source_dir, "PURCHASES_SOURCE_DIR")
        check_reachable(self.signatures_source_dir, "SIGNATURES_SOURCE_DIR")
        check_writable(self.warehouse_dir, "WAREHOUSE_DIR")


def _check_started(start: dt.date, today: dt.date | None = None) -> None:
    """A start whose week has not ended would give no partition at all: every command that
    names a week would then fail with a Dagster error about partitions that do not exist."""
    today = today or dt.datetime.now(dt.UTC).date()
    last_ended = monday_of(today) - dt.timedelta(weeks=1)
    if start > last_ended:
        ends = start + dt.timedelta(weeks=1)
        raise ConfigurationError(
            f"PURCHASES_START_DATE ({start}) is a week that has not ended yet (it ends on "
            f"{ends}, today is {today}), so there would be no weekly partition to build: set "
            "it to the Monday of your feed's first week, once that week has ended."
        )


def check_tolerance(days: int, setting: str) -> int:
    """The tolerance rule, for the environment and the run config alike: 0 to 28 days."""
    if isinstance(days, bool) or not 0 <= days <= MAX_TOLERANCE_DAYS:
        raise ConfigurationError(
            f"{setting} must be a whole number of days from 0 to {MAX_TOLERANCE_DAYS}, got {days}."
        )
    return days


def check_location(location: str, setting: str) -> str:
    """The rule for every folder setting, wherever it comes from, without touching storage:
    not empty, not a URL with one slash, and for a URL a known scheme whose package is
    installed and, for an object store, a bucket. Whether the folder can be read or written
    is seen when a run uses it (`check_reachable`, `check_writable`)."""
    if not location.strip():
        raise ConfigurationError(
            f"{setting} is empty: set it to a local folder or a URL such as s3://bucket/prefix."
        )
    if is_local(location):
        _check_not_half_a_url(location, setting)
    else:
        _check_scheme(location, setting, connect=False)
    return location


def check_reachable(location: str, setting: str) -> None:
    """Nothing for a local folder (it needs to exist only when a run reads it); a URL's
    scheme must be supported and its store reachable with the credentials, failing fast:
    ConfigurationError in one sentence otherwise. The tools that read a location without
    loading the code location (`period`, `summary`, the feed's range) call it first."""
    if is_local(location):
        _check_not_half_a_url(location, setting)
        return
    _check_scheme(location, setting)
    try:
        check_readable(location, setting)
    except StorageError as error:
        raise ConfigurationError(str(error)) from None


def check_writable(location: str, setting: str) -> None:
    """A local folder is created if missing and must accept a file; a remote URL needs its
    fsspec filesystem (e.g. s3fs for s3://) to be installed and must accept an object (one
    small write and delete: the endpoint, the credentials and the bucket are all checked)."""
    if not is_local(location):
        _check_scheme(location, setting)
        try:
            check_object_store(location, setting)
        except StorageError as error:
            raise ConfigurationError(str(error)) from None
        return
    _check_not_half_a_url(location, setting)
    folder = local_folder(location)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise ConfigurationError(
            f"{setting} ({location}) is not a writable folder ({error.strerror or error}): "
            "point it at a folder you can write to."
        ) from None


_HALF_A_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]+:/(?!/)")
"""`s3:/bucket/x`: a scheme and one slash, which fsspec reads as a URL and a local path
check as a folder named `s3:` (a one-letter scheme is a Windows drive, `C:/data`)."""


def _check_not_half_a_url(location: str, setting: str) -> None:
    if _HALF_A_URL.match(location):
        scheme, _, rest = location.partition(":/")
        raise ConfigurationError(
            f"{setting} ({location}) is a URL with one slash after {scheme}: "
            f"write {scheme}://{rest}."
        )


def _check_scheme(location: str, setting: str, *, connect: bool = True) -> None:
    """The fsspec filesystem of a URL must be known and its package installed, and an
    object store's URL must name a bucket and hold no password. With `connect=False` the
    filesystem's class is only imported, not created (creating an ftp:// or sftp:// one
    connects)."""
    scheme = storage_scheme(location)
    if _has_password(location):
        # Dagster shows a folder wherever it is used (run config, each materialisation's
        # path, the logs), so a password in it would be shown too; the sentence shows
        # neither the URL nor the password.
        raise ConfigurationError(
            f"{setting} holds a password in its {scheme}:// URL, which the web UI would show "
            "in every path it lists: leave it out of the URL and give the credentials "
            f"through the filesystem's own settings (AWS_* for s3://, FSSPEC_{scheme.upper()}"
            "_PASSWORD for others)."
        )
    if scheme in ("s3", "s3a", "gs", "gcs") and not bucket_name(location):
        raise ConfigurationError(
            f"{setting} ({location}) names no bucket: write {scheme}://bucket/prefix."
        )
    try:
        if connect:
            UPath(location).fs  # noqa: B018 - creating the filesystem imports its package
        else:
            fsspec.get_filesystem_class(scheme)
    except OSError as error:  # a filesystem that connects when created (ftp://, sftp://)
        raise ConfigurationError(
            f"{setting} ({location}) cannot be reached ({error.strerror or error}): check the URL."
        ) from None
    except ImportError as error:
        raise ConfigurationError(
            f"{setting} is a {scheme}:// URL, which needs a package that is not installed "
            f"({first_line(error)})."
        ) from None
    except ValueError:
        raise ConfigurationError(
            f"{setting} uses the unknown scheme {scheme}:// ({location}): use a local folder "
            "or an fsspec URL such as s3://bucket/prefix."
        ) from None


def _has_password(location: str) -> bool:
    """A URL with `user:password@` before its host (a bucket or a server)."""
    try:
        return bool(urllib.parse.urlsplit(location).password)
    except ValueError:  # a malformed netloc (a bad port, brackets): not a password to hide
        return False


def default_db_url(warehouse_dir: str) -> str:
    """SQLite beside the Parquet files; for a remote warehouse set SIGNATURES_DB_URL."""
    if not is_local(warehouse_dir):
        raise ConfigurationError(
            f"WAREHOUSE_DIR is remote ({warehouse_dir}), so SQLite cannot live there: "
            "set SIGNATURES_DB_URL to a database URL."
        )
    local = local_folder(warehouse_dir).absolute()
    # Escaped, so that a `%` or `?` in the path is not read as a URL escape or query.
    return f"sqlite:///{urllib.parse.quote(str(local / 'signatures.db'), safe='/')}"


def _end_date(env: Mapping[str, str]) -> str | None:
    """PURCHASES_END_DATE as a Monday (a date inside a week means that week), None for open;
    unset, it is the bundled sample's last week when the sample is the source."""
    text = (env.get("PURCHASES_END_DATE") or "").strip()
    if not text:
        return None if env.get("PURCHASES_SOURCE_DIR") else SAMPLE_END_DATE
    if text.lower() == OPEN_END:
        return None
    return monday_of(parse_date(text, "PURCHASES_END_DATE")).isoformat()


def _weeks_per_run(env: Mapping[str, str]) -> int | None:
    text = (env.get("PURCHASES_WEEKS_PER_RUN") or "").strip()
    if not text:
        return None
    # At most 6 digits before int(), as for the tolerance.
    if not re.fullmatch(r"-?[0-9]{1,6}", text):
        raise ConfigurationError(
            f"PURCHASES_WEEKS_PER_RUN must be a whole number of weeks from 1 to "
            f"{MAX_WEEKS_PER_RUN}, or unset for one run per backfill, got {text!r}."
        )
    return int(text)


def parse_date(text: str, setting: str) -> dt.date:
    """A `YYYY-MM-DD` date, or a ConfigurationError naming `setting`; the other spellings
    `date.fromisoformat` takes (`20240101`, `2024-W01-1`) are refused, as the contract names
    only this one (`dates.parse_day`)."""
    day = parse_day(text)
    if day is None:
        raise ConfigurationError(f"{setting} must be a date YYYY-MM-DD, got {text!r}.")
    return day


def parse_monday(text: str, setting: str) -> dt.date:
    """A `YYYY-MM-DD` Monday, or a ConfigurationError naming `setting`."""
    day = parse_date(text, setting)
    if day.weekday() != 0:
        raise ConfigurationError(
            f"{setting} must be a Monday (weeks start on Monday), got {text} which is a {day:%A}."
        )
    return day
