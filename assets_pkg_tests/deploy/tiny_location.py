"""A code location of one asset, for a real gRPC code server started by a test."""

import dagster as dg


@dg.asset
def one() -> int:
    return 1


defs = dg.Definitions(assets=[one])
