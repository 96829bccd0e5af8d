"""The exact cache seen through the official SDKs: a stored answer is served in either
wire format (streamed if asked), priced at ~0 with the whole call saved, only to the
same tenant, never for errors or cut answers, and controllable per request."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from gateway_harness import CLIENT_KEY, RunningGateway, config_for, levers_with, running_gateway
from tokenthrift.emulator import Fault
from tokenthrift.levers.cache import CacheLever, CacheSettings
from tokenthrift.levers.cache.backends.memory import MemoryBackend

MASTER_KEY = "mk-cache-tests-4b1e"
SYSTEM = "You are a terse assistant."


def _config(tmp: Path, **cache: Any) -> Any:
    return config_for(tmp, {"master_key": MASTER_KEY, "cache": cache} if cache
                      else {"master_key": MASTER_KEY})


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with running_gateway(_config(tmp_path_factory.mktemp("cache-gw"))) as running:
        yield running


class Clock:
    """Wall-clock seconds for the cache lever and its backend, moved by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def clocked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningGateway, Clock]]:
    """A gateway whose cache reads time from a clock the test advances (TTL expiry)."""
    config = _config(tmp_path_factory.mktemp("cache-clocked"))
    settings, clock = CacheSettings.from_config(config), Clock()
    cache = CacheLever(settings, MemoryBackend(settings.capacity, clock=clock), clock=clock)
    with running_gateway(config, levers=levers_with(config, cache=cache)) as running:
        yield running, clock


def upstream_calls(gw: RunningGateway) -> int:
    return int(gw.emulator.stats()["requests"])


def question() -> str:
    """A prompt no other test sends, so tests sharing a gateway never share entries; the
    emulator answers it in a few words (well within max_tokens)."""
    return (f"What is the capital of France? ({uuid.uuid4().hex[:8]}) "
            "[[emulator:reply=Paris is the capital of France.]]")


def ask_openai(gw: RunningGateway, text: str, *, client: openai.OpenAI | None = None,
               headers: dict[str, str] | None = None, **params: Any) -> Any:
    params = {"model": "gpt-4o", "max_tokens": 64, "temperature": 0, **params}
    return (client or gw.openai()).chat.completions.with_raw_response.create(
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}],
        extra_headers=headers or {}, **params)


def status(raw: Any) -> str:
    return str(raw.headers["x-tokenthrift-cache"])


def test_exact_hit_across_wire_formats_and_streams(gw: RunningGateway) -> None:
    text = question()
    first = ask_openai(gw, text)
    answer = first.parse().choices[0].message.content
    assert status(first) == "miss" and answer
    calls = upstream_calls(gw)

    # The equivalent Anthropic request (max_tokens stated in both, temperature 0).
    # (this SDK version has no temperature argument: sent as a body field)
    raw = gw.anthropic().messages.with_raw_response.create(
        model="gpt-4o", max_tokens=64, extra_body={"temperature": 0}, system=SYSTEM,
        messages=[{"role": "user", "content": text}])
    assert raw.headers["x-tokenthrift-cache"] == "exact"
    block = raw.parse().content[0]
    assert block.type == "text" and block.text == answer

    stream = gw.openai().chat.completions.with_raw_response.create(
        model="gpt-4o", max_tokens=64, temperature=0, stream=True,
        stream_options={"include_usage": True},
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}])
    assert stream.headers["x-tokenthrift-cache"] == "exact"
    chunks = list(stream.parse())
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == answer
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0

    with gw.anthropic().messages.stream(
        model="gpt-4o", max_tokens=64, extra_body={"temperature": 0}, system=SYSTEM,
        messages=[{"role": "user", "content": text}],
    ) as anthropic_stream:
        assert "".join(anthropic_stream.text_stream) == answer
    assert upstream_calls(gw) == calls


def test_a_hit_costs_nothing_and_saves_the_whole_call(gw: RunningGateway) -> None:
    text = question()
    first = ask_openai(gw, text)
    hit = ask_openai(gw, text)
    assert status(hit) == "exact"
    assert float(hit.headers["x-tokenthrift-cost-usd"]) == 0
    saved = float(hit.headers["x-tokenthrift-saved-usd"])
    assert saved > 0 and saved == pytest.approx(float(first.headers["x-tokenthrift-cost-usd"]))
    # The body tells the usage of the call that produced the answer.
    assert hit.parse().usage == first.parse().usage
    assert hit.parse().id != first.parse().id

    row = gw.ledger_row(hit.headers["x-tokenthrift-request-id"])
    original = gw.ledger_row(first.headers["x-tokenthrift-request-id"])
    assert row.cache_status == "exact" and original.cache_status == "miss"
    assert row.cost_usd == 0 and row.input_tokens == 0 and row.output_tokens == 0
    assert row.baseline_cost_usd == pytest.approx(original.cost_usd)
    assert row.savings["exact_cache"] == pytest.approx(original.cost_usd)
    assert row.saved_usd == pytest.approx(original.cost_usd)
    assert row.requested_model == "gpt-4o" and row.served_model == "gpt-4o"


