"""The late-data sensor: a week whose day folders changed after it was built is requested
again, once per change."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from assets_pkg.definitions import build_definitions
from assets_pkg.defs.purchases.source_assets import DATA_VERSION_TAG
from assets_pkg.purchases import feed as feed_module
from assets_pkg.purchases import parse
from assets_pkg.shared.settings import Settings

from .feed_builder import Feed, purchase

W, NEXT = "2024-01-08", "2024-01-15"


@dataclasses.dataclass
class Deployment:
    """The project's definitions over a feed, and an instance that keeps what was built."""

    defs: dg.Definitions
    instance: dg.DagsterInstance
    cursor: str | None = None
    run_keys: list[str | None] = dataclasses.field(default_factory=list)
    """Every run key the sensor asked for, in order."""
    observed: list[dict[str, str]] = dataclasses.field(default_factory=list)
    """The feed's weeks and data versions each evaluation recorded."""
    skip_reason: str | None = None
    """Why the last evaluation requested nothing."""

    def build(self, first: str, last: str) -> None:
        job = self.defs.resolve_job_def("weekly_purchases")
        result = job.execute_in_process(
            instance=self.instance,
            tags={
                "dagster/asset_partition_range_start": first,
                "dagster/asset_partition_range_end": last,
            },
        )
        assert result.success

    def tick(self) -> list[str | None]:
        """The weeks one evaluation of the sensor asks for; the cursor is kept."""
        sensor = self.defs.resolve_sensor_def("late_purchases_sensor")
        context = dg.build_sensor_context(
            instance=self.instance,
            cursor=self.cursor,
            resources=self.defs.resources,
            repository_def=self.defs.get_repository_def(),
        )
        result = sensor.evaluate_tick(context)
        for event in result.asset_events:  # as the daemon stores them
            self.instance.report_runless_asset_event(event)
        self.observed.append(
            {
                str(e.partition): (e.tags or {})[DATA_VERSION_TAG]
                for e in result.asset_events
                if isinstance(e, dg.AssetObservation)
            }
        )
        self.skip_reason = result.skip_message
        self.cursor = result.cursor
        self.run_keys += [request.run_key for request in result.run_requests or []]
        return [request.partition_key for request in result.run_requests or []]


@pytest.fixture
def deployment(feed: Feed, tmp_path: Path) -> Deployment:
    feed.fill_days("2024-01-07", "2024-01-22")
    feed.write_day("2024-01-09", purchase("C1", "2024-01-09 10:00:00", "P1"))
    feed.write_day("2024-01-16", purchase("C2", "2024-01-16 10:00:00", "P2"))
    settings = Settings(
        purchases_source_dir=str(feed.root),
        signatures_source_dir=str(tmp_path / "signatures"),
        warehouse_dir=str(tmp_path / "warehouse"),
        signatures_db_url=f"sqlite:///{tmp_path / 'signatures.db'}",
        purchases_start_date="2024-01-01",
    )
    return Deployment(build_definitions(settings), dg.DagsterInstance.ephemeral())


def test_a_late_or_changed_file_requests_its_week_once(deployment: Deployment, feed: Feed) -> None:
    deployment.build(W, NEXT)
    assert deployment.tick() == []  # built as the folders are

    late = feed.root / "transactions" / "d=2024-01-10" / "late.json"
    late.write_text(purchase("C3", "2024-01-10 12:00:00", "P2") + "\n")
    assert deployment.tick() == [W]
    assert deployment.tick() == []  # asked once, while its run has not happened

    deployment.build(W, W)
    assert deployment.tick() == []

    changed = feed.root / "transactions" / "d=2024-01-16" / "transactions.json"
    changed.write_text(changed.read_text() + purchase("C4", "2024-01-16 11:00:00", "P1") + "\n")
    assert deployment.tick() == [NEXT]
    assert deployment.tick() == []


