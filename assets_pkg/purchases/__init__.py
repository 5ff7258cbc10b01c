"""The purchase domain: the feed and catalog in, weekly purchase counts out.

Pure core, no Dagster import: the Dagster layer over it lives in `assets_pkg.defs.purchases`.
"""

GROUP = "purchases"
"""The Dagster asset group of every purchase asset (the schedule's job selects it)."""
