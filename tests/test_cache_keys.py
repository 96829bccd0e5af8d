"""Cache keys: one key per answer-changing request, whatever wire format carried it;
a different key as soon as anything that changes the answer (or the tenant) differs."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tokenthrift.levers.cache.keys import exact_key, scope_of, semantic_query
from tokenthrift.types import Attribution, ChatRequest
from tokenthrift.wire import anthropic_messages as am
from tokenthrift.wire import openai_chat as oc

TOOL = {"name": "get_weather", "description": "Weather now",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}
OPENAI_BASE: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_abc", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}]},
        {"role": "tool", "tool_call_id": "call_abc", "content": "-3C"},
        {"role": "user", "content": "And should I wear a coat?"},
    ],
    "max_tokens": 200,
    "tools": [{"type": "function", "function": TOOL}],
}
# The same conversation as an Anthropic client sends it.
ANTHROPIC_BASE: dict[str, Any] = {
    "model": "gpt-4o",
    "system": "You are terse.",
    "max_tokens": 200,
    "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_01X", "name": "get_weather",
             "input": {"city": "Oslo"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_01X", "content": "-3C"},
            {"type": "text", "text": "And should I wear a coat?"}]},
    ],
    "tools": [{"name": TOOL["name"], "description": TOOL["description"],
               "input_schema": TOOL["parameters"]}],
}


def key(request: ChatRequest, scope: str = "key:k1") -> str:
    return exact_key(request, scope).id


def openai(**changes: Any) -> ChatRequest:
    return oc.parse_request({**copy.deepcopy(OPENAI_BASE), **changes})


def anthropic(**changes: Any) -> ChatRequest:
    return am.parse_request({**copy.deepcopy(ANTHROPIC_BASE), **changes})


def test_openai_and_anthropic_forms_of_one_request_share_a_key() -> None:
    assert key(openai()) == key(anthropic())
    assert key(openai(temperature=0.2, stop=["END"], top_p=0.9)) == key(
        anthropic(temperature=0.2, stop_sequences=["END"], top_p=0.9))


def test_provider_defaults_are_filled_in() -> None:
    assert key(openai()) == key(openai(temperature=1, top_p=1.0, n=1, tool_choice="auto",
                                       parallel_tool_calls=True))
    assert key(anthropic()) == key(anthropic(temperature=1.0, tool_choice={"type": "auto"}))
    plain = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    assert key(oc.parse_request(plain)) == key(oc.parse_request(
        {**plain, "response_format": {"type": "text"}, "stop": []}))


def test_missing_max_tokens_is_its_own_value() -> None:
    # OpenAI's default is the model's own output limit, which no Anthropic request states.
    without = dict(OPENAI_BASE)
    del without["max_tokens"]
    assert key(oc.parse_request(without)) != key(anthropic())
    assert key(openai(max_tokens=200)) == key(openai(max_completion_tokens=200))


def test_delivery_only_fields_do_not_change_the_key() -> None:
    base = key(openai())
    assert key(openai(stream=True, stream_options={"include_usage": True})) == base
    assert key(openai(user="u-1", metadata={"team": "x"}, prompt_cache_key="p",
                      service_tier="default", store=True)) == base
    assert key(anthropic(stream=True, metadata={"user_id": "u-9"})) == key(anthropic())


@pytest.mark.parametrize("change", [
    {"model": "gpt-4o-mini"},
    {"temperature": 0.0},
    {"top_p": 0.5},
    {"max_tokens": 201},
    {"stop": ["\n\n"]},
    {"seed": 7},
    {"n": 2},
    {"tool_choice": "required"},
    {"tool_choice": "none"},
    {"parallel_tool_calls": False},
    {"tools": [{"type": "function", "function": {**TOOL, "description": "Forecast"}}]},
    {"tools": []},
    {"response_format": {"type": "json_object"}},
    {"reasoning_effort": "high"},
    {"frequency_penalty": 0.5},  # wire-specific, passed through: changes the answer
    {"logit_bias": {"50256": -100}},
])
def test_every_answer_changing_parameter_changes_the_key(change: dict[str, Any]) -> None:
    assert key(openai(**change)) == key(openai(**change))  # the key is a function of the request
    assert key(openai(**change)) != key(openai())


@pytest.mark.parametrize("edit", [
    lambda m: m[0].update(content="You are verbose."),               # system prompt
    lambda m: m[1].update(content="Weather in Bergen?"),             # an earlier turn
    lambda m: m[2]["tool_calls"][0]["function"].update(arguments='{"city": "Bergen"}'),
    lambda m: m[3].update(content="+20C"),                           # a tool result
    lambda m: m[4].update(content="And should I take an umbrella?"),  # the question
    lambda m: m.insert(1, {"role": "system", "content": "Use metric units."}),
    lambda m: m[4].update(name="alice"),
])
def test_every_message_is_part_of_the_key(edit: Any) -> None:
    body, again = copy.deepcopy(OPENAI_BASE), copy.deepcopy(OPENAI_BASE)
    edit(body["messages"])
    edit(again["messages"])
    assert key(oc.parse_request(body)) == key(oc.parse_request(again))
    assert key(oc.parse_request(body)) != key(openai())


def test_tool_call_ids_are_compared_by_position_not_spelling() -> None:
    body = copy.deepcopy(OPENAI_BASE)
    body["messages"][2]["tool_calls"][0]["id"] = "call_zzz"
    body["messages"][3]["tool_call_id"] = "call_zzz"
    assert key(oc.parse_request(body)) == key(openai())
    # …but which result answers which call still matters.
    body["messages"][3]["tool_call_id"] = "call_other"
    assert key(oc.parse_request(body)) != key(openai())


def test_scope_is_part_of_the_key() -> None:
    assert key(openai(), "key:k1") == key(anthropic(), "key:k1")
    assert key(openai(), "key:k1") != key(openai(), "key:k2")
    assert key(openai(), "team:a") != key(openai(), "global")


def test_scope_of_each_setting_falls_back_to_the_key() -> None:
    who = Attribution(key_id="key_1", team="support", customer="acme", user="u7")
    assert scope_of(who, "key") == "key:key_1"
    assert scope_of(who, "team") == "team:support"
    assert scope_of(who, "customer") == "customer:acme"
    assert scope_of(who, "user") == "user:u7"
    assert scope_of(who, "global") == "global"
    # Missing the scope's attribute: isolate by key; no key at all: "anonymous".
    assert scope_of(Attribution(key_id="key_1"), "team") == "key:key_1"
    assert scope_of(Attribution(), "customer") == "key:anonymous"


def test_semantic_partition_separates_tenants_models_params_and_context() -> None:
    query = semantic_query(openai(), "key:k1")
    assert query is not None and query.text == "And should I wear a coat?"
    assert query.partition.startswith("key:k1|gpt-4o|")
    same = semantic_query(anthropic(), "key:k1")
    assert same is not None and same.partition == query.partition
    # The final turn is compared by similarity, not part of the partition.
    body = copy.deepcopy(OPENAI_BASE)
    body["messages"][4]["content"] = "Do I need a coat?"
    reworded = semantic_query(oc.parse_request(body), "key:k1")
    assert reworded is not None and reworded.partition == query.partition
    others = [
        semantic_query(openai(), "key:k2"),
        semantic_query(openai(model="gpt-4o-mini"), "key:k1"),
        semantic_query(openai(temperature=0), "key:k1"),
        semantic_query(openai(tools=[]), "key:k1"),
    ]
    body["messages"][1]["content"] = "Weather in Bergen?"  # different earlier turn
    others.append(semantic_query(oc.parse_request(body), "key:k1"))
    body["messages"][0]["content"] = "You are verbose."  # different system prompt
    others.append(semantic_query(oc.parse_request(body), "key:k1"))
    assert all(o is not None and o.partition != query.partition for o in others)


def test_partition_fields_cannot_be_forged_through_the_scope() -> None:
    plain = oc.parse_request({"model": "m", "messages": [{"role": "user", "content": "q"}]})
    forged = oc.parse_request({"model": "x|m", "messages": [{"role": "user", "content": "q"}]})
    a, b = semantic_query(forged, "team:a"), semantic_query(plain, "team:a|x")
    assert a is not None and b is not None and a.partition != b.partition


def test_no_semantic_query_without_a_final_text_question() -> None:
    assert semantic_query(openai(), "key:k1") is not None  # ends with a user's text
    text_only = {"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}]}]}
    assert semantic_query(oc.parse_request(text_only), "key:k1") is not None
    body = copy.deepcopy(OPENAI_BASE)
    body["messages"] = body["messages"][:4]  # ends with a tool result
    assert semantic_query(oc.parse_request(body), "key:k1") is None
    image = {"model": "gpt-4o", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]}]}
    assert semantic_query(oc.parse_request(image), "key:k1") is None


def test_strict_tools_are_part_of_the_key() -> None:
    from tokenthrift.wire import openai_chat

    def parse(strict: bool) -> ChatRequest:
        tool = {"type": "function", "function": {
            "name": "lookup", "parameters": {"type": "object", "properties": {}},
            **({"strict": True} if strict else {})}}
        return openai_chat.parse_request({
            "model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}],
            "tools": [tool]})

    assert exact_key(parse(False), "global") == exact_key(parse(False), "global")  # control
    assert exact_key(parse(True), "global") != exact_key(parse(False), "global")
