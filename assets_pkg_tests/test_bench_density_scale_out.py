"""The purchase bench's memory-by-density and scale-out parts, without running anything.

The report is fed made-up measurements (its tables and each target's PASS, FAIL and n/a);
the scale-out's reading of the web UI's answers (a run's weeks, when the backfill is over,
its wall time and verdict) is fed made-up GraphQL results; the density feeds' scale and the
JSON a range of weeks holds are checked on a few files.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest

from bench.purchases import ROOT
from bench.purchases.dataset import DENSITIES, SCALES, Scale, density, week_bytes
from bench.purchases.measure import Measurement
from bench.purchases.report import DensityPoint, report
from bench.purchases.scale_out import (
    PLANS,
    Backfill,
    RunInfo,
    ScaleOut,
    ScaleOutPlan,
    finished,
    outcome,
    services_problem,
)
from bench.purchases.summary import summarise

from .test_bench import target

NOW = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
MB = 1_000_000


def render(
    density_points: list[DensityPoint] | None = None, scale_out: ScaleOut | None = None
) -> str:
    return report(
        "large",
        SCALES["large"],
        {"transaction_bytes": 1_143_400_000},
        52,
        {},
        "OK",
        True,
        1,
        [],
        [],
        density_points or [],
        scale_out,
        now=NOW,
    )


def point(
    factor: int,
    peak: float,
    compute_s: float,
    megabytes: float = 36.0,
    wall_s: float = 5.0,
    same_work_peak: float | None = None,
) -> DensityPoint:
    measured = Measurement(wall_s=wall_s, peak_mib=peak, compute_s=compute_s)
    same_work = (
        None
        if same_work_peak is None
        else summarise([Measurement(wall_s=wall_s, peak_mib=same_work_peak)])
    )
    return DensityPoint(
        factor, 50_000 * factor, int(megabytes * factor * MB), summarise([measured]), same_work
    )


def failed(factor: int) -> DensityPoint:
    summary = summarise([Measurement(error="exit status 1, log x.log")])
    return DensityPoint(factor, 50_000 * factor, 36 * factor * MB, summary)


def test_density_feeds_hold_three_weeks_of_a_multiple_of_the_customers() -> None:
    assert DENSITIES == (1, 3, 10)
    large = SCALES["large"]
    assert [density(large, f) for f in DENSITIES] == [
        Scale(50_000, 23),
        Scale(150_000, 23),
        Scale(500_000, 23),
    ]
    assert density(large, 10).weeks == 3  # 21 days + 2 tolerance days
    assert density(SCALES["small"], 3).customers == 1_500


def test_week_bytes_counts_the_day_files_of_the_first_weeks_only(tmp_path: Path) -> None:
    for day, size in (("2024-01-01", 10), ("2024-01-07", 20), ("2024-01-08", 40)):
        folder = tmp_path / "transactions" / f"d={day}"
        folder.mkdir(parents=True)
        (folder / "transactions.json").write_bytes(b"x" * size)
    assert week_bytes(tmp_path, 1) == 30  # Monday to Sunday; the next Monday is week 2
    assert week_bytes(tmp_path, 2) == 70


def test_density_table_and_passing_targets() -> None:
    page = render([point(10, 480, 9.9, same_work_peak=470), point(1, 400, 1.0), point(3, 420, 3.0)])

    lines = page.splitlines()
    head = lines.index("## Memory by density")
    assert head < lines.index("## Targets")
    table = [line for line in lines[head:] if line.startswith("| ")]
    assert table[:4] == [
        "| density | customers | MB of JSON | wall s | compute s | peak MiB | compute s/GB "
        "| wall s/GB | (s) peak MiB | runs |",
        "| 1x | 50,000 | 36.0 | 5.0 | 1.00 | 400 | 27.8 | 138.9 | — | 1 |",
        "| 3x | 150,000 | 108.0 | 5.0 | 3.00 | 420 | 27.8 | 46.3 | — | 1 |",
        "| 10x | 500,000 | 360.0 | 5.0 | 9.90 | 480 | 27.5 | 13.9 | 470 | 1 |",
    ]
    # (9.90 - 1.00) s over (360 - 36) MB
    assert (
        "- compute per added GB, 1x to 10x (for information; the steps' fixed cost cancels "
        "out): 27.5 s/GB"
    ) in page
    assert target(page, "every density's peak") == (
        "- **PASS** every density's peak memory at most 512 MiB (1x, 3x, 10x): "
        "1x 400, 3x 420, 10x 480 MiB; the same work without Dagster 1x —, 3x —, 10x 470 MiB"
    )
    assert target(page, "s/GB flat") == (
        "- **PASS** compute s/GB flat from 1x to 10x: each <= 1.15 x the 1x density's: "
        "1x 27.8, 3x 27.8 (x1.00), 10x 27.5 (x0.99) s/GB"
    )


@pytest.mark.parametrize(
    ("peak_10x", "verdict"), [(512.0, "PASS"), (513.0, "FAIL"), (900.0, "FAIL")]
)
def test_density_memory_target_is_512_mib_at_every_density(peak_10x: float, verdict: str) -> None:
    page = render([point(1, 400, 1.0), point(3, 420, 3.0), point(10, peak_10x, 10.0)])

    assert target(page, "every density's peak").startswith(f"- **{verdict}** ")


@pytest.mark.parametrize(
    ("compute_10x", "verdict"),
    [(10.0, "PASS"), (11.5, "PASS"), (11.6, "FAIL"), (5.0, "PASS")],
)
def test_seconds_per_gb_may_grow_15_percent_from_1x(compute_10x: float, verdict: str) -> None:
    """1x: 1 s for 36 MB; 10x: 360 MB, so 11.5 s is exactly 1.15 times the 1x's s/GB."""
    page = render([point(1, 400, 1.0), point(3, 400, 3.0), point(10, 400, compute_10x)])

    assert target(page, "s/GB flat").startswith(f"- **{verdict}** ")


