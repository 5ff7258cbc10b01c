"""Settings for a property-based or fuzz test, by profile (see conftest.py)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

LONG_RUN_FACTOR = 40
"""How many times more examples a test tries under HYPOTHESIS_PROFILE=long."""


def fuzz_settings(examples: int) -> settings:
    """`examples` examples from a fixed seed by default, many more from a fresh seed under
    HYPOTHESIS_PROFILE=long."""
    long_run = os.environ.get("HYPOTHESIS_PROFILE") == "long"
    return settings(
        max_examples=examples * LONG_RUN_FACTOR if long_run else examples,
        derandomize=not long_run,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
