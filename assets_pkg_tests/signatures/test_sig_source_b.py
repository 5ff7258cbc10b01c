"""SOURCE_B: INDEX parsing, parents as forgeries, and every hostile case (decision 5)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from assets_pkg.shared.location import Location
from assets_pkg.signatures.records import Reject, SourceLayoutError
from assets_pkg.signatures.source_b import parse_index, read_source_b

from .helpers import write_tree

G1 = "3f2a9c1e-5b7d-4e21-9a8b-0c1d2e3f4a5b"
F1 = "c0ffee12-3456-4789-abcd-ef0123456789"
F2 = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9"
LOST = "d15ea5e0-0000-4000-8000-000000000000"


def path_of(uuid: str) -> str:
    return f"{uuid[0]}/{uuid[:8]}"


def source_b(tmp_path: Path, index: str, files: list[str]) -> Path:
    return write_tree(
        tmp_path / "SOURCE_B",
        {"INDEX": index.encode(), **{name: name.encode() for name in files}},
    )


def test_parents_make_forgeries_linked_to_their_parent(tmp_path: Path) -> None:
    index = f"4\n{G1}\n{F2}    {F1}\n{F1}    {G1}\n{LOST.replace('d15', 'e15')}    {LOST}\n"
    orphan_free = [path_of(G1), path_of(F1), path_of(F2), "e/e15ea5e0"]
    result = read_source_b(Location.of(source_b(tmp_path, index, orphan_free)))
    assert result.rejects == []
    seen = [
        (
            c.signee.label(),
            c.signature.origin.source_path,
            c.signature.origin.subset,
            None if c.signature.forgery_of is None else c.signature.forgery_of.signee.writer_id,
            None if c.signature.forgery_of is None else c.signature.forgery_of.signature_path,
        )
        for c in result.candidates
    ]
    lost_child = LOST.replace("d15", "e15")
    assert seen == [  # parents before their forgeries, then INDEX order
        (f"SOURCE_B/{G1}", path_of(G1), "Genuine", None, None),
        (f"SOURCE_B/{lost_child}", "e/e15ea5e0", "Forgeries", LOST, "d/d15ea5e0"),
        (f"SOURCE_B/{F1}", path_of(F1), "Forgeries", G1, path_of(G1)),
        (f"SOURCE_B/{F2}", path_of(F2), "Forgeries", F1, path_of(F1)),
    ]


def test_upper_case_ids_are_the_same_uuid_but_keep_their_file_name(tmp_path: Path) -> None:
    upper = G1.upper()
    result = read_source_b(Location.of(source_b(tmp_path, f"1\n{upper}\n", [path_of(upper)])))
    assert [(c.signee.writer_id, c.signature.origin.source_path) for c in result.candidates] == [
        (G1, path_of(upper))
    ]


HOSTILE_IDS = {
    "ok": "11111111-1111-4111-8111-111111111111",
    "cycle_a": "2aaaaaaa-0000-4000-8000-00000000000a",
    "cycle_b": "2bbbbbbb-0000-4000-8000-00000000000b",
    "self": "2ccccccc-0000-4000-8000-00000000000c",
    "dup": "33333333-3333-4333-8333-333333333333",
    "twin_1": "44444444-0000-4000-8000-000000000001",
    "twin_2": "44444444-0000-4000-8000-000000000002",
    "no_file": "55555555-5555-4555-8555-555555555555",
    "child_of_cycle": "66666666-6666-4666-8666-666666666666",
}


def hostile_source_b(tmp_path: Path) -> Path:
    i = HOSTILE_IDS
    lines = [
        "11",  # wrong count: 12 lines follow
        i["ok"],
        "../../x",
        f"{i['cycle_a']}    {i['cycle_b']}",
        f"{i['cycle_b']}    {i['cycle_a']}",
        f"{i['self']}    {i['self']}",
        i["dup"],
        f"{i['dup']}    {i['ok']}",
        i["twin_1"],
        i["twin_2"],
        i["no_file"],
        f"{i['child_of_cycle']}    {i['cycle_a']}",
        f"{i['ok']}    not-a-uuid    extra",
        "",
    ]
    files = [path_of(i[k]) for k in i if k != "no_file"] + ["9/99999999", "notes.txt"]
    return source_b(tmp_path, "\n".join(lines), files)


def test_every_hostile_case_is_rejected_or_reported_with_its_line(tmp_path: Path) -> None:
    i = HOSTILE_IDS
    result = read_source_b(Location.of(hostile_source_b(tmp_path)))
    cycle = f"parent cycle: {i['cycle_a']} -> {i['cycle_b']} -> {i['cycle_a']}"
    ambiguous = "shares its first 8 characters with {}: the file is ambiguous"
    assert sorted(result.rejects) == [
        # Line 13 is malformed but still names `ok`: every occurrence of a duplicate id goes.
        Reject("SOURCE_B", "1/11111111", 2, "duplicate id (also on line 13)"),
        Reject("SOURCE_B", "2/2aaaaaaa", 4, cycle),
        Reject("SOURCE_B", "2/2bbbbbbb", 5, cycle),
        Reject("SOURCE_B", "2/2ccccccc", 6, f"parent cycle: {i['self']} -> {i['self']}"),
        Reject("SOURCE_B", "3/33333333", 7, "duplicate id (also on line 8)"),
        Reject("SOURCE_B", "3/33333333", 8, "duplicate id (also on line 7)"),
        Reject("SOURCE_B", "4/44444444", 9, ambiguous.format(i["twin_2"])),
        Reject("SOURCE_B", "4/44444444", 10, ambiguous.format(i["twin_1"])),
        Reject("SOURCE_B", "5/55555555", 11, "file 5/55555555 is missing"),
        Reject("SOURCE_B", "9/99999999", None, "no INDEX line names this file", "warning"),
        Reject(
            "SOURCE_B",
            "INDEX",
            1,
            "declared count 11 differs from the 12 signature lines",
            "warning",
        ),
        Reject("SOURCE_B", "INDEX", 3, "id is not a UUID: '../../x'"),
        Reject("SOURCE_B", "INDEX", 13, "expected '<id>    <parent id>': too many fields"),
        Reject("SOURCE_B", "notes.txt", None, "no INDEX line names this file", "warning"),
    ]
    # The child of a rejected cycle is still a candidate: its reference will be missing.
    assert [
        (c.signee.writer_id, c.signature.forgery_of is not None) for c in result.candidates
    ] == [(i["child_of_cycle"], True)]
    assert not (tmp_path / "x").exists()


def test_a_path_like_id_never_reaches_the_file_system(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"outside")
    root = source_b(tmp_path / "inner", "1\n../../x\n", [])
    result = read_source_b(Location.of(root))
    assert result.candidates == []
    assert result.rejects == [Reject("SOURCE_B", "INDEX", 2, "id is not a UUID: '../../x'")]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "line 1 should be the number of signatures (at most 10 digits), got '' (0 listed)"),
        (
            "two\n",
            "line 1 should be the number of signatures (at most 10 digits), got 'two' (0 listed)",
        ),
        (f"0\n{G1}\n", "declared count 0 differs from the 1 signature lines"),
    ],
)
def test_a_wrong_or_missing_count_is_a_warning(text: str, reason: str) -> None:
    _, rejects = parse_index(text)
    assert rejects == [Reject("SOURCE_B", "INDEX", 1, reason, "warning")]


def test_index_lines_need_a_uuid_parent(tmp_path: Path) -> None:
    entries, rejects = parse_index(f"1\n{G1}    {G1[:-1]}\n")
    assert entries == []
    assert rejects == [Reject("SOURCE_B", "INDEX", 2, f"parent id is not a UUID: {G1[:-1]!r}")]


def test_a_missing_index_stops_the_read(tmp_path: Path) -> None:
    with pytest.raises(SourceLayoutError, match="INDEX is missing"):
        read_source_b(Location.of(write_tree(tmp_path / "SOURCE_B", {})))


def test_an_unreadable_file_is_rejected_and_the_read_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = source_b(tmp_path, f"2\n{G1}\n{F1}    {G1}\n", [path_of(G1), path_of(F1)])
    real_open = os.open

    def refusing_open(path: str, flags: int, *args: Any, **kwargs: Any) -> int:
        if Path(path).name == G1[:8]:
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing_open)
    result = read_source_b(Location.of(root))
    assert [c.signature.origin.source_path for c in result.candidates] == [path_of(F1)]
    assert result.rejects == [
        Reject("SOURCE_B", path_of(G1), 2, "unreadable file: Permission denied")
    ]


def test_an_index_with_a_byte_order_mark_reads_its_count(tmp_path: Path) -> None:
    root = write_tree(
        tmp_path / "SOURCE_B",
        {"INDEX": b"\xef\xbb\xbf" + f"1\r\n{G1}\r\n".encode(), path_of(G1): b"image"},
    )
    result = read_source_b(Location.of(root))
    assert result.rejects == []
    assert [c.signee.writer_id for c in result.candidates] == [G1]


@pytest.mark.parametrize(
    ("malformed", "reason"),
    [
        ("    not-a-uuid", "parent id is not a UUID: 'not-a-uuid'"),
        (f"    {G1}    extra", "expected '<id>    <parent id>': too many fields"),
    ],
)
def test_a_malformed_line_still_claims_its_id_and_file(
    tmp_path: Path, malformed: str, reason: str
) -> None:
    first = "aaaaaaaa-1111-4000-8000-000000000001"
    second = "aaaaaaaa-1111-4000-8000-000000000002"
    index = f"4\n{first}\n{second}{malformed}\n{G1}\n{G1.upper()}{malformed}\n"
    result = read_source_b(Location.of(source_b(tmp_path, index, [path_of(first), path_of(G1)])))
    assert sorted(result.rejects) == [
        Reject("SOURCE_B", path_of(G1), 4, "duplicate id (also on line 5)"),
        Reject("SOURCE_B", "INDEX", 3, reason),
        Reject("SOURCE_B", "INDEX", 5, reason),
        Reject(
            "SOURCE_B",
            path_of(first),
            2,
            f"shares its first 8 characters with {second}: the file is ambiguous",
        ),
    ]
    assert result.candidates == []


@pytest.mark.parametrize(
    ("separator", "code"),
    [("\u00a0", "U+00A0"), ("\u3000", "U+3000"), ("\x0b", "U+000B"), ("\r", "U+000D")],
)
def test_only_spaces_and_tabs_separate_the_fields_of_an_index_line(
    tmp_path: Path, separator: str, code: str
) -> None:
    """Any run of spaces or tabs separates an id from its parent; a line with other whitespace
    is malformed: rejected, and (its id being a UUID) still claiming that id and its file."""
    index = f"3\n \t{G1}\t \t\n{F1}{separator}{G1}\n{F1}    {G1}\n"
    result = read_source_b(Location.of(source_b(tmp_path, index, [path_of(G1), path_of(F1)])))
    reason = f"whitespace {code} in the line: separate the id and its parent with spaces or tabs"
    assert sorted(result.rejects) == [
        Reject("SOURCE_B", "INDEX", 3, f"{reason} only"),
        Reject("SOURCE_B", path_of(F1), 4, "duplicate id (also on line 3)"),
    ]
    assert [c.signee.writer_id for c in result.candidates] == [G1]


@pytest.mark.parametrize("blank", ["\u00a0", "\x0c", "\r\r", " \u3000 "])
def test_a_line_of_white_space_alone_is_a_blank_line_whatever_the_space(
    tmp_path: Path, blank: str
) -> None:
    index = f"1\n{blank}\n{G1}\n"
    result = read_source_b(Location.of(source_b(tmp_path, index, [path_of(G1)])))
    assert result.rejects == []
    assert [c.signee.writer_id for c in result.candidates] == [G1]


def test_a_file_named_only_by_a_malformed_line_is_not_reported_as_unnamed(
    tmp_path: Path,
) -> None:
    """The malformed line's reject says why the file is not registered; "no INDEX line names
    this file" would contradict it."""
    index = f"2\n{G1}    not-a-uuid\n{F1}    {G1}    extra\n"
    result = read_source_b(
        Location.of(source_b(tmp_path, index, [path_of(G1), path_of(F1), "x/stray"]))
    )
    assert sorted(result.rejects) == [
        Reject("SOURCE_B", "INDEX", 2, "parent id is not a UUID: 'not-a-uuid'"),
        Reject("SOURCE_B", "INDEX", 3, "expected '<id>    <parent id>': too many fields"),
        Reject("SOURCE_B", "x/stray", None, "no INDEX line names this file", "warning"),
    ]
    assert result.candidates == []
