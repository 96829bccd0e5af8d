"""The `openai` and `anthropic` provider types over real HTTP, with `tokenthrift emulator`
served on a socket as the upstream (what users run against real providers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import anthropic
import openai
import pytest

from gateway_harness import RunningGateway, config_for, running_gateway
from tokenthrift.emulator import Emulator, EmulatorConfig, Fault, create_app
from tokenthrift.server.runner import ServerThread

PROVIDER_KEY = "sk-upstream-secret-5d1e"


@pytest.fixture(scope="module")
def upstream() -> Iterator[Emulator]:
    emulator = Emulator(EmulatorConfig(api_keys=[PROVIDER_KEY]))
    server = ServerThread(create_app(emulator)).start()
    emulator.url = server.url  # type: ignore[attr-defined]
    yield emulator
    server.stop()


@pytest.fixture(scope="module")
def gw(upstream: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    url = upstream.url  # type: ignore[attr-defined]
    raw = {
        "providers": {
            "openai": {"type": "openai", "base_url": url + "/v1", "api_key": PROVIDER_KEY},
            "anthropic": {"type": "anthropic", "base_url": url, "api_key": PROVIDER_KEY},
        },
        "models": [
            {"name": "claude-*", "provider": "anthropic"},
            {"name": "fast", "provider": "openai", "upstream_model": "gpt-4o-mini"},
            {"name": "*", "provider": "openai"},
        ],
        "retry": {"max_retries": 1, "backoff_s": 0.01},
        "cache": {"exact": {"enabled": False}},
    }
    with running_gateway(config_for(tmp_path_factory.mktemp("net"), raw)) as running:
        yield running


def test_openai_provider_over_http(gw: RunningGateway) -> None:
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="fast", messages=[{"role": "user", "content": "x [[emulator:reply=over http]]"}])
    assert raw.parse().choices[0].message.content == "over http"
    assert raw.headers["x-tokenthrift-served-model"] == "gpt-4o-mini"
    row = gw.ledger_row(raw.headers["x-tokenthrift-request-id"])
    assert row.requested_model == "fast" and row.provider == "openai"
    assert row.cost_usd is not None and row.cost_usd > 0


def test_anthropic_provider_over_http_streaming(gw: RunningGateway) -> None:
    with gw.anthropic().messages.stream(
        model="claude-haiku-4-5", max_tokens=100,
        messages=[{"role": "user", "content": "x [[emulator:reply=streamed over http]]"}],
    ) as stream:
        assert "".join(stream.text_stream) == "streamed over http"
        assert stream.get_final_message().usage.output_tokens > 0
    chunks = list(gw.openai().chat.completions.create(
        model="claude-haiku-4-5", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "y [[emulator:reply=and back]]"}]))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "and back"
    assert chunks[-1].usage is not None


def test_http_upstream_cut_mid_stream(gw: RunningGateway, upstream: Emulator) -> None:
    upstream.add_fault(Fault(kind="disconnect", model="gpt-4.1-mini", count=1, after_chunks=3))
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="gpt-4.1-mini", stream=True, messages=[{"role": "user", "content": "long"}])
    with pytest.raises(openai.APIError):
        for _ in raw.parse():
            pass
    row = gw.ledger_row(raw.headers["x-tokenthrift-request-id"])
    assert row.usage_estimated and row.status == 502


def test_http_upstream_errors_keep_their_meaning(gw: RunningGateway, upstream: Emulator) -> None:
    upstream.add_fault(Fault(kind="status", status=529, model="claude-sonnet-4-5", count=2))
    with pytest.raises(anthropic.APIStatusError) as excinfo:
        gw.anthropic().messages.create(model="claude-sonnet-4-5", max_tokens=10,
                                       messages=[{"role": "user", "content": "x"}])
    assert excinfo.value.status_code == 502
    with pytest.raises(openai.NotFoundError):
        gw.openai().chat.completions.create(model="not-a-real-model",
                                            messages=[{"role": "user", "content": "x"}])


def test_bad_provider_credentials_are_a_gateway_problem(tmp_path: Path, upstream: Emulator) -> None:
    url = upstream.url  # type: ignore[attr-defined]
    raw = {"providers": {"openai": {"type": "openai", "base_url": url + "/v1",
                                    "api_key": "sk-wrong"}},
           "models": [{"name": "*", "provider": "openai"}]}
    with running_gateway(config_for(tmp_path, raw)) as gw:
        with pytest.raises(openai.InternalServerError) as excinfo:
            gw.openai().chat.completions.create(model="gpt-4o-mini",
                                                messages=[{"role": "user", "content": "x"}])
        assert excinfo.value.status_code == 502
        assert "credentials" in str(excinfo.value)
