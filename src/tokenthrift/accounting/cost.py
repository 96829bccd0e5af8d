"""Cost arithmetic: usage * price, and how a request's savings split across the levers.

Money is ``Decimal`` USD here and exact: a cost is a sum of ``tokens * rate`` divided by 10^6,
with no rounding. The ledger stores it to 1e-12 USD; ``to_header`` renders it for headers.

How one request is billed (``cost_usd``), the rule every provider publishes:

    uncached input * input + cache reads * cache_read + 5m cache writes * cache_write_5m
    + 1h cache writes * cache_write_1h + output * output          (all rates per MTok)

* ``Usage.output_tokens`` already includes reasoning/thinking tokens, which OpenAI, Anthropic and
  Google all bill as output (https://platform.openai.com/docs/guides/reasoning), so reasoning
  tokens are not added again; only a model with its own reasoning rate re-prices that part.
* The long-context tier is chosen by ``Usage.total_input_tokens`` (see ``PriceTier``).
* ``batch=True`` uses the Batch API price (``ModelPrice.batch``), tiers included; Anthropic's
  batch discount stacks with its prompt-caching multipliers.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal

from tokenthrift.accounting.catalog import PriceCatalog
from tokenthrift.accounting.price import ModelPrice
from tokenthrift.types import Usage

_TEN_PLACES = Decimal("1e-10")
# The ledger keeps money to 1e-12 USD (``ledger.money``); headers carry the same digits,
# so a client can reconcile them with the ledger exactly.
_LEDGER_PLACES = Decimal("1e-12")
_ZERO = Decimal(0)


class UnpricedUsage(ValueError):
    """The usage contains something the price cannot bill (e.g. a batch request, no batch price)."""


def cost_usd(usage: Usage, price: ModelPrice, *, batch: bool = False) -> Decimal:
    """What ``usage`` costs at ``price``, in USD (exact ``Decimal``).

    Raises ``UnpricedUsage`` for ``batch=True`` when the batch price is unknown, and
    ``ValueError`` for negative token counts or more reasoning than output tokens.
    """
    if batch:
        if price.batch is None:
            raise UnpricedUsage(f"no batch price for {price.model_id or 'this model'}")
        price = price.batch
    _check(usage)
    if price.tiers:
        price = price.for_prompt(usage.total_input_tokens)
    rate_in = price.input
    total = usage.input_tokens * rate_in
    if usage.cache_read_tokens:
        rate = price.cache_read
        total += usage.cache_read_tokens * (rate_in if rate is None else rate)
    rate_5m = price.cache_write_5m if price.cache_write_5m is not None else rate_in
    if usage.cache_write_5m_tokens:
        total += usage.cache_write_5m_tokens * rate_5m
    if usage.cache_write_1h_tokens:
        rate = price.cache_write_1h
        total += usage.cache_write_1h_tokens * (rate_5m if rate is None else rate)
    return (total + _output_cost(usage, price)).scaleb(-6)


def _output_cost(usage: Usage, price: ModelPrice) -> Decimal:
    if price.output_reasoning is None or not usage.reasoning_tokens:
        return usage.output_tokens * price.output
    visible = usage.output_tokens - usage.reasoning_tokens
    return visible * price.output + usage.reasoning_tokens * price.output_reasoning


def _check(usage: Usage) -> None:
    if (
        usage.input_tokens < 0
        or usage.cache_read_tokens < 0
        or usage.cache_write_5m_tokens < 0
        or usage.cache_write_1h_tokens < 0
        or usage.output_tokens < 0
        or usage.reasoning_tokens < 0
    ):
        raise ValueError(f"negative token count in {usage}")
    if usage.reasoning_tokens > usage.output_tokens:
        raise ValueError(f"reasoning_tokens exceed output_tokens (which include them) in {usage}")


class CostCalculator:
    """Prices usage of a model by name through a ``PriceCatalog``."""

    def __init__(self, catalog: PriceCatalog) -> None:
        self.catalog = catalog

    def cost(
        self,
        model: str,
        usage: Usage,
        *,
        provider: str | None = None,
        batch: bool = False,
        at: datetime | None = None,
    ) -> Decimal | None:
        """USD cost of ``usage`` on ``model``; None when the model or its batch price is unknown."""
        price = self.catalog.price_for(model, provider, at=at)
        if price is None:
            return None
        try:
            return cost_usd(usage, price, batch=batch)
        except UnpricedUsage:
            return None


def to_float(d: Decimal | None) -> float | None:
    """USD as a float rounded to 10 decimal places (ledger columns, JSON); None stays None."""
    if d is None:
        return None
    return float(d.quantize(_TEN_PLACES, rounding=ROUND_HALF_EVEN))


def to_header(d: Decimal | None) -> str:
    """USD for a response header: fixed-point, at most 12 decimals (the ledger's
    precision), no exponent ("0.275").

    None (unknown price) renders as "unknown".
    """
    if d is None:
        return "unknown"
    text = format(d.quantize(_LEDGER_PLACES, rounding=ROUND_HALF_EVEN), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text
