"""Source trees are input from outside: links leaving the folder, FIFOs, sockets and directories
where files belong are never opened, and each is rejected with its reason."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import polars as pl
import pytest

from assets_pkg.shared.location import Location
from assets_pkg.signatures.asset_service import ContentAddressedAssetService
from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.etl import run_etl
from assets_pkg.signatures.model import NewImageSignature
from assets_pkg.signatures.records import Reject, SourceLayoutError, sha256_hex
from assets_pkg.signatures.source_a import read_source_a
from assets_pkg.signatures.source_b import read_source_b
from assets_pkg.signatures.source_files import SourceFolder, UnsafeFileError
from assets_pkg.signatures.tables import registered_frame, rejects_frame

from .helpers import SOURCE_A_FILES, write_tree

T = TypeVar("T")
OUTSIDE = "symbolic link to a path outside the source folder: not followed"
G1 = "3f2a9c1e-5b7d-4e21-9a8b-0c1d2e3f4a5b"
G2 = "a7c41d09-2e6f-4b38-8d15-6f7e8a9b0c1d"
G3 = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
NOT_UTF8 = "the name is not valid UTF-8 (shown with \\x escapes): not read"
FOLDER_NOT_UTF8 = "a folder name on the path is not valid UTF-8 (shown with \\x escapes): not read"


def secrets(tmp_path: Path) -> Path:
    """A folder outside every source tree, holding what must never be registered."""
    return write_tree(
        tmp_path / "secret",
        {"passwd": b"root:x:0:0\n", "points.HWR": b"1,2,3\n", "dir/001_09.png": b"hidden"},
    )


def within(seconds: float, read: Callable[[], T]) -> T:
    """`read()` in a thread: a reader that opens a FIFO blocks forever; fail instead of hang."""
    outcome: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            outcome.append(read())
        except BaseException as error:  # re-raised in the test's thread
            failure.append(error)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if failure:
        raise failure[0]
    assert outcome, f"the read did not finish within {seconds} s (a FIFO was opened?)"
    return outcome[0]


def hostile_source_a(tmp_path: Path) -> Path:
    secret = secrets(tmp_path)
    root = write_tree(
        tmp_path / "SOURCE_A",
        {"Offline/Genuine/001_01.png": b"real image", "Online/Genuine/001_01.HWR": b"4,5,6\n"},
    )
    (root / "Offline/Genuine/002_01.png").symlink_to(secret / "passwd")
    (root / "Online/Genuine/002_01.HWR").symlink_to(secret / "points.HWR")
    (root / "Offline/Genuine/003_01.png").symlink_to(root / "Offline/Genuine/001_01.png")
    (root / "Offline/Genuine/004_01.png").symlink_to("../../Offline/Genuine/001_01.png")
    (root / "Offline/Genuine/005_01.png").symlink_to(tmp_path / "nowhere")
    (root / "Offline/Genuine/006_01.png").symlink_to("../Genuine/../../../secret/passwd")
    (root / "Offline/Genuine/009_01.png").symlink_to("009_01.png")  # a loop
    (root / "Offline/Forgeries").symlink_to(secret / "dir", target_is_directory=True)
    (root / "Online/Forgeries").mkdir()
    (root / "Online/Forgeries/inner").symlink_to(root / "Online/Genuine")
    os.mkfifo(root / "Online/Genuine/007_01.HWR")
    (root / "Online/Genuine/008_01.HWR").mkdir()
    return root


def test_source_a_reads_only_regular_files_inside_its_folder(tmp_path: Path) -> None:
    root = hostile_source_a(tmp_path)
    result = within(10, lambda: read_source_a(Location.of(root)))
    assert sorted(result.rejects) == [
        Reject("SOURCE_A", "Offline/Forgeries", None, OUTSIDE),
        Reject("SOURCE_A", "Offline/Genuine/002_01.png", None, OUTSIDE),
        Reject(
            "SOURCE_A",
            "Offline/Genuine/005_01.png",
            None,
            "broken symbolic link (No such file or directory)",
        ),
        Reject("SOURCE_A", "Offline/Genuine/006_01.png", None, OUTSIDE),
        Reject(
            "SOURCE_A",
            "Offline/Genuine/009_01.png",
            None,
            "broken symbolic link (Too many levels of symbolic links)",
        ),
        Reject(
            "SOURCE_A",
            "Online/Forgeries/inner",
            None,
            "symbolic link to a directory: not followed (its files are read where they are)",
        ),
        Reject("SOURCE_A", "Online/Genuine/002_01.HWR", None, OUTSIDE),
        Reject(
            "SOURCE_A", "Online/Genuine/007_01.HWR", None, "not a regular file (a FIFO): not opened"
        ),
        Reject("SOURCE_A", "Online/Genuine/008_01.HWR", None, "a directory, not a file"),
    ]
    accepted = {c.signature.origin.source_path: c.signature for c in result.candidates}
    assert sorted(accepted) == [
        "Offline/Genuine/001_01.png",
        "Offline/Genuine/003_01.png",  # links to a file inside the folder are read
        "Offline/Genuine/004_01.png",
        "Online/Genuine/001_01.HWR",
    ]
    image = accepted["Offline/Genuine/003_01.png"]
    assert isinstance(image, NewImageSignature)
    assert image.content == b"real image"
    assert image.origin.content_sha256 == sha256_hex(b"real image")


def test_source_b_reads_only_regular_files_inside_its_folder(tmp_path: Path) -> None:
    secret = secrets(tmp_path)
    index = f"3\n{G1}\n{G2}    {G1}\n{G3}\n"
    root = write_tree(tmp_path / "SOURCE_B", {"INDEX": index.encode(), f"3/{G1[:8]}": b"one"})
    (root / "a").mkdir()
    (root / f"a/{G2[:8]}").symlink_to(secret / "passwd")
    (secret / "dir" / G3[:8]).write_bytes(b"outside")
    (root / "9").symlink_to(secret / "dir", target_is_directory=True)
    (root / "stray").mkdir()
    os.mkfifo(root / "stray/pipe")
    result = within(10, lambda: read_source_b(Location.of(root)))
    assert sorted(result.rejects) == [
        Reject("SOURCE_B", "9", None, OUTSIDE),
        Reject("SOURCE_B", f"9/{G3[:8]}", 4, f"file 9/{G3[:8]}: {OUTSIDE}"),
        Reject("SOURCE_B", f"a/{G2[:8]}", 3, f"file a/{G2[:8]}: {OUTSIDE}"),
        Reject("SOURCE_B", "stray/pipe", None, "not a regular file (a FIFO): not opened"),
    ]
    assert [c.signature.origin.source_path for c in result.candidates] == [f"3/{G1[:8]}"]


@pytest.mark.parametrize("kind", ["outside-link", "fifo", "directory"])
def test_an_index_that_is_not_a_regular_file_inside_stops_the_read(
    tmp_path: Path, kind: str
) -> None:
    root = write_tree(tmp_path / "SOURCE_B", {})
    if kind == "outside-link":
        (root / "INDEX").symlink_to(secrets(tmp_path) / "passwd")
    elif kind == "fifo":
        os.mkfifo(root / "INDEX")
    else:
        (root / "INDEX").mkdir()
    with pytest.raises(SourceLayoutError, match=r"INDEX cannot be read \(.*\): SOURCE_B needs"):
        within(10, lambda: read_source_b(Location.of(root)))


def test_the_walk_lists_links_to_directories_without_entering_them(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", {"a/f": b"1"})
    (root / "a/loop").symlink_to(root, target_is_directory=True)
    tree = SourceFolder(root).walk()
    assert tree.files == ["a/f"]
    assert list(tree.refused) == ["a/loop"]


def test_read_refuses_what_check_refuses(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "tree", {"f": b"1"})
    os.mkfifo(root / "pipe")
    folder = SourceFolder(root)
    assert folder.read("f") == b"1"
    with pytest.raises(UnsafeFileError, match="FIFO"):
        folder.read("pipe")
    with pytest.raises(UnsafeFileError, match="No such file"):
        folder.read("missing")


def test_outside_bytes_never_reach_the_asset_store(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "src", {"SOURCE_B/INDEX": b"0\n"})
    hostile_source_a(root)
    database = SignatureDatabase.from_url(f"sqlite:///{tmp_path / 'db.sqlite'}")
    database.ensure_schema()
    store = tmp_path / "assets"
    report = within(20, lambda: run_etl(Location.of(root), database, _assets(store, database)))
    stored = {path.read_bytes() for path in store.rglob("*") if path.is_file()}
    assert stored == {b"real image"}
    assert registered_frame(database).height == 4
    assert Reject("SOURCE_A", "Offline/Genuine/002_01.png", None, OUTSIDE) in report.rejects
    database.dispose()


def test_the_asset_service_stores_the_bytes_it_is_given(tmp_path: Path) -> None:
    path = write_tree(tmp_path / "in", {"a.png": b"swapped after the check"}) / "a.png"
    service = ContentAddressedAssetService(tmp_path / "store")
    asset_id = service.register_asset(str(path), {}, b"checked bytes")
    assert asset_id == sha256_hex(b"checked bytes")
    assert service.path_of(asset_id).read_bytes() == b"checked bytes"


def _assets(root: Path, database: SignatureDatabase) -> ContentAddressedAssetService:
    return ContentAddressedAssetService(root, database)


def non_utf8(name: bytes) -> str:
    """A file name made of `name`'s bytes, as Python reads it from the file system."""
    return os.fsdecode(name)


