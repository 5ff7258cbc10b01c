"""The web UI in a real browser: headless Chromium materialises assets through `dg dev`.

A module fixture starts `dg dev` (web UI and daemon, as `make ui` does) on a free loopback
port with a temporary instance and warehouse and the bundled sample as its source. The tests
click through the UI as a user would: the asset graph filtered to one asset and its upstream,
the Materialize dialog with one week picked, an asset page's Materialize button. Each run is
then followed to its end through the UI's GraphQL endpoint and its run page, and its Parquet
files are read back.

Screenshots of every step go to `$UI_SCREENSHOTS` when set (kept), otherwise to the test's
temporary folder. Without Debian's chromium (/usr/bin/chromium) or the playwright package
the tests skip, saying which is missing.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from .processes import BIN, Process, free_port, new_instance, project_env, running

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:
    pytest.skip(
        "the playwright package is not installed (make install brings it)",
        allow_module_level=True,
    )

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)",
        allow_module_level=True,
    )

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these Chromium calls home, and a closed network refuses its connections.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WEEK = "2024-01-08"
SERVER_START_S = 120.0
"""dg dev loads the code location in a code server: seconds when idle, up to a minute or
two on a busy 2-core machine."""
RUN_S = 120.0
"""A run: the daemon dequeues it, a process starts, the steps take a few seconds."""
UI_S = 30_000
"""Milliseconds for any element to appear."""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


@dataclass(frozen=True)
class Server:
    url: str
    warehouse: Path
    process: Process

    def graphql(self, query: str, **variables: Any) -> Any:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query, "variables": variables}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)["data"]

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/server_info", timeout=2):
                return True
        except (urllib.error.URLError, OSError):
            return False

    def location_loaded(self) -> bool:
        data = self.graphql(
            "{ workspaceOrError { ... on Workspace { locationEntries { loadStatus "
            "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
        )
        entries = data["workspaceOrError"].get("locationEntries") or []
        for entry in entries:
            error = entry["locationOrLoadError"]
            if error and error["__typename"] == "PythonError":
                raise AssertionError(f"The code location failed to load: {error['message']}")
        return bool(entries) and all(
            e["loadStatus"] == "LOADED" and e["locationOrLoadError"] for e in entries
        )

    def run_status(self, run_id: str) -> str:
        data = self.graphql(
            "query ($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }", id=run_id
        )
        status: str = data["runOrError"].get("status", "NOT_FOUND")
        return status


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("web_ui")
    home = new_instance(root / "dagster_home")
    warehouse = root / "warehouse"
    port = free_port()
    command = [str(BIN / "dg"), "dev", "--host", "127.0.0.1", "--port", str(port)]
    with running(command, project_env(home, warehouse), root / "dg_dev.log") as process:
        started = Server(f"http://127.0.0.1:{port}", warehouse, process)
        process.wait_until(started.answers, "web UI answering", SERVER_START_S)
        process.wait_until(started.location_loaded, "code location loaded", SERVER_START_S)
        # Dagster greets a new instance with a newsletter dialog a second after a page opens,
        # over whatever is being typed: this instance has seen it already.
        assert started.graphql("mutation { setNuxSeen }")["setNuxSeen"] is True
        yield started


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("UI_SCREENSHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, timeout=60_000
        )
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Browser, screenshots: Path, request: pytest.FixtureRequest) -> Iterator[Page]:
    # Large enough for the counts, their upstream and the sources, expanded, in one view.
    context = browser.new_context(viewport={"width": 2400, "height": 1500})
    opened = context.new_page()
    opened.set_default_timeout(UI_S)
    # Should the newsletter dialog show up all the same, it is dismissed.
    opened.add_locator_handler(
        opened.get_by_role("button", name="Skip", exact=True), lambda skip: skip.click()
    )
    try:
        yield opened
    finally:
        # How the page looked at the end, passed or failed: the first thing to see on a failure.
        opened.screenshot(path=screenshots / f"end_of_{request.node.name}.png")
        context.close()


def _type_filter(page: Page, query: str, attempts: int = 3) -> None:
    """Type `query` into the asset graph's filter box and apply it. The box is drawn anew
    when the graph's statuses arrive, which loses what was typed before: typing waits for
    them, and starts again (a bounded number of times) if the text did not stay."""
    page.get_by_text("(fetching statuses)").first.wait_for(state="detached")
    box = page.get_by_role("textbox", name="Search and filter assets")
    for attempt in range(1, attempts + 1):
        box.focus()
        page.keyboard.press("Control+A")
        page.keyboard.type(query)
        try:
            expect(page.locator(".CodeMirror-line")).to_have_text(query, timeout=5_000)
        except AssertionError:
            if attempt == attempts:
                raise
        else:
            break
    page.keyboard.press("Enter")


def _launched_run_id(page: Page) -> str:
    """The run id in the toast the UI shows once it has launched a run."""
    view = page.locator('a[href^="/runs/"]', has_text="View")
    href = view.first.get_attribute("href", timeout=UI_S) or ""
    match = re.fullmatch(r"/runs/([0-9a-f-]{36})", href)
    assert match, f"the toast's link is not a run's: {href!r}"
    return match.group(1)


def _follow_run(server: Server, page: Page, run_id: str, screenshot: Path) -> None:
    """Wait for the run's end, then check it succeeded and show its page."""
    server.process.wait_until(
        lambda: server.run_status(run_id) in FINISHED, f"end of run {run_id}", RUN_S, 0.5
    )
    page.goto(f"{server.url}/runs/{run_id}")
    page.get_by_text("Success", exact=True).first.wait_for()
    page.get_by_text("RUN_SUCCESS", exact=True).first.wait_for()
    page.screenshot(path=screenshot)
    assert server.run_status(run_id) == "SUCCESS", f"run {run_id}, see {screenshot}"


