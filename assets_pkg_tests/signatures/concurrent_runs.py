"""Entry points for tests that start real processes against one database (spawned, so each
has its own interpreter, engine and caches, like two Dagster runs)."""

from __future__ import annotations

import multiprocessing
import queue
import time
from pathlib import Path
from typing import Any

from assets_pkg.shared.location import Location
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
    """Create the schema and read the tree together with the others, then register at once;
    puts (new signatures, already registered, new signees) or the error on `results`."""
    database = SignatureDatabase.from_url(url)
    try:
        start.wait(BARRIER_TIMEOUT_S)
        database.ensure_schema()
        candidates, rejects = read_sources(Location.of(Path(source_dir)))
        assets = ContentAddressedAssetService(assets_dir, database)
        # Both load what is registered (nothing) before either writes: whichever run is second
        # to a signee holds a stale cache, as two real runs starting together do.
        database.known_signees(), database.current_signatures(), database.known_assets()
        start.wait(BARRIER_TIMEOUT_S)
        report = register_candidates(candidates, rejects, database, assets)
        results.put(("ok", (report.new_signatures, report.unchanged, report.new_signees)))
    except Exception as error:  # reported to the test, which names it
        results.put(("failed", f"{type(error).__name__}: {error}"))
    finally:
        database.dispose()


def run_together(target: Any, count: int, *args: object) -> list[tuple[str, Any]]:
    """Start `count` spawned processes running `target(*args, barrier, queue)`; their results.

    A process that dies without a result breaks the barrier, so the others stop waiting, and
    counts as ("failed", <its exit code>)."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(count)
    results = context.Queue()
    processes = [context.Process(target=target, args=(*args, start, results)) for _ in range(count)]
    for process in processes:
        process.start()
    outcomes: list[tuple[str, Any]] = []
    deadline = time.monotonic() + 2 * BARRIER_TIMEOUT_S
    while len(outcomes) < count and time.monotonic() < deadline:
        try:
            outcomes.append(results.get(timeout=0.2))
        except queue.Empty:
            if any(not p.is_alive() and p.exitcode != 0 for p in processes):
                start.abort()
            if not any(p.is_alive() for p in processes) and results.empty():
                break
    for process in processes:
        process.join(BARRIER_TIMEOUT_S)
        if process.is_alive():
            process.terminate()
    codes = [process.exitcode for process in processes]
    return outcomes + [("failed", f"no result; exit codes {codes}")] * (count - len(outcomes))
