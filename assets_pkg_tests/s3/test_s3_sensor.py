"""The schedule and the late-data sensor over a source on an object store that cannot be
used: each tick says why in one sentence naming PURCHASES_SOURCE_DIR, as a run would, rather
than failing with a traceback."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from assets_pkg.definitions import build_definitions
from assets_pkg.shared import storage
from assets_pkg.shared.settings import Settings

from .test_s3_errors import one_sentence, without_credentials


@pytest.fixture
def defs(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dg.Definitions]:
    """The definitions over `<bucket>/feed`, built while the store can be used; then the
    credentials are taken away."""
    defs = build_definitions(
        Settings(
            purchases_source_dir=f"{s3_bucket}/feed",
            signatures_source_dir=str(tmp_path / "signatures"),
            warehouse_dir=str(tmp_path / "warehouse"),
            signatures_db_url=f"sqlite:///{tmp_path / 'signatures.db'}",
            purchases_start_date="2024-01-01",
        )
    )
    without_credentials(monkeypatch, tmp_path)
    # s3fs keeps one filesystem per set of options, with the credentials botocore found
    # when it was made: a new one must look for them now.
    store: Any = type(storage.upath(s3_bucket).fs)
    store.clear_instance_cache()
    yield defs
    store.clear_instance_cache()  # nor may a later test get this one, without credentials


def test_the_sensor_names_the_setting_when_the_store_refuses(
    defs: dg.Definitions, s3_bucket: str
) -> None:
    sensor = defs.resolve_sensor_def("late_purchases_sensor")
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(
            instance=instance, resources=defs.resources, repository_def=defs.get_repository_def()
        )
        result = sensor.evaluate_tick(context)
    assert not result.run_requests
    assert result.skip_message == (
        f"PURCHASES_SOURCE_DIR ({s3_bucket}/feed) cannot be used: no credentials were found; "
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE); nothing is "
        "observed or re-built until it can be read."
    )
    assert one_sentence(result.skip_message)


def test_the_schedule_names_the_setting_when_the_store_refuses(
    defs: dg.Definitions, s3_bucket: str
) -> None:
    schedule = defs.resolve_schedule_def("weekly_purchases_schedule")
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_schedule_context(
            instance=instance,
            resources=defs.resources,
            scheduled_execution_time=dt.datetime(2024, 1, 16, 6, tzinfo=dt.UTC),
        )
        result = schedule.evaluate_tick(context)
    assert not result.run_requests
    assert result.skip_message == (
        f"PURCHASES_SOURCE_DIR ({s3_bucket}/feed) cannot be used: no credentials were found; "
        "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)."
    )
