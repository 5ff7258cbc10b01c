"""The Dagster shell: one ETL pass, two tables (`registered_signatures`, `signature_rejects`).

`registered_signatures` lists every signature registered in the database after the run (so a
re-run gives the same table), not only the new ones. A warning check flags any reject.
"""

from collections.abc import Iterator

import dagster as dg
import polars as pl

from assets_pkg.defs.metadata import column_schema, preview
from assets_pkg.defs.signatures.resources import (
    SignatureAssetStoreResource,
    SignatureDatabaseResource,
    SignatureSourcesResource,
)
from assets_pkg.shared.storage import StorageError
from assets_pkg.signatures.errors import SignatureServiceError
from assets_pkg.signatures.etl import EtlReport, run_etl
from assets_pkg.signatures.records import SourceLayoutError
from assets_pkg.signatures.tables import (
    DESCRIPTIONS,
    REGISTERED_SCHEMA,
    REJECTS_SCHEMA,
    registered_frame,
    rejects_frame,
)

REGISTERED = "registered_signatures"
REJECTS = "signature_rejects"
CHECK = "rejects_is_empty"

SOURCE_A = dg.AssetSpec(
    "source_a",
    group_name="sources",
    description="SOURCE_A/ under SIGNATURES_SOURCE_DIR: Offline/ signature images and "
    "Online/ .HWR pen traces, genuine and forged.",
    kinds={"file"},
)
SOURCE_B = dg.AssetSpec(
    "source_b",
    group_name="sources",
    description="SOURCE_B/ under SIGNATURES_SOURCE_DIR: an INDEX of signature ids and "
    "their parents (a forgery's), and one image per signature.",
    kinds={"file"},
)
"""The two signature sources: external assets, read by one ETL pass (docs/signatures.md)."""


@dg.multi_asset(
    outs={
        REGISTERED: dg.AssetOut(
            description="Every registered (current) signature, one row each, from the database.",
            kinds={"polars", "parquet"},
            metadata=column_schema(REGISTERED_SCHEMA, DESCRIPTIONS),
            is_required=False,
        ),
        REJECTS: dg.AssetOut(
            description="Source files and INDEX lines refused (`rejected`) or noted (`warning`).",
            kinds={"polars", "parquet"},
            metadata=column_schema(REJECTS_SCHEMA, DESCRIPTIONS),
            is_required=False,
        ),
    },
    check_specs=[
        dg.AssetCheckSpec(
            CHECK,
            asset=REJECTS,
            description="Warns when any source file or INDEX line was rejected or warned about.",
        )
    ],
    group_name="signatures",
    can_subset=True,
    deps=[SOURCE_A, SOURCE_B],
)
def signature_warehouse(
    context: dg.AssetExecutionContext,
    signatures_db: SignatureDatabaseResource,
    signature_sources: SignatureSourcesResource,
    signature_asset_store: SignatureAssetStoreResource,
) -> Iterator[dg.Output[pl.DataFrame] | dg.AssetCheckResult]:
    """Read SOURCE_A and SOURCE_B, register new signatures, and publish both tables."""
    database = signatures_db.open()
    try:
        report = run_etl(
            signature_sources.location, database, signature_asset_store.service(database)
        )
        registered = registered_frame(database)
    except (SourceLayoutError, SignatureServiceError, StorageError) as error:
        raise dg.Failure(description=str(error)) from None
    finally:
        database.dispose()
    rejects = rejects_frame(report.rejects)
    context.log.info(
        f"{report.new_signatures} new signatures, {report.unchanged} already registered "
        f"({report.skipped_unchanged} of them skipped unparsed), {report.superseded} "
        f"superseded, {len(rejects)} rejects/warnings"
    )
    selected = context.selected_asset_keys
    if dg.AssetKey(REGISTERED) in selected:
        yield dg.Output(
            registered, output_name=REGISTERED, metadata=registered_metadata(registered, report)
        )
    if dg.AssetKey(REJECTS) in selected:
        yield dg.Output(rejects, output_name=REJECTS, metadata=rejects_metadata(rejects))
    if dg.AssetCheckKey(dg.AssetKey(REJECTS), CHECK) in context.selected_asset_check_keys:
        yield check_result(rejects)


def registered_metadata(frame: pl.DataFrame, report: EtlReport) -> dict[str, dg.MetadataValue]:
    counts = frame.group_by("source", "subset").len().sort("source", "subset")
    return {
        "new_this_run": dg.MetadataValue.int(report.new_signatures),
        "already_registered": dg.MetadataValue.int(report.unchanged),
        "unchanged_skipped": dg.MetadataValue.int(report.skipped_unchanged),
        "superseded_this_run": dg.MetadataValue.int(report.superseded),
        "new_signees": dg.MetadataValue.int(report.new_signees),
        "linked_late": dg.MetadataValue.int(report.linked_late),
        "assets_restored": dg.MetadataValue.int(report.assets_restored),
        "signees": dg.MetadataValue.int(frame["signee_id"].n_unique()),
        "forgeries": dg.MetadataValue.int(int(frame["is_forgery"].sum())),
        "by_source_subset": preview(counts, rows=max(counts.height, 1)),
    }


def rejects_metadata(frame: pl.DataFrame) -> dict[str, dg.MetadataValue]:
    by_severity = dict(frame.group_by("severity").len().iter_rows())
    counts = frame.group_by("source", "severity").len().sort("source", "severity")
    return {
        "rejected": dg.MetadataValue.int(int(by_severity.get("rejected", 0))),
        "warnings": dg.MetadataValue.int(int(by_severity.get("warning", 0))),
        "by_source_severity": preview(counts, rows=max(counts.height, 1)),
    }


def check_result(rejects: pl.DataFrame) -> dg.AssetCheckResult:
    rejected = rejects.filter(pl.col("severity") == "rejected").height
    warnings = rejects.height - rejected
    return dg.AssetCheckResult(
        check_name=CHECK,
        asset_key=dg.AssetKey(REJECTS),
        passed=rejects.is_empty(),
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{rejected} rejected, {warnings} warnings",
        metadata={"rejected": rejected, "warnings": warnings},
    )
