"""The read side: `signature_dataset`, `signature_trials`, versions and `SignatureWarehouse`,
on the bundled sample and on an independent tree from the generator."""

from __future__ import annotations

import shutil
import tracemalloc
from pathlib import Path
from typing import Any

import dagster as dg
import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa

from assets_pkg.definitions import build_definitions
from assets_pkg.defs.resource_checks import SettingError
from assets_pkg.signatures import dataset as dataset_module
from assets_pkg.signatures.errors import StoreError
from assets_pkg.signatures.read import NotFoundError, SignatureWarehouse, open_read_only
from assets_pkg.signatures.splits import SplitSpec, split_groups
from assets_pkg.signatures.trials import build_trials

from .helpers import BUNDLED
from .read_helpers import (
    SIGNATURE_ASSETS,
    build,
    dataset_version_of,
    generated_tree,
    python_blocks,
    settings_for,
)

SOURCES = ["bundled", "generated"]


def source_tree(which: str, tmp_path: Path) -> Path:
    if which == "bundled":
        return Path(shutil.copytree(BUNDLED, tmp_path / "sources"))
    return generated_tree(tmp_path / "sources")


def hwr_values(path: Path) -> list[tuple[float, float, float]]:
    """The file's points, read independently of the project's parser."""
    rows = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        if line.strip(" \t\r"):
            x, y, z = (float(value) for value in line.split(","))
            rows.append((x, y, z))
    return rows


def check_dataset(dataset: pl.DataFrame, trials: pl.DataFrame, sources: Path) -> None:
    """Every acceptance property of the issue that one materialisation must hold."""
    online = dataset.filter(pl.col("kind") == "xyz")
    assert online.height > 0
    for row in online.iter_rows(named=True):
        file = sources / row["source"] / row["source_path"]
        assert [(p["x"], p["y"], p["z"]) for p in row["points"]] == hwr_values(file)
        assert row["n_points"] == len(row["points"])
    assert dataset.filter(pl.col("kind") == "image")["points"].is_null().all()

    # Forgeries are labelled and linked; genuine signatures imitate nobody.
    genuine = dataset.filter(pl.col("label") == "genuine")
    genuine_ids = dict(genuine.select("signee_key", "signee_id").iter_rows())
    by_writer = {
        row["writer_id"]: row for row in dataset.filter(pl.col("source") == "SOURCE_B").to_dicts()
    }
    parents = index_parents(sources)
    for row in dataset.iter_rows(named=True):
        if row["source"] == "SOURCE_A":
            forged = "/Forgeries/" in f"/{row['source_path']}"
            assert row["label"] == ("skilled_forgery" if forged else "genuine"), row
            if forged:
                medium = row["source_path"].split("/")[0]
                name = row["source_path"].rsplit("/", 1)[1]
                assert row["reference_key"] == f"SOURCE_A/{medium}/Genuine/{name[4:7]}"
        else:
            parent = parents.get(row["writer_id"])
            assert row["label"] == ("genuine" if parent is None else "skilled_forgery"), row
            if parent is not None and parent in by_writer:
                assert row["reference_signature_id"] == by_writer[parent]["signature_id"]
        if row["label"] == "genuine":
            assert row["reference_signee_id"] is None
        else:
            assert row["reference_signee_id"] == genuine_ids.get(row["reference_key"]) or (
                row["source"] == "SOURCE_B"  # a parent that is itself a forgery
                and row["reference_signee_id"] == by_writer[parents[row["writer_id"]]]["signee_id"]
            )
    assert (
        dataset.filter(pl.col("label") == "skilled_forgery")["reference_signee_id"]
        .is_not_null()
        .any()
    )

    # No reference signee in two splits: its genuine signatures and its forgeries.
    reference = pl.coalesce("reference_signee_id", "signee_id")
    owners = dataset.with_columns(
        reference=pl.when(pl.col("label") == "genuine").then("signee_id").otherwise(reference)
    )
    spread = owners.group_by("reference").agg(pl.col("split").n_unique().alias("splits"))
    assert spread["splits"].max() == 1
    assert dataset.group_by("split_group").agg(pl.col("split").n_unique())["split"].max() == 1

    # Trials name only signatures of their own split.
    assert trials.height > 0
    split_of = dict(dataset.select("signature_id", "split").iter_rows())
    for row in trials.iter_rows(named=True):
        for signature_id in [*row["enrolment_ids"], row["probe_id"]]:
            assert split_of[signature_id] == row["split"], row
    assert set(trials["label"]) <= {"genuine", "skilled_forgery", "random_forgery"}
    assert trials["dataset_version"].n_unique() == 1
    assert trials["dataset_version"][0] == dataset["dataset_version"][0]