def test_a_file_changed_back_and_forth_is_requested_each_time(
    deployment: Deployment, feed: Feed
) -> None:
    """A, B, A, B with the same sizes and times each time (as `cp -p` or an object store's
    ETag give): the fingerprints repeat, yet each change needs a run, and Dagster makes one
    run per run key, ever."""
    deployment.build(W, W)
    path = feed.root / "transactions" / "d=2024-01-09" / "transactions.json"
    first = path.read_bytes()
    second = first.replace(b'"P1"', b'"P2"')
    for content, moment in [(second, 2_000), (first, 1_000), (second, 2_000)]:
        path.write_bytes(content)
        os.utime(path, ns=(moment * 10**9, moment * 10**9))
        assert deployment.tick() == [W]
        assert deployment.tick() == []
        deployment.build(W, W)
        assert deployment.tick() == []
    assert len(set(deployment.run_keys)) == 3


def test_a_folder_the_week_reads_beside_its_own_counts_too(
    deployment: Deployment, feed: Feed
) -> None:
    deployment.build(W, W)
    # The Monday after W is read by W (a purchase may sit one day from its date).
    feed.write_day("2024-01-15", purchase("C1", "2024-01-14 23:59:00", "P2"))
    assert deployment.tick() == [W]


def test_each_week_shows_its_fingerprint_and_its_file_count(deployment: Deployment) -> None:
    deployment.build(W, NEXT)
    records = deployment.instance.fetch_materializations(
        dg.AssetKey("exploded_transactions"), limit=10
    ).records
    shown = {
        str(r.asset_materialization.partition): r.asset_materialization.metadata
        for r in records
        if r.asset_materialization is not None
    }
    assert sorted(shown) == [W, NEXT]
    assert {week: m["feed files"] for week, m in shown.items()} == {
        W: dg.IntMetadataValue(9),  # d=2024-01-07 .. d=2024-01-15, one file each
        NEXT: dg.IntMetadataValue(9),
    }
    assert shown[W]["feed fingerprint"] != shown[NEXT]["feed fingerprint"]


