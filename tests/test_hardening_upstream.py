"""What an upstream sends cannot hurt the client or the books (issue #8).

A scripted upstream on a real socket (the ``openai`` and ``anthropic`` provider types
over HTTP) answers with what real and OpenAI-compatible servers have been seen to send:
error messages echoing the provider key, usage that cannot be billed, gzip bombs,
JSON nested 1,000 deep. Clients use the official SDKs.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import anthropic
import openai
import orjson
import pytest
from starlette.requests import Request
from starlette.responses import Response

from gateway_harness import RunningGateway, config_for, running_gateway
from tokenthrift.errors import InvalidUpstreamUsage, UpstreamError
from tokenthrift.providers.openai import OpenAIProvider
from tokenthrift.providers.transport import HTTPTransport
from tokenthrift.redaction import install_log_filter, redact
from tokenthrift.server.runner import ServerThread
from tokenthrift.types import ChatRequest, Message, TextPart

PROVIDER_KEY = "sk-proj-Hx7Qm2Lr9Vt4Wc8Zp1Ny5Kb3"
MASKED_KEY = "sk-proj-Hx7*****************************Kb3"
OPENAI_MODEL, CLAUDE = "gpt-4o-mini", "claude-haiku-4-5"
USER = [{"role": "user", "content": "hi"}]


@dataclass
class Scripted:
    """The next reply the upstream sends, and how many requests it has seen."""

    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    hits: int = 0

    def reply(self, body: Any, status: int = 200, **headers: str) -> None:
        self.body = body if isinstance(body, bytes) else orjson.dumps(body)
        self.status, self.headers, self.hits = status, headers, 0


SCRIPT = Scripted()


async def upstream_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await Request(scope, receive).body()
    SCRIPT.hits += 1
    headers = {"content-type": "application/json", **SCRIPT.headers}
    media = headers.pop("content-type")
    await Response(SCRIPT.body, SCRIPT.status, headers, media_type=media)(scope, receive, send)


@pytest.fixture(scope="module")
def upstream_url() -> Iterator[str]:
    with ServerThread(upstream_app) as server:
        yield server.url


@pytest.fixture(scope="module")
def gw(upstream_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    raw = {
        "providers": {
            "openai": {"type": "openai", "base_url": upstream_url + "/v1",
                       "api_key": PROVIDER_KEY},
            "anthropic": {"type": "anthropic", "base_url": upstream_url,
                          "api_key": PROVIDER_KEY},
        },
        "models": [{"name": "claude-*", "provider": "anthropic"},
                   {"name": "*", "provider": "openai"}],
        "retry": {"max_retries": 2, "backoff_s": 0.001, "max_backoff_s": 0.001},
        "cache": {"exact": {"enabled": False}},
    }
    with running_gateway(config_for(tmp_path_factory.mktemp("upstream"), raw)) as running:
        yield running


def completion(usage: Any = None, content: Any = "ok") -> dict[str, Any]:
    return {"id": "chatcmpl-1", "object": "chat.completion", "created": 1,
            "model": OPENAI_MODEL, "usage": usage,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}]}


def message(usage: Any = None, content: Any = None) -> dict[str, Any]:
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": CLAUDE,
            "stop_reason": "end_turn", "stop_sequence": None, "usage": usage,
            "content": content if content is not None else [{"type": "text", "text": "ok"}]}


def ask_openai(gw: RunningGateway) -> Any:
    return gw.openai().chat.completions.create(model=OPENAI_MODEL, messages=USER)  # type: ignore[arg-type]


def ask_anthropic(gw: RunningGateway) -> Any:
    return gw.anthropic().messages.create(model=CLAUDE, max_tokens=16, messages=USER)  # type: ignore[arg-type]


# ------------------------------------------------------------ provider keys (defect 7)

ECHOES = [
    f"Incorrect API key provided: {PROVIDER_KEY}. You can find your API key at "
    "https://platform.openai.com/account/api-keys.",
    f"Incorrect API key provided: {MASKED_KEY}. You can find your API key at "
    "https://platform.openai.com/account/api-keys.",
    "invalid x-api-key sk-ant-api03-Zq8Rw3Ty6Ui9Op2As5Df8Gh1Jk4L-AbCdEf",
    "Unauthorized: Bearer tok_9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c",
]


@pytest.mark.parametrize("status", [401, 400, 500])
@pytest.mark.parametrize("echo", ECHOES, ids=["whole", "masked", "anthropic-shaped", "bearer"])
def test_provider_key_echoed_by_upstream_never_reaches_the_client(
    gw: RunningGateway, status: int, echo: str
) -> None:
    SCRIPT.reply({"error": {"message": echo, "type": "invalid_request_error", "code": None}},
                 status=status)
    with pytest.raises(openai.APIStatusError) as raised:
        ask_openai(gw)
    said = str(raised.value) + raised.value.response.text
    assert "You can find" in said or "x-api-key" in said or "Unauthorized" in said  # relayed
    for secret in (PROVIDER_KEY, MASKED_KEY, "Hx7Qm2", "AbCdEf", "9f8e7d6c5b4a"):
        assert secret not in said
    assert "[redacted]" in said


def test_provider_key_echoed_to_an_anthropic_client(gw: RunningGateway) -> None:
    SCRIPT.reply({"type": "error", "error": {"type": "invalid_request_error",
                                             "message": f"key {MASKED_KEY} is bad"}}, status=400)
    with pytest.raises(anthropic.BadRequestError) as raised:
        ask_anthropic(gw)
    said = raised.value.response.text
    assert "is bad" in said and "[redacted]" in said
    assert "Hx7" not in said


def test_log_records_of_tokenthrift_loggers_are_redacted(
    gw: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    install_log_filter()
    with caplog.at_level(logging.INFO):
        logging.getLogger("tokenthrift.server").warning("upstream said %s", ECHOES[0])
        logging.getLogger("tokenthrift.ledger").error("bearer %s", "Bearer " + PROVIDER_KEY)
        logging.getLogger("elsewhere").warning("control %s", PROVIDER_KEY)
    messages = {r.name: r.getMessage() for r in caplog.records}
    assert PROVIDER_KEY not in messages["tokenthrift.server"]
    assert "upstream said Incorrect API key provided: [redacted]" in messages["tokenthrift.server"]
    assert PROVIDER_KEY not in messages["tokenthrift.ledger"]
    assert PROVIDER_KEY in messages["elsewhere"]  # control: only our loggers are filtered


def test_configured_keys_of_any_shape_are_redacted(gw: RunningGateway) -> None:
    # The gateway's providers registered PROVIDER_KEY; an Azure-style key registers too.
    OpenAIProvider("azure", HTTPTransport("http://127.0.0.1:9"),
                   headers={"api-key": "0123456789abcdef0123456789abcdef"})
    assert redact("key is 0123456789abcdef0123456789abcdef") == "key is [redacted]"
    assert redact("key is 0123****cdef!") == "key is [redacted]!"
    assert redact("The model gpt-4o does not exist") == "The model gpt-4o does not exist"


# --------------------------------------------------------- unusable usage (defect 9)

BAD_OPENAI_USAGE = [
    {"prompt_tokens": "12", "completion_tokens": 3},
    {"prompt_tokens": 12.5, "completion_tokens": 3},
    {"prompt_tokens": -1, "completion_tokens": 3},
    {"prompt_tokens": 10**15, "completion_tokens": 3},
    {"prompt_tokens": 12, "completion_tokens": True},
    {"prompt_tokens": 12, "completion_tokens": 3,
     "completion_tokens_details": {"reasoning_tokens": 4}},
    {"prompt_tokens": 12, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 13}},
    {"prompt_tokens": 12, "completion_tokens": 3, "prompt_tokens_details": [1]},
    "lots",
]


@pytest.mark.parametrize("usage", BAD_OPENAI_USAGE)
def test_unusable_openai_usage_is_a_502_never_billed_twice(gw: RunningGateway, usage: Any) -> None:
    SCRIPT.reply(completion(usage))
    with pytest.raises(openai.APIStatusError) as raised:
        ask_openai(gw)
    assert raised.value.status_code == 502
    assert "usage" in raised.value.message
    assert SCRIPT.hits == 1  # not retried: the upstream may have billed the call
    # Recorded with the gateway's own count, flagged as estimated: never a made-up cost.
    row = gw.ledger_row(raised.value.response.headers["x-tokenthrift-request-id"])
    assert row.status == 502 and row.error_class == "invalid_upstream_usage"
    assert row.usage_estimated and 0 < row.input_tokens < 100 and row.output_tokens < 100
    assert row.cost_usd is not None and 0 < row.cost_usd < Decimal("0.001")


def test_good_usage_control(gw: RunningGateway) -> None:
    SCRIPT.reply(completion({"prompt_tokens": 12, "completion_tokens": 3}))
    answer = ask_openai(gw)
    assert answer.usage.prompt_tokens == 12 and answer.choices[0].message.content == "ok"
    SCRIPT.reply(message({"input_tokens": 12, "output_tokens": 3}))
    assert ask_anthropic(gw).usage.output_tokens == 3


def test_upstream_5xx_is_still_retried_control(gw: RunningGateway) -> None:
    SCRIPT.reply({"error": {"message": "boom"}}, status=500)
    with pytest.raises(openai.APIStatusError):
        ask_openai(gw)
    assert SCRIPT.hits == 3


@pytest.mark.parametrize("usage", [
    {"input_tokens": "12", "output_tokens": 3},
    {"input_tokens": 12, "output_tokens": 10**15},
    {"input_tokens": 12, "output_tokens": 3, "cache_read_input_tokens": -5},
    {"input_tokens": 12, "output_tokens": 3, "cache_creation_input_tokens": 1,
     "cache_creation": {"ephemeral_1h_input_tokens": 2}},
])
def test_unusable_anthropic_usage_is_a_502(gw: RunningGateway, usage: Any) -> None:
    SCRIPT.reply(message(usage))
    with pytest.raises(anthropic.APIStatusError) as raised:
        ask_anthropic(gw)
    assert raised.value.status_code == 502
    assert SCRIPT.hits == 1


def test_unusable_usage_in_a_stream_start_is_a_502(gw: RunningGateway) -> None:
    start = {"type": "message_start", "message": {**message({"input_tokens": "many"}),
                                                  "content": []}}
    SCRIPT.reply(b"event: message_start\ndata: " + orjson.dumps(start) + b"\n\n",
                 **{"content-type": "text/event-stream"})
    client = gw.anthropic()
    with pytest.raises(anthropic.APIStatusError) as raised, client.messages.stream(
            model=CLAUDE, max_tokens=16, messages=USER) as stream:  # type: ignore[arg-type]
        stream.get_final_message()
    assert raised.value.status_code == 502


@pytest.mark.parametrize("content", [5, {"text": "x"}, [{"type": "text", "text": 5}]])
def test_non_string_content_is_a_502(gw: RunningGateway, content: Any) -> None:
    SCRIPT.reply(completion({"prompt_tokens": 1, "completion_tokens": 1}, content))
    with pytest.raises(openai.APIStatusError) as raised:
        ask_openai(gw)
    assert raised.value.status_code == 502 and "malformed" in raised.value.message


def test_invalid_usage_carries_a_local_estimate(upstream_url: str) -> None:
    """What the pipeline records (as estimated usage) instead of the upstream's figures."""
    SCRIPT.reply(completion({"prompt_tokens": 10**15, "completion_tokens": 3},
                            content="four words of output"))
    provider = OpenAIProvider("openai", HTTPTransport(upstream_url + "/v1"), api_key="x")
    request = ChatRequest(model=OPENAI_MODEL,
                          messages=[Message(role="user", content=[TextPart("hello there")])])

    async def call() -> InvalidUpstreamUsage:
        try:
            await provider.complete(request, OPENAI_MODEL, timeout=10)
        except InvalidUpstreamUsage as error:
            return error
        finally:
            await provider.aclose()
        raise AssertionError("no error")

    error = asyncio.run(call())
    assert (error.status, error.kind, error.code, error.retryable) == (
        502, "upstream", "invalid_upstream_usage", False)
    assert error.estimated_usage is not None
    assert error.estimated_usage.input_tokens > 0
    assert 0 < error.estimated_usage.output_tokens < 10


