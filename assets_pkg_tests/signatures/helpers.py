"""Small helpers shared by the signature tests."""

from __future__ import annotations

from pathlib import Path

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "sources" / "signatures"


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Create `files` (relative path -> bytes) under `root`; returns `root`."""
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    root.mkdir(parents=True, exist_ok=True)
    return root
