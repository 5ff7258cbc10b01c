"""Running the purchase assets through the Dagster CLI, each in a fresh instance.

``DagsterSetup.fresh`` makes an empty warehouse and ``DAGSTER_HOME`` (with the project's
instance settings, instance/dagster.yaml, as `make run` has them) and the environment
pointing the definitions at them and at the bench's source. ``materialize`` runs one
``dagster asset materialize`` command under ``measure`` and then reads the new run's
instance: the compute time of each step from Dagster's own ``STEP_SUCCESS`` events
(``duration_ms``) and any ``STEP_FAILURE``. ``backfill`` is the single-run backfill of every
purchase asset over a week range, its compute split into the catalog's steps and the weekly
assets' steps. Dagster is imported only where the event log is read.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.purchases import ROOT
from bench.purchases.dataset import START, TOLERANCE_DAYS
from bench.purchases.measure import Measurement, measure

DEFINITIONS_MODULE = "assets_pkg.definitions"
WEEKLY_ASSETS = ("exploded_transactions", "weekly_purchase_counts", "transaction_quarantine")
CATALOG_ASSETS = ("raw_customers", "products")
CATALOG_STEPS = set(CATALOG_ASSETS)
INSTANCE_TEMPLATE = ROOT / "instance" / "dagster.yaml"


def dagster_available(module: str) -> str | None:
    """None when the definitions module exists, else why the Dagster parts cannot run."""
    try:
        found = importlib.util.find_spec(module)
    except (ImportError, ValueError) as error:
        return f"{module} cannot be found: {error}"
    if found is None:
        return f"{module} does not exist (yet)"
    return None


@dataclass
class DagsterSetup:
    """A fresh warehouse and Dagster instance, and the environment pointing at them."""

    home: Path
    warehouse: Path
    env: dict[str, str]
    module: str = DEFINITIONS_MODULE
    attribute: str | None = None

    @classmethod
    def fresh(
        cls, work: Path, name: str, source: Path, module: str, attribute: str | None = None
    ) -> DagsterSetup:
        home, warehouse = work / name / "dagster_home", work / name / "warehouse"
        home.mkdir(parents=True)
        warehouse.mkdir(parents=True)
        shutil.copy(INSTANCE_TEMPLATE, home / "dagster.yaml")
        env = dict(os.environ)
        env.update(
            DAGSTER_HOME=str(home),
            WAREHOUSE_DIR=str(warehouse),
            PURCHASES_SOURCE_DIR=str(source),
            PURCHASES_START_DATE=START.isoformat(),
            PURCHASES_DATE_TOLERANCE_DAYS=str(TOLERANCE_DAYS),
        )
        return cls(home, warehouse, env, module, attribute)

    def materialize(
        self, selection: str, partitions: Sequence[str], log: Path, say: Callable[[str], None]
    ) -> Measurement:
        command = [str(Path(sys.executable).with_name("dagster")), "asset", "materialize"]
        command += ["-m", self.module, "--select", selection]
        if self.attribute is not None:
            command += ["-a", self.attribute]
        if len(partitions) == 1:
            command += ["--partition", partitions[0]]
        elif partitions:
            command += ["--partition-range", f"{partitions[0]}...{partitions[1]}"]
        before = self.run_ids()
        result = measure(command, self.env, log, say)
        new_runs = [run for run in self.run_ids() if run not in before]
        if not new_runs and result.error is None:
            result.error = "the command succeeded but no Dagster run was recorded"
        steps = step_durations(self.home, new_runs)
        result.steps = steps
        if steps:
            result.compute_s = sum(steps.values())
        if result.error is None and (failed := failed_steps(self.home, new_runs)):
            result.error = f"failed steps: {', '.join(failed)}"
        return result

    def run_ids(self) -> list[str]:
        if not (self.home / "history").exists() and not (self.home / "storage").exists():
            return []
        from dagster import DagsterInstance

        with DagsterInstance.from_config(str(self.home)) as instance:
            return [run.run_id for run in instance.get_runs()]


def step_durations(home: Path, run_ids: Sequence[str]) -> dict[str, float]:
    """Seconds per successful step, from Dagster's own STEP_SUCCESS events."""
    from dagster import DagsterEventType, DagsterInstance

    durations: dict[str, float] = {}
    with DagsterInstance.from_config(str(home)) as instance:
        for run_id in run_ids:
            for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_SUCCESS):
                event = record.dagster_event
                if event is None or event.step_key is None:
                    continue
                duration_ms = getattr(event.event_specific_data, "duration_ms", None)
                if duration_ms is not None:
                    durations[event.step_key] = (
                        durations.get(event.step_key, 0.0) + float(duration_ms) / 1000
                    )
    return durations


def failed_steps(home: Path, run_ids: Sequence[str]) -> list[str]:
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        return [
            record.dagster_event.step_key or "?"
            for run_id in run_ids
            for record in instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
            if record.dagster_event is not None
        ]


def backfill(
    setup: DagsterSetup,
    first: str,
    last: str,
    logs: Path,
    say: Callable[[str], None],
) -> tuple[Measurement, Measurement, Measurement]:
    """Every purchase asset, every week first..last, in one Dagster run (one CLI call).

    Returns the run, the catalog steps' part of its compute and the weekly steps' part:
    `compute_s` of the run counts the weekly assets only, as for (b).
    """
    selection = ",".join(CATALOG_ASSETS + WEEKLY_ASSETS)
    run = setup.materialize(selection, [first, last], logs / "backfill.log", say)
    catalog = Measurement(error=run.error)
    weeks = Measurement(error=run.error)
    catalog.steps = {k: v for k, v in run.steps.items() if k in CATALOG_STEPS}
    weeks.steps = {k: v for k, v in run.steps.items() if k not in CATALOG_STEPS}
    catalog.compute_s = sum(catalog.steps.values()) if catalog.steps else None
    weeks.compute_s = sum(weeks.steps.values()) if weeks.steps else None
    run.compute_s = weeks.compute_s
    run.steps = dict(weeks.steps)
    return run, catalog, weeks
