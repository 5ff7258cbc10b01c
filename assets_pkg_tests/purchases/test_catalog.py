"""customers.csv and products.csv: typed, checked, and clear errors when they are wrong."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assets_pkg.purchases import schemas
from assets_pkg.purchases.catalog import (
    SourceError,
    duplicate_or_empty_ids,
    invalid_loyalty,
    read_customers,
    read_products,
)


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
        {"customer_id": ["C2", "C1", "C3", "C4", "C2"], "loyalty_score": [7, None, None, 11, 3]},
        schema=schemas.CUSTOMERS,
    )
    customers = read_customers(path)
    assert_frame_equal(customers, expected)
    assert duplicate_or_empty_ids(customers, "customer_id") == ["C2"]
    assert_frame_equal(
        invalid_loyalty(customers, path),
        pl.DataFrame({"customer_id": ["C1", "C3", "C4"], "loyalty_score": ["x", None, "11"]}),
    )


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


def test_a_missing_file_names_the_file_and_the_setting(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as raised:
        read_customers(tmp_path / "customers.csv")
    assert str(raised.value) == (
        f"{tmp_path / 'customers.csv'} does not exist: put customers.csv there or point "
        "PURCHASES_SOURCE_DIR at the folder that holds it."
    )


def test_a_wrong_header_names_the_missing_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "products.csv", "id,description\nP1,red\n")
    with pytest.raises(SourceError) as raised:
        read_products(path)
    assert str(raised.value) == (
        f"{path} must have the header product_id,product_description,product_category; "
        "it lacks product_id, product_description, product_category (found id,description)."
    )
