"""The lever pipeline: one interface for every lever, savings that add up exactly.

* A lever defined in this file joins the gateway through one registration line and
  its hooks (rewrite, shape, unwind, observe, settle) all take effect.
* ``saved`` is exactly the sum of the levers' savings; a fallback to another model is
  recorded as ``unattributed`` and never credited to a lever.
* A cache hit's baseline is the request repeated now (provider prompt cache warm), not
  the original call's cold cost.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gateway_harness import config_for, running_gateway
from tokenthrift import registry
from tokenthrift.accounting.settlement import Settlement
from tokenthrift.cli.main import cli
from tokenthrift.emulator import Fault
from tokenthrift.exchange import Exchange
from tokenthrift.levers.base import Billable, Lever, Unwound
from tokenthrift.levers.context import LeverContext
from tokenthrift.routes import Candidate
from tokenthrift.types import ChatResponse, WireFormat

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
EMULATED = {"providers": {"emu": {"type": "emulator"}}, "retry": {"max_retries": 0}}


class DowngradeLever(Lever):
    """A toy right-sizing lever: serve ``gpt-4o`` requests with ``gpt-4o-mini`` and cap
    the upstream body's output tokens, crediting itself what the downgrade saved."""

    name = "downgrade"
    seen: list[str]

    def __init__(self, max_output: int) -> None:
        self.max_output = max_output
        self.seen = []

    async def rewrite(self, exchange: Exchange) -> None:
        first = exchange.candidates[0]
        if first.upstream_model == "gpt-4o":
            exchange.candidates = [Candidate(first.route, "gpt-4o-mini", first.provider_name)]
            exchange.notes[self.name] = "gpt-4o"
            exchange.ledger_notes[self.name] = {"from": "gpt-4o", "to": "gpt-4o-mini"}

    def shape(self, exchange: Exchange, protocol: WireFormat, body: dict[str, Any]) -> None:
        field = "max_completion_tokens" if "max_completion_tokens" in body else "max_tokens"
        body[field] = self.max_output

    async def observe(self, exchange: Exchange, response: ChatResponse | None) -> None:
        self.seen.append("observe")

    def unwind(self, exchange: Exchange, after: Billable) -> Unwound | None:
        model = exchange.notes.get(self.name)
        if model is None:
            return None
        return Unwound(self.name, replace(after, model=model), "served by gpt-4o-mini")

    async def settle(self, exchange: Exchange, settlement: Settlement) -> None:
        self.seen.append("settle")


def build(context: LeverContext) -> Lever | None:
    """The factory the registry line below points at."""
    section = context.section("downgrade")
    return DowngradeLever(int(section.get("max_output", 8)))  # type: ignore[call-overload]


def _post(url: str, body: dict[str, Any], headers: dict[str, str] | None = None
          ) -> tuple[int, dict[str, Any], dict[str, str]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json",
                                              **(headers or {})})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), dict(error.headers)


def test_a_lever_defined_in_a_test_joins_with_one_registration_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "REGISTRY", (
        *registry.REGISTRY, registry.LeverSpec("downgrade", f"{__name__}:build")))
    assert sys.modules[__name__].build is build
    raw = {**EMULATED, "models": [{"name": "*", "provider": "emu"}],
           "downgrade": {"max_output": 3}, "cache": {"exact": False}}
    with running_gateway(config_for(tmp_path, raw)) as gw:
        lever = gw.gateway.lever("downgrade")
        assert isinstance(lever, DowngradeLever)
        raw_response = gw.openai().chat.completions.with_raw_response.create(
            model="gpt-4o", max_tokens=200,
            messages=[{"role": "user", "content": "Write a long story about a lighthouse."}])
        completion = raw_response.parse()
        headers = raw_response.headers
        assert headers["x-tokenthrift-served-model"] == "gpt-4o-mini"  # rewrite
        assert completion.usage is not None and completion.usage.completion_tokens <= 3  # shape
        row = gw.ledger_row(headers["x-tokenthrift-request-id"])
        assert lever.seen == ["observe", "settle"]
        assert row.notes == {"downgrade": {"from": "gpt-4o", "to": "gpt-4o-mini"}}
        assert row.savings["downgrade"] > 0  # unwind: gpt-4o is dearer than gpt-4o-mini
        assert row.saved_usd == row.savings["downgrade"]
        assert row.baseline_cost_usd - row.cost_usd == row.saved_usd
        assert Decimal(headers["x-tokenthrift-saved-usd"]) == row.saved_usd
        # A request the lever leaves alone saves nothing.
        other = gw.openai().chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
        other_row = gw.ledger_row(other.headers["x-tokenthrift-request-id"])
        assert other_row.savings == {} and other_row.saved_usd == 0


