"""What a request costs, pinned to the providers' published prices.

Every expected amount below is worked out by hand from the provider's price page (rates in USD
per million tokens, quoted in each test), not read back from the catalog, so a wrong rate, a
wrong tier or a double-counted token type fails here.

Sources: https://openai.com/api/pricing (and platform.openai.com/docs/pricing),
https://docs.anthropic.com/en/docs/about-claude/pricing, https://ai.google.dev/gemini-api/docs/pricing
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from tokenthrift.accounting import CostCalculator, PriceCatalog, cost_usd
from tokenthrift.types import Usage


@pytest.fixture(scope="module")
def calc() -> CostCalculator:
    return CostCalculator(PriceCatalog())


def usd(text: str) -> Decimal:
    return Decimal(text)


# --- OpenAI --------------------------------------------------------------------------------


def test_gpt_4o_with_cached_prompt(calc: CostCalculator) -> None:
    # gpt-4o: input $2.50, cached input $1.25, output $10.00.
    # 100k prompt tokens of which 60k cached: 40k*2.50 + 60k*1.25 + 10k*10 = 0.10+0.075+0.10
    usage = Usage(input_tokens=40_000, cache_read_tokens=60_000, output_tokens=10_000)
    assert calc.cost("gpt-4o", usage, provider="openai") == usd("0.275")


def test_reasoning_tokens_are_billed_once_as_output(calc: CostCalculator) -> None:
    # o4-mini: input $1.10, output $4.40. 4,000 of the 5,000 output tokens are reasoning;
    # they are inside output_tokens: 2k*1.10 + 5k*4.40 = 0.0022 + 0.022
    usage = Usage(input_tokens=2_000, output_tokens=5_000, reasoning_tokens=4_000)
    assert calc.cost("o4-mini", usage) == usd("0.0242")
    # o3 after the 2025-06-10 price cut: input $2, output $8: 10k*2 + 3k*8 = 0.02 + 0.024
    usage = Usage(input_tokens=10_000, output_tokens=3_000, reasoning_tokens=2_500)
    assert calc.cost("o3", usage, at=datetime(2025, 7, 1, tzinfo=UTC)) == usd("0.044")


def test_openai_batch_is_half_price(calc: CostCalculator) -> None:
    # gpt-4o-mini: input $0.15, output $0.60; Batch API: $0.075 / $0.30.
    usage = Usage(input_tokens=100_000, output_tokens=20_000)
    assert calc.cost("gpt-4o-mini", usage) == usd("0.027")  # 0.015 + 0.012
    assert calc.cost("gpt-4o-mini", usage, batch=True) == usd("0.0135")


def test_openai_batch_halves_the_cached_input_rate_too(calc: CostCalculator) -> None:
    # o4-mini Batch: input $0.55, output $2.20; the Batch table lists no cached-input rate, and
    # the batch discount stacks with caching (as where the table lists one, e.g. gpt-5), so
    # cached input is half the standard $0.275 (docs/batch.md, "Prices").
    usage = Usage(input_tokens=10_000, cache_read_tokens=40_000, output_tokens=1_000)
    # 10k*0.55 + 40k*0.1375 + 1k*2.20 = 0.0055 + 0.0055 + 0.0022
    assert calc.cost("o4-mini", usage, batch=True) == usd("0.0132")


def test_openai_prices_follow_the_request_date(calc: CostCalculator) -> None:
    # o3 launched at $10 in / $40 out and was cut to $2 / $8 on 2025-06-10.
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    assert calc.cost("o3", usage, at=datetime(2025, 5, 1)) == usd("0.05")
    assert calc.cost("o3", usage, at=datetime(2025, 6, 10, 0, 0, 1)) == usd("0.01")
    # Batch before the cut: half of $10 / $40.
    assert calc.cost("o3", usage, batch=True, at=datetime(2025, 5, 1)) == usd("0.025")


# --- Anthropic -----------------------------------------------------------------------------

SONNET_MIXED = Usage(
    input_tokens=30_000,
    cache_write_5m_tokens=20_000,
    cache_read_tokens=50_000,
    output_tokens=10_000,
)


def test_claude_sonnet_4_5_with_prompt_caching(calc: CostCalculator) -> None:
    # Sonnet 4.5: input $3, 5m cache write $3.75 (1.25x), cache read $0.30 (0.1x), output $15.
    # 30k*3 + 20k*3.75 + 50k*0.30 + 10k*15 = 0.09 + 0.075 + 0.015 + 0.15
    assert calc.cost("claude-sonnet-4-5", SONNET_MIXED, provider="anthropic") == usd("0.330")


def test_anthropic_batch_halves_every_token_type_including_cache(calc: CostCalculator) -> None:
    # Message Batches are 50% of standard, and the caching multipliers stack on top:
    # 30k*1.50 + 20k*1.875 + 50k*0.15 + 10k*7.50 = 0.045 + 0.0375 + 0.0075 + 0.075
    assert calc.cost("claude-sonnet-4-5", SONNET_MIXED, batch=True) == usd("0.165")


def test_anthropic_batch_before_the_catalog_recorded_it(calc: CostCalculator) -> None:
    # Batch prices have been 50% since the Message Batches API launched; a request from 2025
    # is priced the same way although genai-prices only records batch rates from 2026-10-14.
    at = datetime(2025, 11, 1, tzinfo=UTC)
    assert calc.cost("claude-sonnet-4-5", SONNET_MIXED, batch=True, at=at) == usd("0.165")
    # Claude Sonnet 4 has no batch entry in genai-prices at all: the provider rule applies.
    assert calc.cost("claude-sonnet-4-20250514", SONNET_MIXED, batch=True) == usd("0.165")


def test_one_hour_cache_write_costs_twice_input(calc: CostCalculator) -> None:
    # 1h cache writes are 2x base input = $6 on Sonnet 4.5 (5m writes are 1.25x = $3.75).
    usage = Usage(input_tokens=10_000, cache_write_1h_tokens=100_000, output_tokens=2_000)
    # 10k*3 + 100k*6 + 2k*15 = 0.03 + 0.60 + 0.03
    assert calc.cost("claude-sonnet-4-5", usage) == usd("0.66")
    five_min = Usage(input_tokens=10_000, cache_write_5m_tokens=100_000, output_tokens=2_000)
    assert calc.cost("claude-sonnet-4-5", five_min) == usd("0.435")  # 0.03 + 0.375 + 0.03


def test_claude_long_context_reprices_every_token(calc: CostCalculator) -> None:
    # Sonnet 4.5 prompts over 200k tokens (cache reads and writes included): input $6,
    # output $22.50, and the cache multipliers on top: read $0.60, 5m write $7.50.
    usage = Usage(
        input_tokens=180_000,
        cache_read_tokens=50_000,
        cache_write_5m_tokens=20_000,
        output_tokens=10_000,
    )
    # 180k*6 + 50k*0.60 + 20k*7.50 + 10k*22.50 = 1.08 + 0.03 + 0.15 + 0.225
    assert calc.cost("claude-sonnet-4-5", usage) == usd("1.485")
    assert calc.cost("claude-sonnet-4-5", usage, batch=True) == usd("0.7425")


def test_claude_long_context_threshold_is_exceeding_200k(calc: CostCalculator) -> None:
    # Exactly 200,000 prompt tokens is still the base rate: 150k*3 + 50k*0.30 + 1k*15
    at_limit = Usage(input_tokens=150_000, cache_read_tokens=50_000, output_tokens=1_000)
    assert calc.cost("claude-sonnet-4-5", at_limit) == usd("0.48")
    # One more token, and it is a cached one, re-prices the whole request:
    # 150,001*6 + 50k*0.60 + 1k*22.50 = 0.900006 + 0.03 + 0.0225
    over = Usage(input_tokens=150_001, cache_read_tokens=50_000, output_tokens=1_000)
    assert calc.cost("claude-sonnet-4-5", over) == usd("0.952506")


# --- Google --------------------------------------------------------------------------------


def test_gemini_2_5_pro_long_context_tier(calc: CostCalculator) -> None:
    # Gemini 2.5 Pro: prompts <= 200k: input $1.25, output $10; prompts > 200k: $2.50 / $15.
    small = Usage(input_tokens=100_000, output_tokens=5_000)
    assert calc.cost("gemini-2.5-pro", small) == usd("0.175")  # 0.125 + 0.05
    large = Usage(input_tokens=250_000, output_tokens=5_000)
    assert calc.cost("gemini-2.5-pro", large) == usd("0.70")  # 0.625 + 0.075


# --- resolution ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alias", "canonical", "provider"),
    [
        ("gpt-4o-2024-08-06", "gpt-4o", "openai"),
        ("gpt-4o-2024-11-20", "gpt-4o", None),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5", "anthropic"),
        ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5", None),
        ("o4-mini-2025-04-16", "o4-mini", None),
        ("GPT-4o", "gpt-4o", None),
    ],
)
def test_dated_snapshots_and_aliases_cost_the_same(
    calc: CostCalculator, alias: str, canonical: str, provider: str | None
) -> None:
    usage = Usage(input_tokens=12_345, cache_read_tokens=2_048, output_tokens=678)
    assert calc.cost(alias, usage, provider=provider) == calc.cost(canonical, usage)
    assert calc.cost(alias, usage, provider=provider) is not None


def test_an_older_snapshot_keeps_its_own_price(calc: CostCalculator) -> None:
    # gpt-4o-2024-05-13 was $5 in / $15 out, not gpt-4o's $2.50 / $10.
    usage = Usage(input_tokens=100_000, output_tokens=10_000)
    assert calc.cost("gpt-4o-2024-05-13", usage) == usd("0.65")  # 0.5 + 0.15
    assert calc.cost("gpt-4o", usage) == usd("0.35")  # 0.25 + 0.10


def test_unknown_model_has_unknown_cost_not_zero(calc: CostCalculator) -> None:
    usage = Usage(input_tokens=1_000, output_tokens=1_000)
    assert calc.catalog.price_for("llama-3.1-8b-instruct") is None
    assert calc.cost("llama-3.1-8b-instruct", usage) is None
    assert calc.cost("totally-made-up", usage, provider="openai") is None
    assert calc.cost("", usage) is None


# --- overrides -----------------------------------------------------------------------------


def test_override_with_per_token_prices() -> None:
    calc = CostCalculator(
        PriceCatalog({"my-finetune": {"input_per_mtok": 0.2, "output_per_mtok": 0.6}})
    )
    usage = Usage(input_tokens=500_000, output_tokens=100_000)
    assert calc.cost("my-finetune", usage) == usd("0.16")  # 500k*0.2 + 100k*0.6
    # No cache prices given: cache reads cost the input rate (no discount).
    cached = Usage(input_tokens=400_000, cache_read_tokens=100_000, output_tokens=100_000)
    assert calc.cost("my-finetune", cached) == usd("0.16")
    # No batch_discount given: the batch price is unknown, not guessed.
    assert calc.cost("my-finetune", usage, batch=True) is None


def test_override_with_cache_prices_and_batch_discount() -> None:
    catalog = PriceCatalog(
        {
            "proxy-claude": {
                "input_per_mtok": "3",
                "output_per_mtok": 15,
                "cache_read_per_mtok": 0.3,
                "cache_write_5m_per_mtok": 3.75,
                "batch_discount": 0.5,
            }
        }
    )
    price = catalog.price_for("proxy-claude")
    assert price is not None
    assert cost_usd(SONNET_MIXED, price) == usd("0.33")
    # 1h writes fall back to the 5m write rate when not given: 100k*3.75
    usage = Usage(cache_write_1h_tokens=100_000)
    assert CostCalculator(catalog).cost("proxy-claude", usage) == usd("0.375")
    assert CostCalculator(catalog).cost("proxy-claude", SONNET_MIXED, batch=True) == usd("0.165")


def test_override_takes_precedence_for_the_exact_name_only() -> None:
    catalog = PriceCatalog({"gpt-4o": {"input_per_mtok": 2, "output_per_mtok": 8}})
    calc = CostCalculator(catalog)
    usage = Usage(input_tokens=100_000, output_tokens=10_000)
    assert calc.cost("gpt-4o", usage) == usd("0.28")  # negotiated: 0.2 + 0.08
    assert calc.cost("gpt-4o-2024-08-06", usage) == usd("0.35")  # still the list price


def test_self_hosted_model_priced_by_gpu_hour() -> None:
    # $2.00 per GPU-hour at 2,500 tok/s: 1M tokens take 400 s = $2 * 400/3600 = $0.2222...
    catalog = PriceCatalog({"llama-local": {"gpu_hour_usd": 2.0, "tokens_per_second": 2500}})
    price = catalog.price_for("llama-local")
    assert price is not None
    assert price.input == price.output == usd("0.222222222222")
    cost = CostCalculator(catalog).cost(
        "llama-local", Usage(input_tokens=900_000, output_tokens=100_000)
    )
    assert cost == usd("0.222222222222")
