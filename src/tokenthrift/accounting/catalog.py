"""The price catalog: what a model costs per token, from config overrides, then genai-prices.

``PriceCatalog.price_for(model, provider, at=...)`` resolves, in order:

1. an override under ``pricing:`` in the config, matched on the exact model name;
2. genai-prices (the maintained offline catalog, see ``genai_source``): the provider hint
   ("openai", "anthropic", any genai-prices provider id, or None) is searched first, then the
   provider is inferred from the name. Aliases and dated snapshots resolve to their model
   ("gpt-4o-2024-08-06" → gpt-4o, "claude-sonnet-4-5-20250929" → claude-sonnet-4-5), and the
   price in force at ``at`` (default: now) is used, so historical requests keep their price;
3. otherwise None: an unknown model has an unknown price, never 0.

Resolutions are cached (per model and provider hint, then per UTC day, or per minute for the
few models with time-of-day prices), so a warm ``price_for`` is a couple of dict lookups.

Override schema (config users write this)
-----------------------------------------

Each key is an exact model name (as the upstream reports it); each value is one of two forms.

Per-token prices, USD per million tokens (a negotiated rate, a model genai-prices lacks)::

    pricing:
      my-finetune:
        input_per_mtok: 0.2            # required
        output_per_mtok: 0.6           # required (0 for embedding models)
        cache_read_per_mtok: 0.02      # optional; default: input_per_mtok (no cache discount)
        cache_write_5m_per_mtok: 0.25  # optional; default: input_per_mtok (no write premium)
        cache_write_1h_per_mtok: 0.4   # optional; default: cache_write_5m_per_mtok
        batch_discount: 0.5            # optional; see below

Self-hosted capacity, priced by what the GPU time costs::

    pricing:
      llama-3.1-8b-local:
        gpu_hour_usd: 2.0        # what one GPU-hour (or replica-hour) costs you
        tokens_per_second: 2500  # tokens (prompt + completion) it sustains at your utilisation
        batch_discount: 0        # optional

which bills every input and output token at one flat rate::

    usd_per_mtok = gpu_hour_usd / (tokens_per_second * 3600) * 1_000_000

e.g. $2.00/h at 2,500 tok/s → $0.2222…/MTok. The rate is rounded to 12 decimal places
(1e-18 USD per token), far below the 10 decimal places costs are reported with.

``batch_discount`` is the fraction taken off *every* rate for requests sent through a Batch
API (0.5 = half price, 0 = same price). Without it the batch price of an overridden model is
unknown, and batch requests get an unknown cost rather than a guessed one. An override is
complete: nothing (tiers, batch prices) is inherited from genai-prices for that name.

Numbers may be ints, floats or numeric strings; floats are read through ``str`` so 0.1 means
exactly 0.1. An unknown key (a typo), a missing required key, a negative or non-numeric value,
``tokens_per_second: 0``, a ``batch_discount`` above 1, or a mix of the two forms raises
``ValueError`` naming the model and the key.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from tokenthrift.accounting.genai_source import CatalogModel, find_model, price_at
from tokenthrift.accounting.overrides import parse_overrides
from tokenthrift.accounting.price import ModelPrice, PriceTier

__all__ = ("ModelPrice", "PriceCatalog", "PriceTier")

_DAY = 86_400
_MINUTE = 60


class PriceCatalog:
    """Token prices by model name: config overrides first, then genai-prices."""

    def __init__(
        self,
        overrides: Mapping[str, Mapping[str, Any]] | None = None,
        *,
        cache_size: int = 4096,
    ) -> None:
        self._overrides = parse_overrides(overrides)
        # Bounded: model names come from clients, so an unbounded cache would let them grow it.
        self._find = lru_cache(maxsize=cache_size)(find_model)
        self._resolve = lru_cache(maxsize=cache_size)(_price_in_bucket)

    @property
    def overrides(self) -> Mapping[str, ModelPrice]:
        return self._overrides

    def price_for(
        self, model: str, provider: str | None = None, *, at: datetime | None = None
    ) -> ModelPrice | None:
        """The price of ``model`` at ``at`` (default now; naive datetimes are UTC), or None."""
        override = self._overrides.get(model)
        if override is not None:
            return override
        found = self._find(model, provider)
        if found is None:
            return None
        seconds = time.time() if at is None else _as_utc(at).timestamp()
        width = _MINUTE if found.time_of_day else _DAY
        return self._resolve(found, int(seconds // width) * width)

    def clear_cache(self) -> None:
        """Forget resolved prices, e.g. after genai-prices' ``UpdatePrices`` swapped its data."""
        self._find.cache_clear()
        self._resolve.cache_clear()


def _price_in_bucket(found: CatalogModel, bucket_start: int) -> ModelPrice | None:
    # Prices change at UTC day (or, for time-of-day prices, minute) boundaries, so the price at
    # the bucket's start is the price for every moment in it.
    return price_at(found, datetime.fromtimestamp(bucket_start, UTC))


def _as_utc(at: datetime) -> datetime:
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at
