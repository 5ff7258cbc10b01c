"""Strict parsing of online signature files (`.HWR`): one `x,y,z` point per line (decision 3).

Every non-blank line must hold exactly three finite decimal numbers separated by commas, with
spaces or tabs allowed around them. Anything else rejects the whole file, naming the first bad
line. Numbers are plain decimals (`5`, `-5`, `.5`, `5.`, `1e-3`); Python's `float()` alone would
also accept `nan`, `inf`, `1_000` and non-ASCII digits, which a pen tablet never writes.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from assets_pkg.signatures.model import XYZPoint
from assets_pkg.signatures.records import shown

MAX_NUMBER_LENGTH = 64
"""A number has at most this many characters (signs, digits, point and exponent included): a
pen tablet writes a dozen; a longer token is refused before it is converted."""

# Every quantifier is possessive (`*+`, `++`, `?+`) and each line is an atomic group (`(?>...)`):
# whatever a piece matched it keeps, so the engine never tries a second way to split the same
# text. That is safe because each piece can only be followed by a character it cannot match
# itself (digits by `.`, `e`, a gap or a comma; a gap by a digit, sign, comma or line end), so
# giving characters back could never help, and it makes a match linear in the file's length:
# each character is read once by the one piece that can take it, a line that fails is tried
# once more as a blank line, and a failing file is not re-split. Without it, a file whose
# numbers are digit runs and whose end is bad made the engine try every split of every run:
# exponential in the number of lines (three lines of 6-digit numbers took seconds).
_NUMBER = r"(?>[+-]?+(?:[0-9]++(?:\.[0-9]*+)?+|\.[0-9]++)(?:[eE][+-]?+[0-9]++)?+)"
_NUMBER_RE = re.compile(_NUMBER)
_GAP = r"[ \t]*+"
_POINT_LINE = rf"{_GAP}{_NUMBER}{_GAP},{_GAP}{_NUMBER}{_GAP},{_GAP}{_NUMBER}{_GAP}"
_LINE = rf"(?>{_POINT_LINE}|{_GAP})\r?+"
_WHOLE_FILE_RE = re.compile(rf"(?:{_LINE}\n)*+{_LINE}")
"""A well-formed file as one regular expression: the fast path checks it in C in one go, in
time linear in the file's size."""


@dataclass(frozen=True)
class HwrError(Exception):
    """Why a file was refused; `line_number` is 1-based, None when no single line is at fault."""

    reason: str
    line_number: int | None = None

    def __str__(self) -> str:
        where = f"line {self.line_number}: " if self.line_number is not None else ""
        return f"{where}{self.reason}"


def parse_hwr(data: bytes) -> tuple[XYZPoint, ...]:
    """The points of an HWR file, or HwrError for the first problem found."""
    text = _decode(data)
    if _WHOLE_FILE_RE.fullmatch(text):
        tokens = text.replace(",", " ").split()
        if tokens and max(map(len, tokens)) > MAX_NUMBER_LENGTH:
            _find_problem(text)  # names the line holding the over-long number
        values = [float(token) for token in tokens]
        points = tuple(
            XYZPoint(x, y, z)
            for x, y, z in zip(values[0::3], values[1::3], values[2::3], strict=True)
        )
        if not all(map(math.isfinite, values)):
            _find_problem(text)  # names the line holding the overflowing number
        if not points:
            raise HwrError("no points: the file is empty or holds only blank lines")
        return points
    _find_problem(text)
    raise AssertionError("unreachable: a file that fails the pattern has a bad line")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        # The codec reports positions in what it decoded: the file after its byte-order mark.
        start = error.start + len(data) - len(error.object)
        line = data.count(b"\n", 0, start) + 1
        raise HwrError(
            f"undecodable bytes: not UTF-8 text (byte {start})", line_number=line
        ) from None


def _find_problem(text: str) -> None:
    """Raise HwrError for the first bad line of `text` (the slow, explaining path)."""
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip(" \t"):
            continue
        fields = line.split(",")
        if len(fields) == 4 and not fields[3].strip(" \t"):
            raise HwrError("trailing comma after the third value", number)
        if len(fields) < 3:
            raise HwrError(f"missing value: {len(fields)} of 3 values", number)
        if len(fields) > 3:
            raise HwrError(f"extra value: {len(fields)} values, expected 3", number)
        for axis, field in zip("xyz", fields, strict=True):
            _check_number(axis, field.strip(" \t"), number)


def _check_number(axis: str, token: str, line_number: int) -> None:
    if not token:
        raise HwrError(f"missing value: {axis} is empty", line_number)
    if len(token) > MAX_NUMBER_LENGTH:
        raise HwrError(
            f"{axis} is longer than {MAX_NUMBER_LENGTH} characters: {shown(token)}", line_number
        )
    if not _NUMBER_RE.fullmatch(token):
        lowered = token.lower().lstrip("+-")
        if lowered in {"nan", "inf", "infinity"}:
            raise HwrError(f"{axis} is not finite: {shown(token)}", line_number)
        raise HwrError(f"{axis} is not a decimal number: {shown(token)}", line_number)
    if not math.isfinite(float(token)):
        raise HwrError(f"{axis} is not finite (overflows a double): {shown(token)}", line_number)
