"""What a source reader hands on: candidates to register, and rows for `signature_rejects`."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

from assets_pkg.signatures.model import NewSignature, SigneeKey

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


@dataclass
class ReadResult:
    candidates: list[Candidate] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)


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
