"""One ETL pass over SIGNATURES_SOURCE_DIR: read both sources, register, report.

Pure Python over the service and the store; the Dagster assets are a thin shell around `run_etl`.
A run first loads the identity (content hash, signee, reference) of every current registration
(one query), and the readers skip, without parsing, each file that is registered as it is.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from assets_pkg.shared.location import Location
from assets_pkg.shared.storage import StorageError
from assets_pkg.signatures.database import SignatureDatabase, WriteConflictError
from assets_pkg.signatures.errors import AssetRegistrationError, StoreError
from assets_pkg.signatures.model import NewImageSignature, NewSignature, Reference, SigneeKey
from assets_pkg.signatures.ports import AssetInventory, AssetService
from assets_pkg.signatures.records import (
    AssetStored,
    Candidate,
    KnownRegistrations,
    ReadResult,
    Reject,
    SourceLayoutError,
    Unchanged,
)
from assets_pkg.signatures.repositories import SqlSignatureRepository, SqlSigneeRepository
from assets_pkg.signatures.service import Registration, SignatureApplicationService
from assets_pkg.signatures.source_a import read_source_a
from assets_pkg.signatures.source_b import read_source_b

T = TypeVar("T")

SOURCE_SETTING = "SIGNATURES_SOURCE_DIR"

MAX_CONFLICT_RETRIES = 5
"""How often one signee is re-read and registered again after another run wrote it first."""


@dataclass
class EtlReport:
    """What a run found and did; `rejects` becomes the `signature_rejects` table."""

    rejects: list[Reject] = field(default_factory=list)
    candidates: int = 0
    """Valid files found: parsed ones and those skipped as unchanged."""
    new_signatures: int = 0
    unchanged: int = 0
    """Files already registered as they are: same bytes, signee and reference (the skipped ones
    included)."""
    skipped_unchanged: int = 0
    """Of `unchanged`, the files skipped before parsing because their identity (content
    hash, signee, reference) was the current registration of their path when the run started."""
    superseded: int = 0
    new_signees: int = 0
    linked_late: int = 0
    assets_restored: int = 0
    """Unchanged images whose bytes were missing from the asset store, stored again."""


def group_by_signee(candidates: list[Candidate]) -> list[tuple[SigneeKey, list[NewSignature]]]:
    """Candidates per signee, signees in order of first appearance (readers put references
    first), signatures in source order."""
    groups: dict[SigneeKey, list[NewSignature]] = {}
    for candidate in candidates:
        groups.setdefault(candidate.signee, []).append(candidate.signature)
    return list(groups.items())


def source_root(location: str) -> Location:
    """The source folder SIGNATURES_SOURCE_DIR names: the one place its text becomes a
    `Location` (the local rules for a local folder, the storage options for a store)."""
    return Location.of(location, SOURCE_SETTING)


def read_sources(source_dir: Location) -> tuple[list[Candidate], list[Reject]]:
    """Every valid file as a candidate (all parsed, nothing skipped), and the rejects."""
    found = scan_sources(source_dir)
    return found.candidates, found.rejects


def scan_sources(
    source_dir: Location,
    known: KnownRegistrations | None = None,
    asset_stored: AssetStored | None = None,
) -> ReadResult:
    """Both sources read; a file whose identity `known` holds for its path is `unchanged` (an
    image among them keeps its bytes when `asset_stored` says they are not stored)."""
    check_layout(source_dir)
    a = read_source_a(source_dir / "SOURCE_A", known, asset_stored)
    b = read_source_b(source_dir / "SOURCE_B", known, asset_stored)
    return ReadResult(
        candidates=a.candidates + b.candidates,
        rejects=a.rejects + b.rejects,
        unchanged=a.unchanged + b.unchanged,
    )


def check_layout(source_dir: Location) -> None:
    """SourceLayoutError, naming the setting, unless SOURCE_A/, SOURCE_B/ and its INDEX exist
    (an object store that cannot be used: StorageError, naming it too)."""
    if source_dir.is_local:
        _check_layout(source_dir)
        return
    try:
        _check_layout(source_dir)
    except SourceLayoutError:
        raise
    except Exception as error:
        raise StorageError(source_dir.describe(error)) from None


def _check_layout(source_dir: Location) -> None:
    """The layout checks; an error of an object store is raised as it is (`check_layout`
    describes it, naming the setting)."""
    if not _is_dir(source_dir):
        raise SourceLayoutError(
            f"SIGNATURES_SOURCE_DIR ({source_dir}) is not a directory: point it at the folder "
            "holding SOURCE_A/ and SOURCE_B/."
        )
    for name in ("SOURCE_A", "SOURCE_B"):
        if not _is_dir(source_dir / name):
            raise SourceLayoutError(
                f"SIGNATURES_SOURCE_DIR ({source_dir}) has no {name}/ folder: point it at the "
                "folder holding SOURCE_A/ and SOURCE_B/."
            )
    index = source_dir / "SOURCE_B" / "INDEX"
    if not (os.path.lexists(index.local) if index.is_local else index.path.exists()):
        raise SourceLayoutError(
            f"{index} is missing: SOURCE_B needs its INDEX file (check SIGNATURES_SOURCE_DIR)."
        )


def _is_dir(location: Location) -> bool:
    """Whether the folder is there; an error of an object store is raised as it is."""
    return location.local.is_dir() if location.is_local else location.path.is_dir()


def run_etl(source_dir: Location, database: SignatureDatabase, assets: AssetService) -> EtlReport:
    """Register every valid signature under `source_dir`; idempotent (decision 6).

    Files registered as they are (same bytes, signee and reference as their path's current
    registration; the identities come from one query) are skipped unparsed; the rest go
    through `register_signatures` as before. A skipped image whose bytes the asset store no
    longer holds (when `assets` can tell, `AssetInventory`) is stored again."""
    check_layout(source_dir)
    known = {key: c.identity for key, c in database.current_signatures().items()}
    asset_stored = assets.has_asset if isinstance(assets, AssetInventory) else None
    found = scan_sources(source_dir, known, asset_stored)
    return register_candidates(
        found.candidates, found.rejects, database, assets, unchanged=found.unchanged
    )


def register_candidates(
    candidates: list[Candidate],
    rejects: list[Reject],
    database: SignatureDatabase,
    assets: AssetService,
    unchanged: Sequence[Unchanged] = (),
) -> EtlReport:
    """Register what the readers found, signee by signee, then link late references.
    `unchanged` are the files the readers skipped: counted, and warned about like any other
    registered forgery whose reference is still missing; an image among them that carries its
    bytes (the asset store lacked them) is stored again, registering nothing.

    Another process may register the same tree at the same time: a signee or file it wrote
    first makes our write conflict; the signee's rows are re-read and its registration redone,
    and what the other run wrote counts as already registered."""
    service = SignatureApplicationService(
        SqlSigneeRepository(database), SqlSignatureRepository(database), assets, database
    )
    report = EtlReport(
        candidates=len(candidates) + len(unchanged),
        unchanged=len(unchanged),
        skipped_unchanged=len(unchanged),
    )
    for key, new_signatures in group_by_signee(candidates):
        registration = _register(service, database, key, new_signatures, rejects)
        report.new_signatures += len(registration.registered)
        report.unchanged += registration.unchanged
        report.superseded += len(registration.superseded)
        report.new_signees += int(registration.new_signee)
    report.assets_restored = _restore_assets(unchanged, assets, rejects)
    report.linked_late = _retrying(database.resolve_pending_references, lambda: None)
    unlinked = database.unlinked_forgeries()
    forgeries: list[tuple[str, str, Reference | None]] = [
        (c.signature.origin.source, c.signature.origin.source_path, c.signature.forgery_of)
        for c in candidates
    ]
    forgeries += [(u.source, u.source_path, u.forgery_of) for u in unchanged]
    for source, source_path, reference in forgeries:
        if reference is not None and (source, source_path) in unlinked:
            what = reference.signee.label()
            if reference.signature_path is not None:
                what += f" (signature {reference.signature_path})"
            rejects.append(
                Reject(
                    source,
                    source_path,
                    None,
                    f"reference {what} not found: registered without a link",
                    "warning",
                )
            )
    report.rejects = sorted(rejects, key=_reject_order)
    return report


def _register(
    service: SignatureApplicationService,
    database: SignatureDatabase,
    key: SigneeKey,
    new_signatures: list[NewSignature],
    rejects: list[Reject],
) -> Registration:
    """Register one signee; an image that cannot be stored (it vanished, the disk is full) is
    rejected and the signee's other files are registered without it."""
    pending = list(new_signatures)

    def reread() -> None:
        keys, paths = _touched(key, pending)
        database.refresh(keys, paths)

    while True:
        try:
            return _retrying(lambda: service.register_signatures(pending, key), reread)
        except AssetRegistrationError as error:
            failed = [
                s
                for s in pending
                if isinstance(s, NewImageSignature) and s.local_uri == error.local_uri
            ]
            if not failed:
                raise
            pending.remove(failed[0])
            origin = failed[0].origin
            rejects.append(Reject(origin.source, origin.source_path, None, str(error)))


