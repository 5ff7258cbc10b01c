"""Synthetic purchase data in exactly the input layout of docs/purchases.md.

    python -m tools.generate_purchases --customers 300 --start 2024-01-01 --days 70 \\
        --seed 7 --out data/sources/purchases --bad-records

writes

- ``customers.csv``: ``customer_id,loyalty_score``, ids ``C1``..``CN``, loyalty 1..10;
- ``products.csv``: ``product_id,product_description,product_category``, ids ``P1``..``PP``
  (default 1000 products), about a fifth of the descriptions hold a comma and are quoted,
  e.g. ``P7,"red, striped",trousers``;
- ``transactions/d=YYYY-MM-DD/transactions.json``: one folder per calendar day, JSON Lines,
  one transaction per line, keys, key order and spacing exactly as in the documented
  example (what ``json.dumps`` writes), here folded, one line in the file::

    {"customer_id": "C1", "basket": [{"product_id": "P3", "price": 506},
    {"product_id": "P4", "price": 121}], "date_of_purchase": "2024-01-01 11:09:00"}

The clean data: on average 0.2 transactions per customer per day (Poisson per day; a
customer's share grows with its loyalty score), baskets of 1..3 items (mean 2, a product may
repeat), a product's price is fixed (integer 50..999), products follow a mild popularity
skew, times are uniform within the day and each file is sorted by time. 0.2 % of the
purchases are dated just across midnight: in the last hour of the day before their folder
or the first hour of the day after it (never before the first day nor after the last).
50,000 customers x 730 days gives ~7.3 M transactions, ~14.6 M basket items, ~1.15 GB.

Deterministic: the same arguments give byte-identical files. Day ``i`` draws from
``numpy.random.default_rng([seed, 1, i])``, so days are independent and a shorter clean run
is a prefix of a longer one but for its last day; customers, products and the planted
records have their own streams.

``--bad-records`` plants, at places drawn from ``default_rng([seed, 2])`` (the summary and
``--manifest`` list every one: file, 1-based line, kind, what the rules say happens):

==========================  ==========================================================  =====
kind                        what                                                        count
==========================  ==========================================================  =====
not_json                    ``{"customer_id": "C1", "basket": [{"product_id"`` (cut     3
                            off), ``this is not json``, ``{"customer_id": "C1",}``
missing_customer_id         key absent (2), ``"customer_id": null`` (1)                 3
missing_basket              key absent (2), ``"basket": null`` (1)                      3
missing_date_of_purchase    key absent (2), ``"date_of_purchase": null`` (1)            3
basket_not_list             basket is an object, a string, a number                     3
unparseable_date            ``"yesterday"``, ``"2024-02-30 10:00:00"``, ``25:61:00``    3
item_without_product_id     good line whose 2nd item lacks product_id (2) or has a      3
                            null one (1); the 1st item is good and counts
date_out_of_tolerance       dated 5 days after, 5 days before, 2 days after its folder  3
unknown_customer            good line, customer ``C{N+1}``.. not in customers.csv       3
unknown_product             good line, one item ``P{P+1}``.. not in products.csv        3
blank_line                  an empty line inside a file                                 3
sunday_to_monday            Sunday folder, dated Monday 00:0x (next week)               <=2
monday_to_sunday            Monday folder (not the first day), dated Sunday 23:5x       <=2
crlf_file                   one day's file with ``\\r\\n`` line endings (line 0)          1
no_final_newline            one day's file whose last line has no newline               1
empty_file                  one day's transactions.json is empty, 0 bytes (line 0)      1
==========================  ==========================================================  =====

Line-level plants go into random days other than the empty file's day (the CRLF and
no-final-newline files may hold some). ``--duplicate-ids`` (for tests; it blocks everything
downstream) adds a second ``C1`` row to customers.csv and a second ``P1`` row to
products.csv, with other values.

Every file is written to a hidden temporary name and renamed into place; a file that
cannot be written (a full disk, a folder that may not be written) is one sentence naming it.

``--out`` must be a new or empty folder: a feed generated over another one would keep the
other's days outside this range beside this one's, a mixed feed. ``--force`` replaces a feed
already there: its ``customers.csv``, ``products.csv`` and ``transactions/`` are removed
first (a README beside them stays). It removes nothing else: a folder that holds anything
but a feed and its README is refused even so.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import functools
import io
import json
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import polars as pl

from assets_pkg.purchases.feed import day_folder_name
from assets_pkg.shared.atomic import WriteError, write_bytes_atomically
from assets_pkg.shared.cli import run_cli

GENERATOR_VERSION = 1
"""Bump when the output for the same arguments changes (the bench caches by it)."""

DEFAULT_PRODUCTS = 1000
TRANSACTIONS_PER_CUSTOMER_PER_DAY = 0.2
MAX_BASKET = 3
MIDNIGHT_FRACTION = 0.002
PLANT_REPEATS = 3
CATEGORIES = ("trousers", "shirts", "shoes", "jackets", "hats", "socks", "dresses", "bags")
COLOURS = ("red", "blue", "green", "black", "white", "grey", "navy", "beige", "pink", "olive")
PATTERNS = ("striped", "checked", "plain", "dotted", "floral", "denim")
SECONDS_PER_DAY = 86_400

# What happens to each planted kind under the rules of docs/purchases.md, repeated in the
# manifest.
HANDLING = {
    "not_json": "whole line to the quarantine",
    "missing_customer_id": "whole line to the quarantine",
    "missing_basket": "whole line to the quarantine",
    "missing_date_of_purchase": "whole line to the quarantine",
    "basket_not_list": "whole line to the quarantine",
    "unparseable_date": "whole line to the quarantine",
    "item_without_product_id": "that item to the quarantine, the other item counts",
    "date_out_of_tolerance": "to the quarantine, in the week of its folder",
    "unknown_customer": "kept, loyalty_score null, a check warns",
    "unknown_product": "kept, product_category null, a check warns",
    "blank_line": "skipped quietly",
    "sunday_to_monday": "counted in the week of its date (the next week)",
    "monday_to_sunday": "counted in the week of its date (the previous week)",
    "crlf_file": "read quietly",
    "no_final_newline": "read quietly",
    "empty_file": "read quietly (no rows)",
}


@dataclass(frozen=True)
class PlantedRecord:
    """One planted bad input: `line` is 1-based in `file` (0 for a whole-file oddity)."""

    kind: str
    file: str
    line: int
    handling: str


@dataclass(frozen=True)
class GenerationSummary:
    out: Path
    customers: int
    products: int
    start: dt.date
    days: int
    seed: int
    transactions: int
    """Clean generated transactions written (planted lines not included)."""
    basket_items: int
    """Basket items of those clean transactions."""
    transaction_bytes: int
    seconds: float
    planted: tuple[PlantedRecord, ...] = ()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["out"] = str(self.out)
        data["start"] = self.start.isoformat()
        return data


@dataclass
class _DayPlan:
    lines: list[tuple[str, str]] = field(default_factory=list)  # (kind, text) to insert
    crlf: bool = False
    no_final_newline: bool = False
    empty: bool = False


FEED_ENTRIES = ("customers.csv", "products.csv", "transactions")
"""What a feed folder holds: all that `--force` removes."""


class OccupiedFolderError(ValueError):
    """`--out` holds files already; the message says what to do."""


def generate(
    out: Path,
    customers: int,
    start: dt.date,
    days: int,
    seed: int,
    *,
    bad_records: bool = False,
    products: int = DEFAULT_PRODUCTS,
    duplicate_ids: bool = False,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
    progress_every: int = 30,
) -> GenerationSummary:
    """Write the source layout under `out` (a new or empty folder, or with `force` one that
    holds a feed, which is removed first) and say what was written."""
    if customers < 1 or products < 1 or days < 1:
        raise ValueError("customers, products and days must be at least 1")
    if bad_records and days < 7:
        raise ValueError("--bad-records needs at least 7 days")
    occupied = occupied_folder_problem(out, force=force)
    if occupied is not None:
        raise OccupiedFolderError(occupied)
    began = time.perf_counter()
    if force:
        _remove_feed(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WriteError(out, error.strerror or str(error), error.errno) from error
    loyalty = _write_customers(out, customers, seed, duplicate_ids)
    prices = _write_products(out, products, seed, duplicate_ids)
    customer_cdf = _cdf(loyalty.astype(np.float64) + 2.0)
    popularity = 1.0 / (np.arange(products, dtype=np.float64) + 20.0) ** 0.7
    product_cdf = _cdf(np.random.default_rng([seed, 3]).permutation(popularity))

    plans = _plan_bad_records(seed, start, days, customers, products) if bad_records else {}

    transactions = items = written = 0
    planted: list[PlantedRecord] = []
    for index in range(days):
        day = start + dt.timedelta(days=index)
        lines, sizes = _clean_day(
            np.random.default_rng([seed, 1, index]),
            day,
            first=index == 0,
            last=index == days - 1,
            n_customers=customers,
            customer_cdf=customer_cdf,
            product_cdf=product_cdf,
            prices=prices,
        )
        plan = plans.get(index, _DayPlan())
        relative = f"transactions/{day_folder_name(day)}/transactions.json"
        if plan.empty:
            data = b""
            planted.append(PlantedRecord("empty_file", relative, 0, HANDLING["empty_file"]))
        else:
            transactions += len(sizes)
            items += int(sizes.sum())
            data, day_planted = _render_day(lines, plan, seed, index, relative)
            planted.extend(day_planted)
        write_bytes_atomically(out / relative, data)
        written += len(data)
        if progress is not None and ((index + 1) % progress_every == 0 or index + 1 == days):
            progress(
                f"day {index + 1}/{days}, {written / 1e6:.1f} MB written, "
                f"{time.perf_counter() - began:.1f} s"
            )
    planted.sort(key=lambda record: (record.file, record.line, record.kind))
    return GenerationSummary(
        out=out,
        customers=customers,
        products=products,
        start=start,
        days=days,
        seed=seed,
        transactions=transactions,
        basket_items=items,
        transaction_bytes=written,
        seconds=time.perf_counter() - began,
        planted=tuple(planted),
    )


def _cdf(weights: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, np.dtype[np.float64]]:
    cdf = np.cumsum(weights)
    result: np.ndarray[Any, np.dtype[np.float64]] = cdf / cdf[-1]
    return result


def _draw(
    rng: np.random.Generator,
    cdf: np.ndarray[Any, np.dtype[np.float64]],
    size: int | tuple[int, int],
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """1-based ids drawn with the weights behind `cdf`."""
    index = np.searchsorted(cdf, rng.random(size), side="right")
    return np.minimum(index, len(cdf) - 1).astype(np.int64) + 1


def _write_customers(out: Path, customers: int, seed: int, duplicate: bool) -> np.ndarray[Any, Any]:
    loyalty = np.random.default_rng([seed, 0, 1]).integers(1, 11, customers)
    buffer = io.StringIO()
    buffer.write("customer_id,loyalty_score\n")
    frame = pl.DataFrame({"id": np.arange(1, customers + 1), "loyalty": loyalty})
    text = frame.select(
        pl.concat_str([pl.lit("C"), pl.col("id").cast(pl.String), pl.lit(","), pl.col("loyalty")])
    ).to_series()
    buffer.write(text.str.join("\n").item())
    buffer.write("\n")
    if duplicate:
        buffer.write(f"C1,{loyalty[0] % 10 + 1}\n")
    write_bytes_atomically(out / "customers.csv", buffer.getvalue().encode())
    return loyalty


def _write_products(out: Path, products: int, seed: int, duplicate: bool) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng([seed, 0, 2])
    colours = rng.integers(0, len(COLOURS), products)
    patterns = rng.integers(0, len(PATTERNS), products)
    with_comma = rng.random(products) < 0.2
    categories = rng.integers(0, len(CATEGORIES), products)
    prices = rng.integers(50, 1000, products)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["product_id", "product_description", "product_category"])
    for i in range(products):
        colour = COLOURS[colours[i]]
        description = f"{colour}, {PATTERNS[patterns[i]]}" if with_comma[i] else colour
        writer.writerow([f"P{i + 1}", description, CATEGORIES[categories[i]]])
    if duplicate:
        writer.writerow(["P1", "duplicate, on purpose", CATEGORIES[(categories[0] + 1) % 8]])
    write_bytes_atomically(out / "products.csv", buffer.getvalue().encode())
    # index 0 unused so that a 1-based product id indexes its price
    return np.concatenate([[0], prices]).astype(np.int64)


def _clean_day(
    rng: np.random.Generator,
    day: dt.date,
    *,
    first: bool,
    last: bool,
    n_customers: int,
    customer_cdf: np.ndarray[Any, np.dtype[np.float64]],
    product_cdf: np.ndarray[Any, np.dtype[np.float64]],
    prices: np.ndarray[Any, np.dtype[np.int64]],
) -> tuple[pl.Series, np.ndarray[Any, np.dtype[np.int64]]]:
    """The day's clean lines, sorted by time, and their basket sizes."""
    n = int(rng.poisson(n_customers * TRANSACTIONS_PER_CUSTOMER_PER_DAY))
    seconds = rng.integers(0, SECONDS_PER_DAY, n)
    crossing = rng.random(n) < MIDNIGHT_FRACTION
    forward = rng.random(n) < 0.5
    if first:
        forward[:] = True
    if last:
        forward[:] = False
    shift = rng.integers(0, 3600, n)
    seconds = np.where(
        crossing, np.where(forward, SECONDS_PER_DAY + shift, -1 - shift), seconds
    ).astype(np.int64)
    seconds.sort()
    customer = _draw(rng, customer_cdf, n)
    sizes = rng.integers(1, MAX_BASKET + 1, n).astype(np.int64)
    product = _draw(rng, product_cdf, (n, MAX_BASKET))
    epoch = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
    columns: dict[str, Any] = {
        "customer": customer,
        "size": sizes,
        "when": seconds + epoch,
    }
    for j in range(MAX_BASKET):
        columns[f"product{j}"] = product[:, j]
        columns[f"price{j}"] = prices[product[:, j]]
    items = [
        pl.when(pl.col("size") > j).then(
            pl.concat_str(
                [
                    pl.lit('{"product_id": "P'),
                    pl.col(f"product{j}").cast(pl.String),
                    pl.lit('", "price": '),
                    pl.col(f"price{j}").cast(pl.String),
                    pl.lit("}"),
                ]
            )
        )
        for j in range(MAX_BASKET)
    ]
    line = pl.concat_str(
        [
            pl.lit('{"customer_id": "C'),
            pl.col("customer").cast(pl.String),
            pl.lit('", "basket": ['),
            pl.concat_str(items, separator=", ", ignore_nulls=True),
            pl.lit('], "date_of_purchase": "'),
            pl.from_epoch(pl.col("when"), time_unit="s").dt.strftime("%Y-%m-%d %H:%M:%S"),
            pl.lit('"}'),
        ]
    )
    lines = pl.DataFrame(columns).select(line.alias("line")).to_series()
    return lines, sizes


