"""OpenAI Chat Completions wire: what OpenAI clients send and what they get back.

Responses and streams are checked by the official ``openai`` SDK itself (through a
mock transport), so "valid" means "the SDK parses it as OpenAI's own answer".
"""

from __future__ import annotations

import copy
from typing import Any

import openai
import orjson
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

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
from tokenthrift.wire import openai_chat as oc
from tokenthrift.wire.sse import SSEDecoder
from wire_sdk import openai_replying, sent_by_openai_sdk

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
PNG = "iVBORw0KGgo="

FULL_REQUEST: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "developer", "content": "Be terse."},
        {"role": "system", "content": [{"type": "text", "text": "Use tools."}]},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather here?"},
                {
                    "type": "image_url",
                    "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"},
                },
                {"type": "image_url", "image_url": {"url": "https://x.test/a.jpg"}},
            ],
            "name": "ann",
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "-3C"},
    ],
    "tools": [WEATHER],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": False,
    "max_tokens": 50,
    "max_completion_tokens": 100,
    "temperature": 1.5,
    "top_p": 0.9,
    "stop": "END",
    "seed": 7,
    "n": 2,
    "stream": True,
    "stream_options": {"include_usage": True},
    "response_format": {"type": "json_object"},
    "reasoning_effort": "low",
    "prompt_cache_key": "tenant-1",
    "metadata": {"trace": "t1"},
    "user": "u-42",
    "safety_identifier": "hash-42",
    "logprobs": True,
    "top_logprobs": 2,
    "presence_penalty": 0.5,
    "frequency_penalty": 0.1,
    "logit_bias": {"50256": -100},
    "service_tier": "flex",
    "store": False,
    "modalities": ["text"],
}


def usage(**kw: int) -> Usage:
    return Usage(**kw)


# ---------------------------------------------------------------- parse_request


def test_parse_request_maps_every_canonical_field() -> None:
    req = oc.parse_request(copy.deepcopy(FULL_REQUEST))
    assert req.source_format == "openai"
    assert [m.role for m in req.messages] == ["system", "system", "user", "assistant", "tool"]
    assert req.system_text == "Be terse.\nUse tools."
    user = req.messages[2]
    assert user.name == "ann"
    assert user.content[1] == ImagePart(data=PNG, media_type="image/png", detail="low")
    assert user.content[2] == ImagePart(url="https://x.test/a.jpg")
    assert req.messages[3].content == []
    assert req.messages[3].tool_calls == [ToolCall("call_1", "get_weather", '{"city": "Oslo"}')]
    assert (req.messages[4].tool_call_id, req.messages[4].text) == ("call_1", "-3C")
    assert req.tools[0].name == "get_weather" and req.tools[0].parameters["properties"]
    assert req.tool_choice == {"name": "get_weather"}
    assert req.parallel_tool_calls is False
    assert req.max_tokens == 100  # max_completion_tokens wins over max_tokens
    assert (req.temperature, req.top_p, req.stop, req.seed, req.n) == (1.5, 0.9, ["END"], 7, 2)
    assert req.stream and req.include_usage
    assert req.response_format == {"type": "json_object"}
    assert (req.reasoning_effort, req.prompt_cache_key) == ("low", "tenant-1")
    assert req.metadata == {"trace": "t1", "user": "u-42", "safety_identifier": "hash-42"}
    assert req.extra == {
        k: FULL_REQUEST[k]
        for k in (
            "logprobs",
            "top_logprobs",
            "presence_penalty",
            "frequency_penalty",
            "logit_bias",
            "service_tier",
            "store",
            "modalities",
        )
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ({"type": "function", "function": {"name": "f"}}, {"name": "f"}),
    ],
)
def test_tool_choice_forms(choice: Any, expected: Any) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": choice}
    assert oc.parse_request(body).tool_choice == expected


def test_parse_request_accepts_what_the_openai_sdk_sends() -> None:
    body = sent_by_openai_sdk(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        ],
        tools=[WEATHER],
        tool_choice="required",
        max_completion_tokens=64,
        stop=["a", "b"],
        user="someone",
    )
    req = oc.parse_request(body)
    assert (req.model, req.max_tokens, req.stop, req.tool_choice) == (
        "gpt-4o-mini",
        64,
        ["a", "b"],
        "required",
    )
    assert req.metadata["user"] == "someone"
    assert req.messages[1].content == [TextPart("hi")]