def test_a_fallback_is_never_a_saving_and_reports_add_up(tmp_path: Path) -> None:
    raw = {**EMULATED,
           "models": [{"name": "gpt-4o", "provider": "emu", "fallbacks": ["gpt-4o-mini"]},
                      {"name": "*", "provider": "emu"}]}
    config = config_for(tmp_path, raw)
    with running_gateway(config) as gw:
        client = gw.openai()
        gw.emulator.add_fault(Fault(kind="status", status=500, model="gpt-4o", count=3))
        ids = []
        for i in range(6):  # 3 fallbacks to the cheaper model, then 3 served as asked...
            raw_response = client.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=[{"role": "user", "content": f"question {i}"}])
            ids.append(raw_response.headers["x-tokenthrift-request-id"])
        for _ in range(2):  # ...and two exact-cache hits, which are a lever's saving
            raw_response = client.chat.completions.with_raw_response.create(
                model="gpt-4o", messages=[{"role": "user", "content": "question 5"}])
            assert raw_response.headers["x-tokenthrift-cache"] == "exact"
            ids.append(raw_response.headers["x-tokenthrift-request-id"])
        rows = [gw.ledger_row(i) for i in ids]
    fallbacks = [r for r in rows if r.fallback_used]
    assert len(fallbacks) == 3
    for row in fallbacks:
        assert row.served_model == "gpt-4o-mini" and row.saved_usd == 0 and row.savings == {}
        assert row.unattributed_usd == row.baseline_cost_usd - row.cost_usd > 0
    for row in rows:
        assert row.saved_usd == sum(row.savings.values(), Decimal(0))
        assert row.baseline_cost_usd - row.cost_usd == row.saved_usd + row.unattributed_usd
    hits = [r for r in rows if r.cache_status == "exact"]
    assert len(hits) == 2 and all(r.savings["exact_cache"] > 0 for r in hits)

    ledger = str(tmp_path / "ledger.db")
    runner = CliRunner()
    by_lever = runner.invoke(cli, ["report", "savings", "--by", "lever", "--ledger", ledger,
                                  "--format", "json"])
    spend = runner.invoke(cli, ["report", "spend", "--ledger", ledger, "--format", "json"])
    assert by_lever.exit_code == 0, by_lever.output
    assert spend.exit_code == 0, spend.output
    levers = json.loads(by_lever.output, parse_float=Decimal)
    (total,) = json.loads(spend.output, parse_float=Decimal)
    lever_sum = sum((r["saved_usd"] for r in levers), Decimal(0))
    assert lever_sum == total["saved_usd"] == sum((r.saved_usd for r in rows), Decimal(0)) > 0
    assert total["unattributed_usd"] == sum((r.unattributed_usd for r in rows), Decimal(0)) > 0
    assert total["baseline_cost_usd"] - total["cost_usd"] == lever_sum + total["unattributed_usd"]


LONG_SYSTEM = "House rules for the support desk. Always cite the clause number. " * 120


def _anthropic_body() -> dict[str, Any]:
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024,
            "system": [{"type": "text", "text": LONG_SYSTEM,
                        "cache_control": {"type": "ephemeral"}}],
            "messages": [{"role": "user", "content": "Which clause covers refunds?"}]}


def test_an_exact_hit_baseline_is_the_request_repeated_with_the_prompt_cache_warm(
        tmp_path: Path) -> None:
    headers = {"anthropic-version": "2023-06-01", "x-api-key": "anything"}
    with running_gateway(config_for(tmp_path)) as gw:
        url = gw.url + "/v1/messages"
        status, first, first_headers = _post(url, _anthropic_body(), headers)
        assert status == 200 and first["usage"]["cache_creation_input_tokens"] > 1000
        status, _, hit = _post(url, _anthropic_body(), headers)
        assert hit["x-tokenthrift-cache"] == "exact"
        # What the emulator bills for the very same request sent again now.
        status, again, repeat = _post(url, _anthropic_body(),
                                      {**headers, "x-tokenthrift-cache": "off"})
        assert again["usage"]["cache_read_input_tokens"] > 1000
    baseline = Decimal(hit["x-tokenthrift-baseline-cost-usd"])
    repeated = Decimal(repeat["x-tokenthrift-cost-usd"])
    one_token = Decimal("15") / 10**6  # claude-sonnet-4-5 output, its dearest token
    assert abs(baseline - repeated) <= one_token
    # The original call's cold cost (cache write premium) would overstate the saving.
    assert Decimal(first_headers["x-tokenthrift-cost-usd"]) > 2 * baseline
    assert Decimal(hit["x-tokenthrift-saved-usd"]) == baseline


def test_an_openai_exact_hit_baseline_reads_the_automatic_prefix_cache(tmp_path: Path) -> None:
    body = {"model": "gpt-4o", "max_tokens": 1024,
            "messages": [{"role": "system", "content": LONG_SYSTEM},
                         {"role": "user", "content": "Which clause covers refunds?"}]}
    with running_gateway(config_for(tmp_path)) as gw:
        url = gw.url + "/v1/chat/completions"
        _post(url, body)
        _, _, hit = _post(url, body)
        assert hit["x-tokenthrift-cache"] == "exact"
        _, again, repeat = _post(url, body, {"x-tokenthrift-cache": "off"})
        assert again["usage"]["prompt_tokens_details"]["cached_tokens"] >= 1024
    baseline = Decimal(hit["x-tokenthrift-baseline-cost-usd"])
    assert abs(baseline - Decimal(repeat["x-tokenthrift-cost-usd"])) <= Decimal("10") / 10**6


