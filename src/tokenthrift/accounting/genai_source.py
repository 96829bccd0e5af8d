"""Prices from genai-prices, the maintained offline price catalog, as ``ModelPrice`` values.

genai-prices (https://github.com/pydantic/genai-prices) bundles every provider's published
prices with their history (``ConditionalPrice`` start dates, time-of-day windows), long-context
tiers (``TieredPrices``) and request variants such as ``{"processing": "batch"}``. This module
finds a model in it and flattens one moment of that data into the token rates we bill with.

Mapping of genai-prices price keys (all per MTok) to ``ModelPrice``:
``input_mtok`` → input, ``output_mtok`` → output, ``cache_read_mtok`` → cache_read,
``cache_write_5m_mtok`` or else the TTL-less ``cache_write_mtok`` → cache_write_5m (Anthropic's
default TTL is 5 minutes), ``cache_write_1h_mtok`` → cache_write_1h, ``output_reasoning_mtok``
→ output_reasoning. Non-token charges (web searches, per-request fees, audio/image modalities,
cache storage per hour) are outside ``Usage`` and are not billed here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from genai_prices import types as gp
from genai_prices.data_snapshot import find_provider_by_id, get_snapshot

from tokenthrift.accounting.price import ModelPrice, PriceTier

_BATCH = {"processing": "batch"}
_HALF = Decimal("0.5")


@dataclass(frozen=True, slots=True)
class BatchRule:
    """A provider's Batch API discount, used where genai-prices has no batch variant in force."""

    factor: Decimal
    # Whether the discount also applies to explicit cache-read/cache-write rates.
    discounts_cache: bool


# Batch APIs by provider. genai-prices records explicit batch variants only from the day it
# verified each table (2026-10-14 for most models) and skips retired models; these rules price
# batch requests outside that coverage.
BATCH_RULES: dict[str, BatchRule] = {
    # "50% of standard API prices"; prompt-caching multipliers stack with the batch discount,
    # so cache reads and writes are halved too:
    # https://docs.anthropic.com/en/docs/build-with-claude/batch-processing#pricing
    "anthropic": BatchRule(_HALF, discounts_cache=True),
    # Batch API: "50% cost discount compared to synchronous APIs"
    # (https://platform.openai.com/docs/guides/batch), and the discounts stack: wherever the
    # Batch price table (https://platform.openai.com/docs/pricing, "Batch") lists a cached-input
    # rate it is half the standard cached rate (gpt-5: $0.0625 vs $0.125). For the models whose
    # Batch row lists none (gpt-4o, gpt-4.1, o-series) genai-prices keeps the *standard* cached
    # rate, which for gpt-4o ($1.25) equals the batch rate of uncached input: a cached token
    # would earn no discount at all. We apply the same half there (``_discount_unlisted_cache``).
    "openai": BatchRule(_HALF, discounts_cache=True),
    # Gemini Batch Mode is 50% of the standard price; context caching keeps its standard rate
    # (https://ai.google.dev/gemini-api/docs/batch-mode, genai-prices' Gemini price comments).
    "google": BatchRule(_HALF, discounts_cache=False),
}


@dataclass(frozen=True, slots=True, eq=False)
class CatalogModel:
    """A model found in genai-prices, ready to be priced at any moment."""

    provider_id: str
    info: gp.ModelInfo
    # True when a price depends on the time of day (e.g. DeepSeek off-peak windows), so a
    # resolved price may only be reused within the same minute instead of the same day.
    time_of_day: bool
    # The provider that lists ``info`` itself. Its batch variants apply only to this provider:
    # genai-prices ignores variants when a provider borrows another's model (Azure → OpenAI).
    owns_model: bool


def find_model(model: str, provider: str | None) -> CatalogModel | None:
    """Look ``model`` up in genai-prices; None when no provider lists it.

    The hinted provider is searched first (with its fallbacks, e.g. Google → Anthropic for Claude
    on Vertex); if it does not list the model, the provider is inferred from the model name the
    way genai-prices does ("claude…" → Anthropic, "gpt-…"/"o3…" → OpenAI, "gemini…" → Google),
    so an OpenAI-protocol proxy serving a Claude model is still priced as Claude.
    """
    providers = get_snapshot().providers
    ref = model.strip().lower()
    if not ref:
        return None
    if provider:
        hinted = find_provider_by_id(providers, provider)
        if hinted is not None and (found := _find_in(hinted, ref, providers)):
            return found
    for candidate in providers:
        matches = candidate.model_match is not None and candidate.model_match.is_match(ref)
        if matches and (found := _find_in(candidate, ref, providers)):
            return found
    return None


def _find_in(provider: gp.Provider, ref: str, providers: list[gp.Provider]) -> CatalogModel | None:
    info = provider.find_model(ref, all_providers=providers)
    if info is None:
        return None
    return CatalogModel(
        provider_id=provider.id,
        info=info,
        time_of_day=_has_time_of_day(info),
        owns_model=any(m is info for m in provider.models),
    )


