"""SIGNATURES_DB_URL to a SQLAlchemy engine: which databases the store runs on, and one
sentence naming the setting for every URL it cannot use (unknown scheme, unsupported backend or
driver, driver module not installed, a timeout that is not a duration).

No wait on the database is unbounded (docs/operations.md, "Database timeouts"): a PostgreSQL
connection is opened with `connect_timeout`, TCP keepalives, and the server settings
`statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout`, each with a
default the URL's query string overrides (`?lock_timeout=30s`); a SQLite writer waits
`?timeout=` seconds (default SQLITE_BUSY_TIMEOUT_S) for another's lock. `timeout_error` turns
a timeout that fired into one sentence naming SIGNATURES_DB_URL and the parameter to raise."""

from __future__ import annotations

import functools
import re
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from assets_pkg.signatures.errors import StoreError

SQLITE_BUSY_TIMEOUT_S = 30
"""How long a SQLite writer waits for another process's transaction before giving up (the
URL's `?timeout=SECONDS` overrides it)."""

POSTGRES_CONNECT = {
    "connect_timeout": "10",
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}
"""libpq connection parameters and their defaults; the URL's query string overrides each. A
server that accepts the connection and never answers fails after `connect_timeout` seconds; a
server host that vanishes mid-run is noticed by the keepalives within about a minute."""

POSTGRES_TIMEOUTS = {
    "statement_timeout": "10min",
    "lock_timeout": "6min",
    "idle_in_transaction_session_timeout": "5min",
}
"""PostgreSQL settings sent with every connection (`-c name=value` in libpq's `options`), and
their defaults; `?name=value` in the URL's query string overrides each (as does a `-c` of the
user's own in `?options=`). A run stalled inside a transaction loses its session after
idle_in_transaction_session_timeout, which releases its locks: a later run waiting on them
(up to lock_timeout, longer on purpose) then goes on. statement_timeout bounds every statement,
lock waits included, so it is the longest."""

_DURATION = re.compile(r"(\d+)\s*(us|ms|s|min|h|d)?", re.IGNORECASE)
"""A PostgreSQL duration: a whole number, in milliseconds unless a unit follows; 0 is none."""

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
        raise StoreError(
            f"SIGNATURES_DB_URL is not a database URL: {masked(url)!r}: use {_SUPPORTED}."
        ) from None
    except ValueError:  # a port that is not a number (SQLAlchemy's int() of it)
        raise StoreError(
            f"SIGNATURES_DB_URL ({masked(url)}) has a port that is not a number: fix the "
            "number after the host, or leave it out for 5432."
        ) from None
    if "@" in (parsed.host or ""):
        # `user:p@ss@host`: SQLAlchemy reads the password up to the first @ and the rest as
        # the host, so a sentence showing the host would show part of the password.
        raise StoreError(
            f"SIGNATURES_DB_URL ({masked(url)}) has an @ in its user name or password: write "
            "it as %40 (and a : as %3A, a / as %2F, a % as %25)."
        )
    shown = shown_url(parsed)
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
    timeouts(parsed)  # refuses a timeout that is not a number or a duration
    return parsed


_SECRET_QUERY = re.compile(r"([?&](?:ssl)?password=)[^&]*", re.IGNORECASE)
"""A password given in the query string (`?password=...`, which libpq accepts too)."""


def shown_url(parsed: sa.URL) -> str:
    """`parsed` as a sentence may show it: its password, in the user part or in the query
    string, replaced by ***."""
    return _SECRET_QUERY.sub(r"\1***", parsed.render_as_string(hide_password=True))


def masked(text: str) -> str:
    """A URL that could not be parsed, as a sentence may show it: what stands between the
    user name's `:` and the last `@` is taken for the password, and replaced by ***."""
    at = text.rfind("@")
    if at != -1:
        start = text.find("//", 0, at)
        start = 0 if start == -1 else start + 2
        user, colon, _ = text[start:at].partition(":")
        if colon:
            text = f"{text[:start]}{user}:***{text[at:]}"
    return _SECRET_QUERY.sub(r"\1***", text)


def timeouts(parsed: sa.URL) -> dict[str, str]:
    """The timeouts a connection to `parsed` gets: the defaults, overridden by the URL's query
    string (SQLite: `timeout`, in seconds; PostgreSQL: POSTGRES_CONNECT's and
    POSTGRES_TIMEOUTS' names). StoreError naming SIGNATURES_DB_URL for a value that is not a
    whole number of seconds, or not a PostgreSQL duration (`30s`, `5min`, `0` for none)."""
    shown = shown_url(parsed)
    if parsed.get_backend_name() == "sqlite":
        found = {"timeout": _query_value(parsed, "timeout", str(SQLITE_BUSY_TIMEOUT_S))}
        _check_number(found["timeout"], "timeout", shown, "a number of seconds", float)
        return found
    found = {name: _query_value(parsed, name, value) for name, value in POSTGRES_CONNECT.items()}
    for name, value in found.items():
        _check_number(value, name, shown, "a whole number of seconds", int)
    for name, default in POSTGRES_TIMEOUTS.items():
        value = _query_value(parsed, name, default)
        match = _DURATION.fullmatch(value.strip())
        # PostgreSQL rounds a duration below 1 ms to 0, which is no timeout at all.
        if match is None or not (
            _milliseconds(match) == 0 or 1 <= _milliseconds(match) <= _PG_INT_MAX
        ):
            raise StoreError(_not_a_duration(shown, name, value))
        found[name] = match.group(1) + (match.group(2) or "ms").lower()
    return found


_PG_INT_MAX = 2**31 - 1
"""The largest value of an integer setting (milliseconds here), and of a libpq number."""

