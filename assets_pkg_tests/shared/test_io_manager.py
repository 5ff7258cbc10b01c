"""The Parquet IO manager: Hive layout, ranges in one run, round trips, atomic writes."""

import datetime as dt
import gc
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from upath import UPath

from assets_pkg.defs.io_manager import (
    FrameParts,
    FramesOnDemand,
    ParquetIOManager,
    write_parquet_atomically,
)
from assets_pkg.defs.metadata import column_schema
from assets_pkg.defs.partitions import weekly_partitions
from assets_pkg.purchases.parse import duckdb_to_polars
from assets_pkg.shared.dates import WeekRange

WEEKS = weekly_partitions(WeekRange.from_keys("2024-01-01"))
KEYS = ["2024-01-01", "2024-01-08", "2024-01-15"]
RANGE_TAGS = {
    "dagster/asset_partition_range_start": KEYS[0],
    "dagster/asset_partition_range_end": KEYS[-1],
}


def _week_frame(key: str) -> pl.DataFrame:
    week = dt.date.fromisoformat(key)
    return pl.DataFrame(
        {
            "week": [week, week],
            "name": [f"a{key}", f"b{key}"],
            "value": [week.day, -week.day],
            "at": [dt.datetime(2024, 1, 1, 10), None],
        }
    )


