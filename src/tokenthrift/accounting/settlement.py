"""Accounting for a finished exchange: actual cost, baseline cost, savings per lever,
the ledger row and the response headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from ..accounting.catalog import PriceCatalog
from ..accounting.cost import LEVERS, CostCalculator, to_float, to_header
from ..ledger.prompts import PromptStorage
from ..ledger.record import LedgerRecord
from ..providers.registry import speaks_anthropic
from ..types import Usage
from .exchange import Exchange


@dataclass(slots=True)
class Settlement:
    actual_usd: Decimal | None
    baseline_usd: Decimal | None
    savings: dict[str, Decimal] = field(default_factory=dict)

    @property
    def saved_usd(self) -> Decimal | None:
        if self.actual_usd is None or self.baseline_usd is None:
            return None
        return self.baseline_usd - self.actual_usd


class Accountant:
    def __init__(self, catalog: PriceCatalog, *, prompt_storage: str = "hash",
                 openai_providers: frozenset[str] = frozenset()) -> None:
        self.calculator = CostCalculator(catalog)
        self.prompt_storage = PromptStorage(prompt_storage)
        # Providers whose prices are OpenAI's list prices (api.openai.com); other
        # OpenAI-compatible servers (vLLM, Together…) are looked up without a provider hint.
        self._openai_providers = openai_providers

    def provider_hint(self, model: str, protocol: str | None, provider: str | None) -> str | None:
        if protocol == "anthropic" or speaks_anthropic(model):
            return "anthropic"
        if provider in self._openai_providers:
            return "openai"
        return None

    def settle(self, exchange: Exchange, baseline_model: str | None) -> Settlement:
        savings = dict.fromkeys(LEVERS, Decimal(0))
        if exchange.usage is None:
            # No upstream answer → nothing was billed.
            return Settlement(Decimal(0), Decimal(0), savings)
        usage = exchange.usage
        actual = self._cost(exchange.served_model, usage, exchange)
        if actual is not None:
            actual += exchange.lever_cost_usd
        baseline_name = baseline_model or exchange.requested_model
        baseline_usage = exchange.baseline_usage or usage
        if baseline_name == exchange.served_model and exchange.baseline_usage is None:
            baseline = actual
        else:
            baseline = self._cost(baseline_name, baseline_usage, exchange)
        if exchange.cache_status in ("exact", "semantic") and baseline is not None:
            # A cache hit saves the whole call as asked, less what the lookup cost.
            savings[f"{exchange.cache_status}_cache"] = baseline - (actual or Decimal(0))
        return Settlement(actual, baseline, savings)

    def _cost(self, model: str | None, usage: Usage, exchange: Exchange) -> Decimal | None:
        if model is None:
            return None
        hint = self.provider_hint(model, exchange.provider_protocol, exchange.provider)
        return self.calculator.cost(model, usage, provider=hint)

    def headers(self, exchange: Exchange, settlement: Settlement) -> dict[str, str]:
        return {
            "x-tokenthrift-request-id": exchange.request_id,
            "x-tokenthrift-cost-usd": to_header(settlement.actual_usd),
            "x-tokenthrift-baseline-cost-usd": to_header(settlement.baseline_usd),
            "x-tokenthrift-saved-usd": to_header(settlement.saved_usd),
            "x-tokenthrift-served-model": exchange.served_model or "",
            "x-tokenthrift-cache": exchange.cache_status,
            "x-tokenthrift-overhead-ms": f"{exchange.overhead_ms:.3f}",
            **exchange.response_headers,
        }

    def record(self, exchange: Exchange, settlement: Settlement) -> LedgerRecord:
        usage = exchange.usage or Usage()
        who = exchange.attribution
        fingerprint, text = self._prompt(exchange)
        return LedgerRecord(
            request_id=exchange.request_id,
            ts=exchange.ts,
            key_id=who.key_id,
            team=who.team,
            user=who.user,
            customer=who.customer,
            tags=list(who.tags),
            task=who.task,
            requested_model=exchange.requested_model,
            served_model=exchange.served_model,
            provider=exchange.provider,
            wire_format=exchange.wire_format,
            endpoint=exchange.endpoint,
            input_tokens=usage.input_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_5m_tokens=usage.cache_write_5m_tokens,
            cache_write_1h_tokens=usage.cache_write_1h_tokens,
            output_tokens=usage.output_tokens,
            reasoning_tokens=usage.reasoning_tokens,
            cost_usd=to_float(settlement.actual_usd),
            baseline_cost_usd=to_float(settlement.baseline_usd),
            saved_usd=to_float(settlement.saved_usd),
            savings={k: float(to_float(v) or 0.0) for k, v in settlement.savings.items()},
            latency_ms=round(exchange.latency_ms, 3),
            upstream_ms=round(exchange.upstream_ms, 3),
            overhead_ms=round(exchange.overhead_ms, 3),
            stream=exchange.stream,
            cache_status=exchange.cache_status,
            status=exchange.status,
            error_class=exchange.error_class,
            usage_estimated=exchange.usage_estimated,
            prompt_fingerprint=fingerprint,
            prompt_text=text,
            retries=exchange.retries,
            fallback_used=exchange.fallback_used,
            batch=False,
        )

    def _prompt(self, exchange: Exchange) -> tuple[str | None, str | None]:
        request = exchange.request
        if request is None or self.prompt_storage is PromptStorage.OFF:
            return None, None
        body = "\n".join(f"{m.role}: {m.text}" for m in request.messages if m.role != "system")
        return self.prompt_storage.capture(request.system_text, body)
