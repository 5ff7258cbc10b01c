"""Where data lives: local folders named as paths or URLs, and names read from the disk."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assets_pkg.shared.storage import local_folder, printable_name


@pytest.mark.parametrize(
    ("location", "folder"),
    [
        ("/data/src", "/data/src"),
        ("file:///data/src", "/data/src"),
        ("local:///d", "/d"),
        ("rel", "rel"),
    ],
)
def test_a_local_location_names_its_folder(location: str, folder: str) -> None:
    assert local_folder(location) == Path(folder)


def test_a_printable_name_escapes_only_bytes_that_are_not_utf8() -> None:
    assert printable_name(os.fsdecode(b"a\xffb/\xc3\xa9")) == "a\\xffb/\u00e9"
    assert printable_name("Online/Genuine/001_01.HWR") == "Online/Genuine/001_01.HWR"
