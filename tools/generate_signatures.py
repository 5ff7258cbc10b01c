"""Generate SOURCE_A/SOURCE_B-like trees at scale, for the benchmark and for trying things out.

    python -m tools.generate_signatures OUT_DIR [--genuine-writers 1000] [--forgers 1000] ...

Deterministic for a given seed. Online files are random pen walks of `--points` points (give or
take 20 %); offline images and SOURCE_B files are small distinct byte strings (the samples are
blank too). Every name follows the convention and every file is valid, so every file registers.
"""

from __future__ import annotations

import argparse
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ScaleSpec:
    genuine_writers: int = 1000
    """Per medium; ids are 3 digits, so at most 1000."""
    genuine_samples: int = 10
    forgers: int = 1000
    """Per medium; ids are 4 digits, so at most 10000."""
    forgeries_per_forger: int = 5
    offline_share: float = 0.1
    """Offline writers and forgers as a share of the online ones."""
    points: int = 250
    index_signatures: int = 1000
    seed: int = 7

    def __post_init__(self) -> None:
        """ValueError naming the field (and its command-line option) for a value that would
        not give a valid tree, or would crash the generator."""
        bounds: list[tuple[str, float, float | None, str]] = [
            ("genuine_writers", 1, 1000, " (3-digit ids)"),
            ("genuine_samples", 1, None, ""),
            ("forgers", 0, 10000, " (4-digit ids)"),
            ("forgeries_per_forger", 0, None, ""),
            ("offline_share", 0.0, 1.0, ""),
            ("points", 1, None, " (a point file holds at least one point)"),
            ("index_signatures", 0, None, ""),
            ("seed", 0, None, ""),
        ]
        for name, low, high, why in bounds:
            value = getattr(self, name)
            if not (low <= value and (high is None or value <= high)):
                within = f"within {low}..{high}" if high is not None else f"at least {low}"
                option = "--" + name.replace("_", "-")
                raise ValueError(f"{name} ({option}) must be {within}{why}, got {value}")

    def label(self) -> str:
        return "-".join(f"{value}" for value in asdict(self).values())


@dataclass(frozen=True)
class Generated:
    files: int
    online_files: int
    points: int


def generate(out: Path, spec: ScaleSpec) -> Generated:
    """Write SOURCE_A/ and SOURCE_B/ under `out` (which should not exist yet)."""
    rng = np.random.default_rng(spec.seed)
    files = online = points = 0
    for medium, share in (("Online", 1.0), ("Offline", spec.offline_share)):
        writers = max(1, round(spec.genuine_writers * share))
        forgers = round(spec.forgers * share)
        genuine_dir = out / "SOURCE_A" / medium / "Genuine"
        forged_dir = out / "SOURCE_A" / medium / "Forgeries"
        genuine_dir.mkdir(parents=True)
        forged_dir.mkdir(parents=True)
        names = [
            genuine_dir / f"{w:03d}_{s:02d}"
            for w in range(writers)
            for s in range(1, spec.genuine_samples + 1)
        ]
        for f in range(forgers):
            target = int(rng.integers(writers))
            names += [
                forged_dir / f"{f:04d}{target:03d}_{s}"
                for s in range(1, spec.forgeries_per_forger + 1)
            ]
        for name in names:
            if medium == "Online":
                n = _write_hwr(name.with_suffix(".HWR"), rng, spec.points)
                points += n
                online += 1
            else:
                name.with_suffix(".png").write_bytes(_blank_image(name.name))
            files += 1
    files += _write_source_b(out / "SOURCE_B", rng, spec.index_signatures)
    return Generated(files=files, online_files=online, points=points)


def _write_hwr(path: Path, rng: np.random.Generator, mean_points: int) -> int:
    n = int(rng.integers(max(1, int(mean_points * 0.8)), int(mean_points * 1.2) + 1))
    steps = rng.normal(0.0, 1.5, size=(n, 2)).cumsum(axis=0) + 500.0
    pressure = rng.uniform(0.0, 1.0, size=n)
    lines = [
        f"{x:.2f},{y:.2f},{z:.3f}"
        for (x, y), z in zip(steps.tolist(), pressure.tolist(), strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return n


def _blank_image(name: str) -> bytes:
    return b"BLANK " + name.encode()


def _write_source_b(root: Path, rng: np.random.Generator, count: int) -> int:
    root.mkdir(parents=True, exist_ok=True)  # even with no signatures: SOURCE_B needs its INDEX
    ids: list[str] = []
    prefixes: set[str] = set()
    while len(ids) < count:
        value = str(uuid.UUID(bytes=rng.bytes(16), version=4))
        if value[:8] not in prefixes:
            prefixes.add(value[:8])
            ids.append(value)
    lines = [str(count)]
    for position, value in enumerate(ids):
        has_parent = position > 0 and rng.random() < 0.3
        parent = ids[int(rng.integers(position))] if has_parent else ""
        lines.append(f"{value}    {parent}".rstrip())
        path = root / value[0] / value[:8]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_blank_image(value))
    (root / "INDEX").write_text("\n".join(lines) + "\n", encoding="ascii")
    return count


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tools.generate_signatures", description=__doc__.splitlines()[0]
    )
    parser.add_argument("out", type=Path, help="folder to create (must not exist)")
    defaults = ScaleSpec()
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    if args.out.exists():
        parser.error(f"{args.out} exists already: choose a new folder")
    try:
        spec = ScaleSpec(**{name: getattr(args, name) for name in asdict(defaults)})
    except ValueError as error:
        parser.error(str(error))  # before anything is written
    made = generate(args.out, spec)
    print(f"{made.files} files ({made.online_files} online, {made.points} points) in {args.out}")


if __name__ == "__main__":
    main()
