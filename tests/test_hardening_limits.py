"""Limits at the edge (issue #8, defects 8 and the connection/attribution limits).

* JSON nested 1,000 deep anywhere in a request used to reach recursive code and answer
  500 (recorded as 499); nesting is bounded when the body is read: 400 in the client's
  format, no ledger row for a request the gateway never accepted.
* uvicorn kept connections that never finished their headers open forever; the
  gateway's protocols close them, bound header size, and answer framing errors in JSON.
* A body that stops arriving is a 408 after ``BODY_READ_TIMEOUT_S``.
* Attribution values share one length cap; tags are capped in number and de-duplicated.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from gateway_harness import RunningGateway, config_for, running_gateway
from tokenthrift.errors import GatewayError
from tokenthrift.server.attribution import MAX_ATTRIBUTION_CHARS, MAX_TAGS, attribution_for
from tokenthrift.server.http import read_json
from tokenthrift.server.runner import ServerThread
from tokenthrift.types import ChatRequest
from tokenthrift.wire._fields import MAX_JSON_DEPTH

CHAT, MESSAGES = "/v1/chat/completions", "/v1/messages"
HOLE = "HOLE"  # replaced, with its quotes, by the nested JSON


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    raw = {"providers": {"emu": {"type": "emulator"}}, "models": [{"name": "*", "provider": "emu"}],
           "cache": {"exact": {"enabled": False}}}
    with running_gateway(config_for(tmp_path_factory.mktemp("limits"), raw)) as running:
        yield running


def post(gw: RunningGateway, path: str, body: bytes) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(gw.url.split("//", 1)[1], timeout=30)
    try:
        connection.request("POST", path, body=body, headers={"content-type": "application/json"})
        answer = connection.getresponse()
        return answer.status, json.loads(answer.read())
    finally:
        connection.close()


def nested(depth: int) -> str:
    """An object ``depth`` levels deep, as JSON text (json.dumps would recurse)."""
    return '{"a":' * (depth - 1) + "{}" + "}" * (depth - 1)


# Where a client can nest arbitrary JSON: (wire path, request template with HOLE).
PLACES = {
    "logit_bias": (CHAT, {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}],
                          "logit_bias": HOLE}),
    "tool-parameters": (CHAT, {"model": "gpt-4o-mini",
                               "messages": [{"role": "user", "content": "x"}],
                               "tools": [{"type": "function",
                                          "function": {"name": "f", "parameters": HOLE}}]}),
    "response_format": (CHAT, {"model": "gpt-4o-mini",
                               "messages": [{"role": "user", "content": "x"}],
                               "response_format": {"type": "json_schema",
                                                   "json_schema": {"name": "s", "schema": HOLE}}}),
    "input_schema": (MESSAGES, {"model": "claude-haiku-4-5", "max_tokens": 5,
                                "messages": [{"role": "user", "content": "x"}],
                                "tools": [{"name": "f", "input_schema": HOLE}]}),
    "tool_use.input": (MESSAGES, {"model": "claude-haiku-4-5", "max_tokens": 5, "messages": [
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f",
                                           "input": HOLE}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
                                      "content": "ok"}]}]}),
}


def with_hole(template: dict[str, Any], depth: int) -> bytes:
    return json.dumps(template).replace(f'"{HOLE}"', nested(depth)).encode()


@pytest.mark.parametrize("place", PLACES)
def test_deep_nesting_is_a_400_in_the_clients_format(gw: RunningGateway, place: str) -> None:
    path, template = PLACES[place]
    gw.gateway.writer.flush()
    before = len(gw.gateway.ledger.rows(limit=100_000))
    status, answer = post(gw, path, with_hole(template, 1000))
    assert status == 400, answer
    error = answer["error"]
    assert error["code"] == "nesting_too_deep" and str(MAX_JSON_DEPTH) in error["message"]
    if path == MESSAGES:
        assert answer["type"] == "error" and error["type"] == "invalid_request_error"
    gw.gateway.writer.flush()
    assert len(gw.gateway.ledger.rows(limit=100_000)) == before  # refused before the pipeline


@pytest.mark.parametrize("place", PLACES)
def test_reasonable_nesting_is_served_control(gw: RunningGateway, place: str) -> None:
    path, template = PLACES[place]
    status, answer = post(gw, path, with_hole(template, 20))
    assert status == 200, answer


# ------------------------------------------------------------------ the HTTP server


async def tiny_app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await Response(b'{"ok": true}', media_type="application/json")(scope, receive, send)


@pytest.fixture(scope="module")
def server() -> Iterator[ServerThread]:
    with ServerThread(tiny_app, header_timeout_s=0.3, max_header_bytes=4096) as running:
        yield running


def connect(server: ServerThread) -> socket.socket:
    return socket.create_connection((server.host, server.port), timeout=20)


def read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (a socket timeout fails the test)."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_connection_that_sends_nothing_is_closed(server: ServerThread) -> None:
    with connect(server) as sock:
        assert read_all(sock) == b""


def test_a_connection_stalled_mid_headers_is_closed(server: ServerThread) -> None:
    with connect(server) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        assert read_all(sock) == b""


def test_complete_requests_are_answered_and_kept_alive_control(server: ServerThread) -> None:
    with connect(server) as sock:
        for _ in range(2):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = sock.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"ok": true}')


def test_oversized_headers_are_a_json_400(server: ServerThread) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 8000)
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400")
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["type"] == "error" and "too large" in body["error"]["message"]


def test_framing_errors_are_answered_in_json_both_sdks_read(server: ServerThread) -> None:
    with connect(server) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        answer = read_all(sock)
    assert answer.startswith(b"HTTP/1.1 400")
    head, body = answer.split(b"\r\n\r\n", 1)
    assert b"application/json" in head
    error = json.loads(body)
    assert error["type"] == "error"  # Anthropic's shape ...
    assert {"message", "type", "param", "code"} <= set(error["error"])  # ... and OpenAI's


async def test_a_body_that_stops_arriving_is_a_408() -> None:
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b'{"mo', "more_body": True}
        await asyncio.Event().wait()  # the client never sends the rest
        raise AssertionError("unreachable")

    request = Request({"type": "http", "method": "POST", "path": "/", "headers": []}, receive)
    with pytest.raises(GatewayError) as raised:
        await read_json(request, 1024, timeout_s=0.05)
    assert raised.value.status == 408


# ------------------------------------------------------------------------ attribution


def test_attribution_values_share_one_length_cap() -> None:
    long = "t" * 10_000
    headers = {"x-tokenthrift-team": long, "x-tokenthrift-task": long}
    request = ChatRequest(model="m", messages=[], metadata={"user": long, "customer": long})
    who = attribution_for(headers, request)
    for value in (who.team, who.task, who.user, who.customer):
        assert value == "t" * MAX_ATTRIBUTION_CHARS


def test_tags_are_deduplicated_in_order_and_capped() -> None:
    header = ",".join(["b", "a", "b", " a ", ""] + [f"t{i}" for i in range(100)])
    who = attribution_for({"x-tokenthrift-tags": header}, None)
    assert who.tags[:3] == ["b", "a", "t0"] and len(who.tags) == MAX_TAGS
    request = ChatRequest(model="m", messages=[], metadata={"tags": ["x", "x", "y" * 999]})
    assert attribution_for({}, request).tags == ["x", "y" * MAX_ATTRIBUTION_CHARS]


def test_blank_header_falls_back_to_metadata() -> None:
    request = ChatRequest(model="m", messages=[], metadata={"team": "search"})
    assert attribution_for({"x-tokenthrift-team": "  "}, request).team == "search"
    assert attribution_for({"x-tokenthrift-team": "ads"}, request).team == "ads"  # header wins
