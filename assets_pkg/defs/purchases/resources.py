"""The purchase domain's Dagster resource: where the feed lies and how tolerant it is."""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
import polars as pl

from assets_pkg.defs.resource_checks import field_rule, location_rule, validated
from assets_pkg.purchases import catalog
from assets_pkg.purchases.feed import source_root
from assets_pkg.shared.location import Location
from assets_pkg.shared.settings import check_reachable, check_tolerance
from assets_pkg.shared.storage import StorageError

SOURCE_DIR_SETTING = "PURCHASES_SOURCE_DIR (purchases_source.source_dir)"
TOLERANCE_SETTING = "PURCHASES_DATE_TOLERANCE_DAYS (purchases_source.date_tolerance_days)"


class PurchasesSource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """Where the purchase feed lies, and how far a purchase may stray from its day folder.

    Fed from PURCHASES_SOURCE_DIR and PURCHASES_DATE_TOLERANCE_DAYS through `dg.EnvVar` when
    they are set (`assets_pkg.definitions`); the rules below check the values a run uses."""

    source_dir: str
    date_tolerance_days: int
    """No default of its own: Dagster takes a resource's run config whole, so run config that
    named only `source_dir` gave the class's default, not the environment's value; without a
    default, Dagster names the missing field instead (docs/operations.md)."""

    # The same rules as the environment's, for a value from run config or the launchpad too.
    _source_dir_rule = location_rule("source_dir", SOURCE_DIR_SETTING)
    _tolerance_rule = field_rule(
        "date_tolerance_days", lambda value: validated(check_tolerance, value, TOLERANCE_SETTING)
    )

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """A source on an object store must answer with the credentials before a run reads
        it: one sentence naming PURCHASES_SOURCE_DIR otherwise. Nothing for a
        local folder, which `folder()` checks when it is read. A schedule's or a sensor's
        tick (no run) is not failed here, with a traceback: it asks `find_folder`, which
        says why in its skip reason, in the same sentence a run's `folder()` fails with."""
        if context.run is None:
            return
        validated(check_reachable, self.source_dir, SOURCE_DIR_SETTING)

    def location(self) -> Location:
        """The source folder, there or not: the one place `source_dir` becomes a location."""
        return source_root(self.source_dir)

    def find_folder(self) -> tuple[Location, str | None]:
        """The source folder, and None when it can be read, else one sentence naming
        PURCHASES_SOURCE_DIR: it does not exist, is not a folder, or lies on an object store
        that cannot be used (refused credentials, no answer). The run's assets (`folder`),
        the schedule and the late-data sensor all ask here."""
        path = self.location()
        try:
            present = path.is_dir()
        except StorageError as error:
            return path, str(error)
        if present:
            return path, None
        what = "is not a folder" if path.is_local and path.exists() else "does not exist"
        return path, (
            f"The purchase source folder {path} {what}: set PURCHASES_SOURCE_DIR "
            "to the folder holding customers.csv, products.csv and transactions/."
        )

    def folder(self) -> Location:
        """The source folder: a local folder, or an object store's prefix (docs/storage.md);
        dg.Failure in one sentence when it cannot be read (`find_folder`)."""
        path, problem = self.find_folder()
        if problem is not None:
            raise dg.Failure(problem, allow_retries=False)
        return path

    def customers_file(self) -> pl.DataFrame:
        """customers.csv as written (text columns)."""
        return _source_call(catalog.read_customers_file, self.folder() / "customers.csv")

    def products_file(self) -> pl.DataFrame:
        """products.csv as written (text columns)."""
        return _source_call(catalog.read_products_file, self.folder() / "products.csv")

    def customers(self) -> pl.DataFrame:
        return catalog.customers_from(self.customers_file())

    def products(self) -> pl.DataFrame:
        return catalog.products_from(self.products_file())


def _source_call(read: Callable[[Location], pl.DataFrame], path: Location) -> pl.DataFrame:
    try:
        return read(path)
    except catalog.SourceError as error:
        raise dg.Failure(str(error), allow_retries=False) from None
