"""Names that stand for the same sample of the same signee (`001_01.png`, `001_01.PNG`,
`001_1.png`): registered once when the bytes agree, none registered when they differ, each
other name in signature_rejects with the reason (docs/signatures.md, "One sample, one file")."""

from __future__ import annotations

from pathlib import Path

from assets_pkg.shared.location import Location
from assets_pkg.signatures.ports import RegistrationIdentity
from assets_pkg.signatures.records import SOURCE_A, ReadResult, Reject, sha256_hex
from assets_pkg.signatures.source_a import read_source_a

from .helpers import write_tree

G = "Offline/Genuine"


def paths(tmp_path: Path, files: dict[str, bytes]) -> Path:
    return write_tree(tmp_path / "SOURCE_A", {f"{G}/{k}": v for k, v in files.items()})


def file_rejects(found: ReadResult) -> list[Reject]:
    """The rejects of files (not the warnings for a subset directory the tree lacks)."""
    return sorted(
        (r for r in found.rejects if r.source_path.count("/") == 2), key=lambda r: r.source_path
    )


def test_three_names_of_one_sample_with_other_bytes_register_none_and_say_why(
    tmp_path: Path,
) -> None:
    root = paths(
        tmp_path,
        {"001_01.png": b"one", "001_01.PNG": b"two", "001_1.png": b"three", "001_02.png": b"ok"},
    )
    found = read_source_a(Location.of(root))
    assert [c.signature.origin.source_path for c in found.candidates] == [f"{G}/001_02.png"]
    rejects = {r.source_path: r for r in file_rejects(found)}
    assert sorted(rejects) == [f"{G}/001_01.PNG", f"{G}/001_01.png", f"{G}/001_1.png"]
    assert rejects[f"{G}/001_1.png"].reason == (
        f"sample 1 of writer 001 is also named {G}/001_01.PNG, {G}/001_01.png, with other "
        "bytes: none of them is registered (rename or remove all but one)"
    )
    assert {r.severity for r in rejects.values()} == {"rejected"}


def test_names_of_one_sample_with_the_same_bytes_register_it_once(tmp_path: Path) -> None:
    root = paths(tmp_path, {"001_01.png": b"same", "001_01.PNG": b"same", "001_1.png": b"same"})
    found = read_source_a(Location.of(root))
    assert [c.signature.origin.source_path for c in found.candidates] == [f"{G}/001_01.PNG"]
    rejects = file_rejects(found)
    assert [(r.source_path, r.severity) for r in rejects] == [
        (f"{G}/001_01.png", "warning"),
        (f"{G}/001_1.png", "warning"),
    ]
    assert rejects[0].reason == (
        f"another name for sample 1 of writer 001, with the same bytes as {G}/001_01.PNG: "
        f"registered once, as {G}/001_01.PNG"
    )


def test_the_name_already_registered_is_the_one_kept(tmp_path: Path) -> None:
    """A second name added later does not move the registration (a re-run registers nothing)."""
    root = paths(tmp_path, {"001_1.png": b"same", "001_01.png": b"same"})
    first = read_source_a(Location.of(paths(tmp_path / "before", {"001_1.png": b"same"})))
    (candidate,) = first.candidates
    identity = RegistrationIdentity(sha256_hex(b"same"), candidate.signee, None)
    found = read_source_a(Location.of(root), known={(SOURCE_A, f"{G}/001_1.png"): identity})
    assert found.candidates == []
    assert [u.source_path for u in found.unchanged] == [f"{G}/001_1.png"]
    assert [(r.source_path, r.severity) for r in file_rejects(found)] == [
        (f"{G}/001_01.png", "warning")
    ]


def test_other_writers_samples_subsets_and_forgeries_do_not_collide(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "SOURCE_A",
        {
            f"{G}/001_01.png": b"a",
            f"{G}/002_01.png": b"b",
            f"{G}/001_10.png": b"c",
            "Offline/Forgeries/0120001_01.png": b"d",
            "Offline/Forgeries/0130001_01.png": b"e",
            "Offline/Forgeries/0120002_01.png": b"f",
            "Online/Genuine/001_01.HWR": b"1,2,3\n",
        },
    )
    found = read_source_a(Location.of(root))
    assert len(found.candidates) == 7
    assert file_rejects(found) == []
