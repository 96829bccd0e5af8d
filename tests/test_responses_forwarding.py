"""A Responses API request forwarded natively to an OpenAI-protocol upstream that speaks it
(the emulator's ``POST /v1/responses``, or OpenAI), translated for the rest: with the
official ``openai`` SDK, every lever and exact accounting on both paths."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import orjson
import pytest

from compression_fixtures import context
from gateway_harness import RunningGateway, config_for, levers_with
from tokenthrift.assembly import build_gateway
from tokenthrift.config import GatewayConfig
from tokenthrift.emulator import Emulator, Fault
from tokenthrift.emulator.transport import EmulatorTransport
from tokenthrift.levers.base import Lever
from tokenthrift.levers.compression import Compressor
from tokenthrift.levers.compression.lever import CompressionLever
from tokenthrift.levers.compression.settings import CompressionSettings
from tokenthrift.providers.transport import Transport, UpstreamReply
from tokenthrift.server.app import create_app
from tokenthrift.server.runner import ServerThread
from tokenthrift.types import StreamFinish, StreamStart, StreamUsage, TextDelta, Usage
from tokenthrift.wire.openai_responses import ResponsesStreamRenderer, parse_request

API = "x-tokenthrift-upstream-api"
NO_CACHE = {"x-tokenthrift-cache": "off"}
ROUTING: dict[str, Any] = {
    "policies": {"auto": {"strong": "gpt-4o", "weak": "gpt-4o-mini"}},
    "tasks": {"classification": "gpt-4o-mini", "code_generation": "claude-sonnet-4-5"},
}


class Recording:
    """A transport that keeps what was sent (path and JSON body) before passing it on."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def send(self, method: str, path: str, headers: Mapping[str, str], body: bytes | None,
                   *, timeout: float) -> UpstreamReply:
        self.sent.append((path, orjson.loads(body) if body else {}))
        return await self.inner.send(method, path, headers, body, timeout=timeout)

    async def aclose(self) -> None:
        await self.inner.aclose()


@contextmanager
def serving(config: GatewayConfig, transports: dict[str, Transport], *,
            emulator: Emulator | None = None, levers: list[Lever] | None = None
            ) -> Iterator[RunningGateway]:
    gateway = build_gateway(config, transports=transports, emulator=emulator, levers=levers)
    server = ServerThread(create_app(gateway)).start()
    try:
        yield RunningGateway(gateway, server)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def emulated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway,
                                                                            Recording]]:
    raw = {"providers": {"emu": {"type": "emulator"}},
           "models": [{"name": "flaky-4o", "provider": "emu", "upstream_model": "gpt-4o",
                       "fallbacks": ["claude-haiku-4-5"]},
                      {"name": "*", "provider": "emu"}],
           "retry": {"max_retries": 0}, "routing": ROUTING,
           "prompt_caching": {"openai": "auto"}}
    emulator = Emulator()
    recording = Recording(EmulatorTransport(emulator))
    config = config_for(tmp_path_factory.mktemp("forwarding"), raw)
    with serving(config, {"emu": recording}, emulator=emulator) as gw:
        yield gw, recording


def _paths(gw: RunningGateway) -> dict[str, int]:
    return dict(gw.emulator.stats()["by_path"])


