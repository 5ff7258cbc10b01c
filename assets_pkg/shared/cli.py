"""The entry point of every command-line tool of the project: user mistakes as one sentence.

A wrong setting or a missing input is the user's to fix, not a bug: it is printed as one line
on stderr, naming what to fix, and the process exits with status 2 and no traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn

from assets_pkg.shared.settings import ConfigurationError


def run_cli(
    main: Callable[[], int],
    user_errors: tuple[type[Exception], ...] = (),
) -> NoReturn:
    """Run `main` and exit with its status; ConfigurationError and `user_errors` become one
    line `error: <message>` on stderr and exit status 2."""
    expected: tuple[type[Exception], ...] = (ConfigurationError, *user_errors)
    try:
        status = main()
    except expected as error:
        print(f"error: {error}", file=sys.stderr)
        status = 2
    except BrokenPipeError:  # `... | head` stopped reading: nothing left to say to anyone
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 1
    raise SystemExit(status)
