"""Late data with Dagster's real daemon (`dagster-daemon run`): a file that arrives after its
week was built is observed as a new version of that week of `purchase_feed`, and the week
alone is built again, once.

As `make run` does, the feed is observed, then two weeks are built in this process into a
fresh instance; then a late file lands in the first week's folders, and the daemon starts.
`late_purchases_sensor` is on by default, so the daemon evaluates it at once: it records the
feed's new version of that week (the UI shows the week changed upstream, since its build
read the version observed before it) and requests its run, which the daemon's run queue
launches. The sensor's rules at each step, without a daemon, are tested in
assets_pkg_tests/purchases/test_late_data.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import pytest

from assets_pkg.definitions import build_definitions
from assets_pkg.defs.purchases.source_assets import DATA_VERSION_TAG
from assets_pkg.shared.settings import PROJECT_ROOT, Settings
from tools.generate_purchases import generate

from .processes import BIN, new_instance, project_env, running

pytestmark = pytest.mark.slow

W1, W2 = dt.date(2024, 1, 1), dt.date(2024, 1, 8)
DAEMON_S = 120.0
"""The daemon loads the code location, evaluates the sensor, launches and runs the week: a
dozen seconds when idle, more on a busy 2-core machine."""
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
FEED = dg.AssetKey("purchase_feed")
EXPLODED = dg.AssetKey("exploded_transactions")


def versions(records: Sequence[dg.EventLogRecord]) -> list[tuple[str, str]]:
    """(week, data version) of each observation of the feed, oldest first."""
    return [
        (str(r.partition_key), r.asset_observation.tags[DATA_VERSION_TAG])
        for r in records
        if r.asset_observation is not None
    ][::-1]


def fingerprints(instance: dg.DagsterInstance) -> list[tuple[str, str]]:
    """(week, feed fingerprint) of each materialisation of exploded_transactions, oldest
    first."""
    records = instance.fetch_materializations(EXPLODED, limit=100).records
    return [
        (str(r.partition_key), str(r.asset_materialization.metadata["feed fingerprint"].value))
        for r in records
        if r.asset_materialization is not None
    ][::-1]


def test_a_late_file_marks_its_week_changed_and_the_daemon_rebuilds_it_once(
    tmp_path: Path,
) -> None:
    feed, warehouse = tmp_path / "feed", tmp_path / "warehouse"
    generate(feed, customers=20, start=W1, days=15, seed=3, products=30)
    home = new_instance(tmp_path / "dagster_home")
    settings = Settings(
        purchases_source_dir=str(feed),
        signatures_source_dir=str(PROJECT_ROOT / "data" / "sources" / "signatures"),
        warehouse_dir=str(warehouse),
        signatures_db_url=f"sqlite:///{tmp_path / 'signatures.db'}",
        purchases_start_date=W1.isoformat(),
    )
    definitions = build_definitions(settings)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        observed_first = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[FEED], partition_key=W1.isoformat()
        )
        assert observed_first.success
        built = definitions.resolve_job_def("weekly_purchases").execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": W1.isoformat(),
                "dagster/asset_partition_range_end": W2.isoformat(),
            },
        )
        assert built.success
        before = versions(instance.fetch_observations(FEED, limit=100).records)
        # The first observation (each week of the feed, 2024-01-15 too: its Monday folder is
        # there), then each built week's, logged by its build.
        assert [week for week, _ in before][-2:] == [W1.isoformat(), W2.isoformat()]
        runs_before = {run.run_id for run in instance.get_runs()}

        day = feed / "transactions" / f"d={W1 + dt.timedelta(days=2)}"
        line = (day / "transactions.json").read_text().splitlines()[0]
        (day / "late.json").write_text(line + "\n")

        workspace = tmp_path / "workspace.yaml"
        workspace.write_text(
            "load_from:\n"
            "  - python_module:\n"
            "      module_name: assets_pkg.definitions\n"
            "      location_name: assets_pkg\n"
            f"      working_directory: {PROJECT_ROOT}\n"
        )
        env = project_env(
            home,
            warehouse,
            PURCHASES_SOURCE_DIR=str(feed),
            PURCHASES_START_DATE=W1.isoformat(),
            SIGNATURES_DB_URL=settings.signatures_db_url,
        )
        command = [str(BIN / "dagster-daemon"), "run", "-w", str(workspace)]
        with running(command, env, tmp_path / "daemon.log") as daemon:

            def new_runs() -> list[dg.DagsterRun]:
                return [r for r in instance.get_runs() if r.run_id not in runs_before]

            def rebuilt() -> bool:
                runs = new_runs()
                return bool(runs) and all(run.status in FINISHED for run in runs)

            daemon.wait_until(rebuilt, "the rebuild of the late week", DAEMON_S)
            (run,) = new_runs()
            assert run.status == dg.DagsterRunStatus.SUCCESS, f"see {daemon.log}"
            assert run.job_name == "weekly_purchases"
            assert run.tags["dagster/partition"] == W1.isoformat()
            assert run.tags["dagster/sensor_name"] == "late_purchases_sensor"

        built_weeks = {W1.isoformat(), W2.isoformat()}
        after = [
            seen
            for seen in versions(instance.fetch_observations(FEED, limit=100).records)[
                len(before) :
            ]
            if seen[0] in built_weeks  # not 2024-01-15: its Monday folder is there, never built
        ]
        # The sensor observed the new version of the late week only (the week's "changed
        # upstream" in the UI), and the rebuild read exactly that version.
        (observed, rebuilt_from) = after
        assert observed[0] == W1.isoformat()
        assert observed[1] != dict(before)[W1.isoformat()]
        assert rebuilt_from == observed
        assert fingerprints(instance)[-1] == observed

        # Once: evaluated again on the instance, the sensor asks for nothing.
        defs = build_definitions(settings)
        context = dg.build_sensor_context(
            instance=instance, resources=defs.resources, repository_def=defs.get_repository_def()
        )
        again = defs.resolve_sensor_def("late_purchases_sensor").evaluate_tick(context)
        assert again.run_requests == []
        assert again.asset_events == []
