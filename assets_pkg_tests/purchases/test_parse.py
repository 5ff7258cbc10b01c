"""Day files → basket items and rejects: the rule book, and the DuckDB fast path held to it."""

from __future__ import annotations

import datetime as dt
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import cast

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from upath import UPath

from assets_pkg.purchases import parse, schemas
from assets_pkg.purchases.feed import DayFile
from assets_pkg.purchases.parse import Parsed, parse_day_files, parse_purchase_time, parse_reference

from .feed_builder import moment, purchase, record, watched_fifo

FOLDER_DAY = dt.date(2024, 1, 3)
WHEN = "2024-01-03 11:09:00"
GOOD = purchase("C1", WHEN, "P3", "P4", price=506)
GOOD_2 = purchase("C2", "2024-01-02 23:59:59", "P3", price=7)
DATE = f'"date_of_purchase": "{WHEN}"'

Parser = Callable[[Path | UPath, DayFile], Parsed]


def _day_file(tmp_path: Path, name: str, data: bytes, day: dt.date = FOLDER_DAY) -> DayFile:
    path = tmp_path / name / f"d={day}" / "transactions.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(data)
    return DayFile(day, UPath(path), f"{name}/transactions.json")


def _reference(path: Path | UPath, file: DayFile) -> Parsed:
    return parse_reference(path.read_bytes(), file)


def _fast(path: Path | UPath, file: DayFile) -> Parsed:
    return parse_day_files([file], duckdb.connect())


def _items(rows: list[tuple[str, str, str, int | None, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(moment(w), c, p, price, f, n, FOLDER_DAY) for w, c, p, price, f, n in rows],
        schema=schemas.ITEMS,
        orient="row",
    )


def _rejects(rows: list[tuple[str, int, str, str]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(f, n, text, reason, FOLDER_DAY) for f, n, text, reason in rows],
        schema=schemas.REJECTS,
        orient="row",
    )


def _assert_same(actual: Parsed, expected: Parsed) -> None:
    assert_frame_equal(actual.items, expected.items)
    assert_frame_equal(actual.rejects, expected.rejects)


# ---- the rules, exactly, through both paths ------------------------------------------------

NOT_JSON = "not json {"
NO_CUSTOMER = record(basket=[{"product_id": "P1", "price": 1}], date_of_purchase=WHEN)
NO_BASKET = record(customer_id="C2", date_of_purchase=WHEN)
NO_DATE = record(customer_id="C2", basket=[{"product_id": "P1", "price": 1}])
BASKET_NOT_LIST = record(customer_id="C2", basket={"product_id": "P1"}, date_of_purchase=WHEN)
BAD_DATE = record(
    customer_id="C2", basket=[{"product_id": "P1", "price": 1}], date_of_purchase="03/01/2024"
)
ITEM_WITHOUT_ID = record(
    customer_id="C3", basket=[{"price": 5}, {"product_id": "P2", "price": 7}], date_of_purchase=WHEN
)
LAST = purchase("C4", "2024-01-04 00:30:00", "P1", price=9)

EVERY_RULE = (
    "\r\n".join(
        [
            "",  # 1: blank
            GOOD.replace('"P4"', '"P3"'),  # 2: the same product twice
            NOT_JSON,  # 3
            NO_CUSTOMER,  # 4
            NO_BASKET,  # 5
            NO_DATE,  # 6
            BASKET_NOT_LIST,  # 7
            BAD_DATE,  # 8
            "   ",  # 9: blank
            ITEM_WITHOUT_ID,  # 10
            LAST,  # 11, without a final newline
        ]
    )
).encode()


@pytest.mark.parametrize("parser", [_reference, _fast], ids=["reference", "fast path"])
def test_every_rule_with_its_reason_and_line_number(tmp_path: Path, parser: Parser) -> None:
    file = _day_file(tmp_path, "f", EVERY_RULE)
    parsed = parser(file.path, file)
    name = "f/transactions.json"
    expected_items = _items(
        [
            (WHEN, "C1", "P3", 506, name, 2),
            (WHEN, "C1", "P3", 506, name, 2),
            (WHEN, "C3", "P2", 7, name, 10),
            ("2024-01-04 00:30:00", "C4", "P1", 9, name, 11),
        ]
    )
    expected_rejects = _rejects(
        [
            (
                name,
                3,
                NOT_JSON,
                "line is not valid JSON (JSONDecodeError: Expecting value: line 1 column 1 "
                "(char 0))",
            ),
            (name, 4, NO_CUSTOMER, "customer_id is missing"),
            (name, 5, NO_BASKET, "basket is missing"),
            (name, 6, NO_DATE, "date_of_purchase is missing"),
            (name, 7, BASKET_NOT_LIST, "basket is not a list (it is a JSON object)"),
            (name, 8, BAD_DATE, 'date_of_purchase "03/01/2024" does not parse as a date and time'),
            (name, 10, ITEM_WITHOUT_ID, "basket item 1 has no product_id"),
        ]
    )
    _assert_same(parsed, Parsed(expected_items, expected_rejects))


def test_a_clean_file_gives_typed_items_in_line_order(tmp_path: Path) -> None:
    file = _day_file(tmp_path, "clean", f"{GOOD}\n{GOOD_2}\n".encode())
    name = "clean/transactions.json"
    expected = _items(
        [
            (WHEN, "C1", "P3", 506, name, 1),
            (WHEN, "C1", "P4", 506, name, 1),
            ("2024-01-02 23:59:59", "C2", "P3", 7, name, 2),
        ]
    )
    _assert_same(parse_day_files([file], duckdb.connect()), Parsed(expected, _rejects([])))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-09-01 11:09:00", dt.datetime(2018, 9, 1, 11, 9)),
        ("2018-09-01T11:09:00.250", dt.datetime(2018, 9, 1, 11, 9, 0, 250000)),
        ("2018-09-01 11:09", dt.datetime(2018, 9, 1, 11, 9)),
        ("2018-09-01T01:09:00+02:00", dt.datetime(2018, 8, 31, 23, 9)),
        ("2018-09-01", None),
        # A bare date and an offset, or another separator, is no time of day.
        ("2018-09-01-05:00", None),
        ("2018-09-01+01:00:00", None),
        ("2018-09-01/11:09:00", None),
        ("2018-09-01_11:09:00", None),
        ("2018-09-01\u300011:09:00", None),
        ("2018-02-30 11:09:00", None),
        ("yesterday", None),
        (20180901, None),
        (None, None),
    ],
)
def test_purchase_time(text: object, expected: dt.datetime | None) -> None:
    assert parse_purchase_time(text) == expected


