"""The two published tables as polars frames: `registered_signatures` (read back from the
database: every current signature) and `signature_rejects` (what the readers refused)."""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa

from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.db_schema import current, signatures, signees
from assets_pkg.signatures.records import Reject

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

DESCRIPTIONS = {
    "signature_id": "The signature's ULID in the warehouse.",
    "signee_id": "The ULID of the signee who wrote it (a forger for a forgery).",
    "source": "SOURCE_A or SOURCE_B.",
    "subset": "Where it came from in its source: e.g. Online/Genuine, or Genuine / Forgeries.",
    "source_path": "The file, relative to its source folder (INDEX for an INDEX line).",
    "kind": "image or xyz (points).",
    "is_forgery": "True when the signature imitates another signee's.",
    "writer_id": "The writer's id as the source names it (its UUID in SOURCE_B).",
    "reference_signee_id": "For a forgery, the signee it imitates; null if not found.",
    "reference_signature_id": "For a SOURCE_B forgery, the signature it imitates; null if not "
    "found.",
    "asset_id": "For an image, the SHA-256 of its bytes in the asset store.",
    "n_points": "For xyz, the number of points.",
    "content_sha256": "The SHA-256 of the file's bytes when registered.",
    "created": "When the signature was registered (UTC).",
    "line_number": "The line of the file at fault, from 1; null when no single line is.",
    "reason": "Why it was refused or what the warning says.",
    "severity": "rejected (not registered) or warning (registered, or noted).",
}
"""What each column of the two signature tables means, shown in the web UI."""


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