def _render_day(
    lines: pl.Series, plan: _DayPlan, seed: int, index: int, relative: str
) -> tuple[bytes, list[PlantedRecord]]:
    if not plan.lines and not plan.crlf and not plan.no_final_newline:
        return (lines.str.join("\n").item() + "\n").encode() if len(lines) else b"", []
    rng = np.random.default_rng([seed, 4, index])
    rows: list[tuple[str | None, str]] = [(None, text) for text in lines.to_list()]
    for kind, text in plan.lines:
        rows.insert(int(rng.integers(0, len(rows) + 1)), (kind, text))
    planted = [
        PlantedRecord(kind, relative, number, HANDLING[kind])
        for number, (kind, _) in enumerate(rows, start=1)
        if kind is not None
    ]
    newline = "\r\n" if plan.crlf else "\n"
    body = newline.join(text for _, text in rows)
    if plan.crlf:
        planted.append(PlantedRecord("crlf_file", relative, 0, HANDLING["crlf_file"]))
    if plan.no_final_newline:
        planted.append(
            PlantedRecord("no_final_newline", relative, len(rows), HANDLING["no_final_newline"])
        )
    elif rows:
        body += newline
    return body.encode(), planted


def _line(customer: object, basket: object, when: object, *, drop: str | None = None) -> str:
    record: dict[str, object] = {
        "customer_id": customer,
        "basket": basket,
        "date_of_purchase": when,
    }
    if drop is not None:
        del record[drop]
    return json.dumps(record)


