"""The repository is self-contained: no tracked file points outside it.

A reader who clones the repository has only what git tracks. These tests fail when a tracked
text file names a path that does not exist for that reader: a relative `../…` path that climbs
out of the checkout, a private workspace folder, or an absolute path into the machine the
project was written on; and when a relative Markdown link does not lead to a tracked file (or
to a heading that exists in it).
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Bulk sample data: thousands of generated lines that hold no paths; reading them would only
# slow the test down.
SKIPPED_PREFIXES = ("data/sources/purchases/transactions/",)

# Written in pieces so that this file does not match itself.
UP = "../"
OUTSIDE_MARKERS = (UP + "shared", "shared/" + "spec")
WORK_AREA = re.compile(r"(?<![\w.~-])/" + "work" + r"/")
# A relative path that starts by climbing one folder or more (`..` then `/`, repeated), not a
# climb in the middle of a path (`a/` `..` `/b`) nor an ellipsis before a slash.
CLIMBING_PATH = re.compile(r"(?<![\w./-])((?:\.\./)+[^\s'\"`()\[\]<>,;|*]*)")

FENCED_BLOCK = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
INLINE_LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_DEFINITION = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s*<?(\S+?)>?(?:\s+\"[^\"]*\")?\s*$", re.M)
HEADING = re.compile(r"^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.MULTILINE)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@functools.cache
def tracked_files() -> tuple[str, ...]:
    """`git ls-files` of the checkout, or a skip when git cannot tell."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed, so the tracked files are unknown")
    result = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=False, timeout=30
    )
    if result.returncode != 0:
        pytest.skip(f"not a git checkout: {result.stderr.decode(errors='replace').strip()}")
    names = result.stdout.decode("utf-8", errors="surrogateescape").split("\0")
    return tuple(name for name in names if name)


@functools.cache
def tracked_text(name: str) -> str | None:
    """The file's text, or None for binary files, bulk data and files deleted on disk."""
    if name.startswith(SKIPPED_PREFIXES):
        return None
    try:
        data = (ROOT / name).read_bytes()
    except OSError:  # deleted but not yet committed, a directory, unreadable
        return None
    if b"\0" in data[:8192]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def climbs_out(name: str, relative: str) -> bool:
    """Whether `relative`, read from the folder of tracked file `name`, leaves the checkout.

    A path that climbs again after going down (`..` `/a/` `..` `/x`) is not a reference anyone
    writes to reach a file: it is the kind of hostile path that tests of path-traversal
    guards feed to the code, and is not counted.
    """
    if ".." in PurePosixPath(relative.lstrip("./")).parts:
        return False
    folder = PurePosixPath(name).parent
    resolved = os.path.normpath(folder / relative)
    return resolved == ".." or resolved.startswith("../")


def outside_references(name: str, text: str) -> list[str]:
    """`line N: what` for every path in `text` that leads outside the repository."""
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        hits = [marker for marker in OUTSIDE_MARKERS if marker in line]
        hits += [match.group(0) for match in WORK_AREA.finditer(line)]
        hits += [
            match.group(1)
            for match in CLIMBING_PATH.finditer(line)
            if climbs_out(name, match.group(1))
        ]
        found += [f"line {number}: {hit!r}" for hit in dict.fromkeys(hits)]
    return found


def test_outside_references_are_detected() -> None:
    assert outside_references("README.md", f"see {UP}shared/x.md") == [
        f"line 1: '{UP}shared'",
        f"line 1: '{UP}shared/x.md'",
    ]
    assert outside_references("docs/a.md", f"[a]({UP}{UP}b.md)") == [f"line 1: '{UP}{UP}b.md'"]
    assert outside_references("a.py", 'open("/' + 'work/main/x")') == ["line 1: '/" + "work/'"]
    assert outside_references("docs/a.md", f"[a]({UP}README.md) and a/{UP}b .../x") == []
    assert outside_references("a/b/c.py", f'"{UP}{UP}x"') == []
    assert outside_references("a.py", f'"{UP}a/{UP}{UP}{UP}etc/passwd"') == []
    assert outside_references("a.py", "s3://bucket/" + "work/x network/") == []


def test_no_tracked_file_points_outside_the_repository() -> None:
    problems = {
        name: found
        for name in tracked_files()
        if (text := tracked_text(name)) is not None and (found := outside_references(name, text))
    }
    assert problems == {}, "paths outside the repository (a reader of a clone cannot open them)"


def markdown_targets(text: str) -> list[str]:
    """The link and image targets of a Markdown text, outside code blocks and code spans."""
    prose = INLINE_CODE.sub("", FENCED_BLOCK.sub("", text))
    return INLINE_LINK.findall(prose) + REFERENCE_DEFINITION.findall(prose)


def heading_anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown text."""
    anchors: set[str] = set()
    for heading in HEADING.findall(FENCED_BLOCK.sub("", text)):
        # Markup goes, as GitHub renders it; an underscore stays (`signature_trials`).
        plain = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", plain).replace(" ", "-")
        anchor, n = slug, 1
        while anchor in anchors:
            anchor, n = f"{slug}-{n}", n + 1
        anchors.add(anchor)
    return anchors


def broken_links(name: str, text: str, tracked: set[str]) -> list[str]:
    """The relative links of Markdown file `name` that lead to no tracked file or heading."""
    folders = {str(parent) for file in tracked for parent in PurePosixPath(file).parents}
    broken = []
    for target in markdown_targets(text):
        if SCHEME.match(target) or target.startswith("//"):
            continue  # a web address, not a file of the repository
        path_part, _, anchor = target.partition("#")
        if path_part:
            resolved = os.path.normpath(PurePosixPath(name).parent / path_part)
            if path_part.startswith("/") or resolved not in tracked | folders:
                broken.append(f"{target} (no tracked file {resolved})")
                continue
        else:
            resolved = name
        if anchor and resolved.endswith(".md") and resolved in tracked:
            target_text = text if resolved == name else tracked_text(resolved)
            if target_text is not None and anchor.lower() not in heading_anchors(target_text):
                broken.append(f"{target} (no heading #{anchor} in {resolved})")
    return broken


def test_broken_links_are_detected() -> None:
    tracked = {"README.md", "docs/a.md", "docs/img/x.png"}
    text = (
        "# Title\n## Two words\n### `an_asset`\n[ok](#an_asset) "
        "[ok](docs/a.md) [ok](docs/) ![ok](docs/img/x.png) "
        "[ok](#two-words) [web](https://example.org/x.md) `[code](nowhere.md)`\n"
        "[missing](docs/b.md) [bad](#nowhere)\n```\n[in a block](nowhere.md)\n```\n"
    )
    assert broken_links("README.md", text, tracked) == [
        "docs/b.md (no tracked file docs/b.md)",
        "#nowhere (no heading #nowhere in README.md)",
    ]


def test_every_relative_markdown_link_leads_to_a_tracked_file() -> None:
    tracked = set(tracked_files())
    problems = {
        name: found
        for name in sorted(tracked)
        if name.endswith(".md")
        and (text := tracked_text(name)) is not None
        and (found := broken_links(name, text, tracked))
    }
    assert problems == {}, "Markdown links to files or headings that are not in the repository"
