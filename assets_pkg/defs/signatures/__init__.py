"""The signature domain's Dagster layer: the source specs, the warehouse and dataset assets
and the resources over the pure core in `assets_pkg.signatures`."""