def _with(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (_with(model=...), "model"),
        (_with(model=""), "model"),
        (_with(model=5), "model"),
        (_with(messages=...), "messages"),
        (_with(messages=[]), "messages"),
        (_with(messages="hi"), "messages"),
        (_with(messages=[{"role": "wizard", "content": "x"}]), "messages[0].role"),
        (_with(messages=[{"role": "user"}]), "messages[0].content"),
        (
            _with(messages=[{"role": "user", "content": [{"type": "input_audio"}]}]),
            "messages[0].content[0].type",
        ),
        (_with(messages=[{"role": "tool", "content": "x"}]), "messages[0].tool_call_id"),
        (
            _with(messages=[{"role": "assistant", "tool_calls": [{"id": "c", "function": {}}]}]),
            "messages[0].tool_calls[0].function.name",
        ),
        (_with(max_tokens=0), "max_tokens"),
        (_with(max_tokens="10"), "max_tokens"),
        (_with(max_completion_tokens=-1), "max_completion_tokens"),
        (_with(max_tokens=True), "max_tokens"),
        (_with(temperature=2.5), "temperature"),
        (_with(temperature="hot"), "temperature"),
        (_with(top_p=1.5), "top_p"),
        (_with(n=0), "n"),
        (_with(stop=["ok", 3]), "stop[1]"),
        (_with(stream="yes"), "stream"),
        (_with(tools=[{"type": "function", "function": {"name": ""}}]), "tools[0].function.name"),
        (_with(tools=[{"type": "web_search"}]), "tools[0].type"),
        (_with(tool_choice="sometimes"), "tool_choice"),
        (_with(metadata=["x"]), "metadata"),
        (_with(user=5), "user"),
    ],
)
def test_malformed_requests_name_the_offending_param(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as info:
        oc.parse_request(body)
    assert info.value.param == param
    assert info.value.status == 400


def test_non_object_body_is_invalid_request() -> None:
    with pytest.raises(InvalidRequest):
        oc.parse_request([])  # type: ignore[arg-type]


# -------------------------------------------------------------- render_response


def _response(**extra: Any) -> ChatResponse:
    return ChatResponse(
        id="chatcmpl-1",
        model="gpt-4o-2024-08-06",
        created=1700000000,
        choices=[
            Choice(0, Message("assistant", [TextPart("Hi!")]), "stop"),
            Choice(
                1,
                Message(
                    "assistant", tool_calls=[ToolCall("call_9", "get_weather", '{"city":"Rome"}')]
                ),
                "tool_calls",
            ),
        ],
        usage=usage(input_tokens=40, cache_read_tokens=60, output_tokens=12, reasoning_tokens=5),
        extra=extra,
    )


def test_render_response_is_a_chat_completion_the_sdk_parses() -> None:
    req = oc.parse_request(_with(n=2))
    body = oc.render_response(_response(system_fingerprint="fp_1", stop_sequence="X"), req)
    completion = openai_replying(body).chat.completions.create(model="gpt-4o", messages=[])
    assert isinstance(completion, ChatCompletion)
    first, second = completion.choices
    assert (first.message.content, first.finish_reason) == ("Hi!", "stop")
    assert second.message.content is None  # tool-calls-only turn
    assert second.message.tool_calls[0].function.arguments == '{"city":"Rome"}'  # type: ignore[union-attr,index]
    assert second.finish_reason == "tool_calls"
    assert completion.system_fingerprint == "fp_1"
    assert "stop_sequence" not in body  # an Anthropic upstream's extra stays out
    u = completion.usage
    assert u is not None
    assert (u.prompt_tokens, u.completion_tokens, u.total_tokens) == (100, 12, 112)
    assert u.prompt_tokens_details.cached_tokens == 60  # type: ignore[union-attr]
    assert u.completion_tokens_details.reasoning_tokens == 5  # type: ignore[union-attr]


def test_response_round_trips_through_upstream_parser() -> None:
    resp = _response(system_fingerprint="fp_1")
    back = oc.parse_upstream_response(oc.render_response(resp, oc.parse_request(_with())))
    assert back == resp


# ------------------------------------------------------------------------ stream

EVENTS: list[StreamEvent] = [
    StreamStart("chatcmpl-7", "gpt-4o", 1700000001),
    TextDelta("Let me "),
    TextDelta("check."),
    ToolCallDelta(0, '{"ci', id="call_a", name="get_weather"),
    ToolCallDelta(0, 'ty":"Oslo"}'),
    ToolCallDelta(1, "{}", id="call_b", name="get_time"),
    StreamFinish("tool_calls"),
    StreamUsage(usage(input_tokens=40, cache_read_tokens=60, output_tokens=9)),
]


def render_stream(request: ChatRequest, events: list[StreamEvent]) -> bytes:
    renderer = oc.StreamRenderer(request)
    return b"".join(b for e in events for b in renderer.render(e)) + renderer.done()


def chunks_of(stream: bytes) -> list[dict[str, Any]]:
    data = [d for _, d in SSEDecoder().feed(stream)]
    assert data[-1] == "[DONE]"
    return [orjson.loads(d) for d in data[:-1]]


@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_chunks_validate_and_usage_is_stripped_unless_asked(include_usage: bool) -> None:
    body = _with(stream=True, stream_options={"include_usage": include_usage})
    chunks = chunks_of(render_stream(oc.parse_request(body), EVENTS))
    for chunk in chunks:
        ChatCompletionChunk.model_validate(chunk)
    assert {(c["id"], c["created"], c["model"]) for c in chunks} == {
        ("chatcmpl-7", 1700000001, "gpt-4o")
    }
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    usage_chunks = [c for c in chunks if c.get("usage")]
    if include_usage:
        assert len(usage_chunks) == 1 and chunks[-1] is usage_chunks[0]
        assert chunks[-1]["choices"] == []
        assert chunks[-1]["usage"]["prompt_tokens"] == 100
    else:
        assert usage_chunks == [] and all("usage" not in c for c in chunks)


def test_openai_sdk_accumulates_the_rendered_stream() -> None:
    stream = render_stream(
        oc.parse_request(_with(stream=True, stream_options={"include_usage": True})), EVENTS
    )
    client = openai_replying(stream)
    with client.chat.completions.stream(model="gpt-4o", messages=[]) as events:
        final = events.get_final_completion()
    choice = final.choices[0]
    assert choice.message.content == "Let me check."
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    assert [(c.id, c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("call_a", "get_weather", '{"city":"Oslo"}'),
        ("call_b", "get_time", "{}"),
    ]
    assert final.usage is not None and final.usage.prompt_tokens_details.cached_tokens == 60  # type: ignore[union-attr]


def test_stream_with_two_choices_keeps_their_indexes() -> None:
    events: list[StreamEvent] = [
        StreamStart("c", "m", 1),
        TextDelta("a", index=0),
        TextDelta("b", index=1),
        StreamFinish("stop", index=1),
        StreamFinish("length", index=0),
    ]
    chunks = chunks_of(render_stream(oc.parse_request(_with(n=2, stream=True)), events))
    roles = [c["choices"][0]["index"] for c in chunks if c["choices"][0]["delta"].get("role")]
    assert roles == [0, 1]
    finishes = {c["choices"][0]["index"]: c["choices"][0]["finish_reason"] for c in chunks[-2:]}
    assert finishes == {1: "stop", 0: "length"}


def test_stream_error_chunk_makes_the_sdk_raise() -> None:
    renderer = oc.StreamRenderer(oc.parse_request(_with(stream=True)))
    stream = b"".join(renderer.render(EVENTS[0]) + renderer.render(EVENTS[1]))
    stream += renderer.error(GatewayError("upstream", "upstream went away"))
    with pytest.raises(openai.APIError, match="upstream went away"):
        list(openai_replying(stream).chat.completions.create(model="m", messages=[], stream=True))


# ------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("err", "exc_type", "error_type", "code"),
    [
        (
            InvalidRequest("bad temperature", param="temperature"),
            openai.BadRequestError,
            "invalid_request_error",
            None,
        ),
        (
            GatewayError("authentication", "no key"),
            openai.AuthenticationError,
            "authentication_error",
            None,
        ),
        (
            GatewayError("permission", "model not allowed for key"),
            openai.PermissionDeniedError,
            "permission_error",
            None,
        ),
        (
            GatewayError("not_found", "no such model", code="model_not_found"),
            openai.NotFoundError,
            "invalid_request_error",
            "model_not_found",
        ),
        (
            GatewayError("rate_limit", "slow down"),
            openai.RateLimitError,
            "rate_limit_error",
            "rate_limit_exceeded",
        ),
        (
            GatewayError("rate_limit", "budget spent", code="budget_exceeded"),
            openai.RateLimitError,
            "rate_limit_error",
            "budget_exceeded",
        ),
        (UpstreamError("boom", status=502), openai.InternalServerError, "server_error", None),
    ],
)
def test_render_error_shapes_are_what_the_sdk_expects(
    err: GatewayError, exc_type: type[openai.APIStatusError], error_type: str, code: str | None
) -> None:
    body = oc.render_error(err)
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert (body["error"]["type"], body["error"]["code"]) == (error_type, code)
    with pytest.raises(exc_type) as info:
        openai_replying(body, status=err.status).chat.completions.create(model="m", messages=[])
    assert info.value.code == code
    assert info.value.param == err.param
    assert info.value.type == error_type
    assert err.message in info.value.message


# ------------------------------------------------------------- upstream direction


def test_openai_request_passes_through_unchanged_apart_from_model_and_usage() -> None:
    original = copy.deepcopy(FULL_REQUEST)
    body = oc.build_upstream_request(
        oc.parse_request(copy.deepcopy(FULL_REQUEST)), "gpt-4o-2024-08-06"
    )
    # Differences are deliberate: developer -> system (OpenAI treats them alike), the
    # one-part system list becomes a string, stop becomes a list, deprecated max_tokens
    # gives way to max_completion_tokens, and metadata is held back because store is
    # false (OpenAI rejects metadata without store).
    original["messages"][0]["role"] = "system"
    original["messages"][1]["content"] = "Use tools."
    original["stop"] = ["END"]
    del original["max_tokens"], original["metadata"]
    original["model"] = "gpt-4o-2024-08-06"
    assert body == original


def test_upstream_body_uses_only_parameters_the_sdk_knows() -> None:
    body = oc.build_upstream_request(oc.parse_request(copy.deepcopy(FULL_REQUEST)), "gpt-4o")
    assert sent_by_openai_sdk(**body) == body


def test_upstream_stream_always_asks_for_usage() -> None:
    req = oc.parse_request(_with(stream=True))
    assert oc.build_upstream_request(req, "gpt-4o")["stream_options"] == {"include_usage": True}
    assert "stream_options" not in oc.build_upstream_request(oc.parse_request(_with()), "m")


def test_client_max_tokens_field_and_strict_tools_survive_pass_through() -> None:
    strict_tool = copy.deepcopy(WEATHER)
    strict_tool["function"]["strict"] = True  # type: ignore[index]
    req = oc.parse_request(_with(max_tokens=30, tools=[strict_tool]))
    body = oc.build_upstream_request(req, "m")
    assert body["max_tokens"] == 30 and "max_completion_tokens" not in body
    assert body["tools"] == [strict_tool]
    assert not any(key.startswith("_") for key in body)


def test_metadata_reaches_openai_only_with_store() -> None:
    # OpenAI rejects metadata unless store is true.
    without = oc.build_upstream_request(oc.parse_request(_with(metadata={"a": "1"})), "m")
    assert "metadata" not in without
    stored = oc.build_upstream_request(
        oc.parse_request(_with(metadata={"a": "1"}, store=True)), "m"
    )
    assert stored["metadata"] == {"a": "1"}


def test_no_tool_choice_without_tools() -> None:
    req = ChatRequest(
        "m", [Message("user", [TextPart("x")])], tool_choice="auto", parallel_tool_calls=True
    )
    body = oc.build_upstream_request(req, "m")
    assert "tool_choice" not in body and "parallel_tool_calls" not in body


@pytest.mark.parametrize(("budget", "effort"), [(1024, "low"), (8000, "medium"), (32000, "high")])
def test_thinking_budget_becomes_reasoning_effort(budget: int, effort: str) -> None:
    req = ChatRequest("m", [Message("user", [TextPart("x")])], thinking_budget=budget)
    assert oc.build_upstream_request(req, "o3")["reasoning_effort"] == effort


def test_parse_upstream_response_splits_cached_tokens() -> None:
    body = {
        "id": "chatcmpl-2",
        "object": "chat.completion",
        "created": 5,
        "model": "gpt-4o",
        "system_fingerprint": "fp_2",
        "service_tier": "default",
        "choices": [
            {
                "index": 0,
                "finish_reason": "length",
                "message": {"role": "assistant", "content": "partial"},
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "total_tokens": 120,
            "prompt_tokens_details": {"cached_tokens": 60},
            "completion_tokens_details": {"reasoning_tokens": 8},
        },
    }
    resp = oc.parse_upstream_response(body)
    assert resp.usage == Usage(
        input_tokens=40, cache_read_tokens=60, output_tokens=20, reasoning_tokens=8
    )
    assert resp.choices[0].finish_reason == "length" and resp.choices[0].message.text == "partial"
    assert resp.extra == {"system_fingerprint": "fp_2", "service_tier": "default"}


def test_upstream_refusal_becomes_text() -> None:
    body = {
        "id": "x",
        "model": "m",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": None, "refusal": "No."},
            }
        ],
    }
    assert oc.parse_upstream_response(body).choices[0].message.text == "No."