def test_a_failed_density_is_a_problem_and_leaves_the_targets_open() -> None:
    page = render([point(1, 400, 1.0), failed(3), point(10, 450, 10.0)])

    assert "| 3x | 150,000 | 108.0 | FAILED | | | | | — | 0 |" in page
    assert "cancels out): 27.8 s/GB" in page  # (10 - 1) s over (360 - 36) MB
    assert target(page, "every density's peak") == (
        "- **n/a ** every density's peak memory at most 512 MiB (1x, 3x, 10x): "
        "1x 400, 3x FAILED, 10x 450 MiB"
    )
    assert target(page, "s/GB flat").startswith("- **n/a ** ")
    assert "- density 3x, full backfill of 3 weeks: exit status 1, log x.log" in page


def test_a_failing_density_fails_even_when_another_is_missing() -> None:
    page = render([point(1, 400, 1.0), failed(3), point(10, 600, 20.0)])

    assert target(page, "every density's peak").startswith("- **FAIL** ")
    assert target(page, "s/GB flat").startswith("- **FAIL** ")


def test_without_the_new_parts_their_targets_say_not_run() -> None:
    page = render()

    assert "## Memory by density" not in page
    assert "## Scale-out" not in page
    assert target(page, "every density's peak").endswith("not run (density is not in --parts)")
    assert target(page, "s/GB flat").startswith("- **n/a ** ")
    assert target(page, "scale-out") == (
        "- **n/a ** scale-out: the backfill succeeded with 1 and with 2 Celery workers: "
        "not run (scale_out is not in --parts)"
    )


PLAN = ScaleOutPlan("large", 32, 4)


