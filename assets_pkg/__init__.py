"""The project's package: both domains' core (`purchases`, `signatures`), their Dagster shell
(`defs`) and what they share (`shared`).

Before anything imports polars, its allocator is given one arena and told to return the
pages it purged at once (`narenas:1,muzzy_decay_ms:0`), unless the environment configures
it already: polars' jemalloc otherwise keeps an arena per thread of its pool, each holding on
to the pages it freed. polars reads the variable when it is imported, after its own defaults
(`dirty_decay_ms:500,muzzy_decay_ms:1000`, polars/__init__.py), so ours only adds to them. A
backfill of three weeks at ten times the sample's customers peaked at 550-616 MiB that way
and at 453-501 MiB with this; the large feed's backfill took the same time (docs/decisions.md,
"Memory by density")."""

import os

os.environ.setdefault("_RJEM_MALLOC_CONF", "narenas:1,muzzy_decay_ms:0")
