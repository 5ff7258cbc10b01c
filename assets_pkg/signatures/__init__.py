"""The signature warehouse: SOURCE_A and SOURCE_B through `register_signatures` into a database.

Pure core (`model`, `hwr`, `source_a`, `source_b`, `service`, `store`, `asset_service`, `etl`)
and a thin Dagster shell (`resources`, `assets`, `definitions`). See docs/signatures.md.
"""
