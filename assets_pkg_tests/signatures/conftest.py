"""Fixtures for the signature tests: temporary source trees and a database on each backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from assets_pkg.signatures.database import SignatureDatabase

POSTGRES_URL = os.environ.get(
    "SIGNATURES_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_or_skip() -> sa.Engine:
    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as error:
        engine.dispose()
        first = str(error.orig).strip().splitlines()[0]
        pytest.skip(f"no PostgreSQL server answers at {POSTGRES_URL}: {first}")
    return engine


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose connections live in a fresh schema of the local PostgreSQL, dropped after."""
    admin = postgres_or_skip()
    schema = f"sig_test_{uuid.uuid4().hex}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database URL: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'signatures.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def database(database_url: str) -> Iterator[SignatureDatabase]:
    db = SignatureDatabase.from_url(database_url)
    db.ensure_schema()
    try:
        yield db
    finally:
        db.dispose()
