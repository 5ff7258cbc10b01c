"""What `make run` built: each asset's rows, partitions and location in the warehouse, and
every asset check that did not pass, with its counts and the week(s) they cover. A check
evaluated per week is judged by each week's latest evaluation and its failing weeks add up
(so its counts compare with the tables, which count every week stored); another check by
its latest evaluation, and the weeks of the run that made it.
On the bundled samples, it says that their bad records are planted on purpose.

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

from assets_pkg.defs.partitions import PARTITION_TAG, RANGE_END_TAG, RANGE_START_TAG
from assets_pkg.shared import storage
from assets_pkg.shared.cli import run_cli
from assets_pkg.shared.layout import (
    HIVE_KEY,
    DamagedFileError,
    again_phrase,
    scan_stored,
    stored_file,
)
from assets_pkg.shared.settings import PROJECT_ROOT, Settings, check_reachable

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
    return [evaluation for evaluation, _ in latest_failures(instance, keys)]


def latest_failures(
    instance: dg.DagsterInstance, keys: Iterable[dg.AssetCheckKey]
) -> list[tuple[dg.AssetCheckEvaluation, str | None]]:
    """(evaluation, the weeks it covers, e.g. `3 weeks 2024-01-01...2024-01-15`, or None for
    an unpartitioned check) of each check in `keys` that did not pass where it was last
    evaluated. A check evaluated per week is judged week by week: the latest evaluation of
    each week, the failing weeks merged into one line whose counts add up over them, so that
    they compare with the tables, which count every week stored. Any other check is judged
    by its latest evaluation."""
    per_week = _latest_per_week(instance)
    failed: list[tuple[dg.AssetCheckEvaluation, str | None]] = []
    for key in keys:
        weeks = per_week.get(key)
        if weeks:
            failing = {week: e for week, e in sorted(weeks.items()) if not e.passed}
            if failing:
                failed.append((_merged(list(failing.values())), _weeks_phrase(list(failing))))
            continue
        record = instance.get_latest_asset_check_evaluation_record(key)
        evaluation = record.evaluation if record is not None else None
        if record is not None and evaluation is not None and not evaluation.passed:
            failed.append((evaluation, _covered(instance, evaluation, record.run_id)))
    return failed


def _latest_per_week(
    instance: dg.DagsterInstance,
) -> dict[dg.AssetCheckKey, dict[str, dg.AssetCheckEvaluation]]:
    """The latest evaluation of each (check, week) that carries a week, over every run: runs
    in the order they were created, each run's events in its own order (a local instance
    numbers events per run, so event ids of two runs do not compare)."""
    latest: dict[dg.AssetCheckKey, dict[str, dg.AssetCheckEvaluation]] = {}
    runs = sorted(instance.get_run_records(), key=lambda record: record.create_timestamp)
    for run in runs:
        records = instance.get_records_for_run(
            run.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION
        ).records
        for record in records:  # ascending: a later evaluation of the run wins
            data = record.event_log_entry.dagster_event
            evaluation = data.event_specific_data if data is not None else None
            if isinstance(evaluation, dg.AssetCheckEvaluation) and evaluation.partition:
                weeks = latest.setdefault(evaluation.asset_check_key, {})
                weeks[evaluation.partition] = evaluation
    return latest


def _merged(evaluations: list[dg.AssetCheckEvaluation]) -> dg.AssetCheckEvaluation:
    """One evaluation standing for several weeks' failures: whole numbers added up, lists
    joined, the worst severity, the first week's description."""
    metadata: dict[str, dg.MetadataValue] = {}
    for label in dict.fromkeys(label for e in evaluations for label in e.metadata):
        values: list[object] = [e.metadata[label].value for e in evaluations if label in e.metadata]
        numbers = [v for v in values if isinstance(v, int) and not isinstance(v, bool)]
        lists = [v for v in values if isinstance(v, list)]
        if len(numbers) == len(values):
            metadata[label] = dg.MetadataValue.int(sum(numbers))
        elif len(lists) == len(values):
            metadata[label] = dg.MetadataValue.json([item for v in lists for item in v])
    first = evaluations[0]
    errors = [e for e in evaluations if e.severity == dg.AssetCheckSeverity.ERROR]
    return dg.AssetCheckEvaluation(
        asset_key=first.asset_key,
        check_name=first.check_name,
        passed=False,
        metadata=metadata,
        severity=dg.AssetCheckSeverity.ERROR if errors else dg.AssetCheckSeverity.WARN,
        description=first.description,
    )


def _covered(
    instance: dg.DagsterInstance, evaluation: dg.AssetCheckEvaluation, run_id: str
) -> str | None:
    """The week(s) an evaluation without a week of its own counted: its run's."""
    run = instance.get_run_by_id(run_id)
    tags = run.tags if run is not None else {}
    start, end = tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if start and end:
        return f"week {start}" if start == end else f"weeks {start}...{end}"
    return f"week {tags[PARTITION_TAG]}" if PARTITION_TAG in tags else None


def _weeks_phrase(weeks: list[str]) -> str:
    if len(weeks) == 1:
        return f"week {weeks[0]}"
    return f"{len(weeks)} weeks {weeks[0]}...{weeks[-1]}"


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


SAMPLE_NOTE = (
    "The bundled samples plant bad records on purpose (data/sources/purchases/README.md: "
    "malformed lines, unknown ids and more, each listed there; data/sources/signatures holds every "
    "awkward file): each check above fails by design there, and its counts are the planted "
    "records found; every bad row is in transaction_quarantine or signature_rejects with "
    "its reason."
)


def print_checks(defs: dg.Definitions, sample: bool = False) -> None:
    home = os.environ.get("DAGSTER_HOME", "")
    if not home or not Path(home).is_dir():
        print("\nAsset checks: set DAGSTER_HOME to the instance of the runs to list them.")
        return
    keys = check_keys(defs)
    with dg.DagsterInstance.get() as instance:
        failed = latest_failures(instance, keys)
    if not failed:
        print(f"\nAsset checks: all {len(keys)} passed in their latest evaluation.")
        return
    print(
        f"\nAsset checks that did not pass ({len(failed)} of {len(keys)}; the weeks they "
        "failed in brackets, each week as last evaluated; details: make ui):"
    )
    for evaluation, covered in failed:
        print(f"  {describe(evaluation)}" + (f" [{covered}]" if covered else ""))
    if sample:
        print(f"\n{SAMPLE_NOTE}")


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
    sample = {settings.purchases_source_dir, settings.signatures_source_dir} == {
        str(PROJECT_ROOT / "data" / "sources" / "purchases"),
        str(PROJECT_ROOT / "data" / "sources" / "signatures"),
    }
    print_checks(build_definitions(settings), sample)
    return 0


if __name__ == "__main__":
    run_cli(main, user_errors=(DamagedFileError,))