def index_parents(sources: Path) -> dict[str, str | None]:
    """SOURCE_B's INDEX as lower-case uuid -> parent uuid (well-formed lines only)."""
    parents: dict[str, str | None] = {}
    lines = (sources / "SOURCE_B" / "INDEX").read_text(errors="replace").splitlines()[1:]
    for line in lines:
        fields = line.split()
        if 1 <= len(fields) <= 2:
            parents[fields[0].lower()] = fields[1].lower() if len(fields) == 2 else None
    return parents


@pytest.mark.parametrize("which", SOURCES)
def test_dataset_and_trials_hold_the_acceptance_properties_and_versions_follow_content(
    which: str, tmp_path: Path
) -> None:
    sources = source_tree(which, tmp_path)
    warehouse = tmp_path / "wh"
    settings = settings_for(str(warehouse), f"sqlite:///{warehouse / 'sig.db'}", sources)
    first = dataset_version_of(build(settings))
    dataset = pl.read_parquet(warehouse / "signature_dataset" / "data.parquet")
    trials = pl.read_parquet(warehouse / "signature_trials" / "data.parquet")
    check_dataset(dataset, trials, sources)
    if which == "generated":
        assert set(trials["protocol"]) == {"1vs1", "4vs1"}
        assert set(trials["label"]) == {"genuine", "skilled_forgery", "random_forgery"}
        assert set(dataset["split"]) == {"dev", "eval"}

    # An unchanged re-run: the same version. A changed file: another one, the old kept.
    assert dataset_version_of(build(settings)) == first
    changed = sorted((sources / "SOURCE_A" / "Online" / "Genuine").glob("*_01.HWR"))[0]
    changed.write_bytes(changed.read_bytes().rstrip(b"\n") + b"\n1.5,2.5,0.25\n")
    second = dataset_version_of(build(settings))
    assert second != first
    check_dataset(
        pl.read_parquet(warehouse / "signature_dataset" / "data.parquet"),
        pl.read_parquet(warehouse / "signature_trials" / "data.parquet"),
        sources,
    )
    with SignatureWarehouse.open(settings) as reader:
        assert reader.versions() == sorted([first, second])
        path = f"Online/Genuine/{changed.name}"
        old = reader.dataset(first).filter(pl.col("source_path") == path).collect()
        new = reader.dataset().filter(pl.col("source_path") == path).collect()
        assert len(new["points"][0]) == len(old["points"][0]) + 1
        assert reader.dataset(first).collect().equals(dataset)
        assert reader.trials(first).collect().equals(trials)
        with pytest.raises(NotFoundError, match="known versions"):
            reader.dataset("0" * 64)


def test_the_same_content_in_a_fresh_database_has_the_same_version(tmp_path: Path) -> None:
    """The version depends on content and split, not on the ids a database hands out."""
    sources = generated_tree(tmp_path / "sources")
    versions = []
    for name in ("a", "b"):
        warehouse = tmp_path / name
        settings = settings_for(str(warehouse), f"sqlite:///{warehouse / 'sig.db'}", sources)
        versions.append(dataset_version_of(build(settings)))
    assert versions[0] == versions[1]


