"""``tokenthrift router eval``: a router's metrics on labelled data, beside two baselines.

Baselines (reported with every number, since many published routers barely beat them):
``random`` — random routing in expectation (APGR 0.5 by construction); ``length`` — the
longest prompts go to the strong model first.

Costs: a call costs ``input_tokens x in_price + output_tokens x out_price``; input tokens
are counted offline with ``o200k_base`` and, since labelled data rarely records answer
lengths, every answer is assumed ``output_tokens`` long (default 256) for both models.
Prices are USD per million tokens, from ``--strong-price``/``--weak-price`` or, when
not given, the price catalog under the column's name (RouteLLM's columns are model
names); an unknown price leaves ``cost_saving_at_95`` null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from ...tokens import count_encoded
from .data import LabelledPrompts
from .metrics import RouterScore, score_random, score_router
from .router import ComplexityRouter

DEFAULT_OUTPUT_TOKENS = 256


@dataclass(frozen=True, slots=True)
class Price:
    input: float  # USD per million tokens
    output: float

    @classmethod
    def parse(cls, text: str) -> Price:
        """``"10/30"`` → input 10, output 30 (a single number prices both)."""
        head, sep, tail = text.partition("/")
        try:
            price = cls(float(head), float(tail if sep else head))
        except ValueError:
            raise ValueError(f"expected a price like 10/30 (USD per 1M input/output tokens), got {text!r}") from None
        if price.input < 0 or price.output < 0:
            raise ValueError(f"price {text!r} is negative")
        return price


def catalog_price(model: str) -> Price | None:
    """List price of a model named like a data column (``org/Model-Name`` allowed)."""
    from ...accounting.catalog import PriceCatalog

    catalog = PriceCatalog()
    for name in dict.fromkeys([model, model.rsplit("/", 1)[-1], model.rsplit("/", 1)[-1].lower()]):
        found = catalog.price_for(name)
        if found is not None and found.input is not None and found.output is not None:
            return Price(float(Decimal(found.input)), float(Decimal(found.output)))
    return None


def call_costs(prompts: Sequence[str], price: Price | None, output_tokens: int) -> np.ndarray | None:
    if price is None:
        return None
    tokens = np.array([count_encoded("o200k_base", p) for p in prompts], dtype=np.float64)
    return (tokens * price.input + output_tokens * price.output) / 1e6


def evaluate(
    data: LabelledPrompts, router_scores: np.ndarray, *, strong_price: Price | None = None,
    weak_price: Price | None = None, output_tokens: int = DEFAULT_OUTPUT_TOKENS,
) -> dict[str, Any]:
    """The ``router eval`` JSON. ``router_scores``: P(weak acceptable) per row."""
    strong_cost = call_costs(data.prompts, strong_price, output_tokens)
    weak_cost = call_costs(data.prompts, weak_price, output_tokens)
    if strong_cost is None or weak_cost is None:
        strong_cost = weak_cost = None
    router = score_router(-np.asarray(router_scores), data.strong, data.weak, strong_cost, weak_cost)
    lengths = np.array([len(p) for p in data.prompts], dtype=np.float64)
    length = score_router(lengths, data.strong, data.weak, strong_cost, weak_cost)
    random = score_random(data.strong, data.weak, strong_cost, weak_cost)
    return {
        "n": len(data),
        "strong_score": round(float(data.strong.mean()), 4),
        "weak_score": round(float(data.weak.mean()), 4),
        **router.as_dict(),
        "baselines": {"random": random.as_dict(), "length": length.as_dict()},
    }


def evaluate_router(
    data: LabelledPrompts, router: ComplexityRouter, **kwargs: Any
) -> dict[str, Any]:
    return evaluate(data, router.p_weak_ok(data.prompts), **kwargs)


__all__ = ["Price", "RouterScore", "catalog_price", "evaluate", "evaluate_router"]