def _chunk(choices: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-9",
        "object": "chat.completion.chunk",
        "created": 9,
        "model": "gpt-4o",
        "choices": choices,
        **kw,
    }


def test_upstream_stream_parser_yields_canonical_events() -> None:
    parser = oc.UpstreamStreamParser()
    chunks = [
        # Azure opens with prompt_filter_results and blank id/model: no StreamStart yet.
        {"id": "", "model": "", "created": 0, "choices": [], "prompt_filter_results": []},
        _chunk(
            [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]
        ),
        _chunk([{"index": 0, "delta": {"content": "Hi"}, "finish_reason": None}]),
        _chunk(
            [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_1",
                                "type": "function",
                                "function": {"name": "f", "arguments": ""},
                            }
                        ]
                    },
                }
            ]
        ),
        _chunk(
            [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}}]
        ),
        _chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]),
        _chunk(
            [],
            usage={
                "prompt_tokens": 100,
                "completion_tokens": 7,
                "prompt_tokens_details": {"cached_tokens": 60},
            },
        ),
    ]
    events = [e for c in chunks for e in parser.feed(c)]
    assert events == [
        StreamStart("chatcmpl-9", "gpt-4o", 9),
        TextDelta("Hi"),
        ToolCallDelta(0, "", id="call_1", name="f"),
        ToolCallDelta(0, "{}"),
        StreamFinish("tool_calls"),
        StreamUsage(Usage(input_tokens=40, cache_read_tokens=60, output_tokens=7)),
    ]


