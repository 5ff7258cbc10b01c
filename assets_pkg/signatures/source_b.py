"""SOURCE_B: image signatures listed in an `INDEX` file (decisions 1, 2 and 5).

`INDEX` line 1 is the number of signatures; every further line is `<uuid>    <parent uuid>` or
`<uuid>` alone. A signature with a parent is a forgery of it. The file of a signature is
`<first character of id>/<first 8 characters of id>`. SOURCE_B has no writer identity, so each
signature is its own signee: (SOURCE_B, "", <uuid in lower case>).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from assets_pkg.shared.location import Location
from assets_pkg.signatures.model import NewImageSignature, Origin, Reference, SigneeKey
from assets_pkg.signatures.ports import RegistrationIdentity
from assets_pkg.signatures.records import (
    SOURCE_B,
    AssetStored,
    Candidate,
    KnownRegistrations,
    ReadResult,
    Reject,
    SourceLayoutError,
    Unchanged,
    is_known,
    missing_content,
    sha256_hex,
    shown,
)
from assets_pkg.signatures.source_files import (
    ObjectSourceFolder,
    SourceFolder,
    UnsafeFileError,
    Walk,
    source_folder,
)

INDEX = "INDEX"
MAX_COUNT_DIGITS = 10
"""The declared count on INDEX line 1 has at most this many digits (up to 9,999,999,999);
anything longer is a warning, never converted to a number."""
_UUID_RE = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_SEPARATOR_RE = re.compile(r"[ \t]+")
"""Fields of an INDEX line are separated by spaces or tabs, nothing else."""


@dataclass(frozen=True)
class IndexEntry:
    line_number: int
    id: str
    """As written in INDEX: the file path is built from it."""
    parent: str | None

    @property
    def key(self) -> str:
        """The id compared and stored: UUIDs are case-insensitive."""
        return self.id.lower()

    @property
    def parent_key(self) -> str | None:
        return None if self.parent is None else self.parent.lower()

    @property
    def path(self) -> str:
        return f"{self.id[0]}/{self.id[:8]}"


def signee_key(uuid_key: str) -> SigneeKey:
    return SigneeKey(source=SOURCE_B, directory="", writer_id=uuid_key)


@dataclass
class ParsedIndex:
    entries: list[IndexEntry]
    """The well-formed signature lines."""
    rejects: list[Reject]
    """Malformed lines and a wrong declared count."""
    claims: list[IndexEntry]
    """Malformed lines whose id is still a UUID (a bad parent, too many fields, whitespace
    other than spaces or tabs after it): rejected themselves, they still claim their id and
    its file, for the duplicate and shared-prefix checks of the well-formed lines (and are not
    reported as files no INDEX line names)."""


def parse_index(text: str) -> tuple[list[IndexEntry], list[Reject]]:
    """INDEX lines as entries; malformed lines and a wrong declared count as rejects."""
    parsed = parse_index_lines(text)
    return parsed.entries, parsed.rejects


def parse_index_lines(text: str) -> ParsedIndex:
    """INDEX lines as entries, rejects, and the ids malformed lines still claim."""
    lines = text.split("\n")
    rejects: list[Reject] = []
    entries: list[IndexEntry] = []
    claims: list[IndexEntry] = []
    for number, raw in enumerate(lines[1:], start=2):
        line = raw.removesuffix("\r")
        if not line.strip():  # a blank line, whatever white space it holds
            continue
        stripped = line.strip(" \t")
        fields = _SEPARATOR_RE.split(stripped)
        other = next((c for c in stripped if c.isspace() and c not in " \t"), None)
        if other is not None:  # NBSP, U+3000, a stray CR ...: the line is malformed
            rejects.append(
                Reject(
                    SOURCE_B,
                    INDEX,
                    number,
                    f"whitespace U+{ord(other):04X} in the line: separate the id and its "
                    "parent with spaces or tabs only",
                )
            )
            loose = stripped.split()
            if loose and _UUID_RE.fullmatch(loose[0]):
                claims.append(IndexEntry(number, loose[0], None))
            continue
        if not _UUID_RE.fullmatch(fields[0]):
            reason = (
                "expected '<id>    <parent id>': too many fields"
                if len(fields) > 2
                else f"id is not a UUID: {shown(fields[0])}"
            )
            rejects.append(Reject(SOURCE_B, INDEX, number, reason))
            continue
        if len(fields) > 2:
            reason = "expected '<id>    <parent id>': too many fields"
        elif len(fields) == 2 and not _UUID_RE.fullmatch(fields[1]):
            reason = f"parent id is not a UUID: {shown(fields[1])}"
        else:
            entries.append(IndexEntry(number, fields[0], fields[1] if len(fields) == 2 else None))
            continue
        rejects.append(Reject(SOURCE_B, INDEX, number, reason))
        claims.append(IndexEntry(number, fields[0], None))
    listed = len(entries) + len(rejects)
    declared = lines[0].strip()
    if not declared.isascii() or not declared.isdigit() or len(declared) > MAX_COUNT_DIGITS:
        rejects.append(
            Reject(
                SOURCE_B,
                INDEX,
                1,
                "line 1 should be the number of signatures (at most "
                f"{MAX_COUNT_DIGITS} digits), got {shown(declared)} ({listed} listed)",
                "warning",
            )
        )
    elif int(declared) != listed:
        rejects.append(
            Reject(
                SOURCE_B,
                INDEX,
                1,
                f"declared count {int(declared)} differs from the {listed} signature lines",
                "warning",
            )
        )
    return ParsedIndex(entries, rejects, claims)


def find_problems(
    entries: list[IndexEntry],
    folder: SourceFolder | ObjectSourceFolder,
    claims: Sequence[IndexEntry] = (),
) -> dict[int, list[str]]:
    """Reasons to reject each entry, by INDEX line number (entries absent here are fine).
    `claims` (malformed lines, already rejected) count as occurrences of their ids."""
    problems: dict[int, list[str]] = defaultdict(list)
    by_key: dict[str, list[IndexEntry]] = defaultdict(list)
    for entry in sorted([*entries, *claims], key=lambda e: e.line_number):
        by_key[entry.key].append(entry)
    by_prefix: dict[str, set[str]] = defaultdict(set)
    for key in by_key:
        by_prefix[key[:8]].add(key)
    for entry in entries:
        twins = [e.line_number for e in by_key[entry.key] if e is not entry]
        if twins:
            problems[entry.line_number].append(f"duplicate id (also on line {_lines(twins)})")
        sharing = sorted(by_prefix[entry.key[:8]] - {entry.key})
        if sharing:
            problems[entry.line_number].append(
                f"shares its first 8 characters with {', '.join(sharing)}: the file is ambiguous"
            )
        missing = _file_problem(folder, entry.path)
        if missing is not None:
            problems[entry.line_number].append(missing)
    claimed = {claim.line_number for claim in claims}
    unique = {
        key: group[0]
        for key, group in by_key.items()
        if len(group) == 1 and group[0].line_number not in claimed
    }
    for cycle in _cycles(unique):
        shown = " -> ".join([*cycle, cycle[0]])
        for key in cycle:
            problems[unique[key].line_number].append(f"parent cycle: {shown}")
    return problems


def _file_problem(folder: SourceFolder | ObjectSourceFolder, path: str) -> str | None:
    """Why the file an INDEX line names cannot be read (nothing is opened), or None."""
    if not folder.lexists(path):
        return f"file {path} is missing"
    reason = folder.check(path)
    return None if reason is None else f"file {path}: {reason}"


def _lines(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers))


def _cycles(entries: dict[str, IndexEntry]) -> list[list[str]]:
    """Every cycle of the parent relation, each as its keys in parent order."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[list[str]] = []
    for start in sorted(entries):
        path: list[str] = []
        key: str | None = start
        while key is not None and key in entries and key not in state:
            state[key] = 1
            path.append(key)
            key = entries[key].parent_key
        if key is not None and state.get(key) == 1:
            cycles.append(path[path.index(key) :])
        for visited in path:
            state[visited] = 2
    return cycles


