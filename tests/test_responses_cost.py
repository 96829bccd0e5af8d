"""What a Responses API request costs, pinned to OpenAI's published gpt-4o prices, and its
stored responses' time to live.

gpt-4o: input $2.50, cached input $1.25, output $10.00 per MTok (openai.com/api/pricing).
Responses usage counts cached tokens inside ``input_tokens`` and reasoning tokens inside
``output_tokens``, so each is billed once, at its own rate.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import openai
import pytest

from gateway_harness import config_for, running_gateway
from tokenthrift.accounting import CostCalculator, PriceCatalog
from tokenthrift.errors import InvalidUpstreamUsage
from tokenthrift.server.response_store import ResponseStore, open_database
from tokenthrift.types import Usage
from tokenthrift.wire.openai_responses import usage_from_responses, usage_to_responses

GPT_4O_INPUT, GPT_4O_CACHED, GPT_4O_OUTPUT = Decimal("2.50"), Decimal("1.25"), Decimal("10.00")


def test_gpt_4o_responses_usage_with_cached_input_and_reasoning_tokens() -> None:
    usage = usage_from_responses({
        "input_tokens": 100_000, "input_tokens_details": {"cached_tokens": 60_000},
        "output_tokens": 10_000, "output_tokens_details": {"reasoning_tokens": 4_000},
        "total_tokens": 110_000,
    })
    assert usage == Usage(input_tokens=40_000, cache_read_tokens=60_000, output_tokens=10_000,
                          reasoning_tokens=4_000)
    # 40k*2.50 + 60k*1.25 + 10k*10.00 (the 4k reasoning tokens are inside the 10k output)
    cost = CostCalculator(PriceCatalog()).cost("gpt-4o", usage, provider="openai")
    assert cost == Decimal("0.275")
    assert usage_to_responses(usage)["input_tokens"] == 100_000  # and back, cached included
    assert usage_to_responses(usage)["output_tokens_details"] == {"reasoning_tokens": 4_000}


@pytest.mark.parametrize("bad", [
    {"input_tokens": 10, "input_tokens_details": {"cached_tokens": 11}},
    {"output_tokens": 5, "output_tokens_details": {"reasoning_tokens": 6}},
    {"input_tokens": -1},
    {"input_tokens": "12"},
])
def test_unbillable_responses_usage_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(InvalidUpstreamUsage):
        usage_from_responses(bad)
    usage_from_responses({"input_tokens": 10, "output_tokens": 5})  # positive control


def test_gpt_4o_response_with_a_cached_prompt_is_priced_at_the_cached_rate(
        tmp_path: Path) -> None:
    policy = "Policy clause: refunds are processed within 14 days. " * 200
    with running_gateway(config_for(tmp_path)) as gw:
        client = gw.openai()
        no_cache = {"x-tokenthrift-cache": "off"}  # two upstream calls, no response cache
        first = client.responses.with_raw_response.create(
            model="gpt-4o", instructions=policy, input="Refund window?", extra_headers=no_cache)
        second = client.responses.with_raw_response.create(
            model="gpt-4o", instructions=policy, input="Refund window?", extra_headers=no_cache)
        usage = second.parse().usage
        assert usage is not None
        cached = usage.input_tokens_details.cached_tokens
        assert cached >= 1024 and first.parse().usage.input_tokens_details.cached_tokens == 0
        expected = ((usage.input_tokens - cached) * GPT_4O_INPUT + cached * GPT_4O_CACHED
                    + usage.output_tokens * GPT_4O_OUTPUT) / 1_000_000
        assert Decimal(second.headers["x-tokenthrift-cost-usd"]) == expected
        # Forwarded to the emulator's /v1/responses: priced from its Responses usage.
        assert second.headers["x-tokenthrift-upstream-api"] == "responses"
        row = gw.ledger_row(second.headers["x-tokenthrift-request-id"])
        assert (row.input_tokens, row.cache_read_tokens) == (usage.input_tokens - cached, cached)
        assert Decimal(str(row.cost_usd)) == expected
        assert Decimal(first.headers["x-tokenthrift-cost-usd"]) > expected


def test_stored_responses_expire_after_their_ttl(tmp_path: Path) -> None:
    now = [1_000.0]
    store = ResponseStore(open_database(f"sqlite:///{tmp_path}/ledger.db"), ttl_s=60,
                          clock=lambda: now[0])
    try:
        store.put("key_a", "resp_1", {"id": "resp_1"}, [{"role": "user", "content": "hi"}])
        now[0] += 59
        kept = store.get("key_a", "resp_1")
        assert kept is not None and kept.items == [{"role": "user", "content": "hi"}]
        assert store.get("key_b", "resp_1") is None  # another tenant
        now[0] += 2
        assert store.get("key_a", "resp_1") is None
        assert not store.delete("key_a", "resp_1")
        store.purge_expired()
        assert store._db.execute("SELECT COUNT(*) FROM stored_responses") == [(0,)]
    finally:
        store.close()


def test_stored_responses_live_in_the_ledger_database(tmp_path: Path) -> None:
    with running_gateway(config_for(tmp_path)) as gw:
        created = gw.openai().responses.create(model="gpt-4o-mini",
                                               input="[[emulator:reply=kept]]")
    # A new gateway on the same database (a restart, another replica) continues it.
    with running_gateway(config_for(tmp_path)) as again:
        client = again.openai()
        assert client.responses.retrieve(created.id).output_text == "kept"
        follow = client.responses.create(model="gpt-4o-mini", previous_response_id=created.id,
                                         input="and then? [[emulator:reply=more]]")
        assert follow.output_text == "more"
        with pytest.raises(openai.NotFoundError):
            client.responses.retrieve("resp_never_made")
