"""The fast path and the rule book never disagree: a property-based differential test.

Hypothesis writes day files of JSON lines, mostly well formed and then bent in every way a
feed can be (odd strings and escapes, lone surrogates, odd dates and times, huge or odd
numbers, nesting, duplicate keys, whitespace, byte-order marks, line endings, bytes that
are not UTF-8), and checks that `parse_day_files` gives exactly what the rule book gives
on each whole file, whether a file is parsed whole or in pieces. Under
HYPOTHESIS_PROFILE=long it tries many more files from a fresh seed (profiles are registered in
conftest.py).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal
from upath import UPath

from assets_pkg.purchases.feed import DayFile
from assets_pkg.purchases.parse import Parsed, parse_day_files, parse_reference

from ..fuzzing import fuzz_settings

EXAMPLES = 250
FOLDER_DAY = dt.date(2024, 1, 3)


# ---- JSON text, token by token ---------------------------------------------------------------
#
# Most lines are plainly valid, the way the feed writes them, so that DuckDB reads most files;
# a bent line is a plain one with one part (sometimes more) replaced by something odd.

_ODD_TEXT = st.one_of(
    st.text(max_size=5),
    st.sampled_from(["", " ", "C 1", "Cé", "P€", 'a"b', "a\\b", "\u2028", "\x00", "\x7f", "\t"]),
    st.sampled_from(["\u3000", "\xa0 ", "\x85", "\u2003C\u2003"]),  # Unicode white space
    st.sampled_from(["é" * 40, "€" * 30, "C" * 200]),  # long: DuckDB's messages cut them
)


@st.composite
def _odd_string(draw: st.DrawFn) -> str:
    """A JSON string literal spelled in an odd way, some of them invalid."""
    value = draw(_ODD_TEXT)
    spelling = draw(
        st.sampled_from(["plain", "escaped", "lone surrogate", "pair", "raw", "bad escape"])
    )
    if spelling == "plain":
        return json.dumps(value, ensure_ascii=False)
    if spelling == "escaped":
        return json.dumps(value, ensure_ascii=True)
    if spelling == "lone surrogate":
        half = draw(st.sampled_from(["\\ud800", "\\udbff", "\\udc00", "\\udfff", "\\ud83d"]))
        return json.dumps(value)[:-1] + half + '"'
    if spelling == "pair":
        return json.dumps(value)[:-1] + '\\ud83d\\ude00"'
    if spelling == "raw":
        return f'"{value}"'  # unescaped quotes, backslashes and control characters
    return json.dumps(value)[:-1] + draw(st.sampled_from(["\\x41", "\\u12", "\\'", "\\"])) + '"'


_NUMBER = st.one_of(
    st.integers(-1000, 1000).map(str),
    st.sampled_from([2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30]).map(str),
    st.just("9" * 5000),
    st.sampled_from(["1e2", "1E400", "-0", "-0.0", "0.5", "5.", ".5", "01", "+1", "0x1F", "1_0"]),
    st.sampled_from(["NaN", "Infinity", "-Infinity", "nan", "inf", "-inf", "INF", "infinity"]),
)
_SCALAR = st.one_of(
    st.sampled_from(["null", "true", "false", "True", "nul"]), _NUMBER, _odd_string()
)


def _array(items: list[str], trailing_comma: bool = False) -> str:
    return "[" + ", ".join(items) + (", " if trailing_comma and items else "") + "]"


def _object(pairs: list[tuple[str, str]], trailing_comma: bool = False) -> str:
    body = ", ".join(f"{key}: {value}" for key, value in pairs)
    return "{" + body + (", " if trailing_comma and pairs else "") + "}"


_KEY = st.sampled_from(['"note"', '"size"', '""', '"Basket"', '"PRICE"', '"x\\u0000"'])
_VALUE = st.one_of(
    _SCALAR,
    st.builds(_array, st.lists(_SCALAR, max_size=2), st.booleans()),
    st.builds(_object, st.lists(st.tuples(_KEY, _SCALAR), max_size=2), st.booleans()),
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),
)


def _two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02}")


@st.composite
def _odd_date(draw: st.DrawFn) -> str:
    """A date and time near the feed's form: every part can be bent."""
    year = draw(
        st.one_of(
            st.integers(1, 9999).map(lambda y: f"{y:04}"),
            st.sampled_from(["0000", "10000", "24", "+2024"]),
        )
    )
    month = draw(st.one_of(_two(1, 12), st.sampled_from(["00", "13", "2"])))
    text = f"{year}-{month}-{draw(_two(0, 32))}"
    separator = draw(st.sampled_from([" ", " ", "T", "t", "  ", "_", None]))
    if separator is None:
        return json.dumps(text)  # a date without a time
    text += f"{separator}{draw(_two(0, 25))}:{draw(_two(0, 61))}"
    if draw(st.integers(0, 5)):
        text += f":{draw(_two(0, 61))}"
    if draw(st.booleans()):
        text += draw(st.sampled_from(["", ".5", ".250", ".123456", ".1234567", ",5"]))
    if draw(st.booleans()):
        text += draw(st.sampled_from(["", "Z", "+01:00", "-05:30", "+24:00", "+0100", "+01"]))
    if not draw(st.integers(0, 5)):
        text = draw(st.sampled_from([f" {text}", f"{text} ", text.replace("-", "/")]))
    return json.dumps(text)


