"""``tokenthrift.http_client()``: the official SDKs, unchanged, with the gateway in-process.

No server and no socket: the SDK's HTTP client hands each request to the gateway app,
which still applies every lever, records a ledger row and sets the cost headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import anthropic
import openai
import pytest

import tokenthrift
from tokenthrift.config import GatewayConfig, parse_config
from tokenthrift.ledger.record import LedgerRecord
from tokenthrift.pipeline import Gateway

HELLO = [{"role": "user", "content": "Say hi [[emulator:reply=hello there]]"}]
TEAM = {"x-tokenthrift-team": "search", "x-tokenthrift-task": "triage"}


def _row(gateway: Gateway, request_id: str | None) -> LedgerRecord:
    assert request_id is not None
    gateway.writer.flush()
    row = gateway.ledger.get(request_id)
    assert row is not None, f"no ledger row for {request_id}"
    return row


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tokenthrift.InProcessClient]:
    http = tokenthrift.http_client(GatewayConfig.embedded_default(str(tmp_path)), headers=TEAM)
    yield http
    http.close()


def test_openai_sdk_in_process_gets_cost_headers_and_a_ledger_row(
        client: tokenthrift.InProcessClient) -> None:
    sdk = openai.OpenAI(base_url="http://tokenthrift/v1", api_key="unused", http_client=client,
                        max_retries=0)
    raw = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
    completion = raw.parse()
    assert completion.choices[0].message.content == "hello there"
    cost = raw.headers["x-tokenthrift-cost-usd"]
    assert Decimal(cost) > 0
    row = _row(client.gateway, raw.headers["x-tokenthrift-request-id"])
    assert (row.team, row.task, row.endpoint) == ("search", "triage", "chat.completions")
    assert row.output_tokens == completion.usage.completion_tokens
    assert row.cost_usd is not None and Decimal(str(row.cost_usd)) == Decimal(cost)


def test_openai_sdk_streams_in_process_and_the_row_has_the_stream_usage(
        client: tokenthrift.InProcessClient) -> None:
    # The SDK's default base URL: the host never matters, only the path is routed.
    sdk = openai.OpenAI(api_key="unused", http_client=client, max_retries=0)
    with sdk.chat.completions.with_streaming_response.create(
            model="gpt-4o-mini", messages=HELLO, stream=True,
            stream_options={"include_usage": True}) as response:
        request_id = response.headers["x-tokenthrift-request-id"]
        chunks = list(response.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "hello there"
    usage = chunks[-1].usage
    assert usage is not None
    row = _row(client.gateway, request_id)
    assert row.stream and row.status == 200
    assert (row.input_tokens, row.output_tokens) == (usage.prompt_tokens,
                                                     usage.completion_tokens)


def test_a_stream_the_caller_stops_reading_is_recorded_as_a_disconnect(tmp_path: Path) -> None:
    # A paced upstream (200 tokens/s): the caller leaves long before the reply ends.
    config = parse_config({
        "providers": {"emulator": {"type": "emulator", "emulator": {"tokens_per_s": 200}}},
        "models": [{"name": "*", "provider": "emulator"}],
        "storage": {"ledger": f"sqlite:///{tmp_path}/ledger.db"},
    })
    with tokenthrift.http_client(config, headers=TEAM) as http:
        sdk = openai.OpenAI(api_key="unused", http_client=http, max_retries=0)
        long_reply = "word " * 2000
        for leave_early in (False, True):  # positive control first: read to the end
            with sdk.chat.completions.with_streaming_response.create(
                    model="gpt-4o-mini", stream=True,
                    messages=[{"role": "user", "content": f"[[emulator:reply={long_reply[:50 if not leave_early else None]}]]"}]
            ) as response:
                request_id = response.headers["x-tokenthrift-request-id"]
                chunks = response.iter_bytes()
                next(chunks)
                if not leave_early:
                    for _ in chunks:
                        pass
            row = _row(http.gateway, request_id)
            assert row.stream and row.team == "search"
            assert (row.status, row.error_class) == ((499, "client_disconnected") if leave_early
                                                     else (200, None))


def test_anthropic_sdk_in_process(client: tokenthrift.InProcessClient) -> None:
    sdk = anthropic.Anthropic(base_url="http://tokenthrift", api_key="unused",
                              http_client=client, max_retries=0)
    raw = sdk.messages.with_raw_response.create(model="claude-haiku-4-5", max_tokens=64,
                                                messages=HELLO)
    message = raw.parse()
    assert message.content[0].type == "text" and message.content[0].text == "hello there"
    row = _row(client.gateway, raw.headers["x-tokenthrift-request-id"])
    assert (row.endpoint, row.team, row.served_model) == ("messages", "search",
                                                          "claude-haiku-4-5")
    assert Decimal(raw.headers["x-tokenthrift-cost-usd"]) > 0

    with sdk.messages.stream(model="claude-haiku-4-5", max_tokens=64, messages=HELLO) as stream:
        final = stream.get_final_message()
    assert final.content[0].type == "text" and final.content[0].text == "hello there"


async def test_async_sdks_in_process(tmp_path: Path) -> None:
    http = tokenthrift.async_http_client(GatewayConfig.embedded_default(str(tmp_path)),
                                         headers=TEAM)
    async with openai.AsyncOpenAI(base_url="http://tokenthrift/v1", api_key="unused",
                                  http_client=http, max_retries=0) as sdk:
        raw = await sdk.chat.completions.with_raw_response.create(model="gpt-4o",
                                                                  messages=HELLO)
        assert raw.parse().choices[0].message.content == "hello there"
        stream = await sdk.chat.completions.create(model="gpt-4o", messages=HELLO, stream=True)
        pieces = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        assert "".join(pieces) == "hello there"
        ant = anthropic.AsyncAnthropic(api_key="unused", http_client=http, max_retries=0)
        message = await ant.messages.create(model="claude-haiku-4-5", max_tokens=64,
                                            messages=HELLO)
        assert message.content[0].type == "text" and message.content[0].text == "hello there"
        row = _row(http.gateway, raw.headers["x-tokenthrift-request-id"])
        assert (row.team, row.task, row.served_model) == ("search", "triage", "gpt-4o")
        http.gateway.writer.flush()
        assert len(http.gateway.ledger.rows()) == 3


def test_with_no_argument_the_embedded_default_serves(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with tokenthrift.http_client() as http:
        sdk = openai.OpenAI(base_url="http://anything.invalid/v1", api_key="unused",
                            http_client=http, max_retries=0)
        raw = sdk.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=HELLO)
        assert raw.parse().choices[0].message.content == "hello there"
        _row(http.gateway, raw.headers["x-tokenthrift-request-id"])
    assert (tmp_path / ".tokenthrift" / "ledger.db").is_file()


def test_gateway_errors_reach_the_sdk_as_its_own_exceptions(
        client: tokenthrift.InProcessClient) -> None:
    sdk = openai.OpenAI(api_key="unused", http_client=client, max_retries=0)
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model="gpt-4o-mini", messages=[])
    assert "messages" in str(caught.value)
    # Positive control: the same client then succeeds.
    ok = sdk.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    assert ok.choices[0].message.content == "hello there"
