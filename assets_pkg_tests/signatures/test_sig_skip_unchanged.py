"""A re-run skips, unparsed, every file whose bytes are already its path's current registration;
a changed file is still parsed and supersedes, and the rejects come out the same every run.

On SQLite and on PostgreSQL (the `database` fixture). The parser is watched, not timed: the
tests record which files' bytes reach `parse_hwr`, and refuse any other model being built."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa

from assets_pkg.shared.location import Location
from assets_pkg.signatures import source_a, source_b
from assets_pkg.signatures.asset_service import ContentAddressedAssetService
from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.db_schema import metadata, points
from assets_pkg.signatures.etl import EtlReport, run_etl
from assets_pkg.signatures.hwr import parse_hwr
from assets_pkg.signatures.model import Origin, XYZPoint
from assets_pkg.signatures.tables import registered_frame, rejects_frame

from .helpers import SOURCE_A_FILES, write_tree

PARENT = "3f2a9c1e-5b7d-4e21-9a8b-0c1d2e3f4a5b"
CHILD = "c0ffee12-3456-4789-abcd-ef0123456789"
ORPHAN = "d15ea5e0-1111-4000-8000-000000000000"
LOST = "d15ea5e0-0000-4000-8000-000000000000"
BAD_HWR = b"1,2,3\n4,,6\n"
BAD_HWR_PATH = "Online/Genuine/003_01.HWR"
VALID = 9
"""The valid files of `sources`: 6 in SOURCE_A, 3 in SOURCE_B."""


def sources(tmp_path: Path) -> Path:
    """Valid files, two forgeries whose reference is missing (warnings), and rejected files."""
    return write_tree(
        tmp_path / "sources",
        {
            **SOURCE_A_FILES,
            # The imitated signee 099 does not exist: registered, with a warning.
            "SOURCE_A/Online/Forgeries/0130099_1.HWR": b"2,2,2\n",
            # Rejected: a bad line, a bad name.
            f"SOURCE_A/{BAD_HWR_PATH}": BAD_HWR,
            "SOURCE_A/Online/Genuine/3_01.HWR": b"1,2,3\n",
            "SOURCE_B/INDEX": (
                f"4\n{PARENT}\n{CHILD}    {PARENT}\n{ORPHAN}    {LOST}\nnot-a-uuid\n".encode()
            ),
            f"SOURCE_B/3/{PARENT[:8]}": b"png-1",
            f"SOURCE_B/c/{CHILD[:8]}": b"png-3",
            f"SOURCE_B/d/{ORPHAN[:8]}": b"png-4",
            "SOURCE_B/x/stray": b"no INDEX line names me",
        },
    )


class CountingAssets:
    """The real asset service, counting how often an image is handed to it."""

    def __init__(self, inner: ContentAddressedAssetService) -> None:
        self.inner = inner
        self.calls = 0

    def register_asset(
        self, local_uri: str, metadata: Mapping[str, str], data: bytes | None = None
    ) -> str:
        self.calls += 1
        return self.inner.register_asset(local_uri, metadata, data)


def run(source_dir: Path, url: str, tmp_path: Path) -> tuple[EtlReport, int]:
    """One run as a new process would make it: a fresh database object; the report, and how
    many images went to the asset service."""
    database = SignatureDatabase.from_url(url)
    try:
        database.ensure_schema()
        assets = CountingAssets(ContentAddressedAssetService(tmp_path / "assets", database))
        return run_etl(Location.of(source_dir), database, assets), assets.calls
    finally:
        database.dispose()


def dump(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in primary-key order."""
    database = SignatureDatabase.from_url(url)
    try:
        with database.engine.connect() as connection:
            return {
                table.name: [
                    tuple(row)
                    for row in connection.execute(
                        sa.select(table).order_by(*table.primary_key.columns)
                    )
                ]
                for table in metadata.sorted_tables
            }
    finally:
        database.dispose()


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The bytes of every file the HWR parser is given from now on."""
    seen: list[bytes] = []

    def watched(data: bytes) -> tuple[XYZPoint, ...]:
        seen.append(data)
        return parse_hwr(data)

    monkeypatch.setattr(source_a, "parse_hwr", watched)
    return seen


def refuse_new_origins(monkeypatch: pytest.MonkeyPatch, allowed: set[str]) -> None:
    """Make building a candidate's `Origin` fail for any file but the rejected HWR file and
    `allowed`: a skipped file must not become a model object at all (images are never parsed,
    only built into a signature)."""
    allowed = allowed | {BAD_HWR_PATH}

    def guarded(**fields: str) -> Origin:
        if fields["source_path"] not in allowed:
            raise AssertionError(f"{fields['source_path']} was built into a signature")
        return Origin(**fields)

    monkeypatch.setattr(source_a, "Origin", guarded)
    monkeypatch.setattr(source_b, "Origin", guarded)


def test_an_unchanged_rerun_parses_nothing_valid_and_changes_nothing(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parsed: list[bytes]
) -> None:
    source_dir = sources(tmp_path)
    first, stored = run(source_dir, database_url, tmp_path)
    assert (first.new_signatures, first.unchanged, first.skipped_unchanged) == (VALID, 0, 0)
    assert stored == 5  # 2 images in SOURCE_A, 3 in SOURCE_B
    before = dump(database_url)
    parsed.clear()
    refuse_new_origins(monkeypatch, set())

    again, stored = run(source_dir, database_url, tmp_path)

    # Only the rejected HWR file is parsed again (it is registered nowhere, so it is checked
    # and rejected anew); no valid file is parsed, built into a model, or stored again.
    assert parsed == [BAD_HWR]
    assert stored == 0
    assert (again.new_signatures, again.superseded, again.new_signees) == (0, 0, 0)
    assert (again.unchanged, again.skipped_unchanged, again.candidates) == (VALID, VALID, VALID)
    assert dump(database_url) == before
    assert rejects_frame(again.rejects).equals(rejects_frame(first.rejects))
    assert again.rejects == first.rejects


def stored_assets(root: Path) -> set[str]:
    """The asset ids whose bytes lie under an asset store's root."""
    return {path.name for path in root.rglob("*") if path.is_file()}


