"""The signature domain's Dagster definitions, merged into `assets_pkg.definitions`."""

from __future__ import annotations

import dagster as dg

from assets_pkg.shared.settings import Settings
from assets_pkg.signatures.assets import signature_warehouse
from assets_pkg.signatures.resources import (
    SignatureAssetStoreResource,
    SignatureDatabaseResource,
    SignatureSourcesResource,
)

ASSET_STORE_FOLDER = "signature_assets"


def build_defs(settings: Settings) -> dg.Definitions:
    """Assets, the check and this domain's resources; the global `io_manager` comes from outside."""
    return dg.Definitions(
        assets=[signature_warehouse],
        resources={
            "signatures_db": SignatureDatabaseResource(url=settings.signatures_db_url),
            "signature_sources": SignatureSourcesResource(
                source_dir=settings.signatures_source_dir
            ),
            "signature_asset_store": SignatureAssetStoreResource(
                root=f"{settings.warehouse_dir.rstrip('/')}/{ASSET_STORE_FOLDER}"
            ),
        },
    )
