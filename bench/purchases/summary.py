"""The medians over the repeats of one part of the bench.

``summarise`` turns one part's measurements (one per repeat) into a ``Summary``: the median
wall time, peak memory, largest process, compute, CPU time and per-step compute over the
repeats that succeeded (a value missing from some repeats is the median of the others,
``None`` if missing from all), how many succeeded, and the errors of those that did not. Pure
code: no I/O.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.purchases.measure import Measurement


def _median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


@dataclass
class Summary:
    wall_s: float | None
    peak_mib: float | None
    max_process_mib: float | None
    compute_s: float | None
    cpu_s: float | None
    steps: dict[str, float]
    runs: int
    errors: list[str]


def summarise(results: Sequence[Measurement]) -> Summary:
    good = [result for result in results if result.error is None]
    step_names = sorted({name for result in good for name in result.steps})
    return Summary(
        wall_s=_median([r.wall_s for r in good]),
        peak_mib=_median([r.peak_mib for r in good]),
        max_process_mib=_median([r.max_process_mib for r in good]),
        compute_s=_median([r.compute_s for r in good]),
        cpu_s=_median([r.cpu_s for r in good]),
        steps={name: _median([r.steps.get(name) for r in good]) or 0.0 for name in step_names},
        runs=len(good),
        errors=[r.error for r in results if r.error is not None],
    )
