"""A preview table for the web UI (the IO manager attaches one to every output)."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
import polars as pl


def preview(frame: pl.DataFrame, rows: int = 10) -> dg.MetadataValue:
    """The first `rows` rows as a markdown table.

    Written out here rather than printed under `pl.Config(...)`: polars keeps its display
    settings in environment variables, and changing the environment while native code in
    another thread reads it (`getenv`) crashes the process with SIGSEGV. The weekly assets
    write one week while a worker thread parses or counts the next, so that happened.
    """
    head = frame.head(rows)
    lines = [
        "| " + " | ".join(_cell(name) for name in head.columns) + " |",
        "|" + "---|" * head.width,
        *("| " + " | ".join(_cell(value) for value in row) + " |" for row in head.iter_rows()),
    ]
    return dg.MetadataValue.md("\n".join(lines))


_CELL_CHARS = 60


def _cell(value: object) -> str:
    text = "null" if value is None else str(value)
    if len(text) > _CELL_CHARS:
        text = text[: _CELL_CHARS - 1] + "…"
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


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
