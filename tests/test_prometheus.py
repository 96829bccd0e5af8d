"""A real Prometheus server (Debian package ``prometheus``) scrapes a running gateway;
its HTTP API then answers the dashboards' questions with the ledger's figures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway_harness import RunningGateway, config_for, running_gateway
from test_deploy import dashboard_queries
from tokenthrift.server.runner import free_port

PROMETHEUS = shutil.which("prometheus")


def _need_prometheus() -> str:
    if PROMETHEUS is None:
        message = "prometheus is not installed (apt-get install prometheus; .ci/run does)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return PROMETHEUS


def _start(binary: str, config: Path, api: str, data: Path) -> subprocess.Popen[bytes]:
    port = api.rsplit(":", 1)[1]
    return subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={data}",
         f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _query(api: str, promql: str) -> list[dict[str, Any]]:
    url = f"{api}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def _wait_for(api: str, promql: str, process: subprocess.Popen[bytes], expected: int,
              timeout: float = 60.0) -> list[dict[str, Any]]:
    """The query's result once it has ``expected`` series (scrapes arrive every second)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"prometheus exited: {process.stderr.read()!r}")  # type: ignore[union-attr]
        try:
            last = _query(api, promql)
            if len(last) >= expected:
                return last
        except OSError as exc:  # not listening yet
            last = exc
        time.sleep(0.25)
    raise AssertionError(f"{promql}: no answer within {timeout}s (last: {last!r})")


def _workload(gw: RunningGateway) -> None:
    client = gw.openai()
    for i, team in enumerate(["search", "billing", "search"]):
        for _ in range(2):  # the repeat is an exact-cache hit
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"question {i}"}],
                extra_headers={"x-tokenthrift-team": team})
    gw.anthropic().messages.create(model="claude-haiku-4-5", max_tokens=40,
                                   messages=[{"role": "user", "content": "hi"}],
                                   extra_headers={"x-tokenthrift-team": "billing"})


def _grafana_to_promql(expr: str) -> str:
    """A dashboard query as Grafana sends it: variables replaced by their values."""
    return (expr.replace("$__rate_interval", "1m").replace("$__range", "5m")
            .replace('"$team"', '".*"'))


def _value(sample: dict[str, Any]) -> Decimal:
    return Decimal(sample["value"][1])


def _close(a: Decimal, b: Decimal) -> bool:
    # Prometheus stores float64: equal to the ledger's exact sum to ~15 significant digits.
    return abs(a - b) <= abs(b) * Decimal("1e-12") + Decimal("1e-15")


def test_prometheus_scrapes_counters_that_match_the_ledger(tmp_path: Path) -> None:
    binary = _need_prometheus()
    api, config = f"http://127.0.0.1:{free_port()}", tmp_path / "prometheus.yml"
    with running_gateway(config_for(tmp_path, {"cache": {"exact": {"enabled": True}}})) as gw:
        _workload(gw)
        gw.gateway.writer.flush()
        ledger = gw.gateway.ledger
        (spend,) = ledger.spend([])
        by_team = {r["team"]: r["cost_usd"] for r in ledger.spend(["team"])}
        by_lever = {r["lever"]: r["saved_usd"] for r in ledger.savings("lever") if r["saved_usd"]}
        target = gw.url.removeprefix("http://")
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s"},
            "scrape_configs": [{"job_name": "tokenthrift",
                                "static_configs": [{"targets": [target]}]}],
        }))
        process = _start(binary, config, api, tmp_path / "tsdb")
        try:
            up = _wait_for(api, 'up{job="tokenthrift"} == 1', process, 1)
            assert up[0]["metric"]["instance"] == target
            cost = _wait_for(api, "sum(tokenthrift_cost_usd_total)", process, 1)
            # rate() and increase() in the dashboard need two scrapes
            _wait_for(api, "sum(rate(tokenthrift_cost_usd_total[1m])) >= 0", process, 1)
            teams = _query(api, "sum by (team) (tokenthrift_cost_usd_total)")
            levers = _query(api, "sum by (lever) (tokenthrift_saved_usd_total)")
            baseline = _query(api, "sum(tokenthrift_baseline_cost_usd_total)")
            requests = _query(api, "sum(tokenthrift_requests_total)")
            hits = _query(api, 'sum(tokenthrift_requests_total{cache="exact"})')
            p50 = _query(api, "histogram_quantile(0.5, sum by (le) "
                              "(tokenthrift_request_duration_seconds_bucket))")
            dashboard = {title + ": " + expr: _query(api, _grafana_to_promql(expr))
                         for title, expr, _ in dashboard_queries() if not title.startswith("$")}
        finally:
            process.terminate()
            process.wait(timeout=10)
    assert spend["cost_usd"] > 0 and spend["saved_usd"] > 0  # positive controls
    assert _close(_value(cost[0]), spend["cost_usd"])
    assert _close(_value(baseline[0]), spend["baseline_cost_usd"])
    assert {s["metric"].get("team"): _value(s) for s in teams}.keys() == {"search", "billing"}
    for sample in teams:
        assert _close(_value(sample), by_team[sample["metric"]["team"]])
    assert {s["metric"]["lever"] for s in levers} == set(by_lever)
    for sample in levers:
        assert _close(_value(sample), by_lever[sample["metric"]["lever"]])
    assert _value(requests[0]) == spend["requests"] == 7
    assert _value(hits[0]) == 3
    assert _value(p50[0]) > 0
    # Every Grafana panel's query is valid PromQL that Prometheus accepts; the ones about
    # this workload (spend, savings, tokens, cache, routing, latency) have data.
    empty = sorted(q for q, result in dashboard.items() if not result)
    # (no budget, unpriced model, 5xx or fallback in this workload)
    assert all(any(word in q for word in ("budget", "unpriced", "5..", "unattributed"))
               for q in empty), empty
    assert len(empty) < len(dashboard) / 4
