"""Two runs at the same time: real processes, one database, one source tree."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from assets_pkg.shared.location import Location
from assets_pkg.signatures.asset_service import ContentAddressedAssetService
from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.db_schema import (
    current_path_index,
    schema_version,
    signatures,
    signees,
    supersessions,
)
from assets_pkg.signatures.engines import open_engine
from assets_pkg.signatures.etl import EtlReport, run_etl
from tools.generate_signatures import ScaleSpec, generate

from .concurrent_runs import create_schema, register_tree, run_together
from .helpers import write_tree

SMALL = ScaleSpec(
    genuine_writers=15,
    genuine_samples=4,
    forgers=15,
    forgeries_per_forger=2,
    offline_share=0.5,
    points=20,
    index_signatures=20,
)
"""About 160 files and 40 signees: enough for the two runs to overlap on many of them."""


def test_two_runs_registering_the_same_tree_at_once_write_each_file_once(
    tmp_path: Path, database_url: str
) -> None:
    made = generate(tmp_path / "sources", SMALL)
    assets = tmp_path / "assets"
    outcomes = run_together(register_tree, 2, database_url, str(tmp_path / "sources"), str(assets))
    assert [status for status, _ in outcomes] == ["ok", "ok"], outcomes
    (new_a, unchanged_a, _), (new_b, unchanged_b, _) = (result for _, result in outcomes)
    assert (new_a + new_b, unchanged_a + unchanged_b) == (made.files, made.files)

    database = SignatureDatabase.from_url(database_url)
    with database.engine.connect() as connection:
        per_file = connection.execute(
            sa.select(signatures.c.source, signatures.c.source_path, sa.func.count())
            .where(signatures.c.is_current)
            .group_by(signatures.c.source, signatures.c.source_path)
        ).all()
        per_key = connection.execute(
            sa.select(sa.func.count())
            .select_from(signees)
            .group_by(signees.c.source, signees.c.directory, signees.c.writer_id)
        ).scalars()
        assert {count for *_, count in per_file} == {1}
        assert len(per_file) == made.files
        assert set(per_key) == {1}
    third = run_etl(
        Location.of(tmp_path / "sources"), database, ContentAddressedAssetService(assets, database)
    )
    assert (third.new_signatures, third.unchanged, third.superseded) == (0, made.files, 0)
    database.dispose()


def test_two_processes_create_a_fresh_schema_at_once(database_url: str) -> None:
    outcomes = run_together(create_schema, 2, database_url)
    assert outcomes == [("ok", ""), ("ok", "")]


_HOLD_A_WRITE_LOCK = """
import sqlite3, sys
holder = sqlite3.connect(sys.argv[1], isolation_level=None)
holder.execute("CREATE TABLE held (x INTEGER)")
holder.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.readline()
holder.rollback()
"""


@contextmanager
def _another_process_writing(path: Path) -> Iterator[Callable[[], None]]:
    """Another process holding a write transaction on a new SQLite file (rollback journal), as
    a process does while it switches the file to WAL: the moment at which SQLite refuses a
    second switch at once, without calling its busy handler. Yields the call that makes it let
    go."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_A_WRITE_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    stdin, stdout = holder.stdin, holder.stdout
    assert stdin is not None
    assert stdout is not None

    def release() -> None:
        stdin.write("\n")
        stdin.flush()

    try:
        assert stdout.readline() == "held\n"
        yield release
    finally:
        holder.kill()
        holder.wait()


def test_opening_a_sqlite_file_waits_for_another_process_switching_it_to_wal(
    tmp_path: Path,
) -> None:
    path = tmp_path / "signatures.db"
    engine = open_engine(f"sqlite:///{path}")
    with _another_process_writing(path) as release:
        later = threading.Timer(0.2, release)
        later.start()
        try:
            with engine.connect() as connection:
                mode = connection.exec_driver_sql("PRAGMA journal_mode").scalar()
        finally:
            later.join()
            engine.dispose()
    assert mode == "wal"


def test_the_wait_for_the_switch_to_wal_ends_with_the_busy_timeout(tmp_path: Path) -> None:
    path = tmp_path / "signatures.db"
    engine = open_engine(f"sqlite:///{path}", connect_args={"timeout": 0.1})
    with _another_process_writing(path):
        try:
            with pytest.raises(sa.exc.OperationalError, match="database is locked"):
                engine.connect()
        finally:
            engine.dispose()