def _new_calls(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {path: n - before.get(path, 0) for path, n in after.items() if n != before.get(path, 0)}


def _last_body(recording: Recording, path: str) -> dict[str, Any]:
    return next(body for sent, body in reversed(recording.sent) if sent == path)


# ----------------------------------------------------------------------- the two paths


def test_an_openai_model_is_answered_by_the_upstream_responses_endpoint(
        emulated: tuple[RunningGateway, Recording]) -> None:
    gw, recording = emulated
    before = _paths(gw)
    raw = gw.openai().responses.with_raw_response.create(
        model="gpt-4o-mini", input="Say hi [[emulator:reply=hello there]]",
        metadata={"ticket": "T-1"}, extra_headers=NO_CACHE)
    response = raw.parse()
    assert _new_calls(before, _paths(gw)) == {"/v1/responses": 1}  # not chat completions
    assert raw.headers[API] == "responses"
    assert response.output_text == "hello there" and response.status == "completed"
    # The id is the gateway's (so the client continues through it), not the upstream's.
    request_id = raw.headers["x-tokenthrift-request-id"]
    assert response.id == "resp_" + request_id.removeprefix("req_")
    sent = _last_body(recording, "/v1/responses")
    assert sent["store"] is False and sent["model"] == "gpt-4o-mini"
    assert sent["metadata"] == {"ticket": "T-1"}  # the client's body, as it asked
    row = gw.ledger_row(request_id)
    assert response.usage is not None
    assert (row.endpoint, row.provider, row.served_model) == ("responses", "emu", "gpt-4o-mini")
    assert (row.input_tokens + row.cache_read_tokens, row.output_tokens) == (
        response.usage.input_tokens, response.usage.output_tokens)
    # gpt-4o-mini: $0.15 input / $0.60 output per MTok.
    expected = (Decimal(response.usage.input_tokens) * Decimal("0.15")
                + Decimal(response.usage.output_tokens) * Decimal("0.60")) / 10**6
    assert Decimal(raw.headers["x-tokenthrift-cost-usd"]) == expected == Decimal(str(row.cost_usd))


def test_a_forwarded_stream_carries_the_gateway_id_and_the_upstream_usage(
        emulated: tuple[RunningGateway, Recording]) -> None:
    gw, recording = emulated
    before = _paths(gw)
    with gw.openai().responses.with_streaming_response.create(
            model="o4-mini", input="[[emulator:reply=one two three]]", stream=True,
            reasoning={"effort": "low"}, extra_headers=NO_CACHE) as raw:
        request_id = raw.headers["x-tokenthrift-request-id"]
        api = raw.headers[API]
        events = list(raw.parse())
    assert _new_calls(before, _paths(gw)) == {"/v1/responses": 1} and api == "responses"
    assert _last_body(recording, "/v1/responses")["stream"] is True
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") \
        == "one two three"
    final = events[-1].response  # type: ignore[union-attr]
    assert events[-1].type == "response.completed"
    assert final.id == "resp_" + request_id.removeprefix("req_")
    assert final.usage is not None and final.usage.output_tokens_details.reasoning_tokens == 64
    row = gw.ledger_row(request_id)
    assert row.stream and row.reasoning_tokens == 64
    assert row.output_tokens == final.usage.output_tokens  # reasoning included, once
    # The SDK's stream helper assembles the forwarded events too.
    with gw.openai().responses.stream(model="gpt-4o", input="[[emulator:reply=a b c]]",
                                      extra_headers=NO_CACHE) as stream:
        assert stream.get_final_response().output_text == "a b c"


def test_a_claude_model_is_still_translated(emulated: tuple[RunningGateway, Recording]) -> None:
    gw, _ = emulated
    before = _paths(gw)
    client = gw.openai()
    raw = client.responses.with_raw_response.create(
        model="claude-haiku-4-5", input="Hi [[emulator:reply=Hello from Claude]]",
        extra_headers=NO_CACHE)
    assert raw.parse().output_text == "Hello from Claude" and raw.headers[API] == "messages"
    with client.responses.stream(model="claude-haiku-4-5", extra_headers=NO_CACHE,
                                 input="[[emulator:reply=streamed Claude]]") as stream:
        assert stream.get_final_response().output_text == "streamed Claude"
    assert _new_calls(before, _paths(gw)) == {"/v1/messages": 2}


def test_a_fallback_to_claude_is_translated_within_the_same_request(
        emulated: tuple[RunningGateway, Recording]) -> None:
    gw, _ = emulated
    gw.emulator.add_fault(Fault("status", status=500, model="gpt-4o"))
    before = _paths(gw)
    raw = gw.openai().responses.with_raw_response.create(
        model="flaky-4o", input="[[emulator:reply=from the fallback]]", extra_headers=NO_CACHE)
    assert raw.parse().output_text == "from the fallback"
    assert raw.headers[API] == "messages"
    assert _new_calls(before, _paths(gw)) == {"/v1/responses": 1, "/v1/messages": 1}
    assert gw.ledger_row(raw.headers["x-tokenthrift-request-id"]).fallback_used


# ------------------------------------------------------------------- conversation state


def test_a_forwarded_conversation_is_kept_by_the_gateway_and_sent_whole(
        emulated: tuple[RunningGateway, Recording]) -> None:
    gw, recording = emulated
    client = gw.openai()
    first = client.responses.create(model="gpt-4o", input="Remember 7. [[emulator:reply=ok]]",
                                    instructions="Be terse.", extra_headers=NO_CACHE)
    second = client.responses.create(model="gpt-4o", previous_response_id=first.id,
                                     input="What number? [[emulator:reply=7]]",
                                     extra_headers=NO_CACHE)
    assert second.output_text == "7" and second.previous_response_id == first.id
    sent = _last_body(recording, "/v1/responses")
    # The upstream stores nothing: no previous_response_id, the whole conversation as
    # input, output items without the ids of a response it never kept.
    assert "previous_response_id" not in sent and sent["store"] is False
    assert [item.get("role") for item in sent["input"]] == ["user", "assistant", "user"]
    assert all("id" not in item for item in sent["input"])
    assert "instructions" not in sent  # not carried over, as the API documents
    assert second.usage is not None and first.usage is not None
    assert second.usage.input_tokens > first.usage.input_tokens - 5  # history, not instructions
    # Input items: the context each response was answered from, newest first by default.
    listed = client.responses.input_items.list(second.id)
    texts = [item.content[0].text for item in listed.data  # type: ignore[union-attr]
             if item.type == "message"]
    assert texts == ["What number? [[emulator:reply=7]]", "ok",
                     "Remember 7. [[emulator:reply=ok]]"]
    ascending = client.responses.input_items.list(second.id, order="asc", limit=1)
    assert len(ascending.data) == 1 and ascending.has_more
    page_two = client.responses.input_items.list(second.id, order="asc", limit=2,
                                                 after=ascending.data[0].id)
    assert [item.id for item in page_two.data] == [item.id for item in listed.data[1::-1]]
    assert not page_two.has_more
    assert [i.id for i in client.responses.input_items.list(first.id).data] \
        == [listed.data[-1].id]


def test_reasoning_items_go_back_upstream_only_with_encrypted_content(
        emulated: tuple[RunningGateway, Recording]) -> None:
    gw, recording = emulated
    client = gw.openai()
    first = client.responses.create(model="o4-mini", input="Plan [[emulator:reply=Lyon]]",
                                    reasoning={"effort": "low"}, extra_headers=NO_CACHE)
    assert [item.type for item in first.output] == ["reasoning", "message"]  # relayed as is
    # Continued through the gateway, or by passing the output back as input: the upstream
    # stored nothing, so a reasoning item without encrypted content is not sent (it
    # would be a 404 there, as the emulator answers like OpenAI).
    client.responses.create(model="o4-mini", previous_response_id=first.id, input="and?",
                            extra_headers=NO_CACHE)
    assert [item["type"] for item in _last_body(recording, "/v1/responses")["input"]] \
        == ["message", "message", "message"]
    passed_back: Any = [{"role": "user", "content": "Plan"},
                        *[item.model_dump(exclude_none=True) for item in first.output],
                        {"role": "user", "content": "and?"}]
    client.responses.create(model="o4-mini", store=False, input=passed_back,
                            extra_headers=NO_CACHE)
    assert "reasoning" not in [i.get("type") for i in _last_body(recording, "/v1/responses")["input"]]
    sealed = client.responses.create(model="o4-mini", input="Plan [[emulator:reply=Nice]]",
                                     include=["reasoning.encrypted_content"],
                                     reasoning={"effort": "low"}, extra_headers=NO_CACHE)
    assert sealed.output[0].encrypted_content  # type: ignore[union-attr]
    client.responses.create(model="o4-mini", previous_response_id=sealed.id, input="and?",
                            extra_headers=NO_CACHE)
    sent = _last_body(recording, "/v1/responses")["input"]
    assert [item["type"] for item in sent] == ["message", "reasoning", "message", "message"]
    assert sent[1]["encrypted_content"] == sealed.output[0].encrypted_content  # type: ignore[union-attr]


def test_input_items_belong_to_the_key_that_made_the_response(
        emulated: tuple[RunningGateway, Recording]) -> None:
    gw, _ = emulated
    created = gw.openai().responses.create(model="gpt-4o-mini", input="[[emulator:reply=x]]")
    assert gw.openai().responses.input_items.list(created.id).data  # positive control
    other = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-someone-else", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        other.responses.input_items.list(created.id)
    with pytest.raises(openai.BadRequestError) as bad:
        gw.openai().responses.input_items.list(created.id, limit=500)
    assert bad.value.body["param"] == "limit"  # type: ignore[index]


# ----------------------------------------------------------------------------- levers


def test_an_exact_cache_hit_answers_a_repeated_responses_request(
        emulated: tuple[RunningGateway, Recording]) -> None:
    gw, _ = emulated
    client = gw.openai()
    question = "Capital of Peru? [[emulator:reply=Lima]]"
    first = client.responses.with_raw_response.create(model="gpt-4o-mini", input=question)
    before = _paths(gw)
    again = client.responses.with_raw_response.create(model="gpt-4o-mini", input=question)
    assert (first.headers["x-tokenthrift-cache"], again.headers["x-tokenthrift-cache"]) == (
        "miss", "exact")
    assert first.headers[API] == "responses" and API not in again.headers
    assert _new_calls(before, _paths(gw)) == {}  # no upstream call
    assert again.parse().output_text == first.parse().output_text == "Lima"
    row = gw.ledger_row(again.headers["x-tokenthrift-request-id"])
    assert row.cost_usd == 0 and row.savings["exact_cache"] > 0


def test_routing_auto_is_served_natively_when_it_picks_an_openai_model(
        emulated: tuple[RunningGateway, Recording]) -> None:
    gw, recording = emulated
    client = gw.openai()
    before = _paths(gw)
    cheap = client.responses.with_raw_response.create(
        model="auto", input="Label the sentiment: 'the parcel came early'",
        extra_headers={**NO_CACHE, "x-tokenthrift-task": "classification"})
    assert cheap.headers["x-tokenthrift-served-model"] == "gpt-4o-mini"
    assert cheap.headers[API] == "responses"
    assert _last_body(recording, "/v1/responses")["model"] == "gpt-4o-mini"
    code = client.responses.with_raw_response.create(
        model="auto", input="Write a Python function that merges two sorted lists.",
        extra_headers={**NO_CACHE, "x-tokenthrift-task": "code_generation"})
    assert code.headers["x-tokenthrift-served-model"].startswith("claude-sonnet-4-5")
    assert code.headers[API] == "messages"
    assert _new_calls(before, _paths(gw)) == {"/v1/responses": 1, "/v1/messages": 1}
    row = gw.ledger_row(cheap.headers["x-tokenthrift-request-id"])
    assert row.requested_model == "auto" and row.savings["routing"] > 0


def test_provider_prompt_caching_shapes_the_forwarded_body(
        emulated: tuple[RunningGateway, Recording]) -> None:
    gw, recording = emulated
    policy = "Refunds are processed within 14 days of the return arriving. " * 150
    raw = gw.openai().responses.with_raw_response.create(
        model="gpt-4o", instructions=policy, input="Refund window?", extra_headers=NO_CACHE)
    key = _last_body(recording, "/v1/responses").get("prompt_cache_key")
    assert raw.headers[API] == "responses" and isinstance(key, str) and key.startswith("tt-")
    row = gw.ledger_row(raw.headers["x-tokenthrift-request-id"])
    assert row.notes["prompt_cache"]["cache_key"] == key
    # The client's own key wins (positive control for the lever's key above).
    gw.openai().responses.create(model="gpt-4o", instructions=policy, input="Refund window?",
                                 prompt_cache_key="mine", extra_headers=NO_CACHE)
    assert _last_body(recording, "/v1/responses")["prompt_cache_key"] == "mine"


def test_a_compressed_request_is_translated_so_the_shorter_prompt_is_sent(
        tmp_path: Path) -> None:
    config = config_for(tmp_path)
    lever = CompressionLever(CompressionSettings(enabled=True, target_ratio=0.3, min_tokens=50),
                             Compressor())
    emulator = Emulator()
    with serving(config, {"emulator": EmulatorTransport(emulator)}, emulator=emulator,
                 levers=levers_with(config, compression=lever)) as gw:
        client = gw.openai()
        prompt = f"{context()}\n\nQuestion: who built the sydney harbour bridge?"
        full = client.responses.with_raw_response.create(
            model="gpt-4o-mini", input=prompt, max_output_tokens=16,
            extra_headers={**NO_CACHE, "x-tokenthrift-compress": "off"})
        short = client.responses.with_raw_response.create(
            model="gpt-4o-mini", input=prompt, max_output_tokens=16,
            extra_headers={**NO_CACHE, "x-tokenthrift-compress": "0.3"})
        assert full.headers[API] == "responses"  # positive control: not rewritten
        assert short.headers[API] == "chat.completions"
        assert "x-tokenthrift-compression" in short.headers
        full_usage, short_usage = full.parse().usage, short.parse().usage
        assert full_usage is not None and short_usage is not None
        assert short_usage.input_tokens < 0.5 * full_usage.input_tokens
        row = gw.ledger_row(short.headers["x-tokenthrift-request-id"])
        assert row.savings["compression"] > 0


# -------------------------------------------------------------- pinned cost (OpenAI)

GPT_4O_USAGE = {"input_tokens": 100_000, "input_tokens_details": {"cached_tokens": 60_000},
                "output_tokens": 10_000, "output_tokens_details": {"reasoning_tokens": 4_000},
                "total_tokens": 110_000}


class ScriptedOpenAI:
    """OpenAI's ``/responses`` answering with fixed usage, as a provider transport."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    async def send(self, method: str, path: str, headers: Mapping[str, str], body: bytes | None,
                   *, timeout: float) -> UpstreamReply:
        self.paths.append(path)
        payload = orjson.loads(body or b"{}")
        response = {"id": "resp_upstream", "object": "response", "created_at": 1,
                    "status": "completed", "model": "gpt-4o-2024-08-06", "usage": GPT_4O_USAGE,
                    "output": [{"type": "message", "id": "msg_up", "role": "assistant",
                                "status": "completed", "content": [
                                    {"type": "output_text", "text": "Fourteen days.",
                                     "annotations": []}]}]}
        if not payload.get("stream"):
            return UpstreamReply(200, {"content-type": "application/json"},
                                 body=orjson.dumps(response))
        renderer = ResponsesStreamRenderer(parse_request(payload), "resp_upstream")
        chunks = [chunk for event in (StreamStart("resp_upstream", "gpt-4o-2024-08-06"),
                                      TextDelta("Fourteen days."), StreamFinish("stop"),
                                      StreamUsage(Usage(input_tokens=40_000,
                                                        cache_read_tokens=60_000,
                                                        output_tokens=10_000,
                                                        reasoning_tokens=4_000)))
                  for chunk in renderer.render(event)]
        return UpstreamReply(200, {"content-type": "text/event-stream"},
                             body=b"".join([*chunks, renderer.done()]))

    async def aclose(self) -> None:
        return None


@pytest.mark.parametrize("stream", [False, True])
def test_gpt_4o_forwarded_to_openai_is_priced_from_its_responses_usage(
        tmp_path: Path, stream: bool) -> None:
    """gpt-4o: input $2.50, cached input $1.25, output $10.00 per MTok. 40k uncached +
    60k cached input and 10k output (4k of it reasoning, billed once as output):
    0.1 + 0.075 + 0.1 = $0.275."""
    config = config_for(tmp_path, {"providers": {"openai": {"type": "openai",
                                                            "api_key": "sk-upstream"}},
                                   "models": [{"name": "gpt-4o", "provider": "openai"}]})
    upstream = ScriptedOpenAI()
    with serving(config, {"openai": upstream}) as gw:
        client = gw.openai()
        if stream:
            with client.responses.with_streaming_response.create(
                    model="gpt-4o", input="Refund window?", stream=True) as raw:
                headers, events = raw.headers, list(raw.parse())
            usage = events[-1].response.usage  # type: ignore[union-attr]
        else:
            raw_response = client.responses.with_raw_response.create(model="gpt-4o",
                                                                      input="Refund window?")
            headers, usage = raw_response.headers, raw_response.parse().usage
            assert Decimal(headers["x-tokenthrift-cost-usd"]) == Decimal("0.275")
        row = gw.ledger_row(headers["x-tokenthrift-request-id"])
    assert upstream.paths == ["/responses"] and headers[API] == "responses"
    assert usage is not None and usage.input_tokens_details.cached_tokens == 60_000
    assert (row.input_tokens, row.cache_read_tokens, row.output_tokens,
            row.reasoning_tokens) == (40_000, 60_000, 10_000, 4_000)
    assert Decimal(str(row.cost_usd)) == Decimal("0.275")
