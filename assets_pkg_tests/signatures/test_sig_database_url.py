"""SIGNATURES_DB_URL that cannot work: one sentence naming the setting, the module, the fix."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from assets_pkg.defs.resource_checks import SettingError
from assets_pkg.defs.signatures.resources import SignatureDatabaseResource
from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.engines import check_database_url
from assets_pkg.signatures.errors import StoreError

SUPPORTED = "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB."


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "mysql://user:secret@db.example/signatures",
            "SIGNATURES_DB_URL (mysql://user:***@db.example/signatures) uses mysql+mysqldb, "
            "which the signature store does not support (its module MySQLdb is not installed "
            f"either): {SUPPORTED}",
        ),
        (
            "mssql+pymssql://h/db",
            "SIGNATURES_DB_URL (mssql+pymssql://h/db) uses mssql+pymssql, which the signature "
            f"store does not support (its module pymssql is not installed either): {SUPPORTED}",
        ),
        (
            "foo://h/db",
            f"SIGNATURES_DB_URL (foo://h/db) uses the unknown scheme 'foo': {SUPPORTED}",
        ),
        (
            "not a url",
            "SIGNATURES_DB_URL is not a database URL: 'not a url': use sqlite:///PATH or "
            "postgresql+psycopg://USER@HOST/DB.",
        ),
    ],
)
def test_an_unusable_url_is_one_sentence(url: str, message: str) -> None:
    for attempt in (check_database_url, SignatureDatabase.from_url):
        with pytest.raises(StoreError) as caught:
            attempt(url)
        assert str(caught.value) == message


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file::memory:?cache=shared&uri=true",
        "sqlite:///file:signatures?mode=memory&uri=true",
    ],
)
def test_an_in_memory_sqlite_database_is_refused(url: str) -> None:
    """It would forget every registration, so each run would register everything again."""
    for attempt in (check_database_url, SignatureDatabase.from_url):
        with pytest.raises(StoreError) as caught:
            attempt(url)
        assert str(caught.value).startswith("SIGNATURES_DB_URL (sqlite://")
        assert str(caught.value).endswith(
            ") names an in-memory SQLite database, which forgets every registration when the "
            f"run ends: {SUPPORTED}"
        )


def test_a_supported_backend_without_its_driver_names_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg2", None)  # as if it were not installed
    with pytest.raises(StoreError) as caught:
        SignatureDatabase.from_url("postgresql+psycopg2://user:secret@h/db")
    assert str(caught.value) == (
        "SIGNATURES_DB_URL (postgresql+psycopg2://user:***@h/db) needs the Python module "
        "psycopg2, which is not installed: install psycopg2-binary in this environment, or "
        f"{SUPPORTED}"
    )


def test_a_good_url_is_checked_without_connecting_or_creating_anything(tmp_path: Path) -> None:
    check_database_url(f"sqlite:///{tmp_path / 'sub' / 'db.sqlite'}")
    check_database_url("postgresql+psycopg://nobody@127.0.0.1:9/none")  # nothing listens there
    assert list(tmp_path.iterdir()) == []


def test_the_resource_refuses_the_url_in_one_sentence() -> None:
    """When it is made (from the environment or run config alike), not when it is opened."""
    with pytest.raises(SettingError) as caught:
        SignatureDatabaseResource(url="mysql://u@h/db")
    assert str(caught.value).startswith(
        "SIGNATURES_DB_URL (signatures_db.url) (mysql://u@h/db) uses mysql"
    )
