"""The bundled sample end to end (pure ETL, no Dagster): exact tables, and a re-run is a no-op."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl
import pytest

from assets_pkg.shared.location import Location
from assets_pkg.signatures.asset_service import ContentAddressedAssetService
from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.errors import AssetRegistrationError
from assets_pkg.signatures.etl import group_by_signee, read_sources, run_etl
from assets_pkg.signatures.records import Reject, SourceLayoutError
from assets_pkg.signatures.tables import registered_frame, rejects_frame

from .helpers import BUNDLED, write_tree

G1, G2 = "3f2a9c1e-5b7d-4e21-9a8b-0c1d2e3f4a5b", "a7c41d09-2e6f-4b38-8d15-6f7e8a9b0c1d"
F1, F2 = "c0ffee12-3456-4789-abcd-ef0123456789", "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
F3 = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"

# (source, source_path, kind, writer_id, the reference's (subset, writer_id) or None)
EXPECTED_REGISTERED = [
    ("SOURCE_A", "Offline/Forgeries/0120001_1.png", "image", "0120", ("Offline/Genuine", "001")),
    ("SOURCE_A", "Offline/Forgeries/0120002_1.PNG", "image", "0120", ("Offline/Genuine", "002")),
    ("SOURCE_A", "Offline/Forgeries/0130009_1.png", "image", "0130", None),
    ("SOURCE_A", "Offline/Genuine/001_01.png", "image", "001", None),
    ("SOURCE_A", "Offline/Genuine/001_02.PNG", "image", "001", None),
    ("SOURCE_A", "Offline/Genuine/002_01.png", "image", "002", None),
    ("SOURCE_A", "Offline/Genuine/002_02.Png", "image", "002", None),
    ("SOURCE_A", "Online/Forgeries/0200001_1.HWR", "xyz", "0200", ("Online/Genuine", "001")),
    ("SOURCE_A", "Online/Forgeries/0200002_2.hwr", "xyz", "0200", ("Online/Genuine", "002")),
    ("SOURCE_A", "Online/Forgeries/0200003_1.HWR", "xyz", "0200", None),
    ("SOURCE_A", "Online/Forgeries/0210099_1.HWR", "xyz", "0210", None),
    ("SOURCE_A", "Online/Genuine/001_01.HWR", "xyz", "001", None),
    ("SOURCE_A", "Online/Genuine/001_02.hwr", "xyz", "001", None),
    ("SOURCE_A", "Online/Genuine/002_01.HWR", "xyz", "002", None),
    ("SOURCE_A", "Online/Genuine/004_01.HWR", "xyz", "004", None),
    ("SOURCE_B", "3/3f2a9c1e", "image", G1, None),
    ("SOURCE_B", "5/5e6f7a8b", "image", F2, ("Forgeries", F1)),
    ("SOURCE_B", "9/9b8a7c6d", "image", F3, None),
    ("SOURCE_B", "a/a7c41d09", "image", G2, None),
    ("SOURCE_B", "c/c0ffee12", "image", F1, ("Genuine", G1)),
]
NOT_FOUND = "not found: registered without a link"
LOST = "d15ea5e0-0000-4000-8000-000000000000"
GENUINE_NAME = "<3-digit signee id>_<sample no>.<ext>"
FORGED_NAME = "<4-digit forger id><3-digit signee id>_<sample no>.<ext>"
EXPECTED_REJECTS = [
    (
        "SOURCE_A",
        "Offline/Forgeries/0130002_1",
        None,
        "file name '0130002_1' has no extension",
        "rejected",
    ),
    (
        "SOURCE_A",
        "Offline/Forgeries/0130009_1.png",
        None,
        f"reference SOURCE_A/Offline/Genuine/009 {NOT_FOUND}",
        "warning",
    ),
    (
        "SOURCE_A",
        "Offline/Forgeries/013001_1.png",
        None,
        f"file name '013001_1.png' does not follow {FORGED_NAME}",
        "rejected",
    ),
    (
        "SOURCE_A",
        "Offline/Genuine/003_01.HWR",
        None,
        "extension .HWR is not allowed in Offline/ (expected "
        ".bmp, .gif, .jpeg, .jpg, .png, .tif, .tiff)",
        "rejected",
    ),
    (
        "SOURCE_A",
        "Offline/Genuine/0120001_2.png",
        None,
        f"file name '0120001_2.png' does not follow {GENUINE_NAME} (a forgery's name in Genuine/?)",
        "rejected",
    ),
    (
        "SOURCE_A",
        "Offline/Genuine/1_03.png",
        None,
        "file name '1_03.png' does not follow <3-digit signee id>_<sample no>.<ext>",
        "rejected",
    ),
    (
        "SOURCE_A",
        "Online/Forgeries/0200003_1.HWR",
        None,
        f"reference SOURCE_A/Online/Genuine/003 {NOT_FOUND}",
        "warning",
    ),
    (
        "SOURCE_A",
        "Online/Forgeries/0200004_1.HWR",
        3,
        "invalid HWR: missing value: 2 of 3 values",
        "rejected",
    ),
    (
        "SOURCE_A",
        "Online/Forgeries/0210099_1.HWR",
        None,
        f"reference SOURCE_A/Online/Genuine/099 {NOT_FOUND}",
        "warning",
    ),
    (
        "SOURCE_A",
        "Online/Genuine/002_02.HWR",
        None,
        "invalid HWR: no points: the file is empty or holds only blank lines",
        "rejected",
    ),
    (
        "SOURCE_A",
        "Online/Genuine/002_03.HWR",
        2,
        "invalid HWR: missing value: 2 of 3 values",
        "rejected",
    ),
    (
        "SOURCE_A",
        "Online/Genuine/003_01.HWR",
        1,
        "invalid HWR: extra value: 4 values, expected 3",
        "rejected",
    ),
    (
        "SOURCE_A",
        "Online/Genuine/003_02.HWR",
        3,
        "invalid HWR: trailing comma after the third value",
        "rejected",
    ),
    (
        "SOURCE_A",
        "Online/Genuine/003_03.HWR",
        2,
        "invalid HWR: x is not a decimal number: 'x'",
        "rejected",
    ),
    ("SOURCE_A", "Online/Genuine/003_04.HWR", 1, "invalid HWR: z is not finite: 'NaN'", "rejected"),
    ("SOURCE_A", "Online/Genuine/003_05.HWR", 3, "invalid HWR: x is not finite: 'inf'", "rejected"),
    (
        "SOURCE_A",
        "Online/Genuine/003_06.HWR",
        2,
        "invalid HWR: undecodable bytes: not UTF-8 text (byte 8)",
        "rejected",
    ),
    (
        "SOURCE_A",
        "Online/Genuine/005_1.HWR.bak",
        None,
        "extension .bak is not allowed in Online/ (expected .hwr)",
        "rejected",
    ),
    (
        "SOURCE_B",
        "9/9b8a7c6d",
        None,
        f"reference SOURCE_B/{LOST} (signature d/d15ea5e0) {NOT_FOUND}",
        "warning",
    ),
]


def described(frame: pl.DataFrame) -> list[tuple[object, ...]]:
    """Each row with its reference written as the referenced signee's (subset, writer_id)."""
    signee = {
        row["signee_id"]: (row["subset"], row["writer_id"]) for row in frame.iter_rows(named=True)
    }
    return [
        (
            row["source"],
            row["source_path"],
            row["kind"],
            row["writer_id"],
            signee.get(row["reference_signee_id"]),
        )
        for row in frame.iter_rows(named=True)
    ]