# ------------------------------------------------------------------- sizes and depth


def test_gzip_bomb_is_refused_not_inflated(gw: RunningGateway) -> None:
    bomb = gzip.compress(b" " * (80 * 1024 * 1024), compresslevel=9)  # 80 MiB -> ~80 KB
    SCRIPT.reply(bomb, **{"content-encoding": "gzip"})
    with pytest.raises(openai.APIStatusError) as raised:
        ask_openai(gw)
    assert raised.value.status_code == 502 and "too large" in raised.value.message


def test_gzip_reply_within_budget_control(gw: RunningGateway) -> None:
    body = orjson.dumps(completion({"prompt_tokens": 2, "completion_tokens": 1}, "zipped"))
    SCRIPT.reply(gzip.compress(body), **{"content-encoding": "gzip"})
    assert ask_openai(gw).choices[0].message.content == "zipped"


def test_transport_budget_bounds_plain_and_compressed_bodies(upstream_url: str) -> None:
    async def read(body: bytes, **headers: str) -> bytes | UpstreamError:
        SCRIPT.reply(body, **headers)
        transport = HTTPTransport(upstream_url, max_response_bytes=1000)
        try:
            reply = await transport.send("GET", "/", {}, None, timeout=10)
            return await reply.read()
        except UpstreamError as error:
            return error
        finally:
            await transport.aclose()

    assert asyncio.run(read(b"x" * 1000)) == b"x" * 1000
    assert isinstance(asyncio.run(read(b"x" * 1001)), UpstreamError)
    assert asyncio.run(read(gzip.compress(b"y" * 1000), **{"content-encoding": "gzip"})) == (
        b"y" * 1000)
    too_big = asyncio.run(read(gzip.compress(b"y" * 5000), **{"content-encoding": "gzip"}))
    assert isinstance(too_big, UpstreamError) and "too large" in too_big.message


def _nested(depth: int) -> Any:
    value: Any = {}
    for _ in range(depth):
        value = {"a": value}
    return value


def test_upstream_json_nested_deeply_is_a_502(gw: RunningGateway) -> None:
    content = [{"type": "tool_use", "id": "t", "name": "f", "input": {"deep": "HERE"}}]
    deep = b'{"a":' * 1000 + b"{}" + b"}" * 1000  # orjson itself refuses to nest this deep
    body = orjson.dumps(message({"input_tokens": 1, "output_tokens": 1}, content))
    SCRIPT.reply(body.replace(b'"HERE"', deep))
    with pytest.raises(anthropic.APIStatusError) as raised:
        ask_anthropic(gw)
    assert raised.value.status_code == 502
    shallow = [{"type": "tool_use", "id": "t", "name": "f", "input": _nested(20)}]
    SCRIPT.reply(message({"input_tokens": 1, "output_tokens": 1}, shallow))
    assert ask_anthropic(gw).content[0].type == "tool_use"  # control
