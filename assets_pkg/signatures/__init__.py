"""The signature warehouse: SOURCE_A and SOURCE_B through `register_signatures` into a database.

Pure core: the domain (`model`, `service`), the readers (`source_files`, `hwr`, `source_a`,
`source_b`, `records`), the store (`db_schema`, `engines`, `database`, `repositories`), the asset
service (`asset_service`), one ETL pass (`etl`) and its tables (`tables`). No Dagster import:
the thin Dagster shell over it lives in `assets_pkg.defs.signatures`. See docs/signatures.md.
"""
