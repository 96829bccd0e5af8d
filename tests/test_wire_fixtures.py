"""Wire parsing against the providers' own published examples.

Every fixture in ``fixtures/provider_api`` (sources in its README) goes through the
provider's real upstream path — HTTP status, SSE decoding in pieces, the upstream →
canonical parser, the stream accumulator — and the canonical result is checked: usage
split as billed (OpenAI ``prompt_tokens`` minus ``cached_tokens`` is uncached input;
Anthropic ``input_tokens`` is already uncached, cache writes split 5m/1h), text, tool
calls, finish reasons, errors. Then the canonical answer is rendered for each client
format and read back with the official SDKs: the fields clients read survive.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import anthropic
import pytest
from openai.types.chat import ChatCompletion

from tokenthrift.errors import UpstreamError
from tokenthrift.pipeline.replay import response_events
from tokenthrift.providers.anthropic import AnthropicProvider
from tokenthrift.providers.openai import OpenAIProvider
from tokenthrift.providers.transport import UpstreamReply
from tokenthrift.providers.wire_provider import WireProvider
from tokenthrift.types import ChatRequest, ChatResponse, StreamEvent, Usage
from tokenthrift.wire import anthropic_messages as am
from tokenthrift.wire import openai_chat as oc
from tokenthrift.wire.accumulate import StreamAccumulator
from wire_sdk import anthropic_replying, openai_replying

FIXTURES = Path(__file__).parent / "fixtures" / "provider_api"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(fixture(name))
    return loaded


class Replay:
    """A transport answering every request with one recorded reply, streamed in small
    pieces so that SSE events arrive split across reads, as on a network."""

    def __init__(self, body: bytes, status: int = 200, piece: int = 7) -> None:
        self.body, self.status, self.piece = body, status, piece
        self.sent: list[dict[str, Any]] = []

    async def send(self, method: str, path: str, headers: Mapping[str, str], body: bytes | None,
                   *, timeout: float) -> UpstreamReply:
        self.sent.append(json.loads(body or b"{}"))
        return UpstreamReply(self.status, {}, stream=self._pieces())

    async def _pieces(self) -> AsyncIterator[bytes]:
        for start in range(0, len(self.body), self.piece):
            yield self.body[start:start + self.piece]

    async def aclose(self) -> None:
        pass


def openai_upstream(body: bytes, status: int = 200) -> OpenAIProvider:
    return OpenAIProvider("openai", Replay(body, status), api_key="sk-test")


def anthropic_upstream(body: bytes, status: int = 200) -> AnthropicProvider:
    return AnthropicProvider("anthropic", Replay(body, status), api_key="sk-ant-test")


def openai_request(stream: bool = False) -> ChatRequest:
    body: dict[str, Any] = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}]}
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return oc.parse_request(body)


def anthropic_request(stream: bool = False) -> ChatRequest:
    return am.parse_request({"model": "claude-sonnet-4-5", "max_tokens": 256, "stream": stream,
                             "messages": [{"role": "user", "content": "Hello"}]})


async def complete(provider: WireProvider, request: ChatRequest) -> ChatResponse:
    return await provider.complete(request, request.model, timeout=5)


async def streamed(provider: WireProvider, request: ChatRequest) -> ChatResponse:
    events: AsyncIterator[StreamEvent] = await provider.open_stream(request, request.model,
                                                                    timeout=5)
    accumulator = StreamAccumulator()
    async for event in events:
        accumulator.add(event)
    return accumulator.response()


def relayed_events(response: ChatResponse) -> list[StreamEvent]:
    """The canonical events a gateway relays for ``response`` (as for a cache hit)."""
    return list(response_events(response))


# -- OpenAI ---------------------------------------------------------------------------


async def test_openai_chat_completion_object() -> None:
    response = await complete(openai_upstream(fixture("openai/chat_completion.json")),
                              openai_request())
    assert (response.id, response.model, response.created) == (
        "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "gpt-4o-2024-08-06", 1741570283)
    [choice] = response.choices
    assert choice.message.text.startswith("The image shows a wooden boardwalk path")
    assert choice.finish_reason == "stop" and choice.message.tool_calls == []
    assert response.usage == Usage(input_tokens=1117, output_tokens=46)
    assert response.extra == {"system_fingerprint": "fp_fc9f1d7035", "service_tier": "default"}


async def test_openai_cached_tokens_are_split_out_of_prompt_tokens() -> None:
    body = fixture_json("openai/chat_completion.json")
    body["usage"] = fixture_json("openai/usage_prompt_caching.json")
    response = await complete(openai_upstream(json.dumps(body).encode()), openai_request())
    assert response.usage == Usage(input_tokens=2006 - 1920, cache_read_tokens=1920,
                                   output_tokens=300)
    assert response.usage.total_input_tokens == 2006


async def test_openai_tool_call_response() -> None:
    response = await complete(openai_upstream(fixture("openai/chat_completion_tool_calls.json")),
                              openai_request())
    [choice] = response.choices
    assert choice.finish_reason == "tool_calls" and choice.message.text == ""
    [call] = choice.message.tool_calls
    assert (call.id, call.name) == ("call_abc123", "get_current_weather")
    assert json.loads(call.arguments) == {"location": "Boston, MA"}
    assert response.usage == Usage(input_tokens=82, output_tokens=17)


async def test_openai_stream_with_include_usage() -> None:
    provider = openai_upstream(fixture("openai/chat_completion_stream.sse"))
    response = await streamed(provider, openai_request(stream=True))
    assert provider.transport.sent[0]["stream_options"] == {"include_usage": True}  # type: ignore[attr-defined]
    assert (response.id, response.model, response.created) == (
        "chatcmpl-123", "gpt-4o-mini", 1694268190)
    [choice] = response.choices
    assert choice.message.text == "Hello" and choice.finish_reason == "stop"
    # The final chunk (no choices) carries the whole request's usage.
    assert response.usage == Usage(input_tokens=86, cache_read_tokens=1920, output_tokens=300,
                                   reasoning_tokens=128)


async def test_openai_streamed_tool_call_deltas_join_into_one_call() -> None:
    response = await streamed(openai_upstream(fixture("openai/chat_completion_tool_call_stream.sse")),
                              openai_request(stream=True))
    [choice] = response.choices
    assert choice.finish_reason == "tool_calls" and choice.message.text == ""
    [call] = choice.message.tool_calls
    assert (call.id, call.name) == ("call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather")
    assert json.loads(call.arguments) == {"location": "Paris, France"}


async def test_openai_error_body_is_an_upstream_error() -> None:
    provider = openai_upstream(fixture("openai/error_invalid_api_key.json"), status=401)
    with pytest.raises(UpstreamError) as info:
        await complete(provider, openai_request())
    error = info.value
    # The provider refused the *gateway's* key: kind "upstream" (the client's own key is
    # not the one at fault), the provider's message and code kept.
    assert error.status == 401 and error.kind == "upstream" and error.code == "invalid_api_key"
    assert "Incorrect API key provided" in error.message


async def test_openai_error_chunk_mid_stream_raises() -> None:
    provider = openai_upstream(fixture("openai/chat_completion_stream_error.sse"))
    with pytest.raises(UpstreamError) as info:
        await streamed(provider, openai_request(stream=True))
    assert "The server had an error" in info.value.message


# -- Anthropic ------------------------------------------------------------------------


async def test_anthropic_message_object() -> None:
    response = await complete(anthropic_upstream(fixture("anthropic/message.json")),
                              anthropic_request())
    assert (response.id, response.model) == ("msg_013Zva2CMHLNnXjNJJKqJ2EF",
                                             "claude-sonnet-4-5-20250929")
    [choice] = response.choices
    assert choice.message.text == "Hi! My name is Claude." and choice.finish_reason == "stop"
    # input_tokens is uncached already; the breakdown's 0 + 0 does not explain the 2051
    # written, so the total wins and the writes are 5-minute ones (the default TTL).
    assert response.usage == Usage(input_tokens=2095, cache_read_tokens=2051,
                                   cache_write_5m_tokens=2051, output_tokens=503)


def test_anthropic_cache_writes_split_by_ttl() -> None:
    usage = am.usage_from_anthropic(fixture_json("anthropic/usage_1h_cache.json"))
    # 248 written in all, 100 of them for an hour (the docs' example lists 456 for 5m,
    # more than the total: the total is authoritative).
    assert usage == Usage(input_tokens=2048, cache_read_tokens=1800, cache_write_5m_tokens=148,
                          cache_write_1h_tokens=100, output_tokens=503)
    assert usage.total_input_tokens == 2048 + 1800 + 248


async def test_anthropic_tool_use_response() -> None:
    response = await complete(anthropic_upstream(fixture("anthropic/message_tool_use.json")),
                              anthropic_request())
    [choice] = response.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.text == "I'll check the current weather in San Francisco for you."
    [call] = choice.message.tool_calls
    assert (call.id, call.name) == ("toolu_01A09q90qw90lq917835lq9", "get_weather")
    assert json.loads(call.arguments) == {"location": "San Francisco, CA", "unit": "celsius"}
    assert response.usage == Usage()  # the example shows no usage


async def test_anthropic_stream_event_sequence() -> None:
    response = await streamed(anthropic_upstream(fixture("anthropic/messages_stream.sse")),
                              anthropic_request(stream=True))
    assert (response.id, response.model) == ("msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY",
                                             "claude-opus-4-20250514")
    [choice] = response.choices
    assert choice.message.text == "Hello!" and choice.finish_reason == "stop"
    # message_delta's output_tokens is cumulative: it replaces message_start's 1.
    assert response.usage == Usage(input_tokens=25, output_tokens=15)


async def test_anthropic_streamed_tool_use_input_json_deltas() -> None:
    response = await streamed(
        anthropic_upstream(fixture("anthropic/messages_stream_tool_use.sse")),
        anthropic_request(stream=True))
    [choice] = response.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.text == "Okay, let's check the weather for San Francisco, CA:"
    [call] = choice.message.tool_calls
    assert (call.id, call.name) == ("toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather")
    assert json.loads(call.arguments) == {"location": "San Francisco, CA", "unit": "fahrenheit"}
    assert response.usage == Usage(input_tokens=472, output_tokens=89)


async def test_anthropic_error_event_mid_stream_raises() -> None:
    provider = anthropic_upstream(fixture("anthropic/messages_stream_error.sse"))
    with pytest.raises(UpstreamError) as info:
        await streamed(provider, anthropic_request(stream=True))
    assert (info.value.status, info.value.kind, info.value.message) == (
        529, "overloaded", "Overloaded")
    assert info.value.retryable


async def test_anthropic_error_body_is_an_upstream_error() -> None:
    provider = anthropic_upstream(fixture("anthropic/error_not_found.json"), status=404)
    with pytest.raises(UpstreamError) as info:
        await complete(provider, anthropic_request())
    assert (info.value.status, info.value.kind) == (404, "not_found")
    assert info.value.message == "The requested resource could not be found."
    assert info.value.code == "not_found_error"


# -- canonical → client formats -------------------------------------------------------


async def cached_openai_answer() -> ChatResponse:
    body = fixture_json("openai/chat_completion.json")
    body["usage"] = fixture_json("openai/usage_prompt_caching.json")
    body["usage"]["completion_tokens_details"]["reasoning_tokens"] = 128
    return await complete(openai_upstream(json.dumps(body).encode()), openai_request())


async def test_openai_answer_renders_for_both_clients_with_the_usage_they_read() -> None:
    response = await cached_openai_answer()
    text = response.choices[0].message.text

    completion = ChatCompletion.model_validate(oc.render_response(response, openai_request()))
    assert completion.choices[0].message.content == text
    assert completion.choices[0].finish_reason == "stop"
    usage = completion.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens,
                                  usage.total_tokens) == (2006, 300, 2306)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 1920
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 128

    message = anthropic.types.Message.model_validate(
        am.render_response(response, anthropic_request()))
    assert message.content[0].type == "text" and message.content[0].text == text
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens,
            message.usage.cache_creation_input_tokens, message.usage.output_tokens) == (
        86, 1920, 0, 300)


async def test_anthropic_answer_renders_for_both_clients_with_the_usage_they_read() -> None:
    response = await complete(anthropic_upstream(fixture("anthropic/message.json")),
                              anthropic_request())
    message = anthropic.types.Message.model_validate(
        am.render_response(response, anthropic_request()))
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.cache_creation_input_tokens,
            usage.output_tokens) == (2095, 2051, 2051, 503)
    assert usage.cache_creation is not None
    assert (usage.cache_creation.ephemeral_5m_input_tokens,
            usage.cache_creation.ephemeral_1h_input_tokens) == (2051, 0)
    assert message.content[0].type == "text" and message.content[0].text == "Hi! My name is Claude."

    completion = ChatCompletion.model_validate(oc.render_response(response, openai_request()))
    assert completion.usage is not None
    # OpenAI clients see every prompt token in prompt_tokens; only reads count as cached.
    assert completion.usage.prompt_tokens == 2095 + 2051 + 2051
    assert completion.usage.prompt_tokens_details is not None
    assert completion.usage.prompt_tokens_details.cached_tokens == 2051


async def test_tool_calls_render_for_both_clients() -> None:
    response = await streamed(
        anthropic_upstream(fixture("anthropic/messages_stream_tool_use.sse")),
        anthropic_request(stream=True))
    completion = ChatCompletion.model_validate(oc.render_response(response, openai_request()))
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert call.id == "toolu_01T1x1fJ34qAmk2tNTrN7Up6"
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {  # type: ignore[union-attr]
        "location": "San Francisco, CA", "unit": "fahrenheit"}

    response = await streamed(
        openai_upstream(fixture("openai/chat_completion_tool_call_stream.sse")),
        openai_request(stream=True))
    message = anthropic.types.Message.model_validate(
        am.render_response(response, anthropic_request()))
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use"
    assert (block.id, block.name, block.input) == (
        "call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather", {"location": "Paris, France"})


async def test_streams_render_for_both_clients_and_the_sdks_accumulate_them() -> None:
    response = await streamed(
        anthropic_upstream(fixture("anthropic/messages_stream_tool_use.sse")),
        anthropic_request(stream=True))
    events = relayed_events(response)

    renderer = am.StreamRenderer(anthropic_request(stream=True))
    body = b"".join(b for e in events for b in renderer.render(e)) + renderer.done()
    with anthropic_replying(body).messages.stream(model="m", max_tokens=1, messages=[]) as s:
        final = s.get_final_message()
    text, tool = final.content
    assert text.type == "text" and text.text == response.choices[0].message.text
    assert tool.type == "tool_use" and tool.input == {"location": "San Francisco, CA",
                                                      "unit": "fahrenheit"}
    assert final.stop_reason == "tool_use"
    assert (final.usage.input_tokens, final.usage.output_tokens) == (472, 89)

    renderer_oc = oc.StreamRenderer(openai_request(stream=True))
    body = b"".join(b for e in events for b in renderer_oc.render(e)) + renderer_oc.done()
    with openai_replying(body).chat.completions.stream(model="m", messages=[]) as s:
        completion = s.get_final_completion()
    choice = completion.choices[0]
    assert choice.message.content == response.choices[0].message.text
    assert choice.finish_reason == "tool_calls"
    [call] = choice.message.tool_calls or []
    assert json.loads(call.function.arguments) == {  # type: ignore[union-attr]
        "location": "San Francisco, CA", "unit": "fahrenheit"}
    assert completion.usage is not None and completion.usage.prompt_tokens == 472
