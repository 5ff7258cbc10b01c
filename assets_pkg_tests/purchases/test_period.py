"""Counts for any range of weeks: the function and the CLI equal the rules applied to the
source files by plain Python (rules_oracle.py), not a recomputation from the output."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import stat
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assets_pkg.defs.partitions import cli_partition_sentence, weekly_partitions
from assets_pkg.purchases import period
from assets_pkg.purchases.period import MissingWeeksError, cli, counts_between
from assets_pkg.shared.dates import WeekRange
from tools.generate_purchases import generate

from .feed_builder import Feed, day, materialize
from .rules_oracle import period_by_the_rules

FIRST, LAST = "2024-01-01", "2024-01-15"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Feed, Path]:
    """A realistic generated feed of three weeks (bad records planted), materialised as a range."""
    root = tmp_path_factory.mktemp("period")
    feed = Feed(root / "source")
    generate(
        feed.root, customers=30, start=day(FIRST), days=21, seed=5, bad_records=True, products=12
    )
    warehouse = root / "warehouse"
    assert materialize(feed, warehouse, (FIRST, LAST)).success
    return feed, warehouse


def _by_the_rules(feed: Feed, first: str, last: str) -> pl.DataFrame:
    return period_by_the_rules(feed.root, day(first), day(last), tolerance=1)


@pytest.mark.parametrize(("first", "last"), [(FIRST, LAST), ("2024-01-08", LAST), (FIRST, FIRST)])
def test_counts_between_equal_a_recomputation(
    built: tuple[Feed, Path], first: str, last: str
) -> None:
    feed, warehouse = built
    expected = _by_the_rules(feed, first, last)
    assert expected.filter(pl.col("purchase_count") > 1).height > 0  # sums, not just rows
    assert_frame_equal(counts_between(str(warehouse), day(first), day(last)), expected)


def _exits_with(status: int, argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli(argv)
    assert exited.value.code == status


def test_the_cli_writes_the_same_counts(
    built: tuple[Feed, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    feed, warehouse = built
    out = tmp_path / "counts.parquet"
    _exits_with(0, [FIRST, LAST, "--warehouse", str(warehouse), "--out", str(out)])
    expected = _by_the_rules(feed, FIRST, LAST)
    assert_frame_equal(pl.read_parquet(out), expected)
    assert capsys.readouterr().err == f"{expected.height} rows written to {out}\n"
    csv = tmp_path / "counts.csv"
    _exits_with(0, [FIRST, LAST, "--warehouse", str(warehouse), "--out", str(csv)])
    assert_frame_equal(pl.read_csv(csv, schema=expected.schema), expected)
    as_url = tmp_path / "as-url.parquet"  # a file:// URL is a local path
    _exits_with(0, [FIRST, LAST, "--warehouse", str(warehouse), "--out", f"file://{as_url}"])
    assert_frame_equal(pl.read_parquet(as_url), expected)


def test_the_cli_names_what_to_fix(
    built: tuple[Feed, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, warehouse = built
    _exits_with(2, [FIRST, "2024-01-29", "--warehouse", str(warehouse)])
    assert capsys.readouterr().err == (
        f"error: 2 week(s) of weekly_purchase_counts are not in {warehouse}: 2024-01-22, "
        "2024-01-29. Materialise them first, from the project's folder with .venv active: "
        f"WAREHOUSE_DIR={warehouse} dg launch --assets raw_customers,products,"
        "exploded_transactions,transaction_quarantine,weekly_purchase_counts --partition-range "
        "2024-01-22...2024-01-29\n"
    )
    _exits_with(2, [LAST, FIRST, "--warehouse", str(warehouse)])
    assert "comes before the first week" in capsys.readouterr().err
    missing = tmp_path / "no-such-folder" / "counts.csv"
    _exits_with(2, [FIRST, LAST, "--warehouse", str(warehouse), "--out", str(missing)])
    assert capsys.readouterr().err == (
        f"error: --out {missing}: the folder {missing.parent} does not exist; create it first.\n"
    )
    folder = tmp_path / "a-folder.parquet"
    folder.mkdir()
    _exits_with(2, [FIRST, LAST, "--warehouse", str(warehouse), "--out", str(folder)])
    assert capsys.readouterr().err == f"error: --out {folder} is a folder: name a file inside it.\n"
    _exits_with(2, [FIRST, LAST, "--warehouse", str(warehouse), "--out", "/proc/counts.csv"])
    assert capsys.readouterr().err.startswith("error: --out /proc/counts.csv cannot be written (")
    _exits_with(2, [FIRST, LAST, "--warehouse", str(warehouse), "--out", "counts.txt"])
    assert capsys.readouterr().err == (
        "error: --out must name a .parquet or .csv file, got counts.txt.\n"
    )
    with pytest.raises(MissingWeeksError):
        counts_between(str(warehouse), day("2023-12-25"), day(FIRST))


def test_a_week_is_named_by_any_date_inside_it(
    built: tuple[Feed, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """`period` refused a date that is not a Monday, where the settings take any day of a
    week: tools that take a week accept any date inside it."""
    feed, warehouse = built
    expected = _by_the_rules(feed, "2024-01-08", LAST)
    # Wednesday of the second week, Sunday of the third.
    assert_frame_equal(
        counts_between(str(warehouse), day("2024-01-10"), day("2024-01-21")), expected
    )
    _exits_with(0, ["2024-01-10", "2024-01-21", "--warehouse", str(warehouse)])
    assert capsys.readouterr().err == (
        "first_week 2024-01-10 is in the week of Monday 2024-01-08.\n"
        "last_week 2024-01-21 is in the week of Monday 2024-01-15.\n"
    )
    _exits_with(2, ["2024-01-32", LAST, "--warehouse", str(warehouse)])
    assert capsys.readouterr().err == (
        "error: first_week must be a date YYYY-MM-DD, got '2024-01-32'.\n"
    )


def test_weeks_outside_the_partitions_are_suggested_with_the_settings_that_widen_them(
    built: tuple[Feed, Path],
) -> None:
    """For weeks outside the partitions, the suggested command failed with a traceback
    (a partition that does not exist); it now carries the settings that make them exist."""
    _, warehouse = built
    partitions = WeekRange(day(FIRST), day(LAST))
    with pytest.raises(MissingWeeksError) as before:
        counts_between(str(warehouse), day("2023-12-27"), day(FIRST), partitions)
    assert str(before.value).endswith(
        "(the weeks lie outside the weekly partitions, so the command widens them): "
        f"WAREHOUSE_DIR={warehouse} PURCHASES_START_DATE=2023-12-25 dg launch --assets "
        f"{period.BUILD} --partition 2023-12-25"
    )
    with pytest.raises(MissingWeeksError) as after:
        counts_between(str(warehouse), day("2023-12-25"), day("2024-02-01"), partitions)
    assert str(after.value).endswith(
        f"PURCHASES_START_DATE=2023-12-25 PURCHASES_END_DATE=2024-01-29 dg launch --assets "
        f"{period.BUILD} --partition-range 2023-12-25...2024-01-29"
    )
    # The CLI's own partition check: the widened partitions hold the suggested range, the
    # ones in use do not (Dagster's CLI ended with a traceback there).
    argv = str(after.value).split(" dg launch ")[1].split()
    widened = weekly_partitions(WeekRange.from_keys("2023-12-25", "2024-01-29"))
    assert cli_partition_sentence(widened, argv) is None
    assert cli_partition_sentence(weekly_partitions(partitions), argv) is not None
    assert period.build_advice(
        str(warehouse), day("2026-11-30"), day("2026-11-30"), partitions, today=day("2026-12-02")
    ) == (
        "The week of 2026-11-30 has not ended yet (the last week that has is 2026-11-23): "
        "ask for it once it has ended and been materialised."
    )


@pytest.mark.parametrize("damage", ["empty", "folder", "another table"])
def test_a_damaged_week_file_is_named_in_one_sentence(
    built: tuple[Feed, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    _, built_warehouse = built
    warehouse = tmp_path / "warehouse"
    shutil.copytree(built_warehouse, warehouse)
    week_file = warehouse / "weekly_purchase_counts" / "week=2024-01-08" / "data.parquet"
    other = warehouse / "exploded_transactions" / "week=2024-01-08" / "data.parquet"
    if damage == "empty":
        week_file.write_bytes(b"")
    elif damage == "folder":
        week_file.unlink()
        week_file.mkdir()
    else:
        shutil.copyfile(other, week_file)

    _exits_with(2, [FIRST, LAST, "--warehouse", str(warehouse)])

    error = capsys.readouterr().err
    assert error.startswith(f"error: {week_file} ")
    assert error.endswith(" the week 2024-01-08 of weekly_purchase_counts again.\n")
    assert error.count("\n") == 1  # one sentence, no traceback


def test_a_range_of_weeks_without_purchases_gives_zero_rows(feed: Feed, warehouse: Path) -> None:
    feed.fill_days("2023-12-31", "2024-01-15")
    assert materialize(feed, warehouse, (FIRST, "2024-01-08")).success
    result = counts_between(str(warehouse), day(FIRST), day("2024-01-08"))
    assert result.rows() == [
        (day(FIRST), day("2024-01-08"), c, score, None, None, 0)
        for c, score in [("C1", 7), ("C2", 3), ("C3", 5), ("C4", 10)]
    ]
    assert result.schema["first_week"] == pl.Date
    assert isinstance(result.item(0, "last_week"), dt.date)


WEEK_FILE = "weekly_purchase_counts/week=2024-01-08/data.parquet"


@pytest.mark.parametrize(
    "where",
    [
        "a week's file",
        "a new week",
        "a new file beside the weeks",
        "the warehouse's top",
        "relative",
        "through ..",
        "file:// URL",
        "a symlinked folder",
        "a symlink to the week's file",
        "the warehouse through a symlink",
        "WAREHOUSE_DIR",
    ],
)
def test_out_is_refused_anywhere_inside_the_warehouse_it_reads(
    built: tuple[Feed, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    _, built_warehouse = built
    warehouse = tmp_path / "warehouse"
    shutil.copytree(built_warehouse, warehouse)
    before = {p: p.read_bytes() for p in warehouse.rglob("*") if p.is_file()}
    asset = warehouse / "weekly_purchase_counts"
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.chdir(tmp_path)
    given_warehouse = str(warehouse)
    if where == "a week's file":
        out = str(warehouse / WEEK_FILE)
    elif where == "a new week":
        (asset / "week=2024-02-05").mkdir()
        out = str(asset / "week=2024-02-05" / "data.parquet")
    elif where == "a new file beside the weeks":
        out = str(asset / "period.csv")
    elif where == "the warehouse's top":
        out = str(warehouse / "period.parquet")
    elif where == "relative":
        out = f"warehouse/{WEEK_FILE}"
    elif where == "through ..":
        out = str(outside / ".." / "warehouse" / "weekly_purchase_counts" / "x.parquet")
    elif where == "file:// URL":
        out = f"file://{warehouse / WEEK_FILE}"
    elif where == "a symlinked folder":
        (outside / "link").symlink_to(asset)
        out = str(outside / "link" / "x.parquet")
    elif where == "a symlink to the week's file":
        (outside / "link.parquet").symlink_to(warehouse / WEEK_FILE)
        out = str(outside / "link.parquet")
    elif where == "the warehouse through a symlink":
        (tmp_path / "warehouse-link").symlink_to(warehouse)
        given_warehouse = str(tmp_path / "warehouse-link")
        out = str(warehouse / WEEK_FILE)
    else:
        monkeypatch.setenv("WAREHOUSE_DIR", str(warehouse))
        out = str(warehouse / WEEK_FILE)
    args = [FIRST, LAST, "--out", out]
    if where != "WAREHOUSE_DIR":
        args += ["--warehouse", given_warehouse]
    setting = "WAREHOUSE_DIR" if where == "WAREHOUSE_DIR" else "--warehouse"

    _exits_with(2, args)

    assert capsys.readouterr().err == (
        f"error: --out {out} lies inside the warehouse {given_warehouse} ({setting}) that this "
        "tool reads, where it would replace or add a table's file: name a file outside it.\n"
    )
    after = {p: p.read_bytes() for p in warehouse.rglob("*") if p.is_file()}
    assert after == before  # no week replaced, no file added
    assert [p.name for p in outside.iterdir() if not p.is_symlink()] == []


def test_out_beside_the_warehouse_is_written(
    built: tuple[Feed, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A sibling whose name starts with the warehouse's is not inside it.
    _, warehouse = built
    out = warehouse.with_name(warehouse.name + "-reports") / "counts.parquet"
    out.parent.mkdir(exist_ok=True)
    _exits_with(0, [FIRST, LAST, "--warehouse", str(warehouse), "--out", str(out)])
    assert pl.read_parquet(out).height > 0
    capsys.readouterr()


def _no_space(written: bytes, raised: Exception) -> Any:
    """A writer that writes part of the file, then fails as on a full disk."""

    def write(frame: pl.DataFrame, file: Any, *args: Any, **kwargs: Any) -> None:
        Path(file).write_bytes(written)
        raise raised

    return write


@pytest.mark.parametrize(
    ("suffix", "method", "raised"),
    [
        # what polars raises on a full disk, for each format (seen on /dev/full)
        (
            ".parquet",
            "write_parquet",
            pl.exceptions.ComputeError(
                "parquet: File out of specification: underlying IO error: No space left on "
                "device (os error 28)"
            ),
        ),
        (".csv", "write_csv", OSError("No space left on device (os error 28)")),
    ],
)
@pytest.mark.parametrize("existing", [False, True])
def test_a_full_disk_leaves_no_partial_output_and_names_the_file(
    built: tuple[Feed, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    suffix: str,
    method: str,
    raised: Exception,
    existing: bool,
) -> None:
    _, warehouse = built
    out = tmp_path / f"counts{suffix}"
    if existing:
        out.write_bytes(b"the previous result")
    monkeypatch.setattr(pl.DataFrame, method, _no_space(b"PAR1 half", raised))

    _exits_with(2, [FIRST, LAST, "--warehouse", str(warehouse), "--out", str(out)])

    assert capsys.readouterr().err == (
        f"error: --out {out} cannot be written (No space left on device); nothing was written "
        "to it.\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ([out.name] if existing else [])
    if existing:
        assert out.read_bytes() == b"the previous result"


def test_a_folder_that_cannot_be_written_is_named(
    built: tuple[Feed, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Tests run as root, who may write anywhere: a folder of mode 555 is simulated.
    _, warehouse = built
    out = tmp_path / "read-only" / "counts.csv"
    out.parent.mkdir()
    real_mkdir = Path.mkdir

    def refuse(self: Path, *args: Any, **kwargs: Any) -> None:
        if self.parent == out.parent:
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", refuse)
    _exits_with(2, [FIRST, LAST, "--warehouse", str(warehouse), "--out", str(out)])
    assert capsys.readouterr().err == (
        f"error: --out {out} cannot be written (Permission denied); nothing was written to it.\n"
    )
    assert list(out.parent.iterdir()) == []


def test_a_folder_of_out_swapped_for_a_link_into_the_warehouse_is_still_refused(
    built: tuple[Feed, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--out's folder is checked before the weeks are read, which takes a while: a folder
    replaced by a symlink into the warehouse in between is refused when the file is written."""
    _, built_warehouse = built
    warehouse = tmp_path / "warehouse"
    shutil.copytree(built_warehouse, warehouse)
    before = {p: p.read_bytes() for p in warehouse.rglob("*") if p.is_file()}
    reports = tmp_path / "reports"
    reports.mkdir()
    out = reports / "data.parquet"
    real_counts = period.counts_between

    def swap_then_count(*args: Any) -> pl.DataFrame:
        result = real_counts(*args)
        reports.rmdir()
        reports.symlink_to(warehouse / "weekly_purchase_counts" / "week=2024-01-08")
        return result

    monkeypatch.setattr(period, "counts_between", swap_then_count)
    _exits_with(2, [FIRST, LAST, "--warehouse", str(warehouse), "--out", str(out)])
    assert capsys.readouterr().err == (
        f"error: --out {out} lies inside the warehouse {warehouse} (--warehouse) that this "
        "tool reads, where it would replace or add a table's file: name a file outside it.\n"
    )
    after = {p: p.read_bytes() for p in warehouse.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in (warehouse / WEEK_FILE).parent.iterdir()) == ["data.parquet"]


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_out_that_is_not_a_regular_file_is_refused(
    built: tuple[Feed, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    """A FIFO or a socket named x.csv was replaced by a regular file: the reader waiting on
    the FIFO never got the rows, and the FIFO was gone."""
    _, warehouse = built
    out = tmp_path / "counts.csv"
    if kind == "fifo":
        os.mkfifo(out)
    else:
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(out))
        server.close()
    _exits_with(2, [FIRST, LAST, "--warehouse", str(warehouse), "--out", str(out)])
    assert capsys.readouterr().err == (
        f"error: --out {out} is not a regular file (a pipe, a socket or a device): name a "
        "file to create or replace, or leave --out out to print the counts.\n"
    )
    assert not out.is_file()  # still what it was


def test_out_keeps_the_permissions_of_the_file_it_replaces(
    built: tuple[Feed, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An atomic write renames a new file over the old one: a report kept private (0600)
    became readable by everyone (0644) when it was written again."""
    _, warehouse = built
    out = tmp_path / "counts.csv"
    out.write_text("old\n")
    out.chmod(0o600)
    _exits_with(0, [FIRST, LAST, "--warehouse", str(warehouse), "--out", str(out)])
    capsys.readouterr()
    assert out.read_text().startswith("first_week,")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_out_a_hard_link_to_a_week_file_leaves_the_week_intact(
    built: tuple[Feed, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A hard link outside the warehouse to a week's file is another name for the same
    bytes: the result replaces the link's name, never the bytes the week reads."""
    _, built_warehouse = built
    warehouse = tmp_path / "warehouse"
    shutil.copytree(built_warehouse, warehouse)
    week = warehouse / WEEK_FILE
    before = week.read_bytes()
    out = tmp_path / "counts.parquet"
    os.link(week, out)
    _exits_with(0, [FIRST, LAST, "--warehouse", str(warehouse), "--out", str(out)])
    capsys.readouterr()
    assert week.read_bytes() == before
    assert pl.read_parquet(out).columns[:2] == ["first_week", "last_week"]
