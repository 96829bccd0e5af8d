"""The emulator over real HTTP, driven by the official ``openai`` and ``anthropic`` SDKs.

Token numbers are pinned by hand from the providers' documented rules: a message costs
3 framing tokens + its role + its content, the reply is primed with 3 more; texts are
built from words that are one token each, so "hello" + 1492 x " world" is 1493 tokens.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tokenthrift.emulator import Emulator, EmulatorConfig, Fault, create_app
from tokenthrift.server.runner import ServerThread
from tokenthrift.tokens import count_text

try:  # the HTTP client the installed SDKs are built on
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older SDK releases
    import httpx  # type: ignore[no-redef]

OPENAI_KEY = "sk-org-one"
ANTHROPIC_KEY = "sk-ant-org-one"
CLAUDE = "claude-opus-4-1"  # minimum cacheable prefix: 1024 tokens
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "location": {"type": "string", "description": "City and country"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
    },
    "required": ["location", "unit"],
}


class FakeClock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def words(n_tokens: int) -> str:
    """A text of exactly ``n_tokens`` tokens in both cl100k_base and o200k_base."""
    return "hello" + " world" * (n_tokens - 1)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ServerThread, Emulator, FakeClock]]:
    clock = FakeClock()
    emulator = Emulator(EmulatorConfig(), clock=clock)
    with ServerThread(create_app(emulator)) as server:
        yield server, emulator, clock


@pytest.fixture
def emulator(served: tuple[ServerThread, Emulator, FakeClock]) -> Emulator:
    served[1].reset()
    return served[1]


@pytest.fixture
def clock(served: tuple[ServerThread, Emulator, FakeClock]) -> FakeClock:
    return served[2]


@pytest.fixture
def url(served: tuple[ServerThread, Emulator, FakeClock], emulator: Emulator) -> str:
    return served[0].url


# The SDKs type request parameters as TypedDicts; these tests send hand-written wire
# payloads, so the clients are used untyped.
@pytest.fixture
def oai(url: str) -> Any:
    return openai.OpenAI(base_url=url + "/v1", api_key=OPENAI_KEY, max_retries=0)


@pytest.fixture
def claude(url: str) -> Any:
    return anthropic.Anthropic(base_url=url, api_key=ANTHROPIC_KEY, max_retries=0)


# -- OpenAI -----------------------------------------------------------------------


def test_openai_chat_usage_counts_the_prompt_and_the_generated_text(oai: Any) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "hello"}, {"role": "user", "content": "hi"}],
    )
    choice = completion.choices[0]
    assert completion.object == "chat.completion"
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == (3 + 1 + 1) + (3 + 1 + 1) + 3
    assert completion.usage.completion_tokens == count_text(choice.message.content or "", "gpt-4o")
    assert completion.usage.total_tokens == 13 + completion.usage.completion_tokens
    assert 20 <= completion.usage.completion_tokens <= 120


def test_openai_replies_are_deterministic_and_streams_match(oai: Any) -> None:
    messages = [{"role": "user", "content": "Tell me about caching."}]
    first = oai.chat.completions.create(model="gpt-4.1-mini", messages=messages)
    second = oai.chat.completions.create(model="gpt-4.1-mini", messages=messages)
    stream = oai.chat.completions.create(
        model="gpt-4.1-mini",
        messages=messages,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert first.choices[0].message.content == second.choices[0].message.content == streamed
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.model_dump() == first.usage.model_dump()
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_openai_stream_without_include_usage_has_no_usage_chunk(oai: Any) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    )
    assert all(c.usage is None and c.choices for c in chunks)


def test_openai_max_tokens_truncates_with_finish_reason_length(oai: Any) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], max_tokens=5
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 5


def test_openai_prompt_caching_counts_128_token_increments(oai: Any) -> None:
    messages = [{"role": "user", "content": words(1493)}]  # 3 + 1 + 1493 + 3 = 1500 tokens
    first = oai.chat.completions.create(model="gpt-4o", messages=messages)
    second = oai.chat.completions.create(model="gpt-4o", messages=messages)
    assert first.usage.prompt_tokens == second.usage.prompt_tokens == 1500
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    # 1024 + 3 x 128 = 1408 <= 1500 < 1536; prompt_tokens still includes the cached part.
    assert second.usage.prompt_tokens_details.cached_tokens == 1408


def test_openai_prompts_under_1024_tokens_never_cache(oai: Any) -> None:
    messages = [{"role": "user", "content": words(893)}]  # 900 tokens
    for _ in range(3):
        usage = oai.chat.completions.create(model="gpt-4o", messages=messages).usage
        assert usage.prompt_tokens == 900
        assert usage.prompt_tokens_details.cached_tokens == 0
    longer = [{"role": "user", "content": words(1093)}]  # 1100 tokens: cached when repeated
    for _ in range(2):
        usage = oai.chat.completions.create(model="gpt-4o", messages=longer).usage
    assert usage.prompt_tokens_details.cached_tokens == 1024


def test_openai_cache_hits_the_shared_prefix_only(oai: Any) -> None:
    shared = words(1300)
    oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": shared + " first question"}]
    )
    usage = oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": shared + " other ask"}]
    ).usage
    # The prompts share 3 + 1 + 1300 = 1304 tokens: the cached prefix is 1280.
    assert usage.prompt_tokens_details.cached_tokens == 1280


def test_openai_cache_is_per_organisation_and_expires(url: str, oai: Any, clock: FakeClock) -> None:
    messages = [{"role": "user", "content": words(1493)}]
    oai.chat.completions.create(model="gpt-4o", messages=messages)
    other_org: Any = openai.OpenAI(base_url=url + "/v1", api_key="sk-org-two", max_retries=0)
    usage = other_org.chat.completions.create(model="gpt-4o", messages=messages).usage
    assert usage.prompt_tokens_details.cached_tokens == 0
    clock.advance(299)  # a hit refreshes the entry...
    usage = oai.chat.completions.create(model="gpt-4o", messages=messages).usage
    assert usage.prompt_tokens_details.cached_tokens == 1408
    clock.advance(299)
    usage = oai.chat.completions.create(model="gpt-4o", messages=messages).usage
    assert usage.prompt_tokens_details.cached_tokens == 1408
    clock.advance(301)  # ...and 5 minutes of inactivity evicts it
    usage = oai.chat.completions.create(model="gpt-4o", messages=messages).usage
    assert usage.prompt_tokens_details.cached_tokens == 0


@pytest.mark.parametrize(
    ("model", "effort", "reasoning"),
    [("o3-mini", "low", 64), ("o4-mini", None, 192), ("o4-mini", "high", 512)],
)
def test_openai_reasoning_tokens_are_part_of_completion_tokens(
    oai: Any, model: str, effort: str | None, reasoning: int
) -> None:
    extra = {"reasoning_effort": effort} if effort else {}
    completion = oai.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "think"}], **extra
    )
    usage = completion.usage
    text = completion.choices[0].message.content or ""
    assert usage.completion_tokens_details.reasoning_tokens == reasoning
    assert usage.completion_tokens == reasoning + count_text(text, model)


def test_openai_reasoning_models_reject_max_tokens(oai: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        oai.chat.completions.create(
            model="o3-mini", messages=[{"role": "user", "content": "hi"}], max_tokens=10
        )
    assert caught.value.code == "unsupported_parameter"


def test_openai_reply_marker_forces_the_text(oai: Any) -> None:
    text = "Forty-two, exactly. 🚀"
    completion = oai.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": f"What is it? [[emulator:reply={text}]]"}],
    )
    assert completion.choices[0].message.content == text
    assert completion.usage.completion_tokens == count_text(text, "gpt-4o")


def test_openai_stop_sequences_cut_the_reply(oai: Any) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4o",
        messages=[{"role": "user", "content": "[[emulator:reply=one two. three four]]"}],
        stop=["."],
    )
    assert completion.choices[0].message.content == "one two"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.completion_tokens == count_text("one two", "gpt-4o")


def test_openai_n_choices_differ_and_are_all_billed(oai: Any) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "Two ideas?"}], n=2
    )
    texts = [c.message.content or "" for c in completion.choices]
    assert [c.index for c in completion.choices] == [0, 1]
    assert texts[0] != texts[1]
    assert completion.usage.completion_tokens == sum(count_text(t, "gpt-4o") for t in texts)


def test_openai_tool_call_then_text_after_the_tool_result(oai: Any) -> None:
    tools = [
        {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER_SCHEMA}}
    ]
    messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Paris?"}]
    completion = oai.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    arguments = json.loads(call.function.arguments)
    assert call.function.name == "get_weather"
    assert set(arguments) == {"location", "unit"}
    assert arguments["unit"] in ("celsius", "fahrenheit")
    assert completion.usage.completion_tokens == count_text("get_weather", "gpt-4o") + count_text(
        call.function.arguments, "gpt-4o"
    )

    streamed = list(
        oai.chat.completions.create(model="gpt-4o", messages=messages, tools=tools, stream=True)
    )
    deltas = [c.choices[0].delta.tool_calls for c in streamed if c.choices[0].delta.tool_calls]
    assert "".join(d[0].function.arguments or "" for d in deltas) == call.function.arguments
    assert streamed[-1].choices[0].finish_reason == "tool_calls"

    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 21}'},
    ]
    answer = oai.chat.completions.create(model="gpt-4o", messages=messages, tools=tools)
    assert answer.choices[0].finish_reason == "stop"
    assert answer.choices[0].message.content


def test_openai_unknown_model_is_404_model_not_found(oai: Any) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        oai.chat.completions.create(model="gpt-nope", messages=[{"role": "user", "content": "x"}])
    assert caught.value.code == "model_not_found"
    assert caught.value.body == {
        "message": "The model `gpt-nope` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }


def test_openai_scripted_429_carries_retry_after(url: str, oai: Any) -> None:
    added = httpx.post(
        url + "/emulator/faults",
        json={"kind": "status", "status": 429, "model": "gpt-4o", "retry_after": 7},
    )
    assert added.status_code == 201
    with pytest.raises(openai.RateLimitError) as caught:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.code == "rate_limit_exceeded"
    # The fault was used up: the next request succeeds.
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])


def test_openai_disconnect_mid_stream_makes_the_sdk_raise(emulator: Emulator, oai: Any) -> None:
    emulator.add_fault(Fault("disconnect", after_chunks=3))
    stream = oai.chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in stream:
            received.append(chunk)
    assert len(received) == 3
    # The server survives the cut.
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])


def test_openai_embeddings_are_deterministic_unit_vectors(oai: Any) -> None:
    texts = ["The cat sat on the mat", "the cat sat on a mat", "Quarterly revenue grew"]
    first = oai.embeddings.create(model="text-embedding-3-small", input=texts)  # SDK: base64
    again = oai.embeddings.create(
        model="text-embedding-3-small", input=texts, encoding_format="float"
    )
    vectors = [d.embedding for d in first.data]
    assert [len(v) for v in vectors] == [1536] * 3
    assert all(math.isclose(math.hypot(*v), 1.0, rel_tol=1e-5) for v in vectors)
    for a, b in zip(vectors, (d.embedding for d in again.data), strict=True):
        assert a == pytest.approx(b, abs=1e-6)  # base64 carries float32
    assert first.usage.prompt_tokens == sum(count_text(t, "text-embedding-3-small") for t in texts)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > 0.5 > cosine(vectors[0], vectors[2])
    large = oai.embeddings.create(model="text-embedding-3-large", input="x").data[0].embedding
    small = (
        oai.embeddings.create(model="text-embedding-3-small", input="x", dimensions=256)
        .data[0]
        .embedding
    )
    assert (len(large), len(small)) == (3072, 256)


def test_openai_models_list(oai: Any) -> None:
    ids = {m.id for m in oai.models.list()}
    assert {"gpt-4o-mini", "o3-mini", "text-embedding-3-small", "claude-opus-4-1"} <= ids


# -- Anthropic --------------------------------------------------------------------


def test_anthropic_message_usage_and_stream(claude: Any) -> None:
    kwargs = {
        "model": CLAUDE,
        "max_tokens": 1024,
        "system": "hello",
        "messages": [{"role": "user", "content": "hi"}],
    }
    message = claude.messages.create(**kwargs)
    text = message.content[0].text
    assert message.type == "message" and message.stop_reason == "end_turn"
    assert message.usage.input_tokens == (3 + 1 + 1) + (3 + 1 + 1) + 3
    assert message.usage.cache_read_input_tokens == 0
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.output_tokens == count_text(text, CLAUDE)

    with claude.messages.stream(**kwargs) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert final.content[0].text == text
    assert final.usage.model_dump() == message.usage.model_dump()
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert "content_block_start" in events and "message_delta" in events


def test_anthropic_counts_tokens_like_messages(claude: Any) -> None:
    messages = [{"role": "user", "content": words(50)}]
    counted = claude.messages.count_tokens(model=CLAUDE, messages=messages, system="hello")
    assert counted.input_tokens == (3 + 1 + 1) + (3 + 1 + 50) + 3


def cached_system(n_tokens: int, ttl: str | None = None) -> list[dict[str, object]]:
    control: dict[str, str] = {"type": "ephemeral"}
    if ttl:
        control["ttl"] = ttl
    return [{"type": "text", "text": words(n_tokens), "cache_control": control}]


def test_anthropic_cache_write_then_read(claude: Any) -> None:
    request = {
        "model": CLAUDE,
        "max_tokens": 64,
        "system": cached_system(1500),
        "messages": [{"role": "user", "content": "hi"}],
    }
    first = claude.messages.create(**request).usage
    second = claude.messages.create(**request).usage
    # Prompt = system (3 + 1 + 1500) + user (3 + 1 + 1) + 3 = 1512; the prefix up to
    # the breakpoint is the system message, 1504 tokens; input_tokens excludes both.
    assert (first.cache_creation_input_tokens, first.cache_read_input_tokens) == (1504, 0)
    assert first.input_tokens == 8
    assert first.cache_creation.ephemeral_5m_input_tokens == 1504
    assert (second.cache_creation_input_tokens, second.cache_read_input_tokens) == (0, 1504)
    assert second.input_tokens == 8


def test_anthropic_cache_entries_expire_after_their_ttl(claude: Any, clock: FakeClock) -> None:
    def usage(ttl: str | None) -> anthropic.types.Usage:
        return claude.messages.create(
            model=CLAUDE,
            max_tokens=64,
            system=cached_system(1500, ttl),
            messages=[{"role": "user", "content": "hi"}],
        ).usage

    assert usage(None).cache_creation_input_tokens == 1504
    clock.advance(301)
    expired = usage(None)
    assert (expired.cache_read_input_tokens, expired.cache_creation_input_tokens) == (0, 1504)

    one_hour = usage("1h")  # a different TTL is the same prefix: refreshed for an hour
    assert one_hour.cache_read_input_tokens == 1504
    fresh = claude.messages.create(
        model=CLAUDE,
        max_tokens=64,
        system=cached_system(1600, "1h"),
        messages=[{"role": "user", "content": "hi"}],
    ).usage
    assert fresh.cache_creation.ephemeral_1h_input_tokens == 1604
    assert fresh.cache_creation.ephemeral_5m_input_tokens == 0
    clock.advance(1800)
    assert usage("1h").cache_read_input_tokens == 1504


def test_anthropic_reads_an_earlier_breakpoint_in_a_growing_conversation(
    claude: Any,
) -> None:
    document = {"type": "text", "text": words(1200)}
    claude.messages.create(
        model=CLAUDE,
        max_tokens=64,
        messages=[
            {"role": "user", "content": [{**document, "cache_control": {"type": "ephemeral"}}]}
        ],
    )
    usage = claude.messages.create(
        model=CLAUDE,
        max_tokens=64,
        messages=[
            {"role": "user", "content": [document]},
            {"role": "assistant", "content": "ok"},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "more", "cache_control": {"type": "ephemeral"}}
                ],
            },
        ],
    ).usage
    # Read: the first message (3 + 1 + 1200); write: the two new messages (5 + 5).
    assert (usage.cache_read_input_tokens, usage.cache_creation_input_tokens) == (1204, 10)
    assert usage.input_tokens == 3


def test_anthropic_prefixes_below_the_model_minimum_are_not_cached(
    claude: Any,
) -> None:
    for _ in range(2):
        usage = claude.messages.create(
            model="claude-haiku-4-5",  # minimum 4096 tokens
            max_tokens=64,
            system=cached_system(1500),
            messages=[{"role": "user", "content": "hi"}],
        ).usage
        assert (usage.cache_creation_input_tokens, usage.cache_read_input_tokens) == (0, 0)
        assert usage.input_tokens == 1512
    # The same prompt is long enough for a model whose minimum is 1024 tokens.
    usage = claude.messages.create(
        model=CLAUDE, max_tokens=64, system=cached_system(1500),
        messages=[{"role": "user", "content": "hi"}],
    ).usage
    assert usage.cache_creation_input_tokens == 1504


def test_anthropic_more_than_four_breakpoints_is_400(claude: Any) -> None:
    block = {"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model=CLAUDE,
            max_tokens=64,
            system=[block, block],
            messages=[{"role": "user", "content": [block, block, block]}],
        )
    assert caught.value.body == {
        "type": "error",
        "error": {
            "type": "invalid_request_error",
            "message": "A maximum of 4 blocks with cache_control may be provided. Found 5.",
        },
    }


def test_anthropic_extended_thinking_is_billed_as_output(claude: Any) -> None:
    message = claude.messages.create(
        model=CLAUDE,
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": "Think first."}],
    )
    thinking, text = message.content
    assert thinking.type == "thinking" and thinking.signature
    assert text.type == "text"
    assert message.usage.output_tokens == count_text(thinking.thinking, CLAUDE) + count_text(
        text.text, CLAUDE
    )


def test_anthropic_tool_use_then_text(claude: Any) -> None:
    tools = [{"name": "get_weather", "description": "Weather", "input_schema": WEATHER_SCHEMA}]
    messages: list[dict[str, object]] = [{"role": "user", "content": "Weather in Paris?"}]
    message = claude.messages.create(model=CLAUDE, max_tokens=256, tools=tools, messages=messages)
    assert message.stop_reason == "tool_use"
    tool_use = message.content[-1]
    assert tool_use.type == "tool_use" and tool_use.name == "get_weather"
    assert set(tool_use.input) == {"location", "unit"}

    with claude.messages.stream(model=CLAUDE, max_tokens=256, tools=tools, messages=messages) as s:
        streamed = s.get_final_message()
    assert streamed.content[-1].input == tool_use.input

    messages += [
        {"role": "assistant", "content": [tool_use.model_dump()]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "21C"}],
        },
    ]
    answer = claude.messages.create(model=CLAUDE, max_tokens=256, tools=tools, messages=messages)
    assert answer.stop_reason == "end_turn" and answer.content[0].type == "text"


def test_anthropic_unknown_model_is_404(claude: Any) -> None:
    with pytest.raises(anthropic.NotFoundError) as caught:
        claude.messages.create(
            model="claude-nope", max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "not_found_error", "message": "model: claude-nope"},
    }


def test_anthropic_overloaded_fault_is_529_with_retry_after(
    emulator: Emulator, claude: Any
) -> None:
    emulator.add_fault(Fault("status", status=529, model=CLAUDE))
    with pytest.raises(anthropic.InternalServerError) as caught:
        claude.messages.create(
            model=CLAUDE, max_tokens=8, messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 529
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


def test_anthropic_disconnect_mid_stream_makes_the_sdk_raise(
    emulator: Emulator, claude: Any
) -> None:
    emulator.add_fault(Fault("disconnect", model=CLAUDE, after_chunks=4))
    seen = []
    with (
        pytest.raises(httpx.RemoteProtocolError),  # the SDK does not wrap it
        claude.messages.stream(
            model=CLAUDE, max_tokens=64, messages=[{"role": "user", "content": "hi"}]
        ) as stream,
    ):
        for event in stream:
            seen.append(event.type)
    assert "message_stop" not in seen


def test_anthropic_models_list(claude: Any) -> None:
    models = list(claude.models.list())
    assert {"claude-opus-4-1", "claude-haiku-4-5"} <= {m.id for m in models}
    assert all(m.type == "model" for m in models)


# -- raw HTTP: authentication, malformed requests, admin ------------------------------


def test_missing_api_key_is_401_in_each_protocol(url: str) -> None:
    chat = httpx.post(url + "/v1/chat/completions", json={"model": "gpt-4o", "messages": []})
    assert chat.status_code == 401
    assert chat.json()["error"]["type"] == "invalid_request_error"
    messages = httpx.post(
        url + "/v1/messages",
        headers={"anthropic-version": "2023-06-01"},
        json={"model": CLAUDE, "max_tokens": 1, "messages": []},
    )
    assert messages.status_code == 401
    assert messages.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "x-api-key header is required"},
    }


def test_malformed_json_and_missing_fields_are_400(url: str) -> None:
    openai_headers = {"authorization": "Bearer k", "content-type": "application/json"}
    anthropic_headers = {"x-api-key": "k", "anthropic-version": "2023-06-01"}
    bad = httpx.post(url + "/v1/chat/completions", headers=openai_headers, content=b"{nope")
    assert bad.status_code == 400
    assert set(bad.json()["error"]) == {"message", "type", "param", "code"}
    missing = httpx.post(
        url + "/v1/chat/completions", headers=openai_headers, json={"model": "gpt-4o"}
    )
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "missing_required_parameter"
    bad = httpx.post(url + "/v1/messages", headers=anthropic_headers, content=b"{nope")
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "invalid_request_error"
    no_max = httpx.post(
        url + "/v1/messages",
        headers=anthropic_headers,
        json={"model": CLAUDE, "messages": [{"role": "user", "content": "x"}]},
    )
    assert no_max.status_code == 400
    assert no_max.json() == {
        "type": "error",
        "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
    }


def test_every_response_has_request_id_and_rate_limit_headers(url: str) -> None:
    ok = httpx.post(
        url + "/v1/chat/completions",
        headers={"authorization": "Bearer k"},
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
    )
    assert ok.headers["x-request-id"].startswith("req_")
    assert ok.headers["x-ratelimit-limit-requests"] == "10000"
    assert int(ok.headers["x-ratelimit-remaining-tokens"]) < 30_000_000
    error = httpx.post(
        url + "/v1/messages",
        headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        json={
            "model": "claude-nope",
            "max_tokens": 1,
            "messages": [{"role": "user", "content": "x"}],
        },
    )
    assert error.status_code == 404
    assert error.headers["request-id"].startswith("req_")
    assert "anthropic-ratelimit-requests-remaining" in error.headers


def test_admin_endpoints_manage_faults_and_report_stats(url: str) -> None:
    assert httpx.post(url + "/emulator/faults", json={"kind": "explode"}).status_code == 400
    httpx.post(url + "/emulator/faults", json=[{"kind": "status", "status": 503, "count": 2}])
    assert httpx.get(url + "/emulator/faults").json()["faults"][0]["count"] == 2
    assert httpx.delete(url + "/emulator/faults").json() == {"faults": []}
    httpx.post(
        url + "/v1/chat/completions",
        headers={"authorization": "Bearer k"},
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]},
    )
    stats = httpx.get(url + "/emulator/stats").json()
    assert stats["requests"] == 1
    assert stats["by_path"] == {"/v1/chat/completions": 1}
    assert stats["by_model"] == {"gpt-4o": 1}
    assert stats["by_status"] == {"200": 1}
