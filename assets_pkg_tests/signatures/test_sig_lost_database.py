"""The database lost in the middle of a run: one sentence naming it, and a re-run completes."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy as sa

from assets_pkg.defs.signatures.assets import signature_warehouse
from assets_pkg.shared.location import Location
from assets_pkg.signatures.asset_service import ContentAddressedAssetService
from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.errors import StoreError
from assets_pkg.signatures.etl import run_etl
from assets_pkg.signatures.model import Signature
from assets_pkg.signatures.repositories import SqlSignatureRepository
from assets_pkg.signatures.tables import registered_frame

from .conftest import POSTGRES_URL
from .helpers import write_tree
from .test_sig_assets import failure_description, resources

LOST = (
    r"^Lost the signature database at SIGNATURES_DB_URL \({url}\) in the middle of the run "
    r"\(.+\): check that the database server is running and reachable, or set "
    r"SIGNATURES_DB_URL to one that is, then run again \(what was registered before stays "
    r"registered\)\.$"
)


def sources(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "sources",
        {
            **{f"SOURCE_A/Online/Genuine/00{w}_01.HWR": b"1,2,3\n" for w in range(1, 6)},
            **{f"SOURCE_A/Offline/Genuine/00{w}_01.png": f"{w}".encode() for w in range(1, 6)},
            "SOURCE_B/INDEX": b"0\n",
        },
    )


class KillingAssets(ContentAddressedAssetService):
    """Terminates the run's database connection from outside while it stores the 3rd image."""

    def __init__(self, root: Path, database: SignatureDatabase, admin: sa.Engine) -> None:
        super().__init__(root, database)
        self.database, self.admin, self.calls = database, admin, 0

    def register_asset(
        self, local_uri: str, metadata: Mapping[str, str], data: bytes | None = None
    ) -> str:
        self.calls += 1
        if self.calls == 3:
            with self.database.transaction() as connection:
                pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
            with self.admin.begin() as admin:
                admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return super().register_asset(local_uri, metadata, data)


@pytest.mark.postgres
def test_a_terminated_postgresql_connection_is_one_sentence_and_a_rerun_completes(
    tmp_path: Path, postgres_url: str
) -> None:
    source_dir = sources(tmp_path)
    database = SignatureDatabase.from_url(postgres_url)
    database.ensure_schema()
    admin = sa.create_engine(POSTGRES_URL)
    with pytest.raises(StoreError, match=LOST.format(url=_escaped(database))):
        run_etl(
            Location.of(source_dir), database, KillingAssets(tmp_path / "assets", database, admin)
        )
    admin.dispose()
    again = SignatureDatabase.from_url(postgres_url)
    report = run_etl(
        Location.of(source_dir), again, ContentAddressedAssetService(tmp_path / "assets", again)
    )
    assert report.new_signatures + report.unchanged == 10
    assert registered_frame(again).height == 10
    database.dispose()
    again.dispose()


def test_a_lost_connection_fails_the_asset_with_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_dir = sources(tmp_path)
    warehouse = tmp_path / "wh"
    real_store = SqlSignatureRepository.store

    def lost(self: SqlSignatureRepository, new: Sequence[Signature]) -> None:
        raise sa.exc.OperationalError(
            "INSERT INTO signatures ...",
            {},
            ConnectionResetError("server closed the connection unexpectedly"),
            connection_invalidated=True,
        )

    monkeypatch.setattr(SqlSignatureRepository, "store", lost)
    result = dg.materialize(
        [signature_warehouse], resources=resources(warehouse, source_dir), raise_on_error=False
    )
    assert not result.success
    url = f"sqlite:///{warehouse / 'signatures.db'}"
    assert re.fullmatch(LOST.format(url=re.escape(url)), failure_description(result))
    monkeypatch.setattr(SqlSignatureRepository, "store", real_store)
    again = dg.materialize([signature_warehouse], resources=resources(warehouse, source_dir))
    assert again.success


def _escaped(database: SignatureDatabase) -> str:
    return re.escape(database.describe())