# ---- the fast path equals the rule book ----------------------------------------------------


def _line(customer: str = '"C1"', basket: str = '[{"product_id": "P3", "price": 5}]') -> bytes:
    return f'{{"customer_id": {customer}, "basket": {basket}, {DATE}}}'.encode()


G = GOOD.encode()
CASES: dict[str, bytes] = {
    "clean": G + b"\n" + GOOD_2.encode() + b"\n",
    "one line": G + b"\n",
    "no final newline": G + b"\n" + G,
    "crlf": G + b"\r\n" + G + b"\r\n",
    "crlf on some lines": G + b"\n" + G + b"\r\n" + G,
    "lone carriage returns": G + b"\r" + G + b"\r",
    "blank lines": b"\n" + G + b"\n\n" + G + b"\n\n",
    "whitespace-only line": G + b"\n   \n" + G + b"\n",
    "spaces around a line": b"  " + G + b"  \n",
    "empty file": b"",
    "only a newline": b"\n",
    "only spaces": b"   ",
    "utf-8 bom": b"\xef\xbb\xbf" + G + b"\n",
    "bom on a later line": G + b"\n\xef\xbb\xbf" + G + b"\n",
    "bad utf-8 bytes": G + b"\n" + _line(customer='"C\xff"') + b"\n",
    "nul byte line": G + b"\n\x00\n",
    "non-ascii ids": _line('"Cé"', '[{"product_id": "P€", "price": 5}]') + b"\n",
    "escaped strings": _line('"C\\u0031"', '[{"product_id": "P\\"3\\u00e9", "price": 5}]') + b"\n",
    "numeric customer_id": _line("17") + b"\n",
    "null customer_id": _line("null") + b"\n",
    "empty customer_id": _line('""') + b"\n",
    "blank customer_id": _line('"  "') + b"\n",
    "object customer_id": _line('{"id": "C1"}') + b"\n",
    "customer_id with spaces kept": _line('" C1 "') + b"\n",
    "differently cased key": _line().replace(b'"customer_id"', b'"Customer_ID"') + b"\n",
    "duplicate key": _line().replace(b"{", b'{"customer_id": "C9", ', 1) + b"\n",
    "duplicate basket": _line().replace(b"{", b'{"basket": [{"product_id": "P9"}], ', 1) + b"\n",
    "duplicate key spelt with an escape": _line().replace(b"{", b'{"bask\\u0065t": [], ', 1)
    + b"\n",
    "duplicate product_id": _line(basket='[{"product_id": "P1", "product_id": "P3", "price": 5}]')
    + b"\n",
    "duplicate price": _line(basket='[{"product_id": "P3", "price": 5, "price": 6}]') + b"\n",
    "a value spelt like a key": _line(basket='[{"product_id": "basket", "price": 5}]') + b"\n",
    "float price": _line(basket='[{"product_id": "P3", "price": 5.5}]') + b"\n",
    "exponent price": _line(basket='[{"product_id": "P3", "price": 1e2}]') + b"\n",
    "string price": _line(basket='[{"product_id": "P3", "price": "5"}]') + b"\n",
    "boolean price": _line(basket='[{"product_id": "P3", "price": true}]') + b"\n",
    "negative price": _line(basket='[{"product_id": "P3", "price": -5}]') + b"\n",
    "price beyond int64": _line(basket='[{"product_id": "P3", "price": 99999999999999999999}]')
    + b"\n",
    "no price": _line(basket='[{"product_id": "P3"}]') + b"\n",
    "NaN price": _line(basket='[{"product_id": "P3", "price": NaN}]') + b"\n",
    "extra fields": _line(basket='[{"product_id": "P3", "price": 5, "size": "L"}]')[:-1]
    + b', "store": 4}\n',
    "empty basket": _line(basket="[]") + b"\n",
    "null basket": _line(basket="null") + b"\n",
    "basket a string": _line(basket='"P3"') + b"\n",
    "basket of numbers": _line(basket="[1, 2]") + b"\n",
    "null basket item": _line(basket='[null, {"product_id": "P3", "price": 5}]') + b"\n",
    "item without product_id": _line(basket='[{"price": 1}, {"product_id": "P3", "price": 5}]')
    + b"\n",
    "numeric product_id": _line(basket='[{"product_id": 3, "price": 5}]') + b"\n",
    "empty product_id": _line(basket='[{"product_id": "", "price": 5}]') + b"\n",
    "date without seconds": G.replace(b"11:09:00", b"11:09") + b"\n",
    "date with T and offset": G.replace(b" 11:09:00", b"T11:09:00+01:00") + b"\n",
    "date only": G.replace(b" 11:09:00", b"") + b"\n",
    "date 24:00": G.replace(b"11:09:00", b"24:00:00") + b"\n",
    "february 30": G.replace(b"01-03", b"02-30") + b"\n",
    "numeric date": G.replace(b'"2024-01-03 11:09:00"', b"20240103") + b"\n",
    "not json": b"not json\n" + G + b"\n",
    "a json array": b"[1, 2]\n" + G + b"\n",
    "two objects on a line": G + b" " + G + b"\n",
    "object over two lines": b'{"customer_id": "C1",\n"basket": [], ' + DATE.encode() + b"}\n",
    "trailing comment": G + b" // note\n",
    "single quotes": b"{'customer_id': 'C1'}\n",
    "leading zero": G.replace(b"506", b"0506") + b"\n",
    "lone surrogate in customer_id": _line('"C\\ud800 1"') + b"\n",
    "lone surrogate in product_id": _line(
        basket='[{"product_id": "P\\udc00", "price": 5}, {"product_id": "P3", "price": 5}]'
    )
    + b"\n",
    "lone surrogate in the date": G.replace(b'00"', b'00\\ud800"') + b"\n",
    "lone surrogate in another field": _line()[:-1] + b', "note": "\\ud800"}\n',
    "surrogate pair": _line('"C\\ud83d\\ude00"') + b"\n",
    "leap second": G.replace(b"11:09:00", b"23:59:60") + b"\n",
    "year 0": G.replace(b"2024-01-03", b"0000-01-03") + b"\n",
    "year 10000": G.replace(b"2024-01-03", b"10000-01-03") + b"\n",
    "offset beyond year 9999": G.replace(b"2024-01-03 11:09:00", b"9999-12-31T23:59:59-01:00")
    + b"\n",
    "trailing comma in an item": _line(basket='[{"product_id": "P3", "price": 5 ,}]') + b"\n",
    "trailing comma in the basket": _line(basket='[{"product_id": "P3", "price": 5},\t]') + b"\n",
    "nan in another field": _line()[:-1] + b', "score": nan}\n',
    "Infinity in another field": _line()[:-1] + b', "score": -Infinity}\n',
    "inf price": _line(basket='[{"product_id": "P3", "price": INF}]') + b"\n",
    "deep nesting in another field": _line()[:-1] + b', "x": ' + b"[" * 5000 + b"]" * 5000 + b"}\n",
    "integer of 5000 digits in another field": _line()[:-1] + b', "x": ' + b"9" * 5000 + b"}\n",
    "price of 5000 digits": _line(basket='[{"product_id": "P3", "price": %s}]' % ("9" * 5000))
    + b"\n",
    # A plain file (ASCII, no backslash, no control byte but the newline) is judged by counts
    # of quotes, commas and brackets: each of these keeps the counts a clean file would have.
    "a number for an id and a string for a price": _line(
        "17", '[{"product_id": "P3", "price": "5"}]'
    )
    + b"\n",
    "a key swapped for another": _line().replace(b'"date_of_purchase"', b'"date_of_sale"') + b"\n",
    "a comma inside an id": _line('"C,1"', '[{"product_id": "P,3", "price": 5}]') + b"\n",
    "a comma inside an id and a trailing comma": _line(
        '"C,1"', '[{"product_id": "P3", "price": 5},]'
    )
    + b"\n",
    "a tab between tokens": _line().replace(b", ", b",\t") + b"\n",
    "an item spelt as an array": _line(basket='[["product_id", "P3", "price", 5]]') + b"\n",
}