def test_usage_on_the_finish_chunk_is_emitted_once() -> None:
    # vLLM's continuous_usage_stats puts usage on every chunk, then again on a final one.
    parser = oc.UpstreamStreamParser()
    u = {"prompt_tokens": 10, "completion_tokens": 2}
    events = parser.feed(_chunk([{"index": 0, "delta": {"content": "a"}}], usage=u))
    events += parser.feed(_chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}], usage=u))
    events += parser.feed(_chunk([], usage=u))
    assert [type(e).__name__ for e in events] == [
        "StreamStart",
        "TextDelta",
        "StreamFinish",
        "StreamUsage",
    ]


def test_tool_calls_without_index_are_numbered_by_id() -> None:
    parser = oc.UpstreamStreamParser()
    events = parser.feed(
        _chunk(
            [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [
                            {"id": "a", "function": {"name": "f", "arguments": "{}"}},
                            {"id": "b", "function": {"name": "g", "arguments": "{}"}},
                        ]
                    },
                }
            ]
        )
    )
    assert [(e.tool_index, e.id) for e in events if isinstance(e, ToolCallDelta)] == [
        (0, "a"),
        (1, "b"),
    ]


def test_error_chunk_in_upstream_stream_raises() -> None:
    parser = oc.UpstreamStreamParser()
    with pytest.raises(UpstreamError) as info:
        parser.feed(
            {
                "error": {
                    "message": "Rate limit reached",
                    "type": "tokens",
                    "code": "rate_limit_exceeded",
                }
            }
        )
    assert (info.value.status, info.value.kind, info.value.code) == (
        429,
        "rate_limit",
        "rate_limit_exceeded",
    )


def test_upstream_stream_to_client_stream_is_lossless() -> None:
    # An OpenAI upstream stream re-rendered for an OpenAI client says the same thing.
    req = oc.parse_request(_with(stream=True, stream_options={"include_usage": True}))
    first = chunks_of(render_stream(req, EVENTS))
    parser = oc.UpstreamStreamParser()
    again = [e for chunk in first for e in parser.feed(chunk)]
    assert again == EVENTS
