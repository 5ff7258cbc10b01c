"""The weekly partitions every purchase asset shares."""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping, Sequence
from types import TracebackType

import dagster as dg

from assets_pkg.shared.dates import WeekKeyError, WeekRange, key_of, parse_day, week_of


@functools.cache
def weekly_partitions(weeks: WeekRange) -> dg.WeeklyPartitionsDefinition:
    """The weeks of `weeks` (`Settings.weeks`) as Dagster partitions: weeks starting Monday
    00:00 UTC, keyed `YYYY-MM-DD` (the Monday, `dates.key_of`), from its first week to its
    last (inclusive) or, for an open range, to the last completed week.

    Only completed weeks exist (`end_offset=0`): a week is materialised once it has ended.
    Dagster's `end_date` is exclusive: the Monday after the last week (`WeekRange.end`). The
    assets receive the `WeekRange` itself, so nothing turns this end back into a last week.
    One object per range: the assets, the schedule and the sensor built from one range share it.
    """
    return dg.WeeklyPartitionsDefinition(
        start_date=key_of(weeks.first),
        end_date=None if weeks.end is None else key_of(weeks.end.date()),
        day_offset=1,
        timezone="UTC",
        end_offset=0,
        fmt="%Y-%m-%d",
    )


PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
"""The run tags that name a run's week or weeks, however the run was launched (`dg launch
--partition/--partition-range`, the launchpad, GraphQL, a backfill)."""


def week_keys(context: dg.AssetExecutionContext) -> list[str]:
    """The weeks of the run, in order; dg.Failure in one sentence when the run's partition
    tags do not name weekly partitions (see `check_run_partitions`)."""
    check_run_partitions(context.assets_def.partitions_def, context.run.tags)
    return list(context.partition_keys)


def check_run_partitions(
    partitions: dg.PartitionsDefinition | None, tags: Mapping[str, str]
) -> None:
    """Refuse, with one sentence, a run whose week or range of weeks is not made of weekly
    partitions: a key that is not a Monday or lies outside the partitions, or a range whose
    start comes after its end.

    Dagster's CLI checks a key itself before a run starts, but not the order of a range
    (`2024-01-08...2024-01-01` became a run of no week at all that succeeded), and a run
    launched with crafted tags (GraphQL, the launchpad's tags) reaches the assets with a key
    Dagster never checked: a Tuesday was built as a week of its own, a key past the end
    failed with a `CheckError`. Called by the weekly assets and by the IO manager, before
    Dagster resolves the keys."""
    if not isinstance(partitions, dg.TimeWindowPartitionsDefinition):
        return
    key, start, end = tags.get(PARTITION_TAG), tags.get(RANGE_START_TAG), tags.get(RANGE_END_TAG)
    if key is not None:
        _check_key(partitions, key, f"The partition key {key}")
        return
    if start is None or end is None:
        return
    names = f"the partition range {start}...{end}"
    if _is_date(start) and _is_date(end) and start > end:
        raise dg.Failure(
            f"The partition range {start}...{end} is reversed, its first week coming after "
            f"its last: write {end}...{start}.",
            allow_retries=False,
        )
    _check_key(partitions, start, f"The start {start} of {names}")
    _check_key(partitions, end, f"The end {end} of {names}")


def _check_key(partitions: dg.TimeWindowPartitionsDefinition, key: str, what: str) -> None:
    try:
        week_of(key)
    except WeekKeyError as error:
        reason = error.reason
    else:
        if partitions.has_partition_key(key):
            return
        first, last = partitions.get_first_partition_key(), partitions.get_last_partition_key()
        reason = (
            f"is not a weekly partition: they run from {first} to {last} (PURCHASES_START_DATE "
            "and PURCHASES_END_DATE set them; only weeks that have ended have one)"
        )
    raise dg.Failure(f"{what} {reason}.", allow_retries=False)


def _is_date(text: str) -> bool:
    return parse_day(text) is not None


_CLI_ERRORS = ("DagsterInvalidSubsetError", "DagsterUnknownPartitionError", "CheckError")
"""What Dagster's CLI (`dagster asset materialize`, `dagster job execute`, `dg launch`) raises,
with a traceback, for a `--partition`/`--partition-range` it refuses before any run exists."""

_cli_partitions: list[dg.TimeWindowPartitionsDefinition] = []


def explain_cli_partition_errors(partitions: dg.TimeWindowPartitionsDefinition) -> None:
    """Turn the traceback Dagster's CLI ends with, for a week it refuses, into one sentence.

    The CLI checks `--partition` and `--partition-range` itself, after loading this code
    location and before any run or project code, and lets its error escape as a traceback
    naming only the range's first key even when the last is wrong. Its process has loaded
    this code location, so a `sys.excepthook` installed here sees that error: when the
    command line names a week, it prints the sentence a run would give
    (`check_run_partitions`) and the process exits with status 1 as before. Any other
    uncaught error goes to the hook that was there. Installed once per process; a later
    load only updates the partitions."""
    _cli_partitions[:] = [partitions]
    if getattr(sys.excepthook, "explains_partitions", False):
        return
    previous = sys.excepthook

    def hook(kind: type[BaseException], error: BaseException, trace: TracebackType | None) -> None:
        names = {cls.__name__ for cls in type(error).__mro__}
        sentence = (
            cli_partition_sentence(_cli_partitions[0], sys.argv[1:])
            if names & set(_CLI_ERRORS) and _cli_partitions
            else None
        )
        if sentence is None:
            previous(kind, error, trace)
        else:
            print(f"Error: {sentence}", file=sys.stderr)

    hook.explains_partitions = True  # type: ignore[attr-defined]
    sys.excepthook = hook


def cli_partition_sentence(
    partitions: dg.TimeWindowPartitionsDefinition, argv: Sequence[str]
) -> str | None:
    """What is wrong with the week(s) a command line names (`--partition X`,
    `--partition-range A...B`, or with `=`), in one sentence; None when they are right or
    it names none."""
    given: dict[str, str] = {}
    for i, word in enumerate(argv):
        for option in ("--partition", "--partition-range"):
            if word == option and i + 1 < len(argv):
                given[option] = argv[i + 1]
            elif word.startswith(option + "="):
                given[option] = word.partition("=")[2]
    key, weeks = given.get("--partition"), given.get("--partition-range")
    if key is not None and weeks is not None:
        return "Give --partition or --partition-range, not both."
    if weeks is not None and weeks.count("...") != 1:
        return (
            f"The partition range {weeks} is not two weeks joined by three dots: write, for "
            "example, 2024-01-01...2024-01-08."
        )
    if key is not None:
        tags = {PARTITION_TAG: key}
    elif weeks is not None:
        start, end = weeks.split("...")
        tags = {RANGE_START_TAG: start, RANGE_END_TAG: end}
    else:
        return None
    try:
        check_run_partitions(partitions, tags)
    except dg.Failure as failure:
        return failure.description
    return None
