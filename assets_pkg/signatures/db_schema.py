"""The tables of the signature store, their version, and the steps that upgrade an older one.

SQLAlchemy 2 Core, one schema for SQLite and PostgreSQL. `ensure_schema` creates missing
tables and runs `MIGRATIONS` up to `SCHEMA_VERSION`, one process at a time.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from assets_pkg.signatures.errors import StoreError

SCHEMA_VERSION = 2
"""Bump it and add a step to `MIGRATIONS` whenever the tables change."""

SCHEMA_LOCK_KEY = 0x5167_5354_4F52_4531
"""The PostgreSQL advisory lock that serialises schema creation and migrations (any constant
shared by every process; it is held only until the schema transaction ends)."""


class UtcDateTime(sa.types.TypeDecorator[dt.datetime]):
    """Timestamps stored in UTC and always read back timezone-aware (SQLite forgets the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        utc = value.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


metadata = sa.MetaData(
    naming_convention={
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ix": "ix_%(table_name)s_%(column_0_name)s",
    }
)
_ID = sa.String(26)
_SHA = sa.String(64)

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)
signees = sa.Table(
    "signees",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("directory", sa.String(255), nullable=False),
    sa.Column("writer_id", sa.String(255), nullable=False),
    sa.Column("created", UtcDateTime, nullable=False),
    sa.UniqueConstraint("source", "directory", "writer_id"),
)
assets = sa.Table(
    "assets",
    metadata,
    sa.Column("id", _SHA, primary_key=True),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("created", UtcDateTime, nullable=False),
)
signatures = sa.Table(
    "signatures",
    metadata,
    sa.Column("id", _ID, primary_key=True),
    sa.Column("signee_id", _ID, sa.ForeignKey("signees.id"), nullable=False, index=True),
    sa.Column("kind", sa.String(8), nullable=False),
    sa.Column("source", sa.String(64), nullable=False),
    sa.Column("subset", sa.String(255), nullable=False),
    sa.Column("source_path", sa.Text, nullable=False),
    sa.Column("content_sha256", _SHA, nullable=False),
    sa.Column("is_forgery", sa.Boolean, nullable=False),
    sa.Column("reference_source", sa.String(64)),
    sa.Column("reference_directory", sa.String(255)),
    sa.Column("reference_writer_id", sa.String(255)),
    sa.Column("reference_signature_path", sa.Text),
    sa.Column("reference_signee_id", _ID, sa.ForeignKey("signees.id")),
    sa.Column("reference_signature_id", _ID, sa.ForeignKey("signatures.id")),
    sa.Column("asset_id", _SHA, sa.ForeignKey("assets.id")),
    sa.Column("n_points", sa.Integer),
    sa.Column("metadata", sa.JSON, nullable=False),
    sa.Column("created", UtcDateTime, nullable=False),
    sa.Column("is_current", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Index("ix_signatures_source_path", "source", "source_path"),
)
current_path_index = sa.Index(
    "uq_signatures_current_source_path",
    signatures.c.source,
    signatures.c.source_path,
    unique=True,
    sqlite_where=signatures.c.is_current,
    postgresql_where=signatures.c.is_current,
)
"""At most one current signature per source file, enforced by the database: two runs racing to
register the same file cannot both succeed, whatever their caches say."""
points = sa.Table(
    "points",
    metadata,
    # No foreign key on purpose: checking it costs more than the insert itself on millions of
    # rows (PostgreSQL: 6 us/row with it, 2 without). Points are written only by
    # SqlSignatureRepository.store, in the transaction that inserts their signature.
    sa.Column("signature_id", _ID, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True),
    sa.Column("x", sa.Double, nullable=False),
    sa.Column("y", sa.Double, nullable=False),
    sa.Column("z", sa.Double, nullable=False),
)
supersessions = sa.Table(
    "supersessions",
    metadata,
    sa.Column("signature_id", _ID, sa.ForeignKey("signatures.id"), primary_key=True),
    sa.Column("superseded_by", _ID, sa.ForeignKey("signatures.id"), nullable=False),
    sa.Column("superseded_at", UtcDateTime, nullable=False),
)


def current() -> sa.ColumnElement[bool]:
    """Signatures not superseded by a newer version of their file."""
    return signatures.c.is_current


def _migrate_1_to_2(connection: Connection) -> None:
    """`is_current` and the unique index on current (source, source_path). Duplicates that two
    concurrent runs could write before are repaired first: in each group, the newest signature
    (the greatest ULID) stays current and supersedes the others; nothing is deleted."""
    true = "true" if connection.dialect.name == "postgresql" else "1"
    connection.exec_driver_sql(
        f"ALTER TABLE signatures ADD COLUMN is_current BOOLEAN NOT NULL DEFAULT {true}"
    )
    connection.execute(
        signatures.update()
        .where(signatures.c.id.in_(sa.select(supersessions.c.signature_id)))
        .values(is_current=False)
    )
    rows = connection.execute(
        sa.select(signatures.c.id, signatures.c.source, signatures.c.source_path)
        .where(signatures.c.is_current)
        .order_by(signatures.c.source, signatures.c.source_path, signatures.c.id)
    ).all()
    now = dt.datetime.now(dt.UTC)
    replaced: list[dict[str, object]] = []
    for _, group in itertools.groupby(rows, key=lambda r: (r.source, r.source_path)):
        *older, newest = [row.id for row in group]
        replaced += [
            {"signature_id": old, "superseded_by": newest, "superseded_at": now} for old in older
        ]
    if replaced:
        connection.execute(
            signatures.update()
            .where(signatures.c.id == sa.bindparam("signature_id"))
            .values(is_current=False),
            [{"signature_id": r["signature_id"]} for r in replaced],
        )
        connection.execute(supersessions.insert(), replaced)
    current_path_index.create(connection)


MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _migrate_1_to_2}
"""`MIGRATIONS[n]` upgrades a database from version n to n + 1."""