def _odd(draw: st.DrawFn, one_in: int) -> bool:
    """True once in `one_in` draws."""
    return not draw(st.integers(0, one_in - 1))


@st.composite
def _item(draw: st.DrawFn, bent: bool) -> str:
    pairs = [
        ('"product_id"', f'"P{draw(st.integers(0, 999))}"'),
        ('"price"', str(draw(st.integers(0, 9999)))),
    ]
    if not bent:
        return _object(pairs)
    bend = draw(st.sampled_from(["product_id", "price", "drop", "extra", "dup", "scalar", "comma"]))
    if bend == "product_id":
        pairs[0] = ('"product_id"', draw(st.one_of(_odd_string(), _SCALAR)))
    elif bend == "price":
        pairs[1] = ('"price"', draw(_NUMBER))
    elif bend == "drop":
        del pairs[draw(st.integers(0, 1))]
    elif bend == "extra":
        pairs.insert(draw(st.integers(0, 2)), (draw(_KEY), draw(_VALUE)))
    elif bend == "dup":
        pairs.append((draw(st.sampled_from([k for k, _ in pairs])), draw(_SCALAR)))
    elif bend == "scalar":
        return draw(_SCALAR)  # an item that is not an object
    return _object(pairs, trailing_comma=bend == "comma")


_RECORD_BENDS = [
    "customer_id", "basket", "date", "date", "date", "item", "item", "drop", "extra",
    "dup", "order", "comma", "escaped keys", "spacing",
]  # fmt: skip


