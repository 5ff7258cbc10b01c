"""One ETL pass over SIGNATURES_SOURCE_DIR: read both sources, register, report.

Pure Python over the service and the store; the Dagster assets are a thin shell around `run_etl`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from upath import UPath

from assets_pkg.signatures.database import SignatureDatabase, WriteConflictError
from assets_pkg.signatures.model import NewImageSignature, NewSignature, SigneeKey
from assets_pkg.signatures.records import (
    Candidate,
    Reject,
    SourceLayoutError,
)
from assets_pkg.signatures.repositories import SqlSignatureRepository, SqlSigneeRepository
from assets_pkg.signatures.service import (
    AssetRegistrationError,
    AssetService,
    Registration,
    SignatureApplicationService,
    StoreError,
)
from assets_pkg.signatures.source_a import read_source_a
from assets_pkg.signatures.source_b import read_source_b

T = TypeVar("T")

MAX_CONFLICT_RETRIES = 5
"""How often one signee is re-read and registered again after another run wrote it first."""


@dataclass
class EtlReport:
    """What a run found and did; `rejects` becomes the `signature_rejects` table."""

    rejects: list[Reject] = field(default_factory=list)
    candidates: int = 0
    new_signatures: int = 0
    unchanged: int = 0
    superseded: int = 0
    new_signees: int = 0
    linked_late: int = 0


def group_by_signee(candidates: list[Candidate]) -> list[tuple[SigneeKey, list[NewSignature]]]:
    """Candidates per signee, signees in order of first appearance (readers put references
    first), signatures in source order."""
    groups: dict[SigneeKey, list[NewSignature]] = {}
    for candidate in candidates:
        groups.setdefault(candidate.signee, []).append(candidate.signature)
    return list(groups.items())


def read_sources(source_dir: Path | UPath) -> tuple[list[Candidate], list[Reject]]:
    if not source_dir.is_dir():
        raise SourceLayoutError(
            f"SIGNATURES_SOURCE_DIR ({source_dir}) is not a directory: point it at the folder "
            "holding SOURCE_A/ and SOURCE_B/."
        )
    for name in ("SOURCE_A", "SOURCE_B"):
        if not (source_dir / name).is_dir():
            raise SourceLayoutError(
                f"SIGNATURES_SOURCE_DIR ({source_dir}) has no {name}/ folder: point it at the "
                "folder holding SOURCE_A/ and SOURCE_B/."
            )
    index = source_dir / "SOURCE_B" / "INDEX"
    if not (os.path.lexists(index) if isinstance(index, Path) else index.exists()):
        raise SourceLayoutError(
            f"{source_dir / 'SOURCE_B' / 'INDEX'} is missing: SOURCE_B needs its INDEX file "
            "(check SIGNATURES_SOURCE_DIR)."
        )
    a = read_source_a(source_dir / "SOURCE_A")
    b = read_source_b(source_dir / "SOURCE_B")
    return a.candidates + b.candidates, a.rejects + b.rejects


def run_etl(
    source_dir: Path | UPath, database: SignatureDatabase, assets: AssetService
) -> EtlReport:
    """Register every valid signature under `source_dir`; idempotent (decision 6)."""
    candidates, rejects = read_sources(source_dir)
    return register_candidates(candidates, rejects, database, assets)


def register_candidates(
    candidates: list[Candidate],
    rejects: list[Reject],
    database: SignatureDatabase,
    assets: AssetService,
) -> EtlReport:
    """Register what the readers found, signee by signee, then link late references.

    Another process may register the same tree at the same time: a signee or file it wrote
    first makes our write conflict; the signee's rows are re-read and its registration redone,
    and what the other run wrote counts as already registered."""
    service = SignatureApplicationService(
        SqlSigneeRepository(database), SqlSignatureRepository(database), assets, database
    )
    report = EtlReport(candidates=len(candidates))
    for key, new_signatures in group_by_signee(candidates):
        registration = _register(service, database, key, new_signatures, rejects)
        report.new_signatures += len(registration.registered)
        report.unchanged += registration.unchanged
        report.superseded += len(registration.superseded)
        report.new_signees += int(registration.new_signee)
    report.linked_late = _retrying(database.resolve_pending_references, lambda: None)
    unlinked = database.unlinked_forgeries()
    for candidate in candidates:
        origin = candidate.signature.origin
        reference = candidate.signature.forgery_of
        if reference is not None and (origin.source, origin.source_path) in unlinked:
            what = reference.signee.label()
            if reference.signature_path is not None:
                what += f" (signature {reference.signature_path})"
            rejects.append(
                Reject(
                    origin.source,
                    origin.source_path,
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
