"""What `make run` built: each asset's rows, partitions and location in the warehouse.

python -m assets_pkg.summary
"""

from __future__ import annotations

import polars as pl
from upath import UPath

from assets_pkg.shared.settings import Settings

ASSETS = [
    "raw_customers",
    "products",
    "exploded_transactions",
    "weekly_purchase_counts",
    "transaction_quarantine",
    "registered_signatures",
    "signature_rejects",
]


def summarise(warehouse_dir: str) -> list[tuple[str, int, int, str]]:
    """(asset, rows, weekly partitions, folder) for each asset present in the warehouse."""
    rows = []
    for asset in ASSETS:
        folder = UPath(warehouse_dir) / asset
        files = sorted(folder.glob("**/*.parquet")) if folder.exists() else []
        if not files:
            continue
        count = pl.scan_parquet([str(f) for f in files]).select(pl.len()).collect().item()
        weeks = sum(1 for f in files if f.parent.name.startswith("week="))
        rows.append((asset, int(count), weeks, str(folder)))
    return rows


def main() -> int:
    settings = Settings.from_env()
    rows = summarise(settings.warehouse_dir)
    if not rows:
        print(f"Nothing has been built in {settings.warehouse_dir} yet.")
        return 1
    print(f"\nBuilt in {settings.warehouse_dir}:")
    print(f"  {'asset':<24} {'rows':>10} {'weeks':>6}  location")
    for asset, count, weeks, folder in rows:
        print(f"  {asset:<24} {count:>10,} {weeks or '-':>6}  {folder}")
    print(f"  signatures database: {settings.signatures_db_url}")
    print(
        "\nRead any of them as one table: "
        f"polars.scan_parquet('{settings.warehouse_dir}/<asset>/**/*.parquet', "
        "hive_partitioning=True)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