def _plan_bad_records(
    seed: int, start: dt.date, days: int, customers: int, products: int
) -> dict[int, _DayPlan]:
    rng = np.random.default_rng([seed, 2])
    plans: dict[int, _DayPlan] = {}

    def plan(index: int) -> _DayPlan:
        return plans.setdefault(index, _DayPlan())

    inner = np.arange(1, days - 1)
    empty, crlf, no_newline = (int(i) for i in rng.choice(inner, 3, replace=False))
    plan(empty).empty = True
    plan(crlf).crlf = True
    plan(no_newline).no_final_newline = True
    usable = np.array([i for i in range(days) if i != empty])

    def stamp(day: dt.date, low: int = 0, high: int = SECONDS_PER_DAY) -> str:
        moment = dt.datetime(day.year, day.month, day.day) + dt.timedelta(
            seconds=int(rng.integers(low, high))
        )
        return moment.strftime("%Y-%m-%d %H:%M:%S")

    def good_basket(size: int = 2) -> list[dict[str, object]]:
        return [
            {"product_id": f"P{int(rng.integers(1, products + 1))}", "price": int(p)}
            for p in rng.integers(50, 1000, size)
        ]

    def customer() -> str:
        return f"C{int(rng.integers(1, customers + 1))}"

    def add(kind: str, index: int, text: str) -> None:
        plan(index).lines.append((kind, text))

    for rep in range(PLANT_REPEATS):
        for kind in HANDLING:
            if kind in ("sunday_to_monday", "monday_to_sunday") or kind.endswith("_file"):
                continue
            if kind == "no_final_newline":
                continue
            index = int(rng.choice(usable))
            day = start + dt.timedelta(days=index)
            when = stamp(day)
            if kind == "not_json":
                text = (
                    f'{{"customer_id": "{customer()}", "basket": [{{"product_id"',
                    "this is not json",
                    f'{{"customer_id": "{customer()}",}}',
                )[rep]
            elif kind.startswith("missing_"):
                key = kind.removeprefix("missing_")
                if rep < 2:
                    text = _line(customer(), good_basket(), when, drop=key)
                else:
                    values: dict[str, object] = {
                        "customer_id": customer(),
                        "basket": good_basket(),
                        "date_of_purchase": when,
                    }
                    values[key] = None
                    text = json.dumps(values)
            elif kind == "basket_not_list":
                basket: object = (
                    {"product_id": "P1", "price": 100},
                    "P1",
                    3,
                )[rep]
                text = _line(customer(), basket, when)
            elif kind == "unparseable_date":
                bad = ("yesterday", f"{day.year}-02-30 10:00:00", f"{day.isoformat()} 25:61:00")
                text = _line(customer(), good_basket(), bad[rep])
            elif kind == "item_without_product_id":
                first, second = good_basket()
                second = {"price": second["price"]} if rep < 2 else {**second, "product_id": None}
                text = _line(customer(), [first, second], when)
            elif kind == "date_out_of_tolerance":
                offset = (5, -5, 2)[rep]
                text = _line(customer(), good_basket(), stamp(day + dt.timedelta(days=offset)))
            elif kind == "unknown_customer":
                text = _line(f"C{customers + 1 + rep}", good_basket(), when)
            elif kind == "unknown_product":
                basket_items = good_basket()
                basket_items[0] = {"product_id": f"P{products + 1 + rep}", "price": 123}
                text = _line(customer(), basket_items, when)
            elif kind == "blank_line":
                text = ""
            else:  # pragma: no cover - every kind above is handled
                raise AssertionError(kind)
            add(kind, index, text)

    # Midnight across a week boundary: the purchase's week is the week of its date.
    sundays = [i for i in usable if (start + dt.timedelta(days=int(i))).weekday() == 6]
    for index in [i for i in sundays if i + 7 <= days - 1][:2]:
        monday = start + dt.timedelta(days=int(index) + 1)
        add("sunday_to_monday", int(index), _line(customer(), good_basket(), stamp(monday, 0, 600)))
    mondays = [i for i in usable if i > 0 and (start + dt.timedelta(days=int(i))).weekday() == 0]
    for index in mondays[:2]:
        sunday = start + dt.timedelta(days=int(index) - 1)
        text = _line(customer(), good_basket(), stamp(sunday, SECONDS_PER_DAY - 600))
        add("monday_to_sunday", int(index), text)
    return plans


