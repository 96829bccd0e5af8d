"""The routing lever's hooks, driven directly with an Exchange: task rules, the learned
router under a quality target, per-request headers, fallbacks, the ledger note and the
saving reported against the model as asked."""

from __future__ import annotations

import pytest

from tokenthrift.accounting.billable import Billable
from tokenthrift.config import GatewayConfig, ModelRoute, ProviderConfig
from tokenthrift.config_section import ConfigError
from tokenthrift.errors import GatewayError
from tokenthrift.exchange import Exchange
from tokenthrift.levers.routing.lever import RoutingLever, build_lever
from tokenthrift.levers.routing.settings import RoutingSettings
from tokenthrift.types import Attribution, ChatRequest, Message, TextPart, Usage

ROUTING = {
    "policies": {"auto": {"strong": "gpt-4o", "weak": "gpt-4o-mini", "quality_target": 0.95}},
    "tasks": {"classification": "gpt-4o-mini", "summarization": "gpt-4o-mini",
              "complex_reasoning": "gpt-4o", "code_generation": "claude-sonnet-4-5"},
    "apply_to": ["gpt-4o"],
    "fallbacks": {"gpt-4o": ["claude-sonnet-4-5"]},
}


def config(routing: dict[str, object] | None = None) -> GatewayConfig:
    return GatewayConfig(
        providers={"openai": ProviderConfig("openai", "openai"),
                   "anthropic": ProviderConfig("anthropic", "anthropic")},
        models=[ModelRoute("gpt-4o", "openai"), ModelRoute("gpt-4o-mini", "openai"),
                ModelRoute("claude-sonnet-4-5", "anthropic", upstream_model="claude-sonnet-4-5-20250929")],
        levers={"routing": routing if routing is not None else ROUTING},
    )


def lever(routing: dict[str, object] | None = None) -> RoutingLever:
    cfg = config(routing)
    return build_lever(RoutingSettings.from_config(cfg), cfg)


def exchange(text: str, model: str = "auto", headers: dict[str, str] | None = None,
             task: str | None = None) -> Exchange:
    request = ChatRequest(model=model, messages=[Message("user", [TextPart(text)])])
    return Exchange(request=request, attribution=Attribution(task=task), requested_model=model,
                    wire_format="openai", endpoint="/v1/chat/completions", directives=headers or {})


async def routed(text: str, **kwargs: object) -> Exchange:
    ex = exchange(text, **kwargs)  # type: ignore[arg-type]
    await lever().rewrite(ex)
    return ex


async def test_task_rules_pick_the_model_and_say_so() -> None:
    ex = await routed("Classify the sentiment of this review as positive or negative: great phone")
    assert ex.candidates[0].upstream_model == "gpt-4o-mini"
    assert ex.response_headers["x-tokenthrift-route"] == "rule:classification"
    assert ex.ledger_notes["routing"] == {"policy": "auto", "decision": "rule:classification",
                                          "model": "gpt-4o-mini", "task": "classification"}
    # The client's own task type wins over the classifier: an OpenAI request served by Claude.
    ex = await routed("hello", task="code_generation")
    assert [c.provider_name for c in ex.candidates] == ["anthropic"]
    assert ex.candidates[0].upstream_model == "claude-sonnet-4-5-20250929"
    ex = await routed("hello", headers={"x-tokenthrift-task": "summarization"})
    assert ex.response_headers["x-tokenthrift-route"] == "rule:summarization"


async def test_learned_router_decides_when_no_rule_applies() -> None:
    ex = await routed("What is the capital of France?", headers={"x-tokenthrift-task": "chat"})
    label = ex.response_headers["x-tokenthrift-route"]
    assert label.startswith("router:")
    p = float(label.split(":")[1])
    note = ex.ledger_notes["routing"]
    assert note["quality_target"] == 0.95 and abs(note["p_weak_ok"] - p) < 0.006
    # A quality target of 1 keeps every call on the strong model, with its fallbacks.
    ex = await routed("What is the capital of France?",
                      headers={"x-tokenthrift-task": "chat", "x-tokenthrift-quality": "1"})
    assert [c.upstream_model for c in ex.candidates] == ["gpt-4o", "claude-sonnet-4-5-20250929"]
    # A very low target sends it to the weak model.
    ex = await routed("What is the capital of France?",
                      headers={"x-tokenthrift-task": "chat", "x-tokenthrift-quality": "0.5"})
    assert ex.candidates[0].upstream_model == "gpt-4o-mini"


async def test_route_off_and_models_outside_routing_are_left_alone() -> None:
    ex = await routed("Summarize: the cat sat on the mat.", headers={"x-tokenthrift-route": "off"})
    assert ex.response_headers["x-tokenthrift-route"] == "off"
    assert ex.candidates[0].upstream_model == "gpt-4o"
    ex = await routed("Summarize: the cat sat on the mat.", model="gpt-4o-mini")
    assert ex.candidates == [] and "routing" not in ex.ledger_notes
    # apply_to: a request for gpt-4o itself may be right-sized; tokenthrift/auto is the policy.
    ex = await routed("Summarize: the cat sat on the mat.", model="gpt-4o")
    assert ex.candidates[0].upstream_model == "gpt-4o-mini"
    ex = await routed("Summarize: the cat sat on the mat.", model="tokenthrift/auto")
    assert ex.ledger_notes["routing"]["policy"] == "auto"


async def test_bad_quality_header_is_a_400_naming_the_header() -> None:
    with pytest.raises(GatewayError) as caught:
        await routed("hi", headers={"x-tokenthrift-task": "chat", "x-tokenthrift-quality": "high"})
    assert caught.value.status == 400 and "x-tokenthrift-quality" in caught.value.message


async def test_saving_is_the_requested_model_minus_the_served_one() -> None:
    routing = lever()
    ex = exchange("Classify this as spam or not spam: WIN A PRIZE NOW")
    await routing.rewrite(ex)
    usage = Usage(input_tokens=100, output_tokens=10)
    after = Billable(model="gpt-4o-mini", usage=usage, provider="openai")
    unwound = routing.unwind(ex, after)
    assert unwound is not None and unwound.lever == "routing"
    assert unwound.before.model == "gpt-4o" and unwound.before.usage == usage
    # Served by the model as asked (route off): no saving claimed.
    ex = exchange("Classify this", headers={"x-tokenthrift-route": "off"})
    await routing.rewrite(ex)
    assert routing.unwind(ex, Billable(model="gpt-4o", usage=usage, provider="openai")) is None


def test_config_mistakes_name_the_key() -> None:
    with pytest.raises(ConfigError, match=r"routing.policies.auto.weak: model 'nope'"):
        RoutingSettings.from_config(config({"policies": {"auto": {"strong": "gpt-4o", "weak": "nope"}}}))
    with pytest.raises(ConfigError, match=r"routing.tasks: unknown task 'poetry'"):
        RoutingSettings.from_config(config({"tasks": {"poetry": "gpt-4o"}}))
    with pytest.raises(ConfigError, match=r"quality_target: expected a fraction"):
        RoutingSettings.from_config(config({"policies": {"auto": {"strong": "gpt-4o", "weak": "gpt-4o",
                                                                  "quality_target": 1.5}}}))
    with pytest.raises(ConfigError, match=r"unknown key 'polices'"):
        RoutingSettings.from_config(config({"polices": {}}))