_MILLISECONDS = {"us": 0.001, "ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000, "d": 86_400_000}


def _not_a_duration(shown: str, name: str, value: str) -> str:
    return (
        f"SIGNATURES_DB_URL ({shown}) sets {name} to {value!r}, which is not a duration "
        "PostgreSQL takes: use a whole number with a unit, such as 30s or 5min, from 1ms to "
        "24 days (0 for none)."
    )


def _milliseconds(match: re.Match[str]) -> float:
    return int(match.group(1)) * _MILLISECONDS[(match.group(2) or "ms").lower()]


def _query_value(parsed: sa.URL, name: str, default: str) -> str:
    value = parsed.query.get(name, default)
    if isinstance(value, tuple):  # `?name=a&name=b`
        raise StoreError(
            f"SIGNATURES_DB_URL ({shown_url(parsed)}) sets {name} more than once: keep one."
        )
    return value


def _check_number(
    value: str, name: str, shown: str, what: str, kind: Callable[[str], float]
) -> None:
    try:
        number = kind(value)
    except ValueError:
        number = -1
    if not 0 <= number <= _PG_INT_MAX:  # also NaN
        raise StoreError(
            f"SIGNATURES_DB_URL ({shown}) sets {name} to {value!r}, which is not {what}: "
            f"fix it in the URL's query string."
        )


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
            f"SIGNATURES_DB_URL ({shown_url(parsed)}) needs the Python "
            f"module {module}, which is not installed: install {_PACKAGES.get(module, module)} "
            f"in this environment, or use {_SUPPORTED}."
        ) from None


def open_engine(url: str, **engine_options: Any) -> Engine:
    """An engine for a supported URL, not connected yet. SQLite: the file's folder is created
    if missing, writers wait SQLITE_BUSY_TIMEOUT_S for each other, WAL journal, foreign keys."""
    parsed = supported_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(parsed, **engine_options)
        sa.event.listen(engine, "do_connect", functools.partial(_postgres_timeouts, parsed))
        return engine
    folder = Path(parsed.database or "").parent  # a file: supported_url refuses memory
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StoreError(
            f"SIGNATURES_DB_URL names a SQLite file in {folder}, which cannot be "
            f"created ({error.strerror}): set WAREHOUSE_DIR or SIGNATURES_DB_URL elsewhere."
        ) from None
    connect_args = engine_options.setdefault("connect_args", {})
    timeout = float(connect_args.setdefault("timeout", float(timeouts(parsed)["timeout"])))
    engine = create_engine(parsed, **engine_options)
    sa.event.listen(engine, "connect", functools.partial(_sqlite_pragmas, timeout=timeout))
    return engine


def _postgres_timeouts(
    parsed: sa.URL, _dialect: Any, _record: Any, _args: Any, params: dict[str, Any]
) -> None:
    """Before each PostgreSQL connection: the libpq parameters and server settings of
    `timeouts`; the user's own `options` follow ours, so a `-c` of theirs wins."""
    found = timeouts(parsed)
    for name in POSTGRES_TIMEOUTS:
        params.pop(name, None)  # a setting, not a libpq parameter: sent in `options` below
    for name in POSTGRES_CONNECT:
        params[name] = found[name]
    settings = [f"-c {name}={found[name]}" for name in POSTGRES_TIMEOUTS]
    own = params.get("options") or ()
    params["options"] = " ".join([*settings, *([own] if isinstance(own, str) else own)])


TIMEOUT_FIX = "or raise {name} in SIGNATURES_DB_URL's query string (?{name}=...)."


def timeout_error(error: BaseException, parsed: sa.URL) -> StoreError | None:
    """One sentence naming SIGNATURES_DB_URL and the parameter to raise, when `error` is one
    of the timeouts above firing (None for any other error)."""
    if not isinstance(error, sa.exc.DBAPIError):
        return None
    shown = f"SIGNATURES_DB_URL ({shown_url(parsed)})"
    cause = error.orig
    text = str(cause).strip().lower()
    sqlstate = getattr(cause, "sqlstate", None)
    try:
        found = timeouts(parsed)
    except StoreError:  # cannot happen for an engine this module made; no guess then
        return None
    if isinstance(cause, sqlite3.OperationalError) and "database is locked" in text:
        name = "timeout"
        what = (
            f"The SQLite database at {shown} stayed locked by another process for longer "
            f"than its timeout of {found[name]} s"
        )
        why = "another run writing it, or one that stalled"
    elif sqlstate == "55P03":  # lock_not_available
        name = "lock_timeout"
        what = (
            f"The signature database at {shown} kept a row or table locked by another session "
            f"for longer than lock_timeout={found[name]}"
        )
        why = "another run registering the same files, or one that stalled in a transaction"
    elif sqlstate == "57014" and "statement timeout" in text:
        name = "statement_timeout"
        what = (
            f"A statement on the signature database at {shown} ran longer than "
            f"statement_timeout={found[name]} and was cancelled"
        )
        why = "a busy or stalled server"
    elif sqlstate == "25P03" or "idle-in-transaction timeout" in text:
        name = "idle_in_transaction_session_timeout"
        what = (
            f"The signature database at {shown} ended this run's session, idle inside a "
            f"transaction for longer than idle_in_transaction_session_timeout={found[name]}"
        )
        why = "a slow object store between two statements"
    elif "timeout expired" in text and isinstance(error, sa.exc.OperationalError):
        name = "connect_timeout"
        what = (
            f"The signature database at {shown} did not answer within "
            f"connect_timeout={found[name]} s"
        )
        why = "a server that is down, overloaded or not a PostgreSQL server"
    else:
        return None
    return StoreError(
        f"{what} ({why}): run again once it has cleared, {TIMEOUT_FIX.format(name=name)}"
    )


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