def test_every_response_carries_a_request_id(tmp_path: Path) -> None:
    raw = {**EMULATED, "models": [{"name": "gpt-4o", "provider": "emu",
                                   "fallbacks": ["gpt-4o-mini"]}]}
    with running_gateway(config_for(tmp_path, raw)) as gw:
        url = gw.url + "/v1/chat/completions"
        gw.emulator.add_fault(Fault(kind="status", status=500, count=2))
        status, _, exhausted = _post(url, {"model": "gpt-4o",
                                           "messages": [{"role": "user", "content": "x"}]})
        assert status == 502 and exhausted["x-tokenthrift-request-id"].startswith("req_")
        assert gw.ledger_row(exhausted["x-tokenthrift-request-id"]).status == 502
        status, _, unknown = _post(url, {"model": "nope",
                                         "messages": [{"role": "user", "content": "x"}]})
        assert status == 404 and unknown["x-tokenthrift-request-id"].startswith("req_")
        status, _, bad = _post(url, {"messages": "not a list"})
        assert status == 400 and bad["x-tokenthrift-request-id"].startswith("req_")
        try:
            urllib.request.urlopen(gw.url + "/no/such/route")
        except urllib.error.HTTPError as error:
            assert error.code == 404 and error.headers["x-tokenthrift-request-id"]


def test_a_hung_upstream_is_answered_within_the_request_deadline(tmp_path: Path) -> None:
    # Positive control first: with a deadline longer than one attempt, a timeout is retried.
    raw = {**EMULATED, "models": [{"name": "*", "provider": "emu"}],
           "retry": {"max_retries": 2, "backoff_s": 0.01}, "timeout_s": 0.2, "deadline_s": 5}
    with running_gateway(config_for(tmp_path / "a", raw)) as gw:
        gw.emulator.add_fault(Fault(kind="timeout", model="gpt-4o-mini", count=1))
        ok = gw.openai().chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "x"}])
        assert gw.ledger_row(ok.headers["x-tokenthrift-request-id"]).retries == 1
    del raw["deadline_s"]  # the deadline defaults to timeout_s: no second attempt fits
    with running_gateway(config_for(tmp_path / "b", raw)) as gw:
        gw.emulator.add_fault(Fault(kind="timeout", model="gpt-4o-mini", count=3))
        url = gw.url + "/v1/chat/completions"
        status, _, headers = _post(url, {"model": "gpt-4o-mini",
                                         "messages": [{"role": "user", "content": "x"}]})
        assert status == 504
        row = gw.ledger_row(headers["x-tokenthrift-request-id"])
        assert row.retries == 0 and row.status == 504


def test_every_lever_on_one_request_and_the_savings_still_add_up(tmp_path: Path) -> None:
    """Routing (auto → the cheap Claude), compression (a long attached document) and
    provider prompt caching (a long, stable system prompt) on the same requests: each
    lever reports its own step and the steps add up to baseline - cost exactly."""
    raw = {**EMULATED, "models": [{"name": "*", "provider": "emu"}],
           "cache": {"exact": False},
           "routing": {"policies": {"auto": {"strong": "claude-sonnet-4-5",
                                             "weak": "claude-haiku-4-5"}},
                       "tasks": {"extraction": "claude-haiku-4-5"}},
           "compression": {"enabled": True, "target_ratio": 0.4, "min_tokens": 200},
           "prompt_caching": {"anthropic": "auto"}}
    system = "You answer questions about the attached report. Cite the paragraph. " * 400
    filler = ("The committee reviewed the quarterly figures for the northern depot and "
              "noted the usual seasonal pattern in deliveries. ")
    rows = []
    with running_gateway(config_for(tmp_path, raw)) as gw:
        for i in range(3):
            report = "\n\n".join(
                [filler * 3] * 6 + [f"The depot opened its new loading bay in month {i + 3}."]
                + [filler * 3] * 6)
            raw_response = gw.anthropic().messages.with_raw_response.create(
                model="auto", max_tokens=300, system=system,
                messages=[{"role": "user", "content": f"{report}\n\nQuestion: In which month "
                           "did the depot open its new loading bay?"}],
                extra_headers={"x-tokenthrift-task": "extraction"})
            rows.append(gw.ledger_row(raw_response.headers["x-tokenthrift-request-id"]))
    for row in rows:
        assert row.served_model.startswith("claude-haiku-4-5")
        assert row.savings["routing"] > 0 and row.savings["compression"] > 0
        assert row.baseline_cost_usd - row.cost_usd == row.saved_usd + row.unattributed_usd
        assert row.saved_usd == sum(row.savings.values(), Decimal(0))
        assert row.unattributed_usd == 0
    # The repeated system prompt is written once, then read: a premium, then a gain.
    assert rows[-1].cache_read_tokens > 0 and rows[-1].savings["prompt_cache"] > 0
    assert any(r.savings.get("prompt_cache", 0) < 0 for r in rows)