@st.composite
def _record(draw: st.DrawFn) -> str:
    """One record; `bends` parts of it replaced by something odd."""
    bends = draw(st.lists(st.sampled_from(_RECORD_BENDS), max_size=2)) if _odd(draw, 3) else []
    size = draw(st.integers(0, 3))
    bent_item = draw(st.integers(0, max(size - 1, 0))) if "item" in bends else -1
    basket = [draw(_item(bent=i == bent_item)) for i in range(size)]
    day = f"2024-01-{draw(_two(1, 28))}"
    moment = f"{day} {draw(_two(0, 23))}:{draw(_two(0, 59))}:{draw(_two(0, 59))}"
    pairs = [
        ('"customer_id"', f'"C{draw(st.integers(0, 99999))}"'),
        ('"basket"', _array(basket)),
        ('"date_of_purchase"', f'"{moment}"'),
    ]
    for bend in sorted(bends, key=_RECORD_BENDS.index):  # values first, then the structure
        if bend == "customer_id":
            pairs[0] = ('"customer_id"', draw(st.one_of(_odd_string(), _SCALAR)))
        elif bend == "basket":
            pairs[1] = ('"basket"', draw(_VALUE))
        elif bend == "date":
            pairs[2] = ('"date_of_purchase"', draw(st.one_of(_odd_date(), _SCALAR)))
        elif bend == "drop" and pairs:
            del pairs[draw(st.integers(0, len(pairs) - 1))]
        elif bend == "extra":
            pairs.insert(draw(st.integers(0, len(pairs))), (draw(_KEY), draw(_VALUE)))
        elif bend == "dup" and pairs:
            pairs.append((draw(st.sampled_from([k for k, _ in pairs])), draw(_VALUE)))
        elif bend == "order":
            pairs = draw(st.permutations(pairs))
        elif bend == "escaped keys":
            pairs = [(key.replace("_", "\\u005f"), value) for key, value in pairs]
    line = _object(pairs, trailing_comma="comma" in bends)
    if "spacing" in bends:
        line = line.replace(", ", draw(st.sampled_from([",", " , ", ",\t", ",\r", ",\x0c"])))
    return line


_ODD_BYTES = [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\xef\xbb\xbf", b"\x00", b"\r"]


@st.composite
def _line(draw: st.DrawFn) -> bytes:
    """One line: a record, maybe bent at the byte level, or something else entirely."""
    kind = draw(st.integers(0, 29))
    if kind == 0:
        return draw(st.binary(max_size=30)).replace(b"\n", b"")
    if kind == 1:
        return draw(st.sampled_from([b"", b"   ", b"\t", b"[]", b"{}", b"null", b'"x"', b"1"]))
    data = draw(_record()).encode("utf-8", errors="surrogatepass")
    if kind == 2:  # two records on one line
        data += b" " + draw(_record()).encode("utf-8", errors="surrogatepass")
    elif kind == 3:  # a few bytes changed, inserted or cut
        at = draw(st.integers(0, len(data)))
        change = draw(st.sampled_from(_ODD_BYTES))
        data = data[:at] + change + data[at + draw(st.integers(0, 2)) :]
    elif kind == 4:
        data = data[: draw(st.integers(0, len(data)))]
    return data


@st.composite
def _day_file(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(_line(), max_size=5))
    endings = [b"\r\n" if _odd(draw, 5) else b"\n" for _ in lines]
    data = b"".join(line + end for line, end in zip(lines, endings, strict=True))
    if data and _odd(draw, 4):
        data = data.removesuffix(b"\n").removesuffix(b"\r")  # no final newline
    if _odd(draw, 20):
        data = b"\xef\xbb\xbf" + data
    return data


# ---- the property -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("differential")


@fuzz_settings(EXAMPLES)
@given(
    contents=st.lists(_day_file(), min_size=1, max_size=3),
    slice_bytes=st.one_of(st.none(), st.integers(1, 300)),
)
def test_differential_fast_path_equals_rule_book(
    contents: list[bytes],
    slice_bytes: int | None,
    folder: Path,
    connection: duckdb.DuckDBPyConnection,
) -> None:
    """Also when the files are parsed in slices: a file longer than a slice in pieces of
    whole lines, each piece on its own path."""
    files = []
    for number, data in enumerate(contents):
        path = folder / f"part-{number}.json"
        path.write_bytes(data)
        files.append(DayFile(FOLDER_DAY, UPath(path), f"transactions/d={FOLDER_DAY}/{path.name}"))
    expected = Parsed.concat(
        [parse_reference(data, f) for data, f in zip(contents, files, strict=True)]
    )
    actual = parse_day_files(files, connection, slice_bytes=slice_bytes)
    assert_frame_equal(actual.items, expected.items)
    assert_frame_equal(actual.rejects, expected.rejects)
