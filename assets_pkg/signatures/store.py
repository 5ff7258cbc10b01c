"""The relational store: signees, signatures, points, assets and supersede history.

SQLAlchemy 2 Core, one schema for SQLite and PostgreSQL. `SignatureDatabase` owns the engine,
creates and upgrades its own schema (`schema_version` table), and offers `transaction()` so that
a signee and its signatures are written together or not at all (decision 7). The repositories
keep what is already registered in memory, loaded once per database object, so idempotence
checks cost no query per file; the cache changes only after a commit succeeds.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from assets_pkg.signatures.asset_service import StoredAsset
from assets_pkg.signatures.model import (
    ImageSignature,
    Signature,
    Signee,
    SigneeKey,
    XYZSignature,
)
from assets_pkg.signatures.service import CurrentSignature, StoreError

SCHEMA_VERSION = 2
"""Bump it and add a step to `MIGRATIONS` whenever the tables change."""

SCHEMA_LOCK_KEY = 0x5167_5354_4F52_4531
"""The PostgreSQL advisory lock that serialises schema creation and migrations (any constant
shared by every process; it is held only until the schema transaction ends)."""

SQLITE_BUSY_TIMEOUT_S = 30
"""How long a SQLite writer waits for another process's transaction before giving up."""


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

REGISTERED_SCHEMA: dict[str, pl.DataType] = {
    "signature_id": pl.String(),
    "signee_id": pl.String(),
    "source": pl.String(),
    "subset": pl.String(),
    "source_path": pl.String(),
    "kind": pl.String(),
    "is_forgery": pl.Boolean(),
    "writer_id": pl.String(),
    "reference_signee_id": pl.String(),
    "reference_signature_id": pl.String(),
    "asset_id": pl.String(),
    "n_points": pl.Int64(),
    "content_sha256": pl.String(),
    "created": pl.Datetime("us", "UTC"),
}
"""The columns of `registered_signatures`, in order (the spec's list)."""


def _current() -> sa.ColumnElement[bool]:
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


class WriteConflictError(StoreError):
    """Another process registered the same signee or file first (a unique key refused the
    insert, or the database broke a deadlock): re-read what is registered and try again."""


