"""Benchmark of the signature ETL: registrations per second into SQLite and PostgreSQL.

    .venv/bin/python -m bench.signatures_bench [--scale large|medium|small] [--repeats 1]

Generates a SOURCE_A-like tree once with `tools.generate_signatures` (cached under
`.bench/signatures/<parameters>/`): thousands of writers, tens of thousands of files, most of
them online with hundreds of points each, plus a SOURCE_B INDEX. Then, per backend:

- first run: an empty database, every file registered (read, parse, store, asset bytes);
- re-run: the same inputs again, nothing new (read and hash every file; each one's hash is
  its path's current registration, so nothing is parsed);
- read only: the two source readers alone, parsing every file (the floor under a first run).

Per backend it prints the re-run's files/s over the first run's, against the target
(`TARGET_RATIO`: a re-run at least 5x the first run's files/s).

Then the read side (`read_bench`): a warehouse of `--read-signatures` online signatures (10 per
signee, default 10,000) registered into SQLite, and the time `SignatureWarehouse` takes to
return one signee's signatures with their points (median over READ_LOOKUPS signees), against
READ_TARGET_MS.

SQLite lives in a fresh file under `.bench/`; PostgreSQL (SIGNATURES_BENCH_PG_URL, default the
local server) in a fresh schema dropped afterwards, skipped with a note when no server answers.
Every run checks that each file was registered exactly once, and that the re-run skipped every
file unparsed. Medians go to stdout and to `.bench/signatures-results-<scale>.md`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from assets_pkg.shared.location import Location
from assets_pkg.signatures.asset_service import ContentAddressedAssetService
from assets_pkg.signatures.database import SignatureDatabase
from assets_pkg.signatures.etl import EtlReport, read_sources, run_etl
from assets_pkg.signatures.read import SignatureWarehouse
from tools.generate_signatures import Generated, ScaleSpec, generate

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / ".bench" / "signatures"
PG_URL = os.environ.get(
    "SIGNATURES_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SCALES = {
    "small": ScaleSpec(genuine_writers=100, forgers=100, points=100, index_signatures=100),
    "medium": ScaleSpec(genuine_writers=500, forgers=500, points=200, index_signatures=500),
    "large": ScaleSpec(),  # 1000 + 1000 writers per medium, 17 500 files, ~3.75 M points
}
TARGET_RATIO = 5.0
"""A re-run over unchanged inputs must reach at least this multiple of the first run's files/s."""


READ_TARGET_MS = 50.0
"""One signee's signatures (with their points) out of 10,000 must come back within this."""
READ_LOOKUPS = 50
SAMPLES_PER_SIGNEE = 10


@dataclass(frozen=True)
class Timing:
    backend: str
    phase: str
    seconds: float
    registered: int
    files: int


def dataset(spec: ScaleSpec) -> tuple[Path, Generated]:
    target = BENCH_DIR / "data" / spec.label()
    marker = target / ".complete"
    if marker.is_file():
        files, online, points = (int(v) for v in marker.read_text().split())
        return target, Generated(files, online, points)
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    made = generate(target, spec)
    marker.write_text(f"{made.files} {made.online_files} {made.points}")
    print(f"generated {made.files} files in {time.perf_counter() - started:.1f} s: {target}")
    return target, made


