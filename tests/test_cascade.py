"""Cascades: the cheap model answers first and the request escalates when its answer is
a refusal, empty, cut off, invalid JSON, a tool call that breaks the tool's schema, a
low-confidence answer or fails the user's regex. Both calls are in the ledger row: the
rejected answer is routing's gateway spend, so the routing saving is honest (negative
when the cheap call was wasted) and the row still adds up exactly."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from gateway_harness import RunningGateway, config_for, running_gateway
from tokenthrift.accounting.catalog import PriceCatalog
from tokenthrift.accounting.cost import CostCalculator
from tokenthrift.cli.main import cli
from tokenthrift.config import ConfigError, parse_config
from tokenthrift.emulator import Fault
from tokenthrift.levers.routing.cascade import AcceptRules, looks_like_refusal, parse_cascade
from tokenthrift.levers.routing.schema import violation
from tokenthrift.levers.routing.settings import RoutingSettings
from tokenthrift.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    Message,
    TextPart,
    Tool,
    ToolCall,
    Usage,
)
from tokenthrift.wire._openai_upstream import parse_upstream_response

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

CASCADE = {"models": ["gpt-4o-mini", "gpt-4o"],
           "accept": {"must_not_match": r"(?i)\bpineapple\b"}}
ROUTING = {"policies": {"auto": {"strong": "gpt-4o", "weak": "gpt-4o-mini"}},
           "cascade": CASCADE}
QUESTION = [{"role": "user", "content": "Summarise the plot of Hamlet in two sentences."}]
CITY_TOOL = {"type": "function", "function": {
    "name": "weather", "description": "Weather for a city",
    "parameters": {"type": "object", "required": ["city"],
                   "properties": {"city": {"type": "string", "minLength": 12}}}}}


def _forced(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Answer this. [[emulator:reply={text}]]"}]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Any:
    raw = {"providers": {"emu": {"type": "emulator"}}, "models": [{"name": "*", "provider": "emu"}],
           "retry": {"max_retries": 0}, "cache": {"exact": False}, "routing": ROUTING}
    with running_gateway(config_for(tmp_path_factory.mktemp("cascade"), raw)) as running:
        yield running


def _price(model: str, usage: Usage) -> Decimal:
    cost = CostCalculator(PriceCatalog({})).cost(model, usage, provider="openai")
    assert cost is not None
    return cost


def _usage(row: Any) -> Usage:
    return Usage(input_tokens=row.input_tokens, cache_read_tokens=row.cache_read_tokens,
                 output_tokens=row.output_tokens)


def _call(gw: RunningGateway, model: str = "cascade", **kwargs: Any) -> tuple[Any, Any]:
    kwargs.setdefault("messages", QUESTION)
    raw = gw.openai().chat.completions.with_raw_response.create(model=model, **kwargs)
    return raw, gw.ledger_row(raw.headers["x-tokenthrift-request-id"])


# -- end to end ----------------------------------------------------------------------


def test_an_acceptable_cheap_answer_is_served_and_the_saving_is_against_the_last_model(
        gw: RunningGateway) -> None:
    raw, row = _call(gw)
    assert raw.headers["x-tokenthrift-route"] == "cascade:1"
    assert raw.headers["x-tokenthrift-served-model"] == "gpt-4o-mini"
    assert row.requested_model == "cascade" and row.served_model == "gpt-4o-mini"
    assert row.notes["routing"] == {"policy": "cascade", "decision": "cascade:1",
                                    "model": "gpt-4o-mini", "rejected": []}
    assert row.baseline_cost_usd == _price("gpt-4o", _usage(row))  # the last model as asked
    assert row.savings == {"routing": row.baseline_cost_usd - row.cost_usd}
    assert row.savings["routing"] > 0 and row.gateway_cost_usd == 0


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"messages": _forced("I'm sorry, but I can't help with that request.")}, "refusal"),
    ({"messages": _forced("")}, "empty"),
    ({"max_tokens": 3}, "truncated"),
    ({"messages": _forced("Sure! The answer is forty-two."),
      "response_format": {"type": "json_object"}}, "invalid_json"),
    ({"tools": [CITY_TOOL], "tool_choice": "required"}, "invalid_tool_arguments"),
    ({"messages": _forced("A pineapple, obviously.")}, "must_not_match"),
])
def test_a_rejected_cheap_answer_escalates_and_its_cost_is_charged_to_routing(
        gw: RunningGateway, kwargs: dict[str, Any], reason: str) -> None:
    raw, row = _call(gw, **kwargs)
    assert raw.headers["x-tokenthrift-route"] == "cascade:2"
    assert raw.headers["x-tokenthrift-served-model"] == "gpt-4o"
    note = row.notes["routing"]
    assert note["decision"] == "cascade:2" and note["model"] == "gpt-4o"
    (rejected,) = note["rejected"]
    assert rejected["model"] == "gpt-4o-mini" and rejected["reason"] == reason
    wasted = _price("gpt-4o-mini", Usage(input_tokens=rejected["input_tokens"],
                                         output_tokens=rejected["output_tokens"]))
    assert Decimal(str(rejected["cost_usd"])) == wasted
    # Both calls are the row's cost; the baseline is the last model alone; the cheap
    # call is routing's (negative) saving; the row adds up to the last digit.
    assert row.gateway_cost_usd == wasted
    assert row.cost_usd == _price("gpt-4o", _usage(row)) + wasted
    assert row.baseline_cost_usd == _price("gpt-4o", _usage(row))
    assert row.savings == {"routing": -wasted}
    assert row.baseline_cost_usd - row.cost_usd == row.saved_usd and row.unattributed_usd == 0
    assert Decimal(raw.headers["x-tokenthrift-saved-usd"]) == -wasted


def test_a_cheap_model_that_fails_upstream_escalates_without_a_charge(gw: RunningGateway) -> None:
    gw.emulator.add_fault(Fault(kind="status", status=500, model="gpt-4o-mini", count=1))
    raw, row = _call(gw)
    assert raw.headers["x-tokenthrift-route"] == "cascade:2"
    assert row.served_model == "gpt-4o" and not row.fallback_used
    assert row.notes["routing"]["rejected"] == [
        {"model": "gpt-4o-mini", "reason": "error:500", "input_tokens": 0, "output_tokens": 0,
         "cost_usd": 0.0}]
    assert row.savings == {} and row.cost_usd == row.baseline_cost_usd


def test_a_bad_request_is_not_escalated(gw: RunningGateway) -> None:
    import openai

    with pytest.raises(openai.BadRequestError):
        gw.openai().chat.completions.create(model="cascade", messages=[])


def test_a_stream_goes_to_the_last_model_directly(gw: RunningGateway) -> None:
    messages: Any = QUESTION
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="cascade", messages=messages, stream=True)
    assert raw.headers["x-tokenthrift-route"] == "cascade:stream"
    assert raw.headers["x-tokenthrift-served-model"] == "gpt-4o"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in raw.parse() if chunk.choices)
    assert text
    row = gw.ledger_row(raw.headers["x-tokenthrift-request-id"])
    assert row.served_model == "gpt-4o" and row.savings == {}


def test_route_off_sends_a_cascade_request_to_its_last_model(gw: RunningGateway) -> None:
    raw, row = _call(gw, extra_headers={"x-tokenthrift-route": "off"})
    assert raw.headers["x-tokenthrift-route"] == "off"
    assert row.served_model == "gpt-4o" and row.savings == {}


def test_a_policy_request_opts_into_the_cascade_by_header_anthropic_wire(
        gw: RunningGateway) -> None:
    raw = gw.anthropic().messages.with_raw_response.create(
        model="auto", max_tokens=300, messages=_forced("I cannot assist with that."),  # type: ignore[arg-type]
        extra_headers={"x-tokenthrift-route": "cascade"})
    message = raw.parse()
    assert message.content[0].type == "text" and "cannot assist" in message.content[0].text
    assert raw.headers["x-tokenthrift-route"] == "cascade:2"
    row = gw.ledger_row(raw.headers["x-tokenthrift-request-id"])
    assert row.requested_model == "auto" and row.served_model == "gpt-4o"
    assert row.notes["routing"]["rejected"][0]["reason"] == "refusal"
    assert row.savings["routing"] < 0


def test_cascade_rows_add_up_in_the_reports(tmp_path: Path) -> None:
    raw = {"providers": {"emu": {"type": "emulator"}}, "models": [{"name": "*", "provider": "emu"}],
           "retry": {"max_retries": 0}, "cache": {"exact": False}, "routing": ROUTING}
    with running_gateway(config_for(tmp_path, raw)) as gw:
        rows = [_call(gw, messages=[{"role": "user", "content": f"Question {i}?"}])[1]
                for i in range(3)]
        rows += [_call(gw, messages=_forced("Sorry, I can't help with that."))[1]
                 for _ in range(2)]
    assert sum(r.saved_usd < 0 for r in rows) == 2 and sum(r.saved_usd > 0 for r in rows) == 3
    out = CliRunner().invoke(cli, ["report", "savings", "--by", "lever", "--ledger",
                                   str(tmp_path / "ledger.db"), "--format", "json"])
    assert out.exit_code == 0, out.output
    levers = json.loads(out.output, parse_float=Decimal)
    routing = next(r for r in levers if r.get("lever") == "routing")
    assert routing["saved_usd"] == sum((r.saved_usd for r in rows), Decimal(0))


# -- the acceptance check ------------------------------------------------------------


def _response(text: str = "Paris is the capital of France.", *, finish: Any = "stop",
              calls: list[ToolCall] | None = None, extra: dict[str, Any] | None = None
              ) -> ChatResponse:
    message = Message("assistant", [TextPart(text)] if text else [], tool_calls=calls or [])
    return ChatResponse("r", "m", [Choice(0, message, finish)], Usage(10, output_tokens=5),
                        extra=extra or {})


def _request(**kwargs: Any) -> ChatRequest:
    return ChatRequest("cascade", [Message("user", [TextPart("q")])], **kwargs)


def test_each_rule_rejects_what_it_names_and_accepts_a_good_answer() -> None:
    rules = AcceptRules()
    assert rules.check(_request(), _response()) is None
    assert rules.check(_request(), _response(finish="content_filter")) == "refusal"
    assert rules.check(_request(), _response("I\u2019m unable to help with that.")) == "refusal"
    assert rules.check(_request(), _response("   ")) == "empty"
    assert rules.check(_request(), _response(finish="length")) == "truncated"
    wants_json = _request(response_format={"type": "json_object"})
    assert rules.check(wants_json, _response('{"a": 1}')) is None
    assert rules.check(wants_json, _response('```json\n{"a": 1}\n```')) is None
    assert rules.check(wants_json, _response("{'a': 1}")) == "invalid_json"
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {
        "type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}}}
    assert rules.check(_request(response_format=schema), _response('{"n": 3}')) is None
    assert rules.check(_request(response_format=schema), _response('{"n": "3"}')) == "invalid_json"
    # A switched-off rule lets its case through (positive control for each flag).
    off = AcceptRules(refusal=False, empty=False, truncated=False, json=False)
    assert off.check(_request(), _response(finish="content_filter")) is None
    assert off.check(_request(), _response("")) is None
    assert off.check(_request(), _response(finish="length")) is None
    assert off.check(wants_json, _response("nope")) is None


def test_tool_calls_are_checked_against_the_tools_schema() -> None:
    tool = Tool("weather", parameters={"type": "object", "required": ["city"],
                                       "additionalProperties": False,
                                       "properties": {"city": {"type": "string"},
                                                      "days": {"type": "integer", "maximum": 7}}})
    request = _request(tools=[tool])
    rules = AcceptRules()

    def check(name: str, arguments: str) -> str | None:
        return rules.check(request, _response("", finish="tool_calls",
                                              calls=[ToolCall("c1", name, arguments)]))

    assert check("weather", '{"city": "Oslo", "days": 3}') is None
    assert check("weather", '{"days": 3}') == "invalid_tool_arguments"  # missing required
    assert check("weather", '{"city": "Oslo", "days": 30}') == "invalid_tool_arguments"
    assert check("weather", '{"city": "Oslo", "mood": "sunny"}') == "invalid_tool_arguments"
    assert check("weather", '{"city": "Oslo"') == "invalid_tool_arguments"  # not JSON
    assert check("stocks", '{"city": "Oslo"}') == "invalid_tool_arguments"  # not offered
    assert AcceptRules(tool_arguments=False).check(
        request, _response("", calls=[ToolCall("c1", "weather", "{")])) is None


def test_logprobs_and_user_regexes_when_configured() -> None:
    rules = parse_cascade({"models": ["a", "b"], "accept": {
        "min_mean_logprob": -0.5, "must_match": r"ANSWER:\s*\w+"}})
    assert rules is not None
    accept = rules.accept
    assert accept.check(_request(), _response("ANSWER: yes", extra={"mean_logprob": -0.2})) is None
    assert accept.check(_request(), _response("ANSWER: yes",
                                              extra={"mean_logprob": -1.3})) == "low_logprob"
    assert accept.check(_request(), _response("ANSWER: yes")) is None  # no logprobs returned
    assert accept.check(_request(), _response("yes")) == "must_match"


def test_refusals_are_recognised_by_their_opening_only() -> None:
    for text in ("I'm sorry, but I can't assist with that.", "I cannot help with this request.",
                 "Sorry, I won't provide that.", "Unfortunately, I am unable to comply.",
                 "I apologize, but I must decline to answer"):
        assert looks_like_refusal(text), text
    for text in ("I can help with that! Here is the plan.",
                 "The function cannot return None because " + "x" * 400 + " I can't help it.",
                 "Sorry for the delay: the answer is 4."):
        assert not looks_like_refusal(text), text


def test_the_schema_subset() -> None:
    schema: dict[str, Any] = {"type": "object", "properties": {
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1},
        "score": {"type": ["number", "null"], "minimum": 0},
        "kind": {"anyOf": [{"const": "x"}, {"type": "integer"}]}}}
    assert violation({"tags": ["a"], "score": None, "kind": 3}, schema) is None
    assert violation({"tags": []}, schema) == "$.tags: fewer than 1 items"
    assert violation({"tags": ["c"]}, schema) == "$.tags[0]: not one of the allowed values"
    assert violation({"score": -1}, schema) == "$.score: below 0"
    assert violation({"score": True}, schema) == "$.score: expected ['number', 'null']"
    assert violation({"kind": "y"}, schema) == "$.kind: matches none of anyOf"
    assert violation({"x": 1}, {"$ref": "#/defs/x"}) is None  # not understood: not rejected


def test_logprobs_returned_by_an_openai_upstream_reach_the_check() -> None:
    body: dict[str, Any] = {"id": "c", "model": "gpt-4o-mini", "created": 1, "object": "chat.completion",
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Yes"},
                         "logprobs": {"content": [{"token": "Yes", "logprob": -0.25},
                                                  {"token": ".", "logprob": -0.75}]}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}
    assert parse_upstream_response(body).extra["mean_logprob"] == -0.5
    body["choices"][0]["logprobs"] = None
    assert "mean_logprob" not in parse_upstream_response(body).extra


# -- config --------------------------------------------------------------------------


def _settings(cascade: Any, **routing: Any) -> RoutingSettings:
    raw = {"providers": {"emu": {"type": "emulator"}},
           "models": [{"name": "gpt-4o", "provider": "emu"},
                      {"name": "gpt-4o-mini", "provider": "emu"}],
           "routing": {"cascade": cascade, **routing}}
    return RoutingSettings.from_config(parse_config(raw))


@pytest.mark.parametrize(("cascade", "message"), [
    ({"models": ["gpt-4o"]}, "routing.cascade.models: expected at least two"),
    ({"models": ["gpt-4o-mini", "nope"]}, "routing.cascade.models: model 'nope' is not served"),
    ({"models": ["gpt-4o", "gpt-4o"]}, "appears twice"),
    ({"models": ["gpt-4o-mini", "gpt-4o"], "accept": {"refusals": True}},
     "routing.cascade.accept.refusals: unknown key"),
    ({"models": ["gpt-4o-mini", "gpt-4o"], "accept": {"must_match": "("}},
     "routing.cascade.accept.must_match: not a valid regular expression"),
    ({"models": ["gpt-4o-mini", "gpt-4o"], "accept": {"empty": "maybe"}},
     "routing.cascade.accept.empty"),
    ({"model": ["gpt-4o-mini"]}, "routing.cascade.model: unknown key"),
])
def test_a_bad_cascade_is_refused_with_its_key(cascade: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        _settings(cascade)


def test_a_policy_may_not_be_named_like_the_cascade() -> None:
    with pytest.raises(ConfigError, match=r"routing\.policies\.cascade"):
        _settings({"models": ["gpt-4o-mini", "gpt-4o"]},
                  policies={"cascade": {"strong": "gpt-4o", "weak": "gpt-4o-mini"}})
    assert _settings({"models": ["gpt-4o-mini", "gpt-4o"]}).asks_for_cascade("tokenthrift/cascade")
