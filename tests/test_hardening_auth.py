"""Every ``/v1`` route is behind the gateway's auth (issue #8, defect 2).

``POST /v1/messages/count_tokens`` skipped auth and forwarded the request upstream with
the provider key, so anyone who could reach the gateway could use its provider account.
Decision: ``/v1/models`` is behind auth too (it lists what the gateway serves, and a
wildcard route lists the provider account's models). ``/health`` stays open.
"""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import openai
import pytest

from gateway_harness import RunningGateway, running_gateway
from governance_harness import MODEL, call, create_key, governed_config

USER = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    config = governed_config(tmp_path_factory.mktemp("auth"), {"auth": "required"})
    with running_gateway(config) as running:
        yield running


def _anthropic(gw: RunningGateway, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0)


def _openai(gw: RunningGateway, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


def test_count_tokens_without_a_key_is_401_in_anthropic_format(gw: RunningGateway) -> None:
    status, body, _ = call(gw.url + "/v1/messages/count_tokens", "POST",
                           {"model": "claude-haiku-4-5", "messages": USER}, key=None)
    assert status == 401, body
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"


def test_count_tokens_with_an_unknown_key_is_refused(gw: RunningGateway) -> None:
    with pytest.raises(anthropic.AuthenticationError):
        _anthropic(gw, "tt-" + "x" * 43).messages.count_tokens(
            model="claude-haiku-4-5", messages=USER)  # type: ignore[arg-type]


def test_count_tokens_with_a_valid_key_control(gw: RunningGateway) -> None:
    key = create_key(gw.url)["key"]
    counted = _anthropic(gw, key).messages.count_tokens(
        model="claude-haiku-4-5", messages=USER)  # type: ignore[arg-type]
    assert counted.input_tokens > 0


def test_models_without_a_key_is_401(gw: RunningGateway) -> None:
    status, body, _ = call(gw.url + "/v1/models", key=None)
    assert status == 401 and body["error"]["type"] == "authentication_error", body


def test_models_with_a_valid_key_control(gw: RunningGateway) -> None:
    key = create_key(gw.url)["key"]
    assert MODEL in [m.id for m in _openai(gw, key).models.list()]


def test_chat_without_a_key_is_401_control(gw: RunningGateway) -> None:
    status, body, _ = call(gw.url + "/v1/chat/completions", "POST",
                           {"model": MODEL, "messages": USER}, key=None)
    assert status == 401 and body["error"]["type"] == "authentication_error", body