def test_images_whose_bytes_left_the_asset_store_are_stored_again_by_a_rerun(
    database_url: str, tmp_path: Path, parsed: list[bytes]
) -> None:
    """The database knows the files, the asset store lost their bytes (deleted, or
    WAREHOUSE_DIR now names another folder): a re-run stores them again, unparsed and without
    registering anything."""
    source_dir = sources(tmp_path)

    def rerun(assets_root: Path) -> EtlReport:
        database = SignatureDatabase.from_url(database_url)
        try:
            database.ensure_schema()
            return run_etl(
                Location.of(source_dir),
                database,
                ContentAddressedAssetService(assets_root, database),
            )
        finally:
            database.dispose()

    first = rerun(tmp_path / "assets")
    asset_ids = stored_assets(tmp_path / "assets")
    assert len(asset_ids) == 4  # 5 images, one pair with the same bytes
    database = SignatureDatabase.from_url(database_url)
    try:
        assert set(registered_frame(database)["asset_id"].drop_nulls()) == asset_ids
    finally:
        database.dispose()
    before = dump(database_url)
    parsed.clear()

    shutil.rmtree(tmp_path / "assets")
    for root in (tmp_path / "assets", tmp_path / "elsewhere"):
        again = rerun(root)
        assert stored_assets(root) == asset_ids
        assert again.assets_restored == 5
        assert (again.new_signatures, again.superseded, again.new_signees) == (0, 0, 0)
        assert again.skipped_unchanged == VALID
        assert again.rejects == first.rejects
        assert dump(database_url) == before
    assert parsed == [BAD_HWR, BAD_HWR]
    assert rerun(tmp_path / "elsewhere").assets_restored == 0


