"""The read half of the signature warehouse: `SignatureWarehouse`.

Opened from the same settings as the assets (WAREHOUSE_DIR, SIGNATURES_DB_URL), it answers a
researcher's questions without SQL: which signees there are (by source, subset, writer), a
signee's signatures, a signature's points as an array, an image's bytes (through the
content-addressed image store, local or S3), and the published dataset and trials, current
or at a given `dataset_version`.

Reads never write and never create a schema: SQLite is opened read-only (`mode=ro`), a
PostgreSQL session is read-only (`default_transaction_read_only`), and a database without the
warehouse's tables (or with an older or newer schema) is refused in one sentence instead of
being created or upgraded. Parquet files are only scanned.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import sqlalchemy as sa
from numpy.typing import NDArray
from upath import UPath

from assets_pkg.shared import storage
from assets_pkg.shared.layout import stored_file
from assets_pkg.shared.settings import Settings
from assets_pkg.signatures.asset_service import ContentAddressedAssetService
from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.dataset import (
    ASSET_STORE_FOLDER,
    DATASET,
    TRIALS,
    VERSIONS_FOLDER,
    file_order,
    points_query,
)
from assets_pkg.signatures.db_schema import (
    SCHEMA_VERSION,
    current,
    schema_version,
    signatures,
    signees,
)
from assets_pkg.signatures.engines import create_engine, supported_url
from assets_pkg.signatures.errors import SignatureServiceError, StoreError

Points = NDArray[np.float64]
"""A signature's points: shape (n, 3), columns x, y, z, rows in file order."""


class NotFoundError(SignatureServiceError, LookupError):
    """A signee, signature, version or table that the warehouse does not hold."""


@dataclass(frozen=True)
class SigneeRecord:
    id: str
    source: str
    directory: str
    writer_id: str

    @property
    def key(self) -> str:
        return "/".join(part for part in (self.source, self.directory, self.writer_id) if part)


@dataclass(frozen=True)
class SignatureRecord:
    id: str
    signee_id: str
    source: str
    subset: str
    source_path: str
    kind: str
    label: str
    """`genuine` or `skilled_forgery`."""
    reference_signee_id: str | None
    reference_signature_id: str | None
    asset_id: str | None
    n_points: int | None
    content_sha256: str


def open_read_only(url: str) -> SignatureDatabase:
    """The signature database at `url`, for reading only; StoreError (one sentence naming
    SIGNATURES_DB_URL) when it does not exist, holds no warehouse, or has another schema
    version. Creates nothing: not a file, not a folder, not a table."""
    parsed = supported_url(url)
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        if not path.is_file():
            raise StoreError(
                f"There is no signature database at SIGNATURES_DB_URL ({shown}): materialise "
                "registered_signatures first, or point SIGNATURES_DB_URL at the warehouse's."
            )
        # SQLite's URI form: `mode=ro` opens the file read-only, never creating it.
        location = urllib.parse.quote(str(path.absolute()))
        engine = create_engine(sa.make_url(f"sqlite:///file:{location}?mode=ro&uri=true"))
    else:
        engine = create_engine(parsed)
        sa.event.listen(engine, "connect", _read_only_session)
    database = SignatureDatabase(engine)
    try:
        _check_schema(database, shown)
    except BaseException:
        database.dispose()
        raise
    return database


def _read_only_session(dbapi_connection: Any, _record: Any) -> None:
    """Every transaction of this PostgreSQL connection is read-only (psycopg 3 or 2)."""
    if hasattr(dbapi_connection, "set_session"):  # psycopg2
        dbapi_connection.set_session(readonly=True)
    else:
        dbapi_connection.read_only = True


def _check_schema(database: SignatureDatabase, shown: str) -> None:
    try:
        with database.reading() as connection:
            if not sa.inspect(connection).has_table(schema_version.name):
                raise StoreError(
                    f"The database at SIGNATURES_DB_URL ({shown}) holds no signature "
                    "warehouse: materialise registered_signatures first, or point "
                    "SIGNATURES_DB_URL at the warehouse's database."
                )
            found = connection.execute(sa.select(schema_version.c.version)).scalar()
    except sa.exc.DBAPIError as error:
        raise StoreError(
            f"Cannot read the signature database at SIGNATURES_DB_URL ({shown}): "
            f"{storage.first_line(error.orig or error)}"
        ) from None
    if found != SCHEMA_VERSION:
        what = "newer" if found is not None and found > SCHEMA_VERSION else "older"
        fix = (
            "upgrade the code"
            if what == "newer"
            else "materialise registered_signatures once to upgrade it"
        )
        raise StoreError(
            f"The signature database at SIGNATURES_DB_URL ({shown}) has schema version "
            f"{found}, {what} than this code's {SCHEMA_VERSION}: {fix}."
        )


