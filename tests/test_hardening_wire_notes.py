"""No field a client sends can set the gateway's own state (issue #8, defect 1).

The gateway used to keep its wire notes (which field carries the output limit, strict
tools, server tools) under ``_wire`` in the same dict as the client's pass-through
parameters, so ``{"_wire": {"max_tokens_field": "seed"}}`` sent the upstream no output
limit, and ``"model"`` replaced the upstream model. Now the notes live in
``ChatRequest.wire_notes``, filled only by the parsers, and a client key starting with
``_`` is refused with a 400 naming it (decision in docs/security.md).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from gateway_harness import RunningGateway, config_for, running_gateway
from tokenthrift.wire import anthropic_messages as am
from tokenthrift.wire import openai_chat as oc

USER = [{"role": "user", "content": "write a long story"}]  # 20+ tokens unless limited
WEATHER = {"type": "function", "function": {"name": "weather", "strict": True,
                                            "parameters": {"type": "object"}}}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    raw = {"providers": {"emu": {"type": "emulator"}}, "models": [{"name": "*", "provider": "emu"}],
           "cache": {"exact": {"enabled": False}}}
    with running_gateway(config_for(tmp_path_factory.mktemp("notes"), raw)) as running:
        yield running


@pytest.mark.parametrize("notes", [
    {"max_tokens_field": "seed"},
    {"max_tokens_field": "model"},
    {"max_tokens_field": ["x"]},
    {"strict_tools": 5},
    "not even an object",
])
def test_openai_client_cannot_send_gateway_notes(gw: RunningGateway, notes: Any) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        gw.openai().chat.completions.create(
            model="gpt-4o-mini", messages=USER, max_completion_tokens=2,  # type: ignore[arg-type]
            tools=[WEATHER], extra_body={"_wire": notes})  # type: ignore[list-item]
    assert raised.value.body["param"] == "_wire"  # type: ignore[index]


def test_output_limit_holds_control(gw: RunningGateway) -> None:
    answer = gw.openai().chat.completions.create(
        model="gpt-4o-mini", messages=USER, max_completion_tokens=2)  # type: ignore[arg-type]
    assert answer.usage is not None and answer.usage.completion_tokens <= 2


@pytest.mark.parametrize("body", [{"_wire": {"server_tools": "x"}}, {"_anything": 1}, {"_": None}])
def test_anthropic_client_cannot_send_reserved_keys(gw: RunningGateway, body: Any) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        gw.anthropic().messages.create(model="claude-haiku-4-5", max_tokens=2,
                                       messages=USER, extra_body=body)  # type: ignore[arg-type]
    assert "reserved" in raised.value.message


def test_reserved_keys_only_at_the_top_level() -> None:
    """``_``-prefixed keys inside client data (schemas, metadata) are data, not state."""
    tool = {"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"_id": {"type": "string"}}}}}
    request = oc.parse_request({"model": "m", "messages": USER, "tools": [tool],
                                "metadata": {"_trace": "1"}})
    assert request.tools[0].parameters["properties"] == {"_id": {"type": "string"}}
    assert request.metadata["_trace"] == "1"


def test_notes_come_from_validated_fields_only() -> None:
    request = oc.parse_request({"model": "m", "messages": USER, "max_tokens": 7,
                                "tools": [WEATHER], "service_tier": "auto"})
    assert request.wire_notes.legacy_max_tokens and request.wire_notes.strict_tools == ["weather"]
    assert request.extra == {"service_tier": "auto"}  # the client's own pass-through only
    body = oc.build_upstream_request(request, "gpt-4o-mini")
    assert body["max_tokens"] == 7 and "max_completion_tokens" not in body
    server_tool = {"type": "web_search_20250305", "name": "web_search"}
    anthropic_request = am.parse_request({"model": "claude-haiku-4-5", "max_tokens": 5,
                                          "messages": USER, "tools": [server_tool]})
    assert anthropic_request.wire_notes.server_tools == [server_tool]
    assert anthropic_request.extra == {}
    assert anthropic_request.wire_notes.affecting_answer() == {"server_tools": [server_tool]}


def test_notes_of_one_wire_do_not_leak_into_the_other() -> None:
    request = oc.parse_request({"model": "m", "messages": USER, "max_tokens": 7})
    body = am.build_upstream_request(request, "claude-haiku-4-5")
    assert body["max_tokens"] == 7 and "max_completion_tokens" not in body
