"""Dagster resources for the signature warehouse, configured from `Settings` (no env at import)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import dagster as dg
from upath import UPath

from assets_pkg.defs.resource_checks import SettingError, field_rule, location_rule, validated
from assets_pkg.shared import storage
from assets_pkg.shared.location import Location
from assets_pkg.shared.settings import check_reachable
from assets_pkg.signatures.asset_service import AssetCatalog, ContentAddressedAssetService
from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.engines import check_database_url
from assets_pkg.signatures.errors import StoreError
from assets_pkg.signatures.etl import source_root
from assets_pkg.signatures.splits import (
    DEFAULT_DEV_RATIO,
    DEFAULT_SEED,
    SplitSpec,
    check_dev_ratio,
    check_seed,
)

N = TypeVar("N", int, float)
SIGNATURES_SOURCE_SETTING = "SIGNATURES_SOURCE_DIR (signature_sources.source_dir)"


class SignatureDatabaseResource(dg.ConfigurableResource["SignatureDatabaseResource"]):
    """The relational store (SIGNATURES_DB_URL): SQLite by default, PostgreSQL in production.

    `url` is `dg.EnvVar("SIGNATURES_DB_URL")` when the variable is set: the web UI and run
    config show the name, never the URL and its password; the rule checks the URL a run
    reads."""

    url: str

    _url_rule = field_rule("url", lambda value: _database_url_rule(value))

    def open(self) -> SignatureDatabase:
        """The database with its schema created or upgraded; dg.Failure if it cannot be used."""
        try:
            database = SignatureDatabase.from_url(self.url)
            database.ensure_schema()
        except StoreError as error:
            raise dg.Failure(description=str(error)) from None
        return database


class SignatureSourcesResource(dg.ConfigurableResource["SignatureSourcesResource"]):
    """SIGNATURES_SOURCE_DIR: the folder holding SOURCE_A/ and SOURCE_B/ (a local folder, or
    an object store's prefix: docs/storage.md)."""

    source_dir: str

    _source_dir_rule = location_rule("source_dir", SIGNATURES_SOURCE_SETTING)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """A source on an object store must answer before a run reads it (one sentence
        naming SIGNATURES_SOURCE_DIR otherwise); nothing for a local folder."""
        validated(check_reachable, self.source_dir, SIGNATURES_SOURCE_SETTING)

    @property
    def location(self) -> Location:
        """The source folder (`etl.source_root`): a local folder for a plain path or a
        `file://` (`local://`) URL naming one, as WAREHOUSE_DIR accepts (`file:///data/src`
        is `/data/src`); else the store's prefix, with the storage options."""
        return source_root(self.source_dir)


class SignatureAssetStoreResource(dg.ConfigurableResource["SignatureAssetStoreResource"]):
    """Where image bytes are kept, content-addressed (`<WAREHOUSE_DIR>/signature_assets`)."""

    root: str

    _root_rule = location_rule("root", "WAREHOUSE_DIR (signature_asset_store.root)")

    def service(self, catalog: AssetCatalog | None) -> ContentAddressedAssetService:
        return ContentAddressedAssetService(self.root, catalog)


class SignatureDatasetResource(dg.ConfigurableResource["SignatureDatasetResource"]):
    """How `signature_dataset` splits and where its versions are kept: `seed` and `dev_ratio`
    (the share of genuine signers in `dev`) fix every signee's split; each dataset_version's
    snapshot goes under `versions_root` (`<WAREHOUSE_DIR>/signature_versions`)."""

    versions_root: str
    seed: int = DEFAULT_SEED
    dev_ratio: float = DEFAULT_DEV_RATIO

    _versions_root_rule = location_rule(
        "versions_root", "WAREHOUSE_DIR (signature_datasets.versions_root)"
    )
    # The split's rules, whether the value comes from the definitions or from run config: a
    # bad value fails the run before any step, in one sentence.
    _seed_rule = field_rule("seed", lambda value: _split_rule(check_seed, value))
    _dev_ratio_rule = field_rule("dev_ratio", lambda value: _split_rule(check_dev_ratio, value))

    def spec(self) -> SplitSpec:
        """The split's parameters; dg.Failure naming the setting for a value out of range."""
        try:
            return SplitSpec(seed=self.seed, dev_ratio=self.dev_ratio)
        except ValueError as error:
            raise dg.Failure(description=str(error)) from None

    def snapshot(self, version: str, asset: str) -> UPath:
        return storage.upath(self.versions_root) / version / f"{asset}.parquet"


def _database_url_rule(value: str) -> str:
    """The rule of SIGNATURES_DB_URL: a supported database whose driver is installed (checked
    without connecting), whether the URL comes from the environment or from run config. The
    sentence shows the URL with its password masked (`engines.shown_url`)."""
    try:
        check_database_url(value)
    except StoreError as error:
        message = str(error)
        named = "SIGNATURES_DB_URL (signatures_db.url)"
        raise SettingError(
            message.replace("SIGNATURES_DB_URL", named, 1)
            if "SIGNATURES_DB_URL" in message
            else f"{named}: {message}"
        ) from None
    return value


def _split_rule(rule: Callable[[N], N], value: N) -> N:
    """`rule(value)`, its ValueError (already one sentence) raised as a SettingError."""
    try:
        return rule(value)
    except ValueError as error:
        raise SettingError(str(error)) from None
