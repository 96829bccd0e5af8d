"""``/ui``: its data adds up to the ledger (totals, time series, savings by lever), the
time-range and team filters narrow it, and the page and its data are behind the master
key when one is set."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway_harness import RunningGateway, config_for, running_gateway
from tokenthrift.dashboard.app import COOKIE, session_token
from tokenthrift.dashboard.data import Query, dashboard_data
from tokenthrift.ledger import LedgerRecord, open_ledger

MASTER = "sk-master-dashboard-8d1e"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _get(url: str, headers: dict[str, str] | None = None, data: bytes | None = None
         ) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers=headers or {}, data=data)
    try:
        with opener.open(request) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def _record(i: int, ts: float, team: str | None, cost: str, saved: str = "0") -> LedgerRecord:
    savings = {"exact_cache": Decimal(saved)} if saved != "0" else {}
    return LedgerRecord(
        request_id=f"req_{i}", ts=ts, team=team, requested_model="gpt-4o-mini",
        served_model="gpt-4o-mini", provider="emulator", wire_format="openai",
        endpoint="chat.completions", input_tokens=100, output_tokens=20,
        cost_usd=Decimal(cost), baseline_cost_usd=Decimal(cost) + Decimal(saved),
        saved_usd=Decimal(saved), savings=savings,
        cache_status="exact" if savings else "miss", prompt_fingerprint=f"fp{i % 3}")


def test_data_adds_up_to_the_ledger_and_filters_narrow_it(tmp_path: Path) -> None:
    ledger = open_ledger(str(tmp_path / "ledger.db"))
    now = 1_800_000_000.0
    ledger.write([
        _record(0, now - 3 * 86400, "search", "0.5"),  # outside a 24h range
        _record(1, now - 3600, "search", "0.001", saved="0.002"),
        _record(2, now - 1800, "billing", "0.003"),
        _record(3, now - 60, "search", "0.004", saved="0.0005"),
        _record(4, now - 30, None, "0.0001"),
    ])
    everything = dashboard_data(ledger, Query(), now=now)
    assert everything["totals"]["cost_usd"] == pytest.approx(0.5081)
    assert everything["teams"] == ["", "billing", "search"]
    assert sum(everything["series"]["cost"]) == pytest.approx(0.5081)
    assert sum(everything["series"]["requests"]) == 5

    day = dashboard_data(ledger, Query(since=now - 86400), now=now)
    series = day["series"]
    assert day["rows"] == 4 and day["totals"]["requests"] == 4
    assert sum(series["cost"]) == pytest.approx(day["totals"]["cost_usd"]) == pytest.approx(0.0081)
    assert sum(series["baseline"]) == pytest.approx(day["totals"]["baseline_cost_usd"])
    assert sum(series["saved"]["exact_cache"]) == pytest.approx(day["totals"]["saved_usd"])
    assert day["levers"] == [{"lever": "exact_cache", "saved_usd": 0.0025, "requests": 2}]
    by_team = {name: sum(v) for name, v in series["spend"]["team"].items()}
    assert by_team == pytest.approx({"search": 0.005, "billing": 0.003, "(none)": 0.0001})
    assert day["cache"] == {"by_status": {"exact": 2, "miss": 2}, "hit_rate": 0.5}
    assert [r["request_id"] for r in day["recent"]] == ["req_4", "req_3", "req_2", "req_1"]
    # top prompts: the audit's templates (identical prompts by fingerprint), costliest first
    prompts = day["top_prompts"]
    assert [p["requests"] for p in prompts] == [1, 1, 2]
    assert [p["cost_usd"] for p in prompts] == pytest.approx([0.004, 0.003, 0.0011])
    assert prompts[2]["teams"] == ["(none)", "search"]
    assert sum(p["requests"] for p in prompts) == 4 and prompts[0]["recommendations"] == []

    search = dashboard_data(ledger, Query(since=now - 86400, team="search"), now=now)
    assert search["totals"]["cost_usd"] == pytest.approx(0.005)
    assert {r["team"] for r in search["recent"]} == {"search"}
    assert search["teams"] == day["teams"]  # the filter's choices stay
    unteamed = dashboard_data(ledger, Query(team=""), now=now)
    assert [r["request_id"] for r in unteamed["recent"]] == ["req_4"]
    ledger.close()


def test_truncated_charts_say_so_while_totals_stay_whole(tmp_path: Path) -> None:
    ledger = open_ledger(str(tmp_path / "ledger.db"))
    ledger.write([_record(i, 1_800_000_000.0 + i, "search", "0.001") for i in range(12)])
    data = dashboard_data(ledger, Query(max_rows=5))
    assert data["truncated"] and data["rows"] == 5
    assert data["totals"]["requests"] == 12
    assert not dashboard_data(ledger, Query(max_rows=50))["truncated"]
    ledger.close()


def _some_traffic(gw: RunningGateway) -> None:
    client = gw.openai()
    for team in ("search", "billing", "search"):
        client.chat.completions.create(model="gpt-4o-mini",
                                       messages=[{"role": "user", "content": "the same"}],
                                       extra_headers={"x-tokenthrift-team": team})
    gw.gateway.writer.flush()


def test_open_dashboard_without_a_master_key(tmp_path: Path) -> None:
    with running_gateway(config_for(tmp_path, {})) as gw:
        _some_traffic(gw)
        status, headers, body = _get(gw.url + "/ui")
        assert status == 200 and b"dashboard.js" in body
        status, headers, body = _get(gw.url + "/ui/static/dashboard.js")
        assert status == 200 and headers["content-type"].startswith("text/javascript")
        assert _get(gw.url + "/ui/static/../app.py")[0] == 404
        status, _, body = _get(gw.url + "/ui/api/data?since=24h&team=search")
        data = json.loads(body)
        assert status == 200 and data["totals"]["requests"] == 2 and data["team"] == "search"
        assert data["budgets"] == []  # governance runs, no budget set
        assert _get(gw.url + "/ui/api/data?since=yesterday")[0] == 400


def test_master_key_guards_page_and_data(tmp_path: Path) -> None:
    with running_gateway(config_for(tmp_path, {"master_key": MASTER})) as gw:
        _some_traffic(gw)
        status, _, body = _get(gw.url + "/ui")
        assert status == 401 and b'name="key"' in body and b"dashboard.js" not in body
        assert _get(gw.url + "/ui/api/data")[0] == 401
        wrong = urllib.parse.urlencode({"key": "nope"}).encode()
        assert _get(gw.url + "/ui/login", data=wrong)[0] == 401

        right = urllib.parse.urlencode({"key": MASTER}).encode()
        status, headers, _ = _get(gw.url + "/ui/login", data=right)
        assert status == 303 and headers["location"] == "/ui"
        cookie = headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and MASTER not in cookie
        session = {"cookie": f"{COOKIE}={session_token(MASTER)}"}
        assert cookie.startswith(f"{COOKIE}={session_token(MASTER)}")
        status, _, body = _get(gw.url + "/ui/api/data", session)
        assert status == 200 and json.loads(body)["totals"]["requests"] == 3
        assert _get(gw.url + "/ui", session)[0] == 200
        assert _get(gw.url + "/ui/api/data", {"cookie": f"{COOKIE}=forged"})[0] == 401

        status, headers, _ = _get(gw.url + f"/ui?key={MASTER}")  # one-click sign-in link
        assert status == 303 and headers["location"] == "/ui" and COOKIE in headers["set-cookie"]
        assert _get(gw.url + "/ui/api/data",
                    {"authorization": f"Bearer {MASTER}"})[0] == 200


def test_dashboard_refuses_when_keys_are_required_but_no_master_key(tmp_path: Path) -> None:
    raw = {"governance": {"auth": "required"}}
    with running_gateway(config_for(tmp_path, raw)) as gw:
        status, _, body = _get(gw.url + "/ui")
        assert status == 403 and b"TOKENTHRIFT_MASTER_KEY" in body
        assert _get(gw.url + "/ui/api/data")[0] == 401
    with running_gateway(config_for(tmp_path / "optional", {"governance": {"auth": "optional"}})
                         ) as gw:
        assert _get(gw.url + "/ui")[0] == 200  # positive control


def test_dashboard_shows_live_budgets(tmp_path: Path) -> None:
    with running_gateway(config_for(tmp_path, {"master_key": MASTER})) as gw:
        body = json.dumps({"scope": "team", "id": "search", "usd": 2, "period": "day"}).encode()
        status, _, _ = _get(gw.url + "/admin/budgets", {"authorization": f"Bearer {MASTER}",
                                                       "content-type": "application/json"}, body)
        assert status == 200
        _some_traffic(gw)
        _, _, raw = _get(gw.url + "/ui/api/data", {"authorization": f"Bearer {MASTER}"})
    (budget,) = json.loads(raw)["budgets"]
    assert budget["scope"] == "team" and budget["id"] == "search" and budget["usd"] == 2
    assert budget["spent"] > 0 and budget["remaining"] == pytest.approx(2 - budget["spent"])
    assert budget["period_end"]


def test_report_format_html_writes_a_standalone_page(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tokenthrift.cli.main import cli

    location = str(tmp_path / "ledger.db")
    ledger = open_ledger(location)
    ledger.write([_record(1, 1_800_000_000.0, "search", "0.001", saved="0.002"),
                  _record(2, 1_800_000_030.0, "billing</script><b>", "0.003")])
    ledger.close()
    out = tmp_path / "report.html"
    runner = CliRunner()
    result = runner.invoke(cli, ["report", "savings", "--by", "team", "--ledger", location,
                                 "--format", "html", "--out", str(out)])
    assert result.exit_code == 0, result.output
    page = out.read_text()
    # standalone: script, styles and data inline; nothing fetched from anywhere
    assert "/ui/static/" not in page and 'src="http' not in page and 'href="http' not in page
    assert "window.TOKENTHRIFT_DATA = " in page and "function stackedBars" in page
    data = json.loads(page.split("window.TOKENTHRIFT_DATA = ", 1)[1].split(";</script>", 1)[0]
                      .replace("<\\/", "</"))
    assert data["totals"]["cost_usd"] == pytest.approx(0.004)
    assert data["totals"]["saved_usd"] == pytest.approx(0.002)
    assert "billing</script><b>" not in page  # a team name cannot break out of the page
    assert "Savings by team" in page and "billing&lt;/script&gt;&lt;b&gt;" in page
    assert "0.002000" in page  # the report's own table, exact money

    wrong = runner.invoke(cli, ["report", "spend", "--ledger", location, "--format", "html"])
    assert wrong.exit_code != 0 and "--out" in wrong.output
    stray = runner.invoke(cli, ["report", "spend", "--ledger", location, "--out", str(out)])
    assert stray.exit_code != 0 and "--format html" in stray.output
    table = runner.invoke(cli, ["report", "spend", "--ledger", location])
    assert table.exit_code == 0 and "search" in table.output  # other formats unchanged


def test_dashboard_can_be_switched_off(tmp_path: Path) -> None:
    raw = {"observability": {"dashboard": {"enabled": False}}}
    with running_gateway(config_for(tmp_path, raw)) as gw:
        assert _get(gw.url + "/ui")[0] == 404
        assert _get(gw.url + "/ui/api/data")[0] == 404
        assert _get(gw.url + "/metrics")[0] == 200  # metrics are a separate switch
