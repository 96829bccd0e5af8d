"""Routing through the gateway: policies by model name, task rules, both wire formats,
fallbacks, and a saving that is exactly the requested model's cost minus the served
one's (negative when a rule picks a dearer model)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from gateway_harness import RunningGateway, config_for, running_gateway
from tokenthrift.emulator import Fault

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

ROUTING: dict[str, Any] = {
    "policies": {"auto": {"strong": "gpt-4o", "weak": "gpt-4o-mini", "quality_target": 0.95}},
    "tasks": {"classification": "gpt-4o-mini", "code_generation": "claude-sonnet-4-5"},
    "apply_to": ["gpt-4o"],
    "fallbacks": {"gpt-4o": ["claude-sonnet-4-5"]},
}
USER = [{"role": "user", "content": "Label the sentiment of: 'the parcel came early'"}]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Any:
    raw = {"providers": {"emu": {"type": "emulator"}}, "models": [{"name": "*", "provider": "emu"}],
           "retry": {"max_retries": 0}, "cache": {"exact": False}, "routing": ROUTING}
    with running_gateway(config_for(tmp_path_factory.mktemp("routing"), raw)) as running:
        yield running


def _row(gw: RunningGateway, headers: Any) -> Any:
    return gw.ledger_row(headers["x-tokenthrift-request-id"])


def test_a_task_rule_right_sizes_a_request_for_an_apply_to_model(gw: RunningGateway) -> None:
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=USER, extra_headers={"x-tokenthrift-task": "classification"})
    assert raw.headers["x-tokenthrift-route"] == "rule:classification"
    assert raw.headers["x-tokenthrift-served-model"] == "gpt-4o-mini"
    row = _row(gw, raw.headers)
    assert row.requested_model == "gpt-4o" and row.served_model == "gpt-4o-mini"
    assert row.notes["routing"]["decision"] == "rule:classification"
    assert row.savings["routing"] == row.baseline_cost_usd - row.cost_usd > 0
    # The baseline is gpt-4o on the same usage: $2.50/$10 per MTok.
    expected = (Decimal(row.input_tokens) * Decimal("2.5")
                + Decimal(row.output_tokens) * 10) / 10**6
    assert row.baseline_cost_usd == expected


def test_an_openai_request_for_a_policy_is_served_by_claude_and_back(gw: RunningGateway) -> None:
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="tokenthrift/auto", messages=[{"role": "user", "content": "Write a Python "
                                             "function that merges two sorted lists."}],
        extra_headers={"x-tokenthrift-task": "code_generation"})
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert raw.headers["x-tokenthrift-served-model"].startswith("claude-sonnet-4-5")
    row = _row(gw, raw.headers)
    # A rule may pick a dearer model: the saving is honest, here negative.
    assert row.savings["routing"] == row.baseline_cost_usd - row.cost_usd < 0
    assert row.saved_usd == row.savings["routing"]


def test_an_anthropic_request_for_a_policy_is_served_by_gpt(gw: RunningGateway) -> None:
    raw = gw.anthropic().messages.with_raw_response.create(
        model="auto", max_tokens=200, messages=USER,  # type: ignore[arg-type]
        extra_headers={"x-tokenthrift-task": "classification"})
    message = raw.parse()
    assert message.content[0].type == "text" and message.content[0].text
    assert raw.headers["x-tokenthrift-served-model"] == "gpt-4o-mini"
    assert _row(gw, raw.headers).savings["routing"] > 0


def test_the_router_decides_when_no_rule_applies_and_quality_steers_it(gw: RunningGateway
                                                                        ) -> None:
    def served(quality: str) -> str:
        raw = gw.openai().chat.completions.with_raw_response.create(
            model="auto", messages=[{"role": "user", "content": "What is 2 + 2?"}],
            extra_headers={"x-tokenthrift-quality": quality, "x-tokenthrift-task": "none"})
        assert raw.headers["x-tokenthrift-route"].startswith("router:")
        return raw.headers["x-tokenthrift-served-model"]

    # The lowest target sends it to the weak model, the highest to the strong one.
    assert served("0.01") == "gpt-4o-mini"
    assert served("1.0") == "gpt-4o"


def test_route_off_serves_the_strong_model_and_saves_nothing(gw: RunningGateway) -> None:
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="auto", messages=USER,
        extra_headers={"x-tokenthrift-route": "off", "x-tokenthrift-task": "classification"})
    assert raw.headers["x-tokenthrift-route"] == "off"
    assert raw.headers["x-tokenthrift-served-model"] == "gpt-4o"
    row = _row(gw, raw.headers)
    assert row.savings == {} and row.baseline_cost_usd == row.cost_usd


def test_a_bad_quality_target_is_a_400_in_the_clients_format(gw: RunningGateway) -> None:
    with pytest.raises(openai.BadRequestError):
        gw.openai().chat.completions.create(model="auto", messages=USER,  # type: ignore[arg-type]
                                            extra_headers={"x-tokenthrift-quality": "2"})
    with pytest.raises(anthropic.BadRequestError):
        gw.anthropic().messages.create(model="auto", max_tokens=10, messages=USER,  # type: ignore[arg-type]
                                       extra_headers={"x-tokenthrift-quality": "x"})


@pytest.mark.parametrize("status", [429, 500])
def test_a_failing_routed_model_falls_back_and_the_difference_is_no_saving(
        tmp_path: Path, status: int) -> None:
    raw = {"providers": {"emu": {"type": "emulator"}},
           "models": [{"name": "*", "provider": "emu"}],
           "retry": {"max_retries": 0, "max_retry_after_s": 0}, "cache": {"exact": False},
           "routing": ROUTING}
    with running_gateway(config_for(tmp_path, raw)) as gw:
        gw.emulator.add_fault(Fault(kind="status", status=status, model="gpt-4o", count=1))
        response = gw.openai().chat.completions.with_raw_response.create(
            model="auto", messages=USER, extra_headers={"x-tokenthrift-route": "off"})
        assert response.headers["x-tokenthrift-served-model"].startswith("claude-sonnet-4-5")
        row = _row(gw, response.headers)
    assert row.fallback_used and row.savings == {} and row.saved_usd == 0
    assert row.unattributed_usd == row.baseline_cost_usd - row.cost_usd != 0


def test_a_cache_hit_for_a_policy_is_priced_as_its_strong_model(tmp_path: Path) -> None:
    raw = {"providers": {"emu": {"type": "emulator"}},
           "models": [{"name": "*", "provider": "emu"}], "routing": ROUTING}
    headers = {"x-tokenthrift-task": "classification"}
    with running_gateway(config_for(tmp_path, raw)) as gw:
        client = gw.openai()
        first = client.chat.completions.with_raw_response.create(
            model="auto", messages=USER, max_tokens=1000, extra_headers=headers)
        hit = client.chat.completions.with_raw_response.create(
            model="auto", messages=USER, max_tokens=1000, extra_headers=headers)
        assert hit.headers["x-tokenthrift-cache"] == "exact"
        original, row = _row(gw, first.headers), _row(gw, hit.headers)
    # As asked, the request was for the policy's strong model: the original call's
    # baseline (gpt-4o), not the cheap model that happened to answer it.
    assert original.served_model == "gpt-4o-mini"
    assert row.baseline_cost_usd == original.baseline_cost_usd > original.cost_usd
    assert row.savings == {"exact_cache": row.baseline_cost_usd} and row.cost_usd == 0