def test_scale_out_section_gives_both_walls_and_the_speed_up() -> None:
    scale_out = ScaleOut(
        PLAN,
        350 * MB,
        [
            Backfill(1, wall_s=100.0, first_start_s=8.0, runs=8, succeeded=8, step_s=80.0,
                     worker_peak_mib=600.0),
            Backfill(2, wall_s=62.5, first_start_s=7.0, runs=8, succeeded=8, step_s=100.0,
                     worker_peak_mib=550.0),
        ],
    )  # fmt: skip

    page = render(scale_out=scale_out)

    lines = page.splitlines()
    head = lines.index("## Scale-out")
    assert head < lines.index("## Targets")
    assert lines[head + 2].startswith(
        "The first 32 weeks of the large feed (350.0 MB of JSON) as one backfill of the weekly "
        "assets in runs of 4 week(s) (PURCHASES_WEEKS_PER_RUN=4, 8 runs)"
    )
    table = [line for line in lines[head:] if line.startswith("| ")]
    assert table == [
        "| workers | wall s | first run s | runs succeeded | steps s | busy % | MB/s "
        "| MB/s per worker | worker peak MiB |",
        "| 1 | 100.0 | 8.0 | 8/8 | 80.0 | 80 | 3.50 | 3.50 | 600 |",
        "| 2 | 62.5 | 7.0 | 8/8 | 100.0 | 80 | 5.60 | 2.80 | 550 |",
    ]
    assert "- speed-up (1-worker wall / 2-worker wall): 1.60" in page
    assert target(page, "scale-out") == (
        "- **PASS** scale-out: the backfill succeeded with 1 and with 2 Celery workers: "
        "1 worker(s) 100.0 s, 8/8 runs; 2 worker(s) 62.5 s, 8/8 runs; speed-up 1.60 "
        "(a measurement, not a target); 32 weeks in runs of 4"
    )


def test_a_failed_scale_out_backfill_fails_its_target_and_is_a_problem() -> None:
    scale_out = ScaleOut(
        PLAN,
        350 * MB,
        [
            Backfill(1, wall_s=100.0, runs=8, succeeded=8),
            Backfill(2, wall_s=50.0, runs=8, succeeded=7, error="1 of 32 weeks not built"),
        ],
    )

    page = render(scale_out=scale_out)

    assert "| 2 | FAILED |" in page
    assert "- speed-up (1-worker wall / 2-worker wall): —" in page
    assert target(page, "scale-out").startswith("- **FAIL** ")
    assert "- scale-out with 2 worker(s): 1 of 32 weeks not built" in page


def test_scale_out_without_its_services_is_na_with_the_reason() -> None:
    scale_out = ScaleOut(PLAN, 350 * MB, problem="RabbitMQ (:5672) does not answer")

    page = render(scale_out=scale_out)

    assert "Not run: RabbitMQ (:5672) does not answer." in page
    assert target(page, "scale-out") == (
        "- **n/a ** scale-out: the backfill succeeded with 1 and with 2 Celery workers: "
        "not run: RabbitMQ (:5672) does not answer"
    )


def test_services_problem_names_every_service_that_does_not_answer() -> None:
    assert services_problem(lambda host, port: True) is None
    problem = services_problem(lambda host, port: port == 5432)
    assert problem is not None
    assert problem.startswith("RabbitMQ (:5672) and Redis (:6379) does not answer on 127.0.0.1")


def test_plans_give_several_runs_within_each_scale() -> None:
    for name, plan in PLANS.items():
        assert plan.weeks <= SCALES[plan.scale_name].weeks, name
        assert plan.runs >= 4, name
    assert ScaleOutPlan("medium", 26, 4).runs == 7  # the last run holds the 2 weeks left


WEEKS = ["2024-01-01", "2024-01-08", "2024-01-15", "2024-01-22"]


def run(
    run_id: str, status: str, tags: dict[str, str], start: float = 0.0, end: float | None = 1.0
) -> dict[str, Any]:
    """A run as the web UI's runsOrError gives it."""
    return {
        "runId": run_id,
        "status": status,
        "startTime": start,
        "endTime": end,
        "tags": [{"key": key, "value": value} for key, value in tags.items()],
        "stepStats": [
            {"stepKey": "transactions", "startTime": start, "endTime": start + 2.0},
            {"stepKey": "weekly_purchase_counts", "startTime": start + 2.0, "endTime": None},
        ],
    }


