"""The purchase assets through Dagster: one scenario feed holding every rule of the feed
(docs/purchases.md)."""

from __future__ import annotations

import datetime as dt
import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assets_pkg.purchases import counts, parse, schemas
from assets_pkg.purchases.feed import DayBytes, DayFile, read_day_file
from assets_pkg.purchases.parse import duckdb_to_polars

from .feed_builder import (
    ASSETS,
    CUSTOMERS_CSV,
    WEEKLY_ASSETS,
    Feed,
    check_results,
    check_results_by_week,
    day,
    failure_messages,
    materialize,
    materialized,
    moment,
    purchase,
    read_files,
    read_week,
    record,
    source_file,
    watched_fifo,
)

W = "2024-01-08"
PREVIOUS, NEXT = "2024-01-01", "2024-01-15"
CATALOG_CHECKS = {"unique_customer_ids", "unique_product_ids", "valid_loyalty_scores"}

NOT_JSON = "not json"
NO_CUSTOMER = record(basket=[{"product_id": "P1", "price": 1}], date_of_purchase=f"{W} 10:00:00")
BASKET_NOT_LIST = record(
    customer_id="C2", basket={"product_id": "P1"}, date_of_purchase=f"{W} 10:00:00"
)
BAD_DATE = record(
    customer_id="C2", basket=[{"product_id": "P1", "price": 1}], date_of_purchase="someday"
)
ITEM_WITHOUT_ID = record(
    customer_id="C2",
    basket=[{"price": 1}, {"product_id": "P9", "price": 2}],
    date_of_purchase=f"{W} 11:00:00",
)
NO_BASKET = record(customer_id="C3", date_of_purchase="2024-01-12 10:00:00")
NO_DATE = record(customer_id="C3", basket=[{"product_id": "P2", "price": 1}])
FAR = purchase("C1", "2024-01-20 10:00:00", "P1")
NOT_JSON_REASON = (
    "line is not valid JSON (JSONDecodeError: Expecting value: line 1 column 1 (char 0))"
)


def _scenario(feed: Feed) -> None:
    """Three weeks; week W holds every kind of bad input, and purchases across midnight."""
    feed.write_day(
        "2024-01-07",  # Sunday of the previous week
        purchase("C1", "2024-01-08 00:10:00", "P1"),  # Monday's purchase: counted in W
        purchase("C2", "2024-01-07 18:00:00", "P2"),
        NOT_JSON,  # quarantined in the previous week, not in W
    )
    feed.write_day(
        "2024-01-08",
        NOT_JSON,
        purchase("C1", "2024-01-08 10:00:00", "P1", "P1", "P2"),
        NO_CUSTOMER,
        BASKET_NOT_LIST,
        BAD_DATE,
        ITEM_WITHOUT_ID,
    )
    crlf = [
        purchase("C3", "2024-01-09 08:00:00", "P2"),
        purchase("C99", "2024-01-09 09:00:00", "P1"),
    ]
    feed.write_day("2024-01-09", raw="\r\n".join(crlf).encode())  # no final newline either
    feed.write_day("2024-01-11", raw=f"\n\n{FAR}\n\n".encode())
    feed.write_day("2024-01-12", NO_BASKET, NO_DATE)
    feed.write_day("2024-01-13", purchase("C2", "2024-01-13 12:00:00", "P1"))
    feed.write_day("2024-01-14", purchase("C3", "2024-01-15 00:05:00", "P1"))  # next week's
    feed.write_day("2024-01-15", purchase("C2", "2024-01-14 23:55:00", "P2"), NOT_JSON)
    feed.write_day("2024-01-02", purchase("C4", "2024-01-02 09:00:00", "P2"))
    feed.write_day("2024-01-16", purchase("C1", "2024-01-16 09:00:00", "P2"))
    feed.fill_days("2023-12-31", "2024-01-22")  # every other folder: an empty file


