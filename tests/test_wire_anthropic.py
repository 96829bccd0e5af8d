"""Anthropic Messages wire: what Anthropic clients send and what they get back.

Responses and streams are checked by the official ``anthropic`` SDK itself (through a
mock transport): every stream event validates as ``RawMessageStreamEvent`` and the
SDK's own accumulator rebuilds the final message.
"""

from __future__ import annotations

import copy
from typing import Any

import anthropic
import orjson
import pytest
from anthropic.types import Message as SDKMessage
from anthropic.types import RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse
from pydantic import TypeAdapter

from tokenthrift.errors import GatewayError, InvalidRequest, UpstreamError
from tokenthrift.types import (
    ChatRequest,
    ChatResponse,
    Choice,
    ImagePart,
    Message,
    StreamEvent,
    StreamFinish,
    StreamStart,
    StreamUsage,
    TextDelta,
    TextPart,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from tokenthrift.wire import anthropic_messages as am
from tokenthrift.wire.sse import SSEDecoder
from wire_sdk import anthropic_replying, sent_by_anthropic_sdk

PNG = "iVBORw0KGgo="
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
EPHEMERAL = {"type": "ephemeral"}
EPHEMERAL_1H = {"type": "ephemeral", "ttl": "1h"}

FULL_REQUEST: dict[str, Any] = {
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "system": [
        {"type": "text", "text": "You are a weather bot.", "cache_control": EPHEMERAL_1H},
        {"type": "text", "text": "Be brief.", "cache_control": EPHEMERAL},
    ],
    "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "need a tool", "signature": "sig"},
                {"type": "text", "text": "Checking."},
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Oslo"},
                },
                {
                    "type": "tool_use",
                    "id": "toolu_2",
                    "name": "get_weather",
                    "input": {"city": "Bergen"},
                },
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "-3C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "is_error": True,
                    "content": [{"type": "text", "text": "station down"}],
                    "cache_control": EPHEMERAL,
                },
                {"type": "text", "text": "And tomorrow?"},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
                {"type": "image", "source": {"type": "url", "url": "https://x.test/map.png"}},
            ],
        },
    ],
    "tools": [
        {
            "name": "get_weather",
            "description": "Weather",
            "input_schema": SCHEMA,
            "cache_control": EPHEMERAL,
        }
    ],
    "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
    "temperature": 0.3,
    "top_p": 0.8,
    "top_k": 40,
    "stop_sequences": ["###"],
    "stream": True,
    "thinking": {"type": "enabled", "budget_tokens": 2048},
    "metadata": {"user_id": "u-7"},
    "service_tier": "auto",
}


