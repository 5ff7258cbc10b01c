"""Decision 3: HWR files are parsed strictly, per file, with the first bad line named."""

from __future__ import annotations

import pytest

from assets_pkg.signatures.hwr import HwrError, parse_hwr
from assets_pkg.signatures.model import XYZPoint


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param(b"1,2,3\n", [(1.0, 2.0, 3.0)], id="plain"),
        pytest.param(b".5,5.,1e-3\n", [(0.5, 5.0, 0.001)], id="dot-forms-and-exponent"),
        pytest.param(b"-1,+2,1E+2\n", [(-1.0, 2.0, 100.0)], id="signs"),
        pytest.param(b" 1 , 2\t,3  \n", [(1.0, 2.0, 3.0)], id="spaces-and-tabs"),
        pytest.param(b"1,2,3\r\n4,5,6\r\n", [(1.0, 2.0, 3.0), (4.0, 5.0, 6.0)], id="crlf"),
        pytest.param(b"1,2,3\n4,5,6", [(1.0, 2.0, 3.0), (4.0, 5.0, 6.0)], id="no-final-newline"),
        pytest.param(b"\n1,2,3\n  \n\n4,5,6\n", [(1.0, 2.0, 3.0), (4.0, 5.0, 6.0)], id="blank"),
        pytest.param(b"9.0,.0,0\n", [(9.0, 0.0, 0.0)], id="9.0-and-.0"),
        pytest.param(b"\xef\xbb\xbf1,2,3\n", [(1.0, 2.0, 3.0)], id="utf8-bom"),
    ],
)
def test_valid_files_give_their_points_in_order(
    data: bytes, expected: list[tuple[float, float, float]]
) -> None:
    points = parse_hwr(data)
    assert points == tuple(XYZPoint(*p) for p in expected)
    assert all(isinstance(p, XYZPoint) for p in points)


@pytest.mark.parametrize(
    ("data", "line", "reason"),
    [
        pytest.param(b"1,2,3\n4,5\n", 2, "missing value: 2 of 3 values", id="missing-value"),
        pytest.param(b"1,,3\n", 1, "missing value: y is empty", id="empty-field"),
        pytest.param(b"1,2,3,4\n", 1, "extra value: 4 values, expected 3", id="extra-value"),
        pytest.param(
            b"1,2,3\n4,5,6\n7,8,9,\n", 3, "trailing comma after the third value", id="trailing"
        ),
        pytest.param(b"1,2,3\nx,2,3\n", 2, "x is not a decimal number: 'x'", id="text"),
        pytest.param(b"1,2,3e\n", 1, "z is not a decimal number: '3e'", id="bad-exponent"),
        pytest.param(b"1,2,NaN\n", 1, "z is not finite: 'NaN'", id="nan"),
        pytest.param(b"1,-inf,3\n", 1, "y is not finite: '-inf'", id="inf"),
        pytest.param(
            b"1,2,3\n1e999,2,3\n", 2, "x is not finite (overflows a double): '1e999'", id="overflow"
        ),
        pytest.param(b"1_0,2,3\n", 1, "x is not a decimal number: '1_0'", id="underscore"),
        pytest.param(b"0x1,2,3\n", 1, "x is not a decimal number: '0x1'", id="hex"),
        pytest.param(
            "\u0661,2,3\n".encode(), 1, "x is not a decimal number: '\u0661'", id="arabic-digit"
        ),
        pytest.param(b"1 2,3,4\n", 1, "x is not a decimal number: '1 2'", id="inner-space"),
        pytest.param(
            b"1,2,3\n4,\xff5,6\n", 2, "undecodable bytes: not UTF-8 text (byte 8)", id="bytes"
        ),
        pytest.param(
            b"\xef\xbb\xbf1,2,3\n\xff,2,3\n",
            2,
            "undecodable bytes: not UTF-8 text (byte 9)",
            id="bytes-after-a-byte-order-mark",
        ),
    ],
)
def test_invalid_files_are_rejected_with_line_and_reason(
    data: bytes, line: int, reason: str
) -> None:
    with pytest.raises(HwrError) as caught:
        parse_hwr(data)
    assert (caught.value.line_number, caught.value.reason) == (line, reason)


@pytest.mark.parametrize("data", [b"", b"\n\n  \r\n"], ids=["empty", "only-blank-lines"])
def test_a_file_without_points_is_rejected_without_a_line(data: bytes) -> None:
    with pytest.raises(HwrError) as caught:
        parse_hwr(data)
    assert caught.value.line_number is None
    assert caught.value.reason == "no points: the file is empty or holds only blank lines"


def test_the_first_bad_line_is_reported_when_several_are_bad() -> None:
    with pytest.raises(HwrError) as caught:
        parse_hwr(b"1,2,3\n4,5\n6,7,8,9\n")
    assert str(caught.value) == "line 2: missing value: 2 of 3 values"