class SignatureWarehouse:
    """Read the signature warehouse: the database for signees, signatures, points and images,
    the Parquet files for the published dataset and trials. Close it (or use `with`)."""

    def __init__(self, database: SignatureDatabase, warehouse_dir: str) -> None:
        self._db = database
        self._root = warehouse_dir.rstrip("/")
        self._images = ContentAddressedAssetService(f"{self._root}/{ASSET_STORE_FOLDER}")

    @classmethod
    def open(cls, settings: Settings | None = None) -> SignatureWarehouse:
        """From `settings`, or from the environment as the assets read it."""
        settings = settings or Settings.from_env()
        return cls.at(settings.warehouse_dir, settings.signatures_db_url)

    @classmethod
    def at(cls, warehouse_dir: str, database_url: str) -> SignatureWarehouse:
        return cls(open_read_only(database_url), warehouse_dir)

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> SignatureWarehouse:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # The database: signees, signatures, points, images --------------------------------------

    def signees(
        self, *, source: str | None = None, subset: str | None = None, writer_id: str | None = None
    ) -> list[SigneeRecord]:
        """Signees with at least one current signature, optionally only those of a source,
        those with a signature in a subset (`Online/Genuine`, SOURCE_B's `Forgeries`), or a
        writer id; ordered by key."""
        query = sa.select(signees.c.id, signees.c.source, signees.c.directory, signees.c.writer_id)
        has = sa.exists().where(signatures.c.signee_id == signees.c.id, current())
        if subset is not None:
            has = has.where(signatures.c.subset == subset)
        query = query.where(has)
        if source is not None:
            query = query.where(signees.c.source == source)
        if writer_id is not None:
            query = query.where(signees.c.writer_id == writer_id)
        query = query.order_by(signees.c.source, signees.c.directory, signees.c.writer_id)
        with self._db.reading() as connection:
            return [SigneeRecord(*row) for row in connection.execute(query)]

    def signatures(self, signee_id: str) -> list[SignatureRecord]:
        """A signee's current signatures, in `file_order` as in the dataset (empty for an
        unknown signee)."""
        query = sa.select(*_SIGNATURE_COLUMNS).where(signatures.c.signee_id == signee_id, current())
        with self._db.reading() as connection:
            found = [_record(row) for row in connection.execute(query)]
        return sorted(found, key=lambda record: file_order(record.source, record.source_path))

    def signature(self, signature_id: str) -> SignatureRecord:
        """One signature by id (current or superseded); NotFoundError if there is none."""
        query = sa.select(*_SIGNATURE_COLUMNS).where(signatures.c.id == signature_id)
        with self._db.reading() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise NotFoundError(f"There is no signature {signature_id!r} in the warehouse.")
        return _record(row)

    def points(self, signature_id: str) -> Points:
        """An online signature's points as a float64 array of shape (n, 3), in file order."""
        query = points_query(signatures.c.id == signature_id)
        with self._db.reading() as connection:
            rows = connection.execute(query).all()
        if not rows:
            found = self.signature(signature_id)  # NotFoundError for an unknown id
            raise NotFoundError(
                f"Signature {signature_id} is an {found.kind} ({found.source_path}), which has "
                "no points: read it with image_bytes."
            )
        return np.array([row[2:] for row in rows], dtype=np.float64).reshape(-1, 3)

    def image_bytes(self, signature_id: str) -> bytes:
        """An image signature's bytes, from the image store (local or object store)."""
        found = self.signature(signature_id)
        if found.asset_id is None:
            raise NotFoundError(
                f"Signature {signature_id} is an {found.kind} signature "
                f"({found.source_path}), which has no image: read it with points."
            )
        path = self._images.path_of(found.asset_id)
        try:
            data: bytes = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(
                f"The image of signature {signature_id} ({found.source_path}) is missing from "
                f"{self._images.root}: materialise registered_signatures to store it again."
            ) from None
        return data

    # The published tables: current or at a version ------------------------------------------

    def dataset(self, version: str | None = None) -> pl.LazyFrame:
        """`signature_dataset`: the last materialisation, or the snapshot of `version`."""
        return self._table(DATASET, version)

    def trials(
        self, version: str | None = None, *, split: str | None = None, protocol: str | None = None
    ) -> pl.LazyFrame:
        """`signature_trials` of the last materialisation or of `version`, optionally of one
        split and one protocol."""
        frame = self._table(TRIALS, version)
        if split is not None:
            frame = frame.filter(pl.col("split") == split)
        if protocol is not None:
            frame = frame.filter(pl.col("protocol") == protocol)
        return frame

    def current_version(self) -> str | None:
        """The dataset_version of the last materialisation of signature_dataset (None when it
        has no rows); `versions()` is sorted by name, so its last one is not the latest."""
        found = self.dataset().select(pl.first("dataset_version")).collect()
        value = found.item() if found.height else None
        return None if value is None else str(value)

    def versions(self) -> list[str]:
        """Every dataset_version with a snapshot, sorted."""
        folder = self._path(VERSIONS_FOLDER)
        if not folder.exists():
            return []
        return sorted(entry.name for entry in folder.iterdir() if entry.is_dir())

    def iter_dataset(
        self, version: str | None = None, *, split: str | None = None, batch_size: int = 1000
    ) -> Iterator[dict[str, Any]]:
        """The dataset's rows one by one (dicts, `points` as a (n, 3) array or None): the
        table (of one split) is read whole, then turned into dicts a batch at a time."""
        frame = self.dataset(version)
        if split is not None:
            frame = frame.filter(pl.col("split") == split)
        for batch in frame.collect().iter_slices(batch_size):
            for row in batch.iter_rows(named=True):
                row["points"] = points_array(row["points"])
                yield row

    def arrays(self, version: str | None = None, *, split: str | None = None) -> dict[str, Points]:
        """signature_id -> points array for the online signatures of the dataset (of one
        split): what a trial's ids index."""
        frame = self.dataset(version).filter(pl.col("points").is_not_null())
        if split is not None:
            frame = frame.filter(pl.col("split") == split)
        found = frame.select("signature_id", "points").collect()
        return {
            signature_id: _points_of(points)
            for signature_id, points in zip(
                found["signature_id"].to_list(), found["points"], strict=True
            )
        }

    def _table(self, asset: str, version: str | None) -> pl.LazyFrame:
        if version is None:
            path = stored_file(self._path(asset), None)
            fix = f"materialise {asset} first"
        else:
            path = self._path(VERSIONS_FOLDER) / version / f"{asset}.parquet"
            fix = f"known versions: {', '.join(self.versions()) or 'none'}"
        if not path.exists():
            raise NotFoundError(f"{asset} has no data at {path}: {fix}.")
        return storage.scan_parquet(path)

    def _path(self, name: str) -> UPath:
        return storage.upath(self._root) / name