def source_with_names_that_are_not_utf8(root: Path) -> Path:
    """Valid SOURCE_A and SOURCE_B files, and valid-looking ones whose name (or a folder's) is
    not UTF-8: a file, a link, a folder, an orphan."""
    write_tree(root, SOURCE_A_FILES | {"SOURCE_B/INDEX": f"1\n{G1}\n".encode()})
    write_tree(root / "SOURCE_B", {f"3/{G1[:8]}": b"one"})
    a = root / "SOURCE_A"
    (a / "Online/Genuine" / non_utf8(b"003_01\xff.HWR")).write_bytes(b"1,2,3\n")
    (a / "Offline/Genuine" / non_utf8(b"004_\xe9.png")).symlink_to(a / "Offline/Genuine/001_01.png")
    write_tree(a / non_utf8(b"Online\xff") / "Genuine", {"005_01.HWR": b"1,2,3\n"})
    write_tree(a / "Online/Genuine" / non_utf8(b"\xc3("), {})  # a directory where a file belongs
    b = root / "SOURCE_B"
    (b / non_utf8(b"z\xff")).write_bytes(b"orphan")
    write_tree(b / non_utf8(b"3\xff"), {G1[:8]: b"looks listed"})
    return root


def test_names_that_are_not_utf8_are_refused_where_they_are_listed(tmp_path: Path) -> None:
    root = source_with_names_that_are_not_utf8(tmp_path / "src")
    tree = SourceFolder(root / "SOURCE_A").walk()
    assert tree.refused == {
        "Offline/Genuine/004_\\xe9.png": NOT_UTF8,
        "Online/Genuine/003_01\\xff.HWR": NOT_UTF8,
        "Online\\xff/Genuine/005_01.HWR": FOLDER_NOT_UTF8,
    }
    assert all(path.isascii() for path in [*tree.files, *tree.directories])
    assert "Online/Genuine/\\xc3(" in tree.directories
    a = read_source_a(Location.of(root / "SOURCE_A"))
    assert sorted(r for r in a.rejects if "\\x" in r.source_path) == [
        Reject("SOURCE_A", "Offline/Genuine/004_\\xe9.png", None, NOT_UTF8),
        Reject("SOURCE_A", "Online/Genuine/003_01\\xff.HWR", None, NOT_UTF8),
        Reject("SOURCE_A", "Online/Genuine/\\xc3(", None, "a directory, not a file"),
        Reject("SOURCE_A", "Online\\xff/Genuine/005_01.HWR", None, FOLDER_NOT_UTF8),
    ]
    assert len(a.candidates) == len(SOURCE_A_FILES)
    b = read_source_b(Location.of(root / "SOURCE_B"))
    assert sorted(b.rejects) == [
        Reject("SOURCE_B", f"3\\xff/{G1[:8]}", None, FOLDER_NOT_UTF8),
        Reject("SOURCE_B", "z\\xff", None, NOT_UTF8),
    ]
    assert [c.signature.origin.source_path for c in b.candidates] == [f"3/{G1[:8]}"]
    assert rejects_frame([*a.rejects, *b.rejects]).height == len(a.rejects) + 2


def test_names_that_are_not_utf8_never_reach_the_database(
    database: SignatureDatabase, tmp_path: Path
) -> None:
    root = source_with_names_that_are_not_utf8(tmp_path / "src")
    report = run_etl(Location.of(root), database, _assets(tmp_path / "assets", database))
    frame = registered_frame(database)
    assert sorted(frame["source_path"]) == sorted(
        [path.removeprefix("SOURCE_A/") for path in SOURCE_A_FILES] + [f"3/{G1[:8]}"]
    )
    rejects = rejects_frame(report.rejects)  # the run's crash: a path that is not text
    assert rejects.filter(pl.col("source_path").str.contains("\\\\x")).height == 6


def test_an_empty_directory_where_a_source_a_file_belongs_is_rejected(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "src", SOURCE_A_FILES) / "SOURCE_A"
    (root / "Offline/Genuine/005_01.png").mkdir()
    (root / "Offline/Extra").mkdir()  # not where a file belongs: nothing to say
    result = read_source_a(Location.of(root))
    assert result.rejects == [
        Reject("SOURCE_A", "Offline/Genuine/005_01.png", None, "a directory, not a file")
    ]
    assert len(result.candidates) == len(SOURCE_A_FILES)