def _with(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


# ---------------------------------------------------------------- parse_request


def test_parse_request_maps_every_canonical_field() -> None:
    req = am.parse_request(copy.deepcopy(FULL_REQUEST))
    assert req.source_format == "anthropic"
    system = req.messages[0]
    assert system.role == "system"
    assert system.content == [
        TextPart("You are a weather bot.", cache_control="1h"),
        TextPart("Be brief.", cache_control="5m"),
    ]
    roles = [m.role for m in req.messages[1:]]
    # tool results first, each its own message, then the rest of that user turn
    assert roles == ["user", "assistant", "tool", "tool", "user"]
    assistant = req.messages[2]
    assert assistant.content == [TextPart("Checking.")]  # thinking is dropped
    assert assistant.tool_calls == [
        ToolCall("toolu_1", "get_weather", '{"city":"Oslo"}'),
        ToolCall("toolu_2", "get_weather", '{"city":"Bergen"}'),
    ]
    ok, failed = req.messages[3], req.messages[4]
    assert (ok.tool_call_id, ok.text, ok.is_error) == ("toolu_1", "-3C", False)
    assert (failed.tool_call_id, failed.is_error) == ("toolu_2", True)
    assert failed.content == [TextPart("station down", cache_control="5m")]
    assert req.messages[5].content == [
        TextPart("And tomorrow?"),
        ImagePart(data=PNG, media_type="image/png"),
        ImagePart(url="https://x.test/map.png"),
    ]
    tool = req.tools[0]
    assert (tool.name, tool.parameters, tool.cache_control) == ("get_weather", SCHEMA, "5m")
    assert (req.tool_choice, req.parallel_tool_calls) == ("required", False)
    assert (req.max_tokens, req.temperature, req.top_p, req.stop) == (1024, 0.3, 0.8, ["###"])
    assert req.stream and req.thinking_budget == 2048
    assert req.metadata == {"user_id": "u-7"}
    assert req.extra == {"top_k": 40, "service_tier": "auto"}


@pytest.mark.parametrize(
    ("choice", "expected", "parallel"),
    [
        ({"type": "auto"}, "auto", None),
        ({"type": "none"}, "none", None),
        ({"type": "any"}, "required", None),
        ({"type": "tool", "name": "f"}, {"name": "f"}, None),
        ({"type": "auto", "disable_parallel_tool_use": True}, "auto", False),
    ],
)
def test_tool_choice_forms(choice: dict[str, Any], expected: Any, parallel: bool | None) -> None:
    req = am.parse_request(_with(tool_choice=choice))
    assert (req.tool_choice, req.parallel_tool_calls) == (expected, parallel)


def test_parse_request_accepts_what_the_anthropic_sdk_sends() -> None:
    body = sent_by_anthropic_sdk(
        model="claude-haiku-4-5",
        max_tokens=64,
        system="plain system",
        messages=[{"role": "user", "content": "hi"}],
        stop_sequences=["x"],
        metadata={"user_id": "abc"},
    )
    req = am.parse_request(body)
    assert (req.model, req.max_tokens, req.system_text, req.stop) == (
        "claude-haiku-4-5",
        64,
        "plain system",
        ["x"],
    )
    assert req.metadata == {"user_id": "abc"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (_with(model=...), "model"),
        (_with(max_tokens=...), "max_tokens"),
        (_with(max_tokens=0), "max_tokens"),
        (_with(messages=[]), "messages"),
        (_with(messages=[{"role": "system", "content": "x"}]), "messages[0].role"),
        (_with(messages=[{"role": "user", "content": 3}]), "messages[0].content"),
        (
            _with(messages=[{"role": "user", "content": [{"type": "document"}]}]),
            "messages[0].content[0].type",
        ),
        (
            _with(messages=[{"role": "user", "content": [{"type": "tool_result"}]}]),
            "messages[0].content[0].tool_use_id",
        ),
        (
            _with(
                messages=[
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": "x"}],
                    }
                ]
            ),
            "messages[0].content[0].input",
        ),
        (
            _with(
                messages=[
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "text",
                                "text": "x",
                                "cache_control": {"type": "ephemeral", "ttl": "2h"},
                            }
                        ],
                    }
                ]
            ),
            "messages[0].content[0].cache_control.ttl",
        ),
        (_with(system=[{"type": "image"}]), "system[0].type"),
        (_with(temperature=1.5), "temperature"),  # Anthropic's range is 0..1
        (_with(top_k=-1), "top_k"),
        (_with(stop_sequences=[1]), "stop_sequences[0]"),
        (_with(tools=[{"name": "f"}]), "tools[0].input_schema"),
        (_with(tool_choice={"type": "sometimes"}), "tool_choice.type"),
        (_with(thinking={"type": "enabled"}), "thinking.budget_tokens"),
        (_with(metadata={"user_id": 5}), "metadata.user_id"),
    ],
)
def test_malformed_requests_name_the_offending_param(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        am.parse_request(body)
    assert info.value.param == param


# -------------------------------------------------------------- render_response


def _response(finish: Any = "tool_calls", **extra: Any) -> ChatResponse:
    message = Message(
        "assistant",
        [TextPart("Let me look.")],
        tool_calls=[ToolCall("toolu_9", "get_weather", '{"city":"Rome"}')],
    )
    return ChatResponse(
        id="msg_1",
        model="claude-sonnet-4-5",
        choices=[Choice(0, message, finish)],
        usage=Usage(
            input_tokens=10,
            cache_read_tokens=20,
            cache_write_5m_tokens=30,
            cache_write_1h_tokens=40,
            output_tokens=15,
            reasoning_tokens=5,
        ),
        created=1,
        extra=extra,
    )


def test_render_response_is_a_message_the_sdk_parses() -> None:
    body = am.render_response(_response(), am.parse_request(_with()))
    message = anthropic_replying(body).messages.create(model="m", max_tokens=1, messages=[])
    assert isinstance(message, SDKMessage)
    text, tool = message.content
    assert text.type == "text" and text.text == "Let me look."
    assert tool.type == "tool_use" and tool.input == {"city": "Rome"} and tool.id == "toolu_9"
    assert message.stop_reason == "tool_use"
    u = message.usage
    assert (
        u.input_tokens,
        u.cache_read_input_tokens,
        u.cache_creation_input_tokens,
        u.output_tokens,
    ) == (10, 20, 70, 15)
    assert u.cache_creation is not None
    assert (
        u.cache_creation.ephemeral_5m_input_tokens,
        u.cache_creation.ephemeral_1h_input_tokens,
    ) == (30, 40)


@pytest.mark.parametrize(
    ("finish", "stop_sequence", "stop_reason"),
    [
        ("stop", None, "end_turn"),
        ("stop", "###", "stop_sequence"),
        ("length", None, "max_tokens"),
        ("tool_calls", None, "tool_use"),
        ("content_filter", None, "refusal"),
    ],
)
def test_finish_reasons_map_to_stop_reasons(
    finish: Any, stop_sequence: str | None, stop_reason: str
) -> None:
    extra = {"stop_sequence": stop_sequence} if stop_sequence else {}
    body = am.render_response(_response(finish, **extra), am.parse_request(_with()))
    assert (body["stop_reason"], body["stop_sequence"]) == (stop_reason, stop_sequence)
    assert am.parse_upstream_response(body).choices[0].finish_reason == finish


def test_truncated_tool_arguments_render_as_an_empty_object() -> None:
    resp = _response("length")
    resp.choices[0].message.tool_calls[0].arguments = '{"city": "Ro'
    body = am.render_response(resp, am.parse_request(_with()))
    assert body["content"][1]["input"] == {}
    SDKMessage.model_validate(body)


def test_response_round_trips_through_upstream_parser() -> None:
    resp = _response(stop_sequence=None)
    resp.extra = {}
    back = am.parse_upstream_response(am.render_response(resp, am.parse_request(_with())))
    back.created = resp.created
    assert back == resp


# ------------------------------------------------------------------------ stream

EVENTS: list[StreamEvent] = [
    StreamStart(
        "msg_7",
        "claude-sonnet-4-5",
        0,
        Usage(input_tokens=10, cache_read_tokens=20, output_tokens=1),
    ),
    TextDelta("Let me "),
    TextDelta("check."),
    ToolCallDelta(0, "", id="toolu_a", name="get_weather"),
    ToolCallDelta(0, '{"city":'),
    ToolCallDelta(0, '"Oslo"}'),
    ToolCallDelta(1, '{"tz":"CET"}', id="toolu_b", name="get_time"),
    StreamFinish("tool_calls"),
    StreamUsage(
        Usage(input_tokens=10, cache_read_tokens=20, cache_write_5m_tokens=5, output_tokens=42)
    ),
]
EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


def render_stream(events: list[StreamEvent], request: ChatRequest | None = None) -> bytes:
    renderer = am.StreamRenderer(request or am.parse_request(_with(stream=True)))
    return b"".join(b for e in events for b in renderer.render(e)) + renderer.done()


def decoded(stream: bytes) -> list[tuple[str | None, dict[str, Any]]]:
    return [(name, orjson.loads(data)) for name, data in SSEDecoder().feed(stream)]


def final_message(stream: bytes) -> Any:
    client = anthropic_replying(stream)
    with client.messages.stream(model="m", max_tokens=1, messages=[]) as events:
        return events.get_final_message()


def test_stream_events_validate_and_come_in_protocol_order() -> None:
    events = decoded(render_stream(EVENTS))
    for name, data in events:
        assert name == data["type"]  # the SDK dispatches on the SSE event name
        if name != "ping":
            EVENT_ADAPTER.validate_python(data)
    names = [name for name, _ in events]
    assert names == [
        "message_start",
        "content_block_start",
        "ping",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0][1]["message"]
    assert start["id"] == "msg_7" and start["usage"]["input_tokens"] == 10


def test_anthropic_sdk_accumulates_the_rendered_stream() -> None:
    message = final_message(render_stream(EVENTS))
    text, weather, clock = message.content
    assert text.text == "Let me check."
    assert (weather.id, weather.name, weather.input) == ("toolu_a", "get_weather", {"city": "Oslo"})
    assert (clock.name, clock.input) == ("get_time", {"tz": "CET"})
    assert message.stop_reason == "tool_use"
    u = message.usage
    assert (
        u.input_tokens,
        u.cache_read_input_tokens,
        u.cache_creation_input_tokens,
        u.output_tokens,
    ) == (10, 20, 5, 42)


def test_finish_waits_for_usage() -> None:
    renderer = am.StreamRenderer(am.parse_request(_with(stream=True)))
    for event in EVENTS[:-2]:
        renderer.render(event)
    finish = decoded(b"".join(renderer.render(EVENTS[-2])))
    assert [name for name, _ in finish] == ["content_block_stop"]  # no message_delta yet
    tail = decoded(b"".join(renderer.render(EVENTS[-1])))
    assert [name for name, _ in tail] == ["message_delta", "message_stop"]
    assert tail[0][1]["usage"]["output_tokens"] == 42
    assert renderer.done() == b""


def test_done_closes_the_message_when_no_usage_came() -> None:
    message = final_message(render_stream(EVENTS[:-1]))
    assert message.stop_reason == "tool_use"
    assert message.usage.input_tokens == 10  # what message_start knew


def test_openai_style_upstream_reports_input_usage_only_at_the_end() -> None:
    events: list[StreamEvent] = [
        StreamStart("chatcmpl-1", "gpt-4o", 1),
        TextDelta("hi"),
        StreamFinish("length"),
        StreamUsage(Usage(input_tokens=40, cache_read_tokens=60, output_tokens=3)),
    ]
    stream = render_stream(events)
    assert decoded(stream)[0][1]["message"]["usage"]["input_tokens"] == 0
    message = final_message(stream)
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (40, 60)
    assert (message.content[0].text, message.stop_reason) == ("hi", "max_tokens")


def test_text_after_a_tool_call_opens_a_new_text_block() -> None:
    events: list[StreamEvent] = [
        StreamStart("m", "m"),
        ToolCallDelta(0, "{}", id="t", name="f"),
        TextDelta("after"),
        StreamFinish("stop"),
    ]
    message = final_message(render_stream(events))
    assert [block.type for block in message.content] == ["tool_use", "text"]


def test_stream_error_event_makes_the_sdk_raise() -> None:
    renderer = am.StreamRenderer(am.parse_request(_with(stream=True)))
    stream = b"".join(renderer.render(EVENTS[0]) + renderer.render(EVENTS[1]))
    stream += renderer.error(GatewayError("overloaded", "Overloaded"))
    assert renderer.done() == b""
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        final_message(stream)


# ------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("err", "error_type", "exc_type"),
    [
        (
            InvalidRequest("max_tokens: Field required", param="max_tokens"),
            "invalid_request_error",
            anthropic.BadRequestError,
        ),
        (
            GatewayError("authentication", "bad key"),
            "authentication_error",
            anthropic.AuthenticationError,
        ),
        (GatewayError("permission", "nope"), "permission_error", anthropic.PermissionDeniedError),
        (GatewayError("not_found", "no model"), "not_found_error", anthropic.NotFoundError),
        (
            GatewayError("request_too_large", "too big"),
            "request_too_large",
            anthropic.APIStatusError,
        ),
        (GatewayError("rate_limit", "slow"), "rate_limit_error", anthropic.RateLimitError),
        (UpstreamError("broke", status=502), "api_error", anthropic.InternalServerError),
        (
            GatewayError("upstream_timeout", "slow upstream"),
            "timeout_error",
            anthropic.InternalServerError,
        ),
        (GatewayError("overloaded", "busy"), "overloaded_error", anthropic.InternalServerError),
    ],
)
def test_render_error_shapes(err: GatewayError, error_type: str, exc_type: type[Exception]) -> None:
    body = am.render_error(err)
    assert body == {"type": "error", "error": {"type": error_type, "message": err.message}}
    if error_type != "request_too_large":  # documented, but absent from the SDK's union
        ErrorResponse.model_validate(body)
    with pytest.raises(exc_type) as info:
        anthropic_replying(body, status=err.status).messages.create(
            model="m", max_tokens=1, messages=[]
        )
    assert info.value.body == body  # type: ignore[attr-defined]


