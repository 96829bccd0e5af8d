"""The emulator in-process, through ``Emulator.handle`` (how the gateway uses it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from tokenthrift.cli.emulator_cmd import emulator as emulator_command
from tokenthrift.emulator import Emulator, EmulatorConfig, Fault
from tokenthrift.errors import StreamInterrupted
from tokenthrift.providers.transport import UpstreamReply

OPENAI = {"Authorization": "Bearer sk-core"}
ANTHROPIC = {"X-Api-Key": "sk-core", "Anthropic-Version": "2023-06-01"}


class FakeClock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def chat(model: str = "gpt-4o-mini", **extra: Any) -> bytes:
    return orjson.dumps(
        {"model": model, "messages": [{"role": "user", "content": "hello"}], **extra}
    )


def message(model: str = "claude-opus-4-1", **extra: Any) -> bytes:
    body = {"model": model, "max_tokens": 256, "messages": [{"role": "user", "content": "hi"}]}
    return orjson.dumps({**body, **extra})


async def call(
    emulator: Emulator, path: str, body: bytes | None, headers: dict[str, str] | None = None
) -> UpstreamReply:
    if headers is None:
        headers = ANTHROPIC if path.startswith("/v1/messages") else OPENAI
    return await emulator.handle("POST" if body is not None else "GET", path, headers, body)


async def body_of(reply: UpstreamReply) -> Any:
    return orjson.loads(await reply.read())


async def collect(reply: UpstreamReply) -> tuple[list[bytes], Exception | None]:
    """SSE events received before the stream ended, and the exception that ended it."""
    raw = b""
    error: Exception | None = None
    try:
        async for chunk in reply.iter_bytes():
            raw += chunk
    except StreamInterrupted as exc:
        error = exc
    return [e for e in raw.split(b"\n\n") if e], error


# -- faults ---------------------------------------------------------------------------


def test_disconnect_fault_cuts_an_in_process_stream_after_n_events() -> None:
    emulator = Emulator()
    emulator.add_fault(Fault("disconnect", after_chunks=2))

    async def scenario() -> tuple[list[bytes], Exception | None]:
        reply = await call(emulator, "/v1/chat/completions", chat(stream=True))
        assert reply.status == 200
        return await collect(reply)

    events, error = run(scenario())
    assert isinstance(error, StreamInterrupted)
    assert len(events) == 2
    assert b"[DONE]" not in b"".join(events)


def test_disconnect_fault_on_a_non_stream_request_fails_reading_the_body() -> None:
    emulator = Emulator()
    emulator.add_fault(Fault("disconnect", model="claude-opus-4-1"))

    async def scenario() -> None:
        reply = await call(emulator, "/v1/messages", message())
        with pytest.raises(StreamInterrupted):
            await reply.read()

    run(scenario())


def test_timeout_fault_stalls_until_cancelled() -> None:
    emulator = Emulator()
    emulator.add_fault(Fault("timeout"))

    async def scenario() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(call(emulator, "/v1/chat/completions", chat()), 0.05)
        reply = await call(emulator, "/v1/chat/completions", chat())  # fault used up
        assert reply.status == 200

    run(scenario())


@pytest.mark.parametrize(
    ("path", "body", "status", "marker"),
    [
        ("/v1/chat/completions", chat(stream=True), 503, b'data: {"error":'),
        ("/v1/messages", message(stream=True), 529, b"event: error\ndata:"),
    ],
)
def test_status_fault_after_chunks_sends_an_error_event_mid_stream(
    path: str, body: bytes, status: int, marker: bytes
) -> None:
    emulator = Emulator()
    emulator.add_fault(Fault("status", status=status, after_chunks=3))

    async def scenario() -> list[bytes]:
        reply = await call(emulator, path, body)
        assert reply.status == 200
        events, error = await collect(reply)
        assert error is None
        return events

    events = run(scenario())
    assert len(events) == 4
    assert events[-1].startswith(marker)


def test_faults_are_fifo_and_match_by_model() -> None:
    emulator = Emulator()
    emulator.add_fault(Fault("status", status=500, model="gpt-4o", count=2))
    emulator.add_fault(Fault("status", status=502))

    async def statuses() -> list[int]:
        return [
            (await call(emulator, "/v1/chat/completions", chat(model))).status
            for model in ("gpt-4o-mini", "gpt-4o", "gpt-4o", "gpt-4o", "gpt-4o-mini")
        ]

    assert run(statuses()) == [502, 500, 500, 200, 200]
    assert emulator.faults == []


def test_error_rate_replays_with_the_same_seed() -> None:
    def statuses() -> list[int]:
        emulator = Emulator(EmulatorConfig(error_rate=0.5, seed=7))

        async def go() -> list[int]:
            return [
                (await call(emulator, "/v1/chat/completions", chat())).status for _ in range(40)
            ]

        return run(go())

    first = statuses()
    assert first == statuses()
    assert set(first) == {200, 500, 503}


def test_anthropic_overloaded_errors_come_from_the_error_rate() -> None:
    emulator = Emulator(EmulatorConfig(error_rate=1.0, seed=1))

    async def go() -> set[int]:
        return {(await call(emulator, "/v1/messages", message())).status for _ in range(20)}

    assert run(go()) == {500, 529}


# -- rate limits ---------------------------------------------------------------------


def test_requests_per_minute_are_enforced_per_organisation() -> None:
    clock = FakeClock()
    emulator = Emulator(EmulatorConfig(rpm=2), clock=clock)

    async def status(key: str = "sk-core") -> UpstreamReply:
        return await call(
            emulator, "/v1/chat/completions", chat(), {"authorization": f"Bearer {key}"}
        )

    async def scenario() -> None:
        assert (await status()).status == 200
        assert (await status()).status == 200
        limited = await status()
        assert limited.status == 429
        assert limited.headers["retry-after"] == "30"  # one request refills in 60 s / 2
        assert (await body_of(limited))["error"]["code"] == "rate_limit_exceeded"
        assert (await status("sk-other-org")).status == 200
        clock.now += 30
        ok = await status()
        assert ok.status == 200
        assert ok.headers["x-ratelimit-remaining-requests"] == "0"

    run(scenario())


def test_tokens_per_minute_are_enforced() -> None:
    clock = FakeClock()
    emulator = Emulator(EmulatorConfig(tpm=50), clock=clock)

    async def scenario() -> None:
        first = await call(emulator, "/v1/messages", message())
        assert first.status == 200
        assert first.headers["anthropic-ratelimit-tokens-remaining"] == "0"
        limited = await call(emulator, "/v1/messages", message())
        assert limited.status == 429
        assert (await body_of(limited))["error"]["type"] == "rate_limit_error"
        assert float(limited.headers["retry-after"]) > 0

    run(scenario())


# -- latency ---------------------------------------------------------------------------


def test_latency_is_ttft_plus_tokens_at_the_configured_speed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    emulator = Emulator(EmulatorConfig(ttft_ms=200, tokens_per_s=50))

    async def scenario() -> tuple[int, int]:
        reply = await call(emulator, "/v1/chat/completions", chat())
        tokens = (await body_of(reply))["usage"]["completion_tokens"]
        stream = await call(emulator, "/v1/chat/completions", chat(stream=True))
        events, _ = await collect(stream)
        return tokens, len(events)

    tokens, n_events = run(scenario())
    assert slept[0] == pytest.approx(0.2 + tokens / 50)
    assert slept[1] == pytest.approx(0.2)  # stream: time to first token...
    assert slept[2:] == [pytest.approx(0.02)] * (n_events - 1)  # ...then one event per token


# -- protocol details ---------------------------------------------------------------


def test_anthropic_requires_the_version_header() -> None:
    reply = run(call(Emulator(), "/v1/messages", message(), {"x-api-key": "k"}))
    assert reply.status == 400
    assert run(body_of(reply))["error"]["message"] == "anthropic-version: header is required"


def test_anthropic_one_hour_breakpoints_must_come_first() -> None:
    five = {"type": "ephemeral"}
    hour = {"type": "ephemeral", "ttl": "1h"}
    body = message(
        system=[{"type": "text", "text": "a", "cache_control": five}],
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "b", "cache_control": hour}]}
        ],
    )
    reply = run(call(Emulator(), "/v1/messages", body))
    assert reply.status == 400
    assert "must not come after a ttl='5m'" in run(body_of(reply))["error"]["message"]


def test_anthropic_tools_are_cached_before_the_system_prompt() -> None:
    emulator = Emulator()
    tools = [
        {"name": "lookup", "description": "word " * 1100, "input_schema": {"type": "object"}},
        {
            "name": "search",
            "description": "Search",
            "input_schema": {"type": "object"},
            "cache_control": {"type": "ephemeral"},
        },
    ]
    first = message(tools=tools, system="One system prompt.", tool_choice={"type": "none"})
    second = message(
        tools=tools, system="One system prompt, now longer.", tool_choice={"type": "none"}
    )

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        a = await body_of(await call(emulator, "/v1/messages", first))
        b = await body_of(await call(emulator, "/v1/messages", second))
        return a["usage"], b["usage"]

    written, read = run(scenario())
    assert written["cache_creation_input_tokens"] > 1100
    assert read["cache_read_input_tokens"] == written["cache_creation_input_tokens"]
    assert read["cache_creation_input_tokens"] == 0
    assert read["input_tokens"] > written["input_tokens"]  # the longer system prompt


def test_anthropic_count_tokens_needs_no_max_tokens() -> None:
    body = orjson.dumps(
        {"model": "claude-opus-4-1", "messages": [{"role": "user", "content": "hi"}]}
    )
    reply = run(call(Emulator(), "/v1/messages/count_tokens", body))
    assert run(body_of(reply)) == {"input_tokens": 3 + 1 + 1 + 3}


@pytest.mark.parametrize(
    ("tool_choice", "history", "expected"),
    [
        ("none", [], "stop"),
        ("auto", [], "tool_calls"),
        ("required", ["tool"], "tool_calls"),
        ("auto", ["tool"], "stop"),
        ({"type": "function", "function": {"name": "b"}}, [], "tool_calls"),
    ],
)
def test_openai_tool_choice(tool_choice: Any, history: list[str], expected: str) -> None:
    tools = [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
        for n in ("a", "b")
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "go"}]
    if history:
        messages += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "a", "arguments": "{}"}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ]
    body = orjson.dumps(
        {"model": "gpt-4o", "messages": messages, "tools": tools, "tool_choice": tool_choice}
    )
    choice = run(body_of(run(call(Emulator(), "/v1/chat/completions", body))))["choices"][0]
    assert choice["finish_reason"] == expected
    if isinstance(tool_choice, dict):
        assert choice["message"]["tool_calls"][0]["function"]["name"] == "b"


def test_openai_json_schema_response_format_returns_matching_json() -> None:
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["city", "population"],
    }
    body = chat(
        "gpt-4o",
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    )
    content = run(body_of(run(call(Emulator(), "/v1/chat/completions", body))))["choices"][0][
        "message"
    ]["content"]
    parsed = json.loads(content)
    assert set(parsed) == {"city", "population"}
    assert isinstance(parsed["population"], int)


def test_reasoning_budget_spent_on_reasoning_leaves_empty_content() -> None:
    body = chat("o3-mini", max_completion_tokens=50)
    data = run(body_of(run(call(Emulator(), "/v1/chat/completions", body))))
    assert data["choices"][0]["finish_reason"] == "length"
    assert data["choices"][0]["message"]["content"] == ""
    assert data["usage"]["completion_tokens"] == 50
    assert data["usage"]["completion_tokens_details"]["reasoning_tokens"] == 50


def test_model_catalogue_extra_models_and_accept_any_model() -> None:
    strict = Emulator()
    extra = Emulator(EmulatorConfig(extra_models=frozenset({"my-finetune"})))
    relaxed = Emulator(EmulatorConfig(accept_any_model=True))
    statuses = [
        run(call(e, "/v1/chat/completions", chat("my-finetune"))).status
        for e in (strict, extra, relaxed)
    ]
    assert statuses == [404, 200, 200]
    listed = run(body_of(run(call(extra, "/v1/models", None))))
    assert "my-finetune" in {m["id"] for m in listed["data"]}
    assert run(call(strict, "/v1/models/gpt-4o", None)).status == 200
    assert run(call(strict, "/v1/models/gpt-nope", None)).status == 404


def test_configured_api_keys_reject_others() -> None:
    emulator = Emulator(EmulatorConfig(api_keys=frozenset({"sk-good"})))
    good = run(call(emulator, "/v1/chat/completions", chat(), {"authorization": "Bearer sk-good"}))
    bad = run(call(emulator, "/v1/chat/completions", chat(), {"authorization": "Bearer sk-bad"}))
    assert (good.status, bad.status) == (200, 401)
    assert run(body_of(bad))["error"]["code"] == "invalid_api_key"


def test_unknown_paths_are_404_in_the_callers_protocol() -> None:
    emulator = Emulator()
    openai_reply = run(call(emulator, "/v1/completions/nope", b"{}"))
    anthropic_reply = run(call(emulator, "/v1/nope", b"{}", ANTHROPIC))
    assert (
        run(body_of(openai_reply))["error"]["message"] == "Invalid URL (POST /v1/completions/nope)"
    )
    assert run(body_of(anthropic_reply))["error"]["type"] == "not_found_error"


def test_embedding_dimensions_are_validated() -> None:
    emulator = Emulator()
    body = orjson.dumps({"model": "text-embedding-ada-002", "input": "x", "dimensions": 8})
    reply = run(call(emulator, "/v1/embeddings", body))
    assert reply.status == 400
    assert run(body_of(reply))["error"]["param"] == "dimensions"


def test_stats_count_requests_by_path_model_and_status() -> None:
    emulator = Emulator()
    run(call(emulator, "/v1/chat/completions", chat()))
    run(call(emulator, "/v1/chat/completions", chat("gpt-nope")))
    run(call(emulator, "/v1/messages", message()))
    stats = emulator.stats()
    assert stats["requests"] == 3
    assert stats["by_path"] == {"/v1/chat/completions": 2, "/v1/messages": 1}
    assert stats["by_status"] == {"200": 2, "404": 1}
    assert stats["by_model"]["gpt-nope"] == 1
    emulator.reset()
    assert emulator.stats()["requests"] == 0


# -- configuration ------------------------------------------------------------------


def test_config_from_env() -> None:
    config = EmulatorConfig.from_env(
        {
            "TOKENTHRIFT_EMULATOR_TTFT_MS": "150",
            "TOKENTHRIFT_EMULATOR_ACCEPT_ANY_MODEL": "true",
            "TOKENTHRIFT_EMULATOR_EXTRA_MODELS": "a, b",
            "TOKENTHRIFT_EMULATOR_RPM": "60",
        }
    )
    assert config.ttft_ms == 150.0
    assert config.accept_any_model is True
    assert config.extra_models == frozenset({"a", "b"})
    assert config.rpm == 60


@pytest.mark.parametrize(
    "make",
    [
        lambda: EmulatorConfig(error_rate=1.5),
        lambda: Fault("explode"),  # type: ignore[arg-type]
        lambda: Fault("status", status=200),
        lambda: Fault.from_dict({"kind": "status", "colour": "red"}),
    ],
)
def test_invalid_settings_are_rejected(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()


def test_cli_validates_flags_before_serving() -> None:
    runner = CliRunner()
    help_text = runner.invoke(emulator_command, ["--help"]).output
    for flag in (
        "--port",
        "--host",
        "--ttft-ms",
        "--tokens-per-s",
        "--error-rate",
        "--accept-any-model",
    ):
        assert flag in help_text
    result = runner.invoke(emulator_command, ["--port", "1", "--error-rate", "2"])
    assert result.exit_code == 2
    assert "error_rate" in result.output
