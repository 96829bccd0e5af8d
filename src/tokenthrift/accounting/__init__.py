"""Accounting: token prices (genai-prices + config overrides) and cost/baseline/savings arithmetic.

``catalog.PriceCatalog`` answers "what does this model cost per token" (``ModelPrice``);
``cost.cost_usd`` / ``cost.CostCalculator`` turn a ``Usage`` into exact ``Decimal`` USD, and
``settlement.Accountant`` prices a finished request, its baseline and each lever's saving.
"""

from tokenthrift.accounting.catalog import ModelPrice, PriceCatalog, PriceTier
from tokenthrift.accounting.cost import (
    CostCalculator,
    UnpricedUsage,
    cost_usd,
    to_float,
    to_header,
)

__all__ = (
    "CostCalculator",
    "ModelPrice",
    "PriceCatalog",
    "PriceTier",
    "UnpricedUsage",
    "cost_usd",
    "to_float",
    "to_header",
)