@pytest.mark.parametrize("change", [
    {"model": "gpt-4o-mini"}, {"temperature": 0.7}, {"max_tokens": 65}, {"seed": 1},
    {"stop": ["."]}, {"top_p": 0.5}, {"response_format": {"type": "json_object"}},
])
def test_no_hit_when_an_answer_changing_parameter_differs(
    gw: RunningGateway, change: dict[str, Any]
) -> None:
    text = question()
    assert status(ask_openai(gw, text)) == "miss"
    assert status(ask_openai(gw, text)) == "exact"  # unchanged, the stored answer is served
    assert status(ask_openai(gw, text, **change)) == "miss"
    assert status(ask_openai(gw, text, **change)) == "exact"  # …and that one is stored too


def test_tenants_never_share_answers(gw: RunningGateway) -> None:
    text = question()
    other = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-another-tenant", max_retries=0)
    assert status(ask_openai(gw, text)) == "miss"
    assert status(ask_openai(gw, text)) == "exact"  # the same key is served its answer…
    assert status(ask_openai(gw, text, client=other)) == "miss"  # …another key is not
    assert status(ask_openai(gw, text, client=other)) == "exact"
    # Team headers do not widen the default key scope.
    assert status(ask_openai(gw, text, client=other,
                             headers={"x-tokenthrift-team": "search"})) == "exact"


def test_team_scope_shares_within_a_team_only(tmp_path: Path) -> None:
    with running_gateway(_config(tmp_path, scope="team")) as gw:
        text = question()
        alice = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-alice", max_retries=0)
        bob = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-bob", max_retries=0)
        ask_openai(gw, text, client=alice, headers={"x-tokenthrift-team": "search"})
        assert status(ask_openai(gw, text, client=bob,
                                 headers={"x-tokenthrift-team": "search"})) == "exact"
        assert status(ask_openai(gw, text, client=bob,
                                 headers={"x-tokenthrift-team": "billing"})) == "miss"
        # Without a team the request is isolated by its key: alice's own answer is served
        # to her, not to bob.
        assert status(ask_openai(gw, text, client=alice)) == "miss"
        assert status(ask_openai(gw, text, client=alice)) == "exact"
        assert status(ask_openai(gw, text, client=bob)) == "miss"


def test_same_follow_up_after_different_turns_is_no_hit(gw: RunningGateway) -> None:
    follow_up = f"And its population? ({uuid.uuid4().hex[:8]}) [[emulator:reply=Millions.]]"

    def ask(country: str) -> Any:
        return gw.openai().chat.completions.with_raw_response.create(
            model="gpt-4o", max_tokens=64, messages=[
                {"role": "user", "content": f"What is the capital of {country}?"},
                {"role": "assistant", "content": "Paris." if country == "France" else "Rome."},
                {"role": "user", "content": follow_up}])

    assert status(ask("France")) == "miss"
    assert status(ask("Italy")) == "miss"
    assert status(ask("France")) == "exact"


def test_entries_expire(clocked: tuple[RunningGateway, Clock]) -> None:
    gw, clock = clocked
    text = question()
    assert status(ask_openai(gw, text, headers={"x-tokenthrift-cache-ttl": "30"})) == "miss"
    clock.now += 29
    assert status(ask_openai(gw, text)) == "exact"  # before its TTL the answer is served
    clock.now += 2
    assert status(ask_openai(gw, text)) == "miss"


def test_errors_are_not_cached(gw: RunningGateway) -> None:
    text = question()
    gw.emulator.add_fault(Fault(kind="status", status=400, model="gpt-4o", count=1))
    with pytest.raises(openai.BadRequestError):
        ask_openai(gw, text)
    calls = upstream_calls(gw)
    assert status(ask_openai(gw, text)) == "miss"
    assert upstream_calls(gw) == calls + 1
    assert status(ask_openai(gw, text)) == "exact"  # the successful answer was stored


def test_cut_streams_are_not_cached(gw: RunningGateway) -> None:
    text = question()
    gw.emulator.add_fault(Fault(kind="disconnect", model="gpt-4o", count=1, after_chunks=3))
    raw = ask_openai(gw, text, stream=True)
    with pytest.raises(openai.APIError):
        for _ in raw.parse():
            pass
    assert status(ask_openai(gw, text)) == "miss"
    # A stream that completes with upstream usage is stored.
    text = question()
    assert list(ask_openai(gw, text, stream=True).parse())
    assert status(ask_openai(gw, text)) == "exact"


