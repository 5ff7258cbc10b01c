"""SOURCE_A: file-name conventions (decision 4), signees per directory and forgery references."""

from __future__ import annotations

from pathlib import Path

import pytest

from assets_pkg.shared.location import Location
from assets_pkg.signatures.model import NewImageSignature, NewXYZSignature, XYZPoint
from assets_pkg.signatures.records import Reject, SourceLayoutError, sha256_hex
from assets_pkg.signatures.source_a import BadNameError, ParsedName, parse_file_name, read_source_a

from .helpers import write_tree


@pytest.mark.parametrize(
    ("name", "medium", "subset", "expected"),
    [
        ("001_02.png", "Offline", "Genuine", ParsedName("001", "02", "png")),
        ("001_02.PNG", "Offline", "Genuine", ParsedName("001", "02", "PNG")),
        ("010_1.JpG", "Offline", "Genuine", ParsedName("010", "1", "JpG")),
        ("001_10.HWR", "Online", "Genuine", ParsedName("001", "10", "HWR")),
        ("001_10.hwr", "Online", "Genuine", ParsedName("001", "10", "hwr")),
        ("0120001_1.HWR", "Online", "Forgeries", ParsedName("0120", "1", "HWR", "001")),
        ("0120001_1.Png", "Offline", "Forgeries", ParsedName("0120", "1", "Png", "001")),
    ],
)
def test_conventional_names_are_read(
    name: str, medium: str, subset: str, expected: ParsedName
) -> None:
    assert parse_file_name(name, medium, subset) == expected


@pytest.mark.parametrize(
    ("name", "medium", "subset", "reason"),
    [
        ("001_02", "Offline", "Genuine", "file name '001_02' has no extension"),
        (".png", "Offline", "Genuine", "file name '.png' has no extension"),
        (
            "001_02.HWR",
            "Offline",
            "Genuine",
            "extension .HWR is not allowed in Offline/ "
            "(expected .bmp, .gif, .jpeg, .jpg, .png, .tif, .tiff)",
        ),
        (
            "001_02.png",
            "Online",
            "Genuine",
            "extension .png is not allowed in Online/ (expected .hwr)",
        ),
        (
            "001_02.HWR.bak",
            "Online",
            "Genuine",
            "extension .bak is not allowed in Online/ (expected .hwr)",
        ),
        *[
            (
                bad,
                "Offline",
                "Genuine",
                f"file name {bad!r} does not follow <3-digit signee id>_<sample no>.<ext>",
            )
            for bad in (
                "1_02.png",
                "0001_02.png",
                "001-02.png",
                "001_.png",
                "abc_1.png",
                "001_02_3.png",
                "_02.png",
                "001_x.png",
            )
        ],
        (
            "0120001_1.png",
            "Offline",
            "Genuine",
            "file name '0120001_1.png' does not follow <3-digit signee id>_<sample no>.<ext> "
            "(a forgery's name in Genuine/?)",
        ),
        *[
            (
                bad,
                "Online",
                "Forgeries",
                f"file name {bad!r} does not follow "
                "<4-digit forger id><3-digit signee id>_<sample no>.<ext>",
            )
            for bad in (
                "001_1.HWR",
                "012001_1.HWR",
                "01200001_1.HWR",
                "0120001.HWR",
                "012a001_1.HWR",
            )
        ],
    ],
)
def test_unconventional_names_are_refused_with_a_reason(
    name: str, medium: str, subset: str, reason: str
) -> None:
    with pytest.raises(BadNameError) as caught:
        parse_file_name(name, medium, subset)
    assert str(caught.value) == reason


def test_files_become_candidates_per_signee_directory_and_rejects(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "SOURCE_A",
        {
            "Offline/Genuine/001_01.png": b"img-1",
            "Offline/Genuine/001_02.PNG": b"img-2",
            "Offline/Forgeries/0120001_1.png": b"img-3",
            "Online/Genuine/001_01.HWR": b"1,2,3\n",
            "Online/Forgeries/0120001_1.hwr": b"4,5,6",
            "Online/Forgeries/0120002_1.HWR": b"1,2\n",
            "Online/Genuine/notes.txt": b"hello",
            "Online/README": b"stray",
            "Online/Genuine/sub/001_03.HWR": b"1,2,3\n",
        },
    )
    result = read_source_a(Location.of(root))
    seen = [
        (
            c.signee.directory,
            c.signee.writer_id,
            c.signature.origin.source_path,
            c.signature.origin.subset,
            None if c.signature.forgery_of is None else c.signature.forgery_of.signee.label(),
            c.signature.origin.content_sha256,
        )
        for c in result.candidates
    ]
    assert seen == [
        (
            "Offline/Genuine",
            "001",
            "Offline/Genuine/001_01.png",
            "Offline/Genuine",
            None,
            sha256_hex(b"img-1"),
        ),
        (
            "Offline/Genuine",
            "001",
            "Offline/Genuine/001_02.PNG",
            "Offline/Genuine",
            None,
            sha256_hex(b"img-2"),
        ),
        (
            "Online/Genuine",
            "001",
            "Online/Genuine/001_01.HWR",
            "Online/Genuine",
            None,
            sha256_hex(b"1,2,3\n"),
        ),
        (
            "Offline/Forgeries",
            "0120",
            "Offline/Forgeries/0120001_1.png",
            "Offline/Forgeries",
            "SOURCE_A/Offline/Genuine/001",
            sha256_hex(b"img-3"),
        ),
        (
            "Online/Forgeries",
            "0120",
            "Online/Forgeries/0120001_1.hwr",
            "Online/Forgeries",
            "SOURCE_A/Online/Genuine/001",
            sha256_hex(b"4,5,6"),
        ),
    ]
    online = result.candidates[2].signature
    assert isinstance(online, NewXYZSignature)
    assert online.points == (XYZPoint(1.0, 2.0, 3.0),)
    assert online.metadata == {"sample_no": "01"}
    image = result.candidates[0].signature
    assert isinstance(image, NewImageSignature)
    assert image.local_uri == str(root / "Offline/Genuine/001_01.png")
    where = "unexpected location: files belong in {Offline,Online}/{Genuine,Forgeries}/"
    assert result.rejects == [
        Reject("SOURCE_A", "Online/Genuine/sub", None, "a directory, not a file"),
        Reject(
            "SOURCE_A",
            "Online/Forgeries/0120002_1.HWR",
            1,
            "invalid HWR: missing value: 2 of 3 values",
        ),
        Reject(
            "SOURCE_A",
            "Online/Genuine/notes.txt",
            None,
            "extension .txt is not allowed in Online/ (expected .hwr)",
        ),
        Reject("SOURCE_A", "Online/Genuine/sub/001_03.HWR", None, where),
        Reject("SOURCE_A", "Online/README", None, where),
    ]


def test_a_missing_subset_directory_is_a_warning(tmp_path: Path) -> None:
    root = write_tree(tmp_path / "SOURCE_A", {"Online/Genuine/001_01.HWR": b"1,2,3\n"})
    result = read_source_a(Location.of(root))
    assert [r.source_path for r in result.rejects] == [
        "Offline/Genuine",
        "Offline/Forgeries",
        "Online/Forgeries",
    ]
    assert {(r.severity, r.reason) for r in result.rejects} == {
        ("warning", "directory missing: no signatures from this subset")
    }
    assert len(result.candidates) == 1


def test_a_missing_source_a_stops_the_read(tmp_path: Path) -> None:
    with pytest.raises(SourceLayoutError, match="SOURCE_A is missing"):
        read_source_a(Location.of(tmp_path / "SOURCE_A"))
