"""One ETL pass over SIGNATURES_SOURCE_DIR: read both sources, register, report.

Pure Python over the service and the store; the Dagster assets are a thin shell around `run_etl`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from assets_pkg.signatures.model import NewImageSignature, NewSignature, SigneeKey
from assets_pkg.signatures.records import (
    Candidate,
    Reject,
    SourceLayoutError,
)
from assets_pkg.signatures.service import (
    AssetRegistrationError,
    AssetService,
    Registration,
    SignatureApplicationService,
)
from assets_pkg.signatures.source_a import read_source_a
from assets_pkg.signatures.source_b import read_source_b
from assets_pkg.signatures.store import (
    SignatureDatabase,
    SqlSignatureRepository,
    SqlSigneeRepository,
)

REJECTS_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "source_path": pl.String(),
    "line_number": pl.Int64(),
    "reason": pl.String(),
    "severity": pl.String(),
}


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


def read_sources(source_dir: Path) -> tuple[list[Candidate], list[Reject]]:
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
    if not os.path.lexists(source_dir / "SOURCE_B" / "INDEX"):
        raise SourceLayoutError(
            f"{source_dir / 'SOURCE_B' / 'INDEX'} is missing: SOURCE_B needs its INDEX file "
            "(check SIGNATURES_SOURCE_DIR)."
        )
    a = read_source_a(source_dir / "SOURCE_A")
    b = read_source_b(source_dir / "SOURCE_B")
    return a.candidates + b.candidates, a.rejects + b.rejects


def run_etl(source_dir: Path, database: SignatureDatabase, assets: AssetService) -> EtlReport:
    """Register every valid signature under `source_dir`; idempotent (decision 6)."""
    candidates, rejects = read_sources(source_dir)
    service = SignatureApplicationService(
        SqlSigneeRepository(database), SqlSignatureRepository(database), assets, database
    )
    report = EtlReport(candidates=len(candidates))
    for key, new_signatures in group_by_signee(candidates):
        registration = _register(service, key, new_signatures, rejects)
        report.new_signatures += len(registration.registered)
        report.unchanged += registration.unchanged
        report.superseded += len(registration.superseded)
        report.new_signees += int(registration.new_signee)
    report.linked_late = database.resolve_pending_references()
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
    key: SigneeKey,
    new_signatures: list[NewSignature],
    rejects: list[Reject],
) -> Registration:
    """Register one signee; an image that cannot be stored (it vanished, the disk is full) is
    rejected and the signee's other files are registered without it."""
    pending = list(new_signatures)
    while True:
        try:
            return service.register_signatures(pending, key)
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


def _reject_order(reject: Reject) -> tuple[str, str, int, str]:
    return (reject.source, reject.source_path, reject.line_number or 0, reject.reason)


def rejects_frame(rejects: list[Reject]) -> pl.DataFrame:
    rows = [(r.source, r.source_path, r.line_number, r.reason, r.severity) for r in rejects]
    return pl.DataFrame(rows, schema=REJECTS_SCHEMA, orient="row")
