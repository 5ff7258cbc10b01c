"""What the registration service needs from its stores (structural protocols) and the values
they exchange: the identity of a registration and the signature now current for a file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from assets_pkg.signatures.model import (
    NewSignature,
    Reference,
    Signature,
    Signee,
    SigneeKey,
)


@dataclass(frozen=True)
class RegistrationIdentity:
    """What one registration of a source file says: the file's bytes (SHA-256), whose signature
    it is (the signee's key) and what it imitates (the reference as the source names it, or None
    for a genuine signature).

    The one definition of "the same registration" (decision 6): a file whose identity equals
    its (source, source_path)'s current registration is unchanged and skipped, by the service
    and, before parsing, by the readers; any difference (other bytes, or for SOURCE_B another
    UUID or parent in INDEX) registers the file anew, superseding the current registration."""

    content_sha256: str
    signee: SigneeKey
    forgery_of: Reference | None = None

    @classmethod
    def of(cls, new: NewSignature, signee: SigneeKey) -> RegistrationIdentity:
        """The identity `new` would be registered with under the signee `signee`."""
        return cls(new.origin.content_sha256, signee, new.forgery_of)


@dataclass(frozen=True)
class CurrentSignature:
    """The signature now registered for one source file (the newest, not superseded)."""

    id: str
    signee_id: str
    identity: RegistrationIdentity

    @property
    def content_sha256(self) -> str:
        return self.identity.content_sha256


class SigneeRepository(Protocol):
    def find_signee(self, key: SigneeKey) -> Signee | None: ...

    def store(self, signee: Signee) -> None: ...


class SignatureRepository(Protocol):
    def find_current(self, source: str, source_path: str) -> CurrentSignature | None: ...

    def store(self, signatures: Sequence[Signature]) -> None: ...


class AssetService(Protocol):
    def register_asset(
        self, local_uri: str, metadata: Mapping[str, str], data: bytes | None = None
    ) -> str:
        """Store an image and return its id; `data` are its bytes when already read (then
        `local_uri` only names it in messages)."""
        ...


@runtime_checkable
class AssetInventory(Protocol):
    """An asset service that can tell whether it still holds an asset's bytes (optional: the
    ETL uses it to store again the image of an unchanged file whose bytes are gone)."""

    def has_asset(self, asset_id: str) -> bool: ...


class UnitOfWork(Protocol):
    def transaction(self) -> AbstractContextManager[object]: ...
