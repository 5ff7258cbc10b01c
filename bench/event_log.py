"""Milliseconds per stored event: Dagster's SQLite event log against the project's.

    .venv/bin/python -m bench.event_log            # 300 events of each kind, 3 rounds
    .venv/bin/python -m bench.event_log --events 50 --rounds 1

Each round stores, in a fresh instance under a temporary folder for each event log, the same
events through `instance.report_dagster_event`, as a run does: first asset materialisations
(each one also copied into `index.db`), then engine events (the run's database only). The
instances alternate within a round: "dagster" is Dagster's default (no dagster.yaml entry,
`SqliteEventLogStorage`), "project" is the project's instance/dagster.yaml
(`LocalEventLogStorage`, docs/decisions.md). It prints one line per instance and round:
ms per event of each kind and the SQLite connections opened per event.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEvent, EngineEventData, StepMaterializationData
from dagster._core.test_utils import create_run_for_test

ROOT = Path(__file__).resolve().parents[1]
INSTANCES = {"dagster": None, "project": ROOT / "instance" / "dagster.yaml"}
"""Each instance's dagster.yaml (None: Dagster's defaults)."""


def materialization(number: int) -> DagsterEvent:
    data = StepMaterializationData(dg.AssetMaterialization("bench", partition=f"p{number}"))
    return DagsterEvent("ASSET_MATERIALIZATION", "bench", event_specific_data=data)


def engine_event(number: int) -> DagsterEvent:
    data = EngineEventData()
    return DagsterEvent(
        "ENGINE_EVENT", "bench", message=f"event {number}", event_specific_data=data
    )


KINDS: dict[str, Callable[[int], DagsterEvent]] = {
    "materialisation": materialization,
    "engine event": engine_event,
}


@contextmanager
def counting_connections() -> Iterator[list[int]]:
    """A one-item list that counts the SQLite connections opened meanwhile."""
    opened = [0]
    connect = sqlite3.dbapi2.connect

    def counted(*args: Any, **kwargs: Any) -> Any:
        opened[0] += 1
        return connect(*args, **kwargs)

    setattr(sqlite3.dbapi2, "connect", counted)  # noqa: B010 - mypy: connect is overloaded
    try:
        yield opened
    finally:
        setattr(sqlite3.dbapi2, "connect", connect)  # noqa: B010


def measure(template: Path | None, events: int, work: Path) -> list[tuple[str, float, float]]:
    """(kind, ms per event, connections opened per event) for each kind of event."""
    home = Path(tempfile.mkdtemp(dir=work))
    if template is not None:
        shutil.copy(template, home / "dagster.yaml")
    else:
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    results = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run_id = create_run_for_test(instance, job_name="bench").run_id
        for kind, make in KINDS.items():
            for number in range(3):  # untimed: the run's database and tables exist
                instance.report_dagster_event(make(number), run_id)
            with counting_connections() as opened:
                start = time.perf_counter()
                for number in range(events):
                    instance.report_dagster_event(make(number), run_id)
                seconds = time.perf_counter() - start
            results.append((kind, seconds / events * 1000, opened[0] / events))
    return results


def main(argv: Sequence[str] | None = None) -> list[str]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300, help="events of each kind")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", type=Path, default=None, help="where the instances go")
    options = parser.parse_args(argv)
    lines = []
    with tempfile.TemporaryDirectory(dir=options.dir) as work:
        for round_number in range(1, options.rounds + 1):
            for name, template in INSTANCES.items():
                cells = [
                    f"{kind} {ms:6.2f} ms, {opened:.1f} connections"
                    for kind, ms, opened in measure(template, options.events, Path(work))
                ]
                lines.append(f"round {round_number} {name:8s} " + "; ".join(cells))
                print(lines[-1], flush=True)
    return lines


if __name__ == "__main__":
    main()
