"""The gateway in front of existing code: both SDKs, stream and non-stream, and
cross-provider translation, with the emulator as upstream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from gateway_harness import RunningGateway, config_for, running_gateway

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"type": "string"}},
            "required": ["city"],
        },
    },
}
ANTHROPIC_WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "input_schema": WEATHER_TOOL["function"]["parameters"],  # type: ignore[index]
}


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(config_for(tmp_path_factory.mktemp("gw"))) as running:
        yield running


def test_openai_non_stream_answers_and_prices_the_call(gw: RunningGateway) -> None:
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Say hello [[emulator:reply=Hello there!]]"}],
        extra_headers={"x-tokenthrift-team": "search", "x-tokenthrift-customer": "acme",
                       "x-tokenthrift-tags": "beta, web", "x-tokenthrift-task": "chat"},
    )
    completion = raw.parse()
    assert completion.choices[0].message.content == "Hello there!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens > 0

    headers = raw.headers
    request_id = headers["x-tokenthrift-request-id"]
    assert headers["x-tokenthrift-served-model"] == "gpt-4o-mini"
    assert headers["x-tokenthrift-cache"] == "miss"
    assert float(headers["x-tokenthrift-cost-usd"]) > 0
    assert headers["x-tokenthrift-baseline-cost-usd"] == headers["x-tokenthrift-cost-usd"]
    assert float(headers["x-tokenthrift-saved-usd"]) == 0
    assert float(headers["x-tokenthrift-overhead-ms"]) >= 0

    row = gw.ledger_row(request_id)
    assert row.cost_usd == Decimal(headers["x-tokenthrift-cost-usd"])
    assert row.baseline_cost_usd == Decimal(headers["x-tokenthrift-baseline-cost-usd"])
    assert (row.team, row.customer, row.task) == ("search", "acme", "chat")
    assert row.tags == ["beta", "web"]
    assert row.requested_model == row.served_model == "gpt-4o-mini"
    assert row.input_tokens == completion.usage.prompt_tokens
    assert row.output_tokens == completion.usage.completion_tokens
    assert row.status == 200 and not row.stream and not row.usage_estimated
    assert row.key_id is not None and row.key_id.startswith("key_")


def test_openai_stream_strips_usage_unless_asked(gw: RunningGateway) -> None:
    client = gw.openai()
    messages = [{"role": "user", "content": "Stream please [[emulator:reply=one two three]]"}]
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=messages, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "one two three"
    assert all(c.usage is None for c in chunks)

    with_usage = list(client.chat.completions.create(
        model="gpt-4o", messages=messages, stream=True,
        stream_options={"include_usage": True}))
    assert with_usage[-1].choices == []
    assert with_usage[-1].usage is not None and with_usage[-1].usage.completion_tokens > 0


def test_openai_stream_ledger_row_has_upstream_usage(gw: RunningGateway) -> None:
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="gpt-4o", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "count [[emulator:reply=a b c d]]"}])
    request_id = raw.headers["x-tokenthrift-request-id"]
    chunks = list(raw.parse())
    usage = chunks[-1].usage
    row = gw.ledger_row(request_id)
    assert row.stream and not row.usage_estimated
    assert row.output_tokens == usage.completion_tokens
    assert row.input_tokens + row.cache_read_tokens == usage.prompt_tokens
    assert row.cost_usd is not None and row.cost_usd > 0


def test_anthropic_non_stream_and_stream(gw: RunningGateway) -> None:
    client = gw.anthropic()
    message = client.messages.create(
        model="claude-sonnet-4-5", max_tokens=200,
        system="You are terse.",
        messages=[{"role": "user", "content": "Hi [[emulator:reply=Hi back.]]"}],
        metadata={"user_id": "u-42"},
    )
    assert message.content[0].type == "text" and message.content[0].text == "Hi back."
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0

    with client.messages.stream(
        model="claude-sonnet-4-5", max_tokens=200,
        messages=[{"role": "user", "content": "Go [[emulator:reply=streamed words here]]"}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == "streamed words here"
    assert final.usage.output_tokens > 0 and final.stop_reason == "end_turn"


def test_anthropic_user_id_is_attributed(gw: RunningGateway) -> None:
    raw = gw.anthropic().messages.with_raw_response.create(
        model="claude-haiku-4-5", max_tokens=50, metadata={"user_id": "u-77"},
        messages=[{"role": "user", "content": "who am i"}])
    row = gw.ledger_row(raw.headers["x-tokenthrift-request-id"])
    assert row.user == "u-77" and row.wire_format == "anthropic"


def test_openai_client_served_by_claude_with_tools(gw: RunningGateway) -> None:
    client = gw.openai()
    first = client.chat.completions.create(
        model="claude-sonnet-4-5", tools=[WEATHER_TOOL],
        messages=[{"role": "system", "content": "Use tools."},
                  {"role": "user", "content": "Weather in Paris?"}])
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)

    second = client.chat.completions.create(
        model="claude-sonnet-4-5", tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "Weather in Paris?"},
                  first.choices[0].message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": call.id, "content": '{"temp_c": 18}'}])
    assert second.choices[0].finish_reason == "stop"
    assert second.choices[0].message.content


def test_openai_client_streams_from_claude(gw: RunningGateway) -> None:
    chunks = list(gw.openai().chat.completions.create(
        model="claude-haiku-4-5", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "x [[emulator:reply=translated stream]]"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
        "translated stream"
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0


def test_openai_client_streams_tool_call_from_claude(gw: RunningGateway) -> None:
    chunks = list(gw.openai().chat.completions.create(
        model="claude-sonnet-4-5", stream=True, tools=[WEATHER_TOOL],
        messages=[{"role": "user", "content": "Weather in Oslo?"}]))
    pieces = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert pieces[0].function.name == "get_weather" and pieces[0].id
    arguments = "".join(p.function.arguments or "" for p in pieces)
    assert "city" in json.loads(arguments)
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "tool_calls"


def test_anthropic_client_served_by_gpt_with_tools_streaming(gw: RunningGateway) -> None:
    client = gw.anthropic()
    with client.messages.stream(
        model="gpt-4o", max_tokens=300, tools=[ANTHROPIC_WEATHER_TOOL],
        messages=[{"role": "user", "content": "Weather in Rome?"}],
    ) as stream:
        final = stream.get_final_message()
    tool_use = next(b for b in final.content if b.type == "tool_use")
    assert final.stop_reason == "tool_use"
    assert tool_use.name == "get_weather" and "city" in tool_use.input

    answer = client.messages.create(
        model="gpt-4o", max_tokens=300, tools=[ANTHROPIC_WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "Weather in Rome?"},
            {"role": "assistant", "content": [b.model_dump() for b in final.content]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id,
                                          "content": "22C and sunny"}]},
        ])
    assert answer.stop_reason == "end_turn" and answer.content[0].type == "text"
    assert answer.usage.input_tokens > 0


def test_anthropic_client_non_stream_from_gpt(gw: RunningGateway) -> None:
    raw = gw.anthropic().messages.with_raw_response.create(
        model="gpt-4o-mini", max_tokens=100,
        messages=[{"role": "user", "content": "q [[emulator:reply=from gpt]]"}])
    message = raw.parse()
    assert message.content[0].text == "from gpt"
    assert raw.headers["x-tokenthrift-served-model"] == "gpt-4o-mini"


def test_n_choices_and_response_format_pass_through(gw: RunningGateway) -> None:
    completion = gw.openai().chat.completions.create(
        model="gpt-4o-mini", n=2, response_format={"type": "json_object"},
        messages=[{"role": "user", "content": "two answers in json"}])
    assert [c.index for c in completion.choices] == [0, 1]


def test_models_and_embeddings_and_health(gw: RunningGateway) -> None:
    client = gw.openai()
    ids = [m.id for m in client.models.list()]
    assert "gpt-4o" in ids
    embedding = client.embeddings.create(model="text-embedding-3-small", input=["a", "b"])
    assert len(embedding.data) == 2 and len(embedding.data[0].embedding) == 1536
    import urllib.request

    with urllib.request.urlopen(gw.url + "/health") as response:
        assert json.loads(response.read())["status"] == "ok"


def test_prompt_caching_usage_is_priced_at_cached_rate(tmp_path: Path) -> None:
    with running_gateway(config_for(tmp_path)) as gw:
        client = gw.openai()
        long_system = "Policy clause: refunds are processed within 14 days. " * 200
        messages = [{"role": "system", "content": long_system},
                    {"role": "user", "content": "What is the refund window?"}]
        # Two upstream calls (the response cache would answer the second one itself).
        no_cache = {"x-tokenthrift-cache": "off"}
        first = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=messages, extra_headers=no_cache)
        second = client.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=messages, extra_headers=no_cache)
        cached = second.parse().usage.prompt_tokens_details.cached_tokens
        assert cached and cached >= 1024
        row = gw.ledger_row(second.headers["x-tokenthrift-request-id"])
        assert row.cache_read_tokens == cached
        # gpt-4o: $2.50/MTok input, $1.25/MTok cached input, $10/MTok output.
        expected = (row.input_tokens * 2.5 + row.cache_read_tokens * 1.25
                    + row.output_tokens * 10.0) / 1e6
        assert float(row.cost_usd) == pytest.approx(expected, rel=1e-9)
        assert float(first.headers["x-tokenthrift-cost-usd"]) > row.cost_usd


async def test_stream_abandoned_before_first_byte_still_gets_a_row(tmp_path: Path) -> None:
    from tokenthrift.assembly import build_gateway
    from tokenthrift.wire import openai_chat

    gateway = build_gateway(config_for(tmp_path))
    try:
        request = openai_chat.parse_request({
            "model": "gpt-4o-mini", "stream": True,
            "messages": [{"role": "user", "content": "never read"}]})
        stream = await gateway.stream(request)
        await stream.abandon()
        assert [e async for e in stream.events()] == []  # settled once, not replayed
        gateway.writer.flush()
        row = gateway.ledger.get(stream.exchange.request_id)
        assert row is not None and row.status == 499 and row.usage_estimated
        assert row.input_tokens > 0
    finally:
        await gateway.aclose()


def test_anthropic_count_tokens_matches_the_billed_prompt(gw: RunningGateway) -> None:
    client = gw.anthropic()
    messages = [{"role": "user", "content": "How many tokens is this question exactly?"}]
    counted = client.messages.count_tokens(model="claude-haiku-4-5", messages=messages,
                                           system="Be brief.")
    message = client.messages.create(model="claude-haiku-4-5", max_tokens=20,
                                     messages=messages, system="Be brief.",
                                     extra_headers={"x-tokenthrift-cache": "off"})
    assert counted.input_tokens == message.usage.input_tokens > 0
    assert client.messages.count_tokens(model="gpt-4o", messages=messages).input_tokens > 0