def _stored(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop("week")


class Received:
    """What downstream assets were handed, by asset name."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}


def _assets(received: Received, *, fail_week: str | None = None) -> list[dg.AssetsDefinition]:
    @dg.asset(partitions_def=WEEKS, backfill_policy=dg.BackfillPolicy.single_run())
    def weekly(context: dg.AssetExecutionContext) -> Any:
        def frame(key: str) -> pl.LazyFrame:
            if key == fail_week:

                def explode() -> pl.DataFrame:
                    raise RuntimeError("the week broke while it was written")

                return pl.defer(explode, schema=_week_frame(key).schema)
            return _week_frame(key).lazy()

        if len(context.partition_keys) == 1:
            return frame(context.partition_key)  # a single week may return one frame
        return {key: frame(key) for key in context.partition_keys}

    @dg.asset(partitions_def=WEEKS, backfill_policy=dg.BackfillPolicy.single_run())
    def as_mapping(weekly: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
        received.values["as_mapping"] = weekly
        return {
            key: frame.with_columns(value=pl.col("value") * 10) for key, frame in weekly.items()
        }

    @dg.asset
    def table() -> pl.DataFrame:
        return pl.DataFrame({"id": ["x", "y"], "n": [1, 2]})

    @dg.asset
    def lazy_table(table: pl.LazyFrame) -> pl.LazyFrame:
        received.values["lazy_table"] = table
        return table.with_columns(n=pl.col("n") + 1)

    @dg.asset
    def eager_table(lazy_table: pl.DataFrame) -> pl.DataFrame:
        received.values["eager_table"] = lazy_table
        return lazy_table

    return [weekly, as_mapping, table, lazy_table, eager_table]


def _run(
    warehouse: Path,
    assets: list[dg.AssetsDefinition],
    selection: list[str],
    *,
    partition_key: str | None = None,
    tags: dict[str, str] | None = None,
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets,
        selection=selection,
        resources={"io_manager": ParquetIOManager(base_dir=str(warehouse))},
        partition_key=partition_key,
        tags=tags,
        raise_on_error=False,
    )


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_one_week_is_a_hive_folder_without_the_week_column(tmp_path: Path) -> None:
    received = Received()
    result = _run(tmp_path, _assets(received), ["weekly", "as_mapping"], partition_key=KEYS[1])
    assert result.success
    assert _files(tmp_path) == [
        "as_mapping/week=2024-01-08/data.parquet",
        "weekly/week=2024-01-08/data.parquet",
    ]
    stored = pl.read_parquet(tmp_path / "weekly" / "week=2024-01-08" / "data.parquet")
    assert_frame_equal(stored, _stored(_week_frame(KEYS[1])))
    loaded = received.values["as_mapping"]
    assert list(loaded) == [KEYS[1]]
    assert_frame_equal(loaded[KEYS[1]], _week_frame(KEYS[1]))  # week back, as a date, first
    (materialization,) = [
        m for m in result.asset_materializations_for_node("weekly") if m.partition == KEYS[1]
    ]
    assert materialization.metadata["dagster/row_count"] == dg.IntMetadataValue(2)
    assert isinstance(materialization.metadata["preview"], dg.MarkdownMetadataValue)


def test_a_range_in_one_run_writes_one_file_per_week(tmp_path: Path) -> None:
    received = Received()
    result = _run(tmp_path, _assets(received), ["weekly", "as_mapping"], tags=RANGE_TAGS)
    assert result.success
    assert _files(tmp_path) == [
        f"{asset}/week={k}/data.parquet" for asset in ["as_mapping", "weekly"] for k in KEYS
    ]
    for key in KEYS:
        assert_frame_equal(
            pl.read_parquet(tmp_path / "weekly" / f"week={key}" / "data.parquet"),
            _stored(_week_frame(key)),
        )
    loaded = received.values["as_mapping"]
    assert list(loaded) == KEYS
    for key, frame in loaded.items():
        assert_frame_equal(frame, _week_frame(key))
    # Hive readers see every asset as one table, the week typed as a date.
    expected = pl.concat([_week_frame(k).with_columns(value=pl.col("value") * 10) for k in KEYS])
    pattern = f"{tmp_path}/as_mapping/**/*.parquet"
    from_polars = pl.scan_parquet(pattern, hive_partitioning=True).collect()
    assert_frame_equal(
        from_polars.select(expected.columns).sort("week", maintain_order=True), expected
    )
    from_duckdb = duckdb_to_polars(
        duckdb.connect().sql(f"select * from read_parquet('{pattern}', hive_partitioning = true)")
    )
    assert_frame_equal(
        from_duckdb.select(expected.columns), expected, check_row_order=False, check_dtypes=False
    )
    assert from_duckdb.schema["week"] == pl.Date


def test_an_unpartitioned_asset_round_trips_eager_and_lazy(tmp_path: Path) -> None:
    received = Received()
    result = _run(tmp_path, _assets(received), ["table", "lazy_table", "eager_table"])
    assert result.success
    assert _files(tmp_path) == [
        "eager_table/data.parquet",
        "lazy_table/data.parquet",
        "table/data.parquet",
    ]
    table = pl.DataFrame({"id": ["x", "y"], "n": [1, 2]})
    assert isinstance(received.values["lazy_table"], pl.LazyFrame)
    assert_frame_equal(received.values["lazy_table"].collect(), table)
    assert isinstance(received.values["eager_table"], pl.DataFrame)
    assert_frame_equal(received.values["eager_table"], table.with_columns(n=pl.col("n") + 1))
    assert_frame_equal(
        pl.scan_parquet(f"{tmp_path}/table/**/*.parquet", hive_partitioning=True).collect(), table
    )
    (materialization,) = result.asset_materializations_for_node("lazy_table")
    assert materialization.metadata["dagster/row_count"] == dg.IntMetadataValue(2)
    assert isinstance(materialization.metadata["preview"], dg.MarkdownMetadataValue)


def test_each_week_of_a_range_gets_its_own_row_count_and_preview(tmp_path: Path) -> None:
    sizes = dict(zip(KEYS, [3, 0, 5], strict=True))

    @dg.asset(partitions_def=WEEKS, backfill_policy=dg.BackfillPolicy.single_run())
    def sized(context: dg.AssetExecutionContext) -> dict[str, pl.LazyFrame]:
        return {key: pl.LazyFrame({"n": list(range(sizes[key]))}) for key in context.partition_keys}

    result = _run(tmp_path, [sized], ["sized"], tags=RANGE_TAGS)
    assert result.success
    by_week = {
        str(m.partition): m.metadata for m in result.asset_materializations_for_node("sized")
    }
    assert sorted(by_week) == KEYS
    assert {k: m["dagster/row_count"] for k, m in by_week.items()} == {
        k: dg.IntMetadataValue(n) for k, n in sizes.items()
    }
    previews = {k: m["preview"] for k, m in by_week.items()}
    assert all(isinstance(p, dg.MarkdownMetadataValue) for p in previews.values())
    assert len({p.value for p in previews.values()}) == 3  # each week shows its own rows
    assert by_week[KEYS[0]]["path"] == dg.PathMetadataValue(str(tmp_path / "sized"))


def test_a_failed_write_keeps_the_previous_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "data.parquet"
    before = pl.DataFrame({"n": [1, 2, 3]})
    write_parquet_atomically(before, UPath(target))

    def explode() -> pl.DataFrame:
        raise RuntimeError("boom")

    for _ in range(20):  # polars may still be creating the file when it reports the error
        with pytest.raises(RuntimeError, match="boom"):
            write_parquet_atomically(pl.defer(explode, schema={"n": pl.Int64}), UPath(target))
    assert_frame_equal(pl.read_parquet(target), before)
    assert _files(tmp_path) == ["data.parquet"]


def test_a_failing_query_raises_before_any_file_is_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The deterministic side of the test above: a failing `sink_parquet` returns its error
    # while its writer may still create the file, so the query must fail before a writer
    # starts at all.
    writers: list[str] = []
    monkeypatch.setattr(pl.LazyFrame, "sink_parquet", lambda *a, **k: writers.append("sink"))
    monkeypatch.setattr(pl.DataFrame, "write_parquet", lambda *a, **k: writers.append("write"))

    def explode() -> pl.DataFrame:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        write_parquet_atomically(
            pl.defer(explode, schema={"n": pl.Int64}), UPath(tmp_path / "data.parquet")
        )
    assert writers == []
    assert _files(tmp_path) == []


def test_a_writer_that_dies_half_way_keeps_the_previous_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "data.parquet"
    before = pl.DataFrame({"n": [1, 2, 3]})
    write_parquet_atomically(before, UPath(target))
    seen: list[Path] = []

    def half_write(frame: pl.DataFrame, path: Any, **options: Any) -> None:
        seen.append(Path(path))
        Path(path).write_bytes(b"PAR1 half a file")
        raise OSError("disk full")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", half_write)
    with pytest.raises(OSError, match="disk full"):
        write_parquet_atomically(pl.DataFrame({"n": [9]}), UPath(target))
    assert_frame_equal(pl.read_parquet(target), before)
    assert _files(tmp_path) == ["data.parquet"]
    # Written beside the target (so the rename is atomic), hidden from `**/*.parquet`.
    assert tmp_path in seen[0].parents
    assert not seen[0].name.endswith(".parquet")


def test_a_range_that_fails_on_one_week_keeps_that_weeks_previous_file(tmp_path: Path) -> None:
    assert _run(tmp_path, _assets(Received()), ["weekly"], tags=RANGE_TAGS).success
    before = pl.read_parquet(tmp_path / "weekly" / "week=2024-01-08" / "data.parquet")
    result = _run(tmp_path, _assets(Received(), fail_week=KEYS[1]), ["weekly"], tags=RANGE_TAGS)
    assert not result.success
    assert _files(tmp_path) == [f"weekly/week={k}/data.parquet" for k in KEYS]
    assert_frame_equal(
        pl.read_parquet(tmp_path / "weekly" / "week=2024-01-08" / "data.parquet"), before
    )


def test_mistakes_are_named(tmp_path: Path) -> None:
    @dg.asset(partitions_def=WEEKS, backfill_policy=dg.BackfillPolicy.single_run())
    def one_frame_for_a_range() -> pl.DataFrame:
        return _week_frame(KEYS[0])

    @dg.asset
    def not_a_frame() -> list[int]:
        return [1]

    @dg.asset(partitions_def=WEEKS, backfill_policy=dg.BackfillPolicy.single_run())
    def wrong_keys(context: dg.AssetExecutionContext) -> dict[str, pl.DataFrame]:
        return {KEYS[0]: _week_frame(KEYS[0])}

    assets = [one_frame_for_a_range, not_a_frame, wrong_keys]
    result = _run(tmp_path, assets, ["one_frame_for_a_range", "wrong_keys"], tags=RANGE_TAGS)
    messages = {
        e.step_key: e.step_failure_data.user_failure_data.description
        for e in result.get_step_failure_events()
        if e.step_failure_data.user_failure_data is not None
    }
    assert messages == {
        "one_frame_for_a_range": "An asset run for 3 partitions returned one frame; return a "
        "dict {partition key: frame} with one entry per partition.",
        "wrong_keys": f"Expected one frame for each partition of {KEYS}, got ['2024-01-01'].",
    }
    result = _run(tmp_path, assets, ["not_a_frame"])
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error is not None
    assert error.cause is not None
    assert error.cause.message == (
        "TypeError: Asset not_a_frame returned list; the Parquet IO manager stores polars "
        "DataFrames and LazyFrames, and FrameParts.\n"
    )


def test_loading_a_week_that_was_never_written_says_so(tmp_path: Path) -> None:
    received = Received()
    result = _run(tmp_path, _assets(received), ["as_mapping"], partition_key=KEYS[0])
    (failure,) = result.get_step_failure_events()
    assert failure.step_failure_data.user_failure_data is not None
    assert failure.step_failure_data.user_failure_data.description == (
        f"weekly has no data at {tmp_path}/weekly/week=2024-01-01/data.parquet: "
        "materialise it (and that partition) first."
    )


def _failure_description(result: dg.ExecuteInProcessResult) -> str | None:
    (failure,) = result.get_step_failure_events()
    data = failure.step_failure_data.user_failure_data
    return None if data is None else data.description


@pytest.mark.parametrize(
    ("raised", "sentence"),
    [
        (
            # what polars raises when the disk fills under write_parquet
            pl.exceptions.ComputeError(
                "parquet: File out of specification: underlying IO error: No space left on "
                "device (os error 28)"
            ),
            "No space left on device): free space on its disk, or write elsewhere.",
        ),
        (
            PermissionError(13, "Permission denied"),
            "Permission denied): make its folder writable, or write elsewhere.",
        ),
    ],
)
def test_a_warehouse_that_cannot_be_written_fails_the_run_in_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raised: Exception, sentence: str
) -> None:
    assert _run(tmp_path, _assets(Received()), ["table"]).success
    target = tmp_path / "table" / "data.parquet"
    before = target.read_bytes()

    def write(frame: pl.DataFrame, file: Any, **options: Any) -> None:
        Path(file).write_bytes(b"PAR1 half")
        raise raised

    monkeypatch.setattr(pl.DataFrame, "write_parquet", write)
    result = _run(tmp_path, _assets(Received()), ["table"])
    assert _failure_description(result) == f"{target} cannot be written ({sentence}"
    assert target.read_bytes() == before
    assert _files(tmp_path) == ["table/data.parquet"]


def test_a_warehouse_folder_that_cannot_be_created_fails_the_run_in_one_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A folder of mode 555 (tests run as root, who may write anywhere: simulated).
    real_mkdir = Path.mkdir

    def refuse(self: Path, *args: Any, **kwargs: Any) -> None:
        if self.is_relative_to(tmp_path / "weekly"):
            raise PermissionError(13, "Permission denied", str(self))
        real_mkdir(self, *args, **kwargs)

    (tmp_path / "weekly").mkdir()
    monkeypatch.setattr(Path, "mkdir", refuse)
    result = _run(tmp_path, _assets(Received()), ["weekly"], partition_key=KEYS[1])
    assert _failure_description(result) == (
        f"{tmp_path}/weekly/week={KEYS[1]}/data.parquet cannot be written (Permission denied): "
        "make its folder writable, or write elsewhere."
    )


@pytest.mark.parametrize("damage", ["truncated", "empty", "not parquet", "a folder"])
@pytest.mark.parametrize("consumer", ["eager_table", "lazy_table", "as_mapping"])
def test_a_damaged_upstream_file_fails_the_run_in_one_sentence_naming_it(
    tmp_path: Path, damage: str, consumer: str
) -> None:
    assert _run(tmp_path, _assets(Received()), ["table", "lazy_table"]).success
    assert _run(tmp_path, _assets(Received()), ["weekly"], partition_key=KEYS[0]).success
    upstream, again = {
        "eager_table": ("lazy_table/data.parquet", "materialise lazy_table again"),
        "lazy_table": ("table/data.parquet", "materialise table again"),
        "as_mapping": (
            f"weekly/week={KEYS[0]}/data.parquet",
            f"materialise the week {KEYS[0]} of weekly again",
        ),
    }[consumer]
    path = tmp_path / upstream
    whole = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(whole[: len(whole) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "not parquet":
        path.write_text("customer_id,loyalty_score\nC1,3\n")
    else:
        path.unlink()
        path.mkdir()

    partition = KEYS[0] if consumer == "as_mapping" else None
    result = _run(tmp_path, _assets(Received()), [consumer], partition_key=partition)

    description = _failure_description(result)
    assert description is not None
    if damage == "a folder":
        assert description == f"{path} is not a file: remove it and {again}."
    else:
        assert description.startswith(f"{path} is not a readable Parquet file (")
        assert description.endswith(f"): {again}.")
        assert "\n" not in description


def _declared_and_reader() -> list[dg.AssetsDefinition]:
    """`declared`, whose column schema says id: String, n: Int64, and an asset reading it."""

    @dg.asset(metadata=column_schema({"id": pl.String(), "n": pl.Int64()}, {"id": "i", "n": "n"}))
    def declared() -> pl.DataFrame:
        return pl.DataFrame({"id": ["x"], "n": [1]})

    @dg.asset
    def reader(declared: pl.DataFrame) -> pl.DataFrame:
        return declared

    return [declared, reader]


def test_another_tables_file_in_an_assets_place_is_named_by_its_columns(tmp_path: Path) -> None:
    assets = _declared_and_reader()
    assert _run(tmp_path, assets, ["declared"]).success
    path = tmp_path / "declared" / "data.parquet"
    pl.DataFrame({"id": ["x"], "other": [1.5]}).write_parquet(path)
    result = _run(tmp_path, assets, ["reader"])
    assert _failure_description(result) == (
        f"{path} does not hold declared (it lacks the column(s) n; its columns are id, other): "
        "materialise declared again."
    )


def test_a_file_with_the_declared_names_but_other_types_is_named(tmp_path: Path) -> None:
    """Another table's file with the same column names passed the names' check and failed
    deep inside the reader, or computed on a column of text where numbers were declared."""
    assets = _declared_and_reader()
    assert _run(tmp_path, assets, ["declared"]).success
    assert _run(tmp_path, assets, ["reader"]).success  # what it writes, it reads
    path = tmp_path / "declared" / "data.parquet"
    pl.DataFrame({"id": ["x"], "n": ["1"]}).write_parquet(path)
    result = _run(tmp_path, assets, ["reader"])
    assert _failure_description(result) == (
        f"{path} does not hold declared (its column n is String where declared has Int64): "
        "materialise declared again."
    )


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (
            "2024-01-02",
            "is a Tuesday, not a Monday: weekly partition keys are Mondays, and the week "
            "holding 2024-01-02 is 2024-01-01",
        ),
        (
            "20240108",
            "is not a date YYYY-MM-DD: weekly partition keys are Mondays such as 2024-01-08",
        ),
    ],
)
def test_a_partition_key_that_is_no_week_is_refused_before_anything_is_written(
    tmp_path: Path, key: str, reason: str
) -> None:
    """Outside weekly partitions (whose run keys `check_run_partitions` checks first), the
    IO manager reads a key as a week with `week_of` too: a Tuesday or `20240108` (which
    `date.fromisoformat` took) was written as a week folder of its own."""

    @dg.asset(partitions_def=dg.StaticPartitionsDefinition([key]))
    def by_day() -> pl.DataFrame:
        return pl.DataFrame({"n": [1]})

    result = _run(tmp_path, [by_day], ["by_day"], partition_key=key)
    assert _failure_description(result) == (
        f"by_day has the partition key {key!r}, which {reason}; the Parquet IO manager stores "
        "weekly partitions only."
    )
    assert _files(tmp_path) == []


def _parts(count: int, rows: int, given: list[weakref.ref[pl.DataFrame]]) -> Iterator[pl.DataFrame]:
    for index in range(count):
        part = pl.DataFrame({"n": range(index * rows, (index + 1) * rows)})
        given.append(weakref.ref(part))
        yield part
        del part


def test_frame_parts_are_written_as_they_come_into_one_file(tmp_path: Path) -> None:
    """Each part is let go once it is written: when the writer asks for a part, none of the
    parts two or more before it is still alive, so a partition is never in memory whole."""
    given: list[weakref.ref[pl.DataFrame]] = []
    alive_when_asked: list[int] = []

    def watched() -> Iterator[pl.DataFrame]:
        for part in _parts(8, 50_000, given):
            gc.collect()
            alive_when_asked.append(sum(ref() is not None for ref in given[:-2]))
            yield part

    target = tmp_path / "data.parquet"
    written = write_parquet_atomically(
        FrameParts(pl.Schema({"n": pl.Int64}), watched()), UPath(target)
    )
    assert alive_when_asked == [0] * 8
    stored = pl.read_parquet(target)
    assert_frame_equal(stored, pl.DataFrame({"n": range(8 * 50_000)}))
    assert written.rows == 400_000
    assert_frame_equal(written.head, stored.head(10))
    assert _files(tmp_path) == ["data.parquet"]


def test_frame_parts_without_any_part_write_an_empty_table(tmp_path: Path) -> None:
    target = tmp_path / "data.parquet"
    written = write_parquet_atomically(
        FrameParts(pl.Schema({"n": pl.Int64, "s": pl.String}), iter([])), UPath(target)
    )
    assert written.rows == 0
    assert_frame_equal(
        pl.read_parquet(target), pl.DataFrame(schema={"n": pl.Int64, "s": pl.String})
    )


def test_a_part_that_fails_keeps_the_previous_file_and_leaves_no_temporary(
    tmp_path: Path,
) -> None:
    target = tmp_path / "data.parquet"
    before = pl.DataFrame({"n": [1, 2, 3]})
    write_parquet_atomically(before, UPath(target))

    def failing() -> Iterator[pl.DataFrame]:
        yield from _parts(3, 10_000, [])
        raise RuntimeError("the third slice could not be read")

    for _ in range(20):  # the sink's writer may still be at work when the error comes back
        with pytest.raises(RuntimeError, match="the third slice"):
            write_parquet_atomically(
                FrameParts(pl.Schema({"n": pl.Int64}), failing()), UPath(target)
            )
    assert_frame_equal(pl.read_parquet(target), before)
    assert _files(tmp_path) == ["data.parquet"]


def test_a_part_of_another_schema_is_refused_naming_both(tmp_path: Path) -> None:
    parts = iter([pl.DataFrame({"n": [1]}), pl.DataFrame({"n": ["x"]})])
    with pytest.raises(TypeError, match=r"has the schema .*'n': String.*not the declared .*Int64"):
        write_parquet_atomically(
            FrameParts(pl.Schema({"n": pl.Int64}), parts), UPath(tmp_path / "data.parquet")
        )
    assert _files(tmp_path) == []


def test_a_range_of_frame_parts_writes_each_week_without_its_week_column(tmp_path: Path) -> None:
    @dg.asset(partitions_def=WEEKS, backfill_policy=dg.BackfillPolicy.single_run())
    def in_parts(context: dg.AssetExecutionContext) -> FramesOnDemand:
        def week(key: str) -> FrameParts:
            frame = _week_frame(key)
            return FrameParts(frame.schema, (frame.slice(i, 1) for i in range(frame.height)))

        return FramesOnDemand(context.partition_keys, week)

    result = _run(tmp_path, [in_parts], ["in_parts"], tags=RANGE_TAGS)
    assert result.success
    for key in KEYS:
        stored = pl.read_parquet(tmp_path / "in_parts" / f"week={key}" / "data.parquet")
        assert_frame_equal(stored, _stored(_week_frame(key)))
    rows = {
        str(m.partition): m.metadata["dagster/row_count"]
        for m in result.asset_materializations_for_node("in_parts")
    }
    assert rows == {key: dg.IntMetadataValue(2) for key in KEYS}