def test_a_line_appended_while_its_week_is_built_asks_for_the_week_again(
    deployment: Deployment, feed: Feed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line arrives after the file was read but before the build ends: the build did not
    count it, so the fingerprint it records must not include it either."""
    path = feed.root / "transactions" / "d=2024-01-09" / "transactions.json"
    read = feed_module.read_day_file

    def read_then_append(*args: Any) -> Any:
        result = read(*args)
        read_path = getattr(args[0], "path", args[0])  # a DayFile, or a path before the fix
        if read_path == path.resolve() and "C3" not in path.read_text():
            with path.open("a") as out:
                out.write(purchase("C3", "2024-01-09 12:00:00", "P2") + "\n")
        return result

    monkeypatch.setattr(parse, "read_day_file", read_then_append)
    deployment.build(W, W)
    monkeypatch.undo()
    assert "C3" in path.read_text()
    assert deployment.tick() == [W]
    deployment.build(W, W)
    assert deployment.tick() == []


def test_a_file_corrected_with_its_size_and_time_kept_asks_for_its_week(
    deployment: Deployment, feed: Feed
) -> None:
    """Same size, same modification time (`touch -r`, a tool that keeps times): the
    status-change time and the inode tell the versions apart."""
    deployment.build(W, W)
    path = feed.root / "transactions" / "d=2024-01-09" / "transactions.json"
    before = path.stat()
    path.write_bytes(path.read_bytes().replace(b'"P1"', b'"P2"'))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    assert deployment.tick() == [W]


def test_the_sources_are_upstream_of_what_reads_them(deployment: Deployment) -> None:
    graph = deployment.defs.resolve_asset_graph()
    parents = {
        key.to_user_string(): sorted(k.to_user_string() for k in graph.get(key).parent_keys)
        for key in graph.get_all_asset_keys()
    }
    assert parents["raw_customers"] == ["customers_csv"]
    assert parents["products"] == ["products_csv"]
    assert parents["exploded_transactions"] == ["purchase_feed"]
    assert parents["transaction_quarantine"] == ["purchase_feed"]
    assert parents["registered_signatures"] == ["source_a", "source_b"]
    assert parents["signature_rejects"] == ["source_a", "source_b"]
    feed = graph.get(dg.AssetKey("purchase_feed"))
    assert feed.is_observable
    assert feed.partitions_def == graph.get(dg.AssetKey("exploded_transactions")).partitions_def
    for source in ["customers_csv", "products_csv", "source_a", "source_b"]:
        assert graph.get(dg.AssetKey(source)).is_external


def feed_versions(deployment: Deployment) -> dict[str, str]:
    """The data version of each week the feed's own observation gives now."""
    defs = dg.Definitions.merge(
        deployment.defs,
        dg.Definitions(jobs=[dg.define_asset_job("observe_feed", [dg.AssetKey("purchase_feed")])]),
    )
    instance = dg.DagsterInstance.ephemeral()
    assert defs.resolve_job_def("observe_feed").execute_in_process(instance=instance).success
    records = instance.fetch_observations(dg.AssetKey("purchase_feed"), limit=100).records
    return {
        str(r.partition_key): r.asset_observation.tags[DATA_VERSION_TAG]
        for r in records
        if r.asset_observation is not None
    }


def test_the_feed_observed_gives_each_week_the_fingerprint_its_build_records(
    deployment: Deployment,
) -> None:
    """One definition: the observation of a week, the sensor's comparison and the build's
    record (its metadata, and the observation of the feed it logs) all agree."""
    deployment.build(W, NEXT)
    built = {
        str(r.partition_key): r.asset_materialization.metadata["feed fingerprint"].value
        for r in deployment.instance.fetch_materializations(
            dg.AssetKey("exploded_transactions"), limit=10
        ).records
        if r.asset_materialization is not None
    }
    logged = {
        str(r.partition_key): r.asset_observation.tags[DATA_VERSION_TAG]
        for r in deployment.instance.fetch_observations(
            dg.AssetKey("purchase_feed"), limit=10
        ).records
        if r.asset_observation is not None
    }
    assert built == logged
    assert {key: feed_versions(deployment)[key] for key in built} == built
    assert deployment.tick() == []
    # The versions the build recorded still hold; only the weeks around, never built (their
    # day folders hold data too), are observed for the first time.
    assert sorted(deployment.observed[0]) == ["2024-01-01", "2024-01-22"]
    assert deployment.skip_reason == (
        "Every one of the 2 built week(s) was built from the feed as it is now (same day "
        "files, same stamps): nothing to re-build."
    )


def test_a_late_file_is_observed_as_a_new_version_of_its_week_only(
    deployment: Deployment, feed: Feed
) -> None:
    deployment.build(W, NEXT)
    deployment.tick()
    late = feed.root / "transactions" / "d=2024-01-10" / "late.json"
    late.write_text(purchase("C3", "2024-01-10 12:00:00", "P2") + "\n")
    assert deployment.tick() == [W]
    assert list(deployment.observed[-1]) == [W]  # the UI shows this week changed upstream
    assert deployment.observed[-1][W] == feed_versions(deployment)[W]
    assert deployment.tick() == []
    assert deployment.skip_reason == (
        f"The rebuild of the week(s) {W} was already requested for the feed as it is now: "
        "waiting for it to run."
    )
    deployment.build(W, W)
    assert deployment.tick() == []
    assert deployment.observed[-1] == {}


def test_nothing_built_yet_is_said(deployment: Deployment) -> None:
    assert deployment.tick() == []
    assert deployment.skip_reason == (
        "No week of exploded_transactions is built yet: nothing to re-build."
    )
    assert sorted(deployment.observed[0]) == ["2024-01-01", W, NEXT, "2024-01-22"]


def test_a_source_folder_gone_requests_nothing_and_says_why(
    deployment: Deployment, feed: Feed
) -> None:
    """An unmounted or renamed PURCHASES_SOURCE_DIR is no late data: every built week would
    look changed (its files vanished) and each request would fail on the missing folder."""
    deployment.build(W, NEXT)
    moved = feed.root.with_name("moved")
    feed.root.rename(moved)
    assert deployment.tick() == []
    assert deployment.observed[-1] == {}  # no week recorded as changed upstream
    assert deployment.skip_reason is not None
    assert f"The purchase source folder {feed.root} does not exist" in deployment.skip_reason
    assert "PURCHASES_SOURCE_DIR" in deployment.skip_reason
    moved.rename(feed.root)
    assert deployment.tick() == []  # back as it was: nothing to rebuild