def read_source_b(
    root: Location,
    known: KnownRegistrations | None = None,
    asset_stored: AssetStored | None = None,
) -> ReadResult:
    """Candidates (parents before their forgeries) and rejects for SOURCE_B.

    INDEX is always parsed and checked in full; a listed file registered as it is (its path's
    entry in `known` has its hash, the UUID its INDEX line gives it and the parent that line
    names) becomes an `Unchanged` instead of a candidate. A file whose INDEX line changed its
    UUID or parent is a candidate even with the same bytes. An unchanged file keeps its bytes
    when `asset_stored` says the asset store lacks them."""
    # utf-8-sig: an INDEX saved with a byte-order mark still has its count on line 1.
    folder = source_folder(root)
    parsed = parse_index_lines(read_index(folder).decode("utf-8-sig", errors="replace"))
    entries = parsed.entries
    problems = find_problems(entries, folder, parsed.claims)
    result = ReadResult(rejects=parsed.rejects)
    accepted = [entry for entry in entries if entry.line_number not in problems]
    for entry in entries:
        if entry.line_number in problems:
            reason = "; ".join(problems[entry.line_number])
            result.rejects.append(Reject(SOURCE_B, entry.path, entry.line_number, reason))
    claimed = {claim.path for claim in parsed.claims}
    result.rejects.extend(_unnamed(folder.walk(), {entry.path for entry in entries}, claimed))
    depth = _depths(accepted)
    paths = {entry.key: entry.path for entry in entries}
    for entry in sorted(accepted, key=lambda e: (depth[e.key], e.line_number)):
        try:
            data = folder.read(entry.path)
        except UnsafeFileError as error:  # a bad file never stops the run; its forgeries lose
            reason = str(error)  # the link
            result.rejects.append(Reject(SOURCE_B, entry.path, entry.line_number, reason))
            continue
        sha256 = sha256_hex(data)
        reference = _reference(entry, paths)
        signee = signee_key(entry.key)
        if is_known(known, SOURCE_B, entry.path, RegistrationIdentity(sha256, signee, reference)):
            content = missing_content(data, sha256, asset_stored)
            local_uri = str(root / entry.path)
            result.unchanged.append(Unchanged(SOURCE_B, entry.path, reference, local_uri, content))
            continue
        result.candidates.append(_candidate(root, entry, data, sha256, signee, reference))
    return result