def occupied_folder_problem(out: Path, *, force: bool) -> str | None:
    """Why `out` may not receive a feed, in one sentence, or None: it must be new or empty;
    with `force` it may hold a feed (FEED_ENTRIES, and the hidden leftovers of an
    interrupted write) and a README, and nothing else."""
    if not out.is_dir():
        return None  # created (a file in its place is refused with the other arguments)
    try:
        entries = sorted(entry.name for entry in out.iterdir())
    except OSError as error:
        return f"--out {out} cannot be listed ({error.strerror or error})"
    if not entries:
        return None
    if not force:
        return (
            f"--out {out} is not empty (it holds {_listed(entries)}): a new feed written over "
            "it would keep the old days outside this range, a mixed feed; choose a new or "
            "empty folder, or add --force to replace the feed in it"
        )
    foreign = [name for name in entries if not (_is_feed_entry(name) or _is_kept(name))]
    if foreign:
        return (
            f"--out {out} holds {_listed(foreign)}, which "
            f"{'is' if len(foreign) == 1 else 'are'} not part of a purchase feed, so "
            "--force does not empty it: remove that yourself or choose another folder"
        )
    return None


def _is_kept(name: str) -> bool:
    """A README beside a feed (the bundled sample has one): --force keeps it."""
    return name.upper().startswith("README")