def ranged(first: str, last: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": first,
        "dagster/asset_partition_range_end": last,
        "dagster/backfill": "b1",
    }


def test_a_run_knows_its_weeks_from_a_range_or_a_single_partition() -> None:
    two = RunInfo.from_graphql(run("r1", "SUCCESS", ranged(WEEKS[1], WEEKS[2])))
    one = RunInfo.from_graphql(run("r2", "STARTED", {"dagster/partition": WEEKS[3]}))
    none = RunInfo.from_graphql(run("r3", "QUEUED", {}, end=None))

    assert two.weeks(WEEKS) == WEEKS[1:3]
    assert two.step_s == 2.0  # a step still running has no end: not counted
    assert (two.finished, one.finished, none.finished) == (True, False, False)
    assert one.weeks(WEEKS) == [WEEKS[3]]
    assert none.weeks(WEEKS) == []


def runs(*answers: dict[str, Any]) -> list[RunInfo]:
    return [RunInfo.from_graphql(answer) for answer in answers]


def test_the_backfill_is_over_when_every_run_finished_and_every_week_is_built() -> None:
    first_half = run("r1", "SUCCESS", ranged(WEEKS[0], WEEKS[1]))
    second_half = run("r2", "SUCCESS", ranged(WEEKS[2], WEEKS[3]))
    still_running = run("r2", "STARTED", ranged(WEEKS[2], WEEKS[3]), end=None)

    assert not finished("REQUESTED", [], WEEKS)  # the daemon has not launched any run yet
    assert not finished("REQUESTED", runs(first_half), WEEKS)  # more runs to come
    assert not finished("REQUESTED", runs(first_half, still_running), WEEKS)
    assert finished("REQUESTED", runs(first_half, second_half), WEEKS)
    failure = run("r2", "FAILURE", ranged(WEEKS[2], WEEKS[3]))
    assert not finished("REQUESTED", runs(first_half, failure), WEEKS)  # a retry may come
    assert finished("COMPLETED_FAILED", runs(first_half, failure), WEEKS)


def test_outcome_times_the_backfill_from_its_launch_to_the_last_run_end() -> None:
    answers = runs(
        run("r1", "SUCCESS", ranged(WEEKS[0], WEEKS[1]), start=1012.0, end=1030.0),
        run("r2", "SUCCESS", ranged(WEEKS[2], WEEKS[3]), start=1010.0, end=1045.5),
    )

    result = outcome(2, 1000.0, answers, WEEKS)

    assert (result.workers, result.wall_s, result.first_start_s) == (2, 45.5, 10.0)
    assert (result.runs, result.succeeded, result.step_s, result.error) == (2, 2, 4.0, None)


def test_outcome_names_the_weeks_left_unbuilt_and_the_runs_that_failed() -> None:
    answers = runs(
        run("r1", "SUCCESS", ranged(WEEKS[0], WEEKS[1]), start=1010.0, end=1020.0),
        run("r2", "FAILURE", ranged(WEEKS[2], WEEKS[3]), start=1010.0, end=1015.0),
    )

    result = outcome(1, 1000.0, answers, WEEKS)

    assert result.succeeded == 1
    assert result.error == (
        "2 of 4 weeks not built (2024-01-15...); runs not successful: r2 FAILURE"
    )
    scale_out = ScaleOut(PLAN, 1, [Backfill(1, wall_s=20.0), result])
    assert scale_out.succeeded is False
    assert scale_out.speed_up is None  # no wall for a failed backfill


def test_make_bench_installs_the_production_profile_that_the_scale_out_starts() -> None:
    """`make bench` runs every part at the large scale, the scale-out included: without the
    deploy extra (dagster-celery, dagster-postgres, psycopg) that part would be n/a."""
    rule = re.search(r"^bench: (.*)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert rule is not None
    assert "venv-serve" in rule.group(1).split()