class SignatureDatabase:
    """The engine, the schema, the transaction, and what is already registered."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._connection: Connection | None = None
        self._after_commit: list[Callable[[], None]] = []
        self._signees: dict[SigneeKey, Signee] | None = None
        self._current: dict[tuple[str, str], CurrentSignature] | None = None
        self._assets: set[str] | None = None

    @classmethod
    def from_url(cls, url: str, **engine_options: Any) -> SignatureDatabase:
        """A database for a SQLAlchemy URL; a SQLite file's folder is created if missing.
        StoreError (one sentence naming SIGNATURES_DB_URL) for a URL it cannot use."""
        parsed = _supported_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            folder = Path(parsed.database).parent
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise StoreError(
                    f"SIGNATURES_DB_URL names a SQLite file in {folder}, which cannot be "
                    f"created ({error.strerror}): set WAREHOUSE_DIR or SIGNATURES_DB_URL elsewhere."
                ) from None
            engine_options.setdefault("connect_args", {}).setdefault(
                "timeout", SQLITE_BUSY_TIMEOUT_S
            )
        engine = _create_engine(parsed, **engine_options)
        if parsed.get_backend_name() == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        return cls(engine)

    def describe(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    def ensure_schema(self) -> None:
        """Create missing tables, then upgrade an older schema step by step.

        One transaction, taken exclusively (a PostgreSQL advisory lock, SQLite's
        `BEGIN IMMEDIATE`): processes starting together create and upgrade the schema one after
        the other, and each later one finds it done."""
        try:
            with self.engine.begin() as connection:
                _lock_schema(connection)
                metadata.create_all(connection)
                found = connection.execute(sa.select(schema_version.c.version)).scalar()
                if found is None:
                    connection.execute(schema_version.insert().values(id=1, version=SCHEMA_VERSION))
                    return
                if found > SCHEMA_VERSION:
                    raise StoreError(
                        f"The database at SIGNATURES_DB_URL ({self.describe()}) has schema "
                        f"version {found}, newer than this code's {SCHEMA_VERSION}: upgrade the "
                        "code or point SIGNATURES_DB_URL elsewhere."
                    )
                for version in range(found, SCHEMA_VERSION):
                    MIGRATIONS[version](connection)
                connection.execute(schema_version.update().values(version=SCHEMA_VERSION))
        except sa.exc.OperationalError as error:
            raise StoreError(
                f"Cannot reach the signature database at SIGNATURES_DB_URL "
                f"({self.describe()}): {str(error.orig).strip().splitlines()[0]}"
            ) from None

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One database transaction; nested calls join the outer one. A write that another
        process's committed rows refuse raises WriteConflictError."""
        if self._connection is not None:
            yield self._connection
            return
        try:
            with self.engine.begin() as connection:
                self._connection = connection
                yield connection
        except BaseException as error:
            self._after_commit.clear()
            if not isinstance(error, WriteConflictError) and _is_conflict(error):
                raise WriteConflictError(
                    f"another run registered the same rows first ({_first_line(error)})"
                ) from error
            if _is_lost(error):
                raise self._lost(error) from None
            raise
        finally:
            self._connection = None
        pending, self._after_commit = self._after_commit, []
        for apply in pending:
            apply()

    def on_commit(self, apply: Callable[[], None]) -> None:
        self._after_commit.append(apply)

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        """A connection for reads; a lost database becomes one StoreError sentence."""
        try:
            with self.engine.connect() as connection:
                yield connection
        except sa.exc.DBAPIError as error:
            if _is_lost(error):
                raise self._lost(error) from None
            raise

    def _lost(self, error: BaseException) -> StoreError:
        return StoreError(
            f"Lost the signature database at SIGNATURES_DB_URL ({self.describe()}) in the middle "
            f"of the run ({_first_line(error)}): check that the database server is running and "
            "reachable, or set SIGNATURES_DB_URL to one that is, then run again (what was "
            "registered before stays registered)."
        )

    # What is already registered, loaded once -------------------------------------------------

    def known_signees(self) -> dict[SigneeKey, Signee]:
        if self._signees is None:
            with self._reading() as connection:
                rows = connection.execute(sa.select(signees)).all()
            self._signees = {
                SigneeKey(source=r.source, directory=r.directory, writer_id=r.writer_id): Signee(
                    id=r.id,
                    created=r.created,
                    key=SigneeKey(source=r.source, directory=r.directory, writer_id=r.writer_id),
                )
                for r in rows
            }
        return self._signees

    def current_signatures(self) -> dict[tuple[str, str], CurrentSignature]:
        if self._current is None:
            query = sa.select(
                signatures.c.id,
                signatures.c.signee_id,
                signatures.c.source,
                signatures.c.source_path,
                signatures.c.content_sha256,
            ).where(_current())
            with self._reading() as connection:
                rows = connection.execute(query).all()
            self._current = {
                (r.source, r.source_path): CurrentSignature(r.id, r.signee_id, r.content_sha256)
                for r in rows
            }
        return self._current

    def refresh(self, keys: Iterable[SigneeKey], paths: Iterable[tuple[str, str]]) -> None:
        """Re-read these signees and the current signatures of these (source, source_path)s
        (after another process wrote them); the rest of the caches stays as it is."""
        known = self.known_signees()
        current = self.current_signatures()
        keys, paths = set(keys), set(paths)
        with self._reading() as connection:
            for key in keys:
                row = connection.execute(
                    sa.select(signees).where(
                        signees.c.source == key.source,
                        signees.c.directory == key.directory,
                        signees.c.writer_id == key.writer_id,
                    )
                ).first()
                if row is None:
                    known.pop(key, None)
                else:
                    known[key] = Signee(id=row.id, created=row.created, key=key)
            for source, source_path in paths:
                found = connection.execute(
                    sa.select(
                        signatures.c.id, signatures.c.signee_id, signatures.c.content_sha256
                    ).where(
                        signatures.c.source == source,
                        signatures.c.source_path == source_path,
                        _current(),
                    )
                ).first()
                if found is None:
                    current.pop((source, source_path), None)
                else:
                    current[(source, source_path)] = CurrentSignature(
                        found.id, found.signee_id, found.content_sha256
                    )

    def known_assets(self) -> set[str]:
        if self._assets is None:
            with self._reading() as connection:
                self._assets = set(connection.scalars(sa.select(assets.c.id)))
        return self._assets

    # Writes ------------------------------------------------------------------------------------

    def record_asset(self, asset: StoredAsset) -> None:
        """AssetCatalog: remember an asset once (its id is its content hash)."""
        known = self.known_assets()
        if asset.id in known:
            return
        row = {
            "id": asset.id,
            "size_bytes": asset.size_bytes,
            "location": asset.location,
            "metadata": dict(asset.metadata),
            "created": dt.datetime.now(dt.UTC),
        }
        with self.transaction() as connection:
            connection.execute(_insert_ignoring_duplicates(connection, assets, ["id"]), [row])
            self.on_commit(lambda: known.add(asset.id))

    def resolve_pending_references(self) -> int:
        """Link forgeries registered before their reference existed; returns how many."""
        reference = signees.alias("reference")
        signee_id = (
            sa.select(reference.c.id)
            .where(
                reference.c.source == signatures.c.reference_source,
                reference.c.directory == signatures.c.reference_directory,
                reference.c.writer_id == signatures.c.reference_writer_id,
            )
            .scalar_subquery()
        )
        target = signatures.alias("target")
        signature_id = (
            sa.select(target.c.id)
            .where(
                target.c.source == signatures.c.reference_source,
                target.c.source_path == signatures.c.reference_signature_path,
                target.c.signee_id == signee_id,
                ~sa.exists().where(supersessions.c.signature_id == target.c.id),
            )
            .scalar_subquery()
        )
        with self.transaction() as connection:
            linked = connection.execute(
                signatures.update()
                .where(
                    signatures.c.is_forgery,
                    signatures.c.reference_signee_id.is_(None),
                    signee_id.is_not(None),
                )
                .values(reference_signee_id=signee_id, reference_signature_id=signature_id)
            ).rowcount
        return linked

    # Reads for the Dagster assets ------------------------------------------------------------

    def unlinked_forgeries(self) -> set[tuple[str, str]]:
        """(source, source_path) of current forgeries whose reference is still missing."""
        query = sa.select(signatures.c.source, signatures.c.source_path).where(
            _current(),
            signatures.c.is_forgery,
            sa.or_(
                signatures.c.reference_signee_id.is_(None),
                sa.and_(
                    signatures.c.reference_signature_path.is_not(None),
                    signatures.c.reference_signature_id.is_(None),
                ),
            ),
        )
        with self._reading() as connection:
            return {(r.source, r.source_path) for r in connection.execute(query)}

    def registered_frame(self) -> pl.DataFrame:
        """Every current signature, one row each, ordered by source and path."""
        query = (
            sa.select(
                signatures.c.id.label("signature_id"),
                signatures.c.signee_id,
                signatures.c.source,
                signatures.c.subset,
                signatures.c.source_path,
                signatures.c.kind,
                signatures.c.is_forgery,
                signees.c.writer_id,
                signatures.c.reference_signee_id,
                signatures.c.reference_signature_id,
                signatures.c.asset_id,
                signatures.c.n_points,
                signatures.c.content_sha256,
                signatures.c.created,
            )
            .join(signees, signees.c.id == signatures.c.signee_id)
            .where(_current())
            .order_by(signatures.c.source, signatures.c.source_path)
        )
        with self._reading() as connection:
            rows = [tuple(row) for row in connection.execute(query)]
        return pl.DataFrame(rows, schema=REGISTERED_SCHEMA, orient="row")

    def count_rows(self) -> dict[str, int]:
        tables = (signees, signatures, points, assets, supersessions)
        with self._reading() as connection:
            return {
                table.name: connection.execute(
                    sa.select(sa.func.count()).select_from(table)
                ).scalar_one()
                for table in tables
            }


