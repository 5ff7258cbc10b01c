"""What every test shares: the hypothesis profiles of the property-based and fuzz tests, and
the `slow` mark on every test that drives the deployment or a browser.

`default` is small and reproducible (a fixed seed), for every test run; `long` explores far
more, with a fresh seed each time:

    HYPOTHESIS_PROFILE=long .venv/bin/pytest -p no:cacheprovider -k "fuzz or differential"
"""

from __future__ import annotations

import os

import pytest
from hypothesis import settings

settings.register_profile(
    "default", derandomize=True, database=None, deadline=None, print_blob=True
)
settings.register_profile("long", derandomize=False, database=None, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


SLOW_KINDS = ("deployment", "browser")
"""Marks whose tests are slow by nature (whole process topologies, a browser): each such test
is also marked `slow`, which `make check` leaves out. The other slow tests carry the mark
themselves."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if any(item.get_closest_marker(kind) for kind in SLOW_KINDS):
            item.add_marker(pytest.mark.slow)
