"""Every command-line tool of the project reports a wrong setting in one sentence, with a
non-zero exit status and no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SENTENCE = (
    "error: PURCHASES_DATE_TOLERANCE_DAYS must be a whole number of days from 0 to 28, "
    "got '1000000'."
)


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "assets_pkg.purchases.feed"],  # what `make run` calls first
        ["-m", "assets_pkg.summary"],  # what `make run` calls last
        ["-m", "assets_pkg.purchases.period", "2024-01-01", "2024-01-08"],
    ],
)
def test_a_wrong_setting_is_one_sentence_without_a_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    env = {
        **os.environ,
        "PURCHASES_DATE_TOLERANCE_DAYS": "1000000",
        "DAGSTER_HOME": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, *command],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (done.returncode, done.stdout, done.stderr) == (2, "", SENTENCE + "\n")
