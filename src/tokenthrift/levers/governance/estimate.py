"""The worst case a request can cost, reserved against its budgets before it goes out.

    worst = max over the route's candidates (fallbacks can be pricier) of
            input tokens x the dearest input rate (a prompt-cache write can cost 2x input)
          + n x max_tokens x the dearest output rate (reasoning tokens are inside max_tokens)

* Input tokens are counted locally with ``tokens.count_chat`` (OpenAI's published recipe;
  tool definitions as JSON text), plus ``image_tokens`` per image. For models whose
  tokenizer is only approximated (Claude is counted with cl100k; unknown open models with
  o200k) the count is multiplied by ``approx_tokenizer_margin``.
* The long-context tier is picked from the counted prompt, as the provider bills it.
* Without ``max_tokens`` the output allowance is ``reserve_cap_usd``, or less when the
  model's context window bounds the output more tightly (then the bound is exact).
* A model with no known price reserves ``reserve_cap_usd`` for the whole request.
* Requests without a chat body (embeddings) reserve ``reserve_cap_usd``.

Hence the guarantee in docs/governance.md: with ``max_tokens`` (or a context-window bound
under the cap) spend never exceeds a budget; otherwise a request in flight can push it
over by at most what its output costs beyond ``reserve_cap_usd``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING

from ...accounting.genai_source import find_model
from ...accounting.price import ModelPrice
from ...accounting.settlement import Accountant
from ...config import GatewayConfig
from ...errors import GatewayError
from ...routes import Candidate, route_candidates
from ...tokens import count_chat
from ...types import ChatRequest, ImagePart
from .budgets import to_nano
from .settings import GovernanceSettings

if TYPE_CHECKING:
    from ...exchange import Exchange

_EXACT_TOKENIZER = ("gpt-", "o1", "o3", "o4", "chatgpt-", "codex", "text-embedding-")


@dataclass(frozen=True, slots=True)
class WorstCase:
    tokens: int  # counted input + n x max_tokens (what a tokens-per-minute limit charges)
    cost_nano: int  # nano-USD reserved against every applicable budget


class CostEstimator:
    def __init__(self, config: GatewayConfig, accountant: Accountant,
                 settings: GovernanceSettings) -> None:
        self._config = config
        self._accountant = accountant
        self._cap = settings.reserve_cap_usd
        self._image_tokens = settings.image_tokens
        self._margin = settings.approx_tokenizer_margin

    def tokens(self, exchange: Exchange) -> int:
        """Input + output tokens for rate limits, without pricing (no budget applies)."""
        request = exchange.request
        if request is None:
            return 0
        return self._input_tokens(request, exchange.requested_model) + _output_tokens(request)

    def worst_case(self, exchange: Exchange) -> WorstCase:
        request = exchange.request
        if request is None:
            return WorstCase(0, to_nano(self._cap))
        out = _output_tokens(request)
        worst = Decimal(0)
        tokens = 0
        # The candidates as asked (before routing may pick a cheaper one).
        for candidate in exchange.candidates or self._candidates(exchange.requested_model):
            model = candidate.upstream_model
            hint = self._accountant.provider_hint(model, None, candidate.provider_name)
            prompt = self._input_tokens(request, model)
            tokens = max(tokens, prompt + out)
            worst = max(worst, self._cost(model, hint, prompt, out if request.max_tokens else None))
        return WorstCase(tokens, to_nano(worst))

    def _candidates(self, model: str) -> list[Candidate]:
        try:
            return route_candidates(self._config, model)
        except GatewayError:
            return []  # an unknown model: refused at dispatch, reserves nothing

    def _cost(self, model: str, hint: str | None, prompt: int, out: int | None) -> Decimal:
        price = self._accountant.calculator.catalog.price_for(model, hint)
        if price is None:
            return self._cap
        if price.tiers:
            price = price.for_prompt(prompt)
        input_cost = prompt * _dearest_input(price) / 1_000_000
        out_rate = max(price.output, price.output_reasoning or price.output)
        if out is not None:
            return input_cost + out * out_rate / 1_000_000
        window = _context_window(model, hint)
        allowance = self._cap
        if window is not None:
            allowance = min(allowance, max(0, window - prompt) * out_rate / 1_000_000)
        return input_cost + allowance

    def _input_tokens(self, request: ChatRequest, model: str) -> int:
        messages = []
        images = 0
        for m in request.messages:
            text = m.text
            if m.tool_calls:
                text += "".join(c.name + c.arguments for c in m.tool_calls)
            images += sum(isinstance(p, ImagePart) for p in m.content)
            messages.append((m.role, text, m.name))
        tools = None
        if request.tools:
            tools = json.dumps([{"name": t.name, "description": t.description,
                                 "parameters": t.parameters} for t in request.tools])
        counted = count_chat(messages, model, tools) + images * self._image_tokens
        if not model.rsplit("/", 1)[-1].lower().startswith(_EXACT_TOKENIZER):
            counted = int((counted * self._margin).to_integral_value(rounding="ROUND_CEILING"))
        return counted


def _output_tokens(request: ChatRequest) -> int:
    return (request.max_tokens or 0) * max(1, request.n)


def _dearest_input(price: ModelPrice) -> Decimal:
    write_5m = price.cache_write_5m if price.cache_write_5m is not None else price.input
    write_1h = price.cache_write_1h if price.cache_write_1h is not None else write_5m
    return max(price.input, write_5m, write_1h)


@lru_cache(maxsize=1024)
def _context_window(model: str, hint: str | None) -> int | None:
    found = find_model(model, hint)
    window = found.info.context_window if found is not None else None
    return int(window) if window else None
