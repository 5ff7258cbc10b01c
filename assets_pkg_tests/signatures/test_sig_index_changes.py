"""An INDEX edit re-registers a SOURCE_B file whose bytes did not change.

What a registration says beyond its bytes (its signee: for SOURCE_B the UUID on its INDEX line;
what it imitates: the parent on that line) is part of whether the file is unchanged. When either
differs from its path's current registration, a re-run registers the file anew and supersedes
the old registration, as a change of bytes does; the tables and the warnings then follow INDEX,
and the next re-run skips everything again. On SQLite and on PostgreSQL (`database_url`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from assets_pkg.shared.location import Location
from assets_pkg.signatures.asset_service import ContentAddressedAssetService
from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.db_schema import signatures
from assets_pkg.signatures.etl import EtlReport, run_etl
from assets_pkg.signatures.tables import registered_frame

from .helpers import BUNDLED

GENUINE = "3f2a9c1e-5b7d-4e21-9a8b-0c1d2e3f4a5b"
"""A registered genuine signature of the bundled INDEX, parent of CHILD."""
OTHER_GENUINE = "a7c41d09-2e6f-4b38-8d15-6f7e8a9b0c1d"
CHILD = "c0ffee12-3456-4789-abcd-ef0123456789"
GRANDCHILD = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
ORPHAN = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
"""A forgery whose parent (MISSING) is in no INDEX line: registered with a warning."""
MISSING = "d15ea5e0-0000-4000-8000-000000000000"
RENAMED = "3f2a9c1e-0000-4000-8000-00000000abcd"
"""A new UUID for GENUINE's file: the same first 8 characters, so the same file 3/3f2a9c1e."""
NEW_FORGERY = "b0b0b0b0-1111-4222-8333-444455556666"
VALID = 20
"""Valid files in the bundled sources (15 in SOURCE_A, 5 in SOURCE_B)."""


def sources(tmp_path: Path) -> Path:
    target = tmp_path / "sources"
    shutil.copytree(BUNDLED, target)
    return target


def write_index(source_dir: Path, lines: list[str]) -> None:
    (source_dir / "SOURCE_B" / "INDEX").write_text(f"{len(lines)}\n" + "\n".join(lines) + "\n")


def run(source_dir: Path, url: str, tmp_path: Path) -> EtlReport:
    """One run as a new process makes it: a fresh database object."""
    database = SignatureDatabase.from_url(url)
    try:
        database.ensure_schema()
        return run_etl(
            Location.of(source_dir),
            database,
            ContentAddressedAssetService(tmp_path / "a", database),
        )
    finally:
        database.dispose()


def registered(url: str) -> dict[str, dict[str, Any]]:
    """`registered_signatures` of SOURCE_B, by source_path."""
    database = SignatureDatabase.from_url(url)
    try:
        frame = registered_frame(database)
    finally:
        database.dispose()
    return {
        row["source_path"]: row
        for row in frame.iter_rows(named=True)
        if row["source"] == "SOURCE_B"
    }


def stored_references(url: str) -> dict[str, tuple[str | None, str | None]]:
    """The reference the current SOURCE_B rows keep, as INDEX named it: writer id and path."""
    database = SignatureDatabase.from_url(url)
    try:
        with database.engine.connect() as connection:
            rows = connection.execute(
                sa.select(
                    signatures.c.source_path,
                    signatures.c.reference_writer_id,
                    signatures.c.reference_signature_path,
                ).where(signatures.c.source == "SOURCE_B", signatures.c.is_current)
            ).all()
    finally:
        database.dispose()
    return {r.source_path: (r.reference_writer_id, r.reference_signature_path) for r in rows}


def source_b_warnings(report: EtlReport) -> list[tuple[str, str]]:
    return [(r.source_path, r.reason) for r in report.rejects if r.source == "SOURCE_B"]


def assert_links_to(rows: dict[str, dict[str, Any]], child: str, parent: str) -> None:
    assert rows[child]["is_forgery"]
    assert rows[child]["subset"] == "Forgeries"
    assert rows[child]["reference_signee_id"] == rows[parent]["signee_id"]
    assert rows[child]["reference_signature_id"] == rows[parent]["signature_id"]


def assert_a_rerun_skips_everything(
    source_dir: Path, url: str, tmp_path: Path, valid: int = VALID
) -> EtlReport:
    """The next run over the same sources registers nothing and skips every valid file."""
    before = registered(url)
    again = run(source_dir, url, tmp_path)
    assert (again.new_signatures, again.superseded, again.new_signees) == (0, 0, 0)
    assert (again.unchanged, again.skipped_unchanged, again.candidates) == (valid, valid, valid)
    assert registered(url) == before
    return again