def test_the_split_is_seeded_configurable_and_stable_as_signees_arrive(tmp_path: Path) -> None:
    sources = generated_tree(tmp_path / "sources")
    warehouse = tmp_path / "wh"
    settings = settings_for(str(warehouse), f"sqlite:///{warehouse / 'sig.db'}", sources)
    build(settings)
    before = pl.read_parquet(warehouse / "signature_dataset" / "data.parquet")

    # A new genuine writer and a forgery of it arrive: nobody else moves.
    genuine = sources / "SOURCE_A" / "Online" / "Genuine"
    (genuine / "999_01.HWR").write_text("1,2,3\n")
    (sources / "SOURCE_A" / "Online" / "Forgeries" / "0999999_1.HWR").write_text("3,2,1\n")
    build(settings)
    after = pl.read_parquet(warehouse / "signature_dataset" / "data.parquet")
    assert after.height == before.height + 2
    kept = before.select("source_path", "split").join(
        after.select("source_path", "split"), on="source_path", suffix="_after"
    )
    assert kept.height == before.height
    assert (kept["split"] == kept["split_after"]).all()
    newcomers = after.filter(pl.col("source_path").str.contains("999"))
    assert newcomers["split"].n_unique() == 1

    # Another seed or ratio is a run's configuration; out of range is one sentence.
    def splits(seed: int, ratio: float) -> dict[str, str]:
        run_config = {
            "resources": {
                "signature_datasets": {
                    "config": {
                        "seed": seed,
                        "dev_ratio": ratio,
                        "versions_root": str(warehouse / "signature_versions"),
                    }
                }
            }
        }
        build(settings, run_config)
        frame = pl.read_parquet(warehouse / "signature_dataset" / "data.parquet")
        return dict(frame.select("split_group", "split").iter_rows())

    assert set(splits(0, 1.0).values()) == {"dev"}
    assert set(splits(0, 0.0).values()) == {"eval"}
    assert splits(1, 0.5) != splits(2, 0.5)
    with pytest.raises(Exception, match=r"dev_ratio \(signature_datasets\) must lie between"):
        splits(0, 1.5)


def test_split_groups_follow_a_chain_of_forgeries_to_its_genuine_signer() -> None:
    own = {"a": "A", "b": "A", "c": "B", "loop1": "X", "loop2": "Y"}
    parent: dict[str, str | None] = {
        "a": None,
        "b": "a",
        "c": "b",
        "loop1": "loop2",
        "loop2": "loop1",
    }
    forged = {"a": False, "b": True, "c": True, "loop1": True, "loop2": True}
    own["tail"], parent["tail"], forged["tail"] = "Z", "loop1", True
    groups = split_groups(own, parent, forged)
    assert groups["a"] == groups["b"] == groups["c"] == "A"
    # A loop has no genuine end: its members and the chains into it share one group.
    assert groups["loop1"] == groups["loop2"] == groups["tail"] == "X"
    assert SplitSpec(seed=5).split_of("A") == SplitSpec(seed=5).split_of("A")
    with pytest.raises(ValueError, match="dev_ratio"):
        SplitSpec(dev_ratio=-0.1)


