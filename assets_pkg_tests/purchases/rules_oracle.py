"""The purchase rules of docs/purchases.md, read literally: plain Python over the source
files, no project code. Tests compare the pipeline's output with it."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import json
from pathlib import Path

import polars as pl

Row = tuple[dt.date, str, int | None, str | None, str | None, int]


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def counts_by_the_rules(source: Path, weeks: list[dt.date], tolerance: int) -> pl.DataFrame:
    """docs/purchases.md, read literally."""
    with (source / "customers.csv").open(newline="") as f:
        loyalty = {r["customer_id"]: _score(r["loyalty_score"]) for r in csv.DictReader(f)}
    with (source / "products.csv").open(newline="") as f:
        category = {r["product_id"]: r["product_category"] for r in csv.DictReader(f)}
    counts: collections.Counter[tuple[dt.date, str, str]] = collections.Counter()
    for folder in sorted((source / "transactions").iterdir()):
        day = dt.date.fromisoformat(folder.name.removeprefix("d="))
        for line in (folder / "transactions.json").read_text().splitlines():
            try:
                record = json.loads(line)
                customer = record["customer_id"]
                basket = record["basket"]
                moment = dt.datetime.strptime(record["date_of_purchase"], "%Y-%m-%d %H:%M:%S")
            except (ValueError, KeyError, TypeError):
                continue  # blank, not JSON, a field missing or null, a date that does not parse
            if not isinstance(customer, str) or not isinstance(basket, list):
                continue
            if abs((moment.date() - day).days) > tolerance:
                continue  # quarantined in its folder's week
            week = monday(moment.date())
            for item in basket:
                if isinstance(item, dict) and isinstance(item.get("product_id"), str):
                    counts[(week, customer, item["product_id"])] += 1
    rows: list[Row] = [
        (week, customer, loyalty.get(customer), product, category.get(product), n)
        for (week, customer, product), n in counts.items()
        if week in weeks
    ]
    for week in weeks:
        buyers = {customer for (w, customer, _) in counts if w == week}
        rows += [(week, c, s, None, None, 0) for c, s in loyalty.items() if c not in buyers]
    schema = {
        "week": pl.Date,
        "customer_id": pl.String,
        "loyalty_score": pl.Int64,
        "product_id": pl.String,
        "product_category": pl.String,
        "purchase_count": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def period_by_the_rules(
    source: Path, first: dt.date, last: dt.date, tolerance: int
) -> pl.DataFrame:
    """Counts summed over the weeks `first`..`last`: one row per customer and product bought,
    one zero row for each customer who bought nothing in them, sorted by customer, product."""
    weeks = [first + dt.timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]
    weekly = counts_by_the_rules(source, weeks, tolerance)
    totals: collections.Counter[tuple[str, str]] = collections.Counter()
    facts: dict[tuple[str, str | None], tuple[int | None, str | None]] = {}
    for customer, score, product, category, n in weekly.select(
        "customer_id", "loyalty_score", "product_id", "product_category", "purchase_count"
    ).iter_rows():
        facts[(customer, product)] = (score, category)
        if product is not None:
            totals[(customer, product)] += n
    buyers = {customer for customer, _ in totals}
    rows: list[tuple[dt.date, dt.date, str, int | None, str | None, str | None, int]] = [
        (first, last, c, facts[(c, p)][0], p, facts[(c, p)][1], n) for (c, p), n in totals.items()
    ]
    rows += [
        (first, last, c, score, None, None, 0)
        for (c, product), (score, _) in facts.items()
        if product is None and c not in buyers
    ]
    schema = {
        "first_week": pl.Date,
        "last_week": pl.Date,
        "customer_id": pl.String,
        "loyalty_score": pl.Int64,
        "product_id": pl.String,
        "product_category": pl.String,
        "purchase_count": pl.Int64,
    }
    return pl.DataFrame(rows, schema=schema, orient="row").sort(
        "customer_id", "product_id", nulls_last=True
    )


def _score(text: str) -> int | None:
    """A loyalty score is a whole number from 1 to 10; anything else is null."""
    try:
        score = int(text.strip())
    except ValueError:
        return None
    return score if 1 <= score <= 10 else None