def test_a_changed_parent_in_index_re_registers_the_file_and_the_warnings_follow(
    database_url: str, tmp_path: Path
) -> None:
    source_dir = sources(tmp_path)
    first = run(source_dir, database_url, tmp_path)
    assert first.new_signatures == VALID
    assert [path for path, _ in source_b_warnings(first)] == [f"9/{ORPHAN[:8]}"]
    old = registered(database_url)
    assert not old[f"a/{OTHER_GENUINE[:8]}"]["is_forgery"]

    # ORPHAN's parent becomes a registered signature, OTHER_GENUINE gets a parent (it becomes a
    # forgery), GRANDCHILD loses its parent (it becomes genuine). No file's bytes change.
    write_index(
        source_dir,
        [
            GENUINE,
            f"{OTHER_GENUINE}    {CHILD}",
            f"{CHILD}    {GENUINE}",
            GRANDCHILD,
            f"{ORPHAN}    {GENUINE}",
        ],
    )
    report = run(source_dir, database_url, tmp_path)

    assert (report.new_signatures, report.superseded, report.new_signees) == (3, 3, 0)
    assert (report.unchanged, report.skipped_unchanged) == (VALID - 3, VALID - 3)
    assert source_b_warnings(report) == []
    rows = registered(database_url)
    assert_links_to(rows, f"9/{ORPHAN[:8]}", f"3/{GENUINE[:8]}")
    assert_links_to(rows, f"a/{OTHER_GENUINE[:8]}", f"c/{CHILD[:8]}")
    assert_links_to(rows, f"c/{CHILD[:8]}", f"3/{GENUINE[:8]}")
    grandchild = rows[f"5/{GRANDCHILD[:8]}"]
    assert (grandchild["is_forgery"], grandchild["subset"]) == (False, "Genuine")
    assert (grandchild["reference_signee_id"], grandchild["reference_signature_id"]) == (None, None)
    for path in (f"9/{ORPHAN[:8]}", f"a/{OTHER_GENUINE[:8]}", f"5/{GRANDCHILD[:8]}"):
        assert rows[path]["signature_id"] != old[path]["signature_id"]  # superseded
        assert rows[path]["signee_id"] == old[path]["signee_id"]  # same UUID, same signee
        assert rows[path]["content_sha256"] == old[path]["content_sha256"]
    assert stored_references(database_url) == {
        f"3/{GENUINE[:8]}": (None, None),
        f"a/{OTHER_GENUINE[:8]}": (CHILD, f"c/{CHILD[:8]}"),
        f"c/{CHILD[:8]}": (GENUINE, f"3/{GENUINE[:8]}"),
        f"5/{GRANDCHILD[:8]}": (None, None),
        f"9/{ORPHAN[:8]}": (GENUINE, f"3/{GENUINE[:8]}"),
    }

    again = assert_a_rerun_skips_everything(source_dir, database_url, tmp_path)
    assert again.rejects == report.rejects


def test_a_parent_changed_back_to_a_missing_one_warns_again(
    database_url: str, tmp_path: Path
) -> None:
    source_dir = sources(tmp_path)
    index = (source_dir / "SOURCE_B" / "INDEX").read_text()
    first = run(source_dir, database_url, tmp_path)
    write_index(source_dir, [GENUINE, OTHER_GENUINE, f"{CHILD}    {GENUINE}", GRANDCHILD, ORPHAN])
    run(source_dir, database_url, tmp_path)
    (source_dir / "SOURCE_B" / "INDEX").write_text(index)  # back to the bundled INDEX

    report = run(source_dir, database_url, tmp_path)

    assert (report.new_signatures, report.superseded) == (2, 2)  # GRANDCHILD and ORPHAN
    assert report.rejects == first.rejects
    rows = registered(database_url)
    assert_links_to(rows, f"5/{GRANDCHILD[:8]}", f"c/{CHILD[:8]}")
    orphan = rows[f"9/{ORPHAN[:8]}"]
    assert (orphan["is_forgery"], orphan["reference_signee_id"]) == (True, None)
    assert_a_rerun_skips_everything(source_dir, database_url, tmp_path)


