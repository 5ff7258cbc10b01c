"""`exploded_transactions` and `transaction_quarantine`: one pass over the feed, week by week.

Both come from one subsettable multi-asset, so the feed is parsed once; a range of weeks is
read one week at a time (a small next week parsed ahead in a worker thread), and each week's
items are written as they are parsed, a slice at a time (`WeekReader.stream`, `FrameParts`):
memory holds a few slices and the week's quarantine, however long the range and however
dense the week.
"""

import dataclasses
import datetime as dt
import functools
import time
from collections.abc import Iterator
from typing import Any

import dagster as dg
import polars as pl

from assets_pkg.defs.io_manager import FrameParts, FramesOnDemand
from assets_pkg.defs.metadata import column_schema, preview
from assets_pkg.defs.partitions import week_keys
from assets_pkg.defs.purchases.resources import PurchasesSource
from assets_pkg.defs.purchases.source_assets import FEED, observation
from assets_pkg.defs.purchases.week_checks import week_evaluations
from assets_pkg.purchases import GROUP, schemas
from assets_pkg.purchases.feed import (
    FeedReadError,
    UnreadableFeedError,
    badly_named_day_folders,
    feed_span,
    week_days,
    weeks_without_data,
)
from assets_pkg.purchases.weeks import WeekRead, WeekReader
from assets_pkg.shared.dates import WeekRange, week_of
from assets_pkg.shared.location import Location


def transaction_assets(
    weeks: WeekRange,
    partitions: dg.WeeklyPartitionsDefinition,
    backfill_policy: dg.BackfillPolicy,
) -> dg.AssetsDefinition:
    """Over `partitions`, derived from `weeks` (`weekly_partitions`): a purchase dated in a
    week outside `weeks` is quarantined, in the week of its folder."""

    @dg.multi_asset(
        outs={
            "exploded_transactions": dg.AssetOut(
                group_name=GROUP,
                kinds={"polars", "parquet"},
                description="One row per basket item of the week (event time), with its "
                "source file and line.",
                metadata=column_schema(schemas.EXPLODED, schemas.DESCRIPTIONS),
                is_required=False,
            ),
            "transaction_quarantine": dg.AssetOut(
                group_name=GROUP,
                kinds={"polars", "parquet"},
                description="Everything of the week's folders that could not be used: file, "
                "line, raw text and reason.",
                metadata=column_schema(schemas.QUARANTINE, schemas.DESCRIPTIONS),
                is_required=False,
            ),
        },
        check_specs=[
            dg.AssetCheckSpec(
                "all_day_folders_present",
                asset="exploded_transactions",
                description="Every day folder the week reads (its own 7 days and the "
                "tolerance days on each side) holds a *.json part; days before the feed's "
                "first day folder are not expected. A missing day's purchases are absent "
                "until it arrives: materialise the week again then.",
                partitions_def=partitions,
            ),
            dg.AssetCheckSpec(
                "day_folders_well_named",
                asset="exploded_transactions",
                description="Every entry of transactions/ is a day folder named d=YYYY-MM-DD, "
                "and every entry of a day folder the week reads is a *.json part; any other "
                "is never read by any week.",
                partitions_def=partitions,
            ),
            dg.AssetCheckSpec(
                "quarantine_is_empty",
                asset="transaction_quarantine",
                description="The week quarantined nothing: no line, basket item or file of "
                "its day folders was refused (transaction_quarantine names each with its "
                "file, line and reason).",
                partitions_def=partitions,
            ),
        ],
        can_subset=True,
        partitions_def=partitions,
        backfill_policy=backfill_policy,
        deps=[FEED],
    )
    def transactions(
        context: dg.AssetExecutionContext, purchases_source: PurchasesSource
    ) -> Iterator[dg.Output[Any] | dg.AssetCheckEvaluation | dg.AssetObservation]:
        """Both assets come from one pass over the feed; a range is read week by week."""
        source = purchases_source.folder()
        run_weeks = [week_of(key) for key in week_keys(context)]
        # Before anything is written: transactions/ must be readable (else which day folders
        # exist is unknown), and the weeks must have data.
        try:
            badly_named = badly_named_day_folders(source)
            span = feed_span(source)
            _fail_on_weeks_without_data(source, run_weeks)
        except UnreadableFeedError as error:
            raise dg.Failure(str(error), allow_retries=False) from None
        done: dict[str, WeekRead] = {}  # kept without their exploded rows
        progress = _Progress(context, total=len(run_weeks))

        tolerance = purchases_source.date_tolerance_days

        def week_items(reader: WeekReader, key: str) -> Iterator[pl.DataFrame]:
            """The week's items a slice at a time; its metadata once they have all come."""
            stream = reader.stream(week_of(key))
            try:
                yield from stream
            except FeedReadError as error:  # a disk or network error: worth a retry
                raise dg.Failure(str(error)) from error
            week = done[key] = stream.read
            progress.week_done(week)
            for asset, metadata in _week_metadata(week, span).items():
                if dg.AssetKey(asset) in context.selected_asset_keys:
                    context.add_asset_metadata(metadata, asset_key=asset, partition_key=key)

        def read(reader: WeekReader, key: str) -> FrameParts:
            return FrameParts(schemas.EXPLODED, week_items(reader, key))

        with WeekReader(source, tolerance, run_weeks, partitions=weeks) as reader:
            if dg.AssetKey("exploded_transactions") in context.selected_asset_keys:
                # The IO manager asks for one week at a time and writes its items as they
                # are parsed, a slice at a time: a week is never in memory whole.
                yield dg.Output(
                    FramesOnDemand(context.partition_keys, functools.partial(read, reader)),
                    output_name="exploded_transactions",
                )
            for key in context.partition_keys:
                if key not in done:
                    for _ in week_items(reader, key):
                        pass
        # The version of the feed each week was built from, as an observation of the feed's
        # week: recorded after the week's materialisation, so the latest version Dagster
        # holds for a week is what its build read (sensors.py compares the next one with it).
        for key, week in done.items():
            yield observation(key, week.fingerprint)
        if dg.AssetKey("transaction_quarantine") in context.selected_asset_keys:
            yield dg.Output(
                {key: week.quarantine for key, week in done.items()},
                output_name="transaction_quarantine",
            )
        checks = sorted(context.selected_asset_check_keys, key=lambda check: check.name)
        yield from week_evaluations(  # one evaluation of each check per week, naming it
            context,
            (
                (
                    key,
                    _TransactionsSummary([done[key]], badly_named, span).check_result(c.name),
                )
                for c in checks
                for key in sorted(done)
            ),
        )

    return transactions


