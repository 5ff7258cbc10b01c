"""(e): the issue's first lever at its best, one DuckDB pass per week with no check at all.

For each week, DuckDB reads the week's seven day files, unnests the baskets, numbers each
file's lines and writes the week's exploded Parquet with file and line; then it counts that
week from the file it wrote (customers.csv's idle customers included, the catalog's columns
joined) into a second Parquet file. That is the work of the project's two weekly tables
without what makes them trustworthy: no rule book and no quarantine (DuckDB's reading of a
value is taken as it is), no event-time split (a week is its own seven folders), line numbers
from `row_number()` over a scan DuckDB does not promise to keep in order. Its wall time is
therefore a lower bound for any pipeline that writes both tables week by week, whatever
runs it.

Run in a fresh Python process, as (c) is::

    python -m bench.purchases.duckdb_per_week SOURCE OUT FIRST_WEEK LAST_WEEK
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb

from bench.purchases.measure import Measurement, measure

EXPLODE = """
SELECT strptime((date_of_purchase::VARCHAR)[2:20], '%Y-%m-%d %H:%M:%S') AS date_of_purchase,
       (customer_id::VARCHAR)[2:-2] AS customer_id,
       (item.product_id::VARCHAR)[2:-2] AS product_id,
       TRY_CAST(item.price::VARCHAR AS BIGINT) AS price,
       filename AS source_file, line_number,
       regexp_extract(filename, 'd=([0-9-]+)', 1)::DATE AS folder_day
FROM (
    SELECT filename, customer_id, date_of_purchase, line_number, unnest(basket) AS item
    FROM (
        SELECT *, row_number() OVER (PARTITION BY filename) AS line_number
        FROM read_json($files, format = 'newline_delimited', filename = true, columns = {
            customer_id: 'JSON',
            basket: 'STRUCT(product_id JSON, price JSON)[]',
            date_of_purchase: 'JSON'
        })
    )
)
"""

COUNTS = """
WITH bought AS (
    SELECT customer_id, product_id, count(*) AS purchase_count
    FROM read_parquet($exploded)
    GROUP BY ALL
),
idle AS (
    SELECT customer_id, NULL::VARCHAR AS product_id, 0::BIGINT AS purchase_count
    FROM customers ANTI JOIN bought USING (customer_id)
)
SELECT $week::DATE AS week, counts.customer_id, customers.loyalty_score, counts.product_id,
       products.product_category, counts.purchase_count
FROM (SELECT * FROM bought UNION ALL SELECT * FROM idle) AS counts
LEFT JOIN customers USING (customer_id)
LEFT JOIN products USING (product_id)
"""


def run_weeks(source: Path, out: Path, first: dt.date, last: dt.date) -> int:
    """Both tables for the weeks first..last under `out`; the number of weeks written."""
    connection = duckdb.connect()
    connection.execute("SET enable_progress_bar = false")
    connection.execute(
        "CREATE TABLE customers AS SELECT * FROM read_csv($path, header = true, "
        "columns = {'customer_id': 'VARCHAR', 'loyalty_score': 'BIGINT'})",
        {"path": str(source / "customers.csv")},
    )
    connection.execute(
        "CREATE TABLE products AS SELECT product_id, product_category FROM read_csv($path, "
        "header = true, quote = '\"', columns = {'product_id': 'VARCHAR', "
        "'product_description': 'VARCHAR', 'product_category': 'VARCHAR'})",
        {"path": str(source / "products.csv")},
    )
    weeks = 0
    week = first
    while week <= last:
        days = [week + dt.timedelta(days=offset) for offset in range(7)]
        files = [source / "transactions" / f"d={day}" / "transactions.json" for day in days]
        folder = out / f"week={week}"
        folder.mkdir(parents=True)
        exploded = folder / "exploded.parquet"
        connection.execute(
            f"COPY ({EXPLODE}) TO '{exploded}' (FORMAT parquet)",
            {"files": [str(f) for f in files if f.exists()]},
        )
        connection.execute(
            f"COPY ({COUNTS}) TO '{folder / 'counts.parquet'}' (FORMAT parquet)",
            {"exploded": str(exploded), "week": week.isoformat()},
        )
        weeks += 1
        week += dt.timedelta(weeks=1)
    return weeks


def run_per_week(
    source: Path, out: Path, first: str, last: str, log: Path, say: Callable[[str], None]
) -> Measurement:
    """(e) for `source`, weeks first..last, in a fresh Python process under `measure`."""
    command = [sys.executable, "-m", __name__, str(source), str(out), first, last]
    return measure(command, os.environ, log, say)


def main(argv: list[str]) -> None:
    source, out, first, last = argv
    weeks = run_weeks(
        Path(source), Path(out), dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    )
    print(f"{weeks} weeks written under {out}")


if __name__ == "__main__":
    main(sys.argv[1:])
