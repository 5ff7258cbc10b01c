"""Where the warehouse keeps each asset, spelt out once, without Dagster.

Every asset is one Parquet table under the warehouse folder: `<asset>/data.parquet`, or for a
weekly partition `<asset>/week=YYYY-MM-DD/data.parquet` (docs/contract.md, "Output layout").
The IO manager (`assets_pkg.defs.io_manager`) writes and reads that layout; the tools that read
the warehouse without Dagster (`period`, `summary`, the signature reader) use this module too,
so a damaged file is named the same way wherever it is read.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from upath import UPath

from assets_pkg.shared import storage

HIVE_KEY = "week"
"""The folder name of a weekly partition, `week=YYYY-MM-DD`, and the column Hive readers add."""
FILE_NAME = "data.parquet"
COMPRESSION: dict[str, Any] = {"compression": "zstd", "compression_level": 1, "statistics": True}
"""How every stored file is written: zstd at level 1 writes a quarter faster than polars'
default level for files a few percent larger, and every Parquet reader decodes it."""


def stored_file(asset_folder: UPath, partition: str | None, hive_key: str = HIVE_KEY) -> UPath:
    """Where an asset's file lies under its folder: `data.parquet`, or for a partition
    `<hive_key>=<partition>/data.parquet`. The one place the layout is spelt out; the
    tools that read the warehouse without Dagster (`period`, `summary`) use it too."""
    folder = asset_folder if partition is None else asset_folder / f"{hive_key}={partition}"
    return folder / FILE_NAME


class DamagedFileError(ValueError):
    """A stored file cannot be read as the Parquet file the IO manager writes (truncated,
    overwritten, a folder in its place); the message is one sentence naming it."""


def scan_stored(path: UPath, again: str) -> pl.LazyFrame:
    """A stored file, lazily, once its Parquet footer has been read: DamagedFileError naming
    the file, and ending with `again` (what to do), when it is not a file or not Parquet.

    The IO manager's load and the tools that read the warehouse without Dagster (`period`,
    `summary`) share it, so a damaged file is named the same way wherever it is read."""
    try:
        is_file = path.is_file()
    except OSError as error:
        raise DamagedFileError(unreadable(path, error, again)) from None
    if not is_file:
        raise DamagedFileError(f"{path} is not a file: remove it and {again}.")
    try:
        frame = storage.scan_parquet(path)
        frame.collect_schema()  # reads the footer: a truncated or foreign file fails here
    except (pl.exceptions.PolarsError, OSError) as error:
        raise DamagedFileError(unreadable(path, error, again)) from None
    return frame


def again_phrase(asset: str, partition: str | None) -> str:
    """What to do about a damaged file of `asset` (and of that week)."""
    if partition is None:
        return f"materialise {asset} again"
    return f"materialise the week {partition} of {asset} again"


def unreadable(path: UPath, error: BaseException, again: str) -> str:
    return f"{path} is not a readable Parquet file ({storage.first_line(error)}): {again}."
