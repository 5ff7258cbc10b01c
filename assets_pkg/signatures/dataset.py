"""`signature_dataset` as a polars frame: every current signature, labelled, linked, split.

Read from the database (never written): the signatures with their signee's key and their
reference as the source names it, and the points of the online ones as a list of
`{x, y, z}` float64 structs in file order. Each row gets its split (`splits`), and the frame
its `dataset_version`. Rows come in `file_order` (source, then path with its numbers read as
numbers), sorted here rather than by the database, whose collation varies. Pure core: no
Dagster here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import polars as pl
import sqlalchemy as sa

from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.db_schema import current, points, signatures, signees
from assets_pkg.signatures.splits import SplitSpec, dataset_version, split_groups

POINT = pl.Struct({"x": pl.Float64(), "y": pl.Float64(), "z": pl.Float64()})

DATASET_SCHEMA: dict[str, pl.DataType] = {
    "signature_id": pl.String(),
    "signee_id": pl.String(),
    "signee_key": pl.String(),
    "source": pl.String(),
    "subset": pl.String(),
    "source_path": pl.String(),
    "kind": pl.String(),
    "medium": pl.String(),
    "writer_id": pl.String(),
    "label": pl.String(),
    "reference_signee_id": pl.String(),
    "reference_signature_id": pl.String(),
    "reference_key": pl.String(),
    "split_group": pl.String(),
    "split": pl.String(),
    "points": pl.List(POINT),
    "n_points": pl.Int64(),
    "asset_id": pl.String(),
    "image_location": pl.String(),
    "content_sha256": pl.String(),
    "dataset_version": pl.String(),
}
"""The columns of `signature_dataset`, in order (docs/signatures.md lists them)."""

DESCRIPTIONS = {
    "signature_id": "The signature's ULID in the warehouse.",
    "signee_id": "The ULID of the signee who wrote it (a forger for a forgery).",
    "signee_key": "The signee as the source names it: source/directory/writer id.",
    "source": "SOURCE_A or SOURCE_B.",
    "subset": "Where it came from in its source: e.g. Online/Genuine, or Genuine / Forgeries.",
    "source_path": "The file, relative to its source folder.",
    "kind": "image or xyz (points).",
    "medium": "online (xyz points) or offline (an image): random forgeries stay in a medium.",
    "writer_id": "The writer's id as the source names it (its UUID in SOURCE_B).",
    "label": "genuine or skilled_forgery.",
    "reference_signee_id": "For a forgery, the signee it imitates; null for a genuine "
    "signature and for a forgery whose reference is not registered.",
    "reference_signature_id": "For a SOURCE_B forgery, the signature it imitates; else null.",
    "reference_key": "For a forgery, the imitated signee as the source names it (set even "
    "when that signee is not registered).",
    "split_group": "The genuine signer this signature belongs to or imitates (a signee key): "
    "the unit of the split.",
    "split": "dev or eval, by split_group: seeded, stable as data arrives.",
    "points": "For xyz, the points {x, y, z} (float64) in file order; null for an image.",
    "n_points": "For xyz, the number of points; null for an image.",
    "asset_id": "For an image, the SHA-256 of its bytes in the asset store; else null.",
    "image_location": "For an image, where its bytes lie, relative to WAREHOUSE_DIR.",
    "content_sha256": "The SHA-256 of the file's bytes when registered.",
    "dataset_version": "The version of the dataset this row belongs to (the same on every "
    "row): cite it, or open it with SignatureWarehouse.dataset(version).",
}
"""What each column of `signature_dataset` means, shown in the web UI."""

VERSIONED = ("source", "source_path", "content_sha256", "label", "reference_key", "split")
"""The columns whose values make `dataset_version` (with the split's parameters)."""

POINTS_BATCH = 100_000
"""Points are fetched this many rows at a time, each batch turned into a polars frame at once:
the Python rows of 10,000 signatures' 2.5 million points at once took 600 MB."""

ASSET_STORE_FOLDER = "signature_assets"

DATASET = "signature_dataset"
TRIALS = "signature_trials"
"""The read side's two assets, by name."""
VERSIONS_FOLDER = "signature_versions"
"""`<WAREHOUSE_DIR>/signature_versions/<dataset_version>/{signature_dataset,signature_trials}
.parquet`: one snapshot per version, outside the assets' folders so that reading an asset as
one table (`<asset>/**/*.parquet`) never picks up an old version."""
"""Where image bytes lie under WAREHOUSE_DIR (the definitions' asset store root)."""


@dataclass(frozen=True)
class Dataset:
    frame: pl.DataFrame
    version: str


def key_label(source: str, directory: str, writer_id: str) -> str:
    """`SOURCE_A/Online/Genuine/001`: a signee key as one string (`SigneeKey.label`)."""
    return "/".join(part for part in (source, directory, writer_id) if part)


_DIGITS = re.compile(r"([0-9]+)")


def file_order(source: str, source_path: str) -> tuple[str, tuple[Any, ...], str]:
    """The order of signatures: by source, then by path with each run of digits compared as a
    number (`001_2` before `001_10`, so a writer's first samples come first whether or not
    the source pads them), then by the path itself. The same in every database (SQL's ORDER
    BY follows the database's collation: PostgreSQL's en_US differs from SQLite's bytes)."""
    parts = _DIGITS.split(source_path)
    # Digit runs at odd positions, compared by value without int() (no length limit).
    key = tuple(
        (len(part.lstrip("0")), part.lstrip("0")) if odd else part
        for odd, part in ((i % 2 == 1, p) for i, p in enumerate(parts))
    )
    return source, key, source_path


def version_of(rows: Iterable[dict[str, Any]], spec: SplitSpec) -> str:
    """`dataset_version` of rows of the dataset (dicts holding at least VERSIONED)."""
    return dataset_version((tuple(row[column] or "" for column in VERSIONED) for row in rows), spec)


def build_dataset(database: SignatureDatabase, spec: SplitSpec) -> Dataset:
    """Every current signature of `database`, in `file_order`, with its split."""
    rows = _signature_rows(database)
    rows.sort(key=lambda row: file_order(row["source"], row["source_path"]))
    own: dict[str, str] = {}
    parent: dict[str, str | None] = {}
    forged: dict[str, bool] = {}
    for row in rows:
        key = _path_key(row["source"], row["source_path"])
        forged[key] = row["label"] == "skilled_forgery"
        own[key] = row["reference_key"] if forged[key] else row["signee_key"]
        named = row.pop("reference_signature_path")
        parent[key] = None if named is None else _path_key(row["reference_source"], named)
        row.pop("reference_source")
    groups = split_groups(own, parent, forged)
    for row in rows:
        row["split_group"] = groups[_path_key(row["source"], row["source_path"])]
        row["split"] = spec.split_of(row["split_group"])
    plain = {k: v for k, v in DATASET_SCHEMA.items() if k not in ("points", "dataset_version")}
    frame = pl.DataFrame(rows, schema=plain, orient="row")
    frame = frame.join(
        _points_frame(database), on="signature_id", how="left", maintain_order="left"
    )
    version = version_of(rows, spec)
    frame = frame.with_columns(dataset_version=pl.lit(version))
    return Dataset(frame.select(list(DATASET_SCHEMA)).cast(pl.Schema(DATASET_SCHEMA)), version)


def _path_key(source: str, source_path: str) -> str:
    return f"{source}\x1f{source_path}"


def _signature_rows(database: SignatureDatabase) -> list[dict[str, Any]]:
    query = (
        sa.select(
            signatures.c.id,
            signatures.c.signee_id,
            signees.c.source.label("signee_source"),
            signees.c.directory,
            signees.c.writer_id,
            signatures.c.source,
            signatures.c.subset,
            signatures.c.source_path,
            signatures.c.kind,
            signatures.c.is_forgery,
            signatures.c.reference_source,
            signatures.c.reference_directory,
            signatures.c.reference_writer_id,
            signatures.c.reference_signature_path,
            signatures.c.reference_signee_id,
            signatures.c.reference_signature_id,
            signatures.c.n_points,
            signatures.c.asset_id,
            signatures.c.content_sha256,
        )
        .join(signees, signees.c.id == signatures.c.signee_id)
        .where(current())
    )
    with database.reading() as connection:
        found = connection.execute(query).all()
    rows: list[dict[str, Any]] = []
    for r in found:
        reference = (
            key_label(r.reference_source, r.reference_directory or "", r.reference_writer_id)
            if r.is_forgery and r.reference_source is not None
            else None
        )
        rows.append(
            {
                "signature_id": r.id,
                "signee_id": r.signee_id,
                "signee_key": key_label(r.signee_source, r.directory, r.writer_id),
                "source": r.source,
                "subset": r.subset,
                "source_path": r.source_path,
                "kind": r.kind,
                "medium": "online" if r.kind == "xyz" else "offline",
                "writer_id": r.writer_id,
                "label": "skilled_forgery" if r.is_forgery else "genuine",
                "reference_signee_id": r.reference_signee_id if r.is_forgery else None,
                "reference_signature_id": r.reference_signature_id if r.is_forgery else None,
                "reference_key": reference,
                "split_group": None,
                "split": None,
                "n_points": r.n_points,
                "asset_id": r.asset_id,
                "image_location": None
                if r.asset_id is None
                else f"{ASSET_STORE_FOLDER}/sha256/{r.asset_id[:2]}/{r.asset_id}",
                "content_sha256": r.content_sha256,
                "reference_source": r.reference_source,
                "reference_signature_path": r.reference_signature_path if r.is_forgery else None,
            }
        )
    return rows


def points_query(
    which: sa.ColumnElement[bool] | None = None,
) -> sa.Select[tuple[str, int, float, float, float]]:
    """The points of current signatures (or of the signatures `which` selects), in order."""
    return (
        sa.select(points.c.signature_id, points.c.seq, points.c.x, points.c.y, points.c.z)
        .join(signatures, signatures.c.id == points.c.signature_id)
        .where(current() if which is None else which)
        .order_by(points.c.signature_id, points.c.seq)
    )


def _points_frame(database: SignatureDatabase) -> pl.DataFrame:
    """signature_id -> points (list of {x, y, z}), in `seq` order; fetched POINTS_BATCH rows at
    a time, so that only one batch is ever held as Python objects."""
    schema = {
        "signature_id": pl.String(),
        "seq": pl.Int64(),
        "x": pl.Float64(),
        "y": pl.Float64(),
        "z": pl.Float64(),
    }
    with database.reading() as connection:
        result = connection.execution_options(yield_per=POINTS_BATCH).execute(points_query())
        batches = [
            pl.DataFrame(batch, schema=schema, orient="row") for batch in result.partitions()
        ]
    flat = pl.concat(batches) if batches else pl.DataFrame(schema=schema)
    return flat.group_by("signature_id", maintain_order=True).agg(
        pl.struct("x", "y", "z").alias("points")
    )