# ------------------------------------------------------------- upstream direction


def test_anthropic_request_passes_through_unchanged_apart_from_model() -> None:
    body = am.build_upstream_request(
        am.parse_request(copy.deepcopy(FULL_REQUEST)), "claude-sonnet-4-5-20250929"
    )
    expected = copy.deepcopy(FULL_REQUEST)
    expected["model"] = "claude-sonnet-4-5-20250929"
    # Thinking blocks have no canonical place and are dropped from history, and a
    # one-text-block tool_result is sent in the equivalent string form.
    del expected["messages"][1]["content"][0]
    expected["messages"][2]["content"][1]["content"] = "station down"
    assert body == expected


def test_upstream_body_uses_only_parameters_the_sdk_knows() -> None:
    # (A model id the SDK does not know, so it raises no deprecation warning.)
    body = am.build_upstream_request(
        am.parse_request(copy.deepcopy(FULL_REQUEST)), "claude-upstream"
    )
    params = {k: v for k, v in body.items() if k != "stream"}
    # SDK 2.x targets API version 2026-10-21, which removed the sampling parameters; the
    # gateway's provider speaks 2023-06-01, where they are still accepted.
    sampling = {k: params.pop(k) for k in ("temperature", "top_p", "top_k")}
    assert sent_by_anthropic_sdk(**params, extra_body=sampling) == {**params, **sampling}