def _run(source_dir: Path, database: SignatureDatabase, tmp_path: Path) -> EtlReport:
    return run_etl(
        Location.of(source_dir), database, ContentAddressedAssetService(tmp_path / "a", database)
    )


def _two_tree(tmp_path: Path) -> Path:
    return write_tree(
        tmp_path / "sources",
        {
            "SOURCE_A/Online/Genuine/001_01.HWR": b"1,2,3\n",
            "SOURCE_A/Online/Forgeries/0100001_1.HWR": b"4,5,6\n",
            "SOURCE_A/Offline/Genuine/001_01.png": b"image",
            "SOURCE_B/INDEX": b"0\n",
        },
    )


def test_a_run_whose_caches_are_stale_rereads_and_registers_nothing_twice(
    database_url: str, tmp_path: Path
) -> None:
    source_dir = _two_tree(tmp_path)
    first, late = SignatureDatabase.from_url(database_url), SignatureDatabase.from_url(database_url)
    first.ensure_schema()
    late.current_signatures(), late.known_signees()  # loaded before the other run registers
    assert _run(source_dir, first, tmp_path).new_signatures == 3
    report = _run(source_dir, late, tmp_path)
    assert (report.new_signatures, report.unchanged, report.new_signees) == (0, 3, 0)
    # Changed bytes, superseded by one run while the other still holds the old version.
    write_tree(source_dir, {"SOURCE_A/Online/Genuine/001_01.HWR": b"1,2,3\n7,8,9\n"})
    late.current_signatures()
    assert _run(source_dir, first, tmp_path).superseded == 1
    report = _run(source_dir, late, tmp_path)
    assert (report.new_signatures, report.superseded, report.unchanged) == (0, 0, 3)
    assert first.count_rows()["signatures"] == 4
    first.dispose()
    late.dispose()


def test_the_database_refuses_a_second_current_signature_for_a_file(
    database: SignatureDatabase, tmp_path: Path
) -> None:
    _run(_two_tree(tmp_path), database, tmp_path)
    with database.engine.connect() as connection:
        row = connection.execute(sa.select(signatures).limit(1)).mappings().one()
    twin = {**row, "id": "01JZZZZZZZZZZZZZZZZZZZZZZZ"}
    with pytest.raises(sa.exc.IntegrityError), database.engine.begin() as connection:
        connection.execute(signatures.insert(), [twin])
    with database.engine.begin() as connection:  # a superseded version is history: allowed
        connection.execute(signatures.insert(), [{**twin, "is_current": False}])


def test_version_1_is_upgraded_and_its_duplicates_superseded_not_deleted(
    database: SignatureDatabase, tmp_path: Path
) -> None:
    _run(_two_tree(tmp_path), database, tmp_path)
    with database.engine.begin() as connection:  # back to version 1, with the old bug's rows
        row = dict(
            connection.execute(sa.select(signatures).where(signatures.c.kind == "image"))
            .mappings()
            .one()
        )
        connection.execute(sa.text(f"DROP INDEX {current_path_index.name}"))
        connection.execute(sa.text("ALTER TABLE signatures DROP COLUMN is_current"))
        connection.execute(schema_version.update().values(version=1))
        del row["is_current"]
        twins = ["01K00000000000000000000001", "01K00000000000000000000002"]
        for twin in twins:
            columns = ", ".join(row)
            values = ", ".join(f":{key}" for key in row)
            connection.execute(
                sa.text(f"INSERT INTO signatures ({columns}) VALUES ({values})").bindparams(
                    sa.bindparam("metadata", type_=sa.JSON),
                    sa.bindparam("created", type_=signatures.c.created.type),
                ),
                {**row, "id": twin},
            )
    database.ensure_schema()
    with database.engine.connect() as connection:
        assert connection.execute(sa.select(schema_version.c.version)).scalar_one() == 2
        current = (
            connection.execute(
                sa.select(signatures.c.id).where(
                    signatures.c.source_path == row["source_path"], signatures.c.is_current
                )
            )
            .scalars()
            .all()
        )
        history = connection.execute(
            sa.select(supersessions.c.signature_id, supersessions.c.superseded_by).order_by(
                supersessions.c.signature_id
            )
        ).all()
    newest = max([row["id"], *twins])
    assert current == [newest]
    assert sorted(tuple(h) for h in history) == sorted(
        (old, newest) for old in [row["id"], *twins] if old != newest
    )
    assert database.count_rows()["signatures"] == 5