@contextmanager
def sqlite_url(run: int) -> Iterator[str]:
    folder = BENCH_DIR / f"sqlite-{run}"
    shutil.rmtree(folder, ignore_errors=True)
    try:
        yield f"sqlite:///{folder / 'signatures.db'}"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def postgres_url(run: int) -> Iterator[str]:
    admin = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
    schema = f"sig_bench_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def postgres_answers() -> str | None:
    """None when the server answers, else why not."""
    engine = sa.create_engine(PG_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            return None
    except sa.exc.OperationalError as error:
        return str(error.orig).strip().splitlines()[0]
    finally:
        engine.dispose()


def etl_once(source: Path, url: str, assets_dir: Path) -> tuple[float, EtlReport]:
    database = SignatureDatabase.from_url(url)
    started = time.perf_counter()
    database.ensure_schema()
    report = run_etl(
        Location.of(source), database, ContentAddressedAssetService(assets_dir, database)
    )
    seconds = time.perf_counter() - started
    database.dispose()
    return seconds, report


def bench_backend(
    backend: str,
    make_url: Callable[[int], AbstractContextManager[str]],
    source: Path,
    files: int,
    repeats: int,
) -> list[Timing]:
    timings: list[Timing] = []
    for run in range(repeats):
        assets_dir = BENCH_DIR / f"assets-{backend}-{run}"
        shutil.rmtree(assets_dir, ignore_errors=True)
        with make_url(run) as url:
            seconds, first = etl_once(source, url, assets_dir)
            assert (first.new_signatures, first.unchanged) == (files, 0), first
            timings.append(Timing(backend, "first run", seconds, first.new_signatures, files))
            seconds, again = etl_once(source, url, assets_dir)
            assert (again.new_signatures, again.unchanged) == (0, files), again
            assert again.skipped_unchanged == files, again
            timings.append(Timing(backend, "re-run", seconds, again.new_signatures, files))
        shutil.rmtree(assets_dir, ignore_errors=True)
        print(f"  {backend} run {run + 1}/{repeats} done")
    return timings


def read_only(source: Path, files: int, repeats: int) -> list[Timing]:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        candidates, rejects = read_sources(Location.of(source))
        assert (len(candidates), len(rejects)) == (files, 0)
        timings.append(Timing("-", "read only", time.perf_counter() - started, 0, files))
    return timings


def table(timings: list[Timing], made: Generated, scale: str, skipped: str | None) -> str:
    groups: dict[tuple[str, str], list[Timing]] = {}
    for timing in timings:
        groups.setdefault((timing.backend, timing.phase), []).append(timing)
    lines = [
        f"Signature ETL benchmark, scale {scale}: {made.files} files "
        f"({made.online_files} online, {made.points} points), "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}",
        "",
        "| backend | phase | median s | files/s | points/s | registered |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for (backend, phase), group in groups.items():
        seconds = statistics.median(t.seconds for t in group)
        lines.append(
            f"| {backend} | {phase} | {seconds:.1f} | {made.files / seconds:,.0f} | "
            f"{made.points / seconds:,.0f} | {group[0].registered} |"
        )
    lines += ["", *ratios(groups)]
    if skipped:
        lines += ["", f"PostgreSQL skipped: {skipped}"]
    return "\n".join(lines)


def ratios(groups: dict[tuple[str, str], list[Timing]]) -> list[str]:
    """Per backend: re-run files/s over first-run files/s, and whether the target holds."""
    lines = []
    for backend in dict.fromkeys(backend for backend, _ in groups):
        first, again = groups.get((backend, "first run")), groups.get((backend, "re-run"))
        if not first or not again:
            continue
        first_rate = first[0].files / statistics.median(t.seconds for t in first)
        again_rate = again[0].files / statistics.median(t.seconds for t in again)
        ratio = again_rate / first_rate
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        lines.append(
            f"- {backend}: first run {first_rate:,.0f} files/s, re-run {again_rate:,.0f} files/s; "
            f"target re-run ≥ {TARGET_RATIO:.1f}x first: {ratio:.1f}x {verdict}"
        )
    return lines


@dataclass(frozen=True)
class ReadTiming:
    signatures: int
    signees: int
    median_ms: float
    max_ms: float

    def line(self) -> str:
        verdict = "met" if self.median_ms <= READ_TARGET_MS else "NOT met"
        return (
            f"- read: one signee's signatures and points out of {self.signatures:,} "
            f"({self.signees:,} signees), median {self.median_ms:.1f} ms, max "
            f"{self.max_ms:.1f} ms over {min(READ_LOOKUPS, self.signees)} signees; target "
            f"≤ {READ_TARGET_MS:.0f} ms: {verdict}"
        )


def read_bench(folder: Path, signatures: int, points: int = 250) -> ReadTiming:
    """Register `signatures` online signatures (SAMPLES_PER_SIGNEE per signee, no forgeries)
    into a fresh SQLite file under `folder`, then time `SignatureWarehouse.signatures` plus
    `points` for each of them, for up to READ_LOOKUPS signees spread over the warehouse."""
    writers = max(1, signatures // SAMPLES_PER_SIGNEE)
    spec = ScaleSpec(
        genuine_writers=writers,
        genuine_samples=SAMPLES_PER_SIGNEE,
        forgers=0,
        offline_share=0.0,
        points=points,
        index_signatures=0,
    )
    target = folder / f"read-{spec.label()}"
    source, warehouse = target / "sources", target / "warehouse"
    url = f"sqlite:///{warehouse / 'signatures.db'}"
    if not (target / ".complete").is_file():
        shutil.rmtree(target, ignore_errors=True)
        generate(source, spec)
        etl_once(source, url, warehouse / "signature_assets")
        (target / ".complete").write_text("")
    timings: list[float] = []
    with SignatureWarehouse.at(str(warehouse), url) as reader:
        signees = reader.signees(subset="Online/Genuine")
        step = max(1, len(signees) // READ_LOOKUPS)
        for signee in signees[::step][:READ_LOOKUPS]:
            started = time.perf_counter()
            found = reader.signatures(signee.id)
            arrays = [reader.points(s.id) for s in found]
            timings.append((time.perf_counter() - started) * 1000)
            assert len(arrays) == SAMPLES_PER_SIGNEE, (signee, len(arrays))
        total = len(signees) * SAMPLES_PER_SIGNEE
    return ReadTiming(total, len(signees), statistics.median(timings), max(timings))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="large")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--read-signatures", type=int, default=10_000)
    args = parser.parse_args()
    source, made = dataset(SCALES[args.scale])
    timings = read_only(source, made.files, args.repeats)
    timings += bench_backend("SQLite", sqlite_url, source, made.files, args.repeats)
    skipped = postgres_answers()
    if skipped is None:
        timings += bench_backend("PostgreSQL", postgres_url, source, made.files, args.repeats)
    report = table(timings, made, args.scale, skipped)
    report += "\n" + read_bench(BENCH_DIR, args.read_signatures).line()
    print(report)
    (BENCH_DIR.parent / f"signatures-results-{args.scale}.md").write_text(
        report + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
