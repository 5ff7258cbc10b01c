"""The purchase data generator: deterministic, the documented input layout, every bad kind
planted."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

from tools.generate_purchases import (
    HANDLING,
    GenerationSummary,
    OccupiedFolderError,
    cli,
    generate,
    main,
)

START = dt.date(2024, 1, 1)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _generate(out: Path, *, bad: bool = True, days: int = 21) -> GenerationSummary:
    return generate(out, customers=40, start=START, days=days, seed=3, bad_records=bad, products=30)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> GenerationSummary:
    return _generate(tmp_path_factory.mktemp("sample"))


def test_same_arguments_give_byte_identical_files(tmp_path: Path) -> None:
    first = _generate(tmp_path / "a")
    second = _generate(tmp_path / "b")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert first.planted == second.planted
    assert _files(tmp_path / "a") != _files(_generate(tmp_path / "c", bad=False).out)


def test_a_shorter_run_is_a_prefix_of_a_longer_one(tmp_path: Path) -> None:
    _generate(tmp_path / "short", bad=False, days=3)
    _generate(tmp_path / "long", bad=False, days=5)
    short, long = _files(tmp_path / "short"), _files(tmp_path / "long")
    del short["transactions/d=2024-01-03/transactions.json"]  # the last day never crosses ahead
    assert {name: long[name] for name in short} == short


def test_layout_is_the_documented_source_layout(sample: GenerationSummary) -> None:
    root = sample.out
    assert sorted(p.name for p in root.iterdir()) == [
        "customers.csv",
        "products.csv",
        "transactions",
    ]
    folders = sorted(p.name for p in (root / "transactions").iterdir())
    assert folders == [f"d={START + dt.timedelta(days=i)}" for i in range(21)]
    for folder in folders:
        assert [p.name for p in (root / "transactions" / folder).iterdir()] == ["transactions.json"]


def test_csv_headers_and_ids(sample: GenerationSummary) -> None:
    with (sample.out / "customers.csv").open(newline="") as handle:
        customers = list(csv.reader(handle))
    assert customers[0] == ["customer_id", "loyalty_score"]
    assert [row[0] for row in customers[1:]] == [f"C{i}" for i in range(1, 41)]
    assert all(1 <= int(row[1]) <= 10 for row in customers[1:])
    text = (sample.out / "products.csv").read_text()
    with (sample.out / "products.csv").open(newline="") as handle:
        products = list(csv.reader(handle))
    assert products[0] == ["product_id", "product_description", "product_category"]
    assert [row[0] for row in products[1:]] == [f"P{i}" for i in range(1, 31)]
    assert all(len(row) == 3 for row in products)
    assert any("," in row[1] for row in products[1:]), "some descriptions hold a comma"
    assert ',"' in text, "and those are quoted"


def test_duplicate_ids_only_on_request(tmp_path: Path) -> None:
    generate(tmp_path, customers=5, start=START, days=1, seed=1, products=4, duplicate_ids=True)
    customers = (tmp_path / "customers.csv").read_text().splitlines()
    products = (tmp_path / "products.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in customers].count("C1") == 2
    assert [line.split(",")[0] for line in products].count("P1") == 2


def test_every_bad_kind_is_planted_where_the_summary_says(sample: GenerationSummary) -> None:
    kinds = {record.kind for record in sample.planted}
    assert kinds == set(HANDLING)
    for record in sample.planted:
        data = (sample.out / record.file).read_bytes()
        if record.kind == "empty_file":
            assert data == b""
            continue
        lines = data.decode().split("\r\n" if b"\r\n" in data else "\n")
        if record.kind == "crlf_file":
            assert data.count(b"\r\n") == data.count(b"\n") > 0
        elif record.kind == "no_final_newline":
            assert not data.endswith(b"\n")
            assert len(lines) == record.line
        elif record.kind == "blank_line":
            assert lines[record.line - 1] == ""
        else:
            line = lines[record.line - 1]
            assert line
            _check_planted_line(record.kind, line, record.file)


def _check_planted_line(kind: str, line: str, file: str) -> None:
    folder = dt.date.fromisoformat(file.split("d=")[1][:10])
    if kind == "not_json":
        with pytest.raises(json.JSONDecodeError):
            json.loads(line)
        return
    record = json.loads(line)
    if kind.startswith("missing_"):
        assert record.get(kind.removeprefix("missing_")) is None
    elif kind == "basket_not_list":
        assert not isinstance(record["basket"], list)
    elif kind == "unparseable_date":
        with pytest.raises(ValueError, match=r"."):
            dt.datetime.strptime(record["date_of_purchase"], "%Y-%m-%d %H:%M:%S")
    elif kind == "item_without_product_id":
        assert record["basket"][0]["product_id"]
        assert record["basket"][1].get("product_id") is None
    else:
        when = dt.datetime.strptime(record["date_of_purchase"], "%Y-%m-%d %H:%M:%S")
        distance = abs((when.date() - folder).days)
        if kind == "date_out_of_tolerance":
            assert distance > 1
        elif kind == "unknown_customer":
            assert int(record["customer_id"][1:]) > 40
        elif kind == "unknown_product":
            assert any(int(item["product_id"][1:]) > 30 for item in record["basket"])
        elif kind == "sunday_to_monday":
            assert folder.weekday() == 6
            assert when.date() == folder + dt.timedelta(days=1)
        elif kind == "monday_to_sunday":
            assert folder.weekday() == 0
            assert when.date() == folder - dt.timedelta(days=1)


def test_clean_lines_are_the_documented_json(tmp_path: Path) -> None:
    summary = _generate(tmp_path, bad=False, days=7)
    transactions = items = 0
    crossing = 0
    for path in sorted((tmp_path / "transactions").glob("d=*/transactions.json")):
        folder = dt.date.fromisoformat(path.parent.name[2:])
        data = path.read_text()
        assert data.endswith("\n")
        for line in data.splitlines():
            record = json.loads(line)
            assert json.dumps(record) == line, "exact key order and spacing"
            assert list(record) == ["customer_id", "basket", "date_of_purchase"]
            assert 1 <= int(record["customer_id"].removeprefix("C")) <= 40
            assert 1 <= len(record["basket"]) <= 3
            for item in record["basket"]:
                assert list(item) == ["product_id", "price"]
                assert 1 <= int(item["product_id"].removeprefix("P")) <= 30
                assert isinstance(item["price"], int)
            when = dt.datetime.strptime(record["date_of_purchase"], "%Y-%m-%d %H:%M:%S")
            assert abs((when.date() - folder).days) <= 1
            crossing += when.date() != folder
            transactions += 1
            items += len(record["basket"])
    assert (transactions, items) == (summary.transactions, summary.basket_items)
    assert transactions > 7 * 40 * 0.1
    assert crossing <= transactions * 0.02


def test_cli_writes_the_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "manifest.json"
    argv = ["--customers", "10", "--start", "2024-01-01", "--days", "8", "--seed", "5"]
    argv += ["--out", str(tmp_path / "out"), "--products", "9", "--bad-records"]
    assert main([*argv, "--manifest", str(manifest)]) == 0
    data = json.loads(manifest.read_text())
    assert data["days"] == 8
    assert {p["kind"] for p in data["planted"]} >= {"not_json", "empty_file", "crlf_file"}
    assert "wrote" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--start", "9999-12-30", "--days", "5"], "--start 9999-12-30 and --days 5 run past"),
        (["--products", "100000000000"], "--products must be a whole number from 1 to 1,000,000"),
        (["--seed", "-1"], "--seed must be a whole number from 0, got -1"),
        (["--customers", "0"], "--customers must be a whole number from 1 to 10,000,000"),
        (["--manifest", "/no/such/folder/m.json"], "the folder /no/such/folder does not exist"),
    ],
)
def test_cli_refuses_impossible_arguments_before_writing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    out = tmp_path / "feed"
    argv = ["--customers", "3", "--start", "2024-01-01", "--days", "2", "--seed", "1"]
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--out", str(out), *extra])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_cli_refuses_an_out_that_is_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    argv = ["--customers", "3", "--start", "2024-01-01", "--days", "2", "--seed", "1"]
    with pytest.raises(SystemExit):
        main([*argv, "--out", str(a_file)])
    assert f"--out {a_file} is a file: name a folder" in capsys.readouterr().err


ARGV = ["--customers", "12", "--start", "2024-01-01", "--seed", "5", "--products", "9"]


def _cli(out: Path, *extra: str, days: int = 8) -> int | str | None:
    with pytest.raises(SystemExit) as exited:
        cli([*ARGV, "--days", str(days), "--out", str(out), *extra])
    return exited.value.code


def test_cli_refuses_a_folder_that_holds_a_feed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "feed"
    assert _cli(out, days=14) == 0
    before = _files(out)
    capsys.readouterr()

    with pytest.raises(SystemExit) as exited:
        main([*ARGV, "--days", "3", "--out", str(out)])

    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert (
        f"--out {out} is not empty (it holds customers.csv, products.csv, transactions): a new "
        "feed written over it would keep the old days outside this range, a mixed feed; choose "
        "a new or empty folder, or add --force to replace the feed in it"
    ) in error
    assert _files(out) == before  # not a byte changed
    with pytest.raises(OccupiedFolderError):  # the function refuses it too
        generate(out, customers=12, start=START, days=3, seed=5, products=9)
    assert _files(out) == before


def test_force_replaces_the_feed_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, fresh = tmp_path / "feed", tmp_path / "fresh"
    assert _cli(out, "--bad-records", days=14) == 0
    leftover = out / ".customers.csv.host.1.abc.tmp"  # an interrupted write's folder
    leftover.mkdir()
    (out / "README.md").write_text("the sample\n")  # as beside the bundled sample: kept
    assert _cli(out, "--force", days=3) == 0
    assert _cli(fresh, days=3) == 0
    assert _files(out) == {**_files(fresh), "README.md": b"the sample\n"}  # no old day left
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "customers.csv",
        "products.csv",
        "transactions",
    ]
    assert _cli(tmp_path / "empty-before", "--force", days=3) == 0  # --force on a new folder
    capsys.readouterr()


# A hidden name that merely starts like a feed's file is not an interrupted write's leftover
# (those are `.<file>.<host>.<pid>.<random>.tmp`): --force removed it.
@pytest.mark.parametrize(
    "foreign", ["notes.txt", ".git", "d=2024-01-01", ".transactions-notes.tmp", ".products.tmp"]
)
def test_force_removes_nothing_from_a_folder_that_is_not_a_feed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], foreign: str
) -> None:
    out = tmp_path / "feed"
    assert _cli(out) == 0
    (out / foreign).mkdir()
    before = _files(out)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main([*ARGV, "--days", "3", "--out", str(out), "--force"])
    assert exited.value.code == 2
    assert (
        f"--out {out} holds {foreign}, which is not part of a purchase feed, so --force does "
        "not empty it: remove that yourself or choose another folder"
    ) in capsys.readouterr().err
    assert _files(out) == before
    assert (out / foreign).is_dir()


def test_force_removes_a_symlinked_transactions_folder_not_what_it_leads_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    assert _cli(elsewhere) == 0
    out = tmp_path / "feed"
    out.mkdir()
    (out / "transactions").symlink_to(elsewhere / "transactions")
    kept = _files(elsewhere)
    assert _cli(out, "--force", days=3) == 0
    assert not (out / "transactions").is_symlink()
    assert _files(elsewhere) == kept
    capsys.readouterr()


def test_a_full_disk_is_one_sentence_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_write = Path.write_bytes

    def full_on_the_third_day(self: Path, data: bytes) -> int:
        if "2024-01-03" in str(self.parent):
            real_write(self, data[:10])
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_on_the_third_day)
    out = tmp_path / "feed"
    assert _cli(out) == 2
    day = out / "transactions" / "d=2024-01-03" / "transactions.json"
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: {day} cannot be written (No space left on device): free space on its disk, "
        "or write elsewhere."
    )
    assert list(day.parent.iterdir()) == []  # no partial file, no temporary left


def test_the_manifest_is_written_atomically(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    manifest = tmp_path / "manifest.json"
    manifest.write_text('{"the previous": "manifest"}\n')
    real_write = Path.write_bytes

    def full_for_the_manifest(self: Path, data: bytes) -> int:
        if self.parent.parent == tmp_path:  # the manifest's temporary file
            raise OSError(28, "No space left on device")
        return real_write(self, data)

    monkeypatch.setattr(Path, "write_bytes", full_for_the_manifest)
    assert _cli(tmp_path / "feed", "--manifest", str(manifest)) == 2
    assert f"error: {manifest} cannot be written" in capsys.readouterr().err
    assert manifest.read_text() == '{"the previous": "manifest"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["feed", "manifest.json"]
