"""weekly_purchase_counts in Dagster: it reads the materialised catalog (lineage as drawn),
its check is computed from the data, and every week of a range has its own metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import polars as pl
import pytest

from assets_pkg.defs.io_manager import ParquetIOManager
from assets_pkg.defs.purchases import count_assets
from assets_pkg.shared.ahead import Ahead

from .feed_builder import (
    ASSETS,
    Feed,
    check_results_by_week,
    failure_messages,
    materialize,
    purchase,
)

W, NEXT = "2024-01-08", "2024-01-15"
T = TypeVar("T")


def _two_weeks(feed: Feed) -> None:
    feed.fill_days("2024-01-07", "2024-01-22")
    feed.write_day("2024-01-09", purchase("C1", "2024-01-09 10:00:00", "P1", "P1", "P2"))
    feed.write_day("2024-01-16", purchase("C77", "2024-01-16 10:00:00", "P8"))


def test_the_counts_read_the_materialised_catalog_not_the_csvs(feed: Feed, warehouse: Path) -> None:
    _two_weeks(feed)
    counts = dg.AssetKey("weekly_purchase_counts")
    (spec,) = [a.specs_by_key[counts] for a in ASSETS if counts in a.keys]
    assert {dep.asset_key for dep in spec.deps} == {
        dg.AssetKey(name) for name in ("exploded_transactions", "raw_customers", "products")
    }
    assert materialize(feed, warehouse, W, selection=["exploded_transactions"]).success
    alone = materialize(feed, warehouse, W, selection=["weekly_purchase_counts"])
    assert not alone.success
    assert failure_messages(alone) == [
        f"products has no data at {warehouse}/products/data.parquet: "
        "materialise it (and that partition) first."
    ]
    assert materialize(feed, warehouse, None, selection=["raw_customers", "products"]).success
    feed.write_csvs(customers="customer_id,loyalty_score\nC1,1\n")  # not materialised yet
    assert materialize(feed, warehouse, W, selection=["weekly_purchase_counts"]).success
    written = pl.read_parquet(warehouse / "weekly_purchase_counts" / f"week={W}" / "data.parquet")
    assert written.get_column("customer_id").unique().sort().to_list() == ["C1", "C2", "C3", "C4"]


class _StoresNothing(dg.ConfigurableIOManager):
    """Loads inputs from the warehouse and throws outputs away: the frames are never computed."""

    base_dir: str

    def load_input(self, context: dg.InputContext) -> Any:
        return ParquetIOManager(base_dir=self.base_dir).create_io_manager(None).load_input(context)  # type: ignore[arg-type]

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        pass


def test_the_known_ids_check_is_computed_from_the_data(feed: Feed, warehouse: Path) -> None:
    _two_weeks(feed)
    assert materialize(feed, warehouse, (W, NEXT), selection=["exploded_transactions"]).success
    assert materialize(feed, warehouse, None, selection=["raw_customers", "products"]).success
    counts = dg.AssetKey("weekly_purchase_counts")
    result = dg.materialize(
        ASSETS,
        # Not the reconciliation, which reads the counts that this IO manager never stores.
        selection=dg.AssetSelection.assets(counts)
        - dg.AssetSelection.checks(dg.AssetCheckKey(counts, "counts_reconcile")),
        resources={
            "io_manager": _StoresNothing(base_dir=str(warehouse)),
            "purchases_source": dg.ResourceDefinition.none_resource(),
        },
        tags={
            "dagster/asset_partition_range_start": W,
            "dagster/asset_partition_range_end": NEXT,
        },
    )
    known = check_results_by_week(result)["known_ids"]
    assert [known[week].passed for week in (W, NEXT)] == [True, False]
    assert known[NEXT].metadata["examples"] == dg.JsonMetadataValue(
        {"customer_id": ["C77"], "product_id": ["P8"]}
    )


def test_each_week_of_a_range_has_its_own_counts_metadata(feed: Feed, warehouse: Path) -> None:
    _two_weeks(feed)
    result = materialize(feed, warehouse, (W, NEXT))
    assert result.success
    by_week = {
        str(m.partition): m.metadata
        for m in result.asset_materializations_for_node("weekly_purchase_counts")
    }
    assert {week: m["dagster/row_count"] for week, m in by_week.items()} == {
        W: dg.IntMetadataValue(5),  # C1 twice, C2..C4 idle
        NEXT: dg.IntMetadataValue(5),  # C77, C1..C4 idle
    }
    assert {week: m["basket items"] for week, m in by_week.items()} == {
        W: dg.IntMetadataValue(3),
        NEXT: dg.IntMetadataValue(1),
    }


@pytest.mark.parametrize(
    ("pair_items", "ahead_items", "counting"),
    [(3, 3, (2, 2)), (2, 3, (1, 1)), (1, 2, (0, 1))],
    ids=["small: two at a time", "mid-sized: one ahead", "large: when written"],
)
def test_the_weeks_counted_at_once_depend_on_the_largest_week(
    feed: Feed,
    warehouse: Path,
    monkeypatch: pytest.MonkeyPatch,
    pair_items: int,
    ahead_items: int,
    counting: tuple[int, int],
) -> None:
    """Two weeks are counted at once, two ahead of the week being written, when no week of
    the run holds more than PAIR_ITEMS basket items (here the largest holds 3); one ahead up
    to AHEAD_ITEMS; a larger week only when it is written, so that memory never holds two
    large weeks' counting. The reconciliation takes two weeks at once when they are small,
    else one."""
    _two_weeks(feed)
    asked: dict[str, tuple[int, int]] = {}

    class Spy(Ahead[T]):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            asked[kwargs["name"]] = (self.ahead, self.workers)

    monkeypatch.setattr(count_assets, "Ahead", Spy)
    monkeypatch.setattr(count_assets, "PAIR_ITEMS", pair_items)
    monkeypatch.setattr(count_assets, "AHEAD_ITEMS", ahead_items)
    assert materialize(feed, warehouse, (W, NEXT)).success
    reconciling = (2, 2) if pair_items >= 3 else (1, 1)
    assert asked == {"count-weeks": counting, "reconcile-weeks": reconciling}