def test_a_file_changed_in_place_is_parsed_and_supersedes_its_old_version(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parsed: list[bytes]
) -> None:
    source_dir = sources(tmp_path)
    run(source_dir, database_url, tmp_path)
    database = SignatureDatabase.from_url(database_url)
    old = registered_frame(database)
    changed_hwr = b"7,8,9\n10,11,12.5\n"
    write_tree(
        source_dir,
        {
            "SOURCE_A/Online/Genuine/002_01.HWR": changed_hwr,
            f"SOURCE_B/c/{CHILD[:8]}": b"png-3, scanned again",
            "SOURCE_A/Online/Genuine/002_02.HWR": b"0,0,0\n",  # a new file
        },
    )
    parsed.clear()
    refuse_new_origins(
        monkeypatch, {"Online/Genuine/002_01.HWR", "Online/Genuine/002_02.HWR", f"c/{CHILD[:8]}"}
    )

    report, stored = run(source_dir, database_url, tmp_path)

    assert sorted(parsed) == sorted([changed_hwr, b"0,0,0\n", BAD_HWR])
    assert stored == 1  # the changed image
    assert (report.new_signatures, report.superseded) == (3, 2)
    assert (report.unchanged, report.skipped_unchanged) == (VALID - 2, VALID - 2)
    new = registered_frame(database)
    assert new.height == old.height + 1
    by_path = {row["source_path"]: row for row in new.iter_rows(named=True)}
    before = {row["source_path"]: row for row in old.iter_rows(named=True)}
    for path in ("Online/Genuine/002_01.HWR", f"c/{CHILD[:8]}"):
        assert by_path[path]["signature_id"] != before[path]["signature_id"]
        assert by_path[path]["content_sha256"] != before[path]["content_sha256"]
        assert by_path[path]["signee_id"] == before[path]["signee_id"]
    for path in set(before) - {"Online/Genuine/002_01.HWR", f"c/{CHILD[:8]}"}:
        assert by_path[path] == before[path]
    with database.engine.connect() as connection:
        stored_points = connection.execute(
            sa.select(points.c.x, points.c.y, points.c.z)
            .where(points.c.signature_id == by_path["Online/Genuine/002_01.HWR"]["signature_id"])
            .order_by(points.c.seq)
        ).all()
    assert [tuple(p) for p in stored_points] == [(7.0, 8.0, 9.0), (10.0, 11.0, 12.5)]
    assert by_path["Online/Genuine/002_02.HWR"]["n_points"] == 1
    counts = database.count_rows()
    assert (counts["signatures"], counts["supersessions"]) == (VALID + 3, 2)
    database.dispose()


def test_rejected_files_and_warnings_stay_in_the_rejects_table_after_a_skipping_rerun(
    database_url: str, tmp_path: Path, parsed: list[bytes]
) -> None:
    source_dir = sources(tmp_path)
    first, _ = run(source_dir, database_url, tmp_path)
    expected = [
        ("SOURCE_A", "Online/Forgeries/0130099_1.HWR", "warning", "reference SOURCE_A/Online"),
        ("SOURCE_A", "Online/Genuine/003_01.HWR", "rejected", "invalid HWR: "),
        ("SOURCE_A", "Online/Genuine/3_01.HWR", "rejected", "file name '3_01.HWR'"),
        ("SOURCE_B", "INDEX", "rejected", "id is not a UUID"),
        ("SOURCE_B", f"d/{ORPHAN[:8]}", "warning", f"reference SOURCE_B/{LOST}"),
        ("SOURCE_B", "x/stray", "warning", "no INDEX line names this file"),
    ]
    found = [(r.source, r.source_path, r.severity, r.reason) for r in first.rejects]
    assert [(*f[:3], f[3][: len(e[3])]) for f, e in zip(found, expected, strict=True)] == expected
    parsed.clear()

    again, _ = run(source_dir, database_url, tmp_path)

    assert again.skipped_unchanged == VALID
    assert parsed == [BAD_HWR]
    assert again.rejects == first.rejects
    frame = rejects_frame(again.rejects)
    assert frame.equals(rejects_frame(first.rejects))
    assert frame.filter(pl.col("severity") == "rejected").height == 3


def test_a_registered_file_changed_into_a_bad_one_is_rejected_and_keeps_its_registration(
    database_url: str, tmp_path: Path
) -> None:
    source_dir = sources(tmp_path)
    run(source_dir, database_url, tmp_path)
    database = SignatureDatabase.from_url(database_url)
    old = registered_frame(database)
    write_tree(source_dir, {"SOURCE_A/Online/Genuine/002_01.HWR": b"7,8\n"})

    report, _ = run(source_dir, database_url, tmp_path)

    assert (report.new_signatures, report.skipped_unchanged) == (0, VALID - 1)
    assert [
        (r.line_number, r.severity)
        for r in report.rejects
        if r.source_path == "Online/Genuine/002_01.HWR"
    ] == [(1, "rejected")]
    assert registered_frame(database).equals(old)
    database.dispose()
