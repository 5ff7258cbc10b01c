"""Object-storage failures: the previous object survives, and the message names the setting."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from assets_pkg import summary
from assets_pkg.defs.io_manager import ParquetIOManager, write_parquet_atomically
from assets_pkg.purchases import feed, period
from assets_pkg.shared import storage
from assets_pkg.shared.cli import run_cli
from assets_pkg.shared.settings import ConfigurationError
from assets_pkg.signatures.asset_service import ContentAddressedAssetService

from .test_s3_warehouse import build, settings, tables

OLD = pl.DataFrame({"customer_id": ["C1", "C2"], "count": [1, 2]})
NEW = pl.DataFrame({"customer_id": ["C3"], "count": [3]})


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def unreachable(monkeypatch: pytest.MonkeyPatch) -> str:
    """Point AWS_ENDPOINT_URL at a closed port, with one attempt per request."""
    url = closed_port_url()
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    return url


def without_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def one_sentence(message: str) -> bool:
    return message.endswith(".") and ". " not in message and "\n" not in message


def test_a_failing_write_leaves_the_previous_object_intact(
    s3_bucket: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{s3_bucket}/warehouse/weekly_purchase_counts/week=2024-01-08/data.parquet"
    write_parquet_atomically(OLD, storage.upath(url))

    def broken() -> pl.DataFrame:
        raise RuntimeError("the query failed while the week was computed")

    with pytest.raises(RuntimeError, match="the query failed"):
        write_parquet_atomically(pl.defer(broken, schema=NEW.schema), storage.upath(url))
    assert_frame_equal(storage.scan_parquet(storage.upath(url)).collect(), OLD)

    endpoint = unreachable(monkeypatch)
    with pytest.raises(storage.StorageError) as raised:
        write_parquet_atomically(NEW, storage.upath(url))
    message = str(raised.value)
    assert message.startswith(f"WAREHOUSE_DIR ({url}) cannot be reached at {endpoint} (")
    assert message.endswith("check AWS_ENDPOINT_URL and AWS_REGION.")
    assert one_sentence(message)
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    assert_frame_equal(storage.scan_parquet(storage.upath(url)).collect(), OLD)


@pytest.fixture
def s3_url(s3_bucket: str) -> str:
    return f"{s3_bucket}/warehouse"


def test_the_old_object_reads_back_after_a_failed_upload(
    s3_url: str, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"{s3_url}/products/data.parquet"
    write_parquet_atomically(OLD, storage.upath(url))
    unreachable(monkeypatch)
    with pytest.raises(storage.StorageError):
        write_parquet_atomically(NEW, storage.upath(url))
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    assert_frame_equal(storage.scan_parquet(storage.upath(url)).collect(), OLD)
    root = storage.upath(f"{s3_url}/products")
    assert sorted(p.name for p in root.iterdir()) == ["data.parquet"]


def test_missing_credentials_name_the_setting(
    s3_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    without_credentials(monkeypatch, tmp_path)
    with pytest.raises(ConfigurationError) as raised:
        settings(s3_url, tmp_path / "s.db").check_locations()
    assert str(raised.value) == (
        f"WAREHOUSE_DIR ({s3_url}) cannot be used: no credentials were found; set "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)."
    )


def test_an_unreachable_endpoint_names_the_setting(
    s3_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    endpoint = unreachable(monkeypatch)
    with pytest.raises(ConfigurationError) as raised:
        settings(s3_url, tmp_path / "s.db").check_locations()
    message = str(raised.value)
    assert message.startswith(f"WAREHOUSE_DIR ({s3_url}) cannot be reached at {endpoint} (")
    assert message.endswith("): check AWS_ENDPOINT_URL and AWS_REGION.")
    assert one_sentence(message)


def test_a_missing_bucket_names_the_setting(s3_bucket: str, tmp_path: Path) -> None:
    url = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/warehouse"
    with pytest.raises(ConfigurationError) as raised:
        settings(url, tmp_path / "s.db").check_locations()
    assert str(raised.value) == (
        f"WAREHOUSE_DIR ({url}) names a bucket that does not exist: create it or fix it."
    )


def test_the_asset_store_on_s3_stores_each_image_once_and_names_the_setting_on_failure(
    s3_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    image = tmp_path / "a.png"
    image.write_bytes(b"\x89PNG not really")
    service = ContentAddressedAssetService(f"{s3_url}/signature_assets")
    asset_id = service.register_asset(str(image), {})
    assert service.register_asset(str(image), {}) == asset_id
    assert service.path_of(asset_id).read_bytes() == image.read_bytes()
    unreachable(monkeypatch)
    failing = ContentAddressedAssetService(f"{s3_url}/signature_assets")
    # The store as a whole cannot be used: the run stops, rather than reject every image.
    with pytest.raises(storage.StorageError, match=r"WAREHOUSE_DIR .*AWS_ENDPOINT_URL"):
        failing.register_asset(str(image), {}, data=b"other bytes")


def test_memory_works_as_a_warehouse(tmp_path: Path) -> None:
    warehouse = f"memory://warehouse-{uuid.uuid4().hex[:8]}"
    config = settings(warehouse, tmp_path / "m.db")
    config.check_locations()
    build(config, "2024-01-08")
    build(settings(str(tmp_path / "local"), tmp_path / "local.db"), "2024-01-08")
    assert tables(warehouse).keys() == tables(str(tmp_path / "local")).keys()
    for name, frame in tables(str(tmp_path / "local")).items():
        assert_frame_equal(tables(warehouse)[name], frame)


def test_partition_keys_that_are_not_dates_are_refused_with_a_message() -> None:
    @dg.asset(partitions_def=dg.StaticPartitionsDefinition(["north", "south"]))
    def by_region() -> pl.DataFrame:
        return OLD

    warehouse = f"memory://warehouse-{uuid.uuid4().hex[:8]}"
    result = dg.materialize(
        [by_region],
        resources={"io_manager": ParquetIOManager(base_dir=warehouse)},
        partition_key="north",
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = result.get_step_failure_events()
    data = failure.step_failure_data.user_failure_data
    assert data is not None
    assert data.description == (
        "by_region has the partition key 'north', which is not a date YYYY-MM-DD: weekly "
        "partition keys are Mondays such as 2024-01-08; the Parquet IO manager stores weekly "
        "partitions only."
    )
    assert not storage.upath(warehouse).exists() or not list(storage.upath(warehouse).iterdir())


def test_a_profile_alone_is_enough_to_read_the_warehouse(
    s3_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """polars' own S3 client does not read profiles: without a key pair in the environment,
    reads go through s3fs, which follows the whole AWS chain."""
    url = f"{s3_url}/products/data.parquet"
    write_parquet_atomically(OLD, storage.upath(url))
    credentials = tmp_path / "credentials"
    credentials.write_text("[reader]\naws_access_key_id = testing\naws_secret_access_key = x\n")
    without_credentials(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.setenv("AWS_PROFILE", "reader")

    assert_frame_equal(storage.scan_parquet(storage.upath(url)).collect(), OLD)


@pytest.mark.parametrize("tool", ["period", "summary", "feed range"])
def test_the_command_line_tools_name_an_unreachable_store_in_one_sentence(
    s3_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tool: str,
) -> None:
    monkeypatch.setenv("WAREHOUSE_DIR", s3_url)
    monkeypatch.setenv("PURCHASES_SOURCE_DIR", f"{s3_url}/source")
    monkeypatch.setenv("SIGNATURES_DB_URL", "sqlite:////nonexistent/never-opened.db")
    endpoint = unreachable(monkeypatch)
    main: Callable[[], int] = {
        "period": lambda: period.main(["2024-01-01", "2024-01-08"]),
        "summary": summary.main,
        "feed range": lambda: feed.main([]),
    }[tool]
    with pytest.raises(SystemExit) as exited:
        run_cli(main)
    assert exited.value.code == 2
    error = capsys.readouterr().err
    setting = "PURCHASES_SOURCE_DIR" if tool == "feed range" else "WAREHOUSE_DIR"
    assert error.startswith(f"error: {setting} (")
    assert f"cannot be reached at {endpoint} (" in error
    assert error.count("\n") == 1


@pytest.mark.parametrize("url", ["s3://", "s3:///bucket/warehouse"])
def test_an_object_store_url_without_a_bucket_is_refused(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        settings(url, tmp_path / "s.db").check_locations()
    assert str(raised.value) == f"WAREHOUSE_DIR ({url}) names no bucket: write s3://bucket/prefix."


def test_an_unreachable_endpoint_names_the_variable_that_set_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class EndpointConnectionError(Exception):
        """Named as botocore's: `describe_error` goes by the class name."""

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://general.example")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3.example")
    message = storage.describe_error(EndpointConnectionError("no"), "s3://b/w", "WAREHOUSE_DIR")
    assert message == (
        "WAREHOUSE_DIR (s3://b/w) cannot be reached at http://s3.example (no): check "
        "AWS_ENDPOINT_URL_S3 and AWS_REGION."
    )


