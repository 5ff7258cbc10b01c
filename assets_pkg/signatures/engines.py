"""SIGNATURES_DB_URL to a SQLAlchemy engine: which databases the store runs on, and one
sentence naming the setting for every URL it cannot use (unknown scheme, unsupported backend or
driver, driver module not installed)."""

from __future__ import annotations

import functools
import sqlite3
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assets_pkg.signatures.service import StoreError

SQLITE_BUSY_TIMEOUT_S = 30
"""How long a SQLite writer waits for another process's transaction before giving up."""

SUPPORTED_DRIVERS = frozenset(
    {("sqlite", "pysqlite"), ("postgresql", "psycopg"), ("postgresql", "psycopg2")}
)
"""(backend, driver) pairs the store runs on: SQLite, and PostgreSQL with a synchronous driver."""

_SUPPORTED = "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
_PACKAGES = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary"}
"""The package that provides a driver module, where its name differs."""


def check_database_url(url: str) -> None:
    """Raise StoreError (one sentence naming SIGNATURES_DB_URL and the fix) unless `url` names a
    supported database whose driver is installed. Creates an engine without connecting: cheap
    enough to call when the definitions load."""
    create_engine(supported_url(url)).dispose()


def supported_url(url: str) -> sa.URL:
    """`url` parsed, if it names a supported backend and driver; StoreError otherwise."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise StoreError(f"SIGNATURES_DB_URL is not a database URL: {url!r}.") from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        driver = parsed.get_driver_name()
    except sa.exc.NoSuchModuleError:
        raise StoreError(
            f"SIGNATURES_DB_URL ({shown}) uses the unknown scheme {parsed.drivername!r}: "
            f"use {_SUPPORTED}."
        ) from None
    backend = parsed.get_backend_name()
    if (backend, driver) not in SUPPORTED_DRIVERS:
        raise StoreError(
            f"SIGNATURES_DB_URL ({shown}) uses {backend}+{driver}, which the signature store "
            f"does not support{_missing(backend, driver)}: use {_SUPPORTED}."
        )
    if backend == "sqlite" and _in_memory(parsed):
        raise StoreError(
            f"SIGNATURES_DB_URL ({shown}) names an in-memory SQLite database, which forgets "
            f"every registration when the run ends: use {_SUPPORTED}."
        )
    return parsed


def _in_memory(parsed: sa.URL) -> bool:
    """`sqlite://`, `sqlite:///:memory:` and URI forms such as `file::memory:` or
    `?mode=memory`."""
    database = parsed.database or ""
    return (
        database in ("", ":memory:")
        or ":memory:" in database
        or (parsed.query.get("mode") == "memory")
    )


def _missing(backend: str, driver: str) -> str:
    """` (its module M is not installed either)` when the driver cannot be imported, else ``."""
    try:
        sa.create_engine(sa.URL.create(f"{backend}+{driver}")).dispose()
    except ImportError as error:
        return f" (its module {error.name} is not installed either)"
    except Exception:  # any other refusal: the sentence without the module
        return ""
    return ""


def create_engine(parsed: sa.URL, **engine_options: Any) -> Engine:
    """SQLAlchemy's engine (no connection yet); StoreError when the driver cannot be imported."""
    try:
        return sa.create_engine(parsed, **engine_options)
    except ImportError as error:
        module = error.name or str(error)
        raise StoreError(
            f"SIGNATURES_DB_URL ({parsed.render_as_string(hide_password=True)}) needs the Python "
            f"module {module}, which is not installed: install {_PACKAGES.get(module, module)} "
            f"in this environment, or use {_SUPPORTED}."
        ) from None


def open_engine(url: str, **engine_options: Any) -> Engine:
    """An engine for a supported URL, not connected yet. SQLite: the file's folder is created
    if missing, writers wait SQLITE_BUSY_TIMEOUT_S for each other, WAL journal, foreign keys."""
    parsed = supported_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, **engine_options)
    folder = Path(parsed.database or "").parent  # a file: supported_url refuses memory
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"SIGNATURES_DB_URL names a SQLite file in {folder}, which cannot be "
            f"created ({error.strerror}): set WAREHOUSE_DIR or SIGNATURES_DB_URL elsewhere."
        ) from None
    connect_args = engine_options.setdefault("connect_args", {})
    timeout = float(connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_S))
    engine = create_engine(parsed, **engine_options)
    sa.event.listen(engine, "connect", functools.partial(_sqlite_pragmas, timeout=timeout))
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, timeout: float) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        _use_wal(cursor, timeout)
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def _use_wal(cursor: sqlite3.Cursor, timeout: float) -> None:
    """Switch the file to the WAL journal, waiting up to `timeout` seconds for other processes.

    SQLite does not call its busy handler for this switch: when two processes open a fresh file
    at once, one of them gets "database is locked" at once, whatever the busy timeout. So it
    retries here, backing off up to 50 ms, until the switch is made (by it or by the other
    process) or `timeout` has passed."""
    deadline = time.monotonic() + timeout
    pause = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(pause)
        pause = min(2 * pause, 0.05)
