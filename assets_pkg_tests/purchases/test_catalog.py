"""customers.csv and products.csv: typed, checked, and clear errors when they are wrong."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assets_pkg.purchases import catalog, schemas
from assets_pkg.purchases.catalog import (
    AmbiguousCatalogError,
    SourceError,
    customers_from,
    duplicate_or_empty_ids,
    invalid_loyalty,
    read_products,
    require_unique_ids,
)
from assets_pkg.shared.location import Location


def read_customers_file(path: Path) -> pl.DataFrame:
    """customers.csv as written, from a local file."""
    return catalog.read_customers_file(Location.of(path))


def _refusal(read: Callable[[Path], object], path: Path) -> str:
    """The one sentence `read` refuses `path` with."""
    with pytest.raises(SourceError) as raised:
        read(path)
    return str(raised.value)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_customers_are_typed_in_file_order(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "customers.csv",
        "customer_id,loyalty_score\r\n C2 , 7\r\nC1,x\r\nC3,\r\nC4,11\r\nC2,3",
    )
    expected = pl.DataFrame(
        {"customer_id": ["C2", "C1", "C3", "C4", "C2"], "loyalty_score": [7, None, None, None, 3]},
        schema=schemas.CUSTOMERS,
    )
    written = read_customers_file(path)
    customers = customers_from(written)
    assert_frame_equal(customers, expected)
    assert duplicate_or_empty_ids(customers, "customer_id") == ["C2"]
    assert_frame_equal(
        invalid_loyalty(written),
        pl.DataFrame({"customer_id": ["C1", "C3", "C4"], "loyalty_score": ["x", None, "11"]}),
    )


@pytest.mark.parametrize("score", ["0", "11", "99", "-3", "7.5", "1e1", "seven", ""])
def test_a_loyalty_score_outside_1_to_10_is_stored_as_null_and_listed(
    tmp_path: Path, score: str
) -> None:
    path = _write(tmp_path, "customers.csv", f"customer_id,loyalty_score\nC1,{score}\nC2,10\n")
    written = read_customers_file(path)
    assert customers_from(written).get_column("loyalty_score").to_list() == [None, 10]
    assert invalid_loyalty(written).get_column("customer_id").to_list() == ["C1"]


def test_a_row_with_an_extra_field_names_the_file_and_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "products.csv",
        'product_id,product_description,product_category\nP1,"red, long",trousers\n'
        "P2,blue,shirts\nP3,green, short,hats\n",
    )
    assert _refusal(read_products, path) == (
        f"{path} line 4 has 4 fields but the header has 3: quote a value that holds a comma, "
        "or remove the extra field."
    )


def test_duplicate_and_empty_ids_are_refused_with_the_file_named() -> None:
    frame = pl.DataFrame({"customer_id": ["C1", "C2", "C1", "", None, "C3"]})
    assert duplicate_or_empty_ids(frame, "customer_id") == ["C1", "<empty>"]
    with pytest.raises(AmbiguousCatalogError) as raised:
        require_unique_ids(frame, "customer_id", "customers.csv")
    assert str(raised.value) == (
        "customers.csv has 2 duplicate or empty customer_id value(s) (C1, <empty>); "
        "give each row its own id, then re-run."
    )
    require_unique_ids(frame.filter(pl.col("customer_id") == "C3"), "customer_id", "x.csv")


def test_products_keep_commas_inside_quotes(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "products.csv",
        'product_id,product_description,product_category\nP1,"red, with a belt",trousers\n'
        "P2,blue,shirts\n,nameless,hats\n",
    )
    expected = pl.DataFrame(
        {
            "product_id": ["P1", "P2", None],
            "product_description": ["red, with a belt", "blue", "nameless"],
            "product_category": ["trousers", "shirts", "hats"],
        },
        schema=schemas.PRODUCTS,
    )
    products = read_products(path)
    assert_frame_equal(products, expected)
    assert duplicate_or_empty_ids(products, "product_id") == ["<empty>"]


@pytest.mark.parametrize(
    "ending", ["\n\n", "\r\n\r\n", "\n   \n", "\n,\n", "\n \t , \n\n"], ids=repr
)
def test_a_line_without_a_single_value_is_no_row(tmp_path: Path, ending: str) -> None:
    """Blank lines, white space and separators alone hold no row: they neither block the
    counts as a customer without an id nor count as a bad loyalty score."""
    text = f"customer_id,loyalty_score\nC1,5{ending}C2,7{ending}"
    written = read_customers_file(_write(tmp_path, "customers.csv", text))
    customers = customers_from(written)
    assert customers.rows() == [("C1", 5), ("C2", 7)]
    assert duplicate_or_empty_ids(customers, "customer_id") == []
    assert invalid_loyalty(written).is_empty()


def test_a_row_with_a_value_but_no_id_is_still_a_row_without_an_id(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "products.csv",
        "product_id,product_description,product_category\n,red,socks\nP2,,\n",
    )
    products = read_products(path)
    assert products.rows() == [(None, "red", "socks"), ("P2", None, None)]
    assert duplicate_or_empty_ids(products, "product_id") == ["<empty>"]


def test_an_unreadable_file_names_the_file_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As root the test cannot take a permission away: the refusal is simulated."""
    path = _write(tmp_path, "customers.csv", "customer_id,loyalty_score\nC1,5\n")

    def refuse(*args: object, **kwargs: object) -> pl.DataFrame:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(pl, "read_csv", refuse)
    assert _refusal(read_customers_file, path) == (
        f"{path} cannot be read (Permission denied): make it readable to the user running "
        "Dagster, or point PURCHASES_SOURCE_DIR at a readable copy."
    )


