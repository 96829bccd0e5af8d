"""What one model costs per token: the value objects the catalog hands to the cost arithmetic.

All rates are ``Decimal`` USD per million tokens (MTok), the unit every provider publishes.

A cache rate of ``None`` means the model has no separate price for that token type, so those
tokens are billed like their nearest priced parent, as genai-prices does (its usage keys form a
tree: 1h cache write → cache write → input, cache read → input, reasoning → output):

* ``cache_read`` None → cache reads cost the normal ``input`` rate (no caching discount);
* ``cache_write_5m`` None → cache writes cost the normal ``input`` rate. This is OpenAI's and
  Google's rule: writing their prompt cache carries no surcharge
  (https://platform.openai.com/docs/guides/prompt-caching);
* ``cache_write_1h`` None → 1h writes cost the ``cache_write_5m`` rate (or ``input`` if that is
  None too);
* ``output_reasoning`` None → reasoning tokens cost the ``output`` rate; they are already counted
  inside ``Usage.output_tokens`` and are never billed twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Literal

PriceSource = Literal["genai-prices", "override"]
RATE_FIELDS = (
    "input",
    "output",
    "cache_read",
    "cache_write_5m",
    "cache_write_1h",
    "output_reasoning",
)


@dataclass(frozen=True, slots=True)
class PriceTier:
    """Long-context rates that apply when a request's prompt is *larger than* ``above`` tokens.

    The prompt size is ``Usage.total_input_tokens`` (uncached + cache reads + cache writes), and
    crossing the threshold re-prices *every* token of the request, not only the excess; this is
    how Anthropic (https://docs.anthropic.com/en/docs/about-claude/pricing#long-context-pricing),
    Google (https://ai.google.dev/gemini-api/docs/pricing, "prompts > 200k tokens") and OpenAI
    (GPT-5.4+, "prompts with more than 272K input tokens") bill, and how genai-prices'
    ``TieredPrices`` models it. ``price`` carries the full set of tier rates and no tiers/batch.
    """

    above: int
    price: ModelPrice


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """Per-MTok USD rates of one model at one point in time.

    ``tiers`` are ascending long-context tiers (see ``PriceTier``). ``batch`` is the complete
    price under the provider's Batch API (with its own tiers), or None when the batch price is
    unknown; a batch price is then never guessed.
    """

    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write_5m: Decimal | None = None
    cache_write_1h: Decimal | None = None
    output_reasoning: Decimal | None = None
    tiers: tuple[PriceTier, ...] = ()
    batch: ModelPrice | None = None
    # Where the price came from and which catalog entry matched (e.g. "claude-sonnet-4-5"),
    # for the ledger and for debugging a surprising cost.
    source: PriceSource = field(default="genai-prices", compare=False)
    model_id: str | None = field(default=None, compare=False)

    def for_prompt(self, total_input_tokens: int) -> ModelPrice:
        """The rates that apply to a request whose prompt has ``total_input_tokens`` tokens."""
        for tier in reversed(self.tiers):
            if total_input_tokens > tier.above:
                return tier.price
        return self

    def scaled(self, factor: Decimal, *, cache: bool = True) -> ModelPrice:
        """These rates times ``factor`` (tiers included; cache rates only when ``cache``).

        Used to derive batch prices from a discount. A cache rate that is None stays None, so it
        keeps following the rate it falls back to (as in genai-prices' batch variants).
        """
        names = RATE_FIELDS if cache else ("input", "output", "output_reasoning")
        changes = {
            name: value * factor for name in names if (value := getattr(self, name)) is not None
        }
        tiers = tuple(PriceTier(t.above, t.price.scaled(factor, cache=cache)) for t in self.tiers)
        return replace(self, **changes, tiers=tiers, batch=None)
