"""Cross-protocol translation: an OpenAI client served by an Anthropic upstream and the
other way round, including tools, tool results, system prompts with cache breakpoints,
usage, and streams checked end to end by the client's own SDK."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tokenthrift.types import StreamEvent, Usage
from tokenthrift.wire import anthropic_messages as am
from tokenthrift.wire import openai_chat as oc
from tokenthrift.wire.sse import SSEDecoder
from wire_sdk import anthropic_replying, openai_replying, sent_by_anthropic_sdk, sent_by_openai_sdk

PNG = "iVBORw0KGgo="
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}

OPENAI_CLIENT_REQUEST: dict[str, Any] = {
    "model": "claude-via-openai",
    "messages": [
        # cache_control on an OpenAI text part: the OpenRouter/LiteLLM convention
        {
            "role": "system",
            "content": [
                {
                    "type": "text",
                    "text": "Long stable policy.",
                    "cache_control": {"type": "ephemeral", "ttl": "1h"},
                }
            ],
        },
        {"role": "developer", "content": "Answer in English."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Weather?"},
                {"type": "image_url", "image_url": {"url": f"data:image/jpeg;base64,{PNG}"}},
            ],
        },
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{bad json"},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "-3C"},
        {"role": "tool", "tool_call_id": "call_2", "content": "unknown"},
        {"role": "user", "content": "Thanks. Summarise."},
    ],
    "tools": [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather", "parameters": SCHEMA},
        },
        {"type": "function", "function": {"name": "now"}},
    ],
    "tool_choice": "required",
    "parallel_tool_calls": False,
    "temperature": 1.6,
    "top_p": 0.5,
    "stop": ["END"],
    "seed": 1,
    "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": SCHEMA}},
    "user": "u-1",
    "logprobs": True,
    "presence_penalty": 0.2,
    "stream": True,
}

ANTHROPIC_CLIENT_REQUEST: dict[str, Any] = {
    "model": "gpt-via-anthropic",
    "max_tokens": 300,
    "system": [
        {"type": "text", "text": "Policy.", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "Be brief."},
    ],
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look at this", "cache_control": {"type": "ephemeral"}},
                {
                    "type": "image",
                    "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                },
            ],
        },
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Calling tools."},
                {"type": "tool_use", "id": "toolu_1", "name": "zoom", "input": {"factor": 2}},
                {"type": "tool_use", "id": "toolu_2", "name": "crop", "input": {}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_1",
                    "content": [
                        {"type": "text", "text": "zoomed"},
                        {
                            "type": "image",
                            "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                        },
                    ],
                },
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": "failed",
                    "is_error": True,
                },
                {"type": "text", "text": "What now?"},
            ],
        },
    ],
    "tools": [
        {"name": "zoom", "input_schema": SCHEMA, "cache_control": {"type": "ephemeral"}},
        {"name": "crop", "description": "Crop", "input_schema": {"type": "object"}},
    ],
    "tool_choice": {"type": "tool", "name": "zoom"},
    "temperature": 0.4,
    "top_k": 5,
    "stop_sequences": ["###"],
    "thinking": {"type": "enabled", "budget_tokens": 10000},
    "metadata": {"user_id": "u-9"},
    "stream": True,
}


# -------------------------------------------------------------- request direction


def openai_to_anthropic() -> dict[str, Any]:
    return am.build_upstream_request(oc.parse_request(OPENAI_CLIENT_REQUEST), "claude-upstream")


def anthropic_to_openai() -> dict[str, Any]:
    return oc.build_upstream_request(am.parse_request(ANTHROPIC_CLIENT_REQUEST), "gpt-upstream")


def test_openai_request_becomes_anthropic_body() -> None:
    body = openai_to_anthropic()
    system = body["system"]
    assert system[0] == {
        "type": "text",
        "text": "Long stable policy.",
        "cache_control": {"type": "ephemeral", "ttl": "1h"},
    }
    assert system[1] == {"type": "text", "text": "Answer in English."}
    # response_format becomes an instruction after the cached prefix
    assert "JSON Schema" in system[2]["text"] and '"city"' in system[2]["text"]
    user, assistant, results = body["messages"]
    assert user["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/jpeg", "data": PNG},
    }
    # empty text dropped; arguments parsed; invalid JSON becomes {}
    assert assistant == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Oslo"}},
            {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {}},
        ],
    }
    # both tool messages and the following user text share one user message
    assert results == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "-3C"},
            {"type": "tool_result", "tool_use_id": "call_2", "content": "unknown"},
            {"type": "text", "text": "Thanks. Summarise."},
        ],
    }
    assert body["tools"][1] == {"name": "now", "input_schema": {"type": "object"}}
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["temperature"] == 1.0  # clamped from 1.6
    assert "top_p" not in body  # Claude 4.5+ reject temperature together with top_p
    assert (body["stop_sequences"], body["metadata"], body["max_tokens"]) == (
        ["END"],
        {"user_id": "u-1"},
        4096,
    )
    assert body["stream"] is True
    for openai_only in ("seed", "logprobs", "presence_penalty", "response_format", "n", "user"):
        assert openai_only not in body


def test_translated_anthropic_body_is_accepted_by_the_anthropic_sdk() -> None:
    body = openai_to_anthropic()
    params = {k: v for k, v in body.items() if k not in ("stream", "temperature")}
    assert sent_by_anthropic_sdk(**params) == params


def test_anthropic_request_becomes_openai_body() -> None:
    body = anthropic_to_openai()
    messages = body["messages"]
    # cache_control dropped, system blocks kept as text parts
    assert messages[0] == {
        "role": "system",
        "content": [{"type": "text", "text": "Policy."}, {"type": "text", "text": "Be brief."}],
    }
    assert messages[1]["content"][1] == {
        "type": "image_url",
        "image_url": {"url": f"data:image/png;base64,{PNG}"},
    }
    assert messages[2] == {
        "role": "assistant",
        "content": "Calling tools.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "zoom", "arguments": '{"factor":2}'},
            },
            {"id": "toolu_2", "type": "function", "function": {"name": "crop", "arguments": "{}"}},
        ],
    }
    assert messages[3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "zoomed"}
    assert messages[4] == {"role": "tool", "tool_call_id": "toolu_2", "content": "failed"}
    # OpenAI tool messages are text-only: the tool's image follows as a user message
    assert messages[5] == {
        "role": "user",
        "content": [{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}],
    }
    assert messages[6] == {"role": "user", "content": "What now?"}
    assert body["tools"][0] == {
        "type": "function",
        "function": {"name": "zoom", "parameters": SCHEMA},
    }
    assert body["tool_choice"] == {"type": "function", "function": {"name": "zoom"}}
    assert (body["max_completion_tokens"], body["temperature"], body["stop"]) == (300, 0.4, ["###"])
    assert body["reasoning_effort"] == "medium"  # from thinking.budget_tokens 10000
    assert body["user"] == "u-9"
    assert body["stream_options"] == {"include_usage": True}
    for anthropic_only in (
        "top_k",
        "thinking",
        "metadata",
        "system",
        "stop_sequences",
        "max_tokens",
    ):
        assert anthropic_only not in body


def test_translated_openai_body_is_accepted_by_the_openai_sdk() -> None:
    body = anthropic_to_openai()
    assert sent_by_openai_sdk(**body) == body


# ------------------------------------------------------------------------- usage


def test_openai_usage_splits_cached_tokens_and_back() -> None:
    openai_usage = {
        "prompt_tokens": 100,
        "completion_tokens": 30,
        "total_tokens": 130,
        "prompt_tokens_details": {"cached_tokens": 60},
        "completion_tokens_details": {"reasoning_tokens": 10},
    }
    usage = oc.usage_from_openai(openai_usage)
    assert usage == Usage(
        input_tokens=40, cache_read_tokens=60, output_tokens=30, reasoning_tokens=10
    )
    assert oc.usage_to_openai(usage) == openai_usage


def test_openai_usage_without_details_and_deepseek_cache_hits() -> None:
    assert oc.usage_from_openai(
        {"prompt_tokens": 5, "completion_tokens": 1, "prompt_tokens_details": None}
    ) == Usage(input_tokens=5, output_tokens=1)
    deepseek = {"prompt_tokens": 50, "completion_tokens": 2, "prompt_cache_hit_tokens": 30}
    assert oc.usage_from_openai(deepseek) == Usage(
        input_tokens=20, cache_read_tokens=30, output_tokens=2
    )


def test_anthropic_usage_round_trips_with_ttl_breakdown() -> None:
    usage = Usage(
        input_tokens=7,
        cache_read_tokens=100,
        cache_write_5m_tokens=20,
        cache_write_1h_tokens=30,
        output_tokens=9,
        reasoning_tokens=4,
    )
    raw = am.usage_to_anthropic(usage)
    assert raw["cache_creation_input_tokens"] == 50
    assert raw["cache_creation"] == {
        "ephemeral_5m_input_tokens": 20,
        "ephemeral_1h_input_tokens": 30,
    }
    assert am.usage_from_anthropic(raw) == usage


def test_anthropic_usage_without_breakdown_counts_writes_as_5m() -> None:
    raw = {"input_tokens": 3, "cache_creation_input_tokens": 40, "output_tokens": 1}
    assert am.usage_from_anthropic(raw) == Usage(
        input_tokens=3, cache_write_5m_tokens=40, output_tokens=1
    )


def test_anthropic_cache_writes_count_as_openai_prompt_tokens() -> None:
    # OpenAI has no cache-write field: writes are ordinary (uncached) prompt tokens.
    usage = am.usage_from_anthropic(
        {
            "input_tokens": 10,
            "cache_creation_input_tokens": 50,
            "cache_read_input_tokens": 40,
            "output_tokens": 5,
        }
    )
    raw = oc.usage_to_openai(usage)
    assert (
        raw["prompt_tokens"],
        raw["prompt_tokens_details"]["cached_tokens"],
        raw["total_tokens"],
    ) == (100, 40, 105)


# --------------------------------------------------------------------- responses


def test_anthropic_upstream_response_for_an_openai_client() -> None:
    upstream = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}
        ],
        "stop_reason": "tool_use",
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "cache_read_input_tokens": 90, "output_tokens": 12},
    }
    request = oc.parse_request(OPENAI_CLIENT_REQUEST)
    body = oc.render_response(am.parse_upstream_response(upstream), request)
    completion = openai_replying(body).chat.completions.create(model="m", messages=[])
    choice = completion.choices[0]
    assert (choice.finish_reason, choice.message.content) == ("tool_calls", None)
    call = (choice.message.tool_calls or [])[0]
    assert orjson.loads(call.function.arguments) == {"city": "Oslo"}  # type: ignore[union-attr]
    assert completion.usage is not None
    details = completion.usage.prompt_tokens_details
    assert details is not None
    assert (completion.usage.prompt_tokens, details.cached_tokens) == (100, 90)


def test_openai_upstream_response_for_an_anthropic_client() -> None:
    upstream = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-x",
        "system_fingerprint": "fp",
        "choices": [
            {
                "index": 0,
                "finish_reason": "length",
                "message": {
                    "role": "assistant",
                    "content": "Partial",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "f", "arguments": '{"a": [1, 2'},
                        }
                    ],
                },
            }
        ],
        "usage": {
            "prompt_tokens": 100,
            "completion_tokens": 20,
            "prompt_tokens_details": {"cached_tokens": 60},
        },
    }
    request = am.parse_request(ANTHROPIC_CLIENT_REQUEST)
    body = am.render_response(oc.parse_upstream_response(upstream), request)
    assert "system_fingerprint" not in body
    message = anthropic_replying(body).messages.create(model="m", max_tokens=1, messages=[])
    text, tool = message.content
    assert text.text == "Partial" and tool.input == {}  # type: ignore[union-attr]  # truncated JSON
    assert message.stop_reason == "max_tokens"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (40, 60)


# ----------------------------------------------------------------------- streams


ANTHROPIC_UPSTREAM_EVENTS: list[dict[str, Any]] = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_s",
            "model": "claude-x",
            "content": [],
            "usage": {"input_tokens": 5, "cache_read_input_tokens": 95, "output_tokens": 1},
        },
    },
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "text", "text": ""},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "text_delta", "text": "On it."},
    },
    {"type": "content_block_stop", "index": 0},
    {
        "type": "content_block_start",
        "index": 1,
        "content_block": {
            "type": "tool_use",
            "id": "toolu_s",
            "name": "get_weather",
            "input": {},
        },
    },
    {
        "type": "content_block_delta",
        "index": 1,
        "delta": {"type": "input_json_delta", "partial_json": '{"city":"Rome"}'},
    },
    {"type": "content_block_stop", "index": 1},
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use"},
        "usage": {"output_tokens": 21},
    },
    {"type": "message_stop"},
]


def test_anthropic_upstream_stream_for_an_openai_client() -> None:
    upstream = b"".join(
        b"event: " + e["type"].encode() + b"\ndata: " + orjson.dumps(e) + b"\n\n"
        for e in ANTHROPIC_UPSTREAM_EVENTS
    )
    parser = am.UpstreamStreamParser()
    events: list[StreamEvent] = [
        e
        for name, data in SSEDecoder().feed(upstream)
        for e in parser.feed(name, orjson.loads(data))
    ]
    body = dict(OPENAI_CLIENT_REQUEST, stream_options={"include_usage": True})
    renderer = oc.StreamRenderer(oc.parse_request(body))
    stream = b"".join(b for e in events for b in renderer.render(e)) + renderer.done()
    with openai_replying(stream).chat.completions.stream(model="m", messages=[]) as sdk_stream:
        final = sdk_stream.get_final_completion()
    choice = final.choices[0]
    assert (choice.message.content, choice.finish_reason) == ("On it.", "tool_calls")
    call = (choice.message.tool_calls or [])[0]
    assert (call.id, call.function.name, call.function.arguments) == (
        "toolu_s",
        "get_weather",
        '{"city":"Rome"}',
    )
    assert final.usage is not None
    assert (final.usage.prompt_tokens, final.usage.completion_tokens) == (100, 21)


def openai_chunk(choices: list[dict[str, Any]], **kw: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-s",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-x",
        "choices": choices,
        **kw,
    }


def tool_call_chunk(call: dict[str, Any]) -> dict[str, Any]:
    return openai_chunk([{"index": 0, "delta": {"tool_calls": [call]}}])


OPENAI_UPSTREAM_CHUNKS = [
    openai_chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}}]),
    openai_chunk([{"index": 0, "delta": {"content": "Sure."}}]),
    tool_call_chunk(
        {
            "index": 0,
            "id": "call_s",
            "type": "function",
            "function": {"name": "f", "arguments": '{"x":'},
        }
    ),
    tool_call_chunk({"index": 0, "function": {"arguments": "1}"}}),
]
OPENAI_USAGE = {
    "prompt_tokens": 100,
    "completion_tokens": 8,
    "prompt_tokens_details": {"cached_tokens": 60},
}


@pytest.mark.parametrize("usage_on_finish_chunk", [False, True])
def test_openai_upstream_stream_for_an_anthropic_client(usage_on_finish_chunk: bool) -> None:
    finish = {"index": 0, "delta": {}, "finish_reason": "tool_calls"}
    if usage_on_finish_chunk:  # some OpenAI-compatible servers
        ending = [openai_chunk([finish], usage=OPENAI_USAGE)]
    else:  # OpenAI: a final chunk with no choices
        ending = [openai_chunk([finish]), openai_chunk([], usage=OPENAI_USAGE)]
    chunks = OPENAI_UPSTREAM_CHUNKS + ending
    parser = oc.UpstreamStreamParser()
    renderer = am.StreamRenderer(am.parse_request(ANTHROPIC_CLIENT_REQUEST))
    stream = (
        b"".join(b for c in chunks for e in parser.feed(c) for b in renderer.render(e))
        + renderer.done()
    )
    client = anthropic_replying(stream)
    with client.messages.stream(model="m", max_tokens=1, messages=[]) as sdk_stream:
        message = sdk_stream.get_final_message()
    text, tool = message.content
    assert text.text == "Sure."  # type: ignore[union-attr]
    assert (tool.id, tool.name, tool.input) == ("call_s", "f", {"x": 1})  # type: ignore[union-attr]
    assert message.stop_reason == "tool_use"
    assert (
        message.usage.input_tokens,
        message.usage.cache_read_input_tokens,
        message.usage.output_tokens,
    ) == (40, 60, 8)