def _is_feed_entry(name: str) -> bool:
    # An interrupted atomic write's folder: `.<entry>.<host>.<pid>.<random>.tmp`.
    leftover = name.startswith(".") and name.endswith(".tmp")
    prefixes = tuple(f".{entry}." for entry in FEED_ENTRIES)
    return name in FEED_ENTRIES or (leftover and name.startswith(prefixes))


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _remove_feed(out: Path) -> None:
    """Remove what a feed holds under `out` (a symlink itself, never what it leads to)."""
    if not out.is_dir():
        return
    for entry in out.iterdir():
        if not _is_feed_entry(entry.name):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError as error:
            raise WriteError(entry, error.strerror or str(error), error.errno) from error


MAX_CUSTOMERS = 10_000_000
MAX_PRODUCTS = 1_000_000
MAX_DAYS = 36_600


def _argument_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with the arguments, in one sentence, or None."""
    for name, value, most in [
        ("--customers", args.customers, MAX_CUSTOMERS),
        ("--products", args.products, MAX_PRODUCTS),
        ("--days", args.days, MAX_DAYS),
    ]:
        if not 1 <= value <= most:
            return f"{name} must be a whole number from 1 to {most:,}, got {value}"
    if args.seed < 0:
        return f"--seed must be a whole number from 0, got {args.seed}"
    if args.start > dt.date.max - dt.timedelta(days=args.days):
        return f"--start {args.start} and --days {args.days} run past the year 9999"
    if args.out.exists() and not args.out.is_dir():
        return f"--out {args.out} is a file: name a folder (it is created if missing)"
    occupied = occupied_folder_problem(args.out, force=args.force)
    if occupied is not None:
        return occupied
    if args.manifest is not None and not args.manifest.parent.is_dir():
        return f"--manifest {args.manifest}: the folder {args.manifest.parent} does not exist"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.generate_purchases",
        description="Write synthetic purchase data in the input layout of docs/purchases.md.",
    )
    parser.add_argument("--customers", type=int, required=True)
    parser.add_argument("--start", type=dt.date.fromisoformat, required=True, help="YYYY-MM-DD")
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--products", type=int, default=DEFAULT_PRODUCTS)
    parser.add_argument("--bad-records", action="store_true", help="plant every bad input kind")
    parser.add_argument(
        "--duplicate-ids", action="store_true", help="duplicate C1 and P1 in the CSVs (tests)"
    )
    parser.add_argument("--manifest", type=Path, help="write the summary and plants as JSON")
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace the feed already in --out (its CSVs and transactions/ are removed first)",
    )
    args = parser.parse_args(argv)
    problem = _argument_problem(args)
    if problem is not None:
        parser.error(problem)  # before anything is written

    def say(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    try:
        summary = generate(
            args.out,
            customers=args.customers,
            start=args.start,
            days=args.days,
            seed=args.seed,
            bad_records=args.bad_records,
            products=args.products,
            duplicate_ids=args.duplicate_ids,
            force=args.force,
            progress=say,
        )
    except ValueError as error:
        parser.error(str(error))
    say(
        f"wrote {summary.transactions:,} transactions, {summary.basket_items:,} basket items, "
        f"{summary.transaction_bytes / 1e6:.1f} MB of JSON Lines and "
        f"{len(summary.planted)} planted records to {summary.out} in {summary.seconds:.1f} s"
    )
    if args.manifest is not None:
        manifest = json.dumps(summary.to_json(), indent=2) + "\n"
        write_bytes_atomically(args.manifest, manifest.encode())
    return 0


def cli(argv: Sequence[str] | None = None) -> NoReturn:
    """The command line: a file that cannot be written (a full disk, a folder that may not be
    written) is one sentence naming it on stderr and exit status 2."""
    run_cli(functools.partial(main, argv), user_errors=(WriteError,))


if __name__ == "__main__":
    cli()
