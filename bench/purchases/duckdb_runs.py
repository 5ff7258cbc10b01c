"""The DuckDB side of the bench: the whole job (c) and the scan floor (d).

``duckdb_job`` fills in ``duckdb_weekly_counts.sql`` (next to this module, a
``string.Template``) with the source, output folder, week range and date tolerance;
``floor_sql`` writes a script that only reads every JSON line with the explicit schema and
counts the basket items. ``run_duckdb`` runs either script in a fresh Python process under
``measure``, so DuckDB's start-up and memory are measured like Dagster's.
"""

from __future__ import annotations

import os
import string
import sys
from collections.abc import Callable
from pathlib import Path

from bench.purchases.dataset import TOLERANCE_DAYS
from bench.purchases.measure import Measurement, measure

SQL_TEMPLATE = Path(__file__).with_name("duckdb_weekly_counts.sql")

DUCKDB_RUNNER = (
    "import sys, duckdb\n"
    "connection = duckdb.connect()\n"
    "connection.execute('SET enable_progress_bar = false')\n"
    "print(connection.execute(open(sys.argv[1]).read()).fetchall())\n"
)


def duckdb_job(source: Path, out: Path, first: str, last: str, work: Path) -> Path:
    """The whole job's script for `source`, weeks first..last, writing Parquet to `out`."""
    sql = string.Template(SQL_TEMPLATE.read_text()).substitute(
        source=source.as_posix(),
        out=out.as_posix(),
        first_week=first,
        last_week=last,
        tolerance_days=TOLERANCE_DAYS,
    )
    path = work / "duckdb_weekly_counts.sql"
    path.write_text(sql)
    return path


def floor_sql(source: Path, work: Path) -> Path:
    """The scan floor's script: read every line of `source`, count the basket items."""
    path = work / "duckdb_scan_floor.sql"
    path.write_text(
        "SELECT count(*) AS transactions, sum(len(basket)) AS basket_items\n"
        f"FROM read_json('{source.as_posix()}/transactions/d=*/transactions.json',\n"
        "    format = 'newline_delimited', ignore_errors = true,\n"
        "    columns = {'customer_id': 'VARCHAR',\n"
        "               'basket': 'STRUCT(product_id VARCHAR, price BIGINT)[]',\n"
        "               'date_of_purchase': 'TIMESTAMP'});\n"
    )
    return path


def run_duckdb(sql: Path, log: Path, say: Callable[[str], None]) -> Measurement:
    return measure([sys.executable, "-c", DUCKDB_RUNNER, str(sql)], os.environ, log, say)
