"""The price catalog: override validation, resolution rules and what its caches must not change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage as GenaiUsage
from genai_prices import calc_price

from tokenthrift.accounting import CostCalculator, ModelPrice, PriceCatalog, cost_usd
from tokenthrift.types import Usage

# --- bad overrides fail at start-up, naming the model and the key ---------------------------


@pytest.mark.parametrize(
    ("entry", "mentions"),
    [
        ({"input_per_mtoken": 1, "output_per_mtok": 2}, "input_per_mtoken"),
        ({"input_per_mtok": -1, "output_per_mtok": 2}, "input_per_mtok"),
        ({"input_per_mtok": True, "output_per_mtok": 2}, "input_per_mtok"),
        ({"input_per_mtok": "cheap", "output_per_mtok": 2}, "input_per_mtok"),
        ({"input_per_mtok": float("nan"), "output_per_mtok": 2}, "input_per_mtok"),
        ({"input_per_mtok": None, "output_per_mtok": 2}, "input_per_mtok"),
        ({"input_per_mtok": 1}, "output_per_mtok"),
        ({"input_per_mtok": 1, "output_per_mtok": 2, "gpu_hour_usd": 2}, "not both"),
        ({"gpu_hour_usd": 2}, "tokens_per_second"),
        ({"gpu_hour_usd": 2, "tokens_per_second": 0}, "tokens_per_second"),
        ({"input_per_mtok": 1, "output_per_mtok": 2, "batch_discount": 1.5}, "batch_discount"),
        ({"input_per_mtok": 1, "output_per_mtok": 2, "batch_discount": -0.5}, "batch_discount"),
        ({}, "input_per_mtok"),
        ("0.5", "mapping"),
    ],
)
def test_bad_override_raises_a_clear_value_error(entry: Any, mentions: str) -> None:
    with pytest.raises(ValueError, match="my-model") as raised:
        PriceCatalog({"my-model": entry})
    assert mentions in str(raised.value)


@pytest.mark.parametrize("overrides", [{"": {"input_per_mtok": 1, "output_per_mtok": 1}}, ["x"]])
def test_bad_pricing_section_raises_value_error(overrides: Any) -> None:
    with pytest.raises(ValueError, match="pricing"):
        PriceCatalog(overrides)


def test_override_numbers_are_exact_decimals() -> None:
    catalog = PriceCatalog({"m": {"input_per_mtok": 0.1, "output_per_mtok": "0.3"}})
    assert catalog.price_for("m") == ModelPrice(input=Decimal("0.1"), output=Decimal("0.3"))
    price = catalog.price_for("m")
    assert price is not None and price.source == "override"


def test_zero_batch_discount_means_same_price_in_batch() -> None:
    catalog = PriceCatalog(
        {"m": {"gpu_hour_usd": 3.6, "tokens_per_second": 1000, "batch_discount": 0}}
    )
    usage = Usage(input_tokens=1_000_000)
    # $3.60/h at 1,000 tok/s = $1 per MTok
    assert CostCalculator(catalog).cost("m", usage) == Decimal(1)
    assert CostCalculator(catalog).cost("m", usage, batch=True) == Decimal(1)


# --- resolution ----------------------------------------------------------------------------


def test_provider_hint_that_does_not_list_the_model_falls_back_to_the_name() -> None:
    # An OpenAI-protocol proxy serving Claude is still priced as Claude.
    catalog = PriceCatalog()
    assert catalog.price_for("claude-sonnet-4-5", "openai") == catalog.price_for(
        "claude-sonnet-4-5"
    )


def test_models_only_a_provider_hint_can_find() -> None:
    # "text-embedding-3-small" does not name its provider; with the hint it resolves
    # ($0.02 per MTok, input only).
    catalog = PriceCatalog()
    price = catalog.price_for("text-embedding-3-small", "openai")
    assert price is not None and price.input == Decimal("0.02")
    assert cost_usd(Usage(input_tokens=1_000_000), price) == Decimal("0.02")


def test_models_without_token_prices_are_unknown() -> None:
    # whisper-1 is billed per audio minute, not per token.
    assert PriceCatalog().price_for("whisper-1", "openai") is None


def test_naive_and_aware_timestamps_are_the_same_instant() -> None:
    catalog = PriceCatalog()
    naive = datetime(2025, 6, 9, 23, 30)
    aware = datetime(2025, 6, 10, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert catalog.price_for("o3", at=naive) == catalog.price_for("o3", at=aware)
    assert catalog.price_for("o3", at=naive.replace(tzinfo=UTC)) != catalog.price_for(
        "o3", at=datetime(2025, 6, 10, tzinfo=UTC)
    )


@pytest.mark.parametrize("hour", [3, 20])
def test_time_of_day_prices_are_not_cached_across_the_window(hour: int) -> None:
    # DeepSeek's off-peak window: the cache must not serve a peak price off-peak.
    catalog = PriceCatalog()
    day = datetime(2026, 11, 2, tzinfo=UTC)
    usage = Usage(input_tokens=100_000, cache_read_tokens=50_000, output_tokens=10_000)
    other = 20 if hour == 3 else 3
    CostCalculator(catalog).cost("deepseek-chat", usage, at=day.replace(hour=other))  # warm
    when = day.replace(hour=hour)
    expected = calc_price(
        GenaiUsage(input_tokens=150_000, cache_read_tokens=50_000, output_tokens=10_000),
        "deepseek-chat",
        provider_id="deepseek",
        genai_request_timestamp=when,
    ).total_price
    assert CostCalculator(catalog).cost("deepseek-chat", usage, at=when) == expected


def test_warm_lookups_return_the_same_price_as_cold_ones() -> None:
    warm = PriceCatalog()
    first = warm.price_for("claude-sonnet-4-5-20250929", "anthropic")
    assert warm.price_for("claude-sonnet-4-5-20250929", "anthropic") is first
    assert PriceCatalog().price_for("claude-sonnet-4-5-20250929", "anthropic") == first
    warm.clear_cache()
    assert warm.price_for("claude-sonnet-4-5-20250929", "anthropic") == first


def test_unknown_names_do_not_grow_the_cache_without_bound() -> None:
    catalog = PriceCatalog(cache_size=16)
    for i in range(100):
        assert catalog.price_for(f"client-chosen-name-{i}") is None
    assert catalog._find.cache_info().currsize <= 16


# --- cost_usd guards ------------------------------------------------------------------------


def test_negative_or_inconsistent_usage_is_rejected() -> None:
    price = ModelPrice(input=Decimal(1), output=Decimal(2))
    with pytest.raises(ValueError, match="negative"):
        cost_usd(Usage(input_tokens=-1), price)
    with pytest.raises(ValueError, match="reasoning"):
        cost_usd(Usage(output_tokens=10, reasoning_tokens=11), price)


def test_separately_priced_reasoning_tokens() -> None:
    # A model with its own reasoning rate bills that part of output_tokens at it.
    price = ModelPrice(input=Decimal(2), output=Decimal(8), output_reasoning=Decimal(3))
    usage = Usage(output_tokens=1_000_000, reasoning_tokens=400_000)
    assert cost_usd(usage, price) == Decimal("6")  # 0.6M*8 + 0.4M*3 = 4.8 + 1.2