def read_index(folder: SourceFolder | ObjectSourceFolder) -> bytes:
    """The INDEX file's bytes, read under the same rules as every source file."""
    index = folder.root / INDEX
    if not folder.lexists(INDEX):
        raise SourceLayoutError(f"{index} is missing: SOURCE_B needs its INDEX file")
    try:
        return folder.read(INDEX)
    except UnsafeFileError as error:
        raise SourceLayoutError(
            f"{index} cannot be read ({error}): SOURCE_B needs its INDEX file as a regular "
            "file inside it."
        ) from None


def _unnamed(tree: Walk, named: set[str], claimed: set[str]) -> list[Reject]:
    """Files no INDEX line names (warnings), and entries that are not files at all (rejected);
    an entry an INDEX line names is reported on that line instead. A file only a malformed
    line names (`claimed`) is not warned about: that line's reject already says why it is
    not registered."""
    rejects = [
        Reject(SOURCE_B, path, None, reason)
        for path, reason in tree.refused.items()
        if path not in named and path != INDEX
    ]
    rejects += [
        Reject(SOURCE_B, path, None, "no INDEX line names this file", "warning")
        for path in tree.files
        if path != INDEX and path not in named and path not in claimed
    ]
    return rejects


def _depths(entries: list[IndexEntry]) -> dict[str, int]:
    """How many accepted ancestors each entry has (no cycles remain among accepted entries)."""
    parents = {entry.key: entry.parent_key for entry in entries}
    depth: dict[str, int] = {}
    for key in parents:
        chain: list[str] = []
        current: str | None = key
        while current is not None and current in parents and current not in depth:
            chain.append(current)
            current = parents[current]
        base = depth.get(current, -1) if current is not None else -1
        for offset, member in enumerate(reversed(chain), start=1):
            depth[member] = base + offset
    return depth


def _reference(entry: IndexEntry, paths: dict[str, str]) -> Reference | None:
    """The parent an entry names, as a reference to its signee and its file."""
    if entry.parent is None:
        return None
    parent = entry.parent.lower()
    parent_path = paths.get(parent, f"{entry.parent[0]}/{entry.parent[:8]}")
    return Reference(signee=signee_key(parent), signature_path=parent_path)


def _candidate(
    root: Location,
    entry: IndexEntry,
    data: bytes,
    sha256: str,
    signee: SigneeKey,
    reference: Reference | None,
) -> Candidate:
    origin = Origin(
        source=SOURCE_B,
        subset="Genuine" if reference is None else "Forgeries",
        source_path=entry.path,
        content_sha256=sha256,
    )
    signature = NewImageSignature(
        local_uri=str(root / entry.path),
        content=data,
        origin=origin,
        forgery_of=reference,
    )
    return Candidate(signee=signee, signature=signature)