def test_server_tools_pass_through_only_to_anthropic() -> None:
    web_search = {"type": "web_search_20250305", "name": "web_search", "max_uses": 3}
    req = am.parse_request(_with(tools=[web_search]))
    assert req.tools == []
    assert am.build_upstream_request(req, "m")["tools"] == [web_search]
    assert not any(k.startswith("_") for k in am.build_upstream_request(req, "m"))


def test_n_above_one_is_rejected_for_anthropic_upstreams() -> None:
    req = ChatRequest("m", [Message("user", [TextPart("x")])], n=2)
    with pytest.raises(InvalidRequest) as info:
        am.build_upstream_request(req, "claude")
    assert info.value.param == "n"


def test_parse_upstream_response_keeps_usage_breakdown() -> None:
    body = {
        "id": "msg_2",
        "type": "message",
        "role": "assistant",
        "model": "claude-opus-4-1",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "s"},
            {"type": "text", "text": "Answer"},
        ],
        "stop_reason": "stop_sequence",
        "stop_sequence": "###",
        "usage": {
            "input_tokens": 5,
            "cache_read_input_tokens": 100,
            "cache_creation_input_tokens": 50,
            "cache_creation": {"ephemeral_5m_input_tokens": 20, "ephemeral_1h_input_tokens": 30},
            "output_tokens": 9,
            "output_tokens_details": {"thinking_tokens": 4},
        },
    }
    resp = am.parse_upstream_response(body)
    assert resp.choices[0].message.content == [TextPart("Answer")]
    assert resp.choices[0].finish_reason == "stop"
    assert resp.extra == {"stop_sequence": "###"}
    assert resp.usage == Usage(5, 100, 20, 30, 9, 4)


