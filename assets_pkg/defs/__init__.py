"""Everything Dagster: the defs folder `dg` loads (`[tool.dg.project] defs_module`).

Each module here is imported by `dg.load_from_defs_folder` and whatever it defines at module
level (an asset, a check, a sensor, a `Definitions`) joins the code location, so
`dg scaffold defs dagster.asset x.py` adds an asset with no other change. What depends on the
settings (the weekly partitions, the resources, the executor) is built by the `build_defs`
factories from explicit `Settings` and merged in by `assets_pkg.definitions`. The shared
pieces: the IO manager, the executors, the run launcher, the retries sensor, the weekly
partitions, metadata helpers and the resources' setting checks. The pure code they wrap lives
beside this folder, in `assets_pkg.purchases`, `assets_pkg.signatures` and
`assets_pkg.shared`, and imports no Dagster.
"""
