"""The Makefile with paths that hold spaces, and `make clean`, which deletes only inside the
checkout unless told otherwise (issue 17, item 2).

Each test runs the real Makefile in a copy of the checkout whose own path holds a space, with
stand-ins for the programs of .venv/bin that record how they were called: what is proved is
the shell the recipes hand over, not Dagster.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Each stand-in appends its arguments, one per line, and the variables it was given to
# calls.log beside the Makefile; python answers the two questions `make run` asks it.
STAND_IN = """#!/bin/sh
here=$(dirname "$0")/../..
{ echo "$(basename "$0")"; for a in "$@"; do echo "  arg $a"; done
  echo "  DAGSTER_HOME=$DAGSTER_HOME"; echo "  VIRTUAL_ENV=$VIRTUAL_ENV"
  echo "  WAREHOUSE_DIR=$WAREHOUSE_DIR"; } >> "$here/calls.log"
case "$(basename "$0") $*" in
  "python -m assets_pkg.purchases.feed") echo 2024-01-01...2024-01-08 ;;
  "uv --version") echo "uv $PINNED_UV" ;;
  "dg launch"*)
    if [ -n "$FAIL_LAUNCH" ]; then
      echo "2024-01-01 10:00:00 +0000 - dagster - ERROR - job - $RUN_ID - it broke"; exit 1
    fi
    echo "launched $*"
    p="2024-01-01 10:00:00 +0000 - dagster"
    echo "$p - DEBUG - job - $RUN_ID - 42 - products - STEP_START - Started step products."
    echo "$p - DEBUG - job - $RUN_ID - 42 - products - HANDLED_OUTPUT - Handled output result"
    echo "$p - INFO - job - $RUN_ID - transactions - 1/10 weeks read (2024-01-01): 875 items"
    echo "$p - DEBUG - job - $RUN_ID - 42 - products - STEP_SUCCESS - Finished step products."
    if [ -n "$WAREHOUSE_DIR" ]; then
      mkdir -p "$WAREHOUSE_DIR/weekly_purchase_counts/week=2024-01-08"
      : > "$WAREHOUSE_DIR/weekly_purchase_counts/week=2024-01-08/data.parquet"
    fi ;;
