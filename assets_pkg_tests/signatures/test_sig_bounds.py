"""Numbers read from source files are bounded before they are converted, and reasons quote at
most a bounded part of a hostile token."""

from __future__ import annotations

from pathlib import Path

import pytest

from assets_pkg.shared.location import Location
from assets_pkg.signatures.hwr import MAX_NUMBER_LENGTH, HwrError, parse_hwr
from assets_pkg.signatures.records import SHOWN_CHARACTERS, Reject, shown
from assets_pkg.signatures.source_a import (
    MAX_SAMPLE_DIGITS,
    BadNameError,
    parse_file_name,
)
from assets_pkg.signatures.source_b import MAX_COUNT_DIGITS, parse_index, read_source_b

from .helpers import write_tree

G1 = "3f2a9c1e-5b7d-4e21-9a8b-0c1d2e3f4a5b"


def test_a_count_of_thousands_of_digits_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    count = "9" * 5000
    root = write_tree(
        tmp_path / "SOURCE_B", {"INDEX": f"{count}\n{G1}\n".encode(), f"3/{G1[:8]}": b"image"}
    )
    result = read_source_b(Location.of(root))
    assert [c.signee.writer_id for c in result.candidates] == [G1]
    assert result.rejects == [
        Reject(
            "SOURCE_B",
            "INDEX",
            1,
            f"line 1 should be the number of signatures (at most {MAX_COUNT_DIGITS} digits), "
            f"got '{'9' * SHOWN_CHARACTERS}'... (5000 characters) (1 listed)",
            "warning",
        )
    ]


def test_a_count_of_the_maximum_length_is_still_compared() -> None:
    _, rejects = parse_index("9" * MAX_COUNT_DIGITS + "\n")
    assert [r.reason for r in rejects] == [
        f"declared count {'9' * MAX_COUNT_DIGITS} differs from the 0 signature lines"
    ]


def test_a_long_bad_id_is_quoted_shortly() -> None:
    _, rejects = parse_index("1\n" + "x" * 100_000 + "\n")
    assert rejects[0].reason == f"id is not a UUID: {shown('x' * 100_000)}"
    assert len(rejects[0].reason) < 100


@pytest.mark.parametrize("where", ["first", "last-without-newline"])
def test_an_hwr_number_longer_than_the_maximum_is_refused(where: str) -> None:
    long = "1" * (MAX_NUMBER_LENGTH + 1)
    good = b"1,2,3\n" + f"{'1' * MAX_NUMBER_LENGTH},2,3\n".encode()
    assert len(parse_hwr(good)) == 2
    data = f"{long},2,3\n".encode() + good if where == "first" else good + f"4,5,{long}".encode()
    with pytest.raises(HwrError) as caught:
        parse_hwr(data)
    assert caught.value.line_number == (1 if where == "first" else 3)
    axis = "x" if where == "first" else "z"
    assert caught.value.reason == (
        f"{axis} is longer than {MAX_NUMBER_LENGTH} characters: {shown(long)}"
    )


def test_a_sample_number_longer_than_the_maximum_is_refused() -> None:
    digits = "1" * MAX_SAMPLE_DIGITS
    assert parse_file_name(f"001_{digits}.png", "Offline", "Genuine").sample == digits
    with pytest.raises(
        BadNameError, match=f"sample number of 10 digits \\(at most {MAX_SAMPLE_DIGITS}\\)"
    ):
        parse_file_name(f"0010002_{digits}1.HWR", "Online", "Forgeries")