@pytest.mark.parametrize("name", list(CASES))
def test_fast_path_equals_rule_book_on_one_file(
    tmp_path: Path, name: str, connection: duckdb.DuckDBPyConnection
) -> None:
    file = _day_file(tmp_path, "case", CASES[name])
    _assert_same(parse_day_files([file], connection), _reference(file.path, file))


UNICODE_SPACES = [chr(code) for code in range(0x20, 0x110000) if chr(code).isspace()]
"""White space that `str.strip()` removes and a JSON string may hold as it is (no escape)."""


@pytest.mark.parametrize("space", UNICODE_SPACES, ids=lambda space: f"U+{ord(space):04X}")
def test_an_id_of_unicode_white_space_alone_is_blank_on_both_paths(
    tmp_path: Path, space: str, connection: duckdb.DuckDBPyConnection
) -> None:
    """Such an id is refused by the rule book, so the fast path must not take its file, or the
    same line would count or not depending on the rest of the file."""
    blank, padded = (
        json.dumps(space * 2, ensure_ascii=False),
        json.dumps(f"{space}C1{space}", ensure_ascii=False),
    )
    data = b"\n".join(
        [
            _line(customer=blank),
            _line(basket=f'[{{"product_id": {blank}, "price": 5}}]'),
            _line(customer=padded),  # an id with white space around it is an id
            b"",
        ]
    )
    file = _day_file(tmp_path, "spaces", data)
    expected = _reference(file.path, file)
    assert expected.rejects.get_column("reason").to_list() == [
        "customer_id is not a non-empty string",
        "basket item 1 has a product_id that is not a non-empty string",
    ]
    assert expected.items.get_column("customer_id").to_list() == [f"{space}C1{space}"]
    _assert_same(parse_day_files([file], connection), expected)


