"""`SignatureDatabase`: the engine, the unit of work, and what is already registered.

`transaction()` writes a signee and its signatures together or not at all (decision 7). What is
already registered (signees, the current signature of every file, asset ids) is loaded once per
database object, so idempotence checks cost no query per file; the caches change only after a
commit succeeds, and `refresh` re-reads the rows another process wrote first. Database errors
become one sentence: a refused row is a `WriteConflictError` (re-read and retry), a lost
connection a `StoreError` naming SIGNATURES_DB_URL.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from assets_pkg.signatures.asset_service import StoredAsset
from assets_pkg.signatures.db_schema import (
    assets,
    current,
    ensure_schema,
    points,
    signatures,
    signees,
    supersessions,
)
from assets_pkg.signatures.engines import open_engine, shown_url, timeout_error
from assets_pkg.signatures.errors import StoreError
from assets_pkg.signatures.model import Reference, Signee, SigneeKey
from assets_pkg.signatures.ports import CurrentSignature, RegistrationIdentity


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
        self._signee_keys: dict[str, SigneeKey] = {}
        """Signee id -> key of every signee seen (ids and keys never change once stored)."""
        self._current: dict[tuple[str, str], CurrentSignature] | None = None
        self._assets: set[str] | None = None

    @classmethod
    def from_url(cls, url: str, **engine_options: Any) -> SignatureDatabase:
        """A database for a SQLAlchemy URL (see `engines.open_engine`); StoreError, one sentence
        naming SIGNATURES_DB_URL, for a URL it cannot use."""
        return cls(open_engine(url, **engine_options))

    def describe(self) -> str:
        return shown_url(self.engine.url)

    def ensure_schema(self) -> None:
        """Create missing tables, then upgrade an older schema (`schema.ensure_schema`)."""
        try:
            with self.engine.begin() as connection:
                ensure_schema(connection, self.describe())
        except sa.exc.DBAPIError as error:
            if (timed_out := self._timed_out(error)) is not None:
                raise timed_out from None
            if isinstance(error, sa.exc.OperationalError):
                raise StoreError(
                    f"Cannot reach the signature database at SIGNATURES_DB_URL "
                    f"({self.describe()}): {_first_line(error)}"
                ) from None
            # Not a database, or tables of another design.
            raise StoreError(
                f"The signature database at SIGNATURES_DB_URL ({self.describe()}) cannot hold "
                f"this project's tables ({_first_line(error)}): point SIGNATURES_DB_URL at an "
                "empty database or at one this project created."
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
            if (timed_out := self._timed_out(error)) is not None:
                raise timed_out from None
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
    def reading(self) -> Iterator[Connection]:
        """A connection for reads; a lost database becomes one StoreError sentence."""
        try:
            with self.engine.connect() as connection:
                yield connection
        except sa.exc.DBAPIError as error:
            if (timed_out := self._timed_out(error)) is not None:
                raise timed_out from None
            if _is_lost(error):
                raise self._lost(error) from None
            raise

    def _timed_out(self, error: BaseException) -> StoreError | None:
        """One sentence for a connect, statement, lock or idle timeout (`engines.timeout_error`)."""
        return timeout_error(error, self.engine.url)

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
            with self.reading() as connection:
                rows = connection.execute(sa.select(signees)).all()
            self._signees = {}
            for r in rows:
                key = SigneeKey(source=r.source, directory=r.directory, writer_id=r.writer_id)
                self._signees[key] = Signee(id=r.id, created=r.created, key=key)
                self._signee_keys[r.id] = key
        return self._signees

    def remember_signee(self, signee: Signee) -> None:
        """Add a committed signee to the cache (its signatures are not kept)."""
        self.known_signees()[signee.key] = signee.model_copy(update={"signatures": []})
        self._signee_keys[signee.id] = signee.key

    def signee_key(self, signee_id: str) -> SigneeKey:
        """The key of a stored signee, from the cache (read from the database if unseen)."""
        self.known_signees()
        key = self._signee_keys.get(signee_id)
        if key is None:
            with self.reading() as connection:
                row = connection.execute(sa.select(signees).where(signees.c.id == signee_id)).one()
            key = SigneeKey(source=row.source, directory=row.directory, writer_id=row.writer_id)
            self._signee_keys[signee_id] = key
        return key

    def current_signatures(self) -> dict[tuple[str, str], CurrentSignature]:
        """(source, source_path) -> its current signature, with the `RegistrationIdentity` it was
        registered with (bytes, signee key, reference): one query for every file."""
        if self._current is None:
            with self.reading() as connection:
                rows = connection.execute(_current_query()).all()
            keys: dict[tuple[str, str, str], SigneeKey] = {}
            self._current = {(r.source, r.source_path): _current_signature(r, keys) for r in rows}
        return self._current

    def refresh(self, keys: Iterable[SigneeKey], paths: Iterable[tuple[str, str]]) -> None:
        """Re-read these signees and the current signatures of these (source, source_path)s
        (after another process wrote them); the rest of the caches stays as it is."""
        known = self.known_signees()
        by_path = self.current_signatures()
        keys, paths = set(keys), set(paths)
        with self.reading() as connection:
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
                    self._signee_keys[row.id] = key
            for source, source_path in paths:
                found = connection.execute(
                    _current_query().where(
                        signatures.c.source == source, signatures.c.source_path == source_path
                    )
                ).first()
                if found is None:
                    by_path.pop((source, source_path), None)
                else:
                    by_path[(source, source_path)] = _current_signature(found, {})

    def known_assets(self) -> set[str]:
        if self._assets is None:
            with self.reading() as connection:
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
        """Link forgeries registered before their reference existed; returns how many. A link
        with its signee but without the signature it names (the signee was known, its
        signature at that path not yet registered) gets the signature once it is registered."""
        reference = signees.alias("reference")
        signee_id = (
            sa.select(reference.c.id)
            .where(
                reference.c.source == signatures.c.reference_source,
                reference.c.directory == signatures.c.reference_directory,
                reference.c.writer_id == signatures.c.reference_writer_id,
            )
            # The row being updated, also inside `signature_id`'s subquery, two levels down
            # (left to itself SQLAlchemy would join every signature there).
            .correlate(signatures)
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
                    current(),  # a superseded version keeps the state it had
                    signatures.c.is_forgery,
                    signee_id.is_not(None),
                    sa.or_(
                        signatures.c.reference_signee_id.is_(None),
                        sa.and_(
                            signatures.c.reference_signature_path.is_not(None),
                            signatures.c.reference_signature_id.is_(None),
                            signature_id.is_not(None),
                        ),
                    ),
                )
                .values(reference_signee_id=signee_id, reference_signature_id=signature_id)
            ).rowcount
        return linked

    # Reads for the Dagster assets ------------------------------------------------------------

    def unlinked_forgeries(self) -> set[tuple[str, str]]:
        """(source, source_path) of current forgeries whose reference is still missing."""
        query = sa.select(signatures.c.source, signatures.c.source_path).where(
            current(),
            signatures.c.is_forgery,
            sa.or_(
                signatures.c.reference_signee_id.is_(None),
                sa.and_(
                    signatures.c.reference_signature_path.is_not(None),
                    signatures.c.reference_signature_id.is_(None),
                ),
            ),
        )
        with self.reading() as connection:
            return {(r.source, r.source_path) for r in connection.execute(query)}

    def count_rows(self) -> dict[str, int]:
        tables = (signees, signatures, points, assets, supersessions)
        with self.reading() as connection:
            return {
                table.name: connection.execute(
                    sa.select(sa.func.count()).select_from(table)
                ).scalar_one()
                for table in tables
            }


def _current_query() -> sa.Select[Any]:
    """Current signatures with what their identity needs: the signee's key (from `signees`)
    and the reference as the source named it."""
    return (
        sa.select(
            signatures.c.id,
            signatures.c.signee_id,
            signatures.c.source,
            signatures.c.source_path,
            signatures.c.content_sha256,
            signatures.c.reference_source,
            signatures.c.reference_directory,
            signatures.c.reference_writer_id,
            signatures.c.reference_signature_path,
            signees.c.source.label("signee_source"),
            signees.c.directory.label("signee_directory"),
            signees.c.writer_id.label("signee_writer_id"),
        )
        .join(signees, signees.c.id == signatures.c.signee_id)
        .where(current())
    )


def _current_signature(row: Any, keys: dict[tuple[str, str, str], SigneeKey]) -> CurrentSignature:
    """A row of `_current_query` as a CurrentSignature; `keys` shares equal signee keys between
    rows (many files per writer), so each is built once per load."""

    def key(source: str, directory: str, writer_id: str) -> SigneeKey:
        found = keys.get((source, directory, writer_id))
        if found is None:
            found = SigneeKey(source=source, directory=directory, writer_id=writer_id)
            keys[(source, directory, writer_id)] = found
        return found

    reference = None
    if row.reference_source is not None:
        reference = Reference(
            signee=key(row.reference_source, row.reference_directory, row.reference_writer_id),
            signature_path=row.reference_signature_path,
        )
    signee = key(row.signee_source, row.signee_directory, row.signee_writer_id)
    return CurrentSignature(
        row.id, row.signee_id, RegistrationIdentity(row.content_sha256, signee, reference)
    )


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


def _insert_ignoring_duplicates(
    connection: Connection, table: sa.Table, keys: list[str]
) -> sa.Insert:
    if connection.dialect.name == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing(index_elements=keys)
    if connection.dialect.name == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing(index_elements=keys)
    return table.insert()