def test_a_new_uuid_for_the_same_file_registers_the_new_id_and_its_forgeries_link_to_it(
    database_url: str, tmp_path: Path
) -> None:
    source_dir = sources(tmp_path)
    run(source_dir, database_url, tmp_path)
    old = registered(database_url)
    assert old[f"3/{GENUINE[:8]}"]["writer_id"] == GENUINE

    # GENUINE is renamed RENAMED everywhere (same file), and a new forgery names RENAMED.
    index = (source_dir / "SOURCE_B" / "INDEX").read_text().replace(GENUINE, RENAMED)
    lines = [line for line in index.splitlines()[1:] if line.strip()]
    write_index(source_dir, [*lines, f"{NEW_FORGERY}    {RENAMED}"])
    (source_dir / "SOURCE_B" / "b").mkdir()
    (source_dir / "SOURCE_B" / "b" / NEW_FORGERY[:8]).write_bytes(b"a new forgery")

    report = run(source_dir, database_url, tmp_path)

    # The renamed file (new signee), CHILD (its parent's UUID changed) and the new forgery.
    assert (report.new_signatures, report.superseded, report.new_signees) == (3, 2, 2)
    assert (report.unchanged, report.skipped_unchanged) == (VALID - 2, VALID - 2)
    assert [path for path, _ in source_b_warnings(report)] == [f"9/{ORPHAN[:8]}"]
    rows = registered(database_url)
    renamed = rows[f"3/{GENUINE[:8]}"]
    assert renamed["writer_id"] == RENAMED
    assert renamed["signee_id"] != old[f"3/{GENUINE[:8]}"]["signee_id"]
    assert renamed["signature_id"] != old[f"3/{GENUINE[:8]}"]["signature_id"]
    assert renamed["content_sha256"] == old[f"3/{GENUINE[:8]}"]["content_sha256"]
    assert not renamed["is_forgery"]
    assert_links_to(rows, f"b/{NEW_FORGERY[:8]}", f"3/{GENUINE[:8]}")
    assert_links_to(rows, f"c/{CHILD[:8]}", f"3/{GENUINE[:8]}")
    assert stored_references(database_url)[f"c/{CHILD[:8]}"] == (RENAMED, f"3/{GENUINE[:8]}")
    assert sorted(row["writer_id"] for row in rows.values()) == sorted(
        [RENAMED, OTHER_GENUINE, CHILD, GRANDCHILD, ORPHAN, NEW_FORGERY]
    )

    database = SignatureDatabase.from_url(database_url)
    try:
        assert database.count_rows()["supersessions"] == 2
    finally:
        database.dispose()
    assert_a_rerun_skips_everything(source_dir, database_url, tmp_path, VALID + 1)


def test_the_cache_a_run_leaves_holds_the_fingerprints_the_database_gives(
    database_url: str, tmp_path: Path
) -> None:
    """What the store remembers after its commits (and after `refresh`) is what a new process
    loads: the same identities, so a run that registers and then checks again agrees with
    the next run."""
    source_dir = sources(tmp_path)
    run(source_dir, database_url, tmp_path)
    write_index(source_dir, [GENUINE, f"{OTHER_GENUINE}    {GENUINE}", f"{ORPHAN}    {CHILD}"])
    (source_dir / "SOURCE_B" / "3" / GENUINE[:8]).write_bytes(b"scanned again")
    writer = SignatureDatabase.from_url(database_url)
    loaded = SignatureDatabase.from_url(database_url)
    try:
        run_etl(
            Location.of(source_dir), writer, ContentAddressedAssetService(tmp_path / "a", writer)
        )
        remembered = writer.current_signatures()
        assert remembered == loaded.current_signatures()
        identity = remembered[("SOURCE_B", f"a/{OTHER_GENUINE[:8]}")].identity
        assert identity.forgery_of is not None
        assert identity.forgery_of.signee.writer_id == GENUINE
        assert identity.signee.writer_id == OTHER_GENUINE
        writer.refresh(writer.known_signees(), list(remembered))
        assert writer.current_signatures() == loaded.current_signatures()
    finally:
        writer.dispose()
        loaded.dispose()


def test_a_link_missing_only_its_signature_is_filled_in_when_that_signature_registers(
    database_url: str, tmp_path: Path
) -> None:
    """Decision 2: a forgery linked to its parent's signee but not to a signature (the parent
    was known, its file at the path INDEX now gives was not there yet) gets the signature when
    it registers in a later run, although the forgery itself is skipped as unchanged."""
    parent, child = "abcdef01-1111-4111-8111-111111111111", CHILD
    source_dir = tmp_path / "sources"
    (source_dir / "SOURCE_A").mkdir(parents=True)
    for uid in (parent, child):
        (source_dir / "SOURCE_B" / uid[0]).mkdir(parents=True)
        (source_dir / "SOURCE_B" / uid[0] / uid[:8]).write_bytes(uid.encode())
    write_index(source_dir, [parent, f"{child}    {parent}"])
    run(source_dir, database_url, tmp_path)

    # INDEX now spells the parent in upper case: its file is A/ABCDEF01, not there yet.
    write_index(source_dir, [parent.upper(), f"{child}    {parent.upper()}"])
    report = run(source_dir, database_url, tmp_path)
    rows = registered(database_url)
    assert rows[f"c/{child[:8]}"]["reference_signee_id"] == rows["a/abcdef01"]["signee_id"]
    assert rows[f"c/{child[:8]}"]["reference_signature_id"] is None
    assert f"c/{child[:8]}" in [path for path, _ in source_b_warnings(report)]

    # The file moves there: the parent registers, the child is skipped and linked late.
    (source_dir / "SOURCE_B" / "A").mkdir()
    (source_dir / "SOURCE_B" / "a" / "abcdef01").rename(source_dir / "SOURCE_B/A/ABCDEF01")
    report = run(source_dir, database_url, tmp_path)
    assert (report.new_signatures, report.skipped_unchanged, report.linked_late) == (1, 1, 1)
    assert source_b_warnings(report) == []
    assert_links_to(registered(database_url), f"c/{child[:8]}", "A/ABCDEF01")
    again = run(source_dir, database_url, tmp_path)
    assert (again.new_signatures, again.linked_late, source_b_warnings(again)) == (0, 0, [])
