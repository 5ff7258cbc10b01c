"""Weekly purchase counts, and counts for any period as sums of weeks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import polars as pl

from assets_pkg.purchases import schemas


def weekly_counts(
    exploded: pl.LazyFrame, customers: pl.DataFrame, products: pl.DataFrame, week: dt.date
) -> pl.LazyFrame:
    """One row per (customer, product) bought in `week`, plus one row with product null
    and count 0 for every customer of `customers` who bought nothing that week.

    `customers` and `products` must have unique ids (`catalog.require_unique_ids`), or the joins
    would double rows.

    Rows come in the order of each pair's first purchase in `exploded` (which is in file and
    line order), then the idle customers in customers.csv order: deterministic, and cheaper
    than a sort by two string columns (a third of the asset's time at scale).
    """
    return _flagged_counts(exploded, customers, products, week).select(schemas.COUNTS.names())


def _flagged_counts(
    exploded: pl.LazyFrame, customers: pl.DataFrame, products: pl.DataFrame, week: dt.date
) -> pl.LazyFrame:
    """`weekly_counts` with two more columns, `known_customer` and `known_product`: true
    where the id was found in the catalog, null where it was not (or is null)."""
    bought = exploded.group_by("customer_id", "product_id", maintain_order=True).agg(
        purchase_count=pl.len().cast(pl.Int64)
    )
    idle = (
        customers.lazy()
        .select("customer_id")
        .join(bought.select("customer_id"), on="customer_id", how="anti", maintain_order="left")
        .with_columns(product_id=pl.lit(None, pl.String), purchase_count=pl.lit(0, pl.Int64))
    )
    return (
        pl.concat([bought, idle])
        .join(
            customers.lazy().with_columns(known_customer=pl.lit(True)),
            on="customer_id",
            how="left",
            maintain_order="left",
        )
        .join(
            products.lazy().select("product_id", "product_category", known_product=pl.lit(True)),
            on="product_id",
            how="left",
            maintain_order="left",
        )
        .with_columns(week=pl.lit(week))
        .select(*schemas.COUNTS.names(), "known_customer", "known_product")
    )


def period_counts(weekly: pl.LazyFrame) -> pl.LazyFrame:
    """Sum weekly counts over all the weeks in `weekly`.

    A customer who bought something in the period gets one row per product; a customer
    who bought nothing gets the single row with product null and count 0, as in a week.
    """
    bought = (
        weekly.filter(pl.col("product_id").is_not_null())
        .group_by("customer_id", "product_id")
        .agg(
            pl.col("loyalty_score").last(),
            pl.col("product_category").last(),
            pl.col("purchase_count").sum(),
        )
    )
    idle = (
        weekly.filter(pl.col("product_id").is_null())
        .group_by("customer_id")
        .agg(pl.col("loyalty_score").last())
        .join(bought.select("customer_id"), on="customer_id", how="anti")
        .with_columns(
            product_id=pl.lit(None, pl.String),
            product_category=pl.lit(None, pl.String),
            purchase_count=pl.lit(0, pl.Int64),
        )
    )
    columns = [c for c in schemas.COUNTS.names() if c != "week"]
    return pl.concat([bought.select(columns), idle.select(columns)]).sort(
        "customer_id", "product_id", nulls_last=True
    )


def week_metadata(week: pl.DataFrame) -> dict[str, int]:
    """What one week of counts holds, for the web UI.

    Each idle customer has exactly one row and no row with a purchase, so the customers are
    the idle rows plus the customers who bought: one distinct count of ids fewer."""
    bought = pl.col("purchase_count") > 0
    row = week.select(
        idle=(~bought).sum(),
        customers_who_bought=pl.col("customer_id").filter(bought).n_unique(),
        products_bought=pl.col("product_id").filter(bought).n_unique(),
        basket_items=pl.col("purchase_count").sum(),
    ).row(0, named=True)
    return {
        "customers": int(row["idle"]) + int(row["customers_who_bought"]),
        "customers who bought": int(row["customers_who_bought"]),
        "products bought": int(row["products_bought"]),
        "basket items": int(row["basket_items"] or 0),
    }


PART_ROWS = 262_144
"""The most rows `CountedWeek.parts` makes at once: a week with more pairs (ten times the
sample's customers: 1.5 million rows, about 94 MB) is made a part at a time while it is
written, never whole; a smaller week is made whole where it was counted."""


@dataclass(frozen=True)
class CountedWeek:
    parts: Callable[[], Iterator[pl.DataFrame]]
    """`weekly_counts` of the week, row for row, in parts of at most `PART_ROWS` rows made
    as they are asked for (each call starts again)."""
    metadata: dict[str, int]
    """`week_metadata` of it."""
    unknown: dict[str, list[str]]
    """The customer and product ids bought that week but absent from the CSVs, sorted."""

    @property
    def counts(self) -> pl.DataFrame:
        """All the parts, as one frame."""
        return pl.concat(list(self.parts()))


def count_week(
    exploded: pl.LazyFrame, customers: pl.DataFrame, products: pl.DataFrame, week: dt.date
) -> CountedWeek:
    """One week's counts (`weekly_counts`, row for row) with what the web UI and the
    known-ids check need of them.

    Counted on integer codes rather than the ids: each id becomes its row in the catalog
    (an id absent from it, a row after the catalog's), each item one 64-bit key, and the
    items are grouped by key. A group-by on two text columns held about 230 bytes per item at
    its peak (320 MB for the 1.4 million items of a week at ten times the sample's
    customers); this holds a few integers per item (docs/performance.md). Ids absent from
    the catalogs are looked for only when some item's id has no code: every id of a week is
    usually listed, and the search costs a fifth of the count."""
    ids = exploded.select("customer_id", "product_id")
    customer_ids = customers.get_column("customer_id")
    product_ids = products.get_column("product_id")
    pairs = _pairs(ids, customer_ids, product_ids)
    if pairs.get_column("key").has_nulls():  # an id the catalogs lack: coded after theirs
        customer_ids = _dictionary(ids, customer_ids)
        product_ids = _dictionary(ids, product_ids)
        pairs = _pairs(ids, customer_ids, product_ids)
        if pairs.get_column("key").has_nulls():  # a null id, which the parse never gives
            return _count_week_by_ids(exploded, customers, products, week)
    items = int(pairs.get_column("purchase_count").sum())
    c = (pairs.get_column("key") // _SHIFT).cast(pl.UInt32)
    p = (pairs.get_column("key") % _SHIFT).cast(pl.UInt32)
    purchase_count = pairs.get_column("purchase_count")
    del pairs
    known = customers.height
    loyalty = customers.get_column("loyalty_score").extend_constant(
        None, customer_ids.len() - known
    )
    category = products.get_column("product_category").extend_constant(
        None, product_ids.len() - products.height
    )

    def bought(start: int, rows: int) -> pl.DataFrame:
        """The rows of the pairs from `start`, the ids and catalog columns looked up."""
        cs, ps = c.slice(start, rows), p.slice(start, rows)
        return pl.DataFrame(
            {
                "week": pl.repeat(week, cs.len(), dtype=pl.Date, eager=True),
                "customer_id": customer_ids.gather(cs),
                "loyalty_score": loyalty.gather(cs),
                "product_id": product_ids.gather(ps),
                "product_category": category.gather(ps),
                "purchase_count": purchase_count.slice(start, rows),
            },
            schema=schemas.COUNTS,
        )

    seen = pl.repeat(False, known, dtype=pl.Boolean, eager=True).scatter(c.filter(c < known), True)
    idle = customers.filter(~seen).select(
        week=pl.lit(week, pl.Date),
        customer_id="customer_id",
        loyalty_score="loyalty_score",
        product_id=pl.lit(None, pl.String),
        product_category=pl.lit(None, pl.String),
        purchase_count=pl.lit(0, pl.Int64),
    )
    # `week_metadata` of the counts, from the codes: a distinct count of 1.4 million ids
    # would cost more than the count itself. Every id absent from a catalog was bought.
    bought_products = pl.repeat(False, product_ids.len(), dtype=pl.Boolean, eager=True).scatter(
        p, True
    )
    buyers = int(seen.sum()) + customer_ids.len() - known
    metadata = {
        "customers": known - int(seen.sum()) + buyers,
        "customers who bought": buyers,
        "products bought": int(bought_products.sum()),
        "basket items": items,
    }
    unknown = {
        "customer_id": customer_ids.slice(known).sort().to_list(),
        "product_id": product_ids.slice(products.height).sort().to_list(),
    }

    def parts() -> Iterator[pl.DataFrame]:
        for start in range(0, c.len(), PART_ROWS):
            yield bought(start, PART_ROWS)
        yield idle

    if c.len() <= PART_ROWS:  # made whole here, which may be a worker ahead of the writer
        made = list(parts())
        return CountedWeek(lambda: iter(made), metadata, unknown)
    return CountedWeek(parts, metadata, unknown)


_SHIFT = 2**32
"""A key is customer code * _SHIFT + product code: codes are row numbers (below 2**32)."""


def _pairs(ids: pl.LazyFrame, customer_ids: pl.Series, product_ids: pl.Series) -> pl.DataFrame:
    """Each (customer, product) pair of the items once, in the order of its first item (that
    of `weekly_counts`): its key (null when an id is not in `customer_ids` / `product_ids`),
    its first item's row and its count of items."""
    return (
        ids.with_row_index("first")
        .join(_codes(customer_ids, "c"), on="customer_id", how="left", maintain_order="none")
        .join(_codes(product_ids, "p"), on="product_id", how="left", maintain_order="none")
        .group_by(key=pl.col("c").cast(pl.UInt64) * _SHIFT + pl.col("p"))
        .agg(pl.col("first").min(), purchase_count=pl.len().cast(pl.Int64))
        .sort("first")
        .collect(engine="streaming")
    )


def _dictionary(ids: pl.LazyFrame, catalog: pl.Series) -> pl.Series:
    """The ids of `catalog` (unique, none null), then those of `ids` absent from it in the
    order they first appear: an id's code is its position here."""
    column = catalog.name
    unknown = (
        ids.select(column)
        .filter(~pl.col(column).is_in(catalog.implode()).fill_null(False))  # a null id kept
        .unique(maintain_order=True)
        .collect(engine="streaming")
        .get_column(column)
    )
    return pl.concat([catalog, unknown])


def _codes(dictionary: pl.Series, name: str) -> pl.LazyFrame:
    return dictionary.to_frame().lazy().with_row_index(name)


def _count_week_by_ids(
    exploded: pl.LazyFrame, customers: pl.DataFrame, products: pl.DataFrame, week: dt.date
) -> CountedWeek:
    """`count_week` by a group-by on the ids themselves (any ids, null ones too)."""
    flagged = _flagged_counts(exploded, customers, products, week).collect()
    counted = flagged.select(schemas.COUNTS.names())
    unknown = {
        "customer_id": flagged.filter(pl.col("known_customer").is_null())
        .get_column("customer_id")
        .unique()
        .sort()
        .to_list(),
        "product_id": flagged.filter(
            pl.col("known_product").is_null() & pl.col("product_id").is_not_null()
        )
        .get_column("product_id")
        .unique()
        .sort()
        .to_list(),
    }
    return CountedWeek(lambda: iter([counted]), week_metadata(counted), unknown)


@dataclass(frozen=True)
class Reconciliation:
    """How one week's stored counts compare with its basket items and the catalog."""

    items: int
    """Rows of the week's `exploded_transactions` (one per basket item)."""
    counted: int
    """The sum of the week's `purchase_count`."""
    mismatched_pairs: list[str]
    """`customer/product` pairs whose count differs from their items, sorted."""
    missing_customers: list[str]
    """Customers of the catalog with no row in the week's counts, sorted."""

    @property
    def passed(self) -> bool:
        return (
            self.items == self.counted
            and not self.mismatched_pairs
            and not (self.missing_customers)
        )


def reconcile_week(
    weekly: pl.LazyFrame, exploded: pl.LazyFrame, customers: pl.DataFrame
) -> Reconciliation:
    """Whether a week's counts are what its basket items and the catalog make: each pair's
    count equals its items, so the counts sum to the items, and every customer of the
    catalog has a row (idle customers their row with count 0).

    The pairs are compared first by two checksums, each the sum over the items of a 32-bit
    hash of their (customer, product) pair, against the same sum over the counts weighted by
    each count: one pass over each table, no grouping, about a tenth of the cost. Equal
    checksums and equal totals mean equal pairs but for a chance of about 2**-64 against a
    random error; only when they differ are the pairs compared one by one, on integer codes
    (`_reconcile_by_codes`), to name the ones that differ. A passing week is never reported
    as failing."""
    bought = pl.col("product_id").is_not_null()
    items, counted, missing = pl.collect_all(
        [
            exploded.select(pl.len().cast(pl.Int64).alias("n"), *_pair_checksums(pl.lit(1))),
            weekly.select(
                pl.col("purchase_count").sum().alias("n"),  # idle rows included, as stored
                *_pair_checksums(pl.col("purchase_count"), bought),
            ),
            customers.lazy()  # an anti-join needs no unique right side: 13 → 11 ms a week
            .select("customer_id")
            .join(weekly.select("customer_id"), on="customer_id", how="anti")
            .sort("customer_id"),
        ]
    )
    if items.row(0) != counted.row(0):  # the checksums or the totals differ: name the pairs
        return _reconcile_by_codes(weekly, exploded, customers)
    return Reconciliation(
        int(items.item(0, "n")),
        int(counted.item(0, "n") or 0),
        [],
        missing.get_column("customer_id").to_list(),
    )


def _reconcile_by_codes(
    weekly: pl.LazyFrame, exploded: pl.LazyFrame, customers: pl.DataFrame
) -> Reconciliation:
    """`reconcile_week` pair by pair, naming every pair that differs.

    On integer codes, as `count_week`: each item adds 1 to the key of its pair and each
    stored count takes its count off it; the pairs left with something are those that
    differ, a quarter of the customers at a time. A group-by on the two text columns of both
    sides held about 330 MB at 10x."""
    stored = weekly.filter(pl.col("product_id").is_not_null()).select(
        "customer_id", "product_id", n=-pl.col("purchase_count")
    )
    both = pl.concat([exploded.select("customer_id", "product_id", n=pl.lit(1, pl.Int64)), stored])
    catalog = customers.get_column("customer_id").unique(maintain_order=True).drop_nulls()
    customer_ids = _dictionary(both, catalog)
    product_ids = (
        both.select("product_id").unique().collect(engine="streaming").get_column("product_id")
    )
    if customer_ids.has_nulls() or product_ids.has_nulls():  # a null id: not a code
        return _reconcile_by_ids(weekly, exploded, customers)
    coded = both.join(_codes(customer_ids, "c"), on="customer_id", how="left").join(
        _codes(product_ids, "p"), on="product_id", how="left"
    )
    differing = pl.concat(
        coded.filter(pl.col("c") % _RECONCILE_PARTS == part)
        .group_by(key=pl.col("c").cast(pl.UInt64) * _SHIFT + pl.col("p"))
        .agg(pl.col("n").sum())
        .filter(pl.col("n") != 0)
        .collect(engine="streaming")
        .get_column("key")
        for part in range(_RECONCILE_PARTS)
    )
    mismatched = pl.format(
        "{}/{}",
        customer_ids.gather((differing // _SHIFT).cast(pl.UInt32)),
        product_ids.gather((differing % _SHIFT).cast(pl.UInt32)),
    )
    seen = (
        weekly.select("customer_id")
        .join(_codes(customers.get_column("customer_id"), "c"), on="customer_id")
        .select("c")
        .collect(engine="streaming")
        .get_column("c")
    )
    present = pl.repeat(False, customers.height, dtype=pl.Boolean, eager=True).scatter(seen, True)
    missing = customers.get_column("customer_id").filter(~present)
    items = exploded.select(pl.len()).collect().item()
    counted = weekly.select(pl.col("purchase_count").sum()).collect().item()
    return Reconciliation(
        int(items),
        int(counted or 0),
        pl.select(mismatched).to_series().sort().to_list(),
        missing.sort().to_list(),
    )


_RECONCILE_PARTS = 4
"""`reconcile_week` sums the pairs of a quarter of the customers at a time: at 10x its peak
went from about +210 MB to +155 MB, for 0.2 s more (each quarter reads the week again)."""


def _reconcile_by_ids(
    weekly: pl.LazyFrame, exploded: pl.LazyFrame, customers: pl.DataFrame
) -> Reconciliation:
    """`reconcile_week` by group-bys on the ids themselves (any ids, null ones too)."""
    keys = ["customer_id", "product_id"]
    bought = exploded.group_by(keys).agg(items=pl.len().cast(pl.Int64))
    stored = (
        weekly.filter(pl.col("product_id").is_not_null())
        .group_by(keys)
        .agg(counted=pl.col("purchase_count").sum())
    )
    pairs = bought.join(stored, on=keys, how="full", coalesce=True, nulls_equal=True).filter(
        pl.col("items").fill_null(0) != pl.col("counted").fill_null(0)
    )
    mismatched = (
        pairs.select(pl.format("{}/{}", *keys).fill_null("null").alias("pair"))
        .collect()
        .get_column("pair")
        .sort()
        .to_list()
    )
    missing = (
        customers.lazy()
        .select("customer_id")
        .join(weekly.select("customer_id").unique(), on="customer_id", how="anti")
        .collect()
        .get_column("customer_id")
        .sort()
        .to_list()
    )
    items = exploded.select(pl.len()).collect().item()
    counted = weekly.select(pl.col("purchase_count").sum()).collect().item()
    return Reconciliation(int(items), int(counted or 0), mismatched, missing)


def _pair_checksums(weight: pl.Expr, rows: pl.Expr | None = None) -> list[pl.Expr]:
    """Two sums, over `rows` (all by default), of `weight` times a 32-bit hash of each row's
    (customer, product) pair, with independent seeds. 32-bit hashes keep the sums exact in
    64 bits, negative weights included, for up to 2**31 items a week."""
    pair = pl.struct("customer_id", "product_id")
    weight = weight.cast(pl.Int64)
    if rows is not None:
        weight = pl.when(rows).then(weight).otherwise(0)
    return [
        ((pair.hash(seed=seed) % (1 << 32)).cast(pl.Int64) * weight).sum().alias(f"checksum_{seed}")
        for seed in (1, 2)
    ]
