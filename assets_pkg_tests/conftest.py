"""What every test shares: the hypothesis profiles of the property-based and fuzz tests.

`default` is small and reproducible (a fixed seed), for every test run; `long` explores far
more, with a fresh seed each time:

    HYPOTHESIS_PROFILE=long .venv/bin/pytest -p no:cacheprovider -k "fuzz or differential"
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile(
    "default", derandomize=True, database=None, deadline=None, print_blob=True
)
settings.register_profile("long", derandomize=False, database=None, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
