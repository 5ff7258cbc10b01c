"""Small helpers shared by the signature tests."""

from __future__ import annotations

from pathlib import Path

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "sources" / "signatures"

SOURCE_A_FILES = {
    "SOURCE_A/Offline/Genuine/001_01.png": b"png-1",
    "SOURCE_A/Offline/Forgeries/0120001_1.png": b"png-2",
    "SOURCE_A/Online/Genuine/001_01.HWR": b"1,2,3\n4,5,6\n",
    "SOURCE_A/Online/Genuine/002_01.HWR": b"7,8,9\n",
    "SOURCE_A/Online/Forgeries/0120002_1.HWR": b"1,1,1\n",
}
"""Five valid SOURCE_A files of signees 001 and 002: two images, two genuine point files and
one forgery of 001 by 012 in each medium."""


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Create `files` (relative path -> bytes) under `root`; returns `root`."""
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    root.mkdir(parents=True, exist_ok=True)
    return root
