"""Fixtures of the purchase tests: a tiny feed and a warehouse, both in `tmp_path`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from .feed_builder import Feed


@pytest.fixture
def feed(tmp_path: Path) -> Feed:
    """The source layout with customers C1..C4, products P1 and P2, and no day folder yet."""
    source = Feed(tmp_path / "source")
    source.write_csvs()
    return source


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    return tmp_path / "warehouse"


@pytest.fixture(scope="session")
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    """One DuckDB connection for the session: opening one takes about 50 ms."""
    with duckdb.connect() as opened:
        yield opened
