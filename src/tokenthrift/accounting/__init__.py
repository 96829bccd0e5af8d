"""Accounting: token prices (genai-prices + config overrides) and cost/baseline/savings arithmetic.

``catalog.PriceCatalog`` answers "what does this model cost per token" (``ModelPrice``);
``cost.cost_usd`` / ``cost.CostCalculator`` turn a ``Usage`` into exact ``Decimal`` USD, and
``cost.breakdown`` splits what a request saved across the levers.
"""

from tokenthrift.accounting.catalog import ModelPrice, PriceCatalog, PriceTier
from tokenthrift.accounting.cost import (
    LEVERS,
    CostBreakdown,
    CostCalculator,
    UnpricedUsage,
    breakdown,
    cost_usd,
    to_float,
    to_header,
)

__all__ = (
    "LEVERS",
    "CostBreakdown",
    "CostCalculator",
    "ModelPrice",
    "PriceCatalog",
    "PriceTier",
    "UnpricedUsage",
    "breakdown",
    "cost_usd",
    "to_float",
    "to_header",
)
