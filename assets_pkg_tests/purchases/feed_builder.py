"""A tiny purchase feed written from Python values, and one-line Dagster runs over it.

Every test builds its own feed under `tmp_path`: nothing depends on files generated
outside the test.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from assets_pkg.defs.io_manager import ParquetIOManager
from assets_pkg.defs.purchases.assets import build_purchase_assets
from assets_pkg.defs.purchases.resources import PurchasesSource
from assets_pkg.shared.dates import WeekRange
from assets_pkg.shared.location import Location

START = "2024-01-01"
ASSETS = build_purchase_assets(WeekRange.from_keys(START))
WEEKLY_ASSETS = ("exploded_transactions", "transaction_quarantine", "weekly_purchase_counts")

CUSTOMERS_CSV = "customer_id,loyalty_score\nC1,7\nC2,3\nC3,5\nC4,10\n"
PRODUCTS_CSV = (
    "product_id,product_description,product_category\n"
    'P1,"red, with a belt",trousers\n'
    "P2,blue,shirts\n"
)


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def purchase(customer: str, when: str, *products: str, price: int = 100) -> str:
    """One JSON line with the feed's key order; `products` may repeat."""
    return json.dumps(
        {
            "customer_id": customer,
            "basket": [{"product_id": p, "price": price} for p in products],
            "date_of_purchase": when,
        }
    )


def record(**fields: Any) -> str:
    """A JSON line with exactly these fields (for lines that break a rule)."""
    return json.dumps(fields)


def source_file(folder: str) -> str:
    return f"transactions/d={folder}/transactions.json"


@dataclass(frozen=True)
class Feed:
    """The feed's source layout (docs/purchases.md) under `root`."""

    root: Path

    @property
    def source(self) -> Location:
        """`root` as the location the feed's functions take."""
        return Location.of(self.root)

    def write_csvs(self, customers: str = CUSTOMERS_CSV, products: str = PRODUCTS_CSV) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "customers.csv").write_text(customers, encoding="utf-8")
        (self.root / "products.csv").write_text(products, encoding="utf-8")

    def write_day(self, folder: str, *lines: str, raw: bytes | None = None) -> Path:
        """`d=<folder>/transactions.json`: the lines, each ending in `\\n`, or `raw` bytes."""
        path = self.root / "transactions" / f"d={folder}" / "transactions.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = raw if raw is not None else "".join(f"{line}\n" for line in lines).encode()
        path.write_bytes(data)
        return path

    def fill_days(self, first: str, last: str) -> None:
        """An empty file in each folder from `first` to `last` that does not exist yet."""
        current = day(first)
        while current <= day(last):
            folder = self.root / "transactions" / f"d={current}"
            if not folder.exists():
                self.write_day(current.isoformat(), raw=b"")
            current += dt.timedelta(days=1)


def resources(feed: Feed, warehouse: Path, tolerance_days: int = 1) -> dict[str, Any]:
    return {
        "io_manager": ParquetIOManager(base_dir=str(warehouse)),
        "purchases_source": PurchasesSource(
            source_dir=str(feed.root), date_tolerance_days=tolerance_days
        ),
    }


def materialize(
    feed: Feed,
    warehouse: Path,
    weeks: str | tuple[str, str] | None,
    selection: Sequence[str] | None = None,
    tolerance_days: int = 1,
) -> dg.ExecuteInProcessResult:
    """Materialise the purchase assets for one week (a key), a range `(first, last)`, or
    (`None`) without a partition, for the unpartitioned assets alone."""
    if weeks is None:
        partition: dict[str, Any] = {}
    elif isinstance(weeks, str):
        partition = {"partition_key": weeks}
    else:
        partition = {
            "tags": {
                "dagster/asset_partition_range_start": weeks[0],
                "dagster/asset_partition_range_end": weeks[1],
            }
        }
    return dg.materialize(
        ASSETS,
        resources=resources(feed, warehouse, tolerance_days),
        selection=list(selection) if selection is not None else None,
        raise_on_error=False,
        **partition,
    )


def read_week(warehouse: Path, asset: str, week: str) -> pl.DataFrame:
    """One weekly file as written (no `week` column inside)."""
    return pl.read_parquet(warehouse / asset / f"week={week}" / "data.parquet")


def read_files(warehouse: Path, assets: Iterable[str] = WEEKLY_ASSETS) -> dict[str, pl.DataFrame]:
    """Every Parquet file of `assets`, by path relative to the warehouse."""
    return {
        path.relative_to(warehouse).as_posix(): pl.read_parquet(path)
        for asset in assets
        for path in sorted((warehouse / asset).rglob("*.parquet"))
    }


def check_results(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    """Each check's evaluation, for a run of one week (the last week's in a range)."""
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def check_results_by_week(
    result: dg.ExecuteInProcessResult,
) -> dict[str, dict[str | None, dg.AssetCheckEvaluation]]:
    """Each check's evaluations by the week they name; every week has exactly one."""
    by_week: dict[str, dict[str | None, dg.AssetCheckEvaluation]] = {}
    for evaluation in result.get_asset_check_evaluations():
        weeks = by_week.setdefault(evaluation.check_name, {})
        assert evaluation.partition not in weeks, (evaluation.check_name, evaluation.partition)
        weeks[evaluation.partition] = evaluation
    return by_week


def materialized(result: dg.ExecuteInProcessResult) -> list[tuple[str, str | None]]:
    """(asset, partition) of every materialisation of the run, sorted."""
    return sorted(
        (e.asset_key.to_user_string(), e.partition)
        for e in result.get_asset_materialization_events()
        if e.asset_key is not None
    )


def failure_messages(result: dg.ExecuteInProcessResult) -> list[str]:
    """The user-facing message of each failed step."""
    messages = []
    for event in result.get_step_failure_events():
        data = event.step_failure_data
        if data.user_failure_data is not None and data.user_failure_data.description:
            messages.append(data.user_failure_data.description)
        elif data.error is not None:
            messages.append(data.error.message)
    return messages


@contextmanager
def watched_fifo(path: Path) -> Iterator[Callable[[], bool]]:
    """A FIFO at `path`, and a function telling whether anything opened it for reading.

    A writer thread waits to open the FIFO; a reader that opens it lets the writer in,
    which then closes at once, so the reader sees an empty file instead of blocking for
    ever. On the way out the FIFO is opened here, without blocking, to free the writer.
    """
    os.mkfifo(path)
    opened = threading.Event()

    def writer() -> None:
        fd = os.open(path, os.O_WRONLY)  # waits for a reader
        opened.set()
        os.close(fd)

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        yield opened.is_set
    finally:
        reader = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        thread.join()
        os.close(reader)
