"""Entry points for tests that start real processes against one database (spawned, so each
has its own interpreter, engine and caches, like two Dagster runs)."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

from assets_pkg.signatures.asset_service import ContentAddressedAssetService
from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.etl import read_sources, register_candidates

BARRIER_TIMEOUT_S = 60


def create_schema(url: str, start: Any, results: Any) -> None:
    """Wait for the others, then create the schema at the same moment they do."""
    database = SignatureDatabase.from_url(url)
    try:
        start.wait(BARRIER_TIMEOUT_S)
        database.ensure_schema()
        results.put(("ok", ""))
    except Exception as error:  # reported to the test, which names it
        results.put(("failed", f"{type(error).__name__}: {error}"))
    finally:
        database.dispose()


def register_tree(url: str, source_dir: str, assets_dir: str, start: Any, results: Any) -> None:
    """Create the schema and read the tree together with the others, then register at once."""
    database = SignatureDatabase.from_url(url)
    try:
        start.wait(BARRIER_TIMEOUT_S)
        database.ensure_schema()
        candidates, rejects = read_sources(Path(source_dir))
        assets = ContentAddressedAssetService(assets_dir, database)
        start.wait(BARRIER_TIMEOUT_S)
        report = register_candidates(candidates, rejects, database, assets)
        results.put(("ok", (report.new_signatures, report.unchanged, report.new_signees)))
    except Exception as error:  # reported to the test, which names it
        results.put(("failed", f"{type(error).__name__}: {error}"))
    finally:
        database.dispose()


def run_together(target: Any, count: int, *args: object) -> list[tuple[str, Any]]:
    """Start `count` spawned processes running `target(*args, barrier, queue)`; their results."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(count)
    results = context.Queue()
    processes = [context.Process(target=target, args=(*args, start, results)) for _ in range(count)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=BARRIER_TIMEOUT_S * 2) for _ in processes]
    for process in processes:
        process.join(BARRIER_TIMEOUT_S)
    return outcomes
