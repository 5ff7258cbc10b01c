"""Fuzzing the two parsers of untrusted text: HWR files and INDEX files.

HWR: whatever the bytes, parsing costs about as much per byte as parsing a normal file of the
same size (a regular expression that backtracks makes some files exponentially slow). INDEX:
whatever the text, the parser returns entries and Reject rows and never raises.

    HYPOTHESIS_PROFILE=long .venv/bin/pytest -p no:cacheprovider assets_pkg_tests/signatures -k fuzz
"""

from __future__ import annotations

import contextlib
import math
import time
from functools import cache

from hypothesis import example, given
from hypothesis import strategies as st

from assets_pkg.signatures.hwr import HwrError, parse_hwr
from assets_pkg.signatures.records import Reject
from assets_pkg.signatures.source_b import IndexEntry, parse_index

from ..fuzzing import fuzz_settings

MAX_SLOWDOWN = 20
"""Parsing any file may cost at most this many times the time per byte of a normal file."""

# Pieces a hostile or broken HWR file is made of: long digit runs, signs, points, exponents,
# words, separators in the wrong number, blanks and carriage returns.
_DIGITS = st.integers(1, 64).map(lambda n: "7" * n) | st.from_regex(r"[0-9]{1,64}", fullmatch=True)
_NUMBERS = st.tuples(
    st.sampled_from(["", "+", "-", "--", "+-"]),
    _DIGITS,
    st.sampled_from(["", ".", ".5", "." + "0" * 40, ".."]),
    st.sampled_from(["", "e", "E+", "e-", "e7", "E-308", "e99999", "e+" + "9" * 30]),
).map("".join)
_TOKENS = _NUMBERS | st.sampled_from(["", " ", "\t", "nan", "-inf", "1_0", "0x1", "\u0661", "x"])
_SEPARATORS = st.sampled_from([",", ",", ",", ", ", " ,", ",,", " ", "\t,", ",\r", ""])
_LINES = st.lists(st.tuples(_TOKENS, _SEPARATORS), min_size=0, max_size=6).map(
    lambda pairs: "".join(token + separator for token, separator in pairs).rstrip(",")
)
_BODIES = st.tuples(st.lists(_LINES, min_size=1, max_size=4), st.integers(1, 12)).map(
    lambda drawn: drawn[0] * drawn[1]  # a few line shapes, repeated: long files stay cheap to draw
)
_ENDINGS = ("", "\n", "\r", "x", ",", " ", "\r\n")
"""Every body is tried with each of these after its last line."""


def _timed(data: bytes, repeat: int) -> float:
    """The fastest of `repeat` parses, in seconds (the minimum filters out the host's noise)."""
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        with contextlib.suppress(HwrError):
            parse_hwr(data)
        best = min(best, time.perf_counter() - start)
    return best


@cache
def _normal_file(size: int) -> bytes:
    """A well-formed HWR file of at least `size` bytes, as a pen tablet writes them."""
    lines: list[str] = []
    total = 0
    while total < size or not lines:
        n = len(lines)
        line = f"{500 + n * 0.37:.2f},{300 - n * 0.19:.2f},{(n % 97) / 97:.3f}\n"
        lines.append(line)
        total += len(line)
    return "".join(lines).encode()


def assert_linear(data: bytes) -> None:
    """Parsing `data` costs at most MAX_SLOWDOWN times a normal file of the same size, per byte."""
    normal = _normal_file(max(len(data), 1))
    for repeat in (3, 30):  # measure again, longer, before calling a slow file slow
        ratio = (_timed(data, repeat) / max(len(data), 1)) / (_timed(normal, repeat) / len(normal))
        if ratio <= MAX_SLOWDOWN:
            return
    raise AssertionError(
        f"parsing {len(data)} bytes cost {ratio:.0f} times a normal file per byte: {data[:200]!r}"
    )


def assert_parses_or_names_a_line(data: bytes) -> None:
    """`parse_hwr` returns finite points or raises HwrError with a reason and a real line."""
    problem: HwrError | None = None
    try:
        points = parse_hwr(data)
    except HwrError as error:
        problem = error
    if problem is None:
        assert all(len(point) == 3 and all(map(math.isfinite, point)) for point in points)
    else:
        assert problem.reason
        line = problem.line_number
        assert line is None or 1 <= line <= data.count(b"\n") + 1


def test_long_digit_runs_with_a_bad_end_parse_in_linear_time() -> None:
    digits = "1" * 5
    # Before the pattern was made possessive, this 54-byte file took a second to refuse.
    assert_linear(
        f"{digits},{digits},{digits}\n".encode() * 2 + f"{digits},{digits},{digits}x".encode()
    )


@fuzz_settings(examples=150)
@given(_BODIES, st.sampled_from(["\n", "\r\n"]))
@example(["1" * 30 + "," + "1" * 30 + "," + "1" * 30] * 8, "\n")
def test_fuzz_hwr_parsing_time_stays_linear(lines: list[str], newline: str) -> None:
    body = newline.join(lines)
    for ending in _ENDINGS:
        data = (body + ending).encode()
        assert_parses_or_names_a_line(data)
        assert_linear(data)
    assert_linear((("1,2,3" + newline) * 20 + body + "x").encode())  # a bad end, late


_UUIDS = st.uuids().map(str)
_INDEX_LINES = st.one_of(
    _UUIDS,
    st.tuples(_UUIDS, st.sampled_from(["    ", "\t", " "]), _UUIDS).map("".join),
    st.text(max_size=80),
    st.from_regex(r"[0-9a-fA-F-]{0,40}", fullmatch=True),
    st.integers(1, 6000).map(lambda n: "9" * n),
)


@fuzz_settings(examples=100)
@given(st.lists(_INDEX_LINES, max_size=30), st.sampled_from(["\n", "\r\n"]), st.booleans())
def test_fuzz_index_parsing_never_raises(lines: list[str], newline: str, bom: bool) -> None:
    text = ("\ufeff" if bom else "") + newline.join(lines)
    entries, rejects = parse_index(text.encode().decode("utf-8-sig", errors="replace"))
    assert all(isinstance(entry, IndexEntry) for entry in entries)
    assert all(isinstance(reject, Reject) and len(reject.reason) < 200 for reject in rejects)


@fuzz_settings(examples=200)
@given(st.binary(max_size=2000))
def test_fuzz_index_bytes_never_raise(data: bytes) -> None:
    entries, rejects = parse_index(data.decode("utf-8-sig", errors="replace"))
    assert all(isinstance(reject, Reject) for reject in rejects)
    assert len(entries) + len(rejects) <= data.count(b"\n") + 2
