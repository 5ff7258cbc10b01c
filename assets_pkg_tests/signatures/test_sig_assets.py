"""The Dagster shell: materialised tables, metadata, the warning check, configuration errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from assets_pkg.defs.io_manager import ParquetIOManager
from assets_pkg.defs.signatures.assets import CHECK, REGISTERED, REJECTS, signature_warehouse
from assets_pkg.defs.signatures.build import build_defs
from assets_pkg.defs.signatures.resources import (
    SignatureAssetStoreResource,
    SignatureDatabaseResource,
    SignatureSourcesResource,
)
from assets_pkg.shared.settings import Settings
from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.source_files import NOT_UTF8
from assets_pkg.signatures.tables import REGISTERED_SCHEMA, REJECTS_SCHEMA, registered_frame

from .helpers import BUNDLED, write_tree


def resources(
    warehouse: Path, source_dir: Path = BUNDLED, url: str | None = None
) -> dict[str, object]:
    return {
        "io_manager": ParquetIOManager(base_dir=str(warehouse)),
        "signatures_db": SignatureDatabaseResource(
            url=url or f"sqlite:///{warehouse / 'signatures.db'}"
        ),
        "signature_sources": SignatureSourcesResource(source_dir=str(source_dir)),
        "signature_asset_store": SignatureAssetStoreResource(root=str(warehouse / "assets")),
    }


def metadata_of(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, object]:
    (materialization,) = [
        m
        for m in result.asset_materializations_for_node("signature_warehouse")
        if m.asset_key == dg.AssetKey(asset)
    ]
    return {key: value.value for key, value in materialization.metadata.items()}


def test_both_tables_are_written_as_parquet_and_a_rerun_changes_nothing(tmp_path: Path) -> None:
    warehouse = tmp_path / "wh"
    first = dg.materialize([signature_warehouse], resources=resources(warehouse))
    assert first.success
    registered = pl.read_parquet(warehouse / REGISTERED / "data.parquet")
    rejects = pl.read_parquet(warehouse / REJECTS / "data.parquet")
    assert registered.schema == pl.Schema(REGISTERED_SCHEMA)
    assert rejects.schema == pl.Schema(REJECTS_SCHEMA)
    assert (registered.height, rejects.height) == (20, 19)
    database = SignatureDatabase.from_url(f"sqlite:///{warehouse / 'signatures.db'}")
    assert registered.equals(registered_frame(database))
    database.dispose()

    meta = metadata_of(first, REGISTERED)
    shown = ("dagster/row_count", "new_this_run", "already_registered", "unchanged_skipped")
    assert {k: meta[k] for k in shown} == {
        "dagster/row_count": 20,
        "new_this_run": 20,
        "already_registered": 0,
        "unchanged_skipped": 0,
    }
    assert (meta["signees"], meta["forgeries"], meta["new_signees"]) == (14, 10, 14)
    assert "| SOURCE_A | Online/Genuine | 4 |" in str(meta["by_source_subset"])
    rejects_meta = metadata_of(first, REJECTS)
    assert (
        rejects_meta["dagster/row_count"],
        rejects_meta["rejected"],
        rejects_meta["warnings"],
    ) == (
        19,
        15,
        4,
    )
    (check,) = first.get_asset_check_evaluations()
    assert (check.check_name, check.passed, check.severity) == (
        CHECK,
        False,
        dg.AssetCheckSeverity.WARN,
    )
    assert (check.asset_key, check.description) == (dg.AssetKey(REJECTS), "15 rejected, 4 warnings")

    second = dg.materialize([signature_warehouse], resources=resources(warehouse))
    again = metadata_of(second, REGISTERED)
    assert (again["new_this_run"], again["already_registered"], again["new_signees"]) == (0, 20, 0)
    assert again["unchanged_skipped"] == 20  # nothing parsed: every file's hash was known
    assert (again["signees"], again["forgeries"]) == (meta["signees"], meta["forgeries"])
    assert again["by_source_subset"] == meta["by_source_subset"]
    assert pl.read_parquet(warehouse / REGISTERED / "data.parquet").equals(registered)
    assert pl.read_parquet(warehouse / REJECTS / "data.parquet").equals(rejects)


def test_the_check_passes_when_nothing_is_rejected(tmp_path: Path) -> None:
    uuid = "3f2a9c1e-5b7d-4e21-9a8b-0c1d2e3f4a5b"
    source = write_tree(
        tmp_path / "src",
        {
            "SOURCE_A/Online/Genuine/001_01.HWR": b"1,2,3\n",
            "SOURCE_A/Online/Forgeries/0100001_01.HWR": b"1,2,3\n",
            "SOURCE_A/Offline/Genuine/001_01.png": b"",
            "SOURCE_A/Offline/Forgeries/0100001_01.png": b"",
            "SOURCE_B/INDEX": f"1\n{uuid}\n".encode(),
            f"SOURCE_B/3/{uuid[:8]}": b"",
        },
    )
    result = dg.materialize([signature_warehouse], resources=resources(tmp_path / "wh", source))
    (check,) = result.get_asset_check_evaluations()
    assert check.passed
    assert pl.read_parquet(tmp_path / "wh" / REJECTS / "data.parquet").height == 0


def test_only_the_selected_table_is_written(tmp_path: Path) -> None:
    result = dg.materialize(
        [signature_warehouse], resources=resources(tmp_path / "wh"), selection=[REGISTERED]
    )
    assert result.success
    assert (tmp_path / "wh" / REGISTERED / "data.parquet").is_file()
    assert not (tmp_path / "wh" / REJECTS).exists()


def failure_description(result: dg.ExecuteInProcessResult) -> str:
    (event,) = result.get_step_failure_events()
    data = event.step_failure_data.user_failure_data
    assert data is not None
    return str(data.description)


def test_a_missing_source_dir_stops_the_run_naming_the_setting(tmp_path: Path) -> None:
    result = dg.materialize(
        [signature_warehouse],
        resources=resources(tmp_path / "wh", tmp_path / "absent"),
        raise_on_error=False,
    )
    assert not result.success
    assert failure_description(result) == (
        f"SIGNATURES_SOURCE_DIR ({tmp_path / 'absent'}) is not a directory: point it at the "
        "folder holding SOURCE_A/ and SOURCE_B/."
    )


def test_a_file_url_names_the_local_source_dir(tmp_path: Path) -> None:
    assert SignatureSourcesResource(source_dir=f"file://{BUNDLED}").location.local == BUNDLED
    assert SignatureSourcesResource(source_dir=f"local://{BUNDLED}").location.local == BUNDLED
    assert SignatureSourcesResource(source_dir=str(BUNDLED)).location.local == BUNDLED
    warehouse = tmp_path / "wh"
    sources = resources(warehouse) | {
        "signature_sources": SignatureSourcesResource(source_dir=f"file://{BUNDLED}")
    }
    assert dg.materialize([signature_warehouse], resources=sources).success
    assert pl.read_parquet(warehouse / REGISTERED / "data.parquet").height == 20


def test_names_that_are_not_utf8_are_rejects_and_the_run_succeeds(tmp_path: Path) -> None:
    source = Path(shutil.copytree(BUNDLED, tmp_path / "src"))
    (source / "SOURCE_A/Online/Genuine" / os.fsdecode(b"x\xff.HWR")).touch()
    (source / "SOURCE_B" / os.fsdecode(b"z\xff")).touch()
    warehouse = tmp_path / "wh"
    for _ in range(2):  # the run after it as well
        result = dg.materialize([signature_warehouse], resources=resources(warehouse, source))
        assert result.success
        rejects = pl.read_parquet(warehouse / REJECTS / "data.parquet")
        assert rejects.height == 19 + 2
        assert rejects.filter(pl.col("source_path").str.contains("xff")).rows() == [
            ("SOURCE_A", "Online/Genuine/x\\xff.HWR", None, NOT_UTF8, "rejected"),
            ("SOURCE_B", "z\\xff", None, NOT_UTF8, "rejected"),
        ]
        assert pl.read_parquet(warehouse / REGISTERED / "data.parquet").height == 20


def test_an_unreachable_database_stops_the_run_naming_the_setting(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2"
    result = dg.materialize(
        [signature_warehouse], resources=resources(tmp_path / "wh", url=url), raise_on_error=False
    )
    assert not result.success
    assert failure_description(result).startswith(
        "Cannot reach the signature database at SIGNATURES_DB_URL "
        "(postgresql+psycopg://postgres@127.0.0.1:9/none?connect_timeout=2)"
    )


def test_build_defs_wires_the_resources_from_settings(tmp_path: Path) -> None:
    settings = Settings(
        purchases_source_dir=str(tmp_path),
        signatures_source_dir=str(BUNDLED),
        warehouse_dir=str(tmp_path / "wh"),
        signatures_db_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
    )
    defs = build_defs(settings)
    merged = dg.Definitions.merge(
        defs,
        dg.Definitions(resources={"io_manager": ParquetIOManager(base_dir=str(tmp_path / "wh"))}),
    )
    dg.Definitions.validate_loadable(merged)
    graph = merged.resolve_asset_graph()
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == {
        "source_a",
        "source_b",
        REGISTERED,
        REJECTS,
        "signature_dataset",
        "signature_trials",
    }
    result = merged.resolve_implicit_global_asset_job_def().execute_in_process()
    assert result.success
    assert (tmp_path / "db.sqlite").is_file()
    assert (tmp_path / "wh" / "signature_assets" / "sha256").is_dir()
    assert len(list((tmp_path / "wh" / "signature_versions").iterdir())) == 1


@pytest.mark.postgres
def test_the_assets_run_against_postgresql(tmp_path: Path, postgres_url: str) -> None:
    result = dg.materialize(
        [signature_warehouse], resources=resources(tmp_path / "wh", url=postgres_url)
    )
    assert metadata_of(result, REGISTERED)["dagster/row_count"] == 20
