"""The preview table: what it shows, and that making it never touches the environment."""

from __future__ import annotations

import datetime as dt
import os

import dagster as dg
import polars as pl
import pytest

from assets_pkg.defs.metadata import preview


def test_a_preview_leaves_the_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # Other threads' native code reads the environment while a preview is made; setting a
    # variable then (as `pl.Config` does) crashed the process with SIGSEGV in getenv.
    def refuse(*args: object) -> None:
        raise AssertionError(f"the environment was changed: {args}")

    with monkeypatch.context() as patched:
        patched.setattr(os, "putenv", refuse)
        patched.setattr(os, "unsetenv", refuse)
        shown = preview(pl.DataFrame({"week": [dt.date(2024, 1, 8)], "n": [3]}))
    assert isinstance(shown, dg.MarkdownMetadataValue)


def test_a_preview_is_a_markdown_table_of_the_first_rows() -> None:
    frame = pl.DataFrame(
        {"id": ["C1", "a|b", None, "C4"], "text": ["x" * 80, "two\nlines", "", "y"]}
    )
    shown = preview(frame, rows=3)
    assert isinstance(shown, dg.MarkdownMetadataValue)
    assert shown.value.splitlines() == [
        "| id | text |",
        "|---|---|",
        f"| C1 | {'x' * 59}… |",
        "| a\\|b | two lines |",
        "| null |  |",
    ]