UPSTREAM_SSE = b"".join(
    b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
    for name, data in [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_u",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 12,
                        "cache_creation_input_tokens": 100,
                        "cache_read_input_tokens": 0,
                        "cache_creation": {
                            "ephemeral_5m_input_tokens": 0,
                            "ephemeral_1h_input_tokens": 100,
                        },
                        "output_tokens": 1,
                    },
                },
            },
        ),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "thinking", "thinking": "", "signature": ""},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "thinking_delta", "thinking": "secret"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "text_delta", "text": "Hi"},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 2,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_u",
                    "name": "get_weather",
                    "input": {},
                },
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": '{"city":'},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 2,
                "delta": {"type": "input_json_delta", "partial_json": '"Oslo"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 2}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 33},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
)


def parse_upstream_sse(stream: bytes) -> list[StreamEvent]:
    parser = am.UpstreamStreamParser()
    return [
        e for name, data in SSEDecoder().feed(stream) for e in parser.feed(name, orjson.loads(data))
    ]


def test_upstream_stream_parser_yields_canonical_events() -> None:
    events = parse_upstream_sse(UPSTREAM_SSE)
    start = events[0]
    assert isinstance(start, StreamStart) and (start.id, start.model) == (
        "msg_u",
        "claude-sonnet-4-5",
    )
    assert start.usage == Usage(input_tokens=12, cache_write_1h_tokens=100, output_tokens=1)
    assert events[1:] == [
        TextDelta("Hi"),  # the thinking block is dropped
        ToolCallDelta(0, "", id="toolu_u", name="get_weather"),
        ToolCallDelta(0, '{"city":'),
        ToolCallDelta(0, '"Oslo"}'),
        StreamFinish("tool_calls"),
        StreamUsage(Usage(input_tokens=12, cache_write_1h_tokens=100, output_tokens=33)),
    ]


