"""The relational store on SQLite and PostgreSQL: schema, idempotence, supersedes, atomicity."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from assets_pkg.shared.location import Location
from assets_pkg.signatures import db_schema as schema_module
from assets_pkg.signatures.asset_service import ContentAddressedAssetService
from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.db_schema import (
    SCHEMA_VERSION,
    points,
    schema_version,
    signatures,
    signees,
    supersessions,
)
from assets_pkg.signatures.errors import StoreError
from assets_pkg.signatures.etl import EtlReport, run_etl
from assets_pkg.signatures.model import Signature
from assets_pkg.signatures.records import Reject
from assets_pkg.signatures.repositories import SqlSignatureRepository
from assets_pkg.signatures.tables import REGISTERED_SCHEMA, registered_frame

from .helpers import SOURCE_A_FILES, write_tree

PARENT = "3f2a9c1e-5b7d-4e21-9a8b-0c1d2e3f4a5b"
CHILD = "c0ffee12-3456-4789-abcd-ef0123456789"


def sources(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "sources",
        {
            **SOURCE_A_FILES,
            "SOURCE_B/INDEX": f"2\n{PARENT}\n{CHILD}    {PARENT}\n".encode(),
            f"SOURCE_B/3/{PARENT[:8]}": b"png-1",
            f"SOURCE_B/c/{CHILD[:8]}": b"png-3",
        },
    )


def run(source_dir: Path, database: SignatureDatabase, tmp_path: Path) -> EtlReport:
    assets = ContentAddressedAssetService(tmp_path / "assets", database)
    return run_etl(Location.of(source_dir), database, assets)


def counts(database: SignatureDatabase) -> dict[str, int]:
    return database.count_rows()


def test_the_schema_is_created_once_and_versioned(database: SignatureDatabase) -> None:
    database.ensure_schema()  # a second time changes nothing
    with database.engine.connect() as connection:
        assert connection.execute(sa.select(schema_version.c.version)).scalars().all() == [
            SCHEMA_VERSION
        ]
    assert counts(database) == {
        "signees": 0,
        "signatures": 0,
        "points": 0,
        "assets": 0,
        "supersessions": 0,
    }


def test_a_newer_schema_is_refused_with_the_setting_named(database: SignatureDatabase) -> None:
    with database.engine.begin() as connection:
        connection.execute(schema_version.update().values(version=SCHEMA_VERSION + 1))
    with pytest.raises(
        StoreError,
        match=f"newer than this code's {SCHEMA_VERSION}: upgrade the code or point SIGNATURES_DB",
    ):
        database.ensure_schema()


def test_an_older_schema_is_upgraded_step_by_step(
    database: SignatureDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied: list[int] = []
    with database.engine.begin() as connection:
        connection.execute(schema_version.update().values(version=1))
    monkeypatch.setattr(schema_module, "SCHEMA_VERSION", 3)
    monkeypatch.setattr(
        schema_module,
        "MIGRATIONS",
        {1: lambda c: applied.append(1), 2: lambda c: applied.append(2)},
    )
    database.ensure_schema()
    assert applied == [1, 2]
    with database.engine.connect() as connection:
        assert connection.execute(sa.select(schema_version.c.version)).scalar_one() == 3


def test_an_unreachable_server_names_the_setting() -> None:
    database = SignatureDatabase.from_url(
        "postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2"
    )
    with pytest.raises(
        StoreError, match=r"^Cannot reach the signature database at SIGNATURES_DB_URL"
    ):
        database.ensure_schema()
    with pytest.raises(StoreError, match="SIGNATURES_DB_URL is not a database URL"):
        SignatureDatabase.from_url("not a url")


def test_a_sqlite_file_that_is_not_a_database_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("not a database, only words\n" * 100)
    database = SignatureDatabase.from_url(f"sqlite:///{tmp_path / 'notes.db'}")
    with pytest.raises(StoreError) as caught:
        database.ensure_schema()
    assert str(caught.value) == (
        f"The signature database at SIGNATURES_DB_URL (sqlite:///{tmp_path / 'notes.db'}) "
        "cannot hold this project's tables (file is not a database): point SIGNATURES_DB_URL "
        "at an empty database or at one this project created."
    )


@pytest.mark.parametrize("table", ["signatures", "signees", "assets", "points"])
def test_a_database_with_another_designs_table_is_refused_untouched(
    database_url: str, table: str
) -> None:
    """Another project's table of one of these names would be kept by `create_all`, which
    would then add the others beside it: the database is refused before anything is written."""
    other = sa.create_engine(database_url)
    with other.begin() as connection:
        connection.execute(sa.text(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, note TEXT)"))
    database = SignatureDatabase.from_url(database_url)
    with pytest.raises(StoreError) as caught:
        database.ensure_schema()
    database.dispose()
    shown = database_url.split("?")[0].removeprefix("postgresql+psycopg://")
    assert str(caught.value).startswith("The signature database at SIGNATURES_DB_URL (")
    assert shown.split("/")[-1] in str(caught.value)
    assert str(caught.value).endswith(
        f"cannot hold this project's tables (it already holds {table}, which this project did "
        "not create): point SIGNATURES_DB_URL at an empty database or at one this project "
        "created."
    )
    assert sa.inspect(other).get_table_names() == [table]
    other.dispose()


def test_an_impossible_sqlite_folder_names_the_settings(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(
        StoreError, match=r"cannot be created \(Not a directory\): set WAREHOUSE_DIR"
    ):
        SignatureDatabase.from_url(f"sqlite:///{tmp_path / 'file' / 'sub' / 'db.sqlite'}")


def test_a_second_run_registers_nothing_and_gives_the_same_table(
    database: SignatureDatabase, database_url: str, tmp_path: Path
) -> None:
    source_dir = sources(tmp_path)
    first = run(source_dir, database, tmp_path)
    assert (first.new_signatures, first.unchanged, first.new_signees) == (7, 0, 7)
    table = registered_frame(database)
    after_first = counts(database)
    assert after_first == {
        "signees": 7,
        "signatures": 7,
        "points": 4,
        "assets": 3,
        "supersessions": 0,
    }
    # A fresh database object (a new run) over unchanged inputs.
    again_db = SignatureDatabase.from_url(database_url)
    second = run(source_dir, again_db, tmp_path)
    assert (second.new_signatures, second.unchanged, second.new_signees) == (0, 7, 0)
    assert second.rejects == first.rejects
    assert counts(again_db) == after_first
    assert registered_frame(again_db).equals(table)
    again_db.dispose()


def test_stored_points_and_links_are_exact(database: SignatureDatabase, tmp_path: Path) -> None:
    run(sources(tmp_path), database, tmp_path)
    frame = registered_frame(database)
    by_path = {row["source_path"]: row for row in frame.iter_rows(named=True)}
    online = by_path["Online/Genuine/001_01.HWR"]
    with database.engine.connect() as connection:
        stored = connection.execute(
            sa.select(points.c.seq, points.c.x, points.c.y, points.c.z)
            .where(points.c.signature_id == online["signature_id"])
            .order_by(points.c.seq)
        ).all()
    assert [tuple(r) for r in stored] == [(0, 1.0, 2.0, 3.0), (1, 4.0, 5.0, 6.0)]
    assert online["n_points"] == 2
    forged = by_path["Online/Forgeries/0120002_1.HWR"]
    assert forged["reference_signee_id"] == by_path["Online/Genuine/002_01.HWR"]["signee_id"]
    assert forged["writer_id"] == "0120"
    assert (
        by_path["Offline/Forgeries/0120001_1.png"]["reference_signee_id"]
        == (by_path["Offline/Genuine/001_01.png"]["signee_id"])
    )
    # Offline 0120 and Online 0120 are different forgers; Offline 001 and Online 001 too.
    assert forged["signee_id"] != by_path["Offline/Forgeries/0120001_1.png"]["signee_id"]
    assert online["signee_id"] != by_path["Offline/Genuine/001_01.png"]["signee_id"]
    child = by_path[f"c/{CHILD[:8]}"]
    parent = by_path[f"3/{PARENT[:8]}"]
    assert (child["reference_signee_id"], child["reference_signature_id"]) == (
        parent["signee_id"],
        parent["signature_id"],
    )
    # Same bytes, same asset: SOURCE_B's parent image equals SOURCE_A's 001_01.png.
    assert parent["asset_id"] == by_path["Offline/Genuine/001_01.png"]["asset_id"]
    assert frame.columns == list(REGISTERED_SCHEMA)
    assert frame["created"].dtype == pl.Datetime("us", "UTC")


def test_a_new_file_registers_only_itself_under_its_existing_signee(
    database: SignatureDatabase, tmp_path: Path
) -> None:
    source_dir = sources(tmp_path)
    run(source_dir, database, tmp_path)
    signee_before = _signee_of(database, "Online/Genuine/001_01.HWR")
    write_tree(source_dir, {"SOURCE_A/Online/Genuine/001_02.HWR": b"0,0,0\n"})
    report = run(source_dir, database, tmp_path)
    assert (report.new_signatures, report.unchanged, report.new_signees) == (1, 7, 0)
    assert _signee_of(database, "Online/Genuine/001_02.HWR") == signee_before
    assert counts(database)["signees"] == 7


def test_changed_bytes_supersede_and_nothing_is_deleted(
    database: SignatureDatabase, tmp_path: Path
) -> None:
    source_dir = sources(tmp_path)
    run(source_dir, database, tmp_path)
    old = registered_frame(database).filter(pl.col("source_path") == "Online/Genuine/002_01.HWR")
    write_tree(source_dir, {"SOURCE_A/Online/Genuine/002_01.HWR": b"7,8,9\n10,11,12\n"})
    report = run(source_dir, database, tmp_path)
    assert (report.new_signatures, report.superseded, report.unchanged) == (1, 1, 6)
    new = registered_frame(database).filter(pl.col("source_path") == "Online/Genuine/002_01.HWR")
    assert new.height == 1
    assert new["signature_id"][0] != old["signature_id"][0]
    assert new["signee_id"][0] == old["signee_id"][0]
    assert new["n_points"][0] == 2
    assert counts(database) == {
        "signees": 7,
        "signatures": 8,
        "points": 6,
        "assets": 3,
        "supersessions": 1,
    }
    with database.engine.connect() as connection:
        history = connection.execute(
            sa.select(supersessions.c.signature_id, supersessions.c.superseded_by)
        ).all()
    assert [tuple(r) for r in history] == [(old["signature_id"][0], new["signature_id"][0])]
    # Changing the bytes back registers them again, superseding the second version.
    write_tree(source_dir, {"SOURCE_A/Online/Genuine/002_01.HWR": b"7,8,9\n"})
    back = run(source_dir, database, tmp_path)
    assert (back.new_signatures, back.superseded) == (1, 1)
    assert registered_frame(database).height == 7


def test_a_store_failing_halfway_through_a_signee_leaves_nothing_of_it(
    database: SignatureDatabase, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_dir = sources(tmp_path)
    real_store = SqlSignatureRepository.store
    calls: list[int] = []

    def failing_store(self: SqlSignatureRepository, new: Sequence[Signature]) -> None:
        calls.append(len(new))
        real_store(self, new)  # signatures and points are written ...
        if len(calls) == 3:
            raise RuntimeError("disk full")  # ... then the third signee fails

    monkeypatch.setattr(SqlSignatureRepository, "store", failing_store)
    with pytest.raises(RuntimeError, match="disk full"):
        run(source_dir, database, tmp_path)
    # Signees are registered in order: Offline/Genuine 001, Online/Genuine 001, Online/Genuine 002.
    assert counts(database) == {
        "signees": 2,
        "signatures": 2,
        "points": 2,
        "assets": 1,
        "supersessions": 0,
    }
    with database.engine.connect() as connection:
        writers = connection.execute(
            sa.select(signees.c.directory, signees.c.writer_id).order_by(signees.c.directory)
        ).all()
        orphans = connection.execute(
            sa.select(sa.func.count())
            .select_from(points)
            .where(~points.c.signature_id.in_(sa.select(signatures.c.id)))
        ).scalar_one()
    assert [tuple(w) for w in writers] == [("Offline/Genuine", "001"), ("Online/Genuine", "001")]
    assert orphans == 0
    monkeypatch.setattr(SqlSignatureRepository, "store", real_store)
    next_run = run(source_dir, SignatureDatabase.from_url(database_url), tmp_path)
    assert (next_run.new_signatures, next_run.unchanged) == (5, 2)
    assert counts(database) == {
        "signees": 7,
        "signatures": 7,
        "points": 4,
        "assets": 3,
        "supersessions": 0,
    }


def test_a_failed_transaction_does_not_poison_the_in_memory_cache(
    database: SignatureDatabase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source_dir = sources(tmp_path)
    real_store = SqlSignatureRepository.store

    def always_failing(self: SqlSignatureRepository, new: Sequence[Signature]) -> None:
        real_store(self, new)
        raise RuntimeError("crash")

    monkeypatch.setattr(SqlSignatureRepository, "store", always_failing)
    with pytest.raises(RuntimeError):
        run(source_dir, database, tmp_path)
    monkeypatch.setattr(SqlSignatureRepository, "store", real_store)
    report = run(source_dir, database, tmp_path)  # the same database object, cache included
    assert (report.new_signatures, report.new_signees) == (7, 7)


def test_a_reference_that_appears_later_is_linked_then(
    database: SignatureDatabase, tmp_path: Path
) -> None:
    source_dir = write_tree(
        tmp_path / "sources",
        {
            "SOURCE_A/Online/Forgeries/0120005_1.HWR": b"1,1,1\n",
            "SOURCE_B/INDEX": b"0\n",
        },
    )
    first = run(source_dir, database, tmp_path)
    warning = Reject(
        "SOURCE_A",
        "Online/Forgeries/0120005_1.HWR",
        None,
        "reference SOURCE_A/Online/Genuine/005 not found: registered without a link",
        "warning",
    )
    assert warning in first.rejects
    assert registered_frame(database)["reference_signee_id"].to_list() == [None]
    write_tree(source_dir, {"SOURCE_A/Online/Genuine/005_01.HWR": b"2,2,2\n"})
    second = run(source_dir, database, tmp_path)
    assert second.linked_late == 1
    assert warning not in second.rejects
    frame = registered_frame(database).sort("source_path")
    assert frame["reference_signee_id"].to_list() == [frame["signee_id"][1], None]


def test_a_late_link_counts_and_changes_only_current_signatures(
    database: SignatureDatabase, tmp_path: Path
) -> None:
    """A forgery changed before its reference arrives has a superseded first version: that
    history row keeps its state, and the late link counts the one current forgery."""
    forgery = "SOURCE_A/Online/Forgeries/0120005_1.HWR"
    source_dir = write_tree(tmp_path / "sources", {forgery: b"1,1,1\n", "SOURCE_B/INDEX": b"0\n"})
    run(source_dir, database, tmp_path)
    write_tree(source_dir, {forgery: b"1,1,1\n3,3,3\n"})  # a second version supersedes it
    run(source_dir, database, tmp_path)
    write_tree(source_dir, {"SOURCE_A/Online/Genuine/005_01.HWR": b"2,2,2\n"})
    late = run(source_dir, database, tmp_path)
    assert late.linked_late == 1
    with database.engine.connect() as connection:
        rows = connection.execute(
            sa.select(signatures.c.is_current, signatures.c.reference_signee_id)
            .where(signatures.c.is_forgery)
            .order_by(signatures.c.is_current)
        ).all()
    assert [(current, linked is not None) for current, linked in rows] == [
        (False, False),
        (True, True),
    ]


def test_two_forgeries_of_a_reference_that_appears_later_are_both_linked(
    database: SignatureDatabase, tmp_path: Path
) -> None:
    """On PostgreSQL the late link once failed here ("more than one row returned by a
    subquery"): its inner query was not tied to the row being updated."""
    source_dir = write_tree(
        tmp_path / "sources",
        {
            "SOURCE_A/Online/Forgeries/0120005_1.HWR": b"1,1,1\n",
            "SOURCE_A/Online/Forgeries/0130005_1.HWR": b"4,4,4\n",
            "SOURCE_B/INDEX": b"0\n",
        },
    )
    run(source_dir, database, tmp_path)
    write_tree(source_dir, {"SOURCE_A/Online/Genuine/005_01.HWR": b"2,2,2\n"})
    late = run(source_dir, database, tmp_path)
    assert late.linked_late == 2
    frame = registered_frame(database).filter(pl.col("is_forgery"))
    genuine = _signee_of(database, "Online/Genuine/005_01.HWR")
    assert frame["reference_signee_id"].to_list() == [genuine, genuine]


def _signee_of(database: SignatureDatabase, path: str) -> str:
    frame = registered_frame(database).filter(pl.col("source_path") == path)
    return str(frame["signee_id"][0])
