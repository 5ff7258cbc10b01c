"""The layout a Dagster engineer expects: the Dagster layer in the `defs/` folder that `dg`
loads and scaffolds into, the pure core beside it without any Dagster import."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import dagster as dg
import pytest

from assets_pkg.definitions import build_definitions, defs_folder
from assets_pkg.shared.settings import PROJECT_ROOT, Settings

DG = Path(sys.executable).with_name("dg")
SOURCES = {"customers_csv", "products_csv", "purchase_feed", "source_a", "source_b"}


def _project_copy(tmp_path: Path) -> Path:
    """The tracked files of the checkout but the sample data, under tmp_path."""
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT_ROOT, capture_output=True, check=True
    ).stdout.decode()
    copy = tmp_path / "project"
    for name in filter(None, tracked.split("\0")):
        if name.startswith("data/"):
            continue
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(PROJECT_ROOT / name, target)
    return copy


def _dg(copy: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`dg` run in the copy, importing the copy's package (not the checkout's)."""
    env = {
        **os.environ,
        "VIRTUAL_ENV": str(Path(sys.executable).parent.parent),
        "PYTHONPATH": str(copy),
        "DAGSTER_HOME": str(tmp_path),
        "WAREHOUSE_DIR": str(tmp_path / "warehouse"),
    }
    return subprocess.run(
        [str(DG), *args], cwd=copy, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_dg_config_names_the_defs_folder() -> None:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["dg"]["project"]
    assert project["defs_module"] == "assets_pkg.defs"
    assert (PROJECT_ROOT / "assets_pkg" / "defs").is_dir()
    assert project["code_location_target_module"] == "assets_pkg.definitions"


def _keys(definitions: dg.Definitions) -> set[str]:
    keys: set[str] = set()
    for asset in definitions.assets or []:
        if isinstance(asset, dg.AssetSpec):
            keys.add(asset.key.to_user_string())
        elif isinstance(asset, dg.AssetsDefinition):
            keys |= {key.to_user_string() for key in asset.keys}
    return keys


def test_the_code_location_holds_what_the_defs_folder_defines(tmp_path: Path) -> None:
    folder = defs_folder()
    # The module-level definitions of defs/: the signature assets and the retries sensor.
    assert {"source_a", "source_b", "registered_signatures", "signature_dataset"} <= _keys(folder)
    assert [sensor.name for sensor in folder.sensors or []] == ["stranded_retries_sensor"]
    settings = Settings(
        purchases_source_dir=str(tmp_path / "purchases"),
        signatures_source_dir=str(tmp_path / "signatures"),
        warehouse_dir=str(tmp_path / "warehouse"),
        signatures_db_url=f"sqlite:///{tmp_path / 'signatures.db'}",
    )
    location = {
        key.to_user_string() for key in build_definitions(settings).resolve_all_asset_keys()
    }
    assert _keys(folder) | SOURCES | {"weekly_purchase_counts"} <= location


def test_dg_scaffold_writes_a_new_asset_into_the_defs_folder(tmp_path: Path) -> None:
    copy = _project_copy(tmp_path)
    done = _dg(copy, tmp_path, "scaffold", "defs", "dagster.asset", "probe.py")
    assert done.returncode == 0, done.stderr
    assert "def probe(" in (copy / "assets_pkg" / "defs" / "probe.py").read_text()


@pytest.mark.slow
def test_a_scaffolded_asset_joins_the_code_location_beside_the_sources(tmp_path: Path) -> None:
    copy = _project_copy(tmp_path)
    assert _dg(copy, tmp_path, "scaffold", "defs", "dagster.asset", "probe.py").returncode == 0
    listed = _dg(copy, tmp_path, "list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    keys = {asset["asset_key"] for asset in json.loads(listed.stdout)["assets"]}
    assert {"probe", *SOURCES, "weekly_purchase_counts", "registered_signatures"} <= keys


CORE = ("purchases", "signatures", "shared")
"""The packages beside `defs/`: the pure core and what it shares, with no Dagster import."""


def _core_modules() -> list[str]:
    package = PROJECT_ROOT / "assets_pkg"
    return sorted(
        ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts).removesuffix(".__init__")
        for folder in CORE
        for path in (package / folder).rglob("*.py")
    )


def test_the_core_imports_no_dagster() -> None:
    modules = _core_modules()
    assert "assets_pkg.purchases.parse" in modules
    assert "assets_pkg.signatures.service" in modules
    assert "assets_pkg.shared.layout" in modules
    program = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "tops = {name.split('.')[0] for name in sys.modules}\n"
        "print(sorted(top for top in tops if top.startswith('dagster')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"


def test_the_dagster_layer_lives_under_defs() -> None:
    # A module that imports Dagster outside defs/ is either the code location's entry point
    # or a command-line tool that reads the instance.
    outside = sorted(
        str(path.relative_to(PROJECT_ROOT))
        for path in (PROJECT_ROOT / "assets_pkg").rglob("*.py")
        if "defs" not in path.relative_to(PROJECT_ROOT).parts
        and ("import dagster" in path.read_text() or "from dagster" in path.read_text())
    )
    assert outside == ["assets_pkg/definitions.py", "assets_pkg/summary.py"]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("assets_pkg.purchases.generate", "tools.generate_purchases"),
        ("assets_pkg.signatures.generate", "tools.generate_signatures"),
    ],
)
def test_the_generators_earlier_commands_still_run_them(old: str, new: str) -> None:
    """`python -m assets_pkg.purchases.generate` was the documented command: it still runs
    the generator that moved to tools/."""
    shown = subprocess.run(
        [sys.executable, "-m", old, "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.startswith(f"usage: python -m {new} ")


def test_the_defs_folder_is_loaded_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """One `dagster` command builds the definitions about six times; walking and loading
    the folder each time cost 1.5 s of a one-week run."""
    import assets_pkg.definitions as definitions

    calls: list[object] = []
    real = dg.load_from_defs_folder

    def counting(**kwargs: object) -> dg.Definitions:
        calls.append(kwargs)
        return real(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(dg, "load_from_defs_folder", counting)
    definitions.defs_folder.cache_clear()
    settings = Settings.from_env({})
    first, second = build_definitions(settings), build_definitions(settings)
    assert len(calls) == 1
    assert first.resolve_asset_graph().get_all_asset_keys() == (
        second.resolve_asset_graph().get_all_asset_keys()
    )
