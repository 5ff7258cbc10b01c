"""No wait on the signature database is unbounded: a server that never answers, a lock another
session keeps, a statement that runs for ever and a run stalled inside its transaction each end
with one sentence naming SIGNATURES_DB_URL and the URL parameter to raise (docs/operations.md,
"Database timeouts")."""

from __future__ import annotations

import re
import socket
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from assets_pkg.signatures import engines
from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.db_schema import SCHEMA_LOCK_KEY
from assets_pkg.signatures.engines import check_database_url
from assets_pkg.signatures.errors import StoreError

from .conftest import postgres_or_skip

BOUND_S = 60
"""A generous bound on anything that must end: a guard against hanging, not a timing check."""


def one_sentence(message: str) -> bool:
    return message.endswith(".") and ". " not in message and "\n" not in message


def outcome(action: Callable[[], object]) -> BaseException | None:
    """What `action` raised (None if nothing), run in a thread joined within BOUND_S: a hang
    fails the test instead of hanging it."""
    result: list[BaseException | None] = []

    def run() -> None:
        try:
            action()
        except BaseException as error:  # handed to the test
            result.append(error)
        else:
            result.append(None)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(BOUND_S)
    assert result, f"still waiting after {BOUND_S} s: the wait is not bounded"
    return result[0]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A loopback port whose server accepts every connection and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        listener.close()
        for connection in accepted:
            connection.close()


