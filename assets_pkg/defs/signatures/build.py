"""The signature domain's Dagster definitions, merged into `assets_pkg.definitions`."""

from __future__ import annotations

import dagster as dg

from assets_pkg.defs.resource_checks import env_or
from assets_pkg.defs.signatures.assets import SOURCE_A, SOURCE_B, signature_warehouse
from assets_pkg.defs.signatures.dataset_assets import signature_dataset, signature_trials
from assets_pkg.defs.signatures.resources import (
    SignatureAssetStoreResource,
    SignatureDatabaseResource,
    SignatureDatasetResource,
    SignatureSourcesResource,
)
from assets_pkg.shared.settings import Settings
from assets_pkg.signatures.dataset import ASSET_STORE_FOLDER, VERSIONS_FOLDER

__all__ = ["ASSET_STORE_FOLDER", "build_defs"]


def build_defs(settings: Settings) -> dg.Definitions:
    """Assets, the check and this domain's resources; the global `io_manager` comes from outside.

    SIGNATURES_DB_URL and SIGNATURES_SOURCE_DIR, when set, reach the resources as `dg.EnvVar`:
    the web UI and run config name them, and never show the database's password. The two
    folders under WAREHOUSE_DIR are computed from its value as the code location read it
    (a folder URL may hold no password: `settings.check_location`)."""
    return dg.Definitions(
        assets=[SOURCE_A, SOURCE_B, signature_warehouse, signature_dataset, signature_trials],
        resources={
            "signatures_db": SignatureDatabaseResource(
                url=env_or(settings, "SIGNATURES_DB_URL", settings.signatures_db_url)
            ),
            "signature_sources": SignatureSourcesResource(
                source_dir=env_or(settings, "SIGNATURES_SOURCE_DIR", settings.signatures_source_dir)
            ),
            "signature_asset_store": SignatureAssetStoreResource(
                root=f"{settings.warehouse_dir.rstrip('/')}/{ASSET_STORE_FOLDER}"
            ),
            "signature_datasets": SignatureDatasetResource(
                versions_root=f"{settings.warehouse_dir.rstrip('/')}/{VERSIONS_FOLDER}"
            ),
        },
    )