def test_a_quote_inside_an_unquoted_value_names_the_line(tmp_path: Path) -> None:
    text = (
        "product_id,product_description,product_category\n"
        'P1,"red, big",socks\nP2,"say ""hi""",toys\nP3,27" monitor,tv\n'
    )
    path = _write(tmp_path, "products.csv", text)
    assert _refusal(read_products, path) == (
        f"{path} line 4 has a quote inside a value that does not start with one: quote the "
        'whole value and double the quote inside ("27"" monitor"), or remove it.'
    )


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        # Polars read these without a word, keeping the quotes in the value.
        ('P2,27"" monitor,tv', "has a quote inside a value that does not start with one"),
        ('P2, "blue",shirts', "has a quote inside a value that does not start with one"),
        # Polars refused these without naming the line.
        ('P2,"red" ,socks', "has text after the closing quote of a value"),
        ('"P2"8,red,socks', "has text after the closing quote of a value"),
        ('P2,"red,socks', "opens a quoted value that is never closed"),
    ],
)
def test_every_misplaced_quote_is_refused_naming_its_line(
    tmp_path: Path, line: str, problem: str
) -> None:
    header = "product_id,product_description,product_category\r\n"
    path = _write(tmp_path, "products.csv", f'{header}P1,"a ""b"", c",toys\r\n{line}\r\n')
    assert _refusal(read_products, path).startswith(f"{path} line 3 {problem}: ")


def test_a_quoted_header_after_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path, "customers.csv", '\ufeff"customer_id","loyalty_score"\nC1,5\n')
    assert read_customers_file(path).rows() == [("C1", "5")]


def test_header_names_are_trimmed_and_a_repeated_one_is_refused(tmp_path: Path) -> None:
    spaced = _write(tmp_path, "customers.csv", "customer_id , loyalty_score\nC1,5\n")
    assert read_customers_file(spaced).rows() == [("C1", "5")]
    twice = _write(tmp_path, "twice.csv", "customer_id,loyalty_score, customer_id\nC1,5,C9\n")
    assert _refusal(read_customers_file, twice) == (
        f"{twice} names the column(s) customer_id more than once in its header: keep one "
        "column of each name."
    )


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("customer_id,loyalty_score\rC1,5\rC2,6\r", 1),  # an old Mac file
        ("customer_id,loyalty_score\nC1,2\rC3\n", 2),  # one stray: C3 would join C1's score
        ('customer_id,loyalty_score\r\n"C1",2\rC3,4\r\n', 2),  # the same, with quotes
    ],
)
def test_a_line_ended_by_a_carriage_return_alone_is_refused_naming_it(
    tmp_path: Path, text: str, line: int
) -> None:
    path = _write(tmp_path, "customers.csv", text)
    assert _refusal(read_customers_file, path) == (
        f"{path} line {line} ends with a carriage return alone (an old Mac line ending): save "
        "the file with Unix (LF) or Windows (CRLF) line endings."
    )