@pytest.mark.parametrize("tool", ["period", "summary"])
def test_the_command_line_tools_name_a_missing_bucket(
    s3_bucket: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tool: str
) -> None:
    url = f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/warehouse"
    monkeypatch.setenv("WAREHOUSE_DIR", url)
    monkeypatch.setenv("SIGNATURES_DB_URL", "sqlite:////nonexistent/never-opened.db")
    main: Callable[[], int] = {
        "period": lambda: period.main(["2024-01-01", "2024-01-08"]),
        "summary": summary.main,
    }[tool]
    with pytest.raises(SystemExit) as exited:
        run_cli(main)
    assert exited.value.code == 2
    assert capsys.readouterr().err == (
        f"error: WAREHOUSE_DIR ({url}) names a bucket that does not exist, or that these "
        "credentials may not look up: create it or fix the name or the permissions.\n"
    )


def test_a_warehouse_named_like_a_pattern_is_summarised_on_s3(s3_bucket: str) -> None:
    warehouse = f"{s3_bucket}/[prod]"
    write_parquet_atomically(OLD, storage.upath(f"{warehouse}/products/data.parquet"))
    week = f"{warehouse}/exploded_transactions/week=2024-01-01/data.parquet"
    write_parquet_atomically(NEW, storage.upath(week))
    assert summary.summarise(warehouse) == [
        ("products", 2, 0, f"{warehouse}/products"),
        ("exploded_transactions", 1, 1, f"{warehouse}/exploded_transactions"),
    ]


@pytest.mark.parametrize("url", ["s3:/bucket/warehouse", "gs:/bucket"])
def test_a_url_with_one_slash_is_refused_not_made_a_local_folder(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigurationError) as raised:
        settings(url, tmp_path / "s.db").check_locations()
    scheme, _, rest = url.partition(":/")
    assert str(raised.value) == (
        f"WAREHOUSE_DIR ({url}) is a URL with one slash after {scheme}: write {scheme}://{rest}."
    )
    assert list(tmp_path.iterdir()) == []