class SqlSigneeRepository:
    """SigneeRepository on a SignatureDatabase."""

    def __init__(self, database: SignatureDatabase) -> None:
        self._db = database

    def find_signee(self, key: SigneeKey) -> Signee | None:
        found = self._db.known_signees().get(key)
        return None if found is None else found.model_copy(update={"signatures": []})

    def store(self, signee: Signee) -> None:
        known = self._db.known_signees()
        row = {
            "id": signee.id,
            "source": signee.key.source,
            "directory": signee.key.directory,
            "writer_id": signee.key.writer_id,
            "created": signee.created,
        }
        with self._db.transaction() as connection:
            connection.execute(signees.insert(), [row])
            stored = signee.model_copy(update={"signatures": []})
            self._db.on_commit(lambda: known.__setitem__(signee.key, stored))


class SqlSignatureRepository:
    """SignatureRepository on a SignatureDatabase: signatures, their points, supersessions."""

    def __init__(self, database: SignatureDatabase) -> None:
        self._db = database

    def find_current(self, source: str, source_path: str) -> CurrentSignature | None:
        return self._db.current_signatures().get((source, source_path))

    def store(self, new: Sequence[Signature]) -> None:
        if not new:
            return
        current = self._db.current_signatures()
        with self._db.transaction() as connection:
            for s in new:
                if s.supersedes is not None:
                    _retire(connection, s.supersedes, s.origin.source_path)
            connection.execute(signatures.insert(), [_signature_row(s) for s in new])
            _insert_points(
                connection,
                [
                    (s.id, seq, *point)
                    for s in new
                    if isinstance(s, XYZSignature)
                    for seq, point in enumerate(s.points)
                ],
            )
            replaced = [
                {"signature_id": s.supersedes, "superseded_by": s.id, "superseded_at": s.created}
                for s in new
                if s.supersedes is not None
            ]
            if replaced:
                connection.execute(supersessions.insert(), replaced)

            def remember() -> None:
                for s in new:
                    key = (s.origin.source, s.origin.source_path)
                    current[key] = CurrentSignature(s.id, s.signee_id, s.origin.content_sha256)

            self._db.on_commit(remember)


