"""The warehouse on an S3 API (moto on loopback): every asset, read back, equal to a local run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assets_pkg.definitions import build_definitions
from assets_pkg.purchases.period import counts_between
from assets_pkg.shared import storage
from assets_pkg.shared.settings import PROJECT_ROOT, Settings
from assets_pkg.summary import summarise

PURCHASES = PROJECT_ROOT / "data" / "sources" / "purchases"
SIGNATURES = PROJECT_ROOT / "data" / "sources" / "signatures"
CATALOG = ["raw_customers", "products"]
WEEKLY = ["exploded_transactions", "weekly_purchase_counts", "transaction_quarantine"]
SIGNATURE_TABLES = ["registered_signatures", "signature_rejects"]
RUN_DEPENDENT = [
    "signature_id",
    "signee_id",
    "reference_signee_id",
    "reference_signature_id",
    "created",
]
"""Ids and times the database hands out: they differ from one database to another."""


def settings(warehouse: str, database: Path, purchases: str = str(PURCHASES)) -> Settings:
    return Settings(
        purchases_source_dir=purchases,
        signatures_source_dir=str(SIGNATURES),
        warehouse_dir=warehouse,
        signatures_db_url=f"sqlite:///{database}",
    )


def build(config: Settings, weeks: str | tuple[str, str]) -> None:
    """The catalog, the signatures, then the weekly assets of one week or a range."""
    defs = build_definitions(config)
    assets: list[Any] = list(defs.assets or [])
    resources = dict(defs.resources or {})
    partition: dict[str, Any] = (
        {"partition_key": weeks}
        if isinstance(weeks, str)
        else {
            "tags": {
                "dagster/asset_partition_range_start": weeks[0],
                "dagster/asset_partition_range_end": weeks[1],
            }
        }
    )
    first = dg.materialize(assets, resources=resources, selection=CATALOG + SIGNATURE_TABLES)
    assert first.success
    assert dg.materialize(assets, resources=resources, selection=WEEKLY, **partition).success


def tables(warehouse: str) -> dict[str, pl.DataFrame]:
    """Every Parquet file under the warehouse, by path relative to it, read back."""
    root = storage.upath(warehouse)
    found = {}
    for path in sorted(root.glob("**/*.parquet")):
        frame = storage.scan_parquet(path).collect()
        relative = str(path)[len(str(root)) :].lstrip("/")
        found[relative] = frame.drop(RUN_DEPENDENT, strict=False)
    return found


def asset_objects(warehouse: str) -> dict[str, bytes]:
    root = storage.upath(warehouse) / "signature_assets"
    return {str(p)[len(str(root)) :]: p.read_bytes() for p in root.glob("**/*") if p.is_file()}


def assert_same_warehouse(local: Path, remote: str) -> None:
    local_tables, remote_tables = tables(str(local)), tables(remote)
    assert sorted(remote_tables) == sorted(local_tables)
    assert any(name.startswith("weekly_purchase_counts/week=") for name in remote_tables)
    for name, frame in local_tables.items():
        assert_frame_equal(remote_tables[name], frame, check_row_order=True)
    objects = asset_objects(remote)
    assert objects
    assert objects == asset_objects(str(local))


@pytest.mark.parametrize("weeks", ["2024-01-08", ("2024-01-08", "2024-01-22")])
def test_s3_warehouse_equals_the_local_one_row_for_row(
    s3_bucket: str, tmp_path: Path, weeks: str | tuple[str, str]
) -> None:
    remote = f"{s3_bucket}/warehouse"
    config = settings(remote, tmp_path / "s3.db")
    config.check_locations()
    build(config, weeks)
    build(settings(str(tmp_path / "local"), tmp_path / "local.db"), weeks)
    assert_same_warehouse(tmp_path / "local", remote)

    # Any Parquet reader sees each asset as one table, given the storage options.
    options = storage.storage_options(remote).polars
    assert options["aws_endpoint_url"].startswith("http://127.0.0.1:")
    hive = pl.scan_parquet(
        f"{remote}/weekly_purchase_counts/**/*.parquet",
        hive_partitioning=True,
        storage_options=options,
    ).collect()
    local_hive = pl.scan_parquet(
        f"{tmp_path / 'local'}/weekly_purchase_counts/**/*.parquet", hive_partitioning=True
    ).collect()
    assert_frame_equal(hive, local_hive)

    # The period sums and the summary read the bucket as they read a folder.
    last = weeks if isinstance(weeks, str) else weeks[1]
    first = weeks if isinstance(weeks, str) else weeks[0]
    first_day, last_day = pl.Series([first, last]).str.to_date()
    assert_frame_equal(
        counts_between(remote, first_day, last_day),
        counts_between(str(tmp_path / "local"), first_day, last_day),
    )
    assert [row[:3] for row in summarise(remote)] == [
        row[:3] for row in summarise(str(tmp_path / "local"))
    ]