def ensure_schema(connection: Connection, where: str) -> None:
    """Create missing tables, then upgrade an older schema step by step, holding the schema
    exclusively (a PostgreSQL advisory lock, SQLite's `BEGIN IMMEDIATE`) until `connection`'s
    transaction ends: processes starting together create and upgrade it one after the other,
    and each later one finds it done. `where` names the database in messages."""
    lock_schema(connection)
    _refuse_foreign_tables(connection, where)
    metadata.create_all(connection)
    found = connection.execute(sa.select(schema_version.c.version)).scalar()
    if found is None:
        connection.execute(schema_version.insert().values(id=1, version=SCHEMA_VERSION))
        return
    if found > SCHEMA_VERSION:
        raise StoreError(
            f"The database at SIGNATURES_DB_URL ({where}) has schema version {found}, newer "
            f"than this code's {SCHEMA_VERSION}: upgrade the code or point SIGNATURES_DB_URL "
            "elsewhere."
        )
    for version in range(found, SCHEMA_VERSION):
        MIGRATIONS[version](connection)
    connection.execute(schema_version.update().values(version=SCHEMA_VERSION))


def _refuse_foreign_tables(connection: Connection, where: str) -> None:
    """StoreError when the database holds a table of this project's names but no
    `schema_version`: another design's table, which `create_all` would silently keep (and then
    add the others beside it). A database this project created always has `schema_version`."""
    existing = set(sa.inspect(connection).get_table_names())
    if schema_version.name in existing:
        return
    foreign = sorted(existing & set(metadata.tables))
    if foreign:
        raise StoreError(
            f"The signature database at SIGNATURES_DB_URL ({where}) cannot hold this project's "
            f"tables (it already holds {', '.join(foreign)}, which this project did not "
            "create): point SIGNATURES_DB_URL at an empty database or at one this project "
            "created."
        )


def lock_schema(connection: Connection) -> None:
    """Hold the schema exclusively until this transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")