def test_the_bundled_sample_registers_exactly_what_the_rules_say(tmp_path: Path) -> None:
    database = SignatureDatabase.from_url(f"sqlite:///{tmp_path / 'db.sqlite'}")
    database.ensure_schema()
    assets = ContentAddressedAssetService(tmp_path / "assets", database)
    report = run_etl(Location.of(BUNDLED), database, assets)
    frame = registered_frame(database)
    assert described(frame) == EXPECTED_REGISTERED
    forged = [
        "Forgeries" in path or path in {"5/5e6f7a8b", "9/9b8a7c6d", "c/c0ffee12"}
        for _, path, _, _, _ in EXPECTED_REGISTERED
    ]
    assert frame["is_forgery"].to_list() == forged
    assert frame.filter(pl.col("is_forgery"))["subset"].unique().sort().to_list() == [
        "Forgeries",
        "Offline/Forgeries",
        "Online/Forgeries",
    ]
    assert frame["n_points"].to_list() == [None] * 7 + [2, 1, 1, 1, 4, 3, 2, 2] + [None] * 5
    # Offline 002_02.Png holds the same bytes as 001_01.png: one asset.
    assets_by_path = dict(zip(frame["source_path"], frame["asset_id"], strict=True))
    assert (
        assets_by_path["Offline/Genuine/002_02.Png"] == assets_by_path["Offline/Genuine/001_01.png"]
    )
    assert frame["signee_id"].n_unique() == 14
    assert rejects_frame(report.rejects).rows() == EXPECTED_REJECTS
    # The SOURCE_B forgery of a forgery also links to the exact parent signature.
    by_path = {row["source_path"]: row for row in frame.iter_rows(named=True)}
    assert by_path["5/5e6f7a8b"]["reference_signature_id"] == by_path["c/c0ffee12"]["signature_id"]
    assert by_path["c/c0ffee12"]["reference_signature_id"] == by_path["3/3f2a9c1e"]["signature_id"]

    again = run_etl(
        Location.of(BUNDLED),
        SignatureDatabase.from_url(f"sqlite:///{tmp_path / 'db.sqlite'}"),
        assets,
    )
    assert (again.new_signatures, again.unchanged, again.superseded) == (0, 20, 0)
    assert again.rejects == report.rejects
    assert registered_frame(database).equals(frame)