FINGERPRINT = "feed fingerprint"
"""The metadata key of a week's fingerprint of the day folders it read (see sensors.py)."""


def _week_metadata(
    week: WeekRead, span: tuple[dt.date, dt.date] | None
) -> dict[str, dict[str, Any]]:
    """What each asset's materialisation of one week shows."""
    missing = [d.isoformat() for d in _TransactionsSummary([week], [], span).missing_days]
    return {
        "exploded_transactions": {
            FINGERPRINT: week.fingerprint.digest,
            "feed files": week.fingerprint.files,
            "files read": week.files_read,
            "basket items": week.items,
            "missing days": missing,
        },
        "transaction_quarantine": {
            "quarantined rows": week.quarantine.height,
            "reasons": preview(_reason_counts(week.quarantine), 20),
            "missing days": missing,
        },
    }


class _Progress:
    """About ten log lines for a long range (each log line is an event Dagster stores)."""

    def __init__(self, context: dg.AssetExecutionContext, total: int) -> None:
        self.context = context
        self.total = total
        self.every = max(1, total // 10)
        self.done = 0
        self.items = 0
        self.started = time.monotonic()

    def week_done(self, week: WeekRead) -> None:
        self.done += 1
        self.items += week.items
        if self.done % self.every and self.done != self.total:
            return
        elapsed = time.monotonic() - self.started
        self.context.log.info(
            f"{self.done}/{self.total} weeks read ({week.week}): {self.items:,} items so far, "
            f"{elapsed:.1f} s; this week {week.items:,} items, "
            f"{week.quarantine.height:,} quarantined, {week.files_read} files"
            + (f", missing days {_days(week.missing_days)}" if week.missing_days else "")
        )


@dataclasses.dataclass(frozen=True)
class _TransactionsSummary:
    weeks: list[WeekRead]
    badly_named: list[str]
    """Entries of transactions/ that no week reads (about the whole feed, not these weeks)."""
    span: tuple[dt.date, dt.date] | None = None
    """The feed's first and last day (`feed.feed_span`): a folder outside them is not
    missing. Before the first, the feed had not started (the tolerance day before its first
    Monday); after the last, the day has not arrived (the Monday after a feed's last week),
    and when it does, `late_purchases_sensor` builds the week again with it."""

    @property
    def missing_days(self) -> list[dt.date]:
        return sorted(
            day
            for day in {day for week in self.weeks for day in week.missing_days}
            if self.span is None or self.span[0] <= day <= self.span[1]
        )

    @property
    def ignored(self) -> list[str]:
        return sorted({name for week in self.weeks for name in week.ignored})

    @property
    def quarantined(self) -> int:
        return sum(week.quarantine.height for week in self.weeks)

    def check_result(self, name: str) -> dg.AssetCheckResult:
        if name == "all_day_folders_present":
            missing = self.missing_days
            return dg.AssetCheckResult(
                asset_key="exploded_transactions",
                check_name=name,
                passed=not missing,
                severity=dg.AssetCheckSeverity.WARN,
                description=None
                if not missing
                else f"{len(missing)} day folder(s) read by the week are missing: "
                f"{_days(missing)}. Their purchases are absent until they arrive; "
                "re-materialise the week then.",
                metadata={"missing days": [d.isoformat() for d in missing]},
            )
        if name == "day_folders_well_named":
            return _well_named_check(self.badly_named, self.ignored)
        return dg.AssetCheckResult(
            asset_key="transaction_quarantine",
            check_name=name,
            passed=self.quarantined == 0,
            severity=dg.AssetCheckSeverity.WARN,
            description=None
            if self.quarantined == 0
            else f"{self.quarantined} line(s), item(s) or file(s) of the week were "
            "quarantined; see transaction_quarantine for file, line and reason.",
            metadata={"quarantined rows": self.quarantined},
        )


def _well_named_check(badly_named: list[str], ignored: list[str]) -> dg.AssetCheckResult:
    """Entries of transactions/ that are no day folder, and entries of the day folders read
    that are no `*.json` part: no week reads either."""
    problems = []
    if badly_named:
        problems.append(
            f"{len(badly_named)} entry(ies) of transactions/ are not named d=YYYY-MM-DD, so "
            f"no week reads them: {_first_ten(badly_named)}. Rename each to the day it holds "
            "(e.g. d=2024-01-05) or move it out of transactions/."
        )
    if ignored:
        problems.append(
            f"{len(ignored)} file(s) in the day folders read are not *.json parts, so no week "
            f"reads them: {_first_ten(ignored)}. Give each part a name ending in .json "
            "(uncompressed JSON Lines) or move it out of the day folder."
        )
    return dg.AssetCheckResult(
        asset_key="exploded_transactions",
        check_name="day_folders_well_named",
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        description=" ".join(problems) or None,
        metadata={
            "entries": badly_named[:100],
            "count": len(badly_named),
            "files not read": ignored[:100],
            "files not read count": len(ignored),
        },
    )


def _first_ten(names: list[str]) -> str:
    more = f" and {len(names) - 10} more" if len(names) > 10 else ""
    return ", ".join(names[:10]) + more


def _fail_on_weeks_without_data(source: Location, weeks: list[dt.date]) -> None:
    empty = weeks_without_data(source, weeks)
    if empty:
        folders = ", ".join(f"transactions/d={d}" for w in empty[:3] for d in week_days(w))
        raise dg.Failure(
            f"No transactions for week(s) {_days(empty)}: none of their day folders exist "
            f"under {source} ({folders}{', …' if len(empty) > 3 else ''}). The data has not "
            "arrived yet, or PURCHASES_SOURCE_DIR points at the wrong folder.",
            allow_retries=False,
        )


def _days(days: list[dt.date]) -> str:
    shown = ", ".join(d.isoformat() for d in days[:10])
    return shown + (f" and {len(days) - 10} more" if len(days) > 10 else "")


def _reason_counts(quarantine: pl.DataFrame) -> pl.DataFrame:
    kind = pl.col("reason").str.replace(r"\s*[\(\"'].*$", "").str.replace(r"\d+", "N")
    return (
        quarantine.group_by(kind.alias("reason")).agg(rows=pl.len()).sort("rows", descending=True)
    )
