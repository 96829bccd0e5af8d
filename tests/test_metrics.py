"""``GET /metrics``: after a known sequence of requests the counters equal the ledger's
exact sums (cost, baseline, savings by lever, tokens, requests), label values are
bounded, budgets and cache entries are live gauges, and the scrape can require the
master key."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from gateway_harness import RunningGateway, config_for, running_gateway
from tokenthrift.config_section import ConfigError
from tokenthrift.emulator import Fault
from tokenthrift.ledger.record import LedgerRecord
from tokenthrift.observability import parse_observability
from tokenthrift.observability.metrics import GatewayMetrics
from tokenthrift.observability.registry import Counter, Histogram, render

MASTER = "sk-master-metrics-51c2"
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Series = dict[tuple[tuple[str, str], ...], Decimal]


def parse_metrics(text: str) -> dict[str, Series]:
    """Prometheus text format -> {sample name: {sorted label pairs: value}}."""
    found: dict[str, Series] = defaultdict(dict)
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        pairs = tuple(sorted(_LABEL.findall(labels or "")))
        found[name][pairs] = Decimal(value) if value not in ("+Inf", "-Inf", "NaN") else Decimal(0)
    return found


def total(series: Series, **where: str) -> Decimal:
    return sum((v for k, v in series.items() if all((n, w) in k for n, w in where.items())),
               Decimal(0))


def by_label(series: Series, label: str) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for key, value in series.items():
        out[dict(key).get(label, "")] += value
    return dict(out)


def scrape(url: str, headers: dict[str, str] | None = None) -> dict[str, Series]:
    request = urllib.request.Request(url + "/metrics", headers=headers or {})
    with urllib.request.urlopen(request) as response:
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        return parse_metrics(response.read().decode())


def _workload(gw: RunningGateway) -> None:
    """Misses, exact repeats (cache savings), two teams and a task, both wire formats, a
    stream, a fallback after upstream errors (unattributed), and a failed request."""
    client = gw.openai()
    for i, team in enumerate(["search", "search", "billing", "billing", "search"]):
        for _ in range(2):  # the second one is an exact-cache hit
            client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": f"question {i}"}],
                extra_headers={"x-tokenthrift-team": team, "x-tokenthrift-task": "faq"})
    stream = client.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "stream me"}], stream=True,
        stream_options={"include_usage": True}, extra_headers={"x-tokenthrift-team": "search"})
    for _ in stream:
        pass
    gw.anthropic().messages.create(model="claude-haiku-4-5", max_tokens=50,
                                   messages=[{"role": "user", "content": "hello claude"}],
                                   extra_headers={"x-tokenthrift-team": "billing"})
    gw.emulator.add_fault(Fault(kind="status", status=500, model="gpt-4o", count=3))
    client.chat.completions.create(model="gpt-4o",
                                   messages=[{"role": "user", "content": "fall back please"}])
    gw.emulator.add_fault(Fault(kind="status", status=500, model="gpt-4.1-nano", count=3))
    with pytest.raises(Exception):  # noqa: B017 - any SDK error: the 502 is in the ledger
        client.chat.completions.create(model="gpt-4.1-nano",
                                       messages=[{"role": "user", "content": "fails"}])


@pytest.fixture(scope="module")
def after_workload(tmp_path_factory: pytest.TempPathFactory
                   ) -> Iterator[tuple[dict[str, Series], list[LedgerRecord], RunningGateway]]:
    tmp = tmp_path_factory.mktemp("metrics")
    raw: dict[str, Any] = {
        "models": [{"name": "gpt-4o", "provider": "emulator", "fallbacks": ["claude-haiku-4-5"]},
                   {"name": "*", "provider": "emulator"}],
        "retry": {"max_retries": 2, "backoff_s": 0.01, "max_backoff_s": 0.02},
        "cache": {"exact": {"enabled": True}},
    }
    with running_gateway(config_for(tmp, raw)) as gw:
        _workload(gw)
        gw.gateway.writer.flush()
        rows = gw.gateway.ledger.rows(limit=10_000)
        yield scrape(gw.url), rows, gw


def test_money_counters_equal_the_ledger_to_the_last_digit(after_workload: Any) -> None:
    metrics, rows, gw = after_workload
    (spend,) = gw.gateway.ledger.spend([])
    assert spend["requests"] == len(rows) == 14
    cost = total(metrics["tokenthrift_cost_usd_total"])
    baseline = total(metrics["tokenthrift_baseline_cost_usd_total"])
    saved = total(metrics["tokenthrift_saved_usd_total"])
    unattributed = total(metrics["tokenthrift_unattributed_usd_total"])
    assert cost == spend["cost_usd"] > 0
    assert baseline == spend["baseline_cost_usd"]
    assert saved == spend["saved_usd"] > 0  # positive control: the cache saved something
    assert unattributed == spend["unattributed_usd"] != 0  # the fallback moved the cost
    assert baseline - cost == saved + unattributed
    lever_rows = {r["lever"]: r["saved_usd"] for r in gw.gateway.ledger.savings("lever")}
    by_lever = by_label(metrics["tokenthrift_saved_usd_total"], "lever")
    assert by_lever == {lever: usd for lever, usd in lever_rows.items() if usd}
    assert by_lever["exact_cache"] > 0


def test_team_and_model_labels_split_spend_as_the_ledger_does(after_workload: Any) -> None:
    metrics, _rows, gw = after_workload
    ledger_by_team = {r["team"] or "": r["cost_usd"] for r in gw.gateway.ledger.spend(["team"])}
    assert by_label(metrics["tokenthrift_cost_usd_total"], "team") == ledger_by_team
    assert set(ledger_by_team) == {"search", "billing", ""}
    ledger_by_model = {r["model"]: r["cost_usd"] for r in gw.gateway.ledger.spend(["model"])}
    metric_by_model = by_label(metrics["tokenthrift_cost_usd_total"], "model")
    # a request nothing served (the 502) costs nothing under its requested model
    assert {m: v for m, v in metric_by_model.items() if v} == {
        m: v for m, v in ledger_by_model.items() if v}
    assert total(metrics["tokenthrift_cost_usd_total"], task="faq") == sum(
        (r["cost_usd"] for r in gw.gateway.ledger.spend(["task"]) if r["task"] == "faq"),
        Decimal(0))


def test_token_counters_equal_the_ledger(after_workload: Any) -> None:
    metrics, rows, _gw = after_workload
    tokens = metrics["tokenthrift_tokens_total"]
    expected = {
        "input": sum(r.input_tokens for r in rows),
        "output": sum(r.output_tokens for r in rows),
        "cache_read": sum(r.cache_read_tokens for r in rows),
        "cache_write": sum(r.cache_write_tokens for r in rows),
        "reasoning": sum(r.reasoning_tokens for r in rows),
    }
    assert expected["input"] > 0 and expected["output"] > 0
    for token_type, count in expected.items():
        assert total(tokens, token_type=token_type) == count, token_type


def test_requests_by_status_and_cache_and_the_routing_mix(after_workload: Any) -> None:
    metrics, rows, _gw = after_workload
    requests = metrics["tokenthrift_requests_total"]
    assert total(requests) == len(rows)
    assert total(requests, cache="exact") == sum(r.cache_status == "exact" for r in rows) == 5
    assert total(requests, status="502") == 1
    # the fallback: asked for gpt-4o, served by claude-haiku-4-5
    assert total(requests, requested_model="gpt-4o", model="claude-haiku-4-5") == 1
    assert total(requests, requested_model="gpt-4o", model="gpt-4o") == 1
    assert total(metrics["tokenthrift_request_duration_seconds_count"]) == len(rows)
    assert total(metrics["tokenthrift_overhead_seconds_count"]) == len(rows)
    inf = total(metrics["tokenthrift_request_duration_seconds_bucket"], le="+Inf")
    assert inf == len(rows)


def test_customer_labels_are_off_by_default_and_values_are_bounded(tmp_path: Path) -> None:
    settings = parse_observability({"metrics": {"max_label_values": 3,
                                                "labels": ["model", "team", "customer"]}})
    default = GatewayMetrics()
    bounded = GatewayMetrics(settings.metrics)
    for i in range(8):
        record = LedgerRecord(request_id=f"r{i}", ts=0.0, team=f"team-{i}", customer=f"c{i}",
                              requested_model="gpt-4o-mini", served_model="gpt-4o-mini",
                              provider="emulator", wire_format="openai",
                              endpoint="chat.completions", input_tokens=10,
                              cost_usd=Decimal("0.001"), baseline_cost_usd=Decimal("0.001"))
        default.observe(record)
        bounded.observe(record)
    plain = parse_metrics(default.render())
    assert all("customer" not in dict(k) for k in plain["tokenthrift_cost_usd_total"])
    assert len(by_label(plain["tokenthrift_cost_usd_total"], "team")) == 8  # under the limit
    capped = parse_metrics(bounded.render())["tokenthrift_cost_usd_total"]
    assert by_label(capped, "team") == {"team-0": Decimal("0.001"), "team-1": Decimal("0.001"),
                                        "team-2": Decimal("0.001"), "other": Decimal("0.005")}
    assert set(by_label(capped, "customer")) == {"c0", "c1", "c2", "other"}
    assert total(capped) == Decimal("0.008")  # nothing is lost past the limit


def test_unknown_label_or_bad_limit_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"observability\.metrics\.labels.*'tenant'"):
        parse_observability({"metrics": {"labels": ["team", "tenant"]}})
    with pytest.raises(ConfigError, match=r"observability\.metrics\.max_label_values"):
        parse_observability({"metrics": {"max_label_values": 0}})
    with pytest.raises(ConfigError, match=r"observability\.metric"):
        parse_observability({"metric": {}})
    assert parse_observability({"metrics": {"max_label_values": 1}}).metrics.max_label_values == 1


def test_budgets_and_cache_entries_are_live_gauges(tmp_path: Path) -> None:
    raw = {"master_key": MASTER, "cache": {"exact": {"enabled": True}}}
    with running_gateway(config_for(tmp_path, raw)) as gw:
        before = scrape(gw.url)
        assert "tokenthrift_budget_remaining_usd" not in before  # no budget yet
        _admin(gw.url, "/admin/budgets", {"scope": "team", "id": "search", "usd": 5,
                                          "period": "month"})
        gw.openai().chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "spend a little"}],
            extra_headers={"x-tokenthrift-team": "search"})
        metrics = scrape(gw.url)
        gw.gateway.writer.flush()
        (spend,) = gw.gateway.ledger.spend([])
    where = (("id", "search"), ("period", "month"), ("scope", "team"))
    assert metrics["tokenthrift_budget_limit_usd"][where] == 5
    spent = metrics["tokenthrift_budget_spent_usd"][where]
    assert spent > 0 and abs(spent - spend["cost_usd"]) < Decimal("1e-9")
    assert metrics["tokenthrift_budget_remaining_usd"][where] == 5 - spent
    assert metrics["tokenthrift_cache_entries"][()] == 1


def test_scrape_requires_the_master_key_when_configured(tmp_path: Path) -> None:
    raw = {"master_key": MASTER, "observability": {"metrics": {"auth": True}}}
    with running_gateway(config_for(tmp_path, raw)) as gw:
        assert _status(gw.url + "/metrics", {}) == 401
        assert _status(gw.url + "/metrics", {"authorization": "Bearer wrong"}) == 401
        assert "tokenthrift_cost_usd_total" in (
            _body(gw.url + "/metrics", {"authorization": f"Bearer {MASTER}"}))
    with running_gateway(config_for(tmp_path / "open", {"master_key": MASTER})) as gw:
        assert _status(gw.url + "/metrics", {}) == 200  # auth is off by default


def test_metrics_can_be_switched_off(tmp_path: Path) -> None:
    raw = {"observability": {"metrics": {"enabled": False}}}
    with running_gateway(config_for(tmp_path, raw)) as gw:
        assert _status(gw.url + "/metrics", {}) == 404
        assert gw.gateway.observers == ()
    with running_gateway(config_for(tmp_path / "on", {})) as gw:
        assert _status(gw.url + "/metrics", {}) == 200


def test_exposition_escapes_label_values_and_accumulates_histogram_buckets() -> None:
    counter = Counter("x_total", "help", ("team",))
    counter.inc(('we"ird\\team\nname',), 2)
    histogram = Histogram("h_seconds", "help", ("model",), (0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 3.0):
        histogram.observe(("m",), value)
    text = render([counter, histogram])
    assert 'x_total{team="we\\"ird\\\\team\\nname"} 2' in text
    parsed = parse_metrics(text)
    buckets = parsed["h_seconds_bucket"]
    assert buckets[(("le", "0.1"), ("model", "m"))] == 2  # 0.05 and 0.1 (le is inclusive)
    assert buckets[(("le", "1"), ("model", "m"))] == 3
    assert buckets[(("le", "+Inf"), ("model", "m"))] == 4
    assert parsed["h_seconds_count"][(("model", "m"),)] == 4
    assert parsed["h_seconds_sum"][(("model", "m"),)] == Decimal("3.65")


def _admin(url: str, path: str, body: dict[str, Any]) -> None:
    import json

    request = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"authorization": f"Bearer {MASTER}",
                                              "content-type": "application/json"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 200


def _status(url: str, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _body(url: str, headers: dict[str, str]) -> str:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers)) as response:
        return str(response.read().decode())


def test_config_check_names_a_bad_observability_key(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from tokenthrift.cli.main import cli

    bad, good = tmp_path / "bad.yaml", tmp_path / "good.yaml"
    bad.write_text("observability:\n  metrics: {labels: [team, tenant]}\n")
    good.write_text("observability:\n  metrics: {labels: [team, customer]}\n")
    result = CliRunner().invoke(cli, ["config", "check", str(bad)])
    assert result.exit_code == 1 and "observability.metrics.labels" in result.output
    assert CliRunner().invoke(cli, ["config", "check", str(good)]).exit_code == 0
