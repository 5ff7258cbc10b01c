"""Talking to a running topology of `make serve` from outside it: what the deployment tests and
the bench's scale-out part both need. A scratch PostgreSQL database and Celery queue of its
own, a free port, whether a service answers, and the web UI's GraphQL API, through which a
backfill is launched as the UI launches it."""

from __future__ import annotations

import contextlib
import json
import socket
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

HOST = "127.0.0.1"
ADMIN_URL = f"postgresql://postgres@{HOST}:5432/postgres"
"""The local PostgreSQL's maintenance database, where scratch databases are made."""

LAUNCH_BACKFILL = """
mutation ($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on PartitionKeysNotFoundError { message }
  }
}
"""
"""The web UI's mutation for "Materialize" over a range of partitions."""


def answers(host: str, port: int) -> bool:
    """Whether something accepts a connection on `host:port` within 2 s."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def free_port() -> int:
    """A port nobody listens on now (the operating system's choice)."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def graphql(
    url: str, query: str, variables: Mapping[str, Any], timeout: float = 60
) -> dict[str, Any]:
    """The web UI at `url` answering `query`, as JSON."""
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer: dict[str, Any] = json.load(response)
    return answer


@contextlib.contextmanager
def scratch_database(name: str) -> Iterator[str]:
    """A new PostgreSQL database `name` (one of that name left by an earlier run is dropped
    first), dropped afterwards; yields its URL for a Dagster instance."""
    import psycopg
    from psycopg import sql

    def drop(connection: psycopg.Connection[Any]) -> None:
        query = sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name))
        connection.execute(query)

    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        drop(connection)
        connection.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    try:
        yield f"postgresql+psycopg2://postgres@{HOST}:5432/{name}"
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
            drop(connection)


def delete_queue(broker: str, queue: str) -> None:
    """Remove a Celery queue and what it holds; nothing if it is not there."""
    from kombu.connection import Connection

    with contextlib.suppress(Exception), Connection(broker, connect_timeout=5) as connection:  # type: ignore[no-untyped-call]
        connection.default_channel.queue_delete(queue)
