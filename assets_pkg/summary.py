"""What `make run` built: each asset's rows, partitions and location in the warehouse, and
every asset check whose latest evaluation failed, with its counts.

python -m assets_pkg.summary

The checks come from the Dagster instance that $DAGSTER_HOME names (the Makefile sets it),
where every run stores its check evaluations.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import dagster as dg
import polars as pl
from upath import UPath

from assets_pkg.shared import storage
from assets_pkg.shared.cli import run_cli
from assets_pkg.shared.io_manager import (
    HIVE_KEY,
    DamagedFileError,
    again_phrase,
    scan_stored,
    stored_file,
)
from assets_pkg.shared.settings import Settings, check_reachable

ASSETS = [
    "raw_customers",
    "products",
    "exploded_transactions",
    "weekly_purchase_counts",
    "transaction_quarantine",
    "registered_signatures",
    "signature_rejects",
    "signature_dataset",
    "signature_trials",
]
SHOWN = 5
"""A check's list (missing days, say) of at most this many items is shown in full."""


def summarise(warehouse_dir: str) -> list[tuple[str, int, int, str]]:
    """(asset, rows, weekly partitions, folder) for each asset present in the warehouse.

    A stored file that cannot be read (truncated, overwritten, a folder in its place) raises
    DamagedFileError naming it, as `period` and the IO manager do."""
    rows = []
    for asset in ASSETS:
        folder = storage.upath(warehouse_dir) / asset
        files = _stored_files(folder)
        if not files:
            continue
        count = sum(_row_count(path, asset) for path in files)
        weeks = sum(1 for f in files if f.parent.name.startswith(f"{HIVE_KEY}="))
        rows.append((asset, count, weeks, str(folder)))
    return rows


def _row_count(path: UPath, asset: str) -> int:
    """The rows of one stored file, from its footer."""
    partition = path.parent.name.removeprefix(f"{HIVE_KEY}=")
    again = again_phrase(asset, partition if path.parent.name != partition else None)
    frame = scan_stored(path, again)
    try:
        return int(frame.select(pl.len()).collect().item())
    except (pl.exceptions.PolarsError, OSError) as error:
        raise DamagedFileError(
            f"{path} is not a readable Parquet file ({storage.first_line(error)}): {again}."
        ) from None


def _stored_files(folder: UPath) -> list[UPath]:
    """The asset's `data.parquet`, or one per `week=...` folder, found by listing rather than
    by a pattern: a warehouse named `[prod]` is a name, not a class of characters."""
    if not folder.exists():
        return []
    partitions = sorted(
        entry.name.removeprefix(f"{HIVE_KEY}=")
        for entry in folder.iterdir()
        if entry.name.startswith(f"{HIVE_KEY}=")
    )
    candidates = [stored_file(folder, None)] + [stored_file(folder, key) for key in partitions]
    # A folder in a file's place is there to be named (scan_stored), not skipped.
    return [path for path in candidates if path.exists()]


def check_keys(defs: dg.Definitions) -> list[dg.AssetCheckKey]:
    """Every asset check of `defs`, in a stable order."""
    keys = {
        spec.key
        for assets in [*(defs.assets or []), *(defs.asset_checks or [])]
        if isinstance(assets, dg.AssetsDefinition)
        for spec in assets.check_specs
    }
    return sorted(keys, key=lambda key: (key.asset_key.to_user_string(), key.name))


def failed_checks(
    instance: dg.DagsterInstance, keys: Iterable[dg.AssetCheckKey]
) -> list[dg.AssetCheckEvaluation]:
    """The latest stored evaluation of each check in `keys` that did not pass."""
    failed = []
    for key in keys:
        record = instance.get_latest_asset_check_evaluation_record(key)
        evaluation = record.evaluation if record is not None else None
        if evaluation is not None and not evaluation.passed:
            failed.append(evaluation)
    return failed


def describe(evaluation: dg.AssetCheckEvaluation) -> str:
    """`name (asset): counts`, the counts taken from the check's metadata: whole numbers as
    they are, lists by their length (and items, if few); the description when there is
    neither."""
    numbers: list[str] = []
    lengths: list[str] = []
    for label, entry in evaluation.metadata.items():
        value: object = entry.value
        if isinstance(value, bool):
            continue
        if isinstance(value, int):
            numbers.append(f"{value:,}" if label == "count" else f"{value:,} {label}")
        elif isinstance(value, list):
            few = f" ({', '.join(map(str, value))})" if 0 < len(value) <= SHOWN else ""
            lengths.append(f"{len(value):,} {label}{few}")
    counts = ", ".join(numbers or lengths) or evaluation.description or "did not pass"
    severity = "" if evaluation.severity == dg.AssetCheckSeverity.WARN else " [ERROR]"
    key = evaluation.asset_check_key
    return f"{key.name} ({key.asset_key.to_user_string()}){severity}: {counts}"


def print_checks(defs: dg.Definitions) -> None:
    home = os.environ.get("DAGSTER_HOME", "")
    if not home or not Path(home).is_dir():
        print("\nAsset checks: set DAGSTER_HOME to the instance of the runs to list them.")
        return
    keys = check_keys(defs)
    with dg.DagsterInstance.get() as instance:
        failed = failed_checks(instance, keys)
    if not failed:
        print(f"\nAsset checks: all {len(keys)} passed in their latest evaluation.")
        return
    print(f"\nAsset checks that did not pass ({len(failed)} of {len(keys)}; details: make ui):")
    for evaluation in failed:
        print(f"  {describe(evaluation)}")


def main() -> int:
    # Imported here: `summarise` alone should not need the whole code location.
    from assets_pkg.definitions import build_definitions

    settings = Settings.from_env()
    check_reachable(settings.warehouse_dir, "WAREHOUSE_DIR")
    rows = summarise(settings.warehouse_dir)
    if not rows:
        print(f"Nothing has been built in {settings.warehouse_dir} yet.")
        return 1
    print(f"\nBuilt in {settings.warehouse_dir}:")
    print(f"  {'asset':<24} {'rows':>10} {'weeks':>6}  location")
    for asset, count, weeks, folder in rows:
        print(f"  {asset:<24} {count:>10,} {weeks or '-':>6}  {folder}")
    print(f"  signatures database: {settings.signatures_db_url}")
    # An object store also needs its storage options (docs/storage.md).
    options = (
        ""
        if storage.is_local(settings.warehouse_dir)
        else ", storage_options=assets_pkg.shared.storage.storage_options("
        f"'{settings.warehouse_dir}').polars"
    )
    print(
        "\nRead any of them as one table: "
        f"polars.scan_parquet('{settings.warehouse_dir}/<asset>/**/*.parquet', "
        f"hive_partitioning=True{options})"
    )
    print_checks(build_definitions(settings))
    return 0


if __name__ == "__main__":
    run_cli(main, user_errors=(DamagedFileError,))
