"""The purchase domain's Dagster layer: assets, checks, the schedule, the late-data sensor and
the source resource over the pure core in `assets_pkg.purchases`."""
