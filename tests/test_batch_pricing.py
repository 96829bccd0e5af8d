"""Batch API prices for cached input, pinned (docs/batch.md, "Prices")."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from tokenthrift.accounting import PriceCatalog
from tokenthrift.accounting.cost import CostCalculator
from tokenthrift.types import Usage

calc = CostCalculator(PriceCatalog())
NOW = datetime(2026, 11, 1, tzinfo=UTC)  # genai-prices' explicit batch variants are in force
BEFORE = datetime(2025, 11, 1, tzinfo=UTC)  # only the provider's batch rule applies


def test_gpt_4o_batch_cached_input_is_half_the_cached_rate() -> None:
    # gpt-4o: input $2.50, cached $1.25, output $10; Batch: $1.25 / cached $0.625 / $5.
    usage = Usage(input_tokens=10_000, cache_read_tokens=90_000, output_tokens=1_000)
    sync = calc.cost("gpt-4o", usage, provider="openai", at=NOW)
    assert sync == Decimal("0.025") + Decimal("0.1125") + Decimal("0.01")
    for at in (NOW, BEFORE):
        batch = calc.cost("gpt-4o", usage, provider="openai", batch=True, at=at)
        # 10k x 1.25 + 90k x 0.625 + 1k x 5 = 0.0125 + 0.05625 + 0.005
        assert batch == Decimal("0.07375"), at
        assert batch * 2 == sync  # the Batch API halves every token, cached ones included


def test_a_listed_batch_cached_rate_is_kept() -> None:
    # gpt-5.4's Batch row lists cached input at $0.13 (half of $0.25, rounded by OpenAI).
    usage = Usage(cache_read_tokens=100_000)  # below the 272K long-context tier
    assert calc.cost("gpt-5.4", usage, provider="openai", batch=True, at=NOW) == Decimal("0.013")
    # positive control: gpt-5's listed $0.0625 is exactly half
    assert calc.cost("gpt-5", usage, provider="openai", batch=True, at=NOW) == Decimal("0.00625")


def test_anthropic_batch_halves_cache_reads_and_writes() -> None:
    usage = Usage(cache_read_tokens=100_000, cache_write_5m_tokens=100_000)  # < 200K tier
    sync = calc.cost("claude-sonnet-4-5", usage, provider="anthropic", at=NOW)
    batch = calc.cost("claude-sonnet-4-5", usage, provider="anthropic", batch=True, at=NOW)
    assert sync == Decimal("0.03") + Decimal("0.375")
    assert batch is not None and batch * 2 == sync
