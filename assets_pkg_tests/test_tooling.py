"""The project's tooling: the instance template, the pins, the lock file, make run's summary."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from assets_pkg.summary import check_keys, describe, failed_checks, latest_failures

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "instance" / "dagster.yaml"


def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def pins() -> dict[str, str]:
    """`name: version` of every `name==version` requirement of the project, extras and
    dependency groups included."""
    project = pyproject()["project"]
    assert isinstance(project, dict)
    requirements = [*project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        requirements.extend(extra)
    groups = pyproject().get("dependency-groups", {})
    assert isinstance(groups, dict)
    for group in groups.values():
        requirements.extend(group)
    found = (re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?==([^;\s]+)", r) for r in requirements)
    return {m[1]: m[2] for m in found if m}


def library_release(release: str) -> str:
    """Dagster's libraries (dagster-postgres, …) are released as 0.x beside dagster 1.x:
    1.13.27 goes with 0.29.27."""
    major, minor, patch = release.split(".", 2)
    assert major == "1"
    return f"0.{int(minor) + 16}.{patch}"


def test_the_instance_template_has_telemetry_off_and_run_monitoring_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copy(TEMPLATE, tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        assert not instance.telemetry_enabled
        assert not instance.nux_enabled  # no "Join the Dagster community" dialog in the UI
        assert instance.run_monitoring_enabled
        # What ends a run whose process was killed with no code server left to notice.
        assert instance.run_monitoring_max_runtime_seconds > 0
        assert instance.run_monitoring_start_timeout_seconds > 0
        assert instance.run_monitoring_poll_interval_seconds <= 60


def test_dagster_packages_are_pinned_to_one_release_and_installed_at_it() -> None:
    dagster_pins = {name: v for name, v in pins().items() if name.startswith("dagster")}
    core = {"dagster", "dagster-webserver", "dagster-dg-cli"}
    assert core <= dagster_pins.keys()
    for name, version in dagster_pins.items():
        wanted = dg.__version__ if name in core else library_release(dg.__version__)
        assert version == wanted, name
        assert importlib.metadata.version(name) == version, name
    # dg pins dagster itself: the release it wants is the one pinned here.
    requires = importlib.metadata.requires("dagster-dg-cli") or []
    assert f"dagster=={dg.__version__}" in requires
    assert f"dagster-rest-resources=={library_release(dg.__version__)}" in requires


def test_uv_runs_at_the_version_pinned_for_make() -> None:
    assert importlib.metadata.version("uv") == pins()["uv"]


def uv() -> str:
    found = Path(sys.prefix) / "bin" / "uv"
    if found.exists():
        return str(found)
    on_path = shutil.which("uv")
    if on_path is None:
        pytest.skip("uv is not installed in this environment (make install brings it)")
    return on_path


def test_the_lock_file_matches_pyproject() -> None:
    result = subprocess.run(
        [uv(), "lock", "--check", "--offline"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"uv.lock is out of date, run make lock:\n{result.stderr}"


def test_make_installs_from_the_lock_file_and_reinstalls_when_it_changes() -> None:
    """What each install syncs is proved in test_makefile.py; here, that every one of them
    comes from uv.lock and that the stamp follows it."""
    makefile = (ROOT / "Makefile").read_text()
    stamp = re.search(r"^LOCKSUM := (.*)$", makefile, re.MULTILINE)
    assert stamp is not None
    assert "uv.lock" in stamp[1]
    syncs = re.findall(r"\$\(UV\) sync([^\n]*)", makefile)
    assert syncs
    assert all(options.startswith(" --locked ") for options in syncs), syncs


def test_the_makefile_exports_no_dagster_setting_but_the_instance_folder() -> None:
    """Issue 20: no speed may depend on a variable that only the Makefile sets. A shell with
    DAGSTER_HOME=.dagster_home running `dagster` or `dg` gets what `make run` gets: the
    instance's settings live in instance/dagster.yaml (test_event_storage.py)."""
    makefile = (ROOT / "Makefile").read_text()
    assert re.findall(r"^export\s+(\S+)", makefile, re.MULTILINE) == ["DAGSTER_HOME"]
    name = "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS"
    assert name not in makefile
    shown = subprocess.run(
        [
            "make",
            "-s",
            "--no-print-directory",
            "--eval",
            f'show-env: ; @echo "[$${name}]"',
            "show-env",
        ],
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if k != name},
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.strip() == "[]"


@dg.asset(check_specs=[dg.AssetCheckSpec("few_rows", asset="numbers")])
def numbers() -> Iterator[dg.MaterializeResult[None]]:
    yield dg.MaterializeResult(
        check_results=[
            dg.AssetCheckResult(
                check_name="few_rows",
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"rows": 1234, "missing days": ["2024-01-02", "2024-01-03"]},
            )
        ]
    )


@dg.asset(check_specs=[dg.AssetCheckSpec("always", asset="letters")])
def letters() -> Iterator[dg.MaterializeResult[None]]:
    yield dg.MaterializeResult(
        check_results=[dg.AssetCheckResult(check_name="always", passed=True)]
    )


