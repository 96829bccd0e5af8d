"""Our arithmetic agrees with genai-prices' own ``calc_price`` on its data.

The hand-computed examples in test_accounting.py pin the providers' published prices; this
checks that flattening genai-prices' data (tiers, dated prices, batch variants, cache fallbacks)
into ``ModelPrice`` loses nothing, for every token-priced OpenAI, Anthropic and Google model.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage as GenaiUsage
from genai_prices import calc_price
from genai_prices.data_snapshot import get_snapshot
from genai_prices.types import ModelInfo, Provider

from tokenthrift.accounting import PriceCatalog, cost_usd
from tokenthrift.accounting.genai_source import CatalogModel, _rate, price_at
from tokenthrift.accounting.price import ModelPrice
from tokenthrift.types import Usage

PROVIDERS = ("openai", "anthropic", "google")
MOMENTS = (
    datetime(2025, 5, 1, tzinfo=UTC),
    datetime(2025, 9, 1, tzinfo=UTC),
    datetime(2026, 3, 20, tzinfo=UTC),
    datetime(2026, 11, 1, tzinfo=UTC),
)


def _models() -> Iterator[tuple[Provider, ModelInfo]]:
    for provider in get_snapshot().providers:
        if provider.id in PROVIDERS:
            for info in provider.models:
                yield provider, info


def _usages(seed: str) -> list[Usage]:
    rng = random.Random(seed)
    usages = [Usage(input_tokens=1_000, output_tokens=1_000)]
    for total in (10_000, 199_999, 200_000, 200_001, 272_001, 450_000, 1_000_000):
        read = rng.randint(0, total // 2)
        write_5m = rng.randint(0, (total - read) // 3)
        write_1h = rng.randint(0, (total - read - write_5m) // 3)
        output = rng.randint(0, 30_000)
        usages.append(
            Usage(
                input_tokens=total - read - write_5m - write_1h,
                cache_read_tokens=read,
                cache_write_5m_tokens=write_5m,
                cache_write_1h_tokens=write_1h,
                output_tokens=output,
                reasoning_tokens=rng.randint(0, output),
            )
        )
    return usages


def _genai_usage(usage: Usage) -> GenaiUsage:
    # genai-prices counts input_tokens as the whole prompt and cache writes as a parent of the
    # 1h writes; output_tokens includes reasoning as ours does.
    return GenaiUsage(
        input_tokens=usage.total_input_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_write_1h_tokens=usage.cache_write_1h_tokens,
        output_tokens=usage.output_tokens,
    )


def _batch_variant_active(info: ModelInfo, when: datetime) -> bool:
    return any(
        v.when == {"processing": "batch"} and (v.constraint is None or v.constraint.active(when))
        for v in info.price_variants or ()
    )


def _unlisted_cache_discount(info: ModelInfo, when: datetime, provider_id: str, usage: Usage,
                             price: ModelPrice) -> Decimal:
    """What we take off where OpenAI's Batch table lists no cached-input rate and
    genai-prices keeps the standard one (not below it): half of the standard rate
    (``genai_source.BATCH_RULES``)."""
    if provider_id != "openai" or not usage.cache_read_tokens or price.batch is None:
        return Decimal(0)
    above = usage.total_input_tokens - 1
    standard = price.for_prompt(usage.total_input_tokens).cache_read
    listed = _rate(info.get_prices(when, {"processing": "batch"}).cache_read_mtok, above)
    if standard is None or listed is None or listed < standard:
        return Decimal(0)
    ours = price.batch.for_prompt(usage.total_input_tokens).cache_read
    assert ours == standard / 2
    return (usage.cache_read_tokens * (listed - ours)).scaleb(-6)


@pytest.mark.parametrize("provider_id", PROVIDERS)
def test_every_token_priced_model_matches_calc_price(provider_id: str) -> None:
    checked = 0
    for provider, info in _models():
        if provider.id != provider_id:
            continue
        model = CatalogModel(provider.id, info, time_of_day=False, owns_model=True)
        for when in MOMENTS:
            price = price_at(model, when)
            if price is None:
                continue
            for usage in _usages(info.id):
                theirs = info.calc_price(
                    _genai_usage(usage), provider, genai_request_timestamp=when
                )
                assert cost_usd(usage, price) == theirs.total_price, (info.id, when, usage)
                if _batch_variant_active(info, when):
                    theirs = info.calc_price(
                        _genai_usage(usage),
                        provider,
                        genai_request_timestamp=when,
                        price_context={"processing": "batch"},
                    )
                    ours = cost_usd(usage, price, batch=True)
                    assert ours == theirs.total_price - _unlisted_cache_discount(
                        info, when, provider.id, usage, price), (info.id, when)
                checked += 1
    assert checked > 100


@pytest.mark.parametrize(
    ("model", "provider"),
    [
        ("gpt-4o-2024-08-06", "openai"),
        ("claude-sonnet-4-5-20250929", "anthropic"),
        ("claude-haiku-4-5", None),
        ("gemini-2.5-pro", None),
        ("o3", None),
    ],
)
def test_public_lookup_matches_calc_price(model: str, provider: str | None) -> None:
    when = datetime(2026, 11, 1, tzinfo=UTC)
    price = PriceCatalog().price_for(model, provider, at=when)
    assert price is not None
    for usage in _usages(model):
        expected = calc_price(
            _genai_usage(usage), model, provider_id=provider, genai_request_timestamp=when
        ).total_price
        assert cost_usd(usage, price) == expected