def test_a_carriage_return_inside_a_quoted_value_is_the_values(tmp_path: Path) -> None:
    path = _write(tmp_path, "customers.csv", 'customer_id,loyalty_score\r\n"C\r1",2\r\n')
    assert read_customers_file(path).rows() == [("C\r1", "2")]


def test_unnamed_extra_columns_are_ignored_like_named_ones(tmp_path: Path) -> None:
    """Trailing commas, as spreadsheets export them: columns without names, not repeats."""
    path = _write(tmp_path, "customers.csv", "customer_id,loyalty_score,, \nC1,2,,\n")
    assert read_customers_file(path).rows() == [("C1", "2")]


def test_a_folder_or_fifo_in_the_place_of_the_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "products.csv"
    folder.mkdir()
    assert _refusal(read_products, folder) == (
        f"{folder} is not a regular file: put the products.csv file there."
    )
    fifo = tmp_path / "customers.csv"
    os.mkfifo(fifo)
    assert _refusal(read_customers_file, fifo) == (
        f"{fifo} is not a regular file: put the customers.csv file there."
    )


def test_a_missing_file_names_the_file_and_the_setting(tmp_path: Path) -> None:
    assert _refusal(read_customers_file, tmp_path / "customers.csv") == (
        f"{tmp_path / 'customers.csv'} does not exist: put customers.csv there or point "
        "PURCHASES_SOURCE_DIR at the folder that holds it."
    )


def test_a_wrong_header_names_the_missing_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "products.csv", "id,description\nP1,red\n")
    assert _refusal(read_products, path) == (
        f"{path} must have the header product_id,product_description,product_category; "
        "it lacks product_id, product_description, product_category (found id,description)."
    )


@pytest.mark.parametrize("name", ["customers.csv", "products.csv"])
def test_a_catalog_file_linking_outside_the_source_folder_is_never_read(
    tmp_path: Path, name: str
) -> None:
    """The rule of the day files, for every source file: a symlink is followed only to a
    regular file inside the source folder."""
    source = tmp_path / "source"
    source.mkdir()
    outside = _write(tmp_path, "elsewhere.csv", "customer_id,loyalty_score\nC1,5\n")
    path = source / name
    path.symlink_to(outside)
    read = read_customers_file if name == "customers.csv" else read_products
    assert _refusal(read, path) == (
        f"{path} is never read: it resolves to {outside}, outside the source folder {source}; "
        f"source files are only read inside the source folder, so copy {name} there instead "
        "of linking to it."
    )
    # Through a linked folder too, and a link that stays inside is followed.
    (source / "linked").symlink_to(tmp_path, target_is_directory=True)
    path.unlink()
    path.symlink_to(source / "linked" / "elsewhere.csv")
    assert "outside the source folder" in _refusal(read, path)
    inside = _write(source, "v2.csv", "customer_id,loyalty_score\nC1,5\n")
    path.unlink()
    path.symlink_to(inside)
    assert read_customers_file(path).rows() == [("C1", "5")]


def test_a_file_in_a_folder_that_cannot_be_entered_names_the_file_and_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The source folder may be listed but not entered (mode 0600): even looking the file up
    is refused. As root the test cannot take a permission away: the refusal is simulated."""
    path = _write(tmp_path, "customers.csv", "customer_id,loyalty_score\nC1,5\n")
    looked_up = Path.stat

    def stat(self: Path, *args: object, **kwargs: object) -> os.stat_result:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return looked_up(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "stat", stat)
    assert _refusal(read_customers_file, path) == (
        f"{path} cannot be read (Permission denied): make it readable to the user running "
        "Dagster, or point PURCHASES_SOURCE_DIR at a readable copy."
    )