@pytest.mark.parametrize("parser", [_reference, _fast], ids=["reference", "fast path"])
def test_a_key_given_twice_is_quarantined_not_silently_overwritten(
    tmp_path: Path, parser: Parser
) -> None:
    """JSON parsers keep the last of two equal keys without a word: the first basket, id or
    date would vanish."""
    data = b"".join(
        CASES[name]
        for name in (
            "duplicate key",
            "duplicate basket",
            "duplicate key spelt with an escape",
            "duplicate product_id",
            "duplicate price",
        )
    )
    file = _day_file(tmp_path, "twice", data)
    parsed = parser(file.path, file)
    assert parsed.rejects.select("line_number", "reason").rows() == [
        (1, "customer_id given more than once: which value is meant is unknown"),
        (2, "basket given more than once: which value is meant is unknown"),
        (3, "basket given more than once: which value is meant is unknown"),
        (4, "basket item 1 gives product_id more than once"),
    ]
    # A price given twice is a price in doubt: the item counts, its price is null.
    assert parsed.items.select("line_number", "product_id", "price").rows() == [(5, "P3", None)]


def test_fast_path_equals_rule_book_on_a_batch_mixing_good_and_bad_files(tmp_path: Path) -> None:
    files = [
        _day_file(tmp_path, f"f{i:02}", data, FOLDER_DAY + dt.timedelta(days=i % 9))
        for i, data in enumerate([*CASES.values(), EVERY_RULE])
    ]
    expected = Parsed.concat([_reference(f.path, f) for f in files])
    assert (expected.items.height, expected.rejects.height) == (74, 56)  # the table is no toy
    _assert_same(parse_day_files(files, duckdb.connect()), expected)


