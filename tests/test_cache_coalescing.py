"""In-flight coalescing: identical requests that arrive while the first is still being
answered wait for its answer instead of calling upstream — each with its own ledger row
and its saving under ``exact_cache`` — and a leader that fails fails only itself."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from gateway_harness import config_for, running_gateway
from tokenthrift import Attribution, build_gateway, openai_chat
from tokenthrift.emulator import Fault
from tokenthrift.levers.cache import CacheLever
from tokenthrift.pipeline import Gateway
from tokenthrift.types import TextDelta


def _config(tmp: Path, *, ttft_ms: float) -> Any:
    # The emulator's time to first token keeps the first request in flight while the
    # others arrive; nothing below asserts on time.
    return config_for(tmp, {
        "data_dir": str(tmp / "data"),
        "providers": {"emulator": {"type": "emulator", "emulator": {"ttft_ms": ttft_ms}}},
        "models": [{"name": "*", "provider": "emulator"}],
    })


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[Gateway]:
    built = build_gateway(_config(tmp_path, ttft_ms=1000))
    try:
        yield built
    finally:
        await built.aclose()


def _request(text: str, *, stream: bool = False) -> Any:
    return openai_chat.parse_request({
        "model": "gpt-4o", "max_tokens": 64, "temperature": 0, "stream": stream,
        "messages": [{"role": "user", "content": text}]})


def _question() -> str:
    return f"Which planet is largest? ({uuid.uuid4().hex[:8]}) [[emulator:reply=Jupiter.]]"


def _upstream_calls(gateway: Gateway) -> int:
    return int(gateway.emulator.stats()["requests"])  # type: ignore[attr-defined]


def _cache(gateway: Gateway) -> CacheLever:
    lever = gateway.lever("cache")
    assert isinstance(lever, CacheLever)
    return lever


async def _complete(gateway: Gateway, text: str, directives: dict[str, str] | None = None
                    ) -> Any:
    request = _request(text)
    exchange = gateway.exchange(request, Attribution(), endpoint="chat.completions")
    exchange.directives = directives or {}
    return await gateway.complete(request, exchange=exchange)


async def _until(condition: Any) -> None:
    """Let the event loop run until ``condition()`` holds (bounded by iterations)."""
    for _ in range(2000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never held")


async def test_a_hundred_identical_concurrent_requests_make_one_upstream_call(
        gateway: Gateway) -> None:
    # Positive control: requests that may not wait (refresh) all go upstream together.
    control = _question()
    await asyncio.gather(*[_complete(gateway, control, {"x-tokenthrift-cache": "refresh"})
                           for _ in range(5)])
    assert _upstream_calls(gateway) == 5

    text = _question()
    before = _upstream_calls(gateway)
    done = await asyncio.gather(*[_complete(gateway, text) for _ in range(100)])
    assert _upstream_calls(gateway) - before == 1
    assert {c.response.choices[0].message.text for c in done} == {"Jupiter."}
    assert len({c.response.id for c in done}) == 100  # each its own response id
    assert _cache(gateway).stats.coalesced == 99

    gateway.writer.flush()
    rows = [gateway.ledger.get(c.exchange.request_id) for c in done]
    assert all(row is not None for row in rows)
    leader = [r for r in rows if r is not None and r.cache_status == "miss"]
    waiters = [r for r in rows if r is not None and r.cache_status == "exact"]
    assert len(leader) == 1 and len(waiters) == 99
    assert leader[0].cost_usd is not None and leader[0].cost_usd > 0
    for row in waiters:
        assert row.cost_usd == 0 and row.notes.get("cache") == {"coalesced": True}
        # Its saving is the leader's call as asked (sent alongside it, it would have
        # cost the same).
        assert row.savings["exact_cache"] == pytest.approx(leader[0].cost_usd)
        assert row.baseline_cost_usd == pytest.approx(leader[0].cost_usd)
    headers = [c.headers for c in done if c.exchange.cache_status == "exact"]
    assert all(h.get("x-tokenthrift-cache-coalesced") == "true" for h in headers)


async def test_a_failed_leader_fails_only_itself(tmp_path: Path) -> None:
    gateway = build_gateway(_config(tmp_path, ttft_ms=0))
    try:
        emulator: Any = gateway.emulator
        # The leader's upstream call stalls until it is cancelled (its client went away).
        emulator.add_fault(Fault(kind="timeout", model="gpt-4o", count=1))
        text = _question()
        leader = asyncio.create_task(_complete(gateway, text))
        lever = _cache(gateway)
        await _until(lambda: len(lever.in_flight) == 1)
        waiters = [asyncio.create_task(_complete(gateway, text)) for _ in range(3)]
        await _until(lambda: lever.in_flight.waiting == 3)
        assert not any(w.done() for w in waiters)  # they wait for the leader…
        leader.cancel()
        done = await asyncio.gather(*waiters)
        with pytest.raises(asyncio.CancelledError):
            await leader
        # …and when it fails, each calls upstream itself and succeeds.
        assert [c.response.choices[0].message.text for c in done] == ["Jupiter."] * 3
        assert all(c.exchange.cache_status == "miss" for c in done)
        assert _upstream_calls(gateway) == 1 + 3
        assert lever.stats.coalesced == 0 and len(lever.in_flight) == 0
        gateway.writer.flush()
        mine = {c.exchange.request_id for c in done}
        rows = [r for r in gateway.ledger.rows() if r.request_id not in mine]
        assert [r.status for r in rows] == [499]  # the leader's own row
    finally:
        await gateway.aclose()


async def test_an_uncacheable_leader_answer_is_not_shared(gateway: Gateway) -> None:
    # Cut by max_tokens: not stored, so not handed to waiters either (they go upstream).
    text = f"Count slowly. ({uuid.uuid4().hex[:8]}) [[emulator:reply=one two three four five]]"

    async def ask() -> Any:
        request = openai_chat.parse_request({
            "model": "gpt-4o", "max_tokens": 2, "temperature": 0,
            "messages": [{"role": "user", "content": text}]})
        return await gateway.complete(request)

    before = _upstream_calls(gateway)
    done = await asyncio.gather(*[ask() for _ in range(3)])
    assert all(c.response.choices[0].finish_reason == "length" for c in done)
    assert _upstream_calls(gateway) - before == 3
    assert _cache(gateway).stats.coalesced == 0


def test_streaming_waiters_get_the_whole_stream_replayed(tmp_path: Path) -> None:
    with running_gateway(_config(tmp_path, ttft_ms=1000)) as gw:
        text = _question()

        def ask_streaming(_: int) -> tuple[str, str]:
            raw = gw.openai().chat.completions.with_raw_response.create(
                model="gpt-4o", max_tokens=64, temperature=0, stream=True,
                stream_options={"include_usage": True},
                messages=[{"role": "user", "content": text}])
            chunks = list(raw.parse())
            body = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            assert chunks[-1].usage is not None  # ends with the usage event
            return raw.headers["x-tokenthrift-cache"], body

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(ask_streaming, range(8)))
        assert [body for _, body in results] == ["Jupiter."] * 8
        assert sorted(status for status, _ in results) == ["exact"] * 7 + ["miss"]
        assert int(gw.emulator.stats()["requests"]) == 1
        lever = gw.gateway.lever("cache")
        # Those that arrived while the first was in flight waited for it (the others
        # found its stored answer): either way one upstream call.
        assert isinstance(lever, CacheLever) and lever.stats.coalesced >= 1


async def test_a_stream_waiter_is_replayed_from_the_start(gateway: Gateway) -> None:
    text = _question()

    async def stream_text() -> str:
        stream = await gateway.stream(_request(text, stream=True))
        return "".join([e.text async for e in stream.events() if isinstance(e, TextDelta)])

    before = _upstream_calls(gateway)
    assert await asyncio.gather(*[stream_text() for _ in range(4)]) == ["Jupiter."] * 4
    assert _upstream_calls(gateway) - before == 1