def test_message_delta_usage_is_cumulative_and_overrides_the_start() -> None:
    parser = am.UpstreamStreamParser()
    parser.feed(
        "message_start",
        {
            "type": "message_start",
            "message": {"id": "m", "model": "m", "usage": {"input_tokens": 0, "output_tokens": 1}},
        },
    )
    events = parser.feed(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"input_tokens": 7, "cache_read_input_tokens": 90, "output_tokens": 4},
        },
    )
    assert events == [
        StreamFinish("stop"),
        StreamUsage(Usage(input_tokens=7, cache_read_tokens=90, output_tokens=4)),
    ]


@pytest.mark.parametrize(
    ("error_type", "status", "kind"),
    [
        ("overloaded_error", 529, "overloaded"),
        ("rate_limit_error", 429, "rate_limit"),
        ("api_error", 500, "upstream"),
        ("something_new", 500, "upstream"),
    ],
)
def test_upstream_error_event_raises(error_type: str, status: int, kind: str) -> None:
    parser = am.UpstreamStreamParser()
    with pytest.raises(UpstreamError) as info:
        parser.feed(
            "error", {"type": "error", "error": {"type": error_type, "message": "Overloaded"}}
        )
    assert (info.value.status, info.value.kind, info.value.message) == (status, kind, "Overloaded")
    assert info.value.retryable


def test_upstream_stream_to_client_stream_is_lossless() -> None:
    # An Anthropic upstream stream re-rendered for an Anthropic client: same message.
    upstream = final_message(UPSTREAM_SSE)
    relayed = final_message(render_stream(parse_upstream_sse(UPSTREAM_SSE)))
    assert relayed.content == upstream.content[1:]  # minus the dropped thinking block
    assert relayed.usage.output_tokens == upstream.usage.output_tokens == 33
    assert relayed.usage.cache_creation_input_tokens == 100
    assert relayed.stop_reason == upstream.stop_reason == "tool_use"
