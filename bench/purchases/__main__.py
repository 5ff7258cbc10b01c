"""The command line of the purchase counts bench: ``python -m bench.purchases``.

Options: ``--scale`` (large, medium or small; default ``$SCALE`` or large), ``--repeats``
(default 3), ``--parts`` (a subset of a,b,c,d,e,f,a_half,b_short,density,scale_out; default:
all of them at the large scale, all but density and scale_out at the others), ``--curve``
(the other scales at which (a) and (c) run for the cost curve; default small,medium for the
large scale, none otherwise; ``''`` for none), ``--keep`` (keep warehouses and outputs) and
``--module`` (another definitions module, only to test the harness). It prints the report
and writes it to ``.bench/results-<scale>.md``. The hidden ``--compare A B`` compares two
outputs row for row and prints the verdict as JSON: it is how the bench runs the comparison
in a child process.
"""

from __future__ import annotations

import argparse
import json
import os
from argparse import SUPPRESS
from collections.abc import Sequence
from pathlib import Path

from bench.purchases import BENCH_DIR
from bench.purchases.compare import compare
from bench.purchases.dagster_runs import DEFINITIONS_MODULE
from bench.purchases.dataset import SCALES
from bench.purchases.runner import ALL_PARTS, run

BASE_PARTS = "a,b,c,d,e,s,f,a_half,b_short"
DEFAULT_PARTS = {"large": f"{BASE_PARTS},density,scale_out"}
"""--parts by main scale: every part at the large scale; at the others, whose runs are smoke
tests, not the density backfills (feeds of 3 and 10 times the customers) nor the scale-out
(the production topology, minutes), unless named."""
DEFAULT_CURVE = {"large": "small,medium"}
"""The cost curve's other scales by main scale; none for the others."""


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The options; `parts` becomes a set and `curve` a list of scale names."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.purchases",
        description="Weekly purchase counts: Dagster backfill vs DuckDB on the same files.",
    )
    parser.add_argument(
        "--scale", choices=sorted(SCALES), default=os.environ.get("SCALE") or "large"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--parts",
        default=None,
        help=f"comma-separated subset of {DEFAULT_PARTS['large']} (default: all at the large "
        "scale, all but density and scale_out at the others)",
    )
    parser.add_argument(
        "--curve",
        default=None,
        help="comma-separated scales at which (a) and (c) also run, for the cost curve "
        f"(default: {DEFAULT_CURVE['large']} for large, none otherwise; '' for none)",
    )
    parser.add_argument("--keep", action="store_true", help="keep warehouses and outputs")
    parser.add_argument(
        "--module",
        default=DEFINITIONS_MODULE,
        help="the Dagster definitions module (another one only to test the harness)",
    )
    parser.add_argument("--compare", nargs=2, metavar=("DAGSTER_OUT", "DUCKDB_OUT"), help=SUPPRESS)
    args = parser.parse_args(argv)
    parts = DEFAULT_PARTS.get(args.scale, BASE_PARTS) if args.parts is None else args.parts
    args.parts = {part.strip() for part in parts.split(",") if part.strip()}
    unknown = args.parts - ALL_PARTS
    if unknown or args.repeats < 1:
        parser.error(f"unknown parts {sorted(unknown)}" if unknown else "--repeats must be >= 1")
    curve = DEFAULT_CURVE.get(args.scale, "") if args.curve is None else args.curve
    args.curve = list(dict.fromkeys(name.strip() for name in curve.split(",") if name.strip()))
    if unknown_scales := [name for name in args.curve if name not in SCALES]:
        parser.error(f"unknown --curve scales {unknown_scales}; choose from {sorted(SCALES)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.compare:
        print(json.dumps(compare(Path(args.compare[0]), Path(args.compare[1]))))
        return 0
    text = run(args.scale, args.repeats, args.parts, args.keep, args.module, args.curve)
    print(text)
    BENCH_DIR.mkdir(exist_ok=True)
    (BENCH_DIR / f"results-{args.scale}.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