def _retire(connection: Connection, signature_id: str, source_path: str) -> None:
    """Mark a signature as no longer current, before its successor is inserted; if another run
    retired it first, the successor would be a second new version: a write conflict."""
    retired = connection.execute(
        signatures.update()
        .where(signatures.c.id == signature_id, signatures.c.is_current)
        .values(is_current=False)
    ).rowcount
    if retired != 1:
        raise WriteConflictError(f"another run superseded {source_path} first")


def _signature_row(signature: Signature) -> dict[str, object]:
    reference = signature.forgery_of
    return {
        "id": signature.id,
        "signee_id": signature.signee_id,
        "kind": signature.kind,
        "source": signature.origin.source,
        "subset": signature.origin.subset,
        "source_path": signature.origin.source_path,
        "content_sha256": signature.origin.content_sha256,
        "is_forgery": reference is not None,
        "reference_source": None if reference is None else reference.signee.source,
        "reference_directory": None if reference is None else reference.signee.directory,
        "reference_writer_id": None if reference is None else reference.signee.writer_id,
        "reference_signature_path": None if reference is None else reference.signature_path,
        "reference_signee_id": signature.reference_signee_id,
        "reference_signature_id": signature.reference_signature_id,
        "asset_id": signature.asset_id if isinstance(signature, ImageSignature) else None,
        "n_points": len(signature.points) if isinstance(signature, XYZSignature) else None,
        "metadata": signature.metadata,
        "created": signature.created,
    }


def _insert_points(
    connection: Connection, rows: list[tuple[str, int, float, float, float]]
) -> None:
    """Points in bulk, below SQLAlchemy's per-row parameter handling (millions of rows on a big
    run): PostgreSQL's COPY through psycopg, or the driver's executemany elsewhere."""
    if not rows:
        return
    columns = "signature_id, seq, x, y, z"
    driver = connection.connection.driver_connection
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(f"COPY points ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marker = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    connection.exec_driver_sql(
        f"INSERT INTO points ({columns}) VALUES ({', '.join([marker] * 5)})", rows
    )


def _insert_ignoring_duplicates(
    connection: Connection, table: sa.Table, keys: list[str]
) -> sa.Insert:
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)
    return table.insert()


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
    _create_engine(_supported_url(url)).dispose()


def _supported_url(url: str) -> sa.URL:
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
    return parsed


def _missing(backend: str, driver: str) -> str:
    """`, and whose module M is not installed either` when the driver cannot be imported."""
    try:
        sa.create_engine(sa.URL.create(f"{backend}+{driver}")).dispose()
    except ImportError as error:
        return f" (its module {error.name} is not installed either)"
    except Exception:  # any other refusal: the sentence without the module
        return ""
    return ""


def _create_engine(parsed: sa.URL, **engine_options: Any) -> Engine:
    try:
        return sa.create_engine(parsed, **engine_options)
    except ImportError as error:
        module = error.name or str(error)
        raise StoreError(
            f"SIGNATURES_DB_URL ({parsed.render_as_string(hide_password=True)}) needs the Python "
            f"module {module}, which is not installed: install {_PACKAGES.get(module, module)} "
            f"in this environment, or use {_SUPPORTED}."
        ) from None


def _is_conflict(error: BaseException) -> bool:
    """A unique key refused a row, or the database aborted this transaction to break a deadlock
    or a serialisation failure: retrying with fresh data is the fix."""
    if isinstance(error, sa.exc.IntegrityError):
        return True
    if isinstance(error, sa.exc.DBAPIError):
        return getattr(error.orig, "sqlstate", None) in {"40001", "40P01"}
    return False


def _is_lost(error: BaseException) -> bool:
    """The connection broke or the server is gone (not a refused row: that is a conflict)."""
    if not isinstance(error, sa.exc.DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    return isinstance(error, sa.exc.OperationalError | sa.exc.InterfaceError)


def _first_line(error: BaseException) -> str:
    cause = error.orig if isinstance(error, sa.exc.DBAPIError) else error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def _lock_schema(connection: Connection) -> None:
    """Hold the schema exclusively until this transaction ends."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(SCHEMA_LOCK_KEY)))
    elif connection.dialect.name == "sqlite":
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