def test_grouping_keeps_one_signee_per_writer_and_directory() -> None:
    candidates, _ = read_sources(Location.of(BUNDLED))
    groups = [
        (key.label(), [s.origin.source_path for s in sigs])
        for key, sigs in group_by_signee(candidates)
    ]
    assert groups[:4] == [
        (
            "SOURCE_A/Offline/Genuine/001",
            ["Offline/Genuine/001_01.png", "Offline/Genuine/001_02.PNG"],
        ),
        (
            "SOURCE_A/Offline/Genuine/002",
            ["Offline/Genuine/002_01.png", "Offline/Genuine/002_02.Png"],
        ),
        ("SOURCE_A/Online/Genuine/001", ["Online/Genuine/001_01.HWR", "Online/Genuine/001_02.hwr"]),
        ("SOURCE_A/Online/Genuine/002", ["Online/Genuine/002_01.HWR"]),
    ]
    assert (
        "SOURCE_A/Online/Forgeries/0200",
        [
            "Online/Forgeries/0200001_1.HWR",
            "Online/Forgeries/0200002_2.hwr",
            "Online/Forgeries/0200003_1.HWR",
        ],
    ) in groups
    assert len(groups) == 14


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "has no SOURCE_A/ folder"),
        ({"SOURCE_A/x": b""}, "has no SOURCE_B/ folder"),
        ({"SOURCE_A/x": b"", "SOURCE_B/y": b""}, "SOURCE_B/INDEX is missing"),
    ],
)
def test_a_broken_source_layout_stops_with_the_setting_named(
    tmp_path: Path, files: dict[str, bytes], message: str
) -> None:
    root = write_tree(tmp_path / "src", files)
    with pytest.raises(SourceLayoutError, match=message):
        read_sources(Location.of(root))
    with pytest.raises(SourceLayoutError, match="SIGNATURES_SOURCE_DIR"):
        read_sources(Location.of(tmp_path / "nowhere"))


class FlakyAssets:
    """An asset service that cannot store one given image (it vanished, the disk is full)."""

    def __init__(self, inner: ContentAddressedAssetService, broken: str) -> None:
        self.inner = inner
        self.broken = broken

    def register_asset(
        self, local_uri: str, metadata: Mapping[str, str], data: bytes | None = None
    ) -> str:
        if local_uri.endswith(self.broken):
            raise AssetRegistrationError(f"cannot read image {local_uri}: gone", local_uri)
        return self.inner.register_asset(local_uri, metadata, data)


def test_an_image_that_cannot_be_stored_is_rejected_and_its_signee_still_registers(
    tmp_path: Path,
) -> None:
    source = write_tree(
        tmp_path / "src",
        {
            "SOURCE_A/Offline/Genuine/001_01.png": b"one",
            "SOURCE_A/Offline/Genuine/001_02.png": b"two",
            "SOURCE_B/INDEX": b"0\n",
        },
    )
    database = SignatureDatabase.from_url(f"sqlite:///{tmp_path / 'db.sqlite'}")
    database.ensure_schema()
    assets = FlakyAssets(ContentAddressedAssetService(tmp_path / "assets", database), "001_01.png")
    report = run_etl(Location.of(source), database, assets)
    assert registered_frame(database)["source_path"].to_list() == ["Offline/Genuine/001_02.png"]
    assert [r for r in report.rejects if r.severity == "rejected"] == [
        Reject(
            "SOURCE_A",
            "Offline/Genuine/001_01.png",
            None,
            f"cannot read image {source / 'SOURCE_A/Offline/Genuine/001_01.png'}: gone",
        )
    ]
