"""Bad input over HTTP: a clear error in the client's wire format, with the right status.

Never a 500, a hang, a stack trace or a non-JSON body; every request that reached the
pipeline still leaves a ledger row. Table-driven over both wire formats, the embeddings
endpoint, routing and the admin API, plus a bounded hypothesis run on the chat endpoints.
"""

from __future__ import annotations

import copy
import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.requests import Request

from gateway_harness import RunningGateway, config_for, running_gateway
from tokenthrift.errors import InvalidRequest
from tokenthrift.server.http import read_json

MASTER_KEY = "mk-bad-input-0a1b2c"
OPENAI = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
ANTHROPIC = {"model": "claude-3-5-haiku-latest", "max_tokens": 16,
             "messages": [{"role": "user", "content": "hi"}]}
CHAT = "/v1/chat/completions"
MESSAGES = "/v1/messages"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    tmp: Path = tmp_path_factory.mktemp("bad_input")
    with running_gateway(config_for(tmp, {"master_key": MASTER_KEY,
                                                "max_body_bytes": 1024 * 1024})) as running:
        yield running


def send(gw: RunningGateway, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(gw.url.split("//", 1)[1], timeout=30)
    try:
        connection.request(method, path, body=body,
                           headers={"content-type": "application/json", **(headers or {})})
        answer = connection.getresponse()
        raw = answer.read()
    finally:
        connection.close()
    return answer.status, json.loads(raw)  # every answer here is JSON, errors included


def with_field(base: dict[str, Any], value: Any, *path: str | int) -> bytes:
    body = copy.deepcopy(base)
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(body).encode()


def assert_error_shape(wire: str, body: Any) -> dict[str, Any]:
    if wire == "anthropic":
        assert body["type"] == "error", body
        error = body["error"]
        assert isinstance(error["type"], str) and isinstance(error["message"], str), body
    else:
        error = body["error"]
        assert set(error) >= {"message", "type", "param", "code"}, body
        assert isinstance(error["message"], str) and error["message"], body
    assert "Traceback" not in error["message"]
    return error  # type: ignore[no-any-return]


# (id, method, path, body, headers, status, wire, expected param or None)
Case = tuple[str, str, str, bytes | None, dict[str, str], int, str, str | None]
OA, AN = "openai", "anthropic"
ADMIN = {"authorization": f"Bearer {MASTER_KEY}"}
TOOL_USE = {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f",
                                              "input": {}}]}