EXPLODED_W = pl.DataFrame(
    [
        (moment("2024-01-08 00:10:00"), "C1", "P1", 100, source_file("2024-01-07"), 1),
        (moment("2024-01-08 10:00:00"), "C1", "P1", 100, source_file(W), 2),
        (moment("2024-01-08 10:00:00"), "C1", "P1", 100, source_file(W), 2),
        (moment("2024-01-08 10:00:00"), "C1", "P2", 100, source_file(W), 2),
        (moment("2024-01-08 11:00:00"), "C2", "P9", 2, source_file(W), 6),
        (moment("2024-01-09 08:00:00"), "C3", "P2", 100, source_file("2024-01-09"), 1),
        (moment("2024-01-09 09:00:00"), "C99", "P1", 100, source_file("2024-01-09"), 2),
        (moment("2024-01-13 12:00:00"), "C2", "P1", 100, source_file("2024-01-13"), 1),
        (moment("2024-01-14 23:55:00"), "C2", "P2", 100, source_file("2024-01-15"), 1),
    ],
    schema={k: v for k, v in schemas.EXPLODED.items() if k != "week"},
    orient="row",
)

QUARANTINE_W = pl.DataFrame(
    [
        (source_file(W), 1, NOT_JSON, NOT_JSON_REASON),
        (source_file(W), 3, NO_CUSTOMER, "customer_id is missing"),
        (source_file(W), 4, BASKET_NOT_LIST, "basket is not a list (it is a JSON object)"),
        (
            source_file(W),
            5,
            BAD_DATE,
            'date_of_purchase "someday" does not parse as a date and time',
        ),
        (source_file(W), 6, ITEM_WITHOUT_ID, "basket item 1 has no product_id"),
        (
            source_file("2024-01-11"),
            3,
            FAR,
            "date_of_purchase 2024-01-20 10:00:00 is 9 days from its folder d=2024-01-11 "
            "(tolerance 1 days)",
        ),
        (source_file("2024-01-12"), 1, NO_BASKET, "basket is missing"),
        (source_file("2024-01-12"), 2, NO_DATE, "date_of_purchase is missing"),
    ],
    schema={k: v for k, v in schemas.QUARANTINE.items() if k != "week"},
    orient="row",
)

COUNTS_W = pl.DataFrame(
    [
        ("C1", 7, "P1", "trousers", 3),
        ("C1", 7, "P2", "shirts", 1),
        ("C2", 3, "P9", None, 1),  # unknown product
        ("C3", 5, "P2", "shirts", 1),
        ("C99", None, "P1", "trousers", 1),  # unknown customer
        ("C2", 3, "P1", "trousers", 1),
        ("C2", 3, "P2", "shirts", 1),
        ("C4", 10, None, None, 0),  # bought nothing this week
    ],
    schema={k: v for k, v in schemas.COUNTS.items() if k != "week"},
    orient="row",
)