def _rows(parquet: Path) -> int:
    assert parquet.is_file(), f"{parquet} was not written"
    return pl.read_parquet(parquet).height


def test_a_week_of_counts_and_its_upstream_materialised_from_the_asset_graph(
    server: Server, page: Page, screenshots: Path
) -> None:
    page.goto(f"{server.url}/asset-groups")
    # "Materialize all (N)…": N counts what can be materialised (observable sources too).
    materialize_all = page.get_by_role("button", name=re.compile(r"Materialize all"))
    materialize_all.wait_for()
    page.get_by_text("(fetching statuses)").first.wait_for(state="detached")
    page.screenshot(path=screenshots / "01_asset_graph.png")

    # The graph's filter: the counts and everything upstream of them.
    _type_filter(page, '+key:"weekly_purchase_counts"')
    # Two groups are shown collapsed (the sources and the purchases): open both.
    for group in ("sources", "purchases"):
        page.get_by_text(group, exact=True).last.click()
    shown = ["exploded_transactions", "products", "raw_customers", "weekly_purchase_counts"]
    shown += ["customers_csv", "products_csv", "purchase_feed"]  # lineage starts at the sources
    for name in shown:
        page.get_by_text(name, exact=True).first.wait_for()
    page.screenshot(path=screenshots / "02_counts_and_upstream.png")

    materialize_all.click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("Launch runs to materialize 4 assets").wait_for()
    partitions = dialog.get_by_placeholder(re.compile(r"^ex: \d{4}-\d{2}-\d{2}"))
    partitions.fill(WEEK)
    partitions.press("Enter")
    dialog.get_by_text("1 partition", exact=True).wait_for()
    launch = dialog.get_by_role("button", name="Launch 1 run")
    launch.wait_for()
    page.screenshot(path=screenshots / "03_materialize_dialog_one_week.png")
    launch.click()

    run_id = _launched_run_id(page)
    _follow_run(server, page, run_id, screenshots / "04_run_of_the_week_succeeded.png")
    for asset in ("exploded_transactions", "weekly_purchase_counts"):
        assert _rows(server.warehouse / asset / f"week={WEEK}" / "data.parquet") > 0, asset
    for asset in ("raw_customers", "products"):
        assert _rows(server.warehouse / asset / "data.parquet") > 0, asset


def test_registered_signatures_materialised_from_its_asset_page(
    server: Server, page: Page, screenshots: Path
) -> None:
    page.goto(f"{server.url}/assets/registered_signatures")
    materialize = page.get_by_role("button").filter(has_text=re.compile(r"^Materialize$"))
    materialize.wait_for()
    page.get_by_text("Never materialized").first.wait_for()
    page.screenshot(path=screenshots / "05_registered_signatures_page.png")
    materialize.click()

    run_id = _launched_run_id(page)
    _follow_run(server, page, run_id, screenshots / "06_signature_run_succeeded.png")
    assert _rows(server.warehouse / "registered_signatures" / "data.parquet") > 0

    # The asset's page now shows when it was last materialised (moments ago) and its rows.
    page.goto(f"{server.url}/assets/registered_signatures")
    page.get_by_text(re.compile(r" ago$")).first.wait_for()
    page.get_by_text("Row count", exact=True).wait_for()
    assert page.get_by_text("Never materialized").count() == 0
    page.screenshot(path=screenshots / "07_registered_signatures_materialized.png")