def _has_time_of_day(info: gp.ModelInfo) -> bool:
    constraints = [c.constraint for c in info.prices] if isinstance(info.prices, list) else []
    constraints += [v.constraint for v in info.price_variants or ()]
    return any(isinstance(c, gp.TimeOfDateConstraint) for c in constraints)


def price_at(model: CatalogModel, when: datetime) -> ModelPrice | None:
    """The model's token prices in force at ``when`` (UTC), batch price included.

    None when genai-prices has no per-token input price for the model (e.g. audio-hour or
    per-character models).
    """
    standard = _convert(model.info.get_prices(when), model.info.id)
    if standard is None:
        return None
    return _with_batch(standard, model, when)


def _with_batch(standard: ModelPrice, model: CatalogModel, when: datetime) -> ModelPrice:
    batch_at = _batch_variant_moment(model.info, when) if model.owns_model else None
    batch: ModelPrice | None = None
    rule = BATCH_RULES.get(model.provider_id)
    if batch_at is not None:
        batch = _convert(model.info.get_prices(batch_at, _BATCH), model.info.id)
        if batch is not None and rule is not None and rule.discounts_cache:
            batch = _discount_unlisted_cache(batch, standard, rule.factor)
    elif rule is not None:
        batch = standard.scaled(rule.factor, cache=rule.discounts_cache)
    return replace(standard, batch=batch)


def _discount_unlisted_cache(batch: ModelPrice, standard: ModelPrice, factor: Decimal
                             ) -> ModelPrice:
    """A batch cache-read rate no lower than the standard one means the provider's batch
    table listed none; under a rule whose discount stacks, it is ``factor`` of standard."""
    read, listed = standard.cache_read, batch.cache_read
    if read is None or listed is None or listed < read:
        return batch
    tiers = tuple(
        PriceTier(t.above, _discount_unlisted_cache(t.price, standard.for_prompt(t.above + 1),
                                                    factor))
        for t in batch.tiers
    )
    return replace(batch, cache_read=read * factor, tiers=tiers)


def _batch_variant_moment(info: gp.ModelInfo, when: datetime) -> datetime | None:
    """The moment whose genai-prices batch variants describe batch prices at ``when``, if any.

    ``when`` itself once a batch variant is in force. Before the first one starts, that start
    still describes ``when`` if the standard prices were the same then as at ``when``:
    genai-prices only began recording batch rates on that date, the providers' batch discounts
    did not change. After a standard price change (e.g. o3's cut on 2025-06-10) there is none
    and the provider's batch rule applies instead.
    """
    variants = [v for v in info.price_variants or () if v.when == _BATCH]
    if any(v.constraint is None or v.constraint.active(when) for v in variants):
        return when
    starts = [
        v.constraint.start_date
        for v in variants
        if isinstance(v.constraint, gp.StartDateConstraint)
        and v.constraint.start_date > when.date()
    ]
    if not starts:
        return None
    first = datetime.combine(min(starts), datetime.min.time(), tzinfo=when.tzinfo)
    return first if info.get_prices(first) == info.get_prices(when) else None


def _convert(prices: gp.ModelPrice, model_id: str) -> ModelPrice | None:
    """Flatten genai-prices' per-key ``TieredPrices`` into base rates plus per-threshold tiers."""
    raw = {
        "input": prices.input_mtok,
        "output": prices.output_mtok,
        "cache_read": prices.cache_read_mtok,
        "cache_write_5m": _first_set(prices.cache_write_5m_mtok, prices.cache_write_mtok),
        "cache_write_1h": prices.cache_write_1h_mtok,
        "output_reasoning": prices.output_reasoning_mtok,
    }
    if raw["input"] is None:
        return None
    if raw["output"] is None:
        # Embedding models list no output price because they produce no output tokens.
        raw["output"] = Decimal(0)
    thresholds = sorted(
        {t.start for v in raw.values() if isinstance(v, gp.TieredPrices) for t in v.tiers}
    )
    tiers = tuple(PriceTier(above, _flat(raw, above, model_id)) for above in thresholds)
    return replace(_flat(raw, None, model_id), tiers=tiers)


def _flat(
    raw: dict[str, Decimal | gp.TieredPrices | None], above: int | None, model_id: str
) -> ModelPrice:
    rates = {name: _rate(value, above) for name, value in raw.items()}
    return ModelPrice(**rates, model_id=model_id)  # type: ignore[arg-type]


def _rate(value: Decimal | gp.TieredPrices | None, above: int | None) -> Decimal | None:
    """The rate for prompts just larger than ``above`` (None = below every tier)."""
    if not isinstance(value, gp.TieredPrices):
        return value
    rate = value.base
    for tier in value.tiers:  # ascending (TieredPrices sorts them)
        if above is not None and tier.start <= above:
            rate = tier.price
    return rate


def _first_set(*values: Decimal | gp.TieredPrices | None) -> Decimal | gp.TieredPrices | None:
    return next((v for v in values if v is not None), None)
