"""`SignatureApplicationService.register_signatures`: the one write path into the warehouse.

The initial design's service, with its protocols kept as structural types and three gaps closed:
the idempotence key is honoured (decision 6), an unknown input raises a typed error, and a signee
with its signatures is stored in one transaction (decision 7) when the stores offer one.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field

from assets_pkg.signatures.errors import InconsistentRegistrationError, UnsupportedSignatureError
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
from assets_pkg.signatures.ports import (
    AssetService,
    RegistrationIdentity,
    SignatureRepository,
    SigneeRepository,
    UnitOfWork,
)


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
