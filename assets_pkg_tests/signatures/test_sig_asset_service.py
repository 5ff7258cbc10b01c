"""The content-addressed asset service: same bytes, same asset; stored once, atomically."""

from __future__ import annotations

from pathlib import Path

import pytest

from assets_pkg.signatures.asset_service import ContentAddressedAssetService, StoredAsset
from assets_pkg.signatures.errors import AssetRegistrationError
from assets_pkg.signatures.records import sha256_hex

from .helpers import write_tree


class Catalog:
    def __init__(self) -> None:
        self.recorded: list[StoredAsset] = []

    def record_asset(self, asset: StoredAsset) -> None:
        self.recorded.append(asset)


def test_same_bytes_give_the_same_stable_asset(tmp_path: Path) -> None:
    inputs = write_tree(tmp_path / "in", {"a.png": b"blank", "b.PNG": b"blank", "c.png": b"other"})
    catalog = Catalog()
    service = ContentAddressedAssetService(tmp_path / "store", catalog)
    a = service.register_asset(str(inputs / "a.png"), {"ext": "png"})
    b = service.register_asset((inputs / "b.PNG").as_uri(), {})
    c = service.register_asset(str(inputs / "c.png"), {})
    assert a == b == sha256_hex(b"blank")
    assert c == sha256_hex(b"other")
    assert service.path_of(a).read_bytes() == b"blank"
    assert sorted(
        str(p.relative_to(tmp_path / "store"))
        for p in (tmp_path / "store").rglob("*")
        if p.is_file()
    ) == sorted([f"sha256/{a[:2]}/{a}", f"sha256/{c[:2]}/{c}"])
    assert catalog.recorded[0] == StoredAsset(a, 5, f"sha256/{a[:2]}/{a}", {"ext": "png"})
    # Another service on the same folder (another run) gives the same id.
    assert (
        ContentAddressedAssetService(tmp_path / "store").register_asset(str(inputs / "a.png"), {})
        == a
    )


def test_an_empty_image_is_an_asset_too(tmp_path: Path) -> None:
    inputs = write_tree(tmp_path / "in", {"blank.png": b""})
    service = ContentAddressedAssetService(tmp_path / "store")
    assert service.register_asset(str(inputs / "blank.png"), {}) == sha256_hex(b"")


def test_an_unreadable_image_raises_a_typed_error(tmp_path: Path) -> None:
    service = ContentAddressedAssetService(tmp_path / "store")
    with pytest.raises(AssetRegistrationError, match=r"cannot read image .*missing\.png"):
        service.register_asset(str(tmp_path / "missing.png"), {})


def test_a_failed_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inputs = write_tree(tmp_path / "in", {"a.png": b"bytes"})
    service = ContentAddressedAssetService(tmp_path / "store")

    def broken_replace(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", broken_replace)
    with pytest.raises(AssetRegistrationError, match="No space left on device"):
        service.register_asset(str(inputs / "a.png"), {})
    assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []
