"""The Dagster shell of the read side: `signature_dataset` and `signature_trials`.

Both read what `registered_signatures` registered (the database, opened read-only) and are
written by the project's IO manager as `<asset>/data.parquet`; each also keeps a snapshot of
its version under `signature_versions/<dataset_version>/`, written once, atomically, so that a
cited version can be opened later (`SignatureWarehouse.dataset(version)`).
"""

import dagster as dg
import polars as pl

from assets_pkg.defs.io_manager import write_parquet_atomically
from assets_pkg.defs.metadata import column_schema, preview
from assets_pkg.defs.signatures.assets import REGISTERED
from assets_pkg.defs.signatures.resources import SignatureDatabaseResource, SignatureDatasetResource
from assets_pkg.shared import storage
from assets_pkg.signatures import dataset as dataset_table
from assets_pkg.signatures import trials as trials_table
from assets_pkg.signatures.dataset import DATASET, TRIALS, VERSIONED, build_dataset, version_of
from assets_pkg.signatures.errors import StoreError
from assets_pkg.signatures.trials import build_trials


@dg.asset(
    name=DATASET,
    deps=[REGISTERED],
    description="Every current signature, labelled (genuine / skilled_forgery), linked to what "
    "it imitates, with its points and its split (dev / eval); metadata dataset_version.",
    kinds={"polars", "parquet"},
    metadata=column_schema(dataset_table.DATASET_SCHEMA, dataset_table.DESCRIPTIONS),
    group_name="signatures",
)
def signature_dataset(
    context: dg.AssetExecutionContext,
    signatures_db: SignatureDatabaseResource,
    signature_datasets: SignatureDatasetResource,
) -> dg.Output[pl.DataFrame]:
    """Read every current signature from the database (never writing it) and split it."""
    spec = signature_datasets.spec()
    try:
        # The read side (and numpy) is imported when the dataset is built, not by every
        # process that loads the definitions: 0.2 s of each `dagster` command.
        from assets_pkg.signatures.read import open_read_only

        database = open_read_only(signatures_db.url)
    except StoreError as error:
        raise dg.Failure(description=str(error)) from None
    try:
        built = build_dataset(database, spec)
    except StoreError as error:
        raise dg.Failure(description=str(error)) from None
    finally:
        database.dispose()
    _snapshot(signature_datasets, built.version, DATASET, built.frame)
    frame = built.frame
    counts = frame.group_by("split", "medium", "label").len().sort("split", "medium", "label")
    context.log.info(f"{DATASET}: {frame.height} signatures, dataset_version {built.version}")
    return dg.Output(
        frame,
        metadata={
            "dataset_version": dg.MetadataValue.text(built.version),
            "seed": dg.MetadataValue.int(spec.seed),
            "dev_ratio": dg.MetadataValue.float(spec.dev_ratio),
            "split_groups": dg.MetadataValue.int(frame["split_group"].n_unique()),
            "by_split_medium_label": preview(counts, rows=max(counts.height, 1)),
        },
    )


@dg.asset(
    name=TRIALS,
    description="Comparison lists per split: 1vs1 and 4vs1 enrolments against genuine, "
    "skilled-forgery and random-forgery probes of the same split.",
    kinds={"polars", "parquet"},
    metadata=column_schema(trials_table.TRIALS_SCHEMA, trials_table.DESCRIPTIONS),
    group_name="signatures",
)
def signature_trials(
    context: dg.AssetExecutionContext,
    signature_datasets: SignatureDatasetResource,
    signature_dataset: pl.DataFrame,
) -> dg.Output[pl.DataFrame]:
    """The trials of the materialised dataset, drawn with the split's seed.

    The dataset's version is recomputed from its rows with this run's seed and ratio: a run
    of signature_trials alone with another seed or ratio than the dataset was split with
    would draw other trials under the dataset's version, so it fails instead. An empty
    dataset has a version too (its snapshot has no rows), and its trials are kept under it."""
    spec = signature_datasets.spec()
    version = version_of(signature_dataset.select(VERSIONED).iter_rows(named=True), spec)
    if signature_dataset.height and signature_dataset["dataset_version"][0] != version:
        raise dg.Failure(
            description=f"signature_dataset (dataset_version "
            f"{signature_dataset['dataset_version'][0]}) was split with another seed or "
            f"dev_ratio than this run's signature_datasets ({spec.label()}): materialise "
            "signature_dataset and signature_trials together, with the same configuration.",
            allow_retries=False,
        )
    trials = build_trials(signature_dataset, spec.seed)
    _snapshot(signature_datasets, version, TRIALS, trials)
    counts = trials.group_by("split", "protocol", "label").len().sort("split", "protocol", "label")
    context.log.info(f"{TRIALS}: {trials.height} trials of dataset_version {version}")
    return dg.Output(
        trials,
        metadata={
            "dataset_version": dg.MetadataValue.text(version),
            "by_split_protocol_label": preview(counts, rows=max(counts.height, 1)),
        },
    )


def _snapshot(
    resource: SignatureDatasetResource, version: str, asset: str, frame: pl.DataFrame
) -> None:
    """Keep `frame` as `asset`'s snapshot of `version`, once: a version's content never
    changes, so an existing snapshot stays as it was when first cited."""
    path = resource.snapshot(version, asset)
    try:
        if path.exists():
            return
        if storage.is_local(path):
            storage.local_path(path.parent).mkdir(parents=True, exist_ok=True)
        write_parquet_atomically(frame, path)
    except storage.StorageError as error:
        raise dg.Failure(description=str(error)) from None
