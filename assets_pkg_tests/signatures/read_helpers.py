"""Build a warehouse with the read side's assets, for the read tests (local and S3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from assets_pkg.definitions import build_definitions
from assets_pkg.shared.settings import PROJECT_ROOT, Settings
from tools.generate_signatures import ScaleSpec, generate

SIGNATURE_ASSETS = [
    "registered_signatures",
    "signature_rejects",
    "signature_dataset",
    "signature_trials",
]
SMALL_TREE = ScaleSpec(
    genuine_writers=8,
    genuine_samples=6,
    forgers=6,
    forgeries_per_forger=2,
    offline_share=0.5,
    points=30,
    index_signatures=12,
    seed=3,
)
"""An independent tree from the generator: 8 online and 4 offline writers with 6 samples each
(so 4vs1 applies), forgers, and a SOURCE_B INDEX with parents."""


def generated_tree(folder: Path, spec: ScaleSpec = SMALL_TREE) -> Path:
    generate(folder, spec)
    return folder


def settings_for(warehouse: str, database_url: str, source_dir: Path) -> Settings:
    return Settings(
        purchases_source_dir=str(PROJECT_ROOT / "data" / "sources" / "purchases"),
        signatures_source_dir=str(source_dir),
        warehouse_dir=warehouse,
        signatures_db_url=database_url,
    )


def build(
    settings: Settings, run_config: dict[str, Any] | None = None
) -> dg.ExecuteInProcessResult:
    """Materialise the signature assets (the ETL, then the dataset and its trials)."""
    defs = build_definitions(settings)
    assets: list[Any] = list(defs.assets or [])
    result = dg.materialize(
        assets,
        resources=dict(defs.resources or {}),
        selection=SIGNATURE_ASSETS,
        run_config=run_config,
    )
    assert result.success
    return result


def dataset_version_of(result: dg.ExecuteInProcessResult) -> str:
    (materialization,) = [
        m
        for m in result.get_asset_materialization_events()
        if m.asset_key == dg.AssetKey("signature_dataset")
    ]
    value = materialization.materialization.metadata["dataset_version"].value
    assert isinstance(value, str)
    return value


def python_blocks(document: Path, heading: str) -> list[str]:
    """The ```python blocks of one `## ` section of a Markdown file."""
    text = document.read_text(encoding="utf-8")
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end != -1 else None]
    blocks = section.split("```python\n")[1:]
    return [block.split("\n```", 1)[0] for block in blocks]