def test_answers_cut_by_max_tokens_are_not_cached(gw: RunningGateway) -> None:
    text = f"Count to eight. ({uuid.uuid4().hex[:8]}) [[emulator:reply=one two three four five six seven eight]]"
    first = ask_openai(gw, text, max_tokens=3)
    assert first.parse().choices[0].finish_reason == "length"
    assert status(ask_openai(gw, text, max_tokens=3)) == "miss"
    # With room to finish, the same question's answer is stored and served.
    complete = ask_openai(gw, text, max_tokens=64)
    assert complete.parse().choices[0].finish_reason == "stop"
    assert status(ask_openai(gw, text, max_tokens=64)) == "exact"


def test_n_choices_are_stored_and_served_together(gw: RunningGateway) -> None:
    text = question()
    first = ask_openai(gw, text, n=2).parse()
    hit = ask_openai(gw, text, n=2)
    assert status(hit) == "exact"
    served = hit.parse()
    assert len(served.choices) == 2
    assert [c.message.content for c in served.choices] == [c.message.content for c in first.choices]


def test_per_request_controls(gw: RunningGateway) -> None:
    text = question()
    off = {"x-tokenthrift-cache": "off"}
    assert status(ask_openai(gw, text, headers=off)) == "miss"
    assert status(ask_openai(gw, text, headers=off)) == "miss"  # nothing was stored
    assert status(ask_openai(gw, text, headers={"cache-control": "no-store"})) == "miss"
    assert status(ask_openai(gw, text)) == "miss"  # no-store stored nothing either
    assert status(ask_openai(gw, text)) == "exact"

    calls = upstream_calls(gw)
    refreshed = ask_openai(gw, text + " (reworded)")  # another key
    assert status(refreshed) == "miss"
    for directive in ({"x-tokenthrift-cache": "refresh"}, {"cache-control": "no-cache"}):
        assert status(ask_openai(gw, text, headers=directive)) == "miss"
    assert status(ask_openai(gw, text, headers={"x-tokenthrift-cache": "exact"})) == "exact"
    assert upstream_calls(gw) == calls + 3


def test_refresh_replaces_the_stored_answer(clocked: tuple[RunningGateway, Clock]) -> None:
    gw, clock = clocked
    text, untouched = question(), question()
    for prompt in (text, untouched):
        ask_openai(gw, prompt, headers={"x-tokenthrift-cache-ttl": "30"})
    calls = upstream_calls(gw)
    refreshed = ask_openai(gw, text, headers={"x-tokenthrift-cache": "refresh"})
    assert status(refreshed) == "miss" and upstream_calls(gw) == calls + 1
    clock.now += 31  # past the first entries' TTL: the unrefreshed one is gone…
    assert status(ask_openai(gw, untouched)) == "miss"
    served = ask_openai(gw, text)  # …the refreshed one (default TTL, 1 h) lives on
    assert status(served) == "exact"
    assert served.parse().choices[0].message.content == (
        refreshed.parse().choices[0].message.content)


def test_malformed_directive_is_a_400_in_the_clients_format(gw: RunningGateway) -> None:
    with pytest.raises(openai.BadRequestError) as excinfo:
        ask_openai(gw, question(), headers={"x-tokenthrift-cache": "sometimes"})
    assert "x-tokenthrift-cache" in str(excinfo.value)
    with pytest.raises(anthropic.BadRequestError):
        gw.anthropic().messages.create(
            model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": "hi"}],
            extra_headers={"x-tokenthrift-cache-ttl": "forever"})


def _admin(gw: RunningGateway, method: str, query: str = "", key: str = MASTER_KEY
           ) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(f"{gw.url}/admin/cache{query}", method=method,
                                     headers={"authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_admin_api_clears_by_scope_and_model(tmp_path: Path) -> None:
    with running_gateway(_config(tmp_path)) as gw:
        other = openai.OpenAI(base_url=gw.url + "/v1", api_key="sk-other", max_retries=0)
        text = question()
        for client in (gw.openai(), other):
            ask_openai(gw, text, client=client)
            ask_openai(gw, text, client=client, model="gpt-4o-mini")
        assert _admin(gw, "DELETE", key="wrong")[0] == 401
        code, body = _admin(gw, "GET")
        assert code == 200 and body["entries"] == 4 and body["backend"] == "memory"

        from tokenthrift.server.attribution import key_id

        scope = f"key:{key_id(CLIENT_KEY)}"
        assert _admin(gw, "DELETE", f"?scope={scope}&model=gpt-4o")[1]["removed"] == 1
        assert status(ask_openai(gw, text)) == "miss"
        assert status(ask_openai(gw, text, client=other)) == "exact"
        assert _admin(gw, "DELETE", "?model=gpt-4o-mini")[1]["removed"] == 2
        assert status(ask_openai(gw, text, client=other, model="gpt-4o-mini")) == "miss"
        assert _admin(gw, "DELETE")[1]["removed"] == 3
        assert _admin(gw, "GET")[1]["entries"] == 0
