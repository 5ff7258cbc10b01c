"""The scale generator: deterministic, conventional names, every file registers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assets_pkg.shared.location import Location
from assets_pkg.signatures.etl import read_sources
from tools.generate_signatures import ScaleSpec, generate, main

TINY = ScaleSpec(
    genuine_writers=3,
    genuine_samples=2,
    forgers=2,
    forgeries_per_forger=2,
    offline_share=0.5,
    points=10,
    index_signatures=4,
)


def test_the_tree_follows_every_convention_and_is_reproducible(tmp_path: Path) -> None:
    made = generate(tmp_path / "a", TINY)
    # Online: 3 writers x 2 + 2 forgers x 2; Offline: 2 x 2 + 1 x 2; SOURCE_B: 4.
    assert (made.files, made.online_files) == (10 + 6 + 4, 10)
    candidates, rejects = read_sources(Location.of(tmp_path / "a"))
    assert rejects == []
    assert len(candidates) == made.files
    assert sum(len(getattr(c.signature, "points", ())) for c in candidates) == made.points
    generate(tmp_path / "b", TINY)
    first = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*"))
    second = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*"))
    assert first == second
    index = (tmp_path / "a" / "SOURCE_B" / "INDEX").read_text()
    assert index == (tmp_path / "b" / "SOURCE_B" / "INDEX").read_text()


def test_ids_beyond_the_naming_convention_are_refused() -> None:
    with pytest.raises(ValueError, match="3-digit ids"):
        ScaleSpec(genuine_writers=1001)
    with pytest.raises(ValueError, match="4-digit ids"):
        ScaleSpec(forgers=10001)


def test_the_command_line_refuses_an_existing_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(
        [
            str(tmp_path / "out"),
            "--genuine-writers",
            "2",
            "--forgers",
            "1",
            "--points",
            "5",
            "--index-signatures",
            "2",
        ]
    )
    out = capsys.readouterr().out
    assert re.fullmatch(
        rf"37 files \(25 online, [0-9]+ points\) in {re.escape(str(tmp_path / 'out'))}\n", out
    )
    assert (tmp_path / "out" / "SOURCE_B" / "INDEX").is_file()
    with pytest.raises(SystemExit):
        main([str(tmp_path / "out")])


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--genuine-writers", "0", "--genuine-writers) must be within 1..1000"),
        ("--genuine-samples", "0", "--genuine-samples) must be at least 1"),
        ("--forgers", "-1", "--forgers) must be within 0..10000"),
        ("--forgeries-per-forger", "-1", "--forgeries-per-forger) must be at least 0"),
        ("--offline-share", "2", "--offline-share) must be within 0.0..1.0"),
        ("--offline-share", "nan", "--offline-share) must be within 0.0..1.0"),
        ("--points", "0", "--points) must be at least 1"),
        ("--index-signatures", "-1", "--index-signatures) must be at least 0"),
        ("--seed", "-1", "--seed) must be at least 0"),
    ],
)
def test_the_command_line_refuses_values_that_give_no_valid_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main([str(tmp_path / "out"), option, value])
    assert stopped.value.code == 2  # argparse's usage error, no traceback
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_the_smallest_accepted_values_give_a_tree_where_every_file_registers(
    tmp_path: Path,
) -> None:
    """One point per file at least (never an empty point file), and an empty SOURCE_B."""
    spec = ScaleSpec(
        genuine_writers=1,
        genuine_samples=1,
        forgers=0,
        forgeries_per_forger=0,
        offline_share=0.0,
        points=1,
        index_signatures=0,
    )
    made = generate(tmp_path / "out", spec)
    candidates, rejects = read_sources(Location.of(tmp_path / "out"))
    assert rejects == []
    assert (made.files, made.online_files, made.points) == (2, 1, 1)
    assert len(candidates) == made.files
    assert (tmp_path / "out" / "SOURCE_B" / "INDEX").read_text() == "0\n"
