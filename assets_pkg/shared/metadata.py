"""A preview table for the web UI (the IO manager attaches one to every output)."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
import polars as pl


def preview(frame: pl.DataFrame, rows: int = 10) -> dg.MetadataValue:
    """The first `rows` rows as a markdown table."""
    with pl.Config(
        tbl_formatting="MARKDOWN",
        tbl_hide_dataframe_shape=True,
        tbl_hide_column_data_types=True,
        tbl_rows=rows,
        tbl_cols=-1,
        fmt_str_lengths=60,
        tbl_width_chars=10_000,
    ):
        return dg.MetadataValue.md(str(frame.head(rows)))


def column_schema(
    schema: Mapping[str, pl.DataType], descriptions: Mapping[str, str]
) -> dict[str, dg.TableSchema]:
    """Definition metadata that shows a table's columns, types and meanings in the UI; every
    column must have a description."""
    missing = [name for name in schema if not descriptions.get(name)]
    if missing:
        raise ValueError(f"columns without a description: {', '.join(missing)}")
    return {
        "dagster/column_schema": dg.TableSchema(
            columns=[
                dg.TableColumn(name, str(dtype), description=descriptions[name])
                for name, dtype in schema.items()
            ]
        )
    }
