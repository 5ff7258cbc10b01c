"""Parquet IO manager for polars frames, built on dagster's own `UPathIOManager`.

Layout under `base_dir` (a UPath, so `s3://bucket/prefix` works as well as a local folder):

- an unpartitioned asset: `<asset>/data.parquet`
- a partitioned asset: `<asset>/<hive_key>=<partition key>/data.parquet` (Hive style). The
  partition column itself is not stored in the file (Hive readers add it from the folder
  name); this IO manager drops it on write and adds it back, typed as a date, on load.

Every asset is therefore one table for any Parquet reader:
`pl.scan_parquet(f"{base_dir}/{asset}/**/*.parquet", hive_partitioning=True)`.

Writes are atomic (`assets_pkg.shared.atomic`): a local file is written in a hidden temporary
folder beside the target and renamed over it, so a reader or a crash never sees half a file,
and the next write of a partition removes what a killed run left. On an object store each
file is serialised in memory and uploaded in one request: the store commits the object only
when the upload completes, so readers list the old object or the new one, never a part, and
a failed upload leaves the old one intact (docs/storage.md). Every read and write passes the
storage options of `assets_pkg.shared.storage` (endpoint, region, credentials).

Partition keys are dates (the weekly partitions' Mondays): the folder is `week=YYYY-MM-DD`
and the column comes back as a date. An asset with other partition keys is refused with a
message saying so.

Two things `UPathIOManager` does not do, added here:
- **Outputs for several partitions** (a single-run backfill). The asset returns a
  `Mapping[partition key, frame]`; each partition is written to its own file, in key order.
  A `pl.LazyFrame` value is computed only when its own file is written, and a
  `FramesOnDemand` mapping computes each frame only when the IO manager asks for it, so a
  range never sits in memory whole, only one partition at a time (upstream refuses this:
  dagster issue #14332).
- **A partition written in parts** (`FrameParts`): each part becomes row groups of the
  partition's one file as it comes, through polars' streaming Parquet sink, so a week too
  large to hold whole (ten times the sample's customers) never is; only the row count and
  the first rows are kept, for the metadata.
- **Inputs as a mapping whatever the range**: a parameter annotated `dict[str, ...]` always
  receives `{partition key: frame}`, one entry for a single partition, so an asset has one
  code path for a single week and for a backfill.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import dagster as dg
import polars as pl
from polars.io.plugins import register_io_source
from pydantic import field_validator
from upath import UPath

from assets_pkg.defs.metadata import preview
from assets_pkg.defs.partitions import check_run_partitions
from assets_pkg.defs.resource_checks import SettingError, location_rule, validated
from assets_pkg.shared import storage
from assets_pkg.shared.atomic import WriteError, atomic_path, make_folder
from assets_pkg.shared.dates import WeekKeyError, week_of
from assets_pkg.shared.layout import (
    COMPRESSION,
    HIVE_KEY,
    DamagedFileError,
    again_phrase,
    scan_stored,
    stored_file,
    unreadable,
)
from assets_pkg.shared.settings import check_writable

Frame = pl.DataFrame | pl.LazyFrame
BASE_DIR_SETTING = "WAREHOUSE_DIR (io_manager.base_dir)"
COLUMN_SCHEMA = "dagster/column_schema"


def _declared_columns(context: dg.InputContext, hive_key: str) -> dict[str, str]:
    """The columns the upstream asset declares (`dagster/column_schema`) with their polars
    types as text, but the partition column, which the file does not hold; none when it
    declares no schema."""
    upstream = context.upstream_output
    declared = None if upstream is None else upstream.definition_metadata.get(COLUMN_SCHEMA)
    if not isinstance(declared, dg.TableSchema):
        return {}
    return {column.name: column.type for column in declared.columns if column.name != hive_key}


def _require_columns(
    path: UPath, frame: pl.LazyFrame, declared: Mapping[str, str], asset: str, again: str
) -> None:
    """DamagedFileError when the file lacks a column its asset declares, or holds it with
    another type: another table's file copied in its place would otherwise fail deep inside
    the asset that reads it, or be computed on as if it were the right one."""
    schema = frame.collect_schema()
    missing = [name for name in declared if name not in schema]
    if missing:
        raise DamagedFileError(
            f"{path} does not hold {asset} (it lacks the column(s) {', '.join(missing)}; its "
            f"columns are {', '.join(schema.names()) or 'none'}): {again}."
        )
    retyped = [
        f"{name} is {schema[name]} where {asset} has {kind}"
        for name, kind in declared.items()
        if str(schema[name]) != kind
    ]
    if retyped:
        raise DamagedFileError(
            f"{path} does not hold {asset} (its column {', '.join(retyped)}): {again}."
        )


@dataclasses.dataclass(frozen=True)
class FrameParts:
    """One partition's frame as parts of `schema`, computed one at a time as the writer asks
    for them and written in order as row groups of the partition's one file: a partition
    too large to hold whole (a week at ten times the sample's customers) never is.

    `parts` is iterated once, by the writer's thread; an error it raises is raised by the
    write, and the file keeps its old version."""

    schema: pl.Schema
    parts: Iterable[pl.DataFrame]

    def drop(self, column: str) -> FrameParts:
        """The parts without `column`, dropped from each part as it comes."""
        return FrameParts(
            pl.Schema({name: kind for name, kind in self.schema.items() if name != column}),
            (part.drop(column, strict=False) for part in self.parts),
        )

    def collect(self) -> pl.DataFrame:
        """All the parts as one frame (for a store that takes a file in one request)."""
        return pl.concat([self.schema.to_frame(), *self.parts], how="vertical")


@dataclasses.dataclass(frozen=True)
class Written:
    """What a write stored: its row count and first rows, for the metadata."""

    rows: int
    head: pl.DataFrame


class FramesOnDemand(Mapping[str, "pl.DataFrame | FrameParts"]):
    """`{partition key: frame}` whose frames are computed when asked for, each time.

    An asset returns it for a range of weeks: the IO manager asks for one week, writes it and
    lets it go before it asks for the next, so only one week is in memory (or, for
    `FrameParts`, a part or two of it). The week is computed by a plain Python call on the
    step's own thread, not inside a polars query as with `pl.defer`, where the asset's polars
    work ran in a polars thread nested in the IO manager's query; a `FrameParts`' parts are
    then asked for by the writer's sink, on its thread (docs/decisions.md).
    """

    def __init__(
        self, keys: Sequence[str], compute: Callable[[str], pl.DataFrame | FrameParts]
    ) -> None:
        self.keys_ = list(keys)
        self.compute = compute

    def __getitem__(self, key: str) -> pl.DataFrame | FrameParts:
        if key not in self.keys_:
            raise KeyError(key)
        return self.compute(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys_)

    def __len__(self) -> int:
        return len(self.keys_)


class HiveParquetIOManager(dg.UPathIOManager):
    extension = ".parquet"

    def __init__(self, base_path: UPath, hive_key: str) -> None:
        super().__init__(base_path=base_path)
        self.root = base_path
        self.hive_key = hive_key

    def path_of(self, context: dg.InputContext | dg.OutputContext, partition: str | None) -> UPath:
        """`<asset>/data.parquet`, or `<asset>/<hive_key>=<partition>/data.parquet`."""
        return stored_file(self.root.joinpath(*context.asset_key.path), partition, self.hive_key)

    # ---- writing -----------------------------------------------------------------------

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        """Write one file per partition, and give each partition its own row count and
        preview (a range run records one materialisation per partition)."""
        folder = self.root.joinpath(*context.asset_key.path)
        if not context.has_asset_partitions:
            written = self._store(context, obj, self.path_of(context, None))
            context.add_output_metadata({**table_metadata(written), "path": _path_value(folder)})
            return
        check_run_partitions(context.asset_partitions_def, _run_tags(context))
        keys = sorted(context.asset_partition_keys)
        for key in keys:
            _partition_date(context, key)
        frames = _frames_by_partition(obj, keys)
        for key in keys:
            frame = frames[key]
            if self.hive_key in _schema(frame).names():
                frame = frame.drop(self.hive_key)
            written = self._store(context, frame, self.path_of(context, key))
            if len(keys) > 1:
                context.step_context.add_asset_metadata(
                    table_metadata(written), asset_key=context.asset_key, partition_key=key
                )
            else:
                context.add_output_metadata(table_metadata(written))
            del frame, written  # not held while the next week is computed
        context.add_output_metadata({"path": _path_value(folder)})

    def _store(self, context: dg.OutputContext, obj: Any, path: UPath) -> Written:
        if not isinstance(obj, pl.DataFrame | pl.LazyFrame | FrameParts):
            raise TypeError(
                f"Asset {context.asset_key.to_user_string()} returned {type(obj).__name__}; "
                "the Parquet IO manager stores polars DataFrames and LazyFrames, and "
                "FrameParts."
            )
        try:
            return write_parquet_atomically(obj, path)
        except (storage.StorageError, WriteError) as error:
            # A full disk, a folder that may not be written: one sentence naming the file.
            raise dg.Failure(description=str(error)) from error

    def dump_to_path(self, context: dg.OutputContext, obj: Frame, path: UPath) -> None:
        self._store(context, obj, path)

    # ---- reading -----------------------------------------------------------------------

    def load_input(self, context: dg.InputContext) -> Any:
        if not context.has_asset_partitions:
            return self.load_from_path(context, self.path_of(context, None))
        check_run_partitions(context.asset_partitions_def, _run_tags(context))
        frames = {
            key: self.load_from_path(context, self.path_of(context, key))
            for key in sorted(context.asset_partition_keys)
        }
        if _is_mapping_type(context.dagster_type.typing_type):
            return frames
        if len(frames) != 1:
            raise dg.Failure(
                f"Input {context.name} covers {len(frames)} partitions; annotate it as "
                "dict[str, pl.LazyFrame] to receive them all."
            )
        return next(iter(frames.values()))

    def load_from_path(self, context: dg.InputContext, path: UPath) -> Frame:
        if not path.exists():
            raise dg.Failure(
                f"{context.asset_key.to_user_string()} has no data at {path}: "
                "materialise it (and that partition) first."
            )
        asset = context.asset_key.to_user_string()
        partition = _partition_of(path, self.hive_key) if context.has_asset_partitions else None
        again = again_phrase(asset, partition)
        try:
            frame = scan_stored(path, again)
            _require_columns(path, frame, _declared_columns(context, self.hive_key), asset, again)
            if partition is not None:
                week = _partition_date(context, partition)
                frame = frame.select(pl.lit(week).alias(self.hive_key), pl.all())
            if not _wants_eager(context.dagster_type.typing_type):
                return frame  # its footer was read: a truncated or foreign file fails here
            try:
                return frame.collect()
            except (pl.exceptions.PolarsError, OSError) as error:
                raise DamagedFileError(unreadable(path, error, again)) from None
        except DamagedFileError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None


class ParquetIOManager(dg.ConfigurableIOManagerFactory[HiveParquetIOManager]):
    """Polars frames as Parquet under `base_dir` (local folder or any fsspec URL):
    `dg.EnvVar("WAREHOUSE_DIR")` when the variable is set, checked when a run starts."""

    base_dir: str
    hive_key: str = HIVE_KEY

    # WAREHOUSE_DIR's rule, for a base_dir from run config or the launchpad too.
    _base_dir_rule = location_rule("base_dir", BASE_DIR_SETTING)

    @field_validator("hive_key")
    @classmethod
    def _hive_key_rule(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", value):
            raise SettingError(
                f"io_manager.hive_key must be a plain name of letters, digits and underscores "
                f"(the folder of a week is <hive_key>=<week>), got {value!r}."
            )
        return value

    def create_io_manager(self, context: dg.InitResourceContext) -> HiveParquetIOManager:
        # The warehouse is checked when a run uses it, whoever set it, never when the code
        # location loads: a local folder is created if missing and must accept a file; an
        # object store must accept a small object, written and deleted (docs/decisions.md).
        validated(check_writable, self.base_dir, BASE_DIR_SETTING)
        base_path = storage.upath(self.base_dir)
        return HiveParquetIOManager(base_path=base_path, hive_key=self.hive_key)


def write_parquet_atomically(frame: Frame | FrameParts, path: UPath) -> Written:
    """Write `frame` to `path` so that readers see the old file or the new one, never half;
    returns its row count and first rows.

    `FrameParts` are written as they come, through polars' streaming sink, never held whole
    on a local disk; for an object store they are gathered into one file first.

    Local files go through `assets_pkg.shared.atomic`; on an object store the whole file is
    uploaded in one request, and an object becomes visible only once its upload has
    completed. A failed upload raises `storage.StorageError` naming WAREHOUSE_DIR; a local
    file that cannot be written (a full disk, a folder that may not be written) raises
    `atomic.WriteError` naming the file, and its old version stays.
    """
    if isinstance(frame, FrameParts) and storage.is_local(path):
        target = storage.local_path(path)
        make_folder(target)
        tally = _Tally(frame.schema)
        with atomic_path(target) as part:
            _streamed(frame, tally).sink_parquet(part, **COMPRESSION)
            if tally.failure is not None:  # the sink has finished: its file is thrown away
                raise tally.failure
        return Written(tally.rows, tally.head)
    data = frame.collect() if isinstance(frame, FrameParts) else _collected(frame)
    if storage.is_local(path):
        target = storage.local_path(path)
        make_folder(target)
        with atomic_path(target) as part:
            data.write_parquet(part, **COMPRESSION)
    else:
        storage.put_bytes(path, storage.parquet_bytes(data, **COMPRESSION), "WAREHOUSE_DIR")
    return Written(data.height, data.head(PREVIEW_ROWS))


PREVIEW_ROWS = 10
"""The rows a write keeps for its preview."""


def table_metadata(written: Written) -> dict[str, dg.MetadataValue]:
    """What the web UI shows for a written table: its row count and its first rows."""
    return {
        "dagster/row_count": dg.MetadataValue.int(written.rows),
        "preview": preview(written.head, PREVIEW_ROWS),
    }


class _Tally:
    """The rows of the parts that went by, the first `PREVIEW_ROWS` of them, and the error
    that ended the parts early, if one did."""

    def __init__(self, schema: pl.Schema) -> None:
        self.rows = 0
        self.head = schema.to_frame()
        self.failure: Exception | None = None

    def saw(self, part: pl.DataFrame) -> None:
        self.rows += part.height
        if self.head.height < PREVIEW_ROWS:
            self.head = pl.concat([self.head, part.head(PREVIEW_ROWS - self.head.height)])


def _streamed(frame: FrameParts, tally: _Tally) -> pl.LazyFrame:
    """`frame` as a LazyFrame whose source is its parts, for polars' streaming sink: each
    part is asked for when the sink is ready for it, checked against the schema, counted,
    and let go once its row groups are written.

    An error of the parts ends them as if they were all there and is kept in `tally`, for the
    writer to raise once the sink has returned: a sink that fails returns while its writer
    may still be creating the file (decisions.md), one that ends has closed it."""

    def parts(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        try:
            for part in frame.parts:
                if part.schema != frame.schema:
                    raise TypeError(
                        f"a part of the frame has the schema {dict(part.schema)}, not the "
                        f"declared {dict(frame.schema)}"
                    )
                tally.saw(part)
                yield part if with_columns is None else part.select(with_columns)
        except Exception as error:  # raised by the writer, once the sink has returned
            tally.failure = error

    return register_io_source(parts, schema=frame.schema)


def _collected(frame: Frame) -> pl.DataFrame:
    # Collect before opening the file: a failing query then raises before anything is
    # written. A failing `sink_parquet` returns its error while its writer thread may still
    # be creating the file (seen in CI as a stray temporary after the clean-up). Each frame
    # is one week or one catalog, so holding it in memory costs little.
    return frame.collect() if isinstance(frame, pl.LazyFrame) else frame


def _schema(frame: Frame | FrameParts) -> pl.Schema:
    return frame.schema if isinstance(frame, FrameParts) else frame.collect_schema()


def _path_value(folder: UPath) -> dg.MetadataValue:
    return dg.MetadataValue.path(str(folder))


def _frames_by_partition(obj: Any, keys: list[str]) -> Mapping[str, Frame | FrameParts]:
    if isinstance(obj, pl.DataFrame | pl.LazyFrame | FrameParts):
        if len(keys) != 1:
            raise dg.Failure(
                f"An asset run for {len(keys)} partitions returned one frame; return a dict "
                "{partition key: frame} with one entry per partition."
            )
        return {keys[0]: obj}
    if isinstance(obj, Mapping) and sorted(obj) == keys:
        return obj
    got = sorted(obj) if isinstance(obj, Mapping) else type(obj).__name__
    raise dg.Failure(f"Expected one frame for each partition of {keys}, got {got}.")


def _partition_date(context: dg.InputContext | dg.OutputContext, key: str) -> dt.date:
    """The week a partition key names (`dates.week_of`); dg.Failure for a key that is not
    a weekly one (not a date, or not a Monday)."""
    try:
        return week_of(key)
    except WeekKeyError as error:
        raise dg.Failure(
            f"{context.asset_key.to_user_string()} has the partition key {key!r}, which "
            f"{error.reason}; the Parquet IO manager stores weekly partitions only.",
            allow_retries=False,
        ) from None


def _run_tags(context: dg.InputContext | dg.OutputContext) -> Mapping[str, str]:
    """The run's tags, which name its weeks; none for a context built outside a run."""
    try:
        return context.step_context.dagster_run.tags
    except dg.DagsterInvariantViolationError:
        return {}


def _partition_of(path: UPath, hive_key: str) -> str:
    return path.parent.name.removeprefix(f"{hive_key}=")


def _wants_eager(annotation: Any) -> bool:
    """`pl.DataFrame`, or a mapping of them (dagster reports `dict[str, pl.DataFrame]` as
    `typing.Dict[str, pl.DataFrame]`, which does not compare equal to it)."""
    if _is_mapping_type(annotation):
        return typing.get_args(annotation)[-1:] == (pl.DataFrame,)
    return annotation is pl.DataFrame


def _is_mapping_type(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) or annotation
    return isinstance(origin, type) and issubclass(origin, Mapping)
