"""Automatic prompt caching through the gateway, with the emulator's caching rules as
the provider's: what gets cached, what is billed, and what the ledger credits.

Simulated time: the emulator and the lever share a clock the tests move.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from gateway_harness import CLIENT_KEY, config_for, levers_with
from tokenthrift.accounting.billable import Billable
from tokenthrift.assembly import build_gateway
from tokenthrift.emulator import Emulator, EmulatorConfig
from tokenthrift.ledger.record import LedgerRecord
from tokenthrift.levers.prompt_cache.lever import PromptCacheLever
from tokenthrift.levers.prompt_cache.settings import PromptCacheSettings
from tokenthrift.pipeline import Gateway
from tokenthrift.server.app import create_app
from tokenthrift.server.runner import ServerThread
from tokenthrift.types import Usage

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
SYSTEM = "You are the support assistant of a hardware store. " + " ".join(
    f"Policy {i}: items of aisle {i} may be returned within {i % 30 + 1} days." for i in range(250))


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Running:
    gateway: Gateway
    url: str
    clock: Clock

    def anthropic(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key=CLIENT_KEY, max_retries=0)

    def openai(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=CLIENT_KEY, max_retries=0)

    def row(self, request_id: str) -> LedgerRecord:
        self.gateway.writer.flush()
        row = self.gateway.ledger.get(request_id)
        assert row is not None
        return row

    def price(self, model: str, usage: Usage) -> Decimal:
        price = self.gateway.accountant.price(Billable(model, usage, protocol="anthropic"))
        assert price is not None
        return price


@contextmanager
def gateway(tmp_path: Path, section: dict[str, Any] | None = None) -> Iterator[Running]:
    clock = Clock()
    raw = {"providers": {"emu": {"type": "emulator"}}, "retry": {"max_retries": 0},
           "prompt_caching": section or {"anthropic": "auto", "openai": "auto"}}
    config = config_for(tmp_path, raw)
    lever = PromptCacheLever(PromptCacheSettings.from_config(config), clock=clock)
    gw = build_gateway(config, emulator=Emulator(EmulatorConfig(), clock=clock),
                       levers=levers_with(config, prompt_cache=lever))
    server = ServerThread(create_app(gw)).start()
    try:
        yield Running(gw, server.url, clock)
    finally:
        server.stop()


def ask_claude(run: Running, question: str, *, model: str = "claude-sonnet-4-5",
               headers: dict[str, str] | None = None) -> tuple[Any, LedgerRecord]:
    raw = run.anthropic().messages.with_raw_response.create(
        model=model, max_tokens=16, system=SYSTEM,
        messages=[{"role": "user", "content": question}], extra_headers=headers or {})
    return raw.parse().usage, run.row(raw.headers["x-tokenthrift-request-id"])


def test_a_shared_system_prompt_is_written_once_then_read(tmp_path: Path) -> None:
    with gateway(tmp_path) as run:
        results = []
        for i in range(4):
            results.append(ask_claude(run, f"Can I return item {i}?"))
            run.clock.now += 2
    (u1, r1), (u2, r2), (u3, r3), (u4, r4) = results
    # first sight: nothing marked, nothing cached, no saving claimed
    assert (u1.cache_creation_input_tokens, u1.cache_read_input_tokens) == (0, 0)
    assert "prompt_cache" not in r1.savings and r1.notes["prompt_cache"]["breakpoints"] == []
    # second: the system prompt is written (the 1.25x premium is a loss)...
    prefix = u2.cache_creation_input_tokens
    assert prefix > 3000 and r2.cache_write_5m_tokens == prefix
    assert r2.notes["prompt_cache"]["breakpoints"] == [
        {"at": "system", "tokens": prefix, "ttl": "5m"}]
    premium = run.price("claude-sonnet-4-5", Usage(cache_write_5m_tokens=prefix)) \
        - run.price("claude-sonnet-4-5", Usage(input_tokens=prefix))
    assert r2.savings["prompt_cache"] == -premium < 0
    # ...and then read at 0.1x, a gain of the difference on every later request
    discount = run.price("claude-sonnet-4-5", Usage(input_tokens=prefix)) \
        - run.price("claude-sonnet-4-5", Usage(cache_read_tokens=prefix))
    for usage, row in ((u3, r3), (u4, r4)):
        assert usage.cache_read_input_tokens == prefix and usage.cache_creation_input_tokens == 0
        assert row.savings["prompt_cache"] == discount
    for row in (r1, r2, r3, r4):
        assert row.baseline_cost_usd is not None and row.cost_usd is not None
        assert row.baseline_cost_usd - row.cost_usd == row.saved_usd
        # the baseline is the request with every prefix token uncached
        assert row.baseline_cost_usd == run.price(
            "claude-sonnet-4-5", Usage(input_tokens=row.input_tokens + row.cache_read_tokens
                                       + row.cache_write_5m_tokens,
                                       output_tokens=row.output_tokens))


def test_a_write_that_is_never_read_is_a_loss(tmp_path: Path) -> None:
    with gateway(tmp_path) as run:
        ask_claude(run, "first")
        run.clock.now += 30
        usage, written = ask_claude(run, "second")
        run.clock.now += 7200  # gone before anyone reads it
        later, rewritten = ask_claude(run, "third")
        run.gateway.writer.flush()
        by_lever = {r["lever"]: r["saved_usd"] for r in run.gateway.ledger.savings("lever")}
    assert usage.cache_creation_input_tokens > 0 and written.savings["prompt_cache"] < 0
    # two hours later the entry is gone: nothing to read, the prefix is written again
    # (half the gaps seen so far were short, so a 5-minute write still looks worth it)
    assert later.cache_read_input_tokens == 0
    assert rewritten.savings.get("prompt_cache", Decimal(0)) <= 0
    # the report nets the losses exactly
    assert by_lever["prompt_cache"] == written.savings["prompt_cache"] + \
        rewritten.savings.get("prompt_cache", Decimal(0)) < 0


def test_claude_asked_through_the_openai_wire_gets_breakpoints_too(tmp_path: Path) -> None:
    with gateway(tmp_path) as run:
        cached = []
        for i in range(3):
            raw = run.openai().chat.completions.with_raw_response.create(
                model="claude-sonnet-4-5", max_tokens=16,
                messages=[{"role": "system", "content": SYSTEM},
                          {"role": "user", "content": f"question {i}"}])
            details = raw.parse().usage.prompt_tokens_details
            cached.append(details.cached_tokens if details else 0)
            row = run.row(raw.headers["x-tokenthrift-request-id"])
            run.clock.now += 5
    assert cached[0] == cached[1] == 0 and cached[2] > 3000  # written by the 2nd, read by the 3rd
    assert row.savings["prompt_cache"] > 0


def test_the_header_turns_it_off_per_request(tmp_path: Path) -> None:
    off = {"x-tokenthrift-prompt-cache": "off"}
    with gateway(tmp_path) as run:
        rows = []
        for i in range(3):
            rows.append(ask_claude(run, f"q{i}", headers=off))
            run.clock.now += 2
        positive = [ask_claude(run, f"p{i}") for i in range(2)]  # positive control
        with pytest.raises(anthropic.BadRequestError, match="prompt-cache must be auto or off"):
            ask_claude(run, "bad", headers={"x-tokenthrift-prompt-cache": "sometimes"})
    assert all(u.cache_creation_input_tokens == u.cache_read_input_tokens == 0 for u, _ in rows)
    assert all("prompt_cache" not in r.savings for _, r in rows)
    assert positive[1][0].cache_creation_input_tokens > 0


def test_config_off_for_anthropic_leaves_claude_alone(tmp_path: Path) -> None:
    with gateway(tmp_path, {"anthropic": "off"}) as run:
        usages = [ask_claude(run, f"q{i}")[0] for i in range(3)]
    assert all(u.cache_creation_input_tokens == u.cache_read_input_tokens == 0 for u in usages)


def ask_gpt(run: Running, system: str, question: str, **extra: Any
            ) -> tuple[int, LedgerRecord]:
    raw = run.openai().chat.completions.with_raw_response.create(
        model="gpt-4o", max_tokens=16, extra_body=extra or None,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": question}])
    details = raw.parse().usage.prompt_tokens_details
    return (details.cached_tokens or 0) if details else 0, \
        run.row(raw.headers["x-tokenthrift-request-id"])


def test_openai_gets_a_prompt_cache_key_and_no_credit(tmp_path: Path) -> None:
    with gateway(tmp_path) as run:
        first_cached, first = ask_gpt(run, SYSTEM, "one")
        run.clock.now += 2
        second_cached, second = ask_gpt(run, SYSTEM, "two")
        _, own = ask_gpt(run, SYSTEM, "three", prompt_cache_key="client-key")
    key = first.notes["prompt_cache"]["cache_key"]
    assert key.startswith("tt-") and second.notes["prompt_cache"]["cache_key"] == key
    assert first_cached == 0 and second_cached > 3000  # OpenAI's automatic cache
    # the automatic cache would have hit without the key: not the lever's saving
    assert "prompt_cache" not in second.savings
    assert "cache_key" not in own.notes["prompt_cache"]  # the client's key wins


def test_a_timestamp_at_the_top_of_the_system_prompt_is_flagged(tmp_path: Path) -> None:
    with gateway(tmp_path) as run:
        results = []
        for i in range(3):
            stamped = f"Current time: 2026-03-0{i + 1}T10:0{i}:00Z. Request id {1000 + i}.\n{SYSTEM}"
            results.append(ask_gpt(run, stamped, f"question {i}"))
            run.clock.now += 2
        control = [ask_gpt(run, SYSTEM, f"question {i}") for i in range(2)]
    assert [cached for cached, _ in results] == [0, 0, 0]
    assert "varying_prefix_at_token" not in results[0][1].notes["prompt_cache"]
    for _, row in results[1:]:
        assert row.notes["prompt_cache"]["varying_prefix_at_token"] < 16
    # the same prompt without the variable part: cached, and not flagged
    assert control[1][0] > 3000
    assert all("varying_prefix_at_token" not in r.notes["prompt_cache"] for _, r in control)


def test_a_growing_conversation_reads_the_previous_turn(tmp_path: Path) -> None:
    history: list[dict[str, Any]] = [
        {"role": "user", "content": "Here is my order history: " + SYSTEM[:3000]}]
    reads, writes = [], []
    with gateway(tmp_path) as run:
        client = run.anthropic()
        for turn in range(4):
            answer = client.messages.create(model="claude-sonnet-4-5", max_tokens=16,
                                            system=SYSTEM, messages=history)
            reads.append(answer.usage.cache_read_input_tokens)
            writes.append(answer.usage.cache_creation_input_tokens)
            history += [{"role": "assistant", "content": answer.content[0].text or "ok"},
                        {"role": "user", "content": f"and then question {turn}?"}]
            run.clock.now += 20
    assert reads[0] == writes[0] == 0  # first sight
    # from the second turn on the latest turn is written; the next one reads all of it
    assert writes[1] > 4000 and reads[2] == writes[1]
    # each turn writes only what it added, and the next reads everything before it
    assert reads[3] == reads[2] + writes[2] and 0 < writes[2] < 100


def test_streamed_requests_are_shaped_and_netted_the_same(tmp_path: Path) -> None:
    rows = []
    with gateway(tmp_path) as run:
        for i in range(3):
            with run.anthropic().messages.with_streaming_response.create(
                    model="claude-sonnet-4-5", max_tokens=16, system=SYSTEM, stream=True,
                    messages=[{"role": "user", "content": f"streamed {i}"}]) as response:
                for _ in response.iter_lines():
                    pass
                rows.append(response.headers["x-tokenthrift-request-id"])
            run.clock.now += 3
        records = [run.row(r) for r in rows]
    assert records[1].cache_write_5m_tokens > 3000 and records[1].savings["prompt_cache"] < 0
    assert records[2].cache_read_tokens == records[1].cache_write_5m_tokens
    assert records[2].savings["prompt_cache"] > 0