def test_a_server_that_never_answers_fails_within_the_default_connect_timeout(
    silent_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(engines.POSTGRES_CONNECT, "connect_timeout", "2")  # the default, lowered
    url = f"postgresql+psycopg://postgres@127.0.0.1:{silent_server}/test"
    database = SignatureDatabase.from_url(url)
    error = outcome(database.ensure_schema)
    database.dispose()
    assert isinstance(error, StoreError)
    assert str(error) == (
        f"The signature database at SIGNATURES_DB_URL ({url}) did not answer within "
        "connect_timeout=2 s (a server that is down, overloaded or not a PostgreSQL server): "
        "run again once it has cleared, or raise connect_timeout in SIGNATURES_DB_URL's query "
        "string (?connect_timeout=...)."
    )
    assert one_sentence(str(error))


def test_the_connect_timeout_in_the_url_is_honoured(silent_server: int) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{silent_server}/test?connect_timeout=3"
    database = SignatureDatabase.from_url(url)
    error = outcome(lambda: database.count_rows())
    database.dispose()
    assert isinstance(error, StoreError)
    assert "did not answer within connect_timeout=3 s" in str(error)
    assert one_sentence(str(error))


def _settings(url: str) -> dict[str, str]:
    database = SignatureDatabase.from_url(url)
    names = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
    with database.reading() as connection:
        found = {n: str(connection.exec_driver_sql(f"SHOW {n}").scalar()) for n in names}
    database.dispose()
    return found


@pytest.mark.postgres
def test_every_connection_gets_the_default_timeouts_and_the_url_overrides_them(
    postgres_url: str,
) -> None:
    assert _settings(postgres_url) == {
        "statement_timeout": "10min",
        "lock_timeout": "6min",
        "idle_in_transaction_session_timeout": "5min",
    }
    overridden = f"{postgres_url}&lock_timeout=2s&statement_timeout=0"
    assert _settings(overridden) == {
        "statement_timeout": "0",
        "lock_timeout": "2s",
        "idle_in_transaction_session_timeout": "5min",
    }
    # A `-c` of the user's own in `options` comes after ours, so it wins too.
    own = postgres_url.replace("?options=", "?options=-c%20lock_timeout%3D3s%20")
    assert _settings(own)["lock_timeout"] == "3s"


LOCK_SENTENCE = (
    r"The signature database at SIGNATURES_DB_URL \(.+\) kept a row or table locked by "
    r"another session for longer than lock_timeout=500ms \(another run registering the same "
    r"files, or one that stalled in a transaction\): run again once it has cleared, or raise "
    r"lock_timeout in SIGNATURES_DB_URL's query string \(\?lock_timeout=\.\.\.\)\."
)


@pytest.mark.postgres
def test_a_lock_held_by_another_session_fires_the_lock_timeout_with_one_sentence(
    postgres_url: str,
) -> None:
    admin = postgres_or_skip()
    url = f"{postgres_url}&lock_timeout=500ms"
    database = SignatureDatabase.from_url(url)
    schema = postgres_url.rpartition("%3D")[2]
    with admin.begin() as holder:  # another process creating or upgrading the schema
        holder.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
        error = outcome(database.ensure_schema)
    assert isinstance(error, StoreError)
    assert re.fullmatch(LOCK_SENTENCE, str(error)), str(error)
    database.ensure_schema()
    with admin.begin() as holder:  # a run stalled while it holds the table
        holder.exec_driver_sql(f'LOCK TABLE "{schema}".signees IN ACCESS EXCLUSIVE MODE')
        error = outcome(database.known_signees)
    assert isinstance(error, StoreError)
    assert re.fullmatch(LOCK_SENTENCE, str(error)), str(error)
    database.dispose()
    admin.dispose()


@pytest.mark.postgres
def test_a_run_stalled_in_its_transaction_is_ended_and_the_next_run_goes_on(
    postgres_url: str,
) -> None:
    """The stalled run's session is ended after its idle_in_transaction_session_timeout, which
    frees the lock the next run was waiting for; the stalled run, when it wakes, is told why."""
    stalled = SignatureDatabase.from_url(f"{postgres_url}&idle_in_transaction_session_timeout=1s")
    stalled.ensure_schema()
    schema = postgres_url.rpartition("%3D")[2]
    later = SignatureDatabase.from_url(postgres_url)

    def stall() -> None:
        with stalled.transaction() as connection:
            connection.exec_driver_sql(f'LOCK TABLE "{schema}".signees IN ACCESS EXCLUSIVE MODE')
            # Blocked by the stalled transaction until the server ends it.
            assert outcome(later.known_signees) is None
            connection.exec_driver_sql("SELECT 1")

    with pytest.raises(StoreError) as raised:
        stall()
    assert str(raised.value) == (
        f"The signature database at SIGNATURES_DB_URL ({stalled.describe()}) ended this run's "
        "session, idle inside a transaction for longer than "
        "idle_in_transaction_session_timeout=1s (a slow object store between two statements): "
        "run again once it has cleared, or raise idle_in_transaction_session_timeout in "
        "SIGNATURES_DB_URL's query string (?idle_in_transaction_session_timeout=...)."
    )
    stalled.dispose()
    later.dispose()


@pytest.mark.postgres
def test_a_statement_longer_than_the_statement_timeout_is_one_sentence(postgres_url: str) -> None:
    database = SignatureDatabase.from_url(f"{postgres_url}&statement_timeout=200ms")

    def sleep() -> None:
        with database.reading() as connection:
            connection.exec_driver_sql("SELECT pg_sleep(30)")

    error = outcome(sleep)
    database.dispose()
    assert isinstance(error, StoreError)
    assert str(error).startswith("A statement on the signature database at SIGNATURES_DB_URL (")
    assert "ran longer than statement_timeout=200ms and was cancelled" in str(error)
    assert one_sentence(str(error))


def test_a_locked_sqlite_database_waits_the_timeout_in_the_url_then_says_so(
    tmp_path: Path,
) -> None:
    """SQLite has no server: a writer waits for another's lock up to the busy timeout
    (SQLITE_BUSY_TIMEOUT_S, or `?timeout=` seconds in the URL), then one sentence."""
    path = tmp_path / "signatures.db"
    SignatureDatabase.from_url(f"sqlite:///{path}").ensure_schema()
    url = f"sqlite:///{path}?timeout=0.2"
    database = SignatureDatabase.from_url(url)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing
    try:
        error = outcome(database.ensure_schema)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    database.dispose()
    assert isinstance(error, StoreError)
    assert str(error) == (
        f"The SQLite database at SIGNATURES_DB_URL ({url}) stayed locked by another process "
        "for longer than its timeout of 0.2 s (another run writing it, or one that stalled): "
        "run again once it has cleared, or raise timeout in SIGNATURES_DB_URL's query string "
        "(?timeout=...)."
    )


@pytest.mark.parametrize(
    ("query", "name"),
    [
        ("lock_timeout=soon", "lock_timeout"),
        ("statement_timeout=-1s", "statement_timeout"),
        ("idle_in_transaction_session_timeout=5%20years", "idle_in_transaction_session_timeout"),
        ("connect_timeout=ten", "connect_timeout"),
        ("keepalives_idle=1.5", "keepalives_idle"),
        ("lock_timeout=1s&lock_timeout=2s", "lock_timeout"),
        ("statement_timeout=25d", "statement_timeout"),
        ("connect_timeout=99999999999", "connect_timeout"),
    ],
)
def test_a_timeout_that_is_not_a_duration_is_refused_naming_it(query: str, name: str) -> None:
    with pytest.raises(StoreError) as raised:
        check_database_url(f"postgresql+psycopg://postgres@127.0.0.1/test?{query}")
    assert str(raised.value).startswith("SIGNATURES_DB_URL (postgresql+psycopg://")
    assert f") sets {name} " in str(raised.value)
    assert one_sentence(str(raised.value))


@pytest.mark.parametrize("timeout", ["nan", "-1", "never"])
def test_a_sqlite_timeout_that_is_not_a_number_is_refused(timeout: str, tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"\) sets timeout to .+, which is not a number"):
        check_database_url(f"sqlite:///{tmp_path / 's.db'}?timeout={timeout}")


@pytest.mark.parametrize(
    "query",
    ["statement_timeout=1us", "lock_timeout=999us", "idle_in_transaction_session_timeout=500us"],
)
def test_a_duration_below_a_millisecond_is_refused_not_turned_into_none(query: str) -> None:
    """PostgreSQL rounds it to 0, which means no timeout at all."""
    with pytest.raises(StoreError, match=r"which is not a duration PostgreSQL takes"):
        check_database_url(f"postgresql+psycopg://postgres@127.0.0.1/test?{query}")
    check_database_url("postgresql+psycopg://postgres@127.0.0.1/test?lock_timeout=1000us")
    check_database_url("postgresql+psycopg://postgres@127.0.0.1/test?lock_timeout=0")


@pytest.mark.parametrize(
    "url",
    [
        "postgres//user:s3cr%40et@127.0.0.1/test",  # not a URL
        "postgresql+psycopg://user:s3cr%40et@127.0.0.1:54x32/test",  # a port that is not one
        "postgresql+psycopg://user:s3cr@et@127.0.0.1/test",  # an @ not written %40
        "postgresql+psycopg://user@127.0.0.1/test?password=s3cr%40et&lock_timeout=soon",
        "postgresql+psycopg://user@127.0.0.1/test?sslpassword=s3cr%40et&connect_timeout=-1",
        "sqlite:///x.db?password=s3cr%40et&timeout=never",
    ],
)
def test_a_sentence_naming_the_url_never_shows_its_password(url: str) -> None:
    with pytest.raises(StoreError) as raised:
        check_database_url(url)
    message = str(raised.value)
    assert message.startswith("SIGNATURES_DB_URL "), message
    assert "s3cr" not in message, message
    assert "et@" not in message, message
    assert one_sentence(message), message