def test_the_summary_lists_checks_that_did_not_pass_with_their_counts() -> None:
    defs = dg.Definitions(assets=[numbers, letters])
    with dg.DagsterInstance.ephemeral() as instance:
        assert dg.materialize([numbers, letters], instance=instance).success
        failed = failed_checks(instance, check_keys(defs))
    assert [describe(evaluation) for evaluation in failed] == ["few_rows (numbers): 1,234 rows"]


WEEKS = dg.WeeklyPartitionsDefinition(start_date="2024-01-01", day_offset=1, end_offset=0)


def _weekly() -> dg.AssetsDefinition:
    """A weekly asset whose check fails, with a count."""

    @dg.asset(partitions_def=WEEKS, check_specs=[dg.AssetCheckSpec("empty", asset="weekly")])
    def weekly():  # type: ignore[no-untyped-def]  # dagster reads an annotation as outputs
        rows = 2
        return dg.MaterializeResult(
            check_results=[
                dg.AssetCheckResult(check_name="empty", passed=False, metadata={"rows": rows})
            ]
        )

    return weekly


def test_a_failed_check_says_which_weeks_its_count_covers() -> None:
    """The summary said "2 quarantined rows" under a table of 24: the check's latest
    evaluation counted the weeks of its last run, the table every week stored. Each failed
    check now says the weeks its count covers."""
    weekly = _weekly()
    defs = dg.Definitions(assets=[weekly])
    with dg.DagsterInstance.ephemeral() as instance:
        range_tags = {
            "dagster/asset_partition_range_start": "2024-01-01",
            "dagster/asset_partition_range_end": "2024-01-15",
        }
        assert dg.materialize([weekly], instance=instance, tags=range_tags).success
        ((evaluation, covered),) = latest_failures(instance, check_keys(defs))
        assert (describe(evaluation), covered) == (
            "empty (weekly) [ERROR]: 2 rows",
            "weeks 2024-01-01...2024-01-15",
        )
        assert dg.materialize([weekly], instance=instance, partition_key="2024-01-08").success
        ((evaluation, covered),) = latest_failures(instance, check_keys(defs))
        assert (describe(evaluation), covered) == (
            "empty (weekly) [ERROR]: 2 rows",
            "week 2024-01-08",
        )


def test_a_check_with_only_a_short_list_shows_its_items() -> None:
    evaluation = dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey("exploded_transactions"),
        check_name="all_day_folders_present",
        passed=False,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"missing days": dg.MetadataValue.json(["2024-01-02", "2024-01-03"])},
    )
    assert describe(evaluation) == (
        "all_day_folders_present (exploded_transactions): 2 missing days (2024-01-02, 2024-01-03)"
    )


def _weekly_checked() -> dg.AssetsDefinition:
    """A weekly asset whose check is evaluated per week (as the purchase checks are)."""

    @dg.asset(
        partitions_def=WEEKS,
        check_specs=[dg.AssetCheckSpec("empty", asset="weekly", partitions_def=WEEKS)],
        config_schema={"passed": dg.Field(bool, default_value=False)},
    )
    def weekly(context):  # type: ignore[no-untyped-def]  # dagster reads the annotations
        return dg.MaterializeResult(
            check_results=[
                dg.AssetCheckResult(
                    check_name="empty",
                    passed=context.op_execution_context.op_config["passed"],
                    metadata={"rows": 2, "missing days": ["2024-01-02"]},
                )
            ]
        )

    return weekly


def test_a_check_per_week_adds_up_its_failing_weeks_as_each_was_last_evaluated() -> None:
    """With one evaluation per week, the latest alone named one week ("4 quarantined rows"
    under a table of 24): the summary adds up every week whose latest evaluation failed."""
    weekly = _weekly_checked()
    defs = dg.Definitions(assets=[weekly])
    with dg.DagsterInstance.ephemeral() as instance:
        for week in ("2024-01-01", "2024-01-08", "2024-01-15"):
            assert dg.materialize([weekly], instance=instance, partition_key=week).success
        ((evaluation, covered),) = latest_failures(instance, check_keys(defs))
        assert (describe(evaluation), covered) == (
            "empty (weekly) [ERROR]: 6 rows",
            "3 weeks 2024-01-01...2024-01-15",
        )
        assert evaluation.metadata["missing days"].value == ["2024-01-02"] * 3
        passed = {"ops": {"weekly": {"config": {"passed": True}}}}
        assert dg.materialize(
            [weekly], instance=instance, partition_key="2024-01-08", run_config=passed
        ).success
        ((evaluation, covered),) = latest_failures(instance, check_keys(defs))
        assert (describe(evaluation), covered) == (
            "empty (weekly) [ERROR]: 4 rows",
            "2 weeks 2024-01-01...2024-01-15",
        )
        for week in ("2024-01-01", "2024-01-15"):
            assert dg.materialize(
                [weekly], instance=instance, partition_key=week, run_config=passed
            ).success
        assert latest_failures(instance, check_keys(defs)) == []
