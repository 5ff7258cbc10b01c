"""A store that stalls or throttles: every request is bounded in time and attempts, then one
sentence names the setting (docs/storage.md, "Timeouts and retries").

The store is moto behind `faulty.faulty_store`, whose object GETs never answer or answer
`503 SlowDown`; the limits are lowered through their variables so that each test is quick.
A hang fails the test after BOUND_S (a guard, not a timing check)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import dagster as dg
import polars as pl
import pytest

from assets_pkg.defs.io_manager import ParquetIOManager
from assets_pkg.defs.signatures.assets import signature_warehouse
from assets_pkg.defs.signatures.resources import (
    SignatureAssetStoreResource,
    SignatureDatabaseResource,
    SignatureSourcesResource,
)
from assets_pkg.shared import storage
from assets_pkg.signatures.etl import read_sources, source_root

from .faulty import FaultyStore, Mode, faulty_store
from .test_s3_errors import one_sentence
from .test_s3_sources import upload
from .test_s3_warehouse import SIGNATURES

BOUND_S = 60
ATTEMPTS = 2
T = TypeVar("T")


def bounded(action: Callable[[], T]) -> T | BaseException:
    """What `action` returned or raised, run in a thread joined within BOUND_S."""
    result: list[T | BaseException] = []

    def run() -> None:
        try:
            result.append(action())
        except BaseException as error:  # handed to the test
            result.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(BOUND_S)
    assert result, f"still waiting after {BOUND_S} s: the store's requests are not bounded"
    return result[0]


@pytest.fixture(params=["stall", "slowdown"])
def faulty(
    request: pytest.FixtureRequest, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[FaultyStore]:
    """The faulty store in front of moto, with one-second timeouts and ATTEMPTS attempts."""
    mode: Mode = request.param
    with faulty_store(s3_endpoint, mode) as store:
        monkeypatch.setenv("S3_CONNECT_TIMEOUT", "1")
        monkeypatch.setenv("S3_READ_TIMEOUT", "1")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", str(ATTEMPTS))
        yield store


def fault_sentence(store: FaultyStore) -> str:
    if store.mode == "stall":
        return (
            f"did not answer within S3_READ_TIMEOUT=1 s (S3_CONNECT_TIMEOUT=1 s to connect) "
            f"in {ATTEMPTS} attempts ("
        )
    return f"kept answering that it is busy (503 SlowDown, throttling) in {ATTEMPTS} attempts"


def test_signature_sources_whose_gets_fail_stop_the_run_with_one_sentence(
    s3_bucket: str, faulty: FaultyStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Not a reject per file (a throttled store is no bad file): the run fails, naming the
    setting, after ATTEMPTS attempts at the first object."""
    source = upload(SIGNATURES, f"{s3_bucket}/signatures")
    monkeypatch.setenv("AWS_ENDPOINT_URL", faulty.url)
    warehouse = tmp_path / "wh"
    resources = {
        "io_manager": ParquetIOManager(base_dir=str(warehouse)),
        "signatures_db": SignatureDatabaseResource(url=f"sqlite:///{warehouse / 's.db'}"),
        "signature_sources": SignatureSourcesResource(source_dir=source),
        "signature_asset_store": SignatureAssetStoreResource(root=str(warehouse / "assets")),
    }
    result = bounded(
        lambda: dg.materialize([signature_warehouse], resources=resources, raise_on_error=False)
    )
    assert isinstance(result, dg.ExecuteInProcessResult)
    assert not result.success
    (event,) = result.get_step_failure_events()
    data = event.step_failure_data.user_failure_data
    assert data is not None
    message = str(data.description)
    assert message.startswith(f"SIGNATURES_SOURCE_DIR ({source}/SOURCE_")
    assert fault_sentence(faulty) in message
    assert one_sentence(message)
    assert faulty.faulted == ATTEMPTS


def test_a_feed_object_whose_get_fails_is_bounded_and_named(
    s3_bucket: str, faulty: FaultyStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{s3_bucket}/feed/transactions/2024-01-01/a.json"
    storage.upath(url).write_bytes(b"{}\n")
    monkeypatch.setenv("AWS_ENDPOINT_URL", faulty.url)
    error = bounded(storage.upath(url).read_bytes)
    assert isinstance(error, Exception)
    message = storage.describe_error(error, f"{s3_bucket}/feed", "PURCHASES_SOURCE_DIR")
    assert message.startswith(f"PURCHASES_SOURCE_DIR ({s3_bucket}/feed) {fault_sentence(faulty)}")
    assert one_sentence(message)
    assert faulty.faulted == ATTEMPTS


def test_a_warehouse_file_read_by_polars_is_bounded(
    s3_bucket: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """polars' own client (a key pair is set) gets the same limits: a GET that never answers
    fails after S3_READ_TIMEOUT (polars' default waits 30 s a request, several times)."""
    url = f"{s3_bucket}/warehouse/t/data.parquet"
    storage.upath(url).write_bytes(storage.parquet_bytes(pl.DataFrame({"a": [1]})))
    monkeypatch.setenv("S3_READ_TIMEOUT", "1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", str(ATTEMPTS))
    with faulty_store(s3_endpoint, "stall") as store:
        monkeypatch.setenv("AWS_ENDPOINT_URL", store.url)
        error = bounded(lambda: storage.scan_parquet(storage.upath(url)).collect())
    assert isinstance(error, Exception)
    assert "timed out" in str(error)
    assert store.faulted >= 1


def test_the_proxy_passes_a_healthy_store_on(
    s3_bucket: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So that the faults above are the proxy's own, not a broken relay."""
    source = upload(SIGNATURES, f"{s3_bucket}/signatures")
    direct, _ = read_sources(source_root(source))
    with faulty_store(s3_endpoint, "none") as store:
        monkeypatch.setenv("AWS_ENDPOINT_URL", store.url)
        relayed, _ = read_sources(source_root(source))
    assert [c.signature.origin for c in relayed] == [c.signature.origin for c in direct]
    assert direct


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("S3_READ_TIMEOUT", "soon"),
        ("S3_CONNECT_TIMEOUT", "0"),
        ("AWS_MAX_ATTEMPTS", "1.5"),
        ("AWS_MAX_ATTEMPTS", "0"),
        ("AWS_RETRY_MODE", "eager"),
    ],
)
def test_a_limit_that_is_not_a_number_is_refused_naming_it(name: str, value: str) -> None:
    with pytest.raises(storage.StorageError) as raised:
        storage.storage_options("s3://bucket/x", {name: value})
    assert str(raised.value).startswith(f"{name} is {value!r}")
    assert one_sentence(str(raised.value))


def test_the_limits_reach_both_clients() -> None:
    options = storage.storage_options(
        "s3://bucket/x", {"S3_READ_TIMEOUT": "7", "AWS_MAX_ATTEMPTS": "4"}
    )
    assert options.fsspec["config_kwargs"] == {
        "connect_timeout": 5.0,
        "read_timeout": 7.0,
        "retries": {"total_max_attempts": 4, "mode": "standard"},
    }
    assert options.polars["connect_timeout"] == "5000ms"
    assert options.polars["timeout"] == "7000ms"
    assert options.polars["max_retries"] == 3
