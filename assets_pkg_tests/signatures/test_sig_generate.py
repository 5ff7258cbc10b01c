"""The scale generator: deterministic, conventional names, every file registers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from assets_pkg.signatures.etl import read_sources
from assets_pkg.signatures.generate import ScaleSpec, generate, main

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
    candidates, rejects = read_sources(tmp_path / "a")
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