def test_trials_follow_the_protocol_rules() -> None:
    """1vs1 needs 2 genuine signatures, 4vs1 needs 5; random forgeries are genuine
    signatures of other signees of the same medium and split."""

    def row(
        sid: str, signee: str, label: str, medium: str = "online", ref: str | None = None
    ) -> dict[str, object]:
        return {
            "signature_id": sid,
            "signee_id": signee,
            "signee_key": f"K/{signee}",
            "split": "dev",
            "medium": medium,
            "label": label,
            "reference_signee_id": ref,
            "dataset_version": "v",
        }

    rows = [row(f"a{i}", "A", "genuine") for i in range(5)]
    rows += [row(f"b{i}", "B", "genuine") for i in range(2)]
    rows += [row("c0", "C", "genuine"), row("f0", "F", "skilled_forgery", ref="A")]
    rows += [row("img", "D", "genuine", medium="offline")]
    trials = build_trials(pl.DataFrame(rows), seed=0)
    four = trials.filter(pl.col("protocol") == "4vs1")
    assert set(four["signee_id"]) == {"A"}
    assert four["enrolment_ids"][0].to_list() == ["a0", "a1", "a2", "a3"]
    assert dict(four.group_by("label").len().iter_rows()) == {
        "genuine": 1,
        "skilled_forgery": 1,
        "random_forgery": 3,
    }
    one = trials.filter(pl.col("protocol") == "1vs1")
    assert set(one["signee_id"]) == {"A", "B"}  # C has one genuine signature only
    randoms = one.filter(pl.col("label") == "random_forgery")
    others = {"a0", "a1", "a2", "a3", "a4", "c0"}  # B's pool: 6 candidates, all drawn
    assert set(randoms.filter(pl.col("signee_id") == "B")["probe_id"]) == others
    assert "img" not in set(trials["probe_id"])  # another medium
    for signee, probe in randoms.select("signee_id", "probe_id").iter_rows():
        assert not probe.startswith(signee.lower())
    assert trials.equals(build_trials(pl.DataFrame(rows), seed=0))


# Reads never write -----------------------------------------------------------------------------


def test_opening_a_missing_sqlite_database_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none" / "sig.db"
    with pytest.raises(StoreError, match=r"no signature database at SIGNATURES_DB_URL"):
        open_read_only(f"sqlite:///{missing}")
    assert not (tmp_path / "none").exists()


