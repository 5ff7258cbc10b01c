"""The read side against an S3 warehouse (moto on loopback) with PostgreSQL: the assets write
the dataset, its trials and the version snapshots to the bucket, and `SignatureWarehouse`
reads them back, with images from the bucket's image store."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from assets_pkg.shared import storage
from assets_pkg.signatures.read import SignatureWarehouse
from assets_pkg_tests.signatures.conftest import postgres_url  # noqa: F401 - a fixture
from assets_pkg_tests.signatures.helpers import BUNDLED
from assets_pkg_tests.signatures.read_helpers import build, dataset_version_of, settings_for


@pytest.mark.postgres
def test_the_reader_reads_an_s3_warehouse_with_postgresql(
    s3_bucket: str,
    postgres_url: str,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    sources = Path(shutil.copytree(BUNDLED, tmp_path / "sources"))
    remote = f"{s3_bucket}/warehouse"
    settings = settings_for(remote, postgres_url, sources)
    version = dataset_version_of(build(settings))

    options = storage.storage_options(remote).polars
    for asset in ("signature_dataset", "signature_trials"):
        table = pl.scan_parquet(
            f"{remote}/{asset}/**/*.parquet", hive_partitioning=True, storage_options=options
        ).collect()
        assert table.height > 0
        assert set(table["dataset_version"]) == {version}

    with SignatureWarehouse.open(settings) as reader:
        assert reader.versions() == [version]
        dataset = reader.dataset(version).collect()
        assert dataset.equals(reader.dataset().collect())
        online = reader.signees(source="SOURCE_A", subset="Online/Genuine")[0]
        first = reader.signatures(online.id)[0]
        expected = [
            [float(v) for v in line.split(",")]
            for line in (sources / "SOURCE_A" / first.source_path).read_text().splitlines()
            if line.strip()
        ]
        assert reader.points(first.id).tolist() == expected
        image = reader.signatures(reader.signees(subset="Offline/Genuine")[0].id)[0]
        assert (
            reader.image_bytes(image.id) == (sources / "SOURCE_A" / image.source_path).read_bytes()
        )
        arrays = reader.arrays(version)
        trials = reader.trials(version, split="dev", protocol="1vs1").collect()
        assert trials.height > 0
        for probe in trials["probe_id"]:
            if probe in arrays:
                assert isinstance(arrays[probe], np.ndarray)
