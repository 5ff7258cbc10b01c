"""What a source reader hands on: candidates to register, files it skipped because they are
already registered as they are (same bytes, signee and reference), and rows for
`signature_rejects`."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from assets_pkg.signatures.model import NewSignature, Reference, SigneeKey
from assets_pkg.signatures.ports import RegistrationIdentity

Severity = Literal["rejected", "warning"]
SOURCE_A = "SOURCE_A"
SOURCE_B = "SOURCE_B"


@dataclass(frozen=True, order=True)
class Reject:
    """A file or INDEX line that was refused (`rejected`) or registered with a note (`warning`)."""

    source: str
    source_path: str
    line_number: int | None
    reason: str
    severity: Severity = "rejected"


@dataclass(frozen=True)
class Candidate:
    """One signature file that passed every check, and the signee it belongs to."""

    signee: SigneeKey
    signature: NewSignature


KnownRegistrations = Mapping[tuple[str, str], RegistrationIdentity]
"""(source, source_path) -> the `RegistrationIdentity` (bytes, signee, reference) of the
file's current registration in the database."""


AssetStored = Callable[[str], bool]
"""Asset id (the SHA-256 of an image) -> whether the asset store still holds its bytes."""


@dataclass(frozen=True)
class Unchanged:
    """A file registered exactly as the reader finds it: its bytes (by SHA-256), its signee and
    what it imitates are its path's current registration (`RegistrationIdentity`). The reader
    read and hashed it but did not parse it or build a signature from it. Only what the run's report
    still needs is kept: which file, and what it imitates (for the missing-reference warning,
    decision 2), which the file name or the INDEX line says without parsing."""

    source: str
    source_path: str
    forgery_of: Reference | None = None
    local_uri: str = ""
    content: bytes | None = None
    """An image's bytes, as read and hashed, kept only when the asset store lacks them (it
    was deleted, or WAREHOUSE_DIR names another one now): the run stores them again, without
    registering anything. None for every other file."""


@dataclass
class ReadResult:
    candidates: list[Candidate] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    unchanged: list[Unchanged] = field(default_factory=list)
    """Files skipped because `known` already holds them as they are (empty without `known`)."""


def is_known(
    known: KnownRegistrations | None, source: str, source_path: str, identity: RegistrationIdentity
) -> bool:
    """Whether (source, source_path) is currently registered with this very identity: the
    service's own idempotence rule (`RegistrationIdentity`), checked before the file is parsed."""
    return known is not None and known.get((source, source_path)) == identity


def missing_content(data: bytes, sha256: str, asset_stored: AssetStored | None) -> bytes | None:
    """An unchanged image's bytes when the asset store lacks them (see `Unchanged.content`)."""
    return data if asset_stored is not None and not asset_stored(sha256) else None


class SourceLayoutError(Exception):
    """The source directory itself is unusable (not one bad file): the run must stop."""


SHOWN_CHARACTERS = 40
"""How much of a bad token a reason quotes: a hostile file may hold a million-digit number."""


def shown(token: str) -> str:
    """`token` quoted for a reason, cut to SHOWN_CHARACTERS with its full length noted."""
    if len(token) <= SHOWN_CHARACTERS:
        return repr(token)
    return f"{token[:SHOWN_CHARACTERS]!r}... ({len(token)} characters)"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