def test_one_week_applies_every_rule(feed: Feed, warehouse: Path) -> None:
    _scenario(feed)
    result = materialize(feed, warehouse, W)
    assert result.success
    assert materialized(result) == [
        ("exploded_transactions", W),
        ("products", None),
        ("raw_customers", None),
        ("transaction_quarantine", W),
        ("weekly_purchase_counts", W),
    ]
    assert_frame_equal(read_week(warehouse, "exploded_transactions", W), EXPLODED_W)
    assert_frame_equal(read_week(warehouse, "transaction_quarantine", W), QUARANTINE_W)
    assert_frame_equal(read_week(warehouse, "weekly_purchase_counts", W), COUNTS_W)

    checks = check_results(result)
    assert sorted(checks) == [
        "all_day_folders_present",
        "counts_reconcile",
        "day_folders_well_named",
        "known_ids",
        "quarantine_is_empty",
        "unique_customer_ids",
        "unique_product_ids",
        "valid_loyalty_scores",
    ]
    known = checks["known_ids"]
    assert (known.passed, known.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert known.description == (
        "1 customer id(s) bought in the week but missing from customers.csv and 1 product "
        "id(s) missing from products.csv; their rows keep null loyalty_score / "
        "product_category."
    )
    weekly = [name for name in checks if name not in CATALOG_CHECKS]
    assert {name: checks[name].partition for name in weekly} == dict.fromkeys(weekly, W)
    assert known.metadata["unknown customer ids"] == dg.IntMetadataValue(1)
    assert known.metadata["unknown product ids"] == dg.IntMetadataValue(1)
    assert known.metadata["examples"] == dg.JsonMetadataValue(
        {"customer_id": ["C99"], "product_id": ["P9"]}
    )
    quarantine = checks["quarantine_is_empty"]
    assert (quarantine.passed, quarantine.severity) == (False, dg.AssetCheckSeverity.WARN)
    assert quarantine.metadata["quarantined rows"] == dg.IntMetadataValue(8)
    for name in [
        "all_day_folders_present",
        "counts_reconcile",
        "day_folders_well_named",
        "unique_customer_ids",
        "unique_product_ids",
    ]:
        assert checks[name].passed, name


@pytest.mark.parametrize("part_rows", [counts.PART_ROWS, 2], ids=["whole", "in parts"])
def test_a_range_equals_week_by_week_runs_and_reruns_change_nothing(
    feed: Feed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, part_rows: int
) -> None:
    """Also with the counts of every week made and written in parts of two rows, as a week
    with more pairs than `counts.PART_ROWS` is (the items are written a unit at a time)."""
    monkeypatch.setattr(counts, "PART_ROWS", part_rows)
    _scenario(feed)
    ranged, single = tmp_path / "ranged", tmp_path / "single"
    range_run = materialize(feed, ranged, (PREVIOUS, NEXT))
    assert range_run.success
    assert materialize(feed, single, None, selection=["raw_customers", "products"]).success
    for week in [NEXT, PREVIOUS, W]:  # any order
        assert materialize(feed, single, week, selection=WEEKLY_ASSETS).success
    files = read_files(ranged)
    assert sorted(files) == [
        f"{asset}/week={week}/data.parquet"
        for asset in sorted(WEEKLY_ASSETS)
        for week in [PREVIOUS, W, NEXT]
    ]
    singles = read_files(single)
    assert sorted(singles) == sorted(files)
    for name, frame in files.items():
        assert_frame_equal(singles[name], frame)
        assert "week" not in frame.columns  # the folder name carries it
    _assert_one_table_per_asset(ranged)

    # Each check has one evaluation per week of the range, naming it: the unknown ids are
    # W's alone, and every week's counts reconcile.
    by_week = check_results_by_week(range_run)
    for name in set(by_week) - CATALOG_CHECKS:
        assert sorted(by_week[name], key=str) == [PREVIOUS, W, NEXT], name
    known = by_week["known_ids"]
    assert [known[week].passed for week in [PREVIOUS, W, NEXT]] == [True, False, True]
    assert known[W].metadata["examples"] == dg.JsonMetadataValue(
        {"customer_id": ["C99"], "product_id": ["P9"]}
    )
    assert all(result.passed for result in by_week["counts_reconcile"].values())

    # Re-materialising a week gives the same rows, never duplicates.
    assert materialize(feed, ranged, W).success
    assert_frame_equal(read_week(ranged, "weekly_purchase_counts", W), COUNTS_W)
    again = read_files(ranged)
    for name, frame in files.items():
        assert_frame_equal(again[name], frame)

    # The purchases across midnight count once, in the week of their date.
    exploded = pl.scan_parquet(
        f"{ranged}/exploded_transactions/**/*.parquet", hive_partitioning=True
    ).collect()
    where = exploded.filter(pl.col("date_of_purchase").dt.hour() == 0).select(
        "week", "source_file", "customer_id"
    )
    assert where.rows() == [
        (day(W), source_file("2024-01-07"), "C1"),
        (day(NEXT), source_file("2024-01-14"), "C3"),
    ]
    assert exploded.height == 2 + EXPLODED_W.height + 2


def _assert_one_table_per_asset(warehouse: Path) -> None:
    """The contract's readers: polars and DuckDB read each asset as one Hive table."""
    for asset in ["raw_customers", "products"]:
        pattern = f"{warehouse}/{asset}/**/*.parquet"
        expected = pl.read_parquet(warehouse / asset / "data.parquet")
        assert_frame_equal(pl.scan_parquet(pattern, hive_partitioning=True).collect(), expected)
        from_duckdb = duckdb.connect().sql(
            f"select * from read_parquet('{pattern}', hive_partitioning = true)"
        )
        assert_frame_equal(duckdb_to_polars(from_duckdb), expected)
    assert_frame_equal(
        pl.read_parquet(warehouse / "raw_customers" / "data.parquet"),
        pl.DataFrame(
            {"customer_id": ["C1", "C2", "C3", "C4"], "loyalty_score": [7, 3, 5, 10]},
            schema=schemas.CUSTOMERS,
        ),
    )
    for asset in WEEKLY_ASSETS:
        pattern = f"{warehouse}/{asset}/**/*.parquet"
        expected = pl.concat(
            [
                read_week(warehouse, asset, week).select(pl.lit(day(week)).alias("week"), pl.all())
                for week in [PREVIOUS, W, NEXT]
            ]
        )
        polars_table = (
            pl.scan_parquet(pattern, hive_partitioning=True)
            .select(expected.columns)
            .sort("week", maintain_order=True)
            .collect()
        )
        assert_frame_equal(polars_table, expected)
        duckdb_table = duckdb_to_polars(
            duckdb.connect().sql(
                f"select {', '.join(expected.columns)} from "
                f"read_parquet('{pattern}', hive_partitioning = true)"
            )
        )
        assert_frame_equal(duckdb_table, expected, check_row_order=False)  # read in parallel
    stored = pl.scan_parquet(
        f"{warehouse}/weekly_purchase_counts/**/*.parquet", hive_partitioning=True
    ).collect()
    assert_frame_equal(stored.filter(pl.col("week") == day(W)).drop("week"), COUNTS_W)
    _assert_declared_columns_are_written(warehouse)


def _assert_declared_columns_are_written(warehouse: Path) -> None:
    """The column schema each asset shows in the UI is the table a reader gets."""
    for definition in ASSETS:
        for key, spec in definition.specs_by_key.items():
            declared = spec.metadata["dagster/column_schema"]
            asset = key.to_user_string()
            table = pl.scan_parquet(f"{warehouse}/{asset}/**/*.parquet", hive_partitioning=True)
            written = table.collect_schema()
            assert [(c.name, c.type) for c in declared.columns] == [
                (name, str(written[name])) for name in [c.name for c in declared.columns]
            ], asset
            assert sorted(written.names()) == sorted(c.name for c in declared.columns), asset


def test_a_duplicate_customer_id_stops_the_counts(feed: Feed, warehouse: Path) -> None:
    _scenario(feed)
    feed.write_csvs(customers=CUSTOMERS_CSV + "C2,4\nC3,1\n")
    result = materialize(feed, warehouse, W)
    assert not result.success
    checks = check_results(result)
    unique = checks["unique_customer_ids"]
    assert (unique.passed, unique.severity) == (False, dg.AssetCheckSeverity.ERROR)
    assert unique.metadata["bad ids"] == dg.JsonMetadataValue(["C2", "C3"])
    assert unique.description is not None
    assert unique.description.startswith("customers.csv has duplicate or empty ids: C2, C3.")
    assert ("weekly_purchase_counts", W) not in materialized(result)
    # Stopped by the blocking check, not failed inside: the counts step never started.
    assert [e.step_key for e in result.get_step_failure_events()] == ["raw_customers"]
    assert "weekly_purchase_counts" not in {
        e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_START
    }
    assert not (warehouse / "weekly_purchase_counts").exists()


def test_a_week_without_day_folders_fails_naming_them(feed: Feed, warehouse: Path) -> None:
    feed.fill_days("2024-01-01", "2024-01-07")
    feed.fill_days("2024-01-15", "2024-01-15")
    result = materialize(feed, warehouse, W, selection=WEEKLY_ASSETS)
    assert not result.success
    folders = ", ".join(f"transactions/d=2024-01-{d:02}" for d in range(8, 15))
    assert failure_messages(result) == [
        f"No transactions for week(s) {W}: none of their day folders exist under {feed.root} "
        f"({folders}). The data has not arrived yet, or PURCHASES_SOURCE_DIR points at the "
        "wrong folder."
    ]
    assert materialized(result) == []


@pytest.mark.parametrize("mode", ["0311", "0600", "000"])
def test_a_transactions_folder_that_cannot_be_read_fails_before_anything_is_written(
    feed: Feed, warehouse: Path, monkeypatch: pytest.MonkeyPatch, mode: str
) -> None:
    """`transactions/` that can be entered but not listed (0311), listed but not entered
    (0600), or neither (000). Tests run as root, whom permissions do not stop: the refusals
    are simulated where the feed lists the folder and looks up an entry in it."""
    feed.fill_days("2024-01-07", "2024-01-15")
    folder = feed.root / "transactions"
    listed, looked_up = Path.iterdir, os.lstat

    def iterdir(path: Path) -> Iterator[Path]:
        if path == folder and mode in {"0311", "000"}:
            raise PermissionError(13, "Permission denied", str(path))
        return listed(path)

    def lstat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        if Path(path).parent == folder and mode in {"0600", "000"}:
            raise PermissionError(13, "Permission denied", str(path))
        return looked_up(path, *args, **kwargs)

    monkeypatch.setattr(Path, "iterdir", iterdir)
    monkeypatch.setattr(os, "lstat", lstat)
    result = materialize(feed, warehouse, W, selection=WEEKLY_ASSETS)
    monkeypatch.undo()
    assert not result.success
    assert failure_messages(result) == [
        f"The folder {folder} exists but cannot be read (Permission denied): give the user "
        "running Dagster permission to list and enter it (chmod u+rx), or point "
        "PURCHASES_SOURCE_DIR at a readable copy."
    ]
    assert materialized(result) == []
    assert not (warehouse / "exploded_transactions").exists()


def test_some_missing_days_run_and_warn(feed: Feed, warehouse: Path) -> None:
    feed.write_day("2024-01-09", purchase("C1", "2024-01-09 10:00:00", "P2"))
    # The feed goes on after the week (2024-01-16), so its Monday 2024-01-15 is a gap.
    for folder in ["2024-01-08", "2024-01-11", "2024-01-12", "2024-01-13", "2024-01-14"]:
        feed.write_day(folder, raw=b"")
    feed.write_day("2024-01-16", raw=b"")
    result = materialize(feed, warehouse, W)
    assert result.success
    check = check_results(result)["all_day_folders_present"]
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
    # The Sunday before is not missing: the feed starts on Monday 2024-01-08.
    missing = ["2024-01-10", "2024-01-15"]
    assert check.metadata["missing days"] == dg.JsonMetadataValue(missing)
    assert check.description is not None
    assert check.description.startswith(
        f"2 day folder(s) read by the week are missing: {', '.join(missing)}."
    )
    quarantine = result.asset_materializations_for_node("transactions")
    assert [
        m.metadata.get("missing days")
        for m in quarantine
        if m.asset_key.path == ["transaction_quarantine"]
    ] == [dg.JsonMetadataValue(missing)]
    assert read_week(warehouse, "weekly_purchase_counts", W).select(
        "customer_id", "product_id", "purchase_count"
    ).rows() == [("C1", "P2", 1), ("C2", None, 0), ("C3", None, 0), ("C4", None, 0)]


def test_a_complete_feed_misses_no_day_before_its_first_or_after_its_last(
    feed: Feed, warehouse: Path
) -> None:
    """A feed that ends with the week's Sunday: the tolerance days around it (Sunday
    2024-01-07, Monday 2024-01-15) lie outside the feed, so nothing is missing; the Monday is
    read when it arrives (late data, test_late_data.py)."""
    for n in range(8, 15):
        feed.write_day(f"2024-01-{n:02d}", purchase("C1", f"2024-01-{n:02d} 10:00:00", "P2"))
    result = materialize(feed, warehouse, W)
    check = check_results(result)["all_day_folders_present"]
    assert (check.passed, check.metadata["missing days"]) == (True, dg.JsonMetadataValue([]))


def test_a_missing_source_folder_or_csv_stops_with_one_sentence(feed: Feed, tmp_path: Path) -> None:
    gone = Feed(tmp_path / "nowhere")
    result = materialize(gone, tmp_path / "wh", None, selection=["raw_customers"])
    assert failure_messages(result) == [
        f"The purchase source folder {gone.root} does not exist: set PURCHASES_SOURCE_DIR to "
        "the folder holding customers.csv, products.csv and transactions/."
    ]
    a_file = Feed(feed.root / "customers.csv")
    result = materialize(a_file, tmp_path / "wh", None, selection=["raw_customers"])
    assert failure_messages(result) == [
        f"The purchase source folder {a_file.root} is not a folder: set PURCHASES_SOURCE_DIR "
        "to the folder holding customers.csv, products.csv and transactions/."
    ]
    (feed.root / "customers.csv").unlink()
    result = materialize(feed, tmp_path / "wh", None, selection=["raw_customers", "products"])
    assert failure_messages(result) == [
        f"{feed.root / 'customers.csv'} does not exist: put customers.csv there or point "
        "PURCHASES_SOURCE_DIR at the folder that holds it."
    ]
    assert materialized(result) == [("products", None)]


def test_start_date_of_the_partitions_is_the_first_week() -> None:
    from .feed_builder import ASSETS

    weekly = [a for a in ASSETS if a.partitions_def is not None]
    keys = weekly[0].partitions_def.get_partition_keys(  # type: ignore[union-attr]
        current_time=dt.datetime(2024, 1, 16, tzinfo=dt.UTC)
    )
    assert keys == ["2024-01-01", "2024-01-08"]


FEED_ASSETS = ["exploded_transactions", "transaction_quarantine"]
"""The assets read from the feed itself."""


def test_entries_that_are_not_regular_files_are_quarantined_and_the_week_is_built(
    feed: Feed, warehouse: Path, tmp_path: Path
) -> None:
    _scenario(feed)
    folder = feed.root / "transactions" / f"d={W}"
    (folder / "a-folder.json").mkdir()
    (folder / "b-broken.json").symlink_to(folder / "gone.json")
    (tmp_path / "secret.json").write_text(purchase("C1", f"{W} 10:00:00", "P1") + "\n")
    (folder / "c-outside.json").symlink_to(tmp_path / "secret.json")
    with watched_fifo(folder / "d-fifo.json") as fifo_opened:
        result = materialize(feed, warehouse, W, selection=FEED_ASSETS)
        assert not fifo_opened()
    assert result.success
    assert_frame_equal(read_week(warehouse, "exploded_transactions", W), EXPLODED_W)
    refused = read_week(warehouse, "transaction_quarantine", W).filter(
        pl.col("line_number").is_null()
    )
    assert refused.select("source_file", "raw_text").rows() == [
        (f"transactions/d={W}/{name}", None)
        for name in ["a-folder.json", "b-broken.json", "c-outside.json", "d-fifo.json"]
    ]
    assert refused.get_column("reason").to_list()[::3] == [
        "not a regular file (folder): never read",
        "not a regular file (FIFO): never read",
    ]
    assert check_results(result)["quarantine_is_empty"].metadata[
        "quarantined rows"
    ] == dg.IntMetadataValue(QUARANTINE_W.height + 4)


def test_a_lone_surrogate_is_quarantined_and_every_week_of_a_range_is_written(
    feed: Feed, warehouse: Path
) -> None:
    _scenario(feed)
    bad = purchase("C1", f"{W} 12:00:00", "P1").replace('"C1"', '"C\\ud800 1"')
    feed.write_day("2024-01-10", bad)
    result = materialize(feed, warehouse, (PREVIOUS, NEXT), selection=FEED_ASSETS)
    assert result.success
    assert sorted(read_files(warehouse, ["transaction_quarantine"])) == [
        f"transaction_quarantine/week={week}/data.parquet" for week in [PREVIOUS, W, NEXT]
    ]
    quarantine = read_week(warehouse, "transaction_quarantine", W)
    assert quarantine.filter(pl.col("source_file") == source_file("2024-01-10")).select(
        "line_number", "raw_text", "reason"
    ).rows() == [
        (
            1,
            bad,
            "customer_id contains a lone surrogate escape (such as \\ud800), not valid Unicode",
        )
    ]


def test_entries_of_transactions_that_no_week_reads_are_a_warning(
    feed: Feed, warehouse: Path
) -> None:
    _scenario(feed)
    for name in ["d=2024-13-45", "d=20240111", "x=2024-01-01"]:
        (feed.root / "transactions" / name).mkdir()
    (feed.root / "transactions" / "stray.json").write_text("")
    result = materialize(feed, warehouse, W, selection=FEED_ASSETS)
    assert result.success
    check = check_results(result)["day_folders_well_named"]
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
    names = [
        "transactions/d=2024-13-45",
        "transactions/d=20240111",
        "transactions/stray.json",
        "transactions/x=2024-01-01",
    ]
    assert check.metadata["entries"] == dg.JsonMetadataValue(names)
    assert check.description == (
        f"4 entry(ies) of transactions/ are not named d=YYYY-MM-DD, so no week reads them: "
        f"{', '.join(names)}. Rename each to the day it holds (e.g. d=2024-01-05) or move it "
        "out of transactions/."
    )


def test_files_of_a_day_folder_that_are_not_json_parts_are_a_warning(
    feed: Feed, warehouse: Path
) -> None:
    """A compressed or differently named part holds purchases no week reads: named, not
    quarantined (a marker such as _SUCCESS in every folder would fill the quarantine)."""
    _scenario(feed)
    folder = feed.root / "transactions" / "d=2024-01-09"
    for name in ["transactions.json.gz", "part-2.JSON", "_SUCCESS"]:
        (folder / name).write_text("")
    result = materialize(feed, warehouse, W, selection=FEED_ASSETS)
    assert result.success
    check = check_results(result)["day_folders_well_named"]
    assert (check.passed, check.severity) == (False, dg.AssetCheckSeverity.WARN)
    names = [
        f"transactions/d=2024-01-09/{n}"
        for n in ["_SUCCESS", "part-2.JSON", "transactions.json.gz"]
    ]
    assert check.metadata["files not read"] == dg.JsonMetadataValue(names)
    assert check.description == (
        f"3 file(s) in the day folders read are not *.json parts, so no week reads them: "
        f"{', '.join(names)}. Give each part a name ending in .json (uncompressed JSON Lines) "
        "or move it out of the day folder."
    )
    quarantined = read_week(warehouse, "transaction_quarantine", W).get_column("source_file")
    assert not quarantined.is_in(names).any()


def test_a_day_file_whose_read_fails_stops_the_run_instead_of_being_quarantined(
    feed: Feed, warehouse: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk or network error while reading a file (EIO; `503 SlowDown` from an object
    store, which s3fs raises as an OSError) says nothing about the file: the week is not
    built without it, and the message names the file."""
    feed.fill_days("2024-01-07", "2024-01-15")
    path = feed.write_day("2024-01-09", purchase("C1", "2024-01-09 10:00:00", "P2"))
    read = read_day_file

    def failing_read(file: DayFile, max_line_bytes: int) -> DayBytes:
        if file.path == path:
            raise OSError(errno.EIO, "Input/output error")
        return read(file, max_line_bytes)

    monkeypatch.setattr(parse, "read_day_file", failing_read)
    result = materialize(feed, warehouse, W, selection=WEEKLY_ASSETS[:2])
    monkeypatch.undo()
    assert not result.success
    assert failure_messages(result) == [
        f"The day file {path} could not be read (Input/output error): the run stops rather "
        "than build its week without it; run it again once the file can be read."
    ]
    assert materialized(result) == []