CASES: list[Case] = [
    # body framing, both chat formats
    ("oa-not-json", "POST", CHAT, b"not json", {}, 400, OA, None),
    ("oa-empty-body", "POST", CHAT, b"", {}, 400, OA, None),
    ("oa-top-list", "POST", CHAT, b"[]", {}, 400, OA, None),
    ("oa-top-null", "POST", CHAT, b"null", {}, 400, OA, None),
    ("oa-invalid-utf8", "POST", CHAT, b'{"model": "\xff"}', {}, 400, OA, None),
    ("oa-deep-nesting", "POST", CHAT, b"[" * 50_000 + b"]" * 50_000, {}, 400, OA, None),
    # regression (issue #8): 1,000 deep passed the parser and 500'd in recursive code
    ("oa-deep-logit-bias", "POST", CHAT, json.dumps({**OPENAI, "logit_bias": "DEEP"}).replace(
        '"DEEP"', "[" * 1000 + "]" * 1000).encode(), {}, 400, OA, None),
    ("an-deep-metadata", "POST", MESSAGES, json.dumps({**ANTHROPIC, "metadata": "DEEP"}).replace(
        '"DEEP"', '{"a":' * 999 + "{}" + "}" * 999).encode(), {}, 400, AN, None),
    # regression (issue #8): the gateway's own notes could be set by the client
    ("oa-wire-notes", "POST", CHAT, with_field(OPENAI, {"max_tokens_field": "seed"}, "_wire"), {},
     400, OA, "_wire"),
    ("oa-wire-notes-malformed", "POST", CHAT, with_field(OPENAI, {"strict_tools": 5}, "_wire"),
     {}, 400, OA, "_wire"),
    ("an-private-key", "POST", MESSAGES, with_field(ANTHROPIC, 1, "_anything"), {}, 400, AN,
     None),
    ("an-not-json", "POST", MESSAGES, b"{", {}, 400, AN, None),
    ("an-top-string", "POST", MESSAGES, b'"hi"', {}, 400, AN, None),
    ("an-gzip-garbage", "POST", MESSAGES, b"\x1f\x8b\x08garbage", {"content-encoding": "gzip"},
     400, AN, None),
    # OpenAI fields of the wrong type or value
    ("oa-model-null", "POST", CHAT, with_field(OPENAI, None, "model"), {}, 400, OA, "model"),
    ("oa-model-int", "POST", CHAT, with_field(OPENAI, 5, "model"), {}, 400, OA, "model"),
    ("oa-messages-empty", "POST", CHAT, with_field(OPENAI, [], "messages"), {}, 400, OA,
     "messages"),
    ("oa-message-null", "POST", CHAT, with_field(OPENAI, [None], "messages"), {}, 400, OA,
     "messages[0]"),
    ("oa-role-bogus", "POST", CHAT, with_field(OPENAI, "bot", "messages", 0, "role"), {}, 400,
     OA, "messages[0].role"),
    ("oa-content-number", "POST", CHAT, with_field(OPENAI, 5, "messages", 0, "content"), {},
     400, OA, "messages[0].content"),
    ("oa-part-type", "POST", CHAT, with_field(OPENAI, [{"type": "audio"}], "messages", 0,
                                              "content"), {}, 400, OA, "messages[0].content[0].type"),
    ("oa-image-url-empty", "POST", CHAT,
     with_field(OPENAI, [{"type": "image_url", "image_url": {"url": ""}}], "messages", 0,
                "content"), {}, 400, OA, "messages[0].content[0].image_url.url"),
    ("oa-cache-control-ttl", "POST", CHAT,
     with_field(OPENAI, [{"type": "text", "text": "x",
                          "cache_control": {"type": "ephemeral", "ttl": "2h"}}],
                "messages", 0, "content"), {}, 400, OA, "messages[0].content[0].cache_control.ttl"),
    ("oa-tools-string", "POST", CHAT, with_field(OPENAI, "f", "tools"), {}, 400, OA, "tools"),
    ("oa-tool-choice", "POST", CHAT, with_field(OPENAI, "sometimes", "tool_choice"), {}, 400,
     OA, "tool_choice"),
    ("oa-response-format", "POST", CHAT, with_field(OPENAI, "json", "response_format"), {},
     400, OA, "response_format"),
    ("oa-stop-ints", "POST", CHAT, with_field(OPENAI, [1], "stop"), {}, 400, OA, "stop[0]"),
    ("oa-n-zero", "POST", CHAT, with_field(OPENAI, 0, "n"), {}, 400, OA, "n"),
    ("oa-max-tokens-neg", "POST", CHAT, with_field(OPENAI, -1, "max_tokens"), {}, 400, OA,
     "max_tokens"),
    ("oa-max-tokens-bool", "POST", CHAT, with_field(OPENAI, True, "max_tokens"), {}, 400, OA,
     "max_tokens"),
    ("oa-max-tokens-float", "POST", CHAT, with_field(OPENAI, 1.5, "max_tokens"), {}, 400, OA,
     "max_tokens"),
    ("oa-temperature", "POST", CHAT, with_field(OPENAI, 3, "temperature"), {}, 400, OA,
     "temperature"),
    ("oa-stream-string", "POST", CHAT, with_field(OPENAI, "yes", "stream"), {}, 400, OA,
     "stream"),
    ("oa-stream-options", "POST", CHAT, with_field(OPENAI, [], "stream_options"), {}, 400, OA,
     "stream_options"),
    ("oa-metadata-list", "POST", CHAT, with_field(OPENAI, [], "metadata"), {}, 400, OA,
     "metadata"),
    ("oa-unknown-model", "POST", CHAT, with_field(OPENAI, "no-such-model", "model"), {}, 404,
     OA, None),
    ("oa-cache-header", "POST", CHAT, json.dumps(OPENAI).encode(),
     {"x-tokenthrift-cache": "bogus"}, 400, OA, "x-tokenthrift-cache"),
    ("oa-cache-ttl-header", "POST", CHAT, json.dumps(OPENAI).encode(),
     {"x-tokenthrift-cache-ttl": "-1"}, 400, OA, "x-tokenthrift-cache-ttl"),
    ("oa-too-large", "POST", CHAT, with_field(OPENAI, "x" * (2 * 1024 * 1024), "pad"), {},
     413, OA, None),
    # Anthropic fields
    ("an-max-tokens-missing", "POST", MESSAGES, with_field(ANTHROPIC, None, "max_tokens"), {},
     400, AN, None),
    ("an-model-empty", "POST", MESSAGES, with_field(ANTHROPIC, "", "model"), {}, 400, AN, None),
    ("an-role-system", "POST", MESSAGES, with_field(ANTHROPIC, "system", "messages", 0, "role"),
     {}, 400, AN, None),
    ("an-system-image", "POST", MESSAGES, with_field(ANTHROPIC, [{"type": "image"}], "system"),
     {}, 400, AN, None),
    ("an-block-type", "POST", MESSAGES, with_field(ANTHROPIC, [{"type": "video"}], "messages", 0,
                                                   "content"), {}, 400, AN, None),
    ("an-image-source", "POST", MESSAGES,
     with_field(ANTHROPIC, [{"type": "image", "source": {"type": "ftp"}}], "messages", 0,
                "content"), {}, 400, AN, None),
    ("an-tool-result-no-id", "POST", MESSAGES,
     with_field(ANTHROPIC, [{"role": "user", "content": "q"}, TOOL_USE,
                            {"role": "user", "content": [{"type": "tool_result"}]}], "messages"),
     {}, 400, AN, None),
    ("an-cache-control-type", "POST", MESSAGES,
     with_field(ANTHROPIC, [{"type": "text", "text": "s", "cache_control": {"type": "forever"}}],
                "system"), {}, 400, AN, None),
    ("an-thinking-no-budget", "POST", MESSAGES, with_field(ANTHROPIC, {"type": "enabled"},
                                                           "thinking"), {}, 400, AN, None),
    ("an-tool-choice", "POST", MESSAGES, with_field(ANTHROPIC, {"type": "sometimes"},
                                                    "tool_choice"), {}, 400, AN, None),
    ("an-top-k-negative", "POST", MESSAGES, with_field(ANTHROPIC, -1, "top_k"), {}, 400, AN,
     None),
    ("an-temperature", "POST", MESSAGES, with_field(ANTHROPIC, 1.5, "temperature"), {}, 400, AN,
     None),
    ("an-metadata-user-id", "POST", MESSAGES, with_field(ANTHROPIC, {"user_id": 5}, "metadata"),
     {}, 400, AN, None),
    ("an-cache-header", "POST", MESSAGES, json.dumps(ANTHROPIC).encode(),
     {"x-tokenthrift-cache-ttl": "nan"}, 400, AN, None),
    # embeddings
    ("emb-input-number", "POST", "/v1/embeddings", b'{"model": "text-embedding-3-small", '
     b'"input": 5}', {}, 400, OA, "input"),
    ("emb-dimensions", "POST", "/v1/embeddings", b'{"model": "text-embedding-3-small", '
     b'"input": "x", "dimensions": -1}', {}, 400, OA, "dimensions"),
    # routing: unknown paths and wrong methods answer in the client's format
    ("unknown-path", "GET", "/v1/nope", None, {}, 404, OA, None),
    ("chat-wrong-method", "GET", CHAT, None, {}, 405, OA, None),
    ("messages-wrong-method", "GET", MESSAGES, None, {}, 405, AN, None),
    # regression: used to answer an Anthropic client with an OpenAI-shaped error
    ("messages-subpath", "POST", "/v1/messages/unknown/x", b"{}", {}, 404, AN, None),
    ("count-tokens-no-model", "POST", "/v1/messages/count_tokens", b"{}", {}, 400, AN, None),
    ("models-wrong-method", "POST", "/v1/models", b"{}", {}, 405, OA, None),
    # admin API
    ("admin-no-key", "GET", "/admin/keys", None, {}, 401, OA, None),
    ("admin-wrong-key", "GET", "/admin/budgets", None, {"authorization": "Bearer nope"}, 401,
     OA, None),
    ("admin-basic-auth", "DELETE", "/admin/cache", None, {"authorization": "Basic eDp5"}, 401,
     OA, None),
    ("admin-key-not-json", "POST", "/admin/keys", b"x", ADMIN, 400, OA, None),
    ("admin-key-unknown-field", "POST", "/admin/keys", b'{"colour": "red"}', ADMIN, 400, OA,
     None),
    # regression: expires_at beyond what a datetime holds was stored, then 500'd rendering
    ("admin-key-expiry-huge", "POST", "/admin/keys", b'{"expires_at": 1e308}', ADMIN, 400, OA,
     None),
    ("admin-key-expiry-year-9999", "POST", "/admin/keys",
     b'{"expires_at": "9999-12-31T23:59:59-12:00"}', ADMIN, 400, OA, None),
    ("admin-budget-usd", "POST", "/admin/budgets",
     b'{"scope": "team", "id": "t", "usd": "lots", "period": "day"}', ADMIN, 400, OA, None),
    ("admin-budget-scope", "POST", "/admin/budgets", b'{"scope": "planet", "id": "t", "usd": 1}',
     ADMIN, 400, OA, None),
    ("admin-budget-delete-period", "DELETE", "/admin/budgets/team/t?period=century", None,
     ADMIN, 400, OA, None),
    ("admin-key-revoke-unknown", "DELETE", "/admin/keys/key_nope", None, ADMIN, 404, OA, None),
    ("admin-wrong-method", "PUT", "/admin/keys", b"{}", ADMIN, 405, OA, None),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_error(gw: RunningGateway, case: Case) -> None:
    _, method, path, body, headers, status, wire, param = case
    got, answer = send(gw, method, path, body, headers)
    assert got == status, answer
    error = assert_error_shape(wire, answer)
    if param is not None:
        assert error["param"] == param, answer


def test_pipeline_errors_leave_ledger_rows(gw: RunningGateway) -> None:
    """Bad input caught inside the pipeline (a cache directive, an unknown model) is
    still one ledger row each."""
    gw.gateway.writer.flush()
    before = len(gw.gateway.ledger.rows(limit=100_000))
    assert send(gw, "POST", CHAT, json.dumps(OPENAI).encode(),
                {"x-tokenthrift-cache": "bogus"})[0] == 400
    assert send(gw, "POST", MESSAGES, with_field(ANTHROPIC, "no-such-model", "model"))[0] == 404
    gw.gateway.writer.flush()
    assert len(gw.gateway.ledger.rows(limit=100_000)) == before + 2


def test_nul_bytes_reach_the_postgres_ledger(tmp_path: Path, postgres_url: str,
                                            postgres_schema: str) -> None:
    """Regression: PostgreSQL text cannot hold NUL, so a NUL in metadata or a model name
    made the ledger reject the row (lost), and in an admin field answered 500."""
    raw = {"storage": {"ledger": postgres_url, "ledger_schema": postgres_schema},
           "master_key": MASTER_KEY}
    with running_gateway(config_for(tmp_path, raw)) as pg:
        body = {**OPENAI, "metadata": {"team": "t\x00"}, "user": "u\x00"}
        assert send(pg, "POST", CHAT, json.dumps(body).encode())[0] == 200
        assert send(pg, "POST", MESSAGES, with_field(ANTHROPIC, "nope\x00", "model"))[0] == 404
        status, answer = send(pg, "POST", "/admin/budgets", json.dumps(
            {"scope": "team", "id": "t\x00", "usd": 1, "period": "day"}).encode(), ADMIN)
        assert status == 200, answer
        pg.gateway.writer.flush()
        rows = pg.gateway.ledger.rows()
        assert sorted(r.status for r in rows) == [200, 404]
        assert {r.team for r in rows} == {"t\ufffd", None}


async def test_client_disconnect_while_reading_the_body_is_bad_input() -> None:
    """Regression: a disconnect mid-body used to surface as an unexpected error (logged
    with a stack trace as a gateway bug)."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    request = Request({"type": "http", "method": "POST", "path": "/", "headers": []}, receive)
    with pytest.raises(InvalidRequest):
        await read_json(request, 1024)


# ------------------------------------------------------------------ bounded fuzzing

_LEAF = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
         | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
_KEYS = st.sampled_from(["type", "text", "role", "content", "name", "id", "input", "source",
                         "url", "data", "cache_control", "ttl", "function", "arguments",
                         "tool_use_id", "tool_call_id", "image_url", "include_usage"])
_JSON = st.recursive(_LEAF, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_KEYS | st.text(max_size=4), inner, max_size=3),
                     max_leaves=10)
_FIELDS = st.sampled_from(["model", "messages", "system", "tools", "tool_choice", "stop",
                           "stop_sequences", "n", "max_tokens", "temperature", "stream_options",
                           "response_format", "metadata", "thinking", "top_k", "user"])


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(wire=st.sampled_from([OA, AN]), stream=st.booleans(),
       mutations=st.lists(st.tuples(st.integers(0, 40), _FIELDS, _JSON), min_size=1, max_size=3))
def test_chat_endpoints_never_answer_5xx(gw: RunningGateway, wire: str, stream: bool,
                                         mutations: list[tuple[int, str, Any]]) -> None:
    body: dict[str, Any] = copy.deepcopy(OPENAI if wire == OA else ANTHROPIC)
    body["stream"] = stream
    for where, field, value in mutations:  # overwrite a field somewhere in the body
        paths = list(_paths(body))
        target: Any = body
        for key in paths[where % len(paths)]:
            target = target[key]
        if isinstance(target, dict):
            target[field] = value
        elif isinstance(target, list) and target:
            target[where % len(target)] = value
    connection = http.client.HTTPConnection(gw.url.split("//", 1)[1], timeout=30)
    try:
        connection.request("POST", CHAT if wire == OA else MESSAGES, body=json.dumps(body),
                           headers={"content-type": "application/json"})
        answer = connection.getresponse()
        raw = answer.read()
    finally:
        connection.close()
    assert answer.status < 500, raw
    if answer.status >= 400:
        assert_error_shape(wire, json.loads(raw))


# Internal-looking fields, deep nesting, huge integers and wrong types in every field
# (issue #8). Deep values are spliced into the JSON text: json.dumps would recurse.
_RESERVED = st.sampled_from(["_wire", "_anything", "_", "__proto__", "_wire_notes"])
_NOTES = st.dictionaries(
    st.sampled_from(["max_tokens_field", "strict_tools", "server_tools", "legacy_max_tokens"]),
    st.sampled_from(["seed", "model", "max_tokens", "messages", "stream"]) | _JSON, max_size=3)
_HUGE = st.integers(2**63, 2**200) | st.integers(-(2**200), -(2**63)) | st.just(1e308)
_DEEP = st.tuples(st.integers(30, 1100), st.sampled_from(["list", "object"])).map(
    lambda spec: f"\x00DEEP{spec[0]}:{spec[1]}")
_ANY_FIELD = _FIELDS | _RESERVED | st.sampled_from(
    ["logit_bias", "max_completion_tokens", "tools", "top_p", "seed", "parallel_tool_calls",
     "reasoning_effort", "prompt_cache_key", "safety_identifier", "stop_sequences", "input"])
_VALUE = _JSON | _NOTES | _HUGE | _DEEP


def _splice_deep(text: str) -> str:
    """Replace each ``"\\u0000DEEP<n>:<kind>"`` string with a list or object n deep."""
    marker = '"\\u0000DEEP'
    while (start := text.find(marker)) != -1:
        end = text.index('"', start + 1)
        depth, kind = text[start + len(marker):end].split(":", 1)
        opener, closer = ("[", "]") if kind == "list" else ('{"a":', "}")
        nested = opener * int(depth) + "0" + closer * int(depth)
        text = text[:start] + nested + text[end + 1:]
    return text


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(wire=st.sampled_from([OA, AN]), stream=st.booleans(),
       mutations=st.lists(st.tuples(st.integers(0, 40), _ANY_FIELD, _VALUE), min_size=1,
                          max_size=3))
def test_internal_deep_and_huge_fields_never_answer_5xx(
        gw: RunningGateway, wire: str, stream: bool, mutations: list[tuple[int, str, Any]]
) -> None:
    body: dict[str, Any] = copy.deepcopy(OPENAI if wire == OA else ANTHROPIC)
    body["stream"] = stream
    for where, field, value in mutations:
        paths = [p for p in _paths(body) if isinstance(_at(body, p), dict)]
        _at(body, paths[where % len(paths)])[field] = value
    status, answer = _post_text(gw, CHAT if wire == OA else MESSAGES,
                                _splice_deep(json.dumps(body)))
    assert status < 500, answer
    if any(field.startswith("_") for path in _paths(body) if len(path) == 1
           for field in path if isinstance(field, str)):
        assert status == 400, answer  # a reserved top-level key is always refused
    if status >= 400:
        assert_error_shape(wire, answer)


def _at(body: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        body = body[key]
    return body


def _post_text(gw: RunningGateway, path: str, text: str) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(gw.url.split("//", 1)[1], timeout=30)
    try:
        connection.request("POST", path, body=text.encode(),
                           headers={"content-type": "application/json"})
        answer = connection.getresponse()
        raw = answer.read()
    finally:
        connection.close()
    if answer.status >= 400 or not body_is_stream(raw):
        return answer.status, json.loads(raw)
    return answer.status, raw


def body_is_stream(raw: bytes) -> bool:
    return raw.startswith((b"data:", b"event:"))
