"""A content-addressed asset service: image bytes stored once under the warehouse.

An asset's id is the SHA-256 of its bytes, so the same bytes always give the same id, on any
machine and in any run. The bytes live at `<root>/sha256/<2 hex>/<64 hex>`; a local file is
written to a temporary name and renamed, and on an object store (`s3://...`, with the storage
options of `assets_pkg.shared.storage`) the bytes go up in one request, which the store
commits whole or not at all: nobody ever sees half an asset. The optional catalog
(the relational store) records each asset's size and where it lies.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlparse

from upath import UPath

from assets_pkg.shared import storage
from assets_pkg.shared.atomic import write_bytes_atomically
from assets_pkg.signatures.errors import AssetRegistrationError


@dataclass(frozen=True)
class StoredAsset:
    id: str
    size_bytes: int
    location: str
    """Relative to the asset store's root."""
    metadata: Mapping[str, str] = field(default_factory=dict)


class AssetCatalog(Protocol):
    def record_asset(self, asset: StoredAsset) -> None: ...


class ContentAddressedAssetService:
    """Implements `AssetService.register_asset(local_uri, metadata) -> asset_id`."""

    def __init__(self, root: str | Path, catalog: AssetCatalog | None = None) -> None:
        self._root = storage.upath(str(root))
        self._local = storage.is_local(self._root)
        self._catalog = catalog

    @property
    def root(self) -> UPath:
        return self._root

    def location(self, asset_id: str) -> str:
        return f"sha256/{asset_id[:2]}/{asset_id}"

    def path_of(self, asset_id: str) -> UPath:
        return self._root / self.location(asset_id)

    def has_asset(self, asset_id: str) -> bool:
        """Whether the store holds the bytes of `asset_id` (one stat; one request on an object
        store)."""
        try:
            if self._local:
                return storage.local_path(self.path_of(asset_id)).is_file()
            return bool(self.path_of(asset_id).exists())
        except OSError:
            return False

    def register_asset(
        self, local_uri: str, metadata: Mapping[str, str], data: bytes | None = None
    ) -> str:
        """Store the image's bytes once and return their SHA-256. `data`, when given, are the
        bytes to store (already read and checked by a source reader): `local_uri` is then not
        opened again, so what is stored is exactly what was checked and hashed."""
        if data is None:
            data = self._read(local_uri)
        asset_id = hashlib.sha256(data).hexdigest()
        target = self.path_of(asset_id)
        try:
            if not target.exists():
                self._write(target, data)
        except OSError as error:
            if not self._local and storage.unavailable(error):
                raise self._unavailable(error) from None
            raise AssetRegistrationError(
                f"cannot store asset {asset_id} under {self._root}: {error.strerror or error}",
                local_uri,
            ) from error
        except Exception as error:  # an object store's client error (no credentials, say)
            if self._local:
                raise
            if storage.unavailable(error):
                raise self._unavailable(error) from None
            raise AssetRegistrationError(
                storage.describe_error(error, str(self._root), "WAREHOUSE_DIR"), local_uri
            ) from error
        if self._catalog is not None:
            self._catalog.record_asset(
                StoredAsset(asset_id, len(data), self.location(asset_id), dict(metadata))
            )
        return asset_id

    def _unavailable(self, error: BaseException) -> storage.StorageError:
        """The store failed as a whole (timeouts, throttling, no connection): the run stops
        with one sentence, rather than rejecting every image after a bounded wait for each."""
        return storage.StorageError(storage.describe_error(error, str(self._root), "WAREHOUSE_DIR"))

    def _read(self, local_uri: str) -> bytes:
        try:
            return _local_path(local_uri).read_bytes()
        except OSError as error:
            raise AssetRegistrationError(
                f"cannot read image {local_uri}: {error.strerror or error}", local_uri
            ) from error

    def _write(self, target: UPath, data: bytes) -> None:
        if self._local:
            write_bytes_atomically(storage.local_path(target), data)
        else:
            storage.put_bytes(target, data, "WAREHOUSE_DIR")  # one request: atomic


def _local_path(local_uri: str) -> Path:
    if local_uri.startswith("file://"):
        return Path(unquote(urlparse(local_uri).path))
    return Path(local_uri)