def test_a_database_without_the_warehouse_is_refused_and_left_empty(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        sa.create_engine(database_url).connect().close()  # an empty SQLite file
    with pytest.raises(StoreError, match="holds no signature warehouse"):
        open_read_only(database_url)
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        assert sa.inspect(connection).get_table_names() == []
    engine.dispose()


def test_an_older_schema_is_refused_not_upgraded(database_url: str) -> None:
    from assets_pkg.signatures.database import SignatureDatabase

    writer = SignatureDatabase.from_url(database_url)
    writer.ensure_schema()
    with writer.engine.begin() as connection:
        connection.execute(sa.text("UPDATE schema_version SET version = 1"))
    with pytest.raises(StoreError, match="schema version 1, older than"):
        open_read_only(database_url)
    with writer.engine.connect() as connection:
        assert connection.execute(sa.text("SELECT version FROM schema_version")).scalar() == 1
    writer.dispose()


def test_the_reader_answers_without_writing_and_its_session_refuses_writes(
    database_url: str, tmp_path: Path
) -> None:
    sources = Path(shutil.copytree(BUNDLED, tmp_path / "sources"))
    warehouse = tmp_path / "wh"
    build(settings_for(str(warehouse), database_url, sources))
    with SignatureWarehouse.at(str(warehouse), database_url) as reader:
        online = reader.signees(source="SOURCE_A", subset="Online/Genuine")
        assert [s.key for s in online][:2] == [
            "SOURCE_A/Online/Genuine/001",
            "SOURCE_A/Online/Genuine/002",
        ]
        assert reader.signees(writer_id="001", subset="Offline/Genuine")[0].directory == (
            "Offline/Genuine"
        )
        first = reader.signatures(online[0].id)[0]
        assert first.source_path == "Online/Genuine/001_01.HWR"
        points = reader.points(first.id)
        assert points.dtype == np.float64
        assert points.shape[1] == 3
        assert points.tolist() == [
            list(p) for p in hwr_values(sources / "SOURCE_A" / first.source_path)
        ]
        image = reader.signatures(reader.signees(subset="Offline/Genuine")[0].id)[0]
        assert (
            reader.image_bytes(image.id) == (sources / "SOURCE_A" / image.source_path).read_bytes()
        )
        with pytest.raises(NotFoundError, match="has no points"):
            reader.points(image.id)
        with pytest.raises(NotFoundError, match="no signature"):
            reader.signature("01ARZ3NDEKTSV4RRFFQ69G5FAV")
        arrays = reader.arrays(split="dev") | reader.arrays(split="eval")
        assert np.array_equal(arrays[first.id], points)
        rows = list(reader.iter_dataset())
        assert len(rows) == reader.dataset().select(pl.len()).collect().item()
        with reader._db.engine.connect() as connection, pytest.raises(sa.exc.DBAPIError):
            connection.execute(sa.text("DELETE FROM points"))


# The documentation's examples ----------------------------------------------------------------


def test_the_examples_of_reading_the_warehouse_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "wh"
    url = f"sqlite:///{warehouse / 'signatures.db'}"
    sources = Path(shutil.copytree(BUNDLED, tmp_path / "s"))
    settings = settings_for(str(warehouse), url, sources)
    first = dataset_version_of(build(settings))
    # Two versions, the current one not the last by name: the examples must read the current.
    changed = sources / "SOURCE_A" / "Online" / "Genuine" / "001_01.HWR"
    original = changed.read_bytes()
    changed.write_bytes(original.rstrip(b"\n") + b"\n1.5,2.5,0.25\n")
    second = dataset_version_of(build(settings))
    current = second
    if second > first:
        changed.write_bytes(original)
        current = dataset_version_of(build(settings))
    assert current != max(first, second)
    monkeypatch.setenv("WAREHOUSE_DIR", str(warehouse))
    monkeypatch.setenv("SIGNATURES_DB_URL", url)
    docs = Path(__file__).resolve().parents[2] / "docs" / "signatures.md"
    blocks = python_blocks(docs, "## Reading the warehouse")
    assert len(blocks) == 3
    namespaces = []
    for block in blocks:
        namespace: dict[str, object] = {}
        exec(compile(block, str(docs), "exec"), namespace)
        namespaces.append(namespace)
    points = namespaces[0]["points"]
    assert isinstance(points, np.ndarray)
    assert points.dtype == np.float64
    assert isinstance(namespaces[0]["image"], bytes)
    assert namespaces[1]["version"] == current
    probes, is_genuine = namespaces[1]["probes"], namespaces[1]["is_genuine"]
    assert isinstance(probes, list)
    assert isinstance(is_genuine, np.ndarray)
    assert len(probes) == len(is_genuine) > 0
    per_split = namespaces[2]["per_split"]
    assert isinstance(per_split, list)
    assert {row[0] for row in per_split} <= {"dev", "eval"}
    total = pl.read_parquet(warehouse / "signature_dataset" / "data.parquet").height
    assert sum(row[2] for row in per_split) == total


# Hostile shapes of data ------------------------------------------------------------------------


def _uuid(letter: str) -> str:
    return letter * 8 + "-0000-4000-8000-000000000000"


def _source_b_tree(root: Path, letters: str) -> Path:
    for folder in ("SOURCE_A/Online/Genuine", "SOURCE_A/Online/Forgeries", "SOURCE_B"):
        (root / folder).mkdir(parents=True)
    for letter in letters:
        uuid = _uuid(letter)
        (root / "SOURCE_B" / uuid[0]).mkdir(parents=True, exist_ok=True)
        (root / "SOURCE_B" / uuid[0] / uuid[:8]).write_bytes(f"image {letter}".encode())
    return root


def _index(root: Path, lines: list[str]) -> None:
    (root / "SOURCE_B" / "INDEX").write_text(f"{len(lines)}\n" + "\n".join(lines) + "\n")


def test_a_loop_of_forgeries_left_by_index_changes_stays_in_one_split(tmp_path: Path) -> None:
    """Run 1: b forges a. Run 2: INDEX drops b's line (b stays registered) and makes a a
    forgery of b. The database then holds a loop a -> b -> a: each imitates the other, so both
    must share a split, whatever the seed."""
    sources = _source_b_tree(tmp_path / "sources", "abcdef")
    a, b = _uuid("a"), _uuid("b")
    others = [_uuid(letter) for letter in "cdef"]
    _index(sources, [a, f"{b} {a}", *others])
    warehouse = tmp_path / "wh"
    settings = settings_for(str(warehouse), f"sqlite:///{warehouse / 'sig.db'}", sources)
    build(settings)
    _index(sources, [f"{a} {b}", *others])
    for seed in range(8):
        run_config = {
            "resources": {
                "signature_datasets": {
                    "config": {
                        "seed": seed,
                        "dev_ratio": 0.5,
                        "versions_root": str(warehouse / "signature_versions"),
                    }
                }
            }
        }
        build(settings, run_config)
        dataset = pl.read_parquet(warehouse / "signature_dataset" / "data.parquet")
        loop = dataset.filter(pl.col("source_path").is_in(["a/aaaaaaaa", "b/bbbbbbbb"]))
        assert set(loop["label"]) == {"skilled_forgery"}
        assert loop["split"].n_unique() == 1, (seed, loop.select("source_path", "split_group"))
        split_of = dict(dataset.select("signee_id", "split").iter_rows())
        for reference, split in loop.select("reference_signee_id", "split").iter_rows():
            assert split_of[reference] == split


def test_enrolment_takes_a_writers_first_samples_by_number(tmp_path: Path) -> None:
    """Sample numbers need not be padded (`002_1` ... `002_12`): `file_order` reads them as
    numbers, so 4vs1 enrols samples 1 to 4 (not 1, 10, 11, 12), and the dataset and the
    reader list them in that order."""
    sources = _source_b_tree(tmp_path / "sources", "")
    _index(sources, [])
    genuine = sources / "SOURCE_A" / "Online" / "Genuine"
    for sample in range(1, 13):
        (genuine / f"002_{sample}.HWR").write_text(f"{sample},{sample},{sample}\n")
    warehouse = tmp_path / "wh"
    settings = settings_for(str(warehouse), f"sqlite:///{warehouse / 'sig.db'}", sources)
    build(settings)
    dataset = pl.read_parquet(warehouse / "signature_dataset" / "data.parquet")
    names = [f"Online/Genuine/002_{sample}.HWR" for sample in range(1, 13)]
    assert dataset["source_path"].to_list() == names
    trials = pl.read_parquet(warehouse / "signature_trials" / "data.parquet")
    path_of = dict(dataset.select("signature_id", "source_path").iter_rows())
    four = trials.filter(pl.col("protocol") == "4vs1")
    assert [path_of[i] for i in four["enrolment_ids"][0]] == names[:4]
    assert [path_of[i] for i in four.filter(pl.col("label") == "genuine")["probe_id"]] == names[4:]
    with SignatureWarehouse.open(settings) as reader:
        (signee,) = reader.signees()
        assert [s.source_path for s in reader.signatures(signee.id)] == names


def test_an_empty_warehouse_publishes_an_empty_version_that_can_be_read(tmp_path: Path) -> None:
    sources = _source_b_tree(tmp_path / "sources", "")
    _index(sources, [])
    warehouse = tmp_path / "wh"
    settings = settings_for(str(warehouse), f"sqlite:///{warehouse / 'sig.db'}", sources)
    result = build(settings)
    version = dataset_version_of(result)
    (trials_event,) = [
        m
        for m in result.get_asset_materialization_events()
        if m.asset_key == dg.AssetKey("signature_trials")
    ]
    assert trials_event.materialization.metadata["dataset_version"].value == version
    with SignatureWarehouse.open(settings) as reader:
        assert reader.signees() == []
        assert reader.versions() == [version]
        assert reader.current_version() is None
        assert reader.dataset(version).collect().height == 0
        assert reader.trials(version).collect().height == 0
        assert list(reader.iter_dataset()) == []
        assert reader.arrays() == {}


def test_trials_with_another_seed_than_their_dataset_fail_in_one_sentence(
    tmp_path: Path,
) -> None:
    """signature_trials alone, with a seed the dataset was not split with, would draw other
    trials under the dataset's version (whose snapshot is kept): it fails instead."""
    sources = generated_tree(tmp_path / "sources")
    warehouse = tmp_path / "wh"
    settings = settings_for(str(warehouse), f"sqlite:///{warehouse / 'sig.db'}", sources)
    version = dataset_version_of(build(settings))
    kept = pl.read_parquet(warehouse / "signature_trials" / "data.parquet")
    defs = build_definitions(settings)
    run_config = {
        "resources": {
            "signature_datasets": {
                "config": {"seed": 5, "versions_root": str(warehouse / "signature_versions")}
            }
        }
    }
    assets: list[Any] = list(defs.assets or [])
    result = dg.materialize(
        assets,
        resources=dict(defs.resources or {}),
        selection=["signature_trials"],
        run_config=run_config,
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message.strip()  # type: ignore[union-attr]
    assert f"signature_dataset (dataset_version {version}) was split with another seed" in message
    assert "\n" not in message
    assert pl.read_parquet(warehouse / "signature_trials" / "data.parquet").equals(kept)
    with SignatureWarehouse.open(settings) as reader:
        assert reader.trials(version).collect().equals(kept)


@pytest.mark.parametrize(
    ("field", "value", "sentence"),
    [
        ("seed", -1, "seed (signature_datasets) must be 0 or more, got -1."),
        ("dev_ratio", 1.5, "dev_ratio (signature_datasets) must lie between 0 and 1, got 1.5."),
        (
            "dev_ratio",
            float("nan"),
            "dev_ratio (signature_datasets) must lie between 0 and 1, got nan.",
        ),
        (
            "versions_root",
            "s3:/bucket/versions",
            "WAREHOUSE_DIR (signature_datasets.versions_root) (s3:/bucket/versions) is a URL "
            "with one slash after s3: write s3://bucket/versions.",
        ),
    ],
)
def test_the_split_settings_are_refused_from_run_config_before_any_step(
    tmp_path: Path, field: str, value: object, sentence: str
) -> None:
    """The project's rule for every resource field: a pydantic validator raising a
    one-sentence SettingError, so a bad run config fails before any step does work."""
    warehouse = tmp_path / "wh"
    settings = settings_for(str(warehouse), f"sqlite:///{warehouse / 'sig.db'}", BUNDLED)
    config: dict[str, object] = {"versions_root": str(warehouse / "signature_versions")}
    config[field] = value
    defs = build_definitions(settings)
    assets: list[Any] = list(defs.assets or [])
    with pytest.raises(SettingError) as refused:
        dg.materialize(
            assets,
            resources=dict(defs.resources or {}),
            selection=SIGNATURE_ASSETS,
            run_config={"resources": {"signature_datasets": {"config": config}}},
        )
    assert str(refused.value) == sentence
    assert not (warehouse / "sig.db").exists()
    assert not list(warehouse.rglob("*.parquet"))


def test_points_are_held_as_python_rows_one_batch_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """10,000 signatures of 250 points took 600 MB of Python rows when fetched at once; the
    points now come POINTS_BATCH rows at a time (Python's own allocations are measured: the
    polars frames live outside them)."""
    sources = _source_b_tree(tmp_path / "sources", "")
    _index(sources, [])
    genuine = sources / "SOURCE_A" / "Online" / "Genuine"
    line = "1.25,2.5,0.125\n"
    for writer in range(1, 5):
        (genuine / f"{writer:03d}_1.HWR").write_text(line * 10_000)
    warehouse = tmp_path / "wh"
    url = f"sqlite:///{warehouse / 'sig.db'}"
    build(settings_for(str(warehouse), url, sources))
    monkeypatch.setattr(dataset_module, "POINTS_BATCH", 500)
    database = open_read_only(url)
    try:
        tracemalloc.start()
        built = dataset_module.build_dataset(database, SplitSpec())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        database.dispose()
    assert built.frame["n_points"].to_list() == [10_000] * 4
    assert peak < 4_000_000, peak  # 40,000 rows at once: about 10 MB
