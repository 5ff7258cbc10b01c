"""The bench's dataset: its scales and the generated source folder it reads.

A scale is a number of customers and of days from ``START``; the data comes from the
project's generator (``tools.generate_purchases``, fixed seed and product count) and is
cached under ``.bench/data/<parameters>/`` with a ``<parameters>.complete.json`` marker
written once generation finished, so a second run reuses it. ``short_history`` links the
first weeks of a source into a folder of its own, for the incremental week at short history
(b'), ``week`` names a partition by its index and ``week_bytes`` measures the JSON a range
of weeks holds. ``density`` is the scale of the memory-by-density part: the same three weeks
(plus the two tolerance days) with a multiple of a scale's customers.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.purchases import BENCH_DIR
from tools.generate_purchases import GENERATOR_VERSION, generate

START = dt.date(2024, 1, 1)
SEED = 42
PRODUCTS = 1000
TOLERANCE_DAYS = 1
SHORT_HISTORY_WEEKS = 4
DENSITY_WEEKS = 3
DENSITIES = (1, 3, 10)
"""The memory-by-density part's multiples of the main scale's customers per week."""


@dataclass(frozen=True)
class Scale:
    customers: int
    days: int

    @property
    def weeks(self) -> int:
        return self.days // 7


# Two days beyond the last complete week, as at large scale (730 = 104 * 7 + 2), so that the
# last week's tolerance folder exists.
SCALES = {
    "large": Scale(50_000, 730),
    "medium": Scale(5_000, 26 * 7 + 2),
    "small": Scale(500, 4 * 7 + 2),
}


def week(index: int) -> str:
    """The partition key of the week `index` weeks after `START`."""
    return (START + dt.timedelta(weeks=index)).isoformat()


def density(scale: Scale, factor: int) -> Scale:
    """`factor` times `scale`'s customers over DENSITY_WEEKS weeks and the two days after
    them, as every scale ends (so the last week's tolerance folder exists)."""
    return Scale(scale.customers * factor, DENSITY_WEEKS * 7 + 2)


def week_bytes(source: Path, weeks: int) -> int:
    """The bytes of JSON Lines in the day folders of the first `weeks` weeks of `source`."""
    total = 0
    for index in range(weeks * 7):
        folder = source / "transactions" / f"d={START + dt.timedelta(days=index)}"
        if folder.is_dir():
            total += sum(part.stat().st_size for part in folder.iterdir() if part.is_file())
    return total


def dataset(scale: Scale, say: Callable[[str], None]) -> tuple[Path, dict[str, object]]:
    """The generated source folder for `scale`, generated once and then reused."""
    name = f"c{scale.customers}-d{scale.days}-p{PRODUCTS}-{START}-seed{SEED}-v{GENERATOR_VERSION}"
    folder = BENCH_DIR / "data" / name
    marker = folder.with_name(f"{name}.complete.json")
    if marker.exists() and folder.is_dir():
        summary: dict[str, object] = json.loads(marker.read_text())
        say(f"data: reusing {folder}")
        return folder, summary
    if folder.exists():
        shutil.rmtree(folder)
    say(f"data: generating {folder}")
    result = generate(
        folder,
        customers=scale.customers,
        start=START,
        days=scale.days,
        seed=SEED,
        products=PRODUCTS,
        progress=say,
    )
    summary = result.to_json()
    marker.write_text(json.dumps(summary, indent=2) + "\n")
    say(
        f"data: {result.transaction_bytes / 1e9:.2f} GB, {result.transactions:,} transactions, "
        f"{result.basket_items:,} basket items in {result.seconds:.1f} s"
    )
    return folder, summary


def short_history(source: Path, weeks: int, work: Path) -> Path:
    """A source folder holding only the first `weeks` weeks (+ the tolerance days).

    Its files are hard links to the full feed's (copies where the file system refuses links):
    the feed reader refuses symlinks that lead outside the source folder, so linked folders
    would make the weeks look empty.
    """
    target = work / f"source-{weeks}w"
    (target / "transactions").mkdir(parents=True)
    for name in ("customers.csv", "products.csv"):
        _link(source / name, target / name)
    for index in range(weeks * 7 + TOLERANCE_DAYS):
        folder = f"d={START + dt.timedelta(days=index)}"
        if (source / "transactions" / folder).exists():
            (target / "transactions" / folder).mkdir()
            for part in (source / "transactions" / folder).iterdir():
                _link(part, target / "transactions" / folder / part.name)
    return target


def _link(existing: Path, new: Path) -> None:
    try:
        os.link(existing, new)
    except OSError:
        shutil.copyfile(existing, new)
