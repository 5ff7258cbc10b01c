"""The service's repositories on a `SignatureDatabase`: signees, and signatures with their
points and supersede history, each written inside the database's current transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.engine import Connection

from assets_pkg.signatures.database import SignatureDatabase, WriteConflictError
from assets_pkg.signatures.db_schema import signatures, signees, supersessions
from assets_pkg.signatures.model import ImageSignature, Signature, Signee, SigneeKey, XYZSignature
from assets_pkg.signatures.ports import CurrentSignature, RegistrationIdentity


class SqlSigneeRepository:
    """SigneeRepository on a SignatureDatabase."""

    def __init__(self, database: SignatureDatabase) -> None:
        self._db = database

    def find_signee(self, key: SigneeKey) -> Signee | None:
        found = self._db.known_signees().get(key)
        return None if found is None else found.model_copy(update={"signatures": []})

    def store(self, signee: Signee) -> None:
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
            self._db.on_commit(lambda: self._db.remember_signee(stored))


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
                    signee = self._db.signee_key(s.signee_id)
                    identity = RegistrationIdentity(s.origin.content_sha256, signee, s.forgery_of)
                    current[key] = CurrentSignature(s.id, s.signee_id, identity)

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
