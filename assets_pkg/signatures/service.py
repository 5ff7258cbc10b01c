"""`SignatureApplicationService.register_signatures`: the one write path into the warehouse.

The initial design's service, with its protocols kept as structural types and three gaps closed:
the idempotence key is honoured (decision 6), an unknown input raises a typed error, and a signee
with its signatures is stored in one transaction (decision 7) when the stores offer one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from assets_pkg.signatures.model import (
    Links,
    NewImageSignature,
    NewSignature,
    NewXYZSignature,
    Reference,
    Signature,
    Signee,
    SigneeKey,
)


class SignatureServiceError(Exception):
    """Base of every error the signature service raises on purpose."""


class UnsupportedSignatureError(SignatureServiceError, TypeError):
    """An input that is neither a NewImageSignature nor a NewXYZSignature."""


class InconsistentRegistrationError(SignatureServiceError, ValueError):
    """Inputs that cannot belong together under one idempotence key."""


class AssetRegistrationError(SignatureServiceError):
    """An image could not be read or stored by the asset service."""

    def __init__(self, message: str, local_uri: str) -> None:
        super().__init__(message)
        self.local_uri = local_uri


class StoreError(SignatureServiceError):
    """The database refused or could not be reached; the message says which setting to check."""


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


@dataclass(frozen=True)
class Registration:
    """What one `register_signatures` call did."""

    signee_id: str | None
    """None only when nothing was registered and the signee did not exist before."""
    new_signee: bool = False
    registered: tuple[Signature, ...] = ()
    unchanged: int = 0
    superseded: tuple[str, ...] = ()
    unresolved: tuple[Reference, ...] = field(default=())
    """References of new forgeries that could not be linked (decision 2: link left empty)."""


class SignatureApplicationService:
    def __init__(
        self,
        signee_repository: SigneeRepository,
        signature_repository: SignatureRepository,
        asset_service: AssetService,
        unit_of_work: UnitOfWork | None = None,
    ) -> None:
        self._signees = signee_repository
        self._signatures = signature_repository
        self._assets = asset_service
        self._unit_of_work = unit_of_work

    def register_signatures(
        self, new_signatures: Sequence[NewSignature], idempotence_key: SigneeKey
    ) -> Registration:
        """Register the signatures of the signee named by `idempotence_key`.

        A file whose current registration has the same `RegistrationIdentity` (same bytes, same
        signee, same reference) is skipped; one where any of them differs is registered anew and
        supersedes the old registration, whichever signee that belonged to. The signee is
        created on first sight and reused afterwards.
        """
        inputs = _checked(new_signatures, idempotence_key)
        pending: list[tuple[NewSignature, str | None]] = []
        unchanged = 0
        for new in inputs:
            current = self._signatures.find_current(new.origin.source, new.origin.source_path)
            if current is not None and current.identity == RegistrationIdentity.of(
                new, idempotence_key
            ):
                unchanged += 1
            else:
                pending.append((new, None if current is None else current.id))
        existing = self._signees.find_signee(idempotence_key)
        if not pending:
            return Registration(None if existing is None else existing.id, unchanged=unchanged)
        transaction = (
            nullcontext() if self._unit_of_work is None else self._unit_of_work.transaction()
        )
        with transaction:
            signee = existing or Signee(key=idempotence_key)
            if existing is None:
                self._signees.store(signee)
            unresolved: list[Reference] = []
            for new, supersedes in pending:
                links = self._links(new.forgery_of, supersedes)
                if new.forgery_of is not None and _unlinked(new.forgery_of, links):
                    unresolved.append(new.forgery_of)
                if isinstance(new, NewImageSignature):
                    asset_id = self._assets.register_asset(new.local_uri, new.metadata, new.content)
                    signee.new_image_signature(asset_id, new.origin, dict(new.metadata), links)
                else:
                    signee.new_xyz_signature(new.points, new.origin, dict(new.metadata), links)
            self._signatures.store(signee.signatures)
        return Registration(
            signee_id=signee.id,
            new_signee=existing is None,
            registered=tuple(signee.signatures),
            unchanged=unchanged,
            superseded=tuple(old for _, old in pending if old is not None),
            unresolved=tuple(unresolved),
        )

    def _links(self, reference: Reference | None, supersedes: str | None) -> Links:
        if reference is None:
            return Links(supersedes=supersedes)
        target = self._signees.find_signee(reference.signee)
        signature_id = None
        if target is not None and reference.signature_path is not None:
            current = self._signatures.find_current(
                reference.signee.source, reference.signature_path
            )
            if current is not None and current.signee_id == target.id:
                signature_id = current.id
        return Links(
            forgery_of=reference,
            reference_signee_id=None if target is None else target.id,
            reference_signature_id=signature_id,
            supersedes=supersedes,
        )


def _unlinked(reference: Reference, links: Links) -> bool:
    if links.reference_signee_id is None:
        return True
    return reference.signature_path is not None and links.reference_signature_id is None


def _checked(new_signatures: Sequence[object], key: SigneeKey) -> list[NewSignature]:
    checked: list[NewSignature] = []
    paths: set[str] = set()
    for new in new_signatures:
        if not isinstance(new, NewImageSignature | NewXYZSignature):
            raise UnsupportedSignatureError(
                f"cannot register a {type(new).__name__}: expected NewImageSignature or "
                "NewXYZSignature"
            )
        if new.origin.source != key.source:
            raise InconsistentRegistrationError(
                f"{new.origin.source_path} comes from {new.origin.source}, "
                f"but the signee {key.label()} belongs to {key.source}"
            )
        if new.origin.source_path in paths:
            raise InconsistentRegistrationError(
                f"{new.origin.source}/{new.origin.source_path} appears twice in one registration"
            )
        paths.add(new.origin.source_path)
        checked.append(new)
    return checked
