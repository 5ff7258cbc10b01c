-- weekly_purchase_counts as one DuckDB SQL script: the bench's implementation (c).
-- The same rules as the pipeline (docs/purchases.md) minus the quarantine and provenance:
--   * a line is used when it has customer_id, a list basket and a parseable date_of_purchase
--     dated within ${tolerance_days} day(s) of its day folder; anything else is skipped;
--   * a basket item without product_id is skipped, the rest of its basket counts;
--   * week = the Monday of date_of_purchase (event time), for the weeks
--     ${first_week} .. ${last_week};
--   * one row per (week, customer, product) with the number of basket items, plus one row
--     with null product and count 0 for each customers.csv customer without any in a week;
--   * loyalty_score and product_category joined, null when the id is unknown.
-- The dollar-brace placeholders are filled in by bench/purchases/duckdb_runs.py
-- (string.Template).
-- Output: Parquet, Hive style, one week=YYYY-MM-DD folder per week, like the warehouse.

SET preserve_insertion_order = false;

CREATE TEMP TABLE customers AS
SELECT customer_id, loyalty_score
FROM read_csv('${source}/customers.csv', header = true, auto_detect = false,
              columns = {'customer_id': 'VARCHAR', 'loyalty_score': 'BIGINT'});

CREATE TEMP TABLE products AS
SELECT product_id, product_category
FROM read_csv('${source}/products.csv', header = true, auto_detect = false, quote = '"',
              columns = {'product_id': 'VARCHAR', 'product_description': 'VARCHAR',
                         'product_category': 'VARCHAR'});

CREATE TEMP TABLE purchases AS
WITH transactions AS (
    SELECT customer_id, basket, date_of_purchase, d AS folder
    FROM read_json('${source}/transactions/d=*/transactions.json',
                   format = 'newline_delimited', ignore_errors = true,
                   hive_partitioning = true, hive_types = {'d': DATE},
                   columns = {'customer_id': 'VARCHAR',
                              'basket': 'STRUCT(product_id VARCHAR, price BIGINT)[]',
                              'date_of_purchase': 'TIMESTAMP'})
),
usable AS (
    SELECT customer_id, basket, date_trunc('week', date_of_purchase)::DATE AS week
    FROM transactions
    WHERE customer_id IS NOT NULL AND basket IS NOT NULL AND date_of_purchase IS NOT NULL
      AND abs(date_diff('day', folder, date_of_purchase::DATE)) <= ${tolerance_days}
      AND date_of_purchase >= DATE '${first_week}'
      AND date_of_purchase < DATE '${last_week}' + INTERVAL 7 DAY
),
items AS (
    SELECT week, customer_id, unnest(basket).product_id AS product_id FROM usable
)
SELECT week, customer_id, product_id, count(*) AS purchase_count
FROM items
WHERE product_id IS NOT NULL
GROUP BY ALL;

COPY (
    WITH weeks AS (
        SELECT range::DATE AS week
        FROM range(DATE '${first_week}', DATE '${last_week}' + INTERVAL 1 DAY, INTERVAL 7 DAY)
    ),
    idle AS (
        SELECT w.week, c.customer_id, NULL::VARCHAR AS product_id, 0::BIGINT AS purchase_count
        FROM weeks AS w CROSS JOIN customers AS c
        ANTI JOIN (SELECT DISTINCT week, customer_id FROM purchases) AS bought
            ON bought.week = w.week AND bought.customer_id = c.customer_id
    ),
    counts AS (
        SELECT * FROM purchases
        UNION ALL
        SELECT * FROM idle
    )
    SELECT counts.week, counts.customer_id, customers.loyalty_score, counts.product_id,
           products.product_category, counts.purchase_count
    FROM counts
    LEFT JOIN customers USING (customer_id)
    LEFT JOIN products USING (product_id)
) TO '${out}' (FORMAT parquet, PARTITION_BY (week), OVERWRITE_OR_IGNORE true);
