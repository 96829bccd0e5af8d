"""User price overrides (the ``pricing:`` config section) validated into ``ModelPrice``.

The schema and the self-hosted formula are documented in ``tokenthrift.accounting.catalog``.
Every problem raises ``ValueError`` naming the model and the key, so a typo fails at start-up
instead of mispricing requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal, InvalidOperation
from typing import Any

from tokenthrift.accounting.price import ModelPrice

TOKEN_KEYS = (
    "input_per_mtok",
    "output_per_mtok",
    "cache_read_per_mtok",
    "cache_write_5m_per_mtok",
    "cache_write_1h_per_mtok",
)
GPU_KEYS = ("gpu_hour_usd", "tokens_per_second")
BATCH_KEY = "batch_discount"
_KNOWN = frozenset((*TOKEN_KEYS, *GPU_KEYS, BATCH_KEY))
_GPU_RATE_QUANTUM = Decimal("1e-12")
_SECONDS_PER_HOUR = 3600
_MTOK = 1_000_000


def parse_overrides(overrides: Mapping[str, Mapping[str, Any]] | None) -> dict[str, ModelPrice]:
    """Validate the ``pricing:`` mapping into prices keyed by exact model name."""
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise ValueError(f"pricing: expected a mapping of model name to prices, got {overrides!r}")
    parsed: dict[str, ModelPrice] = {}
    for model, entry in overrides.items():
        if not isinstance(model, str) or not model.strip():
            raise ValueError(f"pricing: model names must be non-empty strings, got {model!r}")
        parsed[model] = parse_override(model, entry)
    return parsed


def parse_override(model: str, entry: Mapping[str, Any]) -> ModelPrice:
    """One override entry → ``ModelPrice`` (raises ``ValueError`` on a bad entry)."""
    where = f"pricing.{model}"
    if not isinstance(entry, Mapping):
        raise ValueError(f"{where}: expected a mapping of price keys, got {entry!r}")
    unknown = sorted(str(k) for k in entry if k not in _KNOWN)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown}; expected some of {sorted(_KNOWN)}")
    has_token = any(k in entry for k in TOKEN_KEYS)
    has_gpu = any(k in entry for k in GPU_KEYS)
    if has_token and has_gpu:
        raise ValueError(
            f"{where}: give either per-token prices ({', '.join(TOKEN_KEYS)}) or self-hosted "
            f"pricing ({', '.join(GPU_KEYS)}), not both"
        )
    price = _gpu_price(where, entry) if has_gpu else _token_price(where, entry)
    return _with_batch_discount(where, entry, price)


def _token_price(where: str, entry: Mapping[str, Any]) -> ModelPrice:
    _require(where, entry, ("input_per_mtok", "output_per_mtok"))
    return ModelPrice(
        input=_amount(where, entry, "input_per_mtok"),
        output=_amount(where, entry, "output_per_mtok"),
        cache_read=_optional_amount(where, entry, "cache_read_per_mtok"),
        cache_write_5m=_optional_amount(where, entry, "cache_write_5m_per_mtok"),
        cache_write_1h=_optional_amount(where, entry, "cache_write_1h_per_mtok"),
        source="override",
    )


def _gpu_price(where: str, entry: Mapping[str, Any]) -> ModelPrice:
    _require(where, entry, GPU_KEYS)
    gpu_hour = _amount(where, entry, "gpu_hour_usd")
    tokens_per_second = _amount(where, entry, "tokens_per_second")
    if tokens_per_second == 0:
        raise ValueError(f"{where}: tokens_per_second must be greater than 0")
    per_mtok = gpu_hour * _MTOK / (tokens_per_second * _SECONDS_PER_HOUR)
    rate = per_mtok.quantize(_GPU_RATE_QUANTUM)
    return ModelPrice(input=rate, output=rate, source="override")


def _with_batch_discount(where: str, entry: Mapping[str, Any], price: ModelPrice) -> ModelPrice:
    discount = _optional_amount(where, entry, BATCH_KEY)
    if discount is None:
        return price
    if discount > 1:
        raise ValueError(f"{where}: {BATCH_KEY} is a fraction between 0 and 1, got {discount}")
    return replace(price, batch=price.scaled(1 - discount))


def _require(where: str, entry: Mapping[str, Any], keys: tuple[str, ...]) -> None:
    missing = [k for k in keys if k not in entry]
    if missing:
        raise ValueError(f"{where}: missing required key(s) {missing}")


def _optional_amount(where: str, entry: Mapping[str, Any], key: str) -> Decimal | None:
    return _amount(where, entry, key) if entry.get(key) is not None else None


def _amount(where: str, entry: Mapping[str, Any], key: str) -> Decimal:
    value = entry.get(key)
    problem = f"{where}: {key} must be a non-negative number, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValueError(problem)
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise ValueError(problem) from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(problem)
    return amount
