"""Bad input and bad upstreams: the client gets its own wire format's error JSON with the
right status, retries and fallbacks happen, and nothing answered is lost."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from gateway_harness import CLIENT_KEY, RunningGateway, config_for, running_gateway
from tokenthrift.emulator import Fault

PROVIDER_KEY = "emu-provider-secret-93b1"


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"content-type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    raw = {
        "providers": {"emu": {"type": "emulator", "api_key": PROVIDER_KEY}},
        "models": [
            {"name": "gpt-4o", "provider": "emu", "fallbacks": ["claude-haiku-4-5"]},
            {"name": "*", "provider": "emu"},
        ],
        "retry": {"max_retries": 2, "backoff_s": 0.01, "max_backoff_s": 0.05},
        "max_body_bytes": 200_000,
    }
    tmp = tmp_path_factory.mktemp("gw-errors")
    with running_gateway(config_for(tmp, raw)) as running:
        running.emulator.clear_faults() if hasattr(running.emulator, "clear_faults") else None
        yield running


def test_malformed_json_gets_openai_400(gw: RunningGateway) -> None:
    status, body = _post(gw.url + "/v1/chat/completions", b"{not json", {})
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    assert "JSON" in body["error"]["message"]


def test_malformed_json_gets_anthropic_400(gw: RunningGateway) -> None:
    status, body = _post(gw.url + "/v1/messages", b"[1, 2", {"anthropic-version": "2023-06-01"})
    assert status == 400
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"


def test_missing_fields_are_400_with_param(gw: RunningGateway) -> None:
    with pytest.raises(openai.BadRequestError) as excinfo:
        gw.openai().chat.completions.create(model="gpt-4o-mini", messages=[])
    assert excinfo.value.status_code == 400
    status, body = _post(gw.url + "/v1/chat/completions", json.dumps({"model": "gpt-4o"}).encode(), {})
    assert status == 400 and body["error"]["param"] == "messages"
    with pytest.raises(anthropic.BadRequestError):
        gw.anthropic().messages.create(model="claude-haiku-4-5", max_tokens=0,
                                       messages=[{"role": "user", "content": "x"}])
    status, body = _post(gw.url + "/v1/messages", json.dumps(
        {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": "x"}]}).encode(), {})
    assert status == 400 and "max_tokens" in body["error"]["message"]


def test_unknown_model_is_404_in_both_formats(gw: RunningGateway) -> None:
    with pytest.raises(openai.NotFoundError) as excinfo:
        gw.openai().chat.completions.create(model="no-such-model-xyz",
                                            messages=[{"role": "user", "content": "x"}])
    assert excinfo.value.status_code == 404
    with pytest.raises(anthropic.NotFoundError):
        gw.anthropic().messages.create(model="claude-no-such-model", max_tokens=10,
                                       messages=[{"role": "user", "content": "x"}])


def test_body_too_large_is_413(gw: RunningGateway) -> None:
    big = json.dumps({"model": "gpt-4o-mini",
                      "messages": [{"role": "user", "content": "x" * 300_000}]}).encode()
    status, body = _post(gw.url + "/v1/chat/completions", big, {})
    assert status == 413 and "error" in body


def test_upstream_429_is_retried_then_succeeds(gw: RunningGateway) -> None:
    gw.emulator.add_fault(Fault(kind="status", status=429, model="gpt-4o-mini", count=1,
                                retry_after=0.01))
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "retry me"}])
    assert raw.parse().choices[0].message.content
    row = gw.ledger_row(raw.headers["x-tokenthrift-request-id"])
    assert row.retries == 1 and row.status == 200


def test_upstream_500s_fall_back_to_the_next_model(gw: RunningGateway) -> None:
    gw.emulator.add_fault(Fault(kind="status", status=500, model="gpt-4o", count=3))
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": "fall back [[emulator:reply=ok]]"}])
    assert raw.parse().choices[0].message.content == "ok"
    assert raw.headers["x-tokenthrift-served-model"] == "claude-haiku-4-5"
    row = gw.ledger_row(raw.headers["x-tokenthrift-request-id"])
    assert row.fallback_used and row.retries == 2
    assert row.requested_model == "gpt-4o" and row.served_model == "claude-haiku-4-5"


def test_exhausted_upstream_errors_become_502_not_500(gw: RunningGateway) -> None:
    gw.emulator.add_fault(Fault(kind="status", status=500, model="gpt-4.1-nano", count=3))
    with pytest.raises(openai.InternalServerError) as excinfo:
        gw.openai().chat.completions.create(model="gpt-4.1-nano",
                                            messages=[{"role": "user", "content": "x"}])
    assert excinfo.value.status_code == 502


def test_rate_limit_after_retries_is_429_with_retry_after(gw: RunningGateway) -> None:
    gw.emulator.add_fault(Fault(kind="status", status=429, model="gpt-4.1-mini", count=3,
                                retry_after=0.01))
    with pytest.raises(anthropic.RateLimitError) as excinfo:
        gw.anthropic().messages.create(model="gpt-4.1-mini", max_tokens=20,
                                       messages=[{"role": "user", "content": "x"}])
    assert excinfo.value.status_code == 429
    assert excinfo.value.response.headers.get("retry-after")
    assert excinfo.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


def test_mid_stream_disconnect_is_reported_and_estimated(gw: RunningGateway) -> None:
    gw.emulator.add_fault(Fault(kind="disconnect", model="gpt-4o-mini", count=1, after_chunks=3))
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="gpt-4o-mini", stream=True,
        messages=[{"role": "user", "content": "long answer please"}])
    request_id = raw.headers["x-tokenthrift-request-id"]
    with pytest.raises(openai.APIError):
        for _ in raw.parse():
            pass
    row = gw.ledger_row(request_id)
    assert row.usage_estimated and row.status == 502
    assert row.error_class == "stream_interrupted"
    assert row.input_tokens > 0


def test_mid_stream_disconnect_anthropic_client(gw: RunningGateway) -> None:
    gw.emulator.add_fault(Fault(kind="disconnect", model="claude-haiku-4-5", count=1,
                                after_chunks=4))
    with pytest.raises(anthropic.APIError), gw.anthropic().messages.stream(
        model="claude-haiku-4-5", max_tokens=200,
        messages=[{"role": "user", "content": "long answer please"}],
    ) as stream:
        for _ in stream.text_stream:
            pass


def test_no_secret_reaches_ledger_or_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    raw = {"providers": {"emu": {"type": "emulator", "api_key": PROVIDER_KEY}},
           "models": [{"name": "*", "provider": "emu"}],
           "storage": {"ledger": f"sqlite:///{tmp_path}/ledger.db", "prompts": "full"}}
    with running_gateway(config_for(tmp_path, raw)) as gw:
        gw.openai().chat.completions.create(model="gpt-4o-mini",
                                            messages=[{"role": "user", "content": "hello"}])
        with pytest.raises(openai.NotFoundError):
            gw.openai().chat.completions.create(model="missing-model",
                                                messages=[{"role": "user", "content": "x"}])
        gw.anthropic().messages.create(model="claude-haiku-4-5", max_tokens=20,
                                       messages=[{"role": "user", "content": "hi"}])
        gw.gateway.writer.flush()
        rows = gw.gateway.ledger.rows()
        assert len(rows) == 3
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    for secret in (CLIENT_KEY, PROVIDER_KEY):
        assert secret.encode() not in stored
        assert secret not in caplog.text
        assert all(secret not in repr(row) for row in rows)
    assert b"hello" in stored  # prompts: full does store the prompt itself


def test_upstream_timeout_is_retried_then_504(tmp_path: Path) -> None:
    raw = {
        "providers": {"emu": {"type": "emulator"}},
        "models": [{"name": "*", "provider": "emu"}],
        "retry": {"max_retries": 1, "backoff_s": 0.01},
        "timeout_s": 0.3,
        "deadline_s": 5,
    }
    with running_gateway(config_for(tmp_path, raw)) as gw:
        gw.emulator.add_fault(Fault(kind="timeout", model="gpt-4o-mini", count=2))
        with pytest.raises(openai.APIStatusError) as excinfo:
            gw.openai().chat.completions.create(model="gpt-4o-mini",
                                                messages=[{"role": "user", "content": "x"}])
        assert excinfo.value.status_code == 504
        gw.emulator.add_fault(Fault(kind="timeout", model="gpt-4o-mini", count=1))
        raw_response = gw.openai().chat.completions.with_raw_response.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "second try works"}])
        row = gw.ledger_row(raw_response.headers["x-tokenthrift-request-id"])
        assert row.retries == 1 and row.status == 200


def test_stream_stalled_before_first_event_is_retried(tmp_path: Path) -> None:
    raw = {
        "providers": {"emu": {"type": "emulator"}},
        "models": [{"name": "*", "provider": "emu"}],
        "retry": {"max_retries": 1, "backoff_s": 0.01},
        "timeout_s": 0.3,
        "deadline_s": 5,
    }
    with running_gateway(config_for(tmp_path, raw)) as gw:
        gw.emulator.add_fault(Fault(kind="timeout", model="gpt-4o-mini", count=1))
        raw_response = gw.openai().chat.completions.with_raw_response.create(
            model="gpt-4o-mini", stream=True,
            messages=[{"role": "user", "content": "x [[emulator:reply=after a stall]]"}])
        chunks = list(raw_response.parse())
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == \
            "after a stall"
        row = gw.ledger_row(raw_response.headers["x-tokenthrift-request-id"])
        assert row.retries == 1 and row.status == 200