esac
"""
RUN_ID = "0123abcd-0123-4567-89ab-0123456789ab"
PINNED_UV = re.findall(r'"uv==([^"]+)"', (ROOT / "pyproject.toml").read_text())[0]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of what the Makefile needs, in a folder whose name holds a space, with .venv up
    to date (its stamp is newer than uv.lock) and stand-ins for the programs."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = tmp_path / "check out"
    (root / "instance").mkdir(parents=True)
    (root / "data").mkdir()
    for name in ("Makefile", "pyproject.toml", "uv.lock", "instance/dagster.yaml"):
        shutil.copyfile(ROOT / name, root / name)
    stamp = _make(root, "--eval", "print-stamp: ; @echo $(STAMP)", "print-stamp").stdout.strip()
    assert stamp.startswith(".venv/.installed-")
    (root / ".venv" / "bin").mkdir(parents=True)
    (root / stamp).touch()
    for program in ("python", "dg", "ruff", "mypy", "pytest", "uv"):
        path = root / ".venv" / "bin" / program
        path.write_text(STAND_IN)
        path.chmod(0o755)
    return root


def _make(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "DAGSTER_"))}
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=root,
        env={**environ, "RUN_ID": RUN_ID, "PINNED_UV": PINNED_UV, **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _calls(root: Path) -> str:
    return (root / "calls.log").read_text()


def test_make_run_keeps_a_dagster_home_with_a_space_whole(checkout: Path, tmp_path: Path) -> None:
    home = tmp_path / "x" / "my home"
    done = _make(checkout, "run", f"DAGSTER_HOME={home}")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (home / "dagster.yaml").read_bytes() == (ROOT / "instance/dagster.yaml").read_bytes()
    assert "launched launch --assets registered_signatures" in (home / "make.log").read_text()
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["my home"]  # no /x/my
    assert not (checkout / "home").exists()
    calls = _calls(checkout)
    assert f"  DAGSTER_HOME={home}\n" in calls
    assert f"  VIRTUAL_ENV={checkout}/.venv\n" in calls
    assert "  arg 2024-01-01...2024-01-08\n" in calls
    assert "python\n  arg -m\n  arg assets_pkg.summary\n" in calls


def test_make_run_shows_the_runs_progress_and_logs_all_of_it(checkout: Path) -> None:
    """`make run` printed nothing between its first line and the summary; the steps and the
    weekly progress lines now show as they come, the rest stays in the log only."""
    done = _make(checkout, "run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "  Started step products.\n" in done.stdout
    assert "  transactions - 1/10 weeks read (2024-01-01): 875 items\n" in done.stdout
    assert "  Finished step products.\n" in done.stdout
    assert "HANDLED_OUTPUT" not in done.stdout
    log = (checkout / ".dagster_home" / "make.log").read_text()
    assert log.count("HANDLED_OUTPUT") == 3  # the three launches, whole, in the log
    assert "launched launch --assets raw_customers,products,exploded_transactions" in log


def test_make_run_observes_the_feed_before_it_builds_the_weeks(checkout: Path) -> None:
    """A week's build records which version of the feed it read only if the feed was
    observed before the build started: then a file that arrives later shows the week as
    changed upstream in the web UI (docs/decisions.md)."""
    done = _make(checkout, "run")
    assert done.returncode == 0, done.stdout + done.stderr
    log = (checkout / ".dagster_home" / "make.log").read_text()
    launches = re.findall(r"^launched launch (.*)$", log, re.MULTILINE)
    assert launches[:2] == [
        "--assets purchase_feed --partition 2024-01-01",
        "--assets raw_customers,products,exploded_transactions,weekly_purchase_counts,"
        "transaction_quarantine --partition-range 2024-01-01...2024-01-08",
    ]


def _syncs(root: Path) -> list[str]:
    """The `uv sync` calls so far, each as its arguments after `sync`."""
    calls = _calls(root) if (root / "calls.log").exists() else ""
    programs = re.split(r"^(?=\S)", calls, flags=re.MULTILINE)
    found = [
        re.findall(r"^  arg (.*)$", p, re.MULTILINE)
        for p in programs
        if p == "uv\n" or p.startswith("uv\n")
    ]
    return [" ".join(args[1:]) for args in found if args[:1] == ["sync"]]


def test_make_run_installs_no_extra_and_make_test_the_dev_tools(checkout: Path) -> None:
    """`make run` synced the dev extra (playwright, moto, mypy...): it now installs the
    project's dependencies only; `make test` adds the dev tools, a later `make run` is
    covered by them, and a change to uv.lock installs again what was asked for."""
    for stamp in (checkout / ".venv").glob(".installed-*"):
        stamp.unlink()
    assert _make(checkout, "run").returncode == 0
    assert _syncs(checkout) == ["--locked --compile-bytecode"]
    assert _make(checkout, "run").returncode == 0
    assert _make(checkout, "ui").returncode == 0
    assert len(_syncs(checkout)) == 1  # the run install is there
    assert _make(checkout, "test").returncode == 0
    assert _syncs(checkout)[1:] == ["--locked --extra dev --compile-bytecode"]
    assert _make(checkout, "run").returncode == 0
    assert _make(checkout, "serve").returncode == 0
    assert len(_syncs(checkout)) == 2  # dev covers run and serve
    time.sleep(0.01)
    with (checkout / "uv.lock").open("a") as lock:
        lock.write("\n")
    assert _make(checkout, "run").returncode == 0
    assert _syncs(checkout)[2:] == ["--locked --compile-bytecode"]
    assert _make(checkout, "serve").returncode == 0
    assert _syncs(checkout)[3:] == ["--locked --extra deploy --compile-bytecode"]
    assert _make(checkout, "check").returncode == 0
    assert _syncs(checkout)[4:] == ["--locked --extra dev --compile-bytecode"]
    assert [p.name for p in (checkout / ".venv").glob(".installed-*")] == [
        Path(_make(checkout, "--eval", "s: ; @echo $(STAMP)", "s").stdout.strip()).name
    ]


def test_make_check_leaves_the_slow_tests_out(checkout: Path) -> None:
    done = _make(checkout, "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pytest\n  arg -m\n  arg not slow\n" in _calls(checkout)
    assert "  arg check\n  arg defs" not in _calls(checkout)


def test_a_failed_run_shows_its_log_from_a_dagster_home_with_a_space(
    checkout: Path, tmp_path: Path
) -> None:
    home = tmp_path / "my home"
    done = _make(checkout, "run", f"DAGSTER_HOME={home}", FAIL_LAUNCH="1")
    assert done.returncode != 0
    assert f"run failed. Errors and checks that did not pass, from {home}/make.log:" in done.stdout
    assert "ERROR it broke" in done.stdout
    assert "No such file" not in done.stderr


def test_the_smoke_run_of_make_test_survives_a_temporary_folder_with_a_space(
    checkout: Path, tmp_path: Path
) -> None:
    temporary = tmp_path / "tmp dir"
    temporary.mkdir()
    done = _make(checkout, "test", TMPDIR=str(temporary))
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"  WAREHOUSE_DIR={temporary}/" in _calls(checkout)
    assert list(temporary.iterdir()) == []  # the smoke run's folder is removed, whole


def test_make_clean_removes_the_checkouts_own_instance_and_warehouse(checkout: Path) -> None:
    for folder in (".dagster_home", "data/warehouse/raw_customers"):
        (checkout / folder).mkdir(parents=True)
    (checkout / "data" / "sources").mkdir()
    done = _make(checkout, "clean")
    assert done.returncode == 0, done.stderr
    assert not (checkout / ".dagster_home").exists()
    assert sorted(p.name for p in (checkout / "data").iterdir()) == ["sources"]
    inside = checkout / "my home"  # a relative DAGSTER_HOME with a space, and a final slash
    inside.mkdir()
    (checkout / "my").mkdir()
    assert _make(checkout, "clean", "DAGSTER_HOME=my home/").returncode == 0
    assert not inside.exists()
    assert (checkout / "my").is_dir()


def test_make_clean_refuses_an_instance_outside_the_checkout_unless_forced(
    checkout: Path, tmp_path: Path
) -> None:
    home = tmp_path / "x" / "my home"
    home.mkdir(parents=True)
    (home / "dagster.yaml").touch()
    (tmp_path / "x" / "my").mkdir()
    (checkout / "home").mkdir()
    (checkout / "data" / "warehouse").mkdir()

    done = _make(checkout, "clean", f"DAGSTER_HOME={home}")

    assert done.returncode != 0
    assert done.stderr.splitlines()[0] == (
        f"make clean: {home} is outside this checkout ({checkout}), so it is not removed; "
        "run make clean FORCE=1 to remove it anyway."
    )
    # Nothing at all is removed: not the instance, not the words of its path, not the
    # warehouse that would have gone first.
    assert (home / "dagster.yaml").exists()
    assert (tmp_path / "x" / "my").is_dir()
    assert (checkout / "home").is_dir()
    assert (checkout / "data" / "warehouse").is_dir()

    done = _make(checkout, "clean", f"DAGSTER_HOME={home}", "FORCE=1")

    assert done.returncode == 0, done.stderr
    assert not home.exists()
    assert not (checkout / "data" / "warehouse").exists()
    assert (tmp_path / "x" / "my").is_dir()
    assert (checkout / "home").is_dir()


@pytest.mark.parametrize("where", ["link", "dots", "link inside"])
def test_make_clean_judges_a_path_by_where_it_leads(
    checkout: Path, tmp_path: Path, where: str
) -> None:
    outside = tmp_path / "outside"
    (outside / "instance").mkdir(parents=True)
    (checkout / "link").symlink_to(outside)
    home = {
        "link": "link/instance",  # inside by its name, outside where it leads
        "dots": "data/../../outside/instance",
        "link inside": "link",  # a symlink in the checkout: removed itself, not followed
    }[where]
    done = _make(checkout, "clean", f"DAGSTER_HOME={home}")
    if where == "link inside":
        assert done.returncode == 0, done.stderr
        assert not (checkout / "link").is_symlink()
    else:
        assert done.returncode != 0
        assert "is outside this checkout" in done.stderr
    assert (outside / "instance").is_dir()


@pytest.mark.parametrize("home", [".", "..", "{checkout}", "{checkout}/data/..", "{checkout}/.."])
def test_make_clean_never_removes_the_checkout_or_a_folder_holding_it(
    checkout: Path, home: str
) -> None:
    done = _make(checkout, "clean", f"DAGSTER_HOME={home.format(checkout=checkout)}", "FORCE=1")
    assert done.returncode != 0
    assert "holds this checkout" in done.stderr
    assert (checkout / "Makefile").exists()


@pytest.mark.parametrize("home", ["-", "-P", "--"])
def test_make_clean_judges_a_name_like_an_option_as_a_path(checkout: Path, home: str) -> None:
    """`cd -- -` goes to $OLDPWD: a DAGSTER_HOME named `-` in the checkout was judged by
    another folder (refused here, "outside"), not by itself."""
    (checkout / home).mkdir()
    done = _make(checkout, "clean", f"DAGSTER_HOME={home}")
    assert done.returncode == 0, done.stderr
    assert not (checkout / home).exists()
    assert (checkout / "Makefile").exists()


def test_make_clean_ignores_cdpath(checkout: Path, tmp_path: Path) -> None:
    """With CDPATH exported, `cd data/warehouse` went to $CDPATH/data/warehouse when there
    was one: the path was judged by a folder of another tree."""
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "data" / "warehouse").mkdir(parents=True)
    (checkout / "data" / "warehouse").mkdir()
    done = _make(checkout, "clean", CDPATH=str(elsewhere))
    assert done.returncode == 0, done.stderr
    assert not (checkout / "data" / "warehouse").exists()
    assert (elsewhere / "data" / "warehouse").is_dir()


@pytest.mark.parametrize("home", ["data", "data/sources", "instance/"])
def test_make_clean_never_removes_a_folder_holding_tracked_files(checkout: Path, home: str) -> None:
    """`make clean DAGSTER_HOME=data` lies inside the checkout, and removed the bundled
    sample with it."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    sample = checkout / "data" / "sources" / "purchases" / "customers.csv"
    sample.parent.mkdir(parents=True)
    sample.write_text("customer_id\n")
    subprocess.run(["git", "init", "-q"], cwd=checkout, check=True)
    subprocess.run(["git", "add", "Makefile", "instance", "data"], cwd=checkout, check=True)
    (checkout / "data" / "warehouse").mkdir()
    done = _make(checkout, "clean", f"DAGSTER_HOME={home}", "FORCE=1")
    assert done.returncode != 0
    assert "holds files of the project" in done.stderr
    assert sample.exists()
    assert (checkout / "instance" / "dagster.yaml").exists()
    assert (checkout / "data" / "warehouse").is_dir()  # nothing removed at all
    assert _make(checkout, "clean").returncode == 0  # the usual clean still works
    assert not (checkout / "data" / "warehouse").exists()
