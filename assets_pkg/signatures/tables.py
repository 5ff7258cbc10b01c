"""The two published tables as polars frames: `registered_signatures` (read back from the
database: every current signature) and `signature_rejects` (what the readers refused)."""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa

from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.records import Reject
from assets_pkg.signatures.schema import current, signatures, signees

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
"""The columns of `registered_signatures`, in order (docs/signatures.md lists them)."""

REJECTS_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "source_path": pl.String(),
    "line_number": pl.Int64(),
    "reason": pl.String(),
    "severity": pl.String(),
}
"""The columns of `signature_rejects`, in order."""


def registered_frame(database: SignatureDatabase) -> pl.DataFrame:
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
        .where(current())
        .order_by(signatures.c.source, signatures.c.source_path)
    )
    with database.reading() as connection:
        rows = [tuple(row) for row in connection.execute(query)]
    return pl.DataFrame(rows, schema=REGISTERED_SCHEMA, orient="row")


def rejects_frame(rejects: list[Reject]) -> pl.DataFrame:
    rows = [(r.source, r.source_path, r.line_number, r.reason, r.severity) for r in rejects]
    return pl.DataFrame(rows, schema=REJECTS_SCHEMA, orient="row")