def _restore_assets(
    unchanged: Sequence[Unchanged], assets: AssetService, rejects: list[Reject]
) -> int:
    """Store again the bytes of registered images that the asset store lost; returns how
    many. One that cannot be stored stays registered, with a warning."""
    restored = 0
    for file in unchanged:
        if file.content is None:
            continue
        try:
            assets.register_asset(file.local_uri, {}, file.content)
        except AssetRegistrationError as error:
            rejects.append(Reject(file.source, file.source_path, None, str(error), "warning"))
        else:
            restored += 1
    return restored


def _retrying(write: Callable[[], T], reread: Callable[[], None]) -> T:
    """`write()`, redone after `reread()` when another run's rows made it conflict."""
    for _ in range(MAX_CONFLICT_RETRIES):
        try:
            return write()
        except WriteConflictError:
            reread()
    try:
        return write()
    except WriteConflictError as error:
        raise StoreError(
            f"Registration kept conflicting with another run writing the same signature "
            f"database ({error}): run it again once the other run has finished."
        ) from None


def _touched(
    key: SigneeKey, pending: list[NewSignature]
) -> tuple[set[SigneeKey], set[tuple[str, str]]]:
    """The signees and files a registration reads: its own, and those its forgeries name."""
    keys = {key}
    paths: set[tuple[str, str]] = set()
    for new in pending:
        paths.add((new.origin.source, new.origin.source_path))
        if new.forgery_of is not None:
            keys.add(new.forgery_of.signee)
            if new.forgery_of.signature_path is not None:
                paths.add((new.forgery_of.signee.source, new.forgery_of.signature_path))
    return keys, paths


def _reject_order(reject: Reject) -> tuple[str, str, int, str]:
    return (reject.source, reject.source_path, reject.line_number or 0, reject.reason)