def points_array(points: list[dict[str, float]] | None) -> Points | None:
    """`points` as a row of the dataset holds them (a list of {x, y, z}), as a (n, 3) array."""
    if points is None:
        return None
    return np.array([(p["x"], p["y"], p["z"]) for p in points], dtype=np.float64).reshape(-1, 3)


def _points_of(points: pl.Series) -> Points:
    """A list-of-struct cell (a Series of structs) as a (n, 3) float64 array."""
    return points.struct.unnest().to_numpy().astype(np.float64, copy=False).reshape(-1, 3)


_SIGNATURE_COLUMNS = (
    signatures.c.id,
    signatures.c.signee_id,
    signatures.c.source,
    signatures.c.subset,
    signatures.c.source_path,
    signatures.c.kind,
    signatures.c.is_forgery,
    signatures.c.reference_signee_id,
    signatures.c.reference_signature_id,
    signatures.c.asset_id,
    signatures.c.n_points,
    signatures.c.content_sha256,
)


def _record(row: Any) -> SignatureRecord:
    return SignatureRecord(
        id=row.id,
        signee_id=row.signee_id,
        source=row.source,
        subset=row.subset,
        source_path=row.source_path,
        kind=row.kind,
        label="skilled_forgery" if row.is_forgery else "genuine",
        reference_signee_id=row.reference_signee_id,
        reference_signature_id=row.reference_signature_id,
        asset_id=row.asset_id,
        n_points=row.n_points,
        content_sha256=row.content_sha256,
    )
