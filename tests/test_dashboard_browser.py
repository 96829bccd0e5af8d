"""The ``/ui`` page in headless Chromium (Debian's ``chromium``, driven by Playwright; no
browser is downloaded): after a demo run its charts render with data, the team and
time-range filters change them, and a screenshot is saved as a test artifact
(``$TOKENTHRIFT_TEST_ARTIFACTS``, default ``test-artifacts/``)."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tokenthrift.assembly import build_gateway
from tokenthrift.config import GatewayConfig
from tokenthrift.demo.runner import DemoOptions, run_demo
from tokenthrift.ledger import LedgerRecord, open_ledger
from tokenthrift.server.app import create_app
from tokenthrift.server.runner import ServerThread

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update",
               "--disable-sync"]
ARTIFACTS = Path(os.environ.get("TOKENTHRIFT_TEST_ARTIFACTS")
                 or Path(__file__).resolve().parent.parent / "test-artifacts")


def _unavailable(message: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser(demo_gateway: tuple[str, Path]) -> Iterator[Any]:
    # After the demo: Playwright's sync API runs an event loop on this thread, and the
    # demo runs its own.
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    if not os.path.exists(CHROMIUM):
        _unavailable("chromium is not installed (apt-get install chromium; .ci/run does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def demo_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A gateway serving the ledger of a fresh demo run, as ``tokenthrift dashboard`` does."""
    data_dir = tmp_path_factory.mktemp("ui-demo")
    result = run_demo(DemoOptions(requests=120, concurrency=8, data_dir=str(data_dir)))
    assert result.ok
    # One request from three days ago, so the time-range filter has something to drop.
    ledger = open_ledger(str(result.options.ledger_path))
    ledger.write([LedgerRecord(request_id="req_old", ts=time.time() - 3 * 86400, team="search",
                               requested_model="gpt-4o", served_model="gpt-4o",
                               provider="emulator", wire_format="openai",
                               endpoint="chat.completions", input_tokens=1000,
                               output_tokens=100, cost_usd=Decimal("0.25"),
                               baseline_cost_usd=Decimal("0.25"), saved_usd=Decimal(0))])
    ledger.close()
    gateway = build_gateway(GatewayConfig.embedded_default(str(data_dir)))
    server = ServerThread(create_app(gateway)).start()
    try:
        yield server.url, result.options.ledger_path
    finally:
        server.stop()


def _marks(page: Any, chart: str) -> int:
    return int(page.locator(f"#{chart} .mark").count())


def _kpi(page: Any, label: str) -> str:
    return str(page.locator(f'[data-kpi="{label}"]').inner_text())


def _reloaded(page: Any, change: Any) -> None:
    before = page.locator("body").get_attribute("data-loaded")
    change()
    page.wait_for_function(
        f"document.body.dataset.loaded && document.body.dataset.loaded !== '{before}'")


def test_dashboard_renders_the_demo_and_filters_change_it(demo_gateway: tuple[str, Path],
                                                          browser: Any) -> None:
    url = demo_gateway[0]
    page = browser.new_page(viewport={"width": 1400, "height": 1500})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("requestfailed", lambda request: errors.append(request.url))
    external: list[str] = []
    page.on("request", lambda request: None if request.url.startswith(
        (url, "data:")) else external.append(request.url))
    page.goto(url + "/ui")
    page.wait_for_selector("body[data-loaded]")

    assert _kpi(page, "Requests") == "121"
    assert _kpi(page, "Spend").startswith("$") and _kpi(page, "Spend") != "$0.000000"
    all_spend = _marks(page, "chart-spend")
    assert all_spend > 0 and _marks(page, "chart-savings") > 0 and _marks(page, "chart-cache") > 0
    assert page.locator("#chart-savings polyline.line").count() == 1  # the baseline line
    assert "exact cache" in page.locator("#levers").inner_text()
    assert page.locator("#routing tbody tr").count() >= 3
    assert page.locator("#recent tbody tr").count() == 30
    assert page.locator("#prompts tbody tr").count() > 0
    assert page.locator("#legend-spend").inner_text().count("$") >= 2  # several teams
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    # The team filter: one team's spend, fewer marks, and every recent request is theirs.
    spend_all = _kpi(page, "Spend")
    team = page.locator("#team option").nth(1).get_attribute("value")
    _reloaded(page, lambda: page.select_option("#team", team))
    assert _kpi(page, "Spend") != spend_all
    assert int(_kpi(page, "Requests")) < 121
    titles = page.locator("#chart-spend .mark title").all_text_contents()
    assert titles and all(title.startswith(f"{team} ") for title in titles)
    assert page.locator("#legend-spend").inner_text().count("$") == 1
    assert {cell.strip() for cell in page.locator("#recent tbody tr td:nth-child(2)")
            .all_inner_texts()} == {team}
    page.screenshot(path=str(ARTIFACTS / "dashboard-team.png"), full_page=True)

    # The dimension picker: spend by model instead of by team.
    page.select_option("#dimension", "model")
    assert "gpt" in page.locator("#legend-spend").inner_text() or \
        "claude" in page.locator("#legend-spend").inner_text()

    # The time range: the last 24 hours drop the request from three days ago.
    _reloaded(page, lambda: page.select_option("#team", "*"))
    assert _kpi(page, "Requests") == "121"
    _reloaded(page, lambda: page.select_option("#range", "24h"))
    assert _kpi(page, "Requests") == "120"
    assert _kpi(page, "Spend") != spend_all
    assert errors == [] and external == []
    page.close()


def test_html_report_opens_offline_with_the_same_charts(demo_gateway: tuple[str, Path],
                                                        browser: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tokenthrift.cli.main import cli

    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", "savings", "--by", "lever", "--ledger",
                                      str(demo_gateway[1]), "--format", "html", "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = browser.new_page(viewport={"width": 1400, "height": 1500})
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(out.as_uri())
    page.wait_for_selector("body[data-loaded]")
    assert _kpi(page, "Requests") == "121"
    assert _marks(page, "chart-spend") > 0 and _marks(page, "chart-savings") > 0
    assert "exact_cache" in page.locator("[data-testid=report-table]").inner_text()
    assert "exact cache" in page.locator("#levers").inner_text()
    assert not page.locator("#filters").is_visible()  # a report is a snapshot
    assert all(r.startswith(("file:", "data:")) for r in requests) and errors == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    page.close()
