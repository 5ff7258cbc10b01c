"""Column names and types of every purchase table, in the order they are written."""

from __future__ import annotations

import polars as pl

CUSTOMERS = pl.Schema({"customer_id": pl.String(), "loyalty_score": pl.Int64()})

PRODUCTS = pl.Schema(
    {"product_id": pl.String(), "product_description": pl.String(), "product_category": pl.String()}
)

_PURCHASE_ITEM = {
    "date_of_purchase": pl.Datetime("us"),
    "customer_id": pl.String(),
    "product_id": pl.String(),
    "price": pl.Int64(),
    "source_file": pl.String(),
    "line_number": pl.Int64(),
}
_UNUSABLE = {
    "source_file": pl.String(),
    "line_number": pl.Int64(),
    "raw_text": pl.String(),
    "reason": pl.String(),
}

ITEMS = pl.Schema({**_PURCHASE_ITEM, "folder_day": pl.Date()})
"""One basket item as parsed from a day file, before it is assigned to a week."""

EXPLODED = pl.Schema({"week": pl.Date(), **_PURCHASE_ITEM})
"""`exploded_transactions`: one row per basket item, provenance = source file + line."""

REJECTS = pl.Schema({**_UNUSABLE, "folder_day": pl.Date()})
"""What a day file could not yield, before it is assigned to the week of its folder."""

QUARANTINE = pl.Schema({"week": pl.Date(), **_UNUSABLE})
"""`transaction_quarantine`: everything that could not be used, in the week of its folder."""

COUNTS = pl.Schema(
    {
        "week": pl.Date(),
        "customer_id": pl.String(),
        "loyalty_score": pl.Int64(),
        "product_id": pl.String(),
        "product_category": pl.String(),
        "purchase_count": pl.Int64(),
    }
)
"""`weekly_purchase_counts`: how many items of each product each customer bought."""