def test_clean_files_go_through_duckdb_not_the_rule_book(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [
        "clean",
        "one line",
        "no final newline",
        "non-ascii ids",
        "extra fields",
        "a comma inside an id",
    ]
    files = [_day_file(tmp_path, f"f{i}", CASES[name]) for i, name in enumerate(names)]
    expected = Parsed.concat([_reference(f.path, f) for f in files])

    def refuse(data: bytes, file: DayFile) -> Parsed:
        raise AssertionError(f"{file.source_file} was sent to the rule book")

    monkeypatch.setattr(parse, "parse_reference", refuse)
    _assert_same(parse_day_files(files, duckdb.connect()), expected)


BOM = b"\xef\xbb\xbf"


def test_a_byte_order_mark_at_the_start_of_a_file_is_no_part_of_its_first_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rule of every reader of the project (CSV, INDEX, HWR, JSON Lines): a UTF-8 BOM
    that starts a file is skipped. Both paths count the first line; the fast path keeps the
    file (nothing is sent to the rule book). A BOM anywhere else is part of its line."""
    file = _day_file(tmp_path, "bom", BOM + G + b"\n" + GOOD_2.encode() + b"\n")
    name = "bom/transactions.json"
    expected = Parsed(
        _items(
            [
                (WHEN, "C1", "P3", 506, name, 1),
                (WHEN, "C1", "P4", 506, name, 1),
                ("2024-01-02 23:59:59", "C2", "P3", 7, name, 2),
            ]
        ),
        _rejects([]),
    )
    _assert_same(_reference(file.path, file), expected)
    rule_book = parse.parse_reference

    def refuse(data: bytes, file: DayFile) -> Parsed:
        raise AssertionError(f"{file.source_file} was sent to the rule book")

    monkeypatch.setattr(parse, "parse_reference", refuse)
    _assert_same(parse_day_files([file], duckdb.connect()), expected)
    monkeypatch.setattr(parse, "parse_reference", rule_book)
    # On the rule-book path too (a file with a bad line goes there whole).
    mixed = _day_file(tmp_path, "mixed", BOM + G + b"\nnot json\n" + BOM + G + b"\n")
    parsed = parse_day_files([mixed], duckdb.connect())
    assert parsed.items.get_column("line_number").to_list() == [1, 1]
    assert parsed.rejects.select("line_number", "raw_text").rows() == [
        (2, "not json"),
        (3, (BOM + G).decode()),
    ]
    _assert_same(parsed, _reference(mixed.path, mixed))


def test_a_line_over_the_limit_is_quarantined_with_the_start_of_its_text(tmp_path: Path) -> None:
    """The limit is a parameter: a 300 kB line under a 100 kB limit. The line is never
    parsed, the lines around it count with their own numbers, on the fast path's batch as
    on the rule book."""
    huge = _line(basket="[" + ", ".join(['{"product_id": "P3", "price": 5}'] * 9000) + "]")
    assert len(huge) > 300_000
    data = G + b"\n" + huge + b"\r\n" + GOOD_2.encode() + b"\n" + huge
    file = _day_file(tmp_path, "long", data)
    parsed = parse_day_files([file], duckdb.connect(), max_line_bytes=100_000)
    assert parsed.items.select("line_number", "product_id").rows() == [
        (1, "P3"),
        (1, "P4"),
        (3, "P3"),
    ]
    # A line's length is that of its text: the \r of line 2 is no part of it.
    reason = (
        f"line is {len(huge):,} bytes long, over the limit of 100,000 bytes: it is not "
        "parsed, and only its first 1,024 bytes are kept here"
    )
    assert parsed.rejects.select("line_number", "raw_text", "reason").rows() == [
        (2, huge[:1024].decode(), reason),
        (4, huge[:1024].decode(), reason),
    ]
    # Under the default limit the same file is parsed whole.
    assert parse_day_files([file], duckdb.connect()).items.height == 3 + 2 * 9000


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
@pytest.mark.parametrize("bom", [b"", BOM])
def test_a_line_of_exactly_the_limit_is_parsed_whatever_its_ending(
    tmp_path: Path, ending: bytes, bom: bytes
) -> None:
    """The limit applies to a line's text, as the quarantine shows it: a carriage return
    before the newline, or a byte-order mark starting the file, does not count. One byte
    more is over the limit."""
    limit = len(G)
    data = bom + G + ending + G + ending + G + ending.removesuffix(b"\n")  # no final newline
    file = _day_file(tmp_path, "at-limit", data)
    parsed = parse_day_files([file], duckdb.connect(), max_line_bytes=limit)
    assert parsed.rejects.is_empty()
    assert parsed.items.get_column("line_number").unique(maintain_order=True).to_list() == [1, 2, 3]
    over = parse_day_files([file], duckdb.connect(), max_line_bytes=limit - 1)
    assert over.items.is_empty()
    assert over.rejects.get_column("reason").str.starts_with(f"line is {limit:,} bytes").all()


def test_a_file_of_one_endless_line_is_never_held_whole(tmp_path: Path) -> None:
    """8 MB of NUL bytes without a newline (a sparse file) under a 1 MB limit: memory stays
    near the limit, and the quarantine keeps only the start of it."""
    path = tmp_path / "nul" / "d=2024-01-03" / "transactions.json"
    path.parent.mkdir(parents=True)
    with path.open("wb") as out:
        out.truncate(8 * 2**20)
    file = DayFile(FOLDER_DAY, UPath(path), "nul/transactions.json")
    tracemalloc.start()
    try:
        parsed = parse_day_files([file], duckdb.connect(), max_line_bytes=2**20)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20
    assert parsed.items.is_empty()
    assert parsed.rejects.select("line_number", "raw_text").rows() == [(1, "\x00" * 1024)]


def test_a_lone_surrogate_escape_is_quarantined_like_any_bad_line(tmp_path: Path) -> None:
    customer = _line('"C\\ud800 1"').decode()
    product = _line(basket='[{"product_id": "P\\udfff"}, {"product_id": "P3", "price": 5}]')
    file = _day_file(tmp_path, "s", f"{customer}\n".encode() + product + b"\n")
    name = "s/transactions.json"
    expected = Parsed(
        _items([(WHEN, "C1", "P3", 5, name, 2)]),
        _rejects(
            [
                (
                    name,
                    1,
                    customer,
                    "customer_id contains a lone surrogate escape (such as \\ud800), not valid "
                    "Unicode",
                ),
                (
                    name,
                    2,
                    product.decode(),
                    "basket item 1 has a product_id that contains a lone surrogate escape "
                    "(such as \\ud800), not valid Unicode",
                ),
            ]
        ),
    )
    _assert_same(_reference(file.path, file), expected)
    _assert_same(parse_day_files([file], duckdb.connect()), expected)


def test_a_leap_second_is_refused_by_both_paths(tmp_path: Path) -> None:
    line = G.replace(b"2024-01-03 11:09:00", b"2024-01-14 23:59:60")
    file = _day_file(tmp_path, "leap", line + b"\n")
    reason = 'date_of_purchase "2024-01-14 23:59:60" does not parse as a date and time'
    expected = Parsed(_items([]), _rejects([("leap/transactions.json", 1, line.decode(), reason)]))
    _assert_same(parse_day_files([file], duckdb.connect()), expected)


class _Spy:
    """A DuckDB connection that records the files each query is handed."""

    def __init__(self) -> None:
        self.connection = duckdb.connect()
        self.files: list[str] = []

    def sql(self, query: str, params: dict[str, list[str]]) -> duckdb.DuckDBPyRelation:
        self.files.extend(params["files"])
        return self.connection.sql(query, params=params)


def test_duckdb_is_handed_no_path_it_would_expand_as_a_glob(tmp_path: Path) -> None:
    """DuckDB reads `x?.json` as a pattern, which also matches the FIFO `xy.json`."""
    file = _day_file(tmp_path, "g", G + b"\n")
    assert isinstance(file.path, Path)
    globbed = file.path.with_name("x?.json")
    file.path.rename(globbed)
    file = DayFile(file.day, globbed, "g/x?.json")
    plain = _day_file(tmp_path, "p", G + b"\n")
    spy = _Spy()
    with watched_fifo(globbed.with_name("xy.json")) as fifo_opened:
        parsed = parse_day_files([file, plain], cast("duckdb.DuckDBPyConnection", spy))
        assert not fifo_opened()
    assert spy.files == [str(plain.path)]
    _assert_same(parsed, Parsed.concat([_reference(f.path, f) for f in [file, plain]]))


def test_one_file_behind_two_day_files_goes_through_duckdb_once_for_both(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A symlinked file or day folder inside the source folder: one path, two provenances."""
    first = _day_file(tmp_path, "a", CASES["clean"])
    second = DayFile(FOLDER_DAY + dt.timedelta(days=1), first.path, "b/transactions.json")
    expected = Parsed.concat([_reference(f.path, f) for f in [first, second]])

    def refuse(data: bytes, file: DayFile) -> Parsed:
        raise AssertionError(f"{file.source_file} was sent to the rule book")

    monkeypatch.setattr(parse, "parse_reference", refuse)
    spy = _Spy()
    _assert_same(parse_day_files([first, second], cast("duckdb.DuckDBPyConnection", spy)), expected)
    assert spy.files == [str(first.path)]


CUT_CHARACTER = _line(basket='["' + "é" * 40 + '"]') + b"\n"
"""A basket DuckDB cannot read as items: its error message quotes the value, cut inside
a character."""


@pytest.mark.parametrize("bad_first", [True, False], ids=["bad file first", "bad file later"])
def test_a_duckdb_error_message_cut_inside_a_character_sends_the_file_to_the_rule_book(
    tmp_path: Path, bad_first: bool, connection: duckdb.DuckDBPyConnection
) -> None:
    bad = _day_file(tmp_path, "bad", CUT_CHARACTER)
    good = _day_file(tmp_path, "good", CASES["clean"])
    files = [bad, good] if bad_first else [good, bad]
    expected = Parsed.concat([_reference(f.path, f) for f in files])
    assert expected.rejects.get_column("reason").to_list() == ["basket item 1 is not a JSON object"]
    _assert_same(parse_day_files(files, connection), expected)


def test_no_files_give_empty_frames_of_the_schemas() -> None:
    _assert_same(
        parse_day_files([], duckdb.connect()),
        Parsed(schemas.ITEMS.to_frame(), schemas.REJECTS.to_frame()),
    )


@pytest.mark.parametrize("slice_bytes", [1, 100, 1000, 100_000])
def test_files_parsed_in_slices_give_what_they_give_whole(
    tmp_path: Path, slice_bytes: int, connection: duckdb.DuckDBPyConnection
) -> None:
    """A file longer than a slice is parsed in pieces of whole lines: the line numbers, the
    byte-order mark that starts the file (and only that one), the lines over the limit and
    the text kept of the far lines are those of the whole file."""
    huge = _line(basket="[" + ", ".join(['{"product_id": "P3", "price": 5}'] * 300) + "]")
    far = purchase("C5", "2023-06-01 10:00:00", "P1")
    contents = [
        BOM + (G + b"\n") * 20 + BOM + G + b"\n" + (G + b"\n") * 5,
        (G + b"\r\n") * 3 + huge + b"\n" + far.encode() + b"\n" + G,
        EVERY_RULE,
        *CASES.values(),
    ]
    files = [_day_file(tmp_path, f"f{i:02}", data) for i, data in enumerate(contents)]
    keep = pl.col("date_of_purchase") < moment("2024-01-01 00:00:00")
    whole = parse_day_files(files, connection, keep, max_line_bytes=5000)
    sliced = parse_day_files(files, connection, keep, max_line_bytes=5000, slice_bytes=slice_bytes)
    _assert_same(sliced, whole)
    assert_frame_equal(sliced.texts, whole.texts)
    assert sliced.texts.get_column("raw_text").to_list() == [far]
    assert sliced.read == whole.read
    assert whole.rejects.filter(pl.col("source_file") == "f00/transactions.json").rows() == [
        (
            "f00/transactions.json",
            21,
            (BOM + G).decode(),
            "line is not valid JSON "
            "(JSONDecodeError: Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 "
            "(char 0))",
            FOLDER_DAY,
        )
    ]


def test_a_file_in_pieces_goes_through_duckdb_piece_by_piece(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clean pieces are read by DuckDB, from private copies: none goes to the rule book."""
    data = (G + b"\n" + GOOD_2.encode() + b"\n") * 50
    file = _day_file(tmp_path, "big", data)
    expected = _reference(file.path, file)

    def refuse(*args: object, **kwargs: object) -> Parsed:
        raise AssertionError("a piece was sent to the rule book")

    monkeypatch.setattr(parse, "parse_reference", refuse)
    spy = _Spy()
    sliced = parse_day_files([file], cast("duckdb.DuckDBPyConnection", spy), slice_bytes=1000)
    _assert_same(sliced, expected)
    assert len(spy.files) >= len(data) // 1000  # copies of pieces, never the file itself
    assert str(file.path) not in spy.files


@pytest.mark.parametrize(
    ("data", "plain"),
    [
        (GOOD.encode() + b"\n", True),
        (GOOD.encode(), True),
        (b"", True),
        (_line('"C\\u0031"'), False),  # a backslash: a string may hold an escape
        (_line('"C\\"1"'), False),
        (_line('"C\xc3\xa91"'), False),  # outside ASCII (é)
        (BOM + GOOD.encode(), False),
        (GOOD.encode() + b"\r\n", False),
        (_line().replace(b", ", b",\t"), False),
        (GOOD.encode() + b"\n\x00\n", False),
    ],
    ids=lambda value: repr(value)[:40],
)
def test_only_a_plain_file_is_judged_by_its_counts(data: bytes, plain: bool) -> None:
    """The counts rule out DuckDB's leniencies only where a string is its quotes and what is
    between them, as read; any other file gets the careful facts."""
    facts = parse._file_facts({"/feed/d=2024-01-03/part.json": data})
    assert facts.get_column("plain").to_list() == [plain]
    assert facts.get_column("quotes").is_null().to_list() == [not plain]
    assert facts.get_column("record_keys").is_null().to_list() == [plain]


def test_a_plain_file_whose_counts_are_not_exact_is_looked_at_carefully(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A field the project does not read keeps a file on the fast path; a `nan` that DuckDB
    reads and Python refuses, behind such a field, or a trailing comma behind a comma inside
    an id, does not."""
    good = _line()[:-1] + b', "store": "S1"}\n'
    nan = _line()[:-1] + b', "score": nan}\n'
    comma = _line('"C,1"', '[{"product_id": "P3", "price": 5},]') + b"\n"
    files = [
        _day_file(tmp_path, name, data) for name, data in [("a", good), ("b", nan), ("c", comma)]
    ]
    looked_at: list[list[str]] = []
    careful = parse._careful_facts

    def spy(contents: dict[str, bytes], not_at_start: set[str] | None = None) -> pl.DataFrame:
        looked_at.append(sorted(Path(path).parent.parent.name for path in contents))
        return careful(contents, not_at_start)

    monkeypatch.setattr(parse, "_careful_facts", spy)
    parsed = parse_day_files(files, duckdb.connect())
    assert looked_at == [["a", "b", "c"]]
    _assert_same(parsed, Parsed.concat([_reference(f.path, f) for f in files]))
    assert parsed.items.get_column("source_file").unique().to_list() == [files[0].source_file]
