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

DESCRIPTIONS = {
    "week": "The Monday (UTC) of the week the row belongs to.",
    "date_of_purchase": "When the purchase was made (UTC), from the feed.",
    "customer_id": "The customer's id as written in the source.",
    "loyalty_score": "From customers.csv: 1 to 10; null if invalid there or the customer is "
    "unknown.",
    "product_id": "The product's id as written in the source; null on a customer's idle row.",
    "product_description": "From products.csv.",
    "product_category": "From products.csv; null if the product is unknown there.",
    "price": "The item's price as an integer; null if absent or not an integer.",
    "purchase_count": "Basket items of that product bought by that customer in the week.",
    "source_file": "The day file it comes from, relative to PURCHASES_SOURCE_DIR.",
    "line_number": "The line of that file, from 1; null when the whole file was refused.",
    "raw_text": "The line as written (null for a refused file).",
    "reason": "Why it could not be used.",
}
"""What each purchase column means, shown in the web UI beside its name and type."""
