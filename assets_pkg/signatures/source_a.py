"""SOURCE_A: offline images and online `.HWR` files named after their writer (decisions 1-4).

Layout: `SOURCE_A/{Offline,Online}/{Genuine,Forgeries}/<file>`.
- Genuine `<3-digit signee id>_<sample no>.<ext>`, e.g. `001_02.png`.
- Forged `<4-digit forger id><3-digit reference signee id>_<sample no>.<ext>`, e.g. `0120001_1.HWR`.
Ids are unique only within their own directory, so a signee is (SOURCE_A, directory, id), and a
forgery's reference signee lives in the Genuine directory of the same medium.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from assets_pkg.shared.location import Location
from assets_pkg.signatures.hwr import HwrError, parse_hwr
from assets_pkg.signatures.model import (
    NewImageSignature,
    NewSignature,
    NewXYZSignature,
    Origin,
    Reference,
    SigneeKey,
)
from assets_pkg.signatures.ports import RegistrationIdentity
from assets_pkg.signatures.records import (
    SOURCE_A,
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
    DIRECTORY,
    ObjectSourceFolder,
    SourceFolder,
    UnsafeFileError,
    source_folder,
)

MEDIA = ("Offline", "Online")
SUBSETS = ("Genuine", "Forgeries")
IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "tif", "tiff", "bmp", "gif"})
ONLINE_EXTENSIONS = frozenset({"hwr"})

MAX_SAMPLE_DIGITS = 9
"""A sample number has at most this many digits; a longer one is refused, never converted."""

_GENUINE_RE = re.compile(r"(?P<writer>[0-9]{3})_(?P<sample>[0-9]+)")
_FORGED_RE = re.compile(r"(?P<writer>[0-9]{4})(?P<reference>[0-9]{3})_(?P<sample>[0-9]+)")


@dataclass(frozen=True)
class ParsedName:
    """What a file name says: its writer, the sample number, and for a forgery whom it imitates."""

    writer_id: str
    sample: str
    extension: str
    reference_writer_id: str | None = None


class BadNameError(ValueError):
    """A file name that does not follow the convention; the message is the reason."""


def parse_file_name(name: str, medium: str, subset: str) -> ParsedName:
    """Read a SOURCE_A file name for the given directory, or raise BadNameError (never guess)."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem:
        raise BadNameError(f"file name {name!r} has no extension")
    allowed = IMAGE_EXTENSIONS if medium == "Offline" else ONLINE_EXTENSIONS
    if extension.lower() not in allowed:
        wanted = ", ".join(f".{e}" for e in sorted(allowed))
        raise BadNameError(
            f"extension .{extension} is not allowed in {medium}/ (expected {wanted})"
        )
    if subset == "Genuine":
        match = _GENUINE_RE.fullmatch(stem)
        if match is None:
            hint = " (a forgery's name in Genuine/?)" if _FORGED_RE.fullmatch(stem) else ""
            raise BadNameError(
                f"file name {name!r} does not follow <3-digit signee id>_<sample no>.<ext>{hint}"
            )
        return ParsedName(match["writer"], _sample(match["sample"], name), extension)
    match = _FORGED_RE.fullmatch(stem)
    if match is None:
        raise BadNameError(
            f"file name {name!r} does not follow "
            "<4-digit forger id><3-digit signee id>_<sample no>.<ext>"
        )
    sample = _sample(match["sample"], name)
    return ParsedName(match["writer"], sample, extension, match["reference"])


def _sample(digits: str, name: str) -> str:
    if len(digits) > MAX_SAMPLE_DIGITS:
        raise BadNameError(
            f"file name {shown(name)} has a sample number of {len(digits)} digits "
            f"(at most {MAX_SAMPLE_DIGITS})"
        )
    return digits


def read_source_a(
    root: Location,
    known: KnownRegistrations | None = None,
    asset_stored: AssetStored | None = None,
) -> ReadResult:
    """Every file under SOURCE_A, as candidates (genuine signees first) and rejects.

    A file registered as it is (its path's entry in `known`, what the database holds as current,
    has its hash, signee and reference) is read and hashed but not parsed: it becomes an
    `Unchanged`, not a candidate; an image among them keeps its bytes when `asset_stored` says
    the asset store lacks them."""
    if not root.is_dir():
        raise SourceLayoutError(f"{root} is not a directory: SOURCE_A is missing")
    result = ReadResult()
    for medium in MEDIA:
        for subset in SUBSETS:
            if not (root / medium / subset).is_dir():
                result.rejects.append(
                    Reject(
                        SOURCE_A,
                        f"{medium}/{subset}",
                        None,
                        "directory missing: no signatures from this subset",
                        "warning",
                    )
                )
    folder = source_folder(root)
    tree = folder.walk()
    for path, reason in tree.refused.items():
        result.rejects.append(Reject(SOURCE_A, path, None, reason))
    for path in tree.directories:  # a directory where a file belongs, empty or not
        parts = PurePosixPath(path).parts
        if len(parts) == 3 and parts[0] in MEDIA and parts[1] in SUBSETS:
            result.rejects.append(Reject(SOURCE_A, path, None, DIRECTORY))
    duplicates = _same_samples(folder, tree.files, known or {})
    for relative in tree.files:
        if relative in duplicates:
            result.rejects.append(duplicates[relative])
            continue
        outcome = _read_file(folder, PurePosixPath(relative), known, asset_stored)
        if isinstance(outcome, Reject):
            result.rejects.append(outcome)
        elif isinstance(outcome, Unchanged):
            result.unchanged.append(outcome)
        else:
            result.candidates.append(outcome)
    result.candidates.sort(key=lambda c: (c.signature.forgery_of is not None, c.signee.directory))
    return result


