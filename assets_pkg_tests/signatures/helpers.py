"""Small helpers shared by the signature tests."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

BUNDLED = Path(__file__).resolve().parents[2] / "data" / "sources" / "signatures"


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Create `files` (relative path -> bytes) under `root`; returns `root`."""
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    root.mkdir(parents=True, exist_ok=True)
    return root


LONG_RUN_FACTOR = 40
"""How many times more examples a fuzz test tries under HYPOTHESIS_PROFILE=long."""


def fuzz_settings(examples: int) -> settings:
    """Settings for a fuzz test: `examples` examples from a fixed seed by default, many more
    from a fresh seed under HYPOTHESIS_PROFILE=long (profiles are registered in conftest.py)."""
    long_run = os.environ.get("HYPOTHESIS_PROFILE") == "long"
    return settings(
        max_examples=examples * LONG_RUN_FACTOR if long_run else examples,
        derandomize=not long_run,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
