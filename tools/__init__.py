"""Development tools outside the code location: the generators of synthetic purchase feeds
(`python -m tools.generate_purchases`) and signature trees (`python -m tools.generate_signatures`)
for the bundled sample, the tests and the benchmarks. Run them from the checkout; Dagster never
loads them."""