def _sample_key(relative: str) -> tuple[str, str, str | None, int] | None:
    """(directory, writer, reference, sample number) a well-named file stands for; None for a
    file that `_read_file` rejects anyway."""
    parts = PurePosixPath(relative).parts
    if len(parts) != 3 or parts[0] not in MEDIA or parts[1] not in SUBSETS:
        return None
    try:
        parsed = parse_file_name(parts[2], parts[0], parts[1])
    except BadNameError:
        return None
    directory = f"{parts[0]}/{parts[1]}"
    return directory, parsed.writer_id, parsed.reference_writer_id, int(parsed.sample)


def _same_samples(
    folder: SourceFolder | ObjectSourceFolder, files: list[str], known: KnownRegistrations
) -> dict[str, Reject]:
    """The rejects of files whose names stand for the same sample of the same signee (the
    same directory, writer, reference and sample number, whatever the extension, its case or
    the sample's leading zeros: `001_01.png`, `001_01.PNG`, `001_1.png`).

    When their bytes are all the same, one is registered and each other is a warning naming it
    (nothing is lost: it is the same signature): the one already registered, if any (a re-run
    registers nothing new), else the first in sorted order. When they differ,
    none is registered: which one is the sample cannot be told from the files, so each is
    rejected naming the others, to be renamed or removed."""
    groups: dict[tuple[str, str, str | None, int], list[str]] = {}
    for relative in files:
        key = _sample_key(relative)
        if key is not None:
            groups.setdefault(key, []).append(relative)
    rejects: dict[str, Reject] = {}
    for (_, writer, _, sample), paths in groups.items():
        if len(paths) < 2:
            continue
        paths = sorted(paths, key=lambda path: ((SOURCE_A, path) not in known, path))
        digests: set[str] = set()
        for path in paths:
            try:
                digests.add(sha256_hex(folder.read(path)))
            except UnsafeFileError:
                digests.add(f"unreadable {path}")  # never equal to another file's bytes
        what = f"sample {sample} of writer {writer}"
        if len(digests) == 1:
            for path in paths[1:]:
                rejects[path] = Reject(
                    SOURCE_A,
                    path,
                    None,
                    f"another name for {what}, with the same bytes as {paths[0]}: registered "
                    f"once, as {paths[0]}",
                    "warning",
                )
            continue
        for path in paths:
            others = ", ".join(p for p in paths if p != path)
            rejects[path] = Reject(
                SOURCE_A,
                path,
                None,
                f"{what} is also named {others}, with other bytes: none of them is registered "
                "(rename or remove all but one)",
            )
    return rejects


def _read_file(
    folder: SourceFolder | ObjectSourceFolder,
    relative: PurePosixPath,
    known: KnownRegistrations | None,
    asset_stored: AssetStored | None = None,
) -> Candidate | Reject | Unchanged:
    path = str(relative)
    parts = relative.parts
    if len(parts) != 3 or parts[0] not in MEDIA or parts[1] not in SUBSETS:
        return Reject(
            SOURCE_A,
            path,
            None,
            "unexpected location: files belong in {Offline,Online}/{Genuine,Forgeries}/",
        )
    medium, subset, name = parts
    try:
        parsed = parse_file_name(name, medium, subset)
    except BadNameError as error:
        return Reject(SOURCE_A, path, None, str(error))
    try:
        data = folder.read(path)
    except UnsafeFileError as error:
        return Reject(SOURCE_A, path, None, str(error))
    directory = f"{medium}/{subset}"
    sha256 = sha256_hex(data)
    reference = None
    if parsed.reference_writer_id is not None:
        reference = Reference(
            signee=SigneeKey(
                source=SOURCE_A, directory=f"{medium}/Genuine", writer_id=parsed.reference_writer_id
            )
        )
    signee = SigneeKey(source=SOURCE_A, directory=directory, writer_id=parsed.writer_id)
    if is_known(known, SOURCE_A, path, RegistrationIdentity(sha256, signee, reference)):
        if medium == "Online":
            return Unchanged(SOURCE_A, path, reference)
        content = missing_content(data, sha256, asset_stored)
        return Unchanged(SOURCE_A, path, reference, str(folder.root / relative), content)
    origin = Origin(source=SOURCE_A, subset=directory, source_path=path, content_sha256=sha256)
    metadata = {"sample_no": parsed.sample}
    signature: NewSignature
    if medium == "Online":
        try:
            points = parse_hwr(data)
        except HwrError as error:
            return Reject(SOURCE_A, path, error.line_number, f"invalid HWR: {error.reason}")
        signature = NewXYZSignature(
            points=points, origin=origin, metadata=metadata, forgery_of=reference
        )
    else:
        signature = NewImageSignature(
            local_uri=str(folder.root / relative),
            content=data,
            origin=origin,
            metadata=metadata,
            forgery_of=reference,
        )
    return Candidate(signee=signee, signature=signature)
